package postgres

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
)

func fields(formats ...int16) []pgconn.FieldDescription {
	names := []string{"order_id", "reference", "area", "formats", "business_date", "data", "languages"}
	fs := make([]pgconn.FieldDescription, len(names))
	for i, n := range names {
		fs[i] = pgconn.FieldDescription{Name: n, Format: formats[i]}
	}
	return fs
}

// The decoder reads a row in either wire format, shares the area, format
// and language lists of equal rows, and copies the personal part out of the
// row's buffer.
func TestRowDecoder(t *testing.T) {
	const bin, text = pgtype.BinaryFormatCode, pgtype.TextFormatCode
	id := []byte{0x01, 0x9a, 0x2b, 0x3c, 0x4d, 0x5e, 0x7f, 0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7, 0x08}
	personal := []byte{1, 2, 3}
	var d rowDecoder
	a, err := d.decode(fields(bin, text, text, text, bin, bin, text),
		[][]byte{id, []byte("REF1"), []byte("kent"), []byte("large-print,audio"), {0, 0, 0x27, 0x03}, personal, []byte("en,cy")})
	if err != nil {
		t.Fatal(err)
	}
	want := BatchOrder{OrderID: "019a2b3c-4d5e-7f80-91a2-b3c4d5e6f708", Reference: "REF1", Area: "kent",
		Formats: []order.Format{order.LargePrint, order.Audio}, BusinessDate: businessday.Date{Year: 2027, Month: 5, Day: 6},
		Personal: []byte{1, 2, 3}, Languages: []order.Language{order.English, order.Welsh}}
	if a.OrderID != want.OrderID || a.Reference != want.Reference || a.Area != want.Area || !slices.Equal(a.Formats, want.Formats) ||
		!slices.Equal(a.Languages, want.Languages) ||
		a.BusinessDate != want.BusinessDate || !slices.Equal(a.Personal, want.Personal) {
		t.Errorf("binary row: %+v, want %+v", a, want)
	}
	personal[0] = 9
	if a.Personal[0] != 1 {
		t.Error("the personal part aliases the row's buffer")
	}
	b, err := d.decode(fields(text, text, text, text, text, bin, text),
		[][]byte{[]byte(want.OrderID), []byte("REF2"), []byte("kent"), []byte("large-print,audio"), []byte("2027-05-06"), {4}, []byte("en,cy")})
	if err != nil {
		t.Fatal(err)
	}
	if b.OrderID != want.OrderID || b.BusinessDate != want.BusinessDate || &b.Formats[0] != &a.Formats[0] || &b.Languages[0] != &a.Languages[0] {
		t.Errorf("text row: %+v (formats shared: %v, languages shared: %v)", b, &b.Formats[0] == &a.Formats[0], &b.Languages[0] == &a.Languages[0])
	}
	c, err := d.decode(fields(text, text, text, text, text, bin, text),
		[][]byte{[]byte(want.OrderID), []byte("REF3"), []byte("gwent"), []byte("audio"), []byte("2027-05-06"), {5}, []byte("cy")})
	if err != nil || !slices.Equal(c.Languages, []order.Language{order.Welsh}) {
		t.Errorf("Welsh row: %+v, %v", c, err)
	}
	for name, row := range map[string][][]byte{
		"short uuid":     {id[:15], []byte("R"), []byte("kent"), []byte("audio"), {0, 0, 0, 1}, {1}, []byte("en")},
		"NULL":           {id, []byte("R"), nil, []byte("audio"), {0, 0, 0, 1}, {1}, []byte("en")},
		"NULL languages": {id, []byte("R"), []byte("kent"), []byte("audio"), {0, 0, 0, 1}, {1}, nil},
		"short date":     {id, []byte("R"), []byte("kent"), []byte("audio"), {0, 1}, {1}, []byte("en")},
		"columns":        {id, []byte("R")},
		"six columns":    {id, []byte("R"), []byte("kent"), []byte("audio"), {0, 0, 0, 1}, {1}},
	} {
		if _, err := d.decode(fields(bin, text, text, text, bin, bin, text), row); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := d.decode(fields(bin, text, text, text, bin, text, text), [][]byte{id, []byte("R"), []byte("kent"), []byte("audio"), {0, 0, 0, 1}, []byte(`\x01`), []byte("en")}); err == nil {
		t.Error("a personal part in text format was taken")
	}
}
