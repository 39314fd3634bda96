package batchfile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/order"
)

// oldFile is the data file as the writer wrote it before AppendEntry:
// encoding/csv with UseCRLF, each cell through Neutralise, each order's
// formats sorted by their place in order.Formats and, within a format, its
// languages (English if none) by their place in order.Languages (format
// version 2). AppendEntry must give the same bytes.
func oldFile(t testing.TB, entries []batchfile.Entry) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true
	if err := cw.Write(batchfile.Header); err != nil {
		t.Fatal(err)
	}
	row := make([]string, len(batchfile.Header))
	for _, e := range entries {
		formats := slices.Clone(e.Formats)
		slices.SortFunc(formats, func(a, b order.Format) int {
			return slices.Index(order.Formats, a) - slices.Index(order.Formats, b)
		})
		langs := slices.Clone(e.Languages)
		if len(langs) == 0 {
			langs = []order.Language{order.English}
		}
		slices.SortStableFunc(langs, func(a, b order.Language) int {
			return slices.Index(order.Languages, a) - slices.Index(order.Languages, b)
		})
		p := e.Personal
		for _, f := range formats {
			for _, l := range langs {
				for i, v := range []string{e.Reference, e.AreaCode, e.AreaName, string(f), p.Name, p.AddressLine1, p.AddressLine2, p.Town, p.Postcode, string(l)} {
					row[i] = batchfile.Neutralise(v)
				}
				if err := cw.Write(row); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tricky are entries for every case of the CSV and neutralising rules.
var tricky = []batchfile.Entry{
	{
		Reference: "K7QM-X9PA-C4T", AreaCode: "kent", AreaName: "Kent",
		Formats: []order.Format{order.Audio, order.StandardPrint, order.Braille},
		Personal: order.Personal{
			Name: "=cmd|' /C calc'!A0", AddressLine1: "1 \"Quoted\" Road, Flat 2",
			AddressLine2: "Line one\nLine two", Town: "Llanfair\u00adpwll", Postcode: "CT1 1AA",
		},
	},
	{
		Reference: "ABCD-EFGH-JK2", AreaCode: "dyfed-powys", AreaName: "Dyfed-Powys",
		Formats:   []order.Format{order.LargePrint, order.Braille},
		Languages: []order.Language{order.Welsh, order.English},
		Personal: order.Personal{
			Name: "Siân O'Brien 李小龍 👍", AddressLine1: "+44 Street", AddressLine2: "",
			Town: "@Town", Postcode: "SA1 1AA",
		},
	},
	{
		Reference: "-dash", AreaCode: "", AreaName: "",
		Formats: []order.Format{order.EasyRead, order.LargePrint, order.StandardPrint, order.Braille, order.Audio},
		Personal: order.Personal{
			Name: "'=1+1", AddressLine1: "\tTabbed", AddressLine2: "\rCR first", Town: "CR\rinside", Postcode: "CRLF\r\ninside",
		},
	},
	{
		Reference: `\.`, AreaCode: " leading space", AreaName: "\u00a0no-break space",
		Formats: []order.Format{order.Braille, order.Braille},
		Personal: order.Personal{
			Name: "\u3000ideographic space", AddressLine1: "\u0085next line", AddressLine2: "\u2028line separator",
			Town: "\v\f", Postcode: "\"",
		},
	},
	{
		Reference: "'", AreaCode: "''", AreaName: "'''=",
		Formats:   []order.Format{order.Audio, "unknown-b", order.StandardPrint, "unknown-a"},
		Languages: []order.Language{order.Welsh, "xx-unknown", order.Welsh},
		Personal: order.Personal{
			Name: "\xff invalid UTF-8", AddressLine1: "\xe2\x80", AddressLine2: ",", Town: "\n", Postcode: "\\.",
		},
	},
	{Reference: "NO-FORMATS", Personal: order.Personal{Name: "Nobody"}},
	{
		Reference: "Q2RS-TVWX-YZ3", AreaCode: "leeds", AreaName: "Leeds",
		Formats:   []order.Format{order.StandardPrint},
		Languages: []order.Language{order.Welsh},
		Personal:  order.Personal{Name: "Zoë Ní Bhriain", AddressLine1: "Ünïcödé Straße", Town: "Leeds", Postcode: "LS1 4AP"},
	},
}

// writeEntries writes entries through Writer.Write.
func writeEntries(t testing.TB, newWriter func(w io.Writer) (*batchfile.Writer, error), entries []batchfile.Entry) ([]byte, batchfile.Summary) {
	var buf bytes.Buffer
	w, err := newWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), sum
}

// writeChunks encodes entries with AppendEntry, chunk entries at a time,
// and writes the chunks through WriteEncoded, with every third entry
// through Write in between: as the batcher's openers and writer do.
func writeChunks(t testing.TB, newWriter func(w io.Writer) (*batchfile.Writer, error), entries []batchfile.Entry, chunk int) ([]byte, batchfile.Summary) {
	var buf bytes.Buffer
	w, err := newWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var rows []byte
	for len(entries) > 0 {
		if len(entries)%3 == 0 {
			if err := w.Write(entries[0]); err != nil {
				t.Fatal(err)
			}
			entries = entries[1:]
			continue
		}
		n := min(chunk, len(entries))
		records := 0
		rows = rows[:0]
		for _, e := range entries[:n] {
			var r int
			rows, r = batchfile.AppendEntry(rows, e)
			records += r
		}
		if err := w.WriteEncoded(rows, records, n); err != nil {
			t.Fatal(err)
		}
		clear(rows)
		entries = entries[n:]
	}
	sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), sum
}

// checkSame checks that Write and AppendEntry with WriteEncoded give the
// file the old writer wrote, and a summary that describes it.
func checkSame(t *testing.T, entries []batchfile.Entry) {
	t.Helper()
	want := oldFile(t, entries)
	records := 0
	for _, e := range entries {
		records += len(e.Formats) * max(1, len(e.Languages))
	}
	h := sha256.Sum256(want)
	wantSum := batchfile.Summary{Records: records, Orders: len(entries), Bytes: int64(len(want)), SHA256: hex.EncodeToString(h[:])}
	for _, chunk := range []int{1, 2, 5, 256} {
		got, sum := writeChunks(t, batchfile.NewWriter, entries, chunk)
		if !bytes.Equal(got, want) {
			t.Fatalf("chunks of %d: file differs from encoding/csv's\ngot  %q\nwant %q", chunk, got, want)
		}
		if sum != wantSum {
			t.Errorf("chunks of %d: summary %+v, want %+v", chunk, sum, wantSum)
		}
	}
	got, sum := writeEntries(t, batchfile.NewWriter, entries)
	if !bytes.Equal(got, want) {
		t.Fatalf("Write: file differs from encoding/csv's\ngot  %q\nwant %q", got, want)
	}
	if sum != wantSum {
		t.Errorf("Write: summary %+v, want %+v", sum, wantSum)
	}
	got, sum = writeChunks(t, batchfile.NewWriterWithoutChecksum, entries, 3)
	wantSum.SHA256 = ""
	if !bytes.Equal(got, want) || sum != wantSum {
		t.Errorf("without checksum: same file %v, summary %+v, want %+v", bytes.Equal(got, want), sum, wantSum)
	}
}

func TestAppendEntrySameFile(t *testing.T) {
	t.Parallel()
	checkSame(t, tricky)
	checkSame(t, nil)
}

// TestAppendEntryRandom compares many orders made of the characters the
// rules turn on, and enough of them to go past Write's buffer.
func TestAppendEntryRandom(t *testing.T) {
	t.Parallel()
	pieces := []string{"a", "Z", "0", " ", "'", "=", "+", "-", "@", "\t", "\r", "\n", "\"", ",", "\\", ".", "é", "\u00a0", "\u3000", "\u0085", "👍", "\xff", "\xe2"}
	formats := []order.Format{order.StandardPrint, order.LargePrint, order.Braille, order.EasyRead, order.Audio}
	rnd := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		var b strings.Builder
		for range rnd.IntN(6) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		return b.String()
	}
	entries := make([]batchfile.Entry, 3000)
	for i := range entries {
		e := batchfile.Entry{Reference: str(), AreaCode: str(), AreaName: str(),
			Personal: order.Personal{Name: str(), AddressLine1: str(), AddressLine2: str(), Town: str(), Postcode: str()}}
		for range rnd.IntN(4) {
			e.Formats = append(e.Formats, formats[rnd.IntN(len(formats))])
		}
		for range rnd.IntN(3) {
			e.Languages = append(e.Languages, order.Languages[rnd.IntN(len(order.Languages))])
		}
		entries[i] = e
	}
	checkSame(t, entries)
}

