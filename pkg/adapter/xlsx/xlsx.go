// Package xlsx writes the spreadsheet copy of a batch (PARTNER_XLSX) with
// excelize: one worksheet, the header and then one row per order and
// format, every cell an inline string with the text number format ("@"),
// so that a spreadsheet shows each value exactly as ordered: nothing is
// run as a formula (=1+1), retyped as a number (0123), date (1/2), time
// (12:30) or boolean (TRUE), and no neutralising apostrophe is needed,
// unlike in the CSV (docs/partner-interface.md).
//
// The workbook is built in memory only, never in a file on our disk: the
// cells are personal data in clear. excelize's stream writer moves a
// worksheet of more than 16 MiB into a temporary file; it is given a
// temporary folder that cannot exist (noDisk), and then keeps the sheet in
// memory, as its code does when no temporary file can be made. So memory
// grows with the batch (docs/performance.md gives the figures).
package xlsx

import (
	"errors"
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"

	"booklets/pkg/stage/endofday"
)

// noDisk is the temporary folder given to excelize: under /dev/null, which
// is not a folder, so that no temporary file can ever be created there.
const noDisk = "/dev/null/booklets-xlsx-in-memory-only"

// sheetName is the worksheet's name, as the partner sees it in its tab.
const sheetName = "Batch"

// textFormat is the built-in number format 49, "@" (text): a cell the
// partner edits stays text too.
const textFormat = 49

// Spreadsheet makes XLSX workbooks; it implements endofday.Spreadsheet.
type Spreadsheet struct{}

var _ endofday.Spreadsheet = Spreadsheet{}

// NewSheet starts a workbook whose first row is header.
func (Spreadsheet) NewSheet(header []string) (endofday.Sheet, error) {
	f := excelize.NewFile(excelize.Options{TmpDir: noDisk})
	s := &sheet{f: f}
	if err := s.start(header); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

type sheet struct {
	f    *excelize.File
	sw   *excelize.StreamWriter
	text int // the text style's id
	row  int
	vals []any
	done bool
}

func (s *sheet) start(header []string) error {
	// The default sheet is renamed rather than a new one added, so the
	// workbook has exactly one.
	if err := s.f.SetSheetName("Sheet1", sheetName); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	text, err := s.f.NewStyle(&excelize.Style{NumFmt: textFormat})
	if err != nil {
		return fmt.Errorf("xlsx: text style: %w", err)
	}
	s.text = text
	if s.sw, err = s.f.NewStreamWriter(sheetName); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	// Columns wide enough to read an address without resizing.
	if err := s.sw.SetColWidth(1, len(header), 18); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	s.vals = make([]any, len(header))
	return s.AddRow(header)
}

// AddRow adds a row of text cells.
func (s *sheet) AddRow(cells []string) error {
	if s.done {
		return errors.New("xlsx: row added after the workbook was written")
	}
	if len(cells) > len(s.vals) {
		s.vals = make([]any, len(cells))
	}
	for i, c := range cells {
		// A string value is an inline string cell (t="inlineStr"): stored
		// as text, never parsed; the style makes it text in the editor too.
		s.vals[i] = excelize.Cell{StyleID: s.text, Value: c}
	}
	s.row++
	ref, err := excelize.CoordinatesToCellName(1, s.row)
	if err != nil {
		return fmt.Errorf("xlsx: row %d: %w", s.row, err)
	}
	if err := s.sw.SetRow(ref, s.vals[:len(cells)]); err != nil {
		// The cause is excelize's (a row limit, say), never a value.
		return fmt.Errorf("xlsx: row %d: %w", s.row, err)
	}
	clear(s.vals) // the cells' strings are personal data: hold no reference
	return nil
}

// WriteTo finishes the workbook and writes the XLSX file to w.
func (s *sheet) WriteTo(w io.Writer) (int64, error) {
	if s.done {
		return 0, errors.New("xlsx: workbook written twice")
	}
	s.done = true
	if err := s.sw.Flush(); err != nil {
		return 0, fmt.Errorf("xlsx: %w", err)
	}
	n, err := s.f.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("xlsx: write workbook: %w", err)
	}
	return n, nil
}

// Close frees the workbook.
func (s *sheet) Close() error { return s.f.Close() }
