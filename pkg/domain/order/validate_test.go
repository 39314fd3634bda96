package order

import (
	"errors"
	"strings"
	"testing"
)

// areaSet maps the test catalogue's area codes to whether each offers a
// booklet in Welsh.
type areaSet map[string]bool

func (a areaSet) Has(code string) bool { _, ok := a[code]; return ok }

func (a areaSet) OffersWelsh(code string) bool { return a[code] }

var testAreas = areaSet{"staffordshire": false, "dyfed-powys": true}

func good() Draft {
	return Draft{
		Area:         "staffordshire",
		Formats:      []string{"audio", "standard-print"},
		Name:         "Siân O'Brien",
		AddressLine1: "1 High Street",
		Town:         "Stafford",
		Postcode:     "st180yy",
	}
}

func TestValidateGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Draft)
		check  func(t *testing.T, v Validated)
	}{
		{"normalises postcode", func(d *Draft) {}, func(t *testing.T, v Validated) {
			if v.Personal.Postcode != "ST18 0YY" {
				t.Errorf("postcode = %q", v.Personal.Postcode)
			}
		}},
		{"orders formats as the catalogue", func(d *Draft) { d.Formats = []string{"audio", "braille", "audio"} }, func(t *testing.T, v Validated) {
			if len(v.Formats) != 2 || v.Formats[0] != Braille || v.Formats[1] != Audio {
				t.Errorf("formats = %v", v.Formats)
			}
		}},
		{"O'Brien", func(d *Draft) { d.Name = "Patrick O'Brien" }, nil},
		{"Siân with combining accent becomes NFC", func(d *Draft) { d.Name = "Sia\u0302n Jones" }, func(t *testing.T, v Validated) {
			if v.Personal.Name != "Siân Jones" {
				t.Errorf("name = %q, want NFC", v.Personal.Name)
			}
		}},
		{"Nguyễn", func(d *Draft) { d.Name = "Nguyễn Văn An" }, nil},
		{"Korean name (real syllables, no fillers)", func(d *Draft) { d.Name = "김민준" }, nil},
		{"Persian name with a zero-width non-joiner", func(d *Draft) { d.Name = "مهر\u200cناز" }, nil},
		{"Welsh place, Greek and Cyrillic", func(d *Draft) { d.Town = "Llanfair Pwllgwyngyll"; d.Name = "Αλέξης Иванов" }, nil},
		{"Zoë-Jane", func(d *Draft) { d.Name = "Zoë-Jane Smith" }, nil},
		{"trims and collapses spaces", func(d *Draft) { d.Name = "  Ann   \t Lee  " }, func(t *testing.T, v Validated) {
			if v.Personal.Name != "Ann Lee" {
				t.Errorf("name = %q", v.Personal.Name)
			}
		}},
		{"optional line 2 kept", func(d *Draft) { d.AddressLine2 = " Flat 2 " }, func(t *testing.T, v Validated) {
			if v.Personal.AddressLine2 != "Flat 2" {
				t.Errorf("line 2 = %q", v.Personal.AddressLine2)
			}
		}},
		{"GIR 0AA", func(d *Draft) { d.Postcode = "gir0aa" }, nil},
		{"name at the limit", func(d *Draft) { d.Name = strings.Repeat("é", MaxNameLen) }, nil},
		{"Welsh town", func(d *Draft) { d.Area = "dyfed-powys"; d.Town = "Llanfairpwllgwyngyll" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good()
			tt.change(&d)
			v, err := d.Validate(testAreas)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tt.check != nil {
				tt.check(t, v)
			}
		})
	}
}

func TestValidateBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Draft)
		fields []string
	}{
		{"everything empty", func(d *Draft) { *d = Draft{} }, []string{FieldArea, FieldFormats, FieldName, FieldAddressLine1, FieldTown, FieldPostcode}},
		{"unknown area", func(d *Draft) { d.Area = "atlantis" }, []string{FieldArea}},
		{"unknown format", func(d *Draft) { d.Formats = []string{"audio", "vinyl"} }, []string{FieldFormats}},
		{"no format", func(d *Draft) { d.Formats = nil }, []string{FieldFormats}},
		{"name too long", func(d *Draft) { d.Name = strings.Repeat("a", MaxNameLen+1) }, []string{FieldName}},
		{"name only spaces", func(d *Draft) { d.Name = "   " }, []string{FieldName}},
		{"name no letters", func(d *Draft) { d.Name = "12345" }, []string{FieldName}},
		{"control character", func(d *Draft) { d.Name = "Ann\x00Lee" }, []string{FieldName}},
		{"escape character", func(d *Draft) { d.AddressLine1 = "1 High St\x1b[31m" }, []string{FieldAddressLine1}},
		{"bidi override", func(d *Draft) { d.Town = "Staff\u202eord" }, []string{FieldTown}},
		{"invalid UTF-8", func(d *Draft) { d.Name = "Ann \xff" }, []string{FieldName}},
		// Hangul fillers are classed as letters but print as nothing.
		{"name of Hangul fillers", func(d *Draft) { d.Name = "\u3164\u3164\u3164" }, []string{FieldName}},
		{"Hangul filler in a name", func(d *Draft) { d.Name = "Ann\u3164Lee" }, []string{FieldName}},
		{"Hangul choseong filler", func(d *Draft) { d.Name = "\u115f" }, []string{FieldName}},
		{"Hangul jungseong filler", func(d *Draft) { d.Town = "\u1160Stafford" }, []string{FieldTown}},
		{"halfwidth Hangul filler", func(d *Draft) { d.AddressLine1 = "1 High St\uffa0" }, []string{FieldAddressLine1}},
		{"braille blank", func(d *Draft) { d.Name = "\u2800\u2800" }, []string{FieldName}},
		{"braille blank in a name", func(d *Draft) { d.Name = "Ann\u2800Lee" }, []string{FieldName}},
		{"combining grapheme joiner", func(d *Draft) { d.Name = "Ann\u034fLee" }, []string{FieldName}},
		{"tag character", func(d *Draft) { d.Town = "Stafford\U000e0041" }, []string{FieldTown}},
		{"object replacement character", func(d *Draft) { d.Name = "Ann \ufffc" }, []string{FieldName}},
		{"noncharacter U+FDD0", func(d *Draft) { d.Name = "Ann\ufdd0" }, []string{FieldName}},
		{"noncharacter U+FFFE", func(d *Draft) { d.AddressLine2 = "\ufffe" }, []string{FieldAddressLine2}},
		{"noncharacter U+10FFFF", func(d *Draft) { d.Town = "Stafford\U0010ffff" }, []string{FieldTown}},
		{"unassigned U+0378", func(d *Draft) { d.Name = "Ann\u0378" }, []string{FieldName}},
		{"unassigned in plane 3", func(d *Draft) { d.Name = "Ann\U0003fff0" }, []string{FieldName}},
		{"private use", func(d *Draft) { d.Name = "Ann\ue000" }, []string{FieldName}},
		{"bad postcode", func(d *Draft) { d.Postcode = "ZZ99 9ZZZ" }, []string{FieldPostcode}},
		{"BFPO", func(d *Draft) { d.Postcode = "BFPO 801" }, []string{FieldPostcode}},
		{"town too long", func(d *Draft) { d.Town = strings.Repeat("x", MaxTownLen+1) }, []string{FieldTown}},
		{"line 2 too long", func(d *Draft) { d.AddressLine2 = strings.Repeat("x", MaxAddressLen+1) }, []string{FieldAddressLine2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good()
			tt.change(&d)
			_, err := d.Validate(testAreas)
			var verr ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate error = %v, want ValidationError", err)
			}
			if len(verr) != len(tt.fields) {
				t.Fatalf("got errors %v, want fields %v", verr, tt.fields)
			}
			for i, f := range tt.fields {
				if verr[i].Field != f || verr[i].Message == "" {
					t.Errorf("error %d = %+v, want field %s", i, verr[i], f)
				}
			}
		})
	}
}

func TestErrorsNeverRepeatInput(t *testing.T) {
	t.Parallel()
	d := Draft{Area: "SECRET-AREA", Formats: []string{"SECRET-FMT"}, Name: "SECRET\x00", AddressLine1: "SECRET\x01", Town: "SECRET\x02", Postcode: "SECRET"}
	_, err := d.Validate(testAreas)
	var verr ValidationError
	errors.As(err, &verr)
	for _, f := range verr {
		if strings.Contains(f.Message, "SECRET") {
			t.Errorf("message for %s repeats the input: %q", f.Field, f.Message)
		}
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error repeats the input: %q", err)
	}
}
