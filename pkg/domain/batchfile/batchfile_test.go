package batchfile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
)

func TestNeutralise(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "",
		"=1+2":              "'=1+2",
		"+44 20 7946 0000":  "'+44 20 7946 0000",
		"-5":                "'-5",
		"@SUM(A1)":          "'@SUM(A1)",
		"\tx":               "'\tx",
		"\rx":               "'\rx",
		"Flat 1 = top":      "Flat 1 = top",
		"'already":          "'already",
		" =leading space":   " =leading space",
		"Zoë Ní Bhriain":    "Zoë Ní Bhriain",
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		// Typed with apostrophes in front of a formula character: one more,
		// so that removing one gives back what was typed.
		"'=1+1": "''=1+1",
		"'+44":  "''+44",
		"'-5":   "''-5",
		"'@x":   "''@x",
		"'\tx":  "''\tx",
		"'\rx":  "''\rx",
		"''=":   "'''=",
		"'":     "'",
		"''":    "''",
		"'x":    "'x",
		"' =":   "' =",
		"x'=":   "x'=",
	} {
		if got := batchfile.Neutralise(in); got != want {
			t.Errorf("Neutralise(%q) = %q, want %q", in, got, want)
		}
	}
}

// unNeutralise is the partner's rule as docs/partner-interface.md states it:
// remove one leading apostrophe when the apostrophes at the start of the
// cell are followed by one of = + - @ TAB CR.
func unNeutralise(cell string) string {
	rest := strings.TrimLeft(cell, "'")
	if len(rest) == len(cell) || rest == "" || !strings.ContainsRune("=+-@\t\r", rune(rest[0])) {
		return cell
	}
	return cell[1:]
}

func TestNeutraliseRoundTrip(t *testing.T) {
	t.Parallel()
	values := []string{
		"", "'", "''", "'''", "''=", "'''=", "'x", "''x", "=", "-1", "+", "@", "\t", "\r",
		"'=", "'=1+1", "'-1", "'+", "'@", "'\t", "'\r", "' =", "'' -", "x", "x=", "Siân O'Brien",
		"'Brien", "=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")", " =1", "\n=1", "é", "'é",
	}
	seen := make(map[string]string, len(values))
	for _, v := range values {
		n := batchfile.Neutralise(v)
		if got := unNeutralise(n); got != v {
			t.Errorf("unNeutralise(Neutralise(%q)) = unNeutralise(%q) = %q", v, n, got)
		}
		// A cell a spreadsheet would run is never written.
		if n != "" && strings.ContainsRune("=+-@\t\r", rune(n[0])) {
			t.Errorf("Neutralise(%q) = %q starts with a formula character", v, n)
		}
		if other, ok := seen[n]; ok {
			t.Errorf("Neutralise(%q) = Neutralise(%q) = %q: the partner cannot tell them apart", v, other, n)
		}
		seen[n] = v
	}
}

func TestWriterRoundTrip(t *testing.T) {
	t.Parallel()
	// encode_test.go: a formula name, quotes, a line break, non-ASCII; the
	// first order has no languages (English), the second two formats in
	// Welsh and English: a row per format and language.
	entries := tricky[:2]
	raw, sum := writeEntries(t, batchfile.NewWriter, entries)
	if sum.Records != 7 || sum.Orders != 2 || sum.Bytes != int64(len(raw)) {
		t.Errorf("summary %+v, file %d bytes", sum, len(raw))
	}
	h := sha256.Sum256(raw)
	if sum.SHA256 != hex.EncodeToString(h[:]) {
		t.Error("summary checksum is not the file's")
	}
	// Without the checksum: the same file and counts, no SHA256.
	var plain bytes.Buffer
	pw, err := batchfile.NewWriterWithoutChecksum(&plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := pw.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if psum, err := pw.Close(); err != nil || !bytes.Equal(plain.Bytes(), raw) ||
		psum != (batchfile.Summary{Records: sum.Records, Orders: sum.Orders, Bytes: sum.Bytes}) {
		t.Errorf("without checksum: %+v, %v, same file %v", psum, err, bytes.Equal(plain.Bytes(), raw))
	}
	if bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
		t.Error("file starts with a byte order mark")
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) || !bytes.HasPrefix(raw, []byte(strings.Join(batchfile.Header, ",")+"\r\n")) {
		t.Errorf("header or line ends wrong: %q", raw[:80])
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		batchfile.Header,
		{"K7QM-X9PA-C4T", "kent", "Kent", "standard-print", "'=cmd|' /C calc'!A0", "1 \"Quoted\" Road, Flat 2", "Line one\nLine two", "Llanfair\u00adpwll", "CT1 1AA", "en"},
		{"K7QM-X9PA-C4T", "kent", "Kent", "braille", "'=cmd|' /C calc'!A0", "1 \"Quoted\" Road, Flat 2", "Line one\nLine two", "Llanfair\u00adpwll", "CT1 1AA", "en"},
		{"K7QM-X9PA-C4T", "kent", "Kent", "audio", "'=cmd|' /C calc'!A0", "1 \"Quoted\" Road, Flat 2", "Line one\nLine two", "Llanfair\u00adpwll", "CT1 1AA", "en"},
		{"ABCD-EFGH-JK2", "dyfed-powys", "Dyfed-Powys", "large-print", "Siân O'Brien 李小龍 👍", "'+44 Street", "", "'@Town", "SA1 1AA", "en"},
		{"ABCD-EFGH-JK2", "dyfed-powys", "Dyfed-Powys", "large-print", "Siân O'Brien 李小龍 👍", "'+44 Street", "", "'@Town", "SA1 1AA", "cy"},
		{"ABCD-EFGH-JK2", "dyfed-powys", "Dyfed-Powys", "braille", "Siân O'Brien 李小龍 👍", "'+44 Street", "", "'@Town", "SA1 1AA", "en"},
		{"ABCD-EFGH-JK2", "dyfed-powys", "Dyfed-Powys", "braille", "Siân O'Brien 李小龍 👍", "'+44 Street", "", "'@Town", "SA1 1AA", "cy"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q\nwant %q", i, rows[i], want[i])
		}
	}
}

