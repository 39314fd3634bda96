package xlsx_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"booklets/pkg/adapter/xlsx"
	"booklets/pkg/domain/batchfile"
)

// tricky are values a spreadsheet would run, retype or trim if they were
// not text cells, and letters beyond ASCII; a row as wide as the header,
// the last cell where the language is (format version 2).
var tricky = [][]string{
	{"0123", "1/2", "12:30", "TRUE", "=1+1", "+44 Flat", "-5", "@x", "Siân Llŷr", "cy"},
	{"'=already quoted", "=HYPERLINK(\"http://x\")", "1e5", "00:00:01", "FALSE", "2026-11-25", "1,5", "50%", "Øre Ñandú Éire", "en"},
	{" leading space", "trailing space ", "two\nlines", "tab\tinside", "\"quoted\"", "<b>&amp;</b>", "_x0041_", "", "Ysgol Gymraeg Bro Ddyfrdwy", "cy"},
	{"SW1A 1AA", "K7QM-X9PA-C4T", "dyfed-powys", "Dyfed-Powys", "braille", "-", "+", "=", "@", "en"},
}

// readBack converts an XLSX file to CSV with LibreOffice, as a partner's
// spreadsheet reads it, and returns the rows.
func readBack(t *testing.T, file []byte) [][]string {
	t.Helper()
	soffice, err := exec.LookPath("soffice")
	if err != nil {
		t.Skip("soffice is not installed (Debian: apt-get install libreoffice-calc-nogui; CI installs it): the XLSX is not read back")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "batch.xlsx")
	if err := os.WriteFile(in, file, 0o600); err != nil {
		t.Fatal(err)
	}
	// A profile of the test's own, so that parallel runs do not share one.
	// The filter options: comma, double quote, UTF-8 (76), from line 1.
	cmd := exec.Command(soffice, "-env:UserInstallation=file://"+filepath.Join(dir, "profile"), "--headless",
		"--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", dir, in)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("soffice: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "batch.csv"))
	if err != nil {
		t.Fatalf("soffice wrote no CSV: %v\n%s", err, out)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("LibreOffice's CSV: %v\n%s", err, b)
	}
	return rows
}

func TestLibreOfficeReadsEveryValueExactly(t *testing.T) {
	t.Parallel()
	sh, err := xlsx.Spreadsheet{}.NewSheet(batchfile.Header)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	for _, row := range tricky {
		if err := sh.AddRow(row); err != nil {
			t.Fatal(err)
		}
	}
	var file bytes.Buffer
	n, err := sh.WriteTo(&file)
	if err != nil || n != int64(file.Len()) {
		t.Fatalf("WriteTo: %d, %v (wrote %d)", n, err, file.Len())
	}
	if err := sh.AddRow(tricky[0]); err == nil {
		t.Error("a row added after the workbook was written")
	}

	rows := readBack(t, file.Bytes())
	want := append([][]string{batchfile.Header}, tricky...)
	if len(rows) != len(want) {
		t.Fatalf("LibreOffice read %d rows, want %d: %q", len(rows), len(want), rows)
	}
	for i := range want {
		// LibreOffice leaves out empty cells at the end of a row.
		got := rows[i]
		for len(got) < len(want[i]) {
			got = append(got, "")
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("row %d: LibreOffice read %q, want %q", i, got, want[i])
		}
	}
	if strings.Contains(file.String(), "excelize-") {
		t.Error("the workbook names a temporary file")
	}
}

// TestNoTemporaryFile: a worksheet larger than excelize's 16 MiB stream
// chunk stays in memory; nothing is written to the temporary folder.
func TestNoTemporaryFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	sh, err := xlsx.Spreadsheet{}.NewSheet(batchfile.Header)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	row := []string{"K7QM-X9PA-C4T", "dyfed-powys", "Dyfed-Powys", "audio", "Zebedee Quiggleworth", "17 Marigold Terrace", "Upper Flat", "Llanfairpwllgwyngyll", "LL61 5UJ"}
	for range 60000 { // about 30 MiB of worksheet XML
		if err := sh.AddRow(row); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sh.WriteTo(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("files in the temporary folder: %v", entries)
	}
}
