package endofday

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/seal"
)

// The spreadsheet copy (PARTNER_XLSX, agreed with the partner): the batch's
// rows again as an XLSX workbook, every cell text and exactly as ordered
// (no neutralising apostrophe: a text cell is never run), uploaded after
// the data file and before the manifest, encrypted like the data file,
// verified at the partner the same way, and named in the manifest with its
// own checksum (xlsx_file, xlsx_sha256, xlsx_bytes). Off, nothing here
// runs and the send is as it was.
//
// It is a second pass over the batch's orders, after the CSV's: the CSV's
// pipeline (pipeline.go) is the hot path and stays as it is. The personal
// parts are opened again in memory; the workbook is built in memory only
// (pkg/adapter/xlsx) and freed once uploaded. It is not kept anywhere: the
// shredding of the batch's personal data and day keys (the record step)
// covers it as it covers the CSV.

// WithSpreadsheet also sends each batch as an XLSX workbook made by sp,
// beside the CSV (PARTNER_XLSX).
func WithSpreadsheet(sp Spreadsheet) Option { return func(s *Sender) { s.spreadsheet = sp } }

// MaxSpreadsheetRows is how many data rows a worksheet holds: Excel's
// 1,048,576 rows, less the header. (Tests lower a sender's limit.)
const MaxSpreadsheetRows = 1<<20 - 1

// spreadsheetFits reports whether the batch's records fit in a worksheet.
// A batch that does not is sent without its spreadsheet (the manifest then
// names none), with a warning: holding the day's personal data back for a
// copy that cannot be made would break the promise to delete it.
func (s *Sender) spreadsheetFits(b Batch, records int) bool {
	limit := MaxSpreadsheetRows
	if s.maxSheetRows > 0 {
		limit = s.maxSheetRows
	}
	if records <= limit {
		return true
	}
	s.log.Warn().Str("alert", "spreadsheet_skipped").Str("batch_id", b.ID).Int("records", records).
		Int("max_rows", limit).Msg("the batch has more rows than a worksheet holds: sent without its XLSX copy")
	return false
}

// uploadSpreadsheet writes and uploads the batch's workbook (encrypted when
// the data file is), checking that it has the data file's records rows.
func (s *Sender) uploadSpreadsheet(ctx context.Context, c PartnerSession, b Batch, encrypt bool, records int) (Uploaded, error) {
	name := batchfile.XLSXFileName(b.DataFile)
	return c.Upload(ctx, name, func(w io.Writer) error {
		if !encrypt {
			return s.writeSpreadsheet(ctx, b, w, records)
		}
		enc, err := s.recipient.Encrypt(w, strings.TrimSuffix(name, EncryptedExt))
		if err != nil {
			return err
		}
		if err := s.writeSpreadsheet(ctx, b, enc, records); err != nil {
			return err
		}
		return enc.Close()
	})
}

// writeSpreadsheet writes the batch's workbook to w: the header, then the
// rows of each order in the data file's order (batchfile.EachRecord).
func (s *Sender) writeSpreadsheet(ctx context.Context, b Batch, w io.Writer, records int) error {
	if s.codec == nil {
		return fmt.Errorf("batch %s: no day keys to open the personal data with", b.ID)
	}
	sh, err := s.spreadsheet.NewSheet(batchfile.Header)
	if err != nil {
		return err
	}
	defer sh.Close()
	codec := decoderFor(s.codec)
	rows := 0
	err = s.store.EachOrder(ctx, b.ID, func(o BatchOrder) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ref, err := storedReference(o.Reference)
		if err != nil {
			return fmt.Errorf("order %s: %w: stored reference is invalid", o.Reference, ErrSealedRejected)
		}
		p, err := codec.Decode(ctx, o.OrderID, ref, o.BusinessDate, o.Personal)
		if err != nil {
			// The CSV of the same orders was written a moment ago, so this
			// is rare; it stops the batch the same way.
			if errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrMalformed) || errors.Is(err, seal.ErrWrongDayKey) ||
				errors.Is(err, seal.ErrKeyDestroyed) || errors.Is(err, seal.ErrUnknownKEK) || errors.Is(err, ErrNoKey) {
				return fmt.Errorf("batch %s, order %s: %w: %w", b.ID, o.Reference, ErrSealedRejected, err)
			}
			return fmt.Errorf("order %s: %w", o.Reference, err)
		}
		e := batchfile.Entry{Reference: o.Reference, AreaCode: o.Area, Formats: o.Formats, Languages: o.Languages, Personal: p}
		if a, ok := s.areas.Lookup(o.Area); ok {
			e.AreaName = a.Name
		}
		return batchfile.EachRecord(e, func(cells []string) error {
			rows++
			return sh.AddRow(cells)
		})
	})
	if err != nil {
		return err
	}
	if rows != records {
		// An order erased between the two passes, say: the two files must
		// hold the same rows. The attempt fails and is retried.
		return fmt.Errorf("batch %s: the spreadsheet has %d rows, the data file %d", b.ID, rows, records)
	}
	_, err = sh.WriteTo(w)
	return err
}

// spreadsheetThere checks, for a batch the partner already has, that a
// spreadsheet its manifest names is there with the manifest's checksum.
func (s *Sender) spreadsheetThere(c PartnerSession, b Batch, m batchfile.Manifest) error {
	if m.XLSXFile == "" {
		return nil
	}
	got, _, err := c.Checksum(m.XLSXFile)
	if err != nil && !errors.Is(err, ErrNoSuchFile) {
		return err
	}
	if m.XLSXFile != batchfile.XLSXFileName(b.DataFile) || got != m.XLSXSHA256 {
		return fmt.Errorf("%w: batch %s: %s (its spreadsheet)", ErrPartnerMismatch, b.ID, b.ManifestFile)
	}
	return nil
}