func TestEmptyBatchAndManifest(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := batchfile.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != strings.Join(batchfile.Header, ",")+"\r\n" || sum.Records != 0 || sum.Orders != 0 {
		t.Errorf("empty batch = %q %+v", buf.String(), sum)
	}
	date, _ := businessday.ParseDate("2026-11-25")
	id := batchfile.NewBatchID(date)
	if !batchfile.ValidBatchID(id) || !strings.HasPrefix(id, "B20261125-") {
		t.Errorf("batch id %q", id)
	}
	created := time.Date(2026, 11, 25, 23, 0, 1, 500, time.UTC)
	b, err := batchfile.NewManifest(id, date, created, sum).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	wantFields := map[string]any{
		"batch_id": id, "business_date": "2026-11-25",
		"data_file": "booklets_2026-11-25_" + id + ".csv", "record_count": 0.0, "order_count": 0.0,
		"sha256": sum.SHA256, "bytes": float64(sum.Bytes), "created_at": "2026-11-25T23:00:01Z", "format_version": 2.0,
		"encryption": "none", // said, not left to the file name (issue 20)
	}
	for k, v := range wantFields {
		if fields[k] != v {
			t.Errorf("manifest %s = %v, want %v", k, fields[k], v)
		}
	}
	if len(fields) != len(wantFields) {
		t.Errorf("manifest has fields %v", fields)
	}
	if got := batchfile.ManifestFileName(date, id); got != "booklets_2026-11-25_"+id+".manifest.json" {
		t.Errorf("manifest name %s", got)
	}
	m, err := batchfile.ParseManifest(b)
	if err != nil || m.BatchID != id || m.Encryption != batchfile.EncryptionNone {
		t.Errorf("ParseManifest = %+v, %v", m, err)
	}
}

// Format version 2 (issue 18): the language is the last column, so every
// other column is where version 1 had it, and a row is a booklet to post.
func TestHeaderVersion2(t *testing.T) {
	t.Parallel()
	v1 := []string{"reference", "area_code", "area_name", "format", "name", "address_line_1", "address_line_2", "town", "postcode"}
	if batchfile.FormatVersion != 2 || len(batchfile.Header) != len(v1)+1 ||
		strings.Join(batchfile.Header[:len(v1)], ",") != strings.Join(v1, ",") || batchfile.Header[len(v1)] != "language" {
		t.Fatalf("format version %d, header %q", batchfile.FormatVersion, batchfile.Header)
	}
}

// The counts of a batch with English, Welsh and bilingual orders: records
// are booklets (format × language), orders distinct orders; the manifest
// says the same.
func TestCountsWithBothLanguages(t *testing.T) {
	t.Parallel()
	entries := []batchfile.Entry{
		{Reference: "AAAA-AAAA-AA2", AreaCode: "kent", Formats: []order.Format{order.Braille, order.Audio}},
		{Reference: "BBBB-BBBB-BB3", AreaCode: "gwent", Formats: []order.Format{order.StandardPrint}, Languages: []order.Language{order.Welsh}},
		{Reference: "CCCC-CCCC-CC4", AreaCode: "north-wales", Formats: []order.Format{order.EasyRead, order.LargePrint},
			Languages: []order.Language{order.English, order.Welsh}},
	}
	raw, sum := writeEntries(t, batchfile.NewWriter, entries)
	if sum.Records != 2+1+4 || sum.Orders != 3 {
		t.Fatalf("summary %+v, want 7 records of 3 orders", sum)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0][:4]+" "+r[3]+" "+r[len(r)-1])
	}
	want := []string{"AAAA braille en", "AAAA audio en", "BBBB standard-print cy",
		"CCCC large-print en", "CCCC large-print cy", "CCCC easy-read en", "CCCC easy-read cy"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rows\n%q\nwant\n%q", got, want)
	}
	m := batchfile.NewManifest("B20261125-K7QM2X", businessday.Date{Year: 2026, Month: 11, Day: 25}, time.Now(), sum)
	if m.RecordCount != len(rows)-1 || m.OrderCount != 3 || m.FormatVersion != 2 {
		t.Errorf("manifest %+v for %d rows", m, len(rows)-1)
	}
}