func FuzzAppendEntry(f *testing.F) {
	for _, e := range tricky {
		p := e.Personal
		f.Add(e.Reference, e.AreaName, p.Name, p.AddressLine1, p.Postcode, uint8(len(e.Formats)), uint8(len(e.Languages)))
	}
	f.Fuzz(func(t *testing.T, ref, area, name, line1, postcode string, formats, langs uint8) {
		e := batchfile.Entry{Reference: ref, AreaCode: area, AreaName: name,
			Personal: order.Personal{Name: name, AddressLine1: line1, AddressLine2: ref, Town: area, Postcode: postcode}}
		for i := range int(formats % 8) {
			e.Formats = append(e.Formats, order.Formats[(i*3+int(formats))%len(order.Formats)])
		}
		for i := range int(langs % 4) {
			e.Languages = append(e.Languages, order.Languages[(i+int(langs/4))%len(order.Languages)])
		}
		want := oldFile(t, []batchfile.Entry{e})
		want = want[len(oldFile(t, nil)):]
		got, n := batchfile.AppendEntry([]byte("x"), e)
		if !bytes.Equal(got[1:], want) || got[0] != 'x' || n != len(e.Formats)*max(1, len(e.Languages)) {
			t.Errorf("AppendEntry = %q, %d rows\nencoding/csv %q", got, n, want)
		}
	})
}

