package batchfile_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/order"
)

// EachRecord gives the rows of the data file, in its order, with the
// values as typed: what the CSV holds once the partner's rule has removed
// the neutralising apostrophe.
func TestEachRecordIsTheFileAsTyped(t *testing.T) {
	t.Parallel()
	entries := []batchfile.Entry{
		{Reference: "K7QM-X9PA-C4T", AreaCode: "dyfed-powys", AreaName: "Dyfed-Powys",
			Formats:  []order.Format{order.Audio, order.StandardPrint, order.Braille},
			Personal: order.Personal{Name: "=1+1", AddressLine1: "+44 Flat", AddressLine2: "-5", Town: "@x", Postcode: "0123"}},
		{Reference: "K7QM-X9PA-C4U", AreaCode: "gwent", Formats: []order.Format{order.LargePrint},
			Languages: []order.Language{order.Welsh, order.English},
			Personal:  order.Personal{Name: "Siân Llŷr", AddressLine1: "1/2 \"The\" Mill,\nUpper", AddressLine2: "'=x", Town: "12:30", Postcode: "TRUE"}},
		{Reference: "K7QM-X9PA-C4V", AreaCode: "x", Formats: nil, Personal: order.Personal{Name: "none"}},
	}
	var file []byte
	var want [][]string
	for _, e := range entries {
		file, _ = batchfile.AppendEntry(file, e)
	}
	recs, err := csv.NewReader(bytes.NewReader(file)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		for i := range r {
			r[i] = unNeutralise(r[i])
		}
		want = append(want, r)
	}
	var got [][]string
	for _, e := range entries {
		if err := batchfile.EachRecord(e, func(cells []string) error {
			if len(cells) != len(batchfile.Header) {
				t.Fatalf("%d cells, want %d", len(cells), len(batchfile.Header))
			}
			got = append(got, slices.Clone(cells))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 5 || len(want) != 5 {
		t.Fatalf("%d records, CSV %d; want 5", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("record %d: %q, the CSV as typed %q", i, got[i], want[i])
		}
	}
	if got[0][4] != "=1+1" || got[0][3] != string(order.StandardPrint) {
		t.Errorf("first record %q: want the value as typed and the formats in the file's order", got[0])
	}
	if got[0][9] != "en" || got[3][9] != "en" || got[4][9] != "cy" {
		t.Errorf("languages %q, %q, %q: want en (none given), then en and cy in that order", got[0][9], got[3][9], got[4][9])
	}
}

func TestXLSXFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"booklets_2026-11-25_B20261125-K7QM2X.csv.gpg": "booklets_2026-11-25_B20261125-K7QM2X.xlsx.gpg",
		"booklets_2026-11-25_B20261125-K7QM2X.csv":     "booklets_2026-11-25_B20261125-K7QM2X.xlsx",
	} {
		if got := batchfile.XLSXFileName(in); got != want {
			t.Errorf("XLSXFileName(%q) = %q, want %q", in, got, want)
		}
	}
}
