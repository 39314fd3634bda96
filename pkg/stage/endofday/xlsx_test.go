package endofday_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/xuri/excelize/v2"

	"booklets/pkg/adapter/disk"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/adapter/xlsx"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/testenv"
)

// trickyPerson has the values a spreadsheet would run or retype.
func trickyPerson() order.Personal {
	return order.Personal{Name: "=1+1", AddressLine1: "+44 Flat", AddressLine2: "0123", Town: "12:30", Postcode: "TRUE"}
}

// sheetAtPartner checks the spreadsheet named by the manifest at the
// partner (its checksum and size are the file's) and returns its rows,
// decrypted with decrypt when it is encrypted.
func sheetAtPartner(t *testing.T, e *env, m batchfile.Manifest, decrypt func(path string) []byte) [][]string {
	t.Helper()
	if m.XLSXFile != batchfile.XLSXFileName(m.DataFile) {
		t.Fatalf("manifest names spreadsheet %q beside %q", m.XLSXFile, m.DataFile)
	}
	path := e.Server.Path("outbox", m.XLSXFile)
	raw, err := os.ReadFile(path)
	testenv.Must(t, err)
	sum := sha256.Sum256(raw)
	if m.XLSXSHA256 != hex.EncodeToString(sum[:]) || m.XLSXBytes != int64(len(raw)) {
		t.Errorf("manifest says %s, %d bytes; the file is %x, %d bytes", m.XLSXSHA256, m.XLSXBytes, sum, len(raw))
	}
	if decrypt != nil {
		if bytes.Contains(raw, []byte("Flat")) || bytes.HasPrefix(raw, []byte("PK")) {
			t.Fatal("the spreadsheet sent is not encrypted")
		}
		raw = decrypt(path)
	}
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	testenv.Must(t, err)
	defer f.Close()
	if sheets := f.GetSheetList(); len(sheets) != 1 {
		t.Errorf("sheets %q, want one", sheets)
	}
	rows, err := f.GetRows(f.GetSheetList()[0])
	testenv.Must(t, err)
	for i := range rows {
		for len(rows[i]) < len(batchfile.Header) { // GetRows leaves out empty cells at the end
			rows[i] = append(rows[i], "")
		}
	}
	return rows
}

// asTyped is the CSV's rows with the neutralising apostrophe removed by
// the partner's rule (docs/partner-interface.md).
func asTyped(rows [][]string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, c := range r {
			k := 0
			for k < len(c) && c[k] == '\'' {
				k++
			}
			if k > 0 && k < len(c) && strings.ContainsRune("=+-@\t\r", rune(c[k])) {
				c = c[1:]
			}
			out[i][j] = c
		}
	}
	return out
}