// When dst has too little room, AppendEntry grows it once and clears the
// array it leaves: the rows before hold personal data.
func TestAppendEntryClearsOutgrownBuffer(t *testing.T) {
	t.Parallel()
	dst := make([]byte, 0, 16)
	dst = append(dst, "Private Person,"...)
	before := dst
	got, _ := batchfile.AppendEntry(dst, tricky[0])
	if !bytes.HasPrefix(got, []byte("Private Person,")) {
		t.Fatalf("AppendEntry lost what dst held: %q", got[:20])
	}
	if cap(got) == cap(before) {
		t.Fatal("dst did not grow")
	}
	if !bytes.Equal(before, make([]byte, len(before))) {
		t.Errorf("outgrown buffer not cleared: %q", before)
	}
	// With room enough, the rows go into dst's array.
	room := make([]byte, 0, 4096)
	got, _ = batchfile.AppendEntry(room, tricky[0])
	if &got[0] != &room[:1][0] {
		t.Error("AppendEntry reallocated a buffer with room")
	}
}

var errBroken = errors.New("broken pipe")

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errBroken
	}
	f.after--
	return len(p), nil
}

// A write error is kept: every later write and Close return it.
func TestWriterError(t *testing.T) {
	t.Parallel()
	w, err := batchfile.NewWriter(&failingWriter{})
	if err != nil {
		t.Fatal(err)
	}
	rows, n := batchfile.AppendEntry(nil, tricky[0])
	if err := w.WriteEncoded(rows, n, 1); !errors.Is(err, errBroken) {
		t.Fatalf("WriteEncoded = %v", err)
	}
	if err := w.Write(tricky[1]); !errors.Is(err, errBroken) {
		t.Errorf("Write after an error = %v", err)
	}
	if _, err := w.Close(); !errors.Is(err, errBroken) {
		t.Errorf("Close after an error = %v", err)
	}
	for _, s := range []string{"Quoted", "calc", "Line"} {
		if err := w.WriteEncoded(rows, n, 1); err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error names a value: %v", err)
		}
	}
}

// BenchmarkEncode compares encoding a typical order with encoding/csv as
// the writer did (old) and with AppendEntry.
func BenchmarkEncode(b *testing.B) {
	e := batchfile.Entry{
		Reference: "K7QM-X9PA-C4T", AreaCode: "kent", AreaName: "Kent",
		Formats: []order.Format{order.LargePrint, order.Audio},
		Personal: order.Personal{Name: "Bench Person 12345", AddressLine1: "17 High Street",
			AddressLine2: "Flat 3", Town: "Canterbury", Postcode: "CT1 1AA"},
	}
	b.Run("old", func(b *testing.B) {
		cw := csv.NewWriter(io.Discard)
		cw.UseCRLF = true
		row := make([]string, len(batchfile.Header))
		var formats []order.Format
		for b.Loop() {
			formats = append(formats[:0], e.Formats...)
			slices.SortFunc(formats, func(a, b order.Format) int {
				return slices.Index(order.Formats, a) - slices.Index(order.Formats, b)
			})
			for _, f := range formats {
				for i, v := range []string{e.Reference, e.AreaCode, e.AreaName, string(f), e.Personal.Name,
					e.Personal.AddressLine1, e.Personal.AddressLine2, e.Personal.Town, e.Personal.Postcode, string(order.English)} {
					row[i] = batchfile.Neutralise(v)
				}
				if err := cw.Write(row); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("AppendEntry", func(b *testing.B) {
		buf := make([]byte, 0, 64<<10)
		for b.Loop() {
			if len(buf) > 60<<10 {
				buf = buf[:0]
			}
			buf, _ = batchfile.AppendEntry(buf, e)
		}
	})
	// An order in both languages: twice the rows.
	cy := e
	cy.AreaCode, cy.AreaName, cy.Languages = "gwent", "Gwent", []order.Language{order.English, order.Welsh}
	b.Run("AppendEntryBilingual", func(b *testing.B) {
		buf := make([]byte, 0, 64<<10)
		for b.Loop() {
			if len(buf) > 60<<10 {
				buf = buf[:0]
			}
			buf, _ = batchfile.AppendEntry(buf, cy)
		}
	})
}