// With PARTNER_XLSX the batch goes with an XLSX copy: encrypted to the
// partner's key like the CSV (gpg decrypts it), named in the manifest with
// its own checksum, holding the CSV's rows as typed (no apostrophe), with
// every cell text; the personal data is then deleted as usual.
func TestSpreadsheetBesideTheCSV(t *testing.T) {
	t.Parallel()
	run, rec := gnuPG(t)
	e := newEnv(t)
	o1 := newOrder(at("2026-11-25 10:00:00"), trickyPerson(), order.Braille, order.Audio)
	o2 := newOrder(at("2026-11-25 11:00:00"), order.Personal{Name: "Siân Llŷr", AddressLine1: "1/2 Heol-y-Nant", AddressLine2: "@x",
		Town: "-5", Postcode: "SA1 1AA"})
	o2.Area, o2.Languages = "south-wales", []order.Language{order.English, order.Welsh} // a row for each language
	e.save(o1)
	e.save(o2)
	res, err := e.pgpSender(rec, endofday.WithSpreadsheet(xlsx.Spreadsheet{})).SendBatch(context.Background(), date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	rows, m := decryptAtPartner(t, e, run, res.Batch)
	sheet := sheetAtPartner(t, e, m, func(path string) []byte {
		out := filepath.Join(t.TempDir(), "batch.xlsx")
		run("--pinentry-mode", "loopback", "--passphrase", "", "--output", out, "--decrypt", path)
		b, err := os.ReadFile(out)
		testenv.Must(t, err)
		return b
	})
	if len(rows) != 5 || !slices.EqualFunc(sheet, asTyped(rows), slices.Equal) {
		t.Errorf("spreadsheet rows\n%q\nthe CSV's as typed\n%q", sheet, asTyped(rows))
	}
	if sheet[1][4] != "=1+1" || sheet[1][5] != "+44 Flat" || sheet[1][6] != "0123" || rows[1][4] != "'=1+1" {
		t.Errorf("first order: spreadsheet %q, CSV %q", sheet[1], rows[1])
	}
	if last := len(batchfile.Header) - 1; sheet[0][last] != "language" || sheet[1][last] != "en" || sheet[3][last] != "en" || sheet[4][last] != "cy" {
		t.Errorf("language column: %q, %q, %q, %q", sheet[0][last], sheet[1][last], sheet[3][last], sheet[4][last])
	}
	if got := e.files(); !slices.Equal(got, []string{res.Batch.DataFile, res.Batch.ManifestFile, m.XLSXFile}) {
		t.Errorf("partner's folder %q", got)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 0 {
		t.Error("personal data kept after a verified upload with a spreadsheet")
	}
}

// Without a key (PARTNER_PLAINTEXT) the spreadsheet is plain too, and its
// cells are text; without PARTNER_XLSX there is none and the manifest does
// not mention one.
func TestSpreadsheetPlainAndOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(newOrder(at("2026-11-24 10:00:00"), trickyPerson()))
	e.save(newOrder(at("2026-11-25 10:00:00"), trickyPerson()))

	res, err := e.Sender().SendBatch(context.Background(), date("2026-11-24"))
	testenv.Must(t, err)
	_, m := e.remote(res.Batch)
	if m.XLSXFile != "" || m.XLSXSHA256 != "" || slices.ContainsFunc(e.files(), func(n string) bool { return strings.Contains(n, ".xlsx") }) {
		t.Errorf("a spreadsheet without PARTNER_XLSX: %+v, %q", m, e.files())
	}

	res, err = e.Sender(endofday.WithSpreadsheet(xlsx.Spreadsheet{})).SendBatch(context.Background(), date("2026-11-25"))
	testenv.Must(t, err)
	rows, m := e.remote(res.Batch)
	sheet := sheetAtPartner(t, e, m, nil)
	if !slices.EqualFunc(sheet, asTyped(rows), slices.Equal) {
		t.Errorf("spreadsheet %q, CSV as typed %q", sheet, asTyped(rows))
	}
	raw, err := os.ReadFile(e.Server.Path("outbox", m.XLSXFile))
	testenv.Must(t, err)
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	testenv.Must(t, err)
	defer f.Close()
	for _, cell := range []string{"A1", "E2", "F2", "I2"} {
		typ, err := f.GetCellType("Batch", cell)
		testenv.Must(t, err)
		if typ != excelize.CellTypeInlineString {
			t.Errorf("cell %s is of type %v, want an inline string", cell, typ)
		}
	}
}

// A crash after both files and the spreadsheet were verified: the next run
// finds the partner's copy complete (the spreadsheet's checksum too) and
// records it. A spreadsheet changed at the partner is a mismatch: nothing
// is overwritten or recorded.
func TestSpreadsheetAlreadyAtThePartner(t *testing.T) {
	t.Parallel()
	rec := testRecipient(t)
	e := newEnv(t)
	e.save(newOrder(at("2026-11-24 10:00:00"), person("Ada")))
	e.save(newOrder(at("2026-11-25 10:00:00"), person("Bea")))
	crash := endofday.WithFault(func(step string, _ int64) error {
		if step == endofday.StepAfterUpload {
			return errors.New("crash")
		}
		return nil
	})
	sp := endofday.WithSpreadsheet(xlsx.Spreadsheet{})
	ctx := context.Background()

	if _, err := e.pgpSender(rec, sp, crash).SendBatch(ctx, date("2026-11-24")); err == nil {
		t.Fatal("no crash")
	}
	res, err := e.pgpSender(rec, sp).SendBatch(ctx, date("2026-11-24"))
	testenv.Must(t, err)
	if res.Batch.State != endofday.StateSent {
		t.Errorf("batch %+v, want sent", res.Batch)
	}

	if _, err := e.pgpSender(rec, sp, crash).SendBatch(ctx, date("2026-11-25")); err == nil {
		t.Fatal("no crash")
	}
	b, err := e.Store.BatchFor(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	name := batchfile.XLSXFileName(b.DataFile)
	testenv.Must(t, os.WriteFile(e.Server.Path("outbox", name), []byte("changed"), 0o644))
	if _, err := e.pgpSender(rec, sp).SendBatch(ctx, date("2026-11-25")); !errors.Is(err, endofday.ErrPartnerMismatch) {
		t.Errorf("a changed spreadsheet at the partner: %v, want ErrPartnerMismatch", err)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Errorf("%d personal parts held, want the unsent order's", n)
	}
}

// A batch with more rows than a worksheet holds is sent without its
// spreadsheet (the manifest names none), with the warning, rather than
// held back.
func TestSpreadsheetTooBigIsLeftOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 10:00:00"), person("Ada"), order.Braille, order.Audio))
	var log bytes.Buffer
	res, err := e.Sender(endofday.WithSpreadsheet(xlsx.Spreadsheet{}), endofday.WithMaxSpreadsheetRows(1),
		endofday.WithLogger(zerolog.New(&log))).SendBatch(context.Background(), date("2026-11-25"))
	testenv.Must(t, err)
	_, m := e.remote(res.Batch)
	if m.XLSXFile != "" || len(e.files()) != 2 {
		t.Errorf("manifest %+v, files %q: want no spreadsheet", m, e.files())
	}
	if !strings.Contains(log.String(), `"alert":"spreadsheet_skipped"`) || strings.Contains(log.String(), "Ada") {
		t.Errorf("log %s", log.String())
	}
}

// The manifest cannot be uploaded (here its temporary name is taken by a
// folder): the data file and the spreadsheet are removed from the partner
// again, nothing is recorded and the personal data is kept.
func TestSpreadsheetRemovedWhenTheManifestFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 10:00:00"), person("Ada")))
	ctx := context.Background()
	crash := endofday.WithFault(func(step string, _ int64) error {
		if step == endofday.StepBeforeUpload {
			return errors.New("crash")
		}
		return nil
	})
	if _, err := e.Sender(crash).SendBatch(ctx, date("2026-11-25")); err == nil {
		t.Fatal("no crash")
	}
	b, err := e.Store.BatchFor(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	testenv.Must(t, os.MkdirAll(e.Server.Path("outbox", "."+b.ManifestFile+".part", "blocked"), 0o755))
	if _, err := e.Sender(endofday.WithSpreadsheet(xlsx.Spreadsheet{})).SendBatch(ctx, date("2026-11-25")); err == nil {
		t.Fatal("sent without a manifest")
	}
	for _, name := range []string{b.DataFile, batchfile.XLSXFileName(b.DataFile), b.ManifestFile} {
		if _, err := os.Stat(e.Server.Path("outbox", name)); !os.IsNotExist(err) {
			t.Errorf("%s at the partner after a failed send: %v", name, err)
		}
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Errorf("%d personal parts held, want 1", n)
	}
}

// The XLSX copy is kept for a resend with the other files of an encrypted
// batch (ciphertext only on our disk), and a resend puts it back at the
// partner byte for byte, before the manifest.
func TestSpreadsheetKeptAndResent(t *testing.T) {
	t.Parallel()
	_, rec := gnuPG(t)
	e := newEnv(t)
	ctx := context.Background()
	e.save(newOrder(at("2026-11-25 10:00:00"), retainedPerson))
	dir := t.TempDir()
	retainer := disk.Retained{Dir: dir}
	res, err := e.pgpSender(rec, endofday.WithSpreadsheet(xlsx.Spreadsheet{}), endofday.WithRetention(retainer, 7*24*time.Hour)).
		SendBatch(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	name := batchfile.XLSXFileName(res.Batch.DataFile)
	sent, err := os.ReadFile(e.Server.Path("outbox", name))
	testenv.Must(t, err)
	kept := keptFiles(t, dir) // fails on personal data in clear
	if !bytes.Equal(kept[filepath.Join(res.Batch.ID, name)], sent) {
		t.Fatalf("the kept spreadsheet is not the one sent; kept %d files", len(kept))
	}

	// The partner lost the batch.
	for _, n := range []string{res.Batch.DataFile, name, res.Batch.ManifestFile} {
		testenv.Must(t, os.Remove(e.Server.Path("outbox", n)))
	}
	r := endofday.Resender{Store: e.Store, Retainer: retainer, Partner: sftp.Outbox{Config: e.SFTP}, Now: e.Now, Log: zerolog.Nop()}
	_, err = r.Resend(ctx, res.Batch.ID)
	testenv.Must(t, err)
	again, err := os.ReadFile(e.Server.Path("outbox", name))
	testenv.Must(t, err)
	if !bytes.Equal(again, sent) {
		t.Error("the resent spreadsheet differs from the one first sent")
	}
	_, m := manifestAtPartner(t, e, res.Batch.ManifestFile)
	if m.XLSXFile != name || m.XLSXSHA256 != sha(sent) {
		t.Errorf("resent manifest %+v", m)
	}
}
