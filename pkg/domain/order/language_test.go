package order

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// The booklet language (issue 18): English, Welsh or both where the area
// offers Welsh (dyfed-powys in testAreas), English only elsewhere
// (staffordshire); none asked for is English. (The Welsh form asks, and
// offers Welsh first: pkg/adapter/web/public.)
func TestValidateLanguages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		area    string
		asked   []string
		want    []Language
		refused bool
	}{
		{"Welsh area, Welsh", "dyfed-powys", []string{"cy"}, []Language{Welsh}, false},
		{"Welsh area, English", "dyfed-powys", []string{"en"}, []Language{English}, false},
		{"Welsh area, both in catalogue order", "dyfed-powys", []string{"cy", "en"}, []Language{English, Welsh}, false},
		{"Welsh area, both twice and spaced", "dyfed-powys", []string{" en", "cy ", "en"}, []Language{English, Welsh}, false},
		{"Welsh area, none: English by default", "dyfed-powys", nil, []Language{English}, false},
		{"English area, none: English", "staffordshire", nil, []Language{English}, false},
		{"English area, English", "staffordshire", []string{"en"}, []Language{English}, false},
		{"English area, Welsh refused", "staffordshire", []string{"cy"}, nil, true},
		{"English area, both refused", "staffordshire", []string{"en", "cy"}, nil, true},
		{"unknown language", "dyfed-powys", []string{"fr"}, nil, true},
		{"empty value", "dyfed-powys", []string{""}, nil, true},
		{"language name, not its code", "dyfed-powys", []string{"Welsh"}, nil, true},
		{"code in capitals", "dyfed-powys", []string{"CY"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := good()
			d.Area, d.Languages = tt.area, tt.asked
			v, err := d.Validate(testAreas)
			if tt.refused {
				var verr ValidationError
				if !errors.As(err, &verr) || len(verr) != 1 || verr[0].Field != FieldLanguages || verr[0].Message == "" {
					t.Fatalf("Validate = %v, want one error for %s", err, FieldLanguages)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !slices.Equal(v.Languages, tt.want) {
				t.Errorf("languages = %v, want %v", v.Languages, tt.want)
			}
		})
	}
}

func TestWelshInEnglishAreaSaysWhatToDo(t *testing.T) {
	t.Parallel()
	d := good()
	d.Languages = []string{"cy"}
	_, err := d.Validate(testAreas)
	var verr ValidationError
	if !errors.As(err, &verr) || len(verr) != 1 {
		t.Fatalf("Validate = %v", err)
	}
	if msg := verr[0].Message; !strings.Contains(msg, "not available in Welsh") || !strings.Contains(msg, "Select English") {
		t.Errorf("message = %q: it should say Welsh is not offered here and what to select", msg)
	}
}

// An unknown area gets the area's message only: whether it offers Welsh
// cannot be known, so Welsh is not refused as well.
func TestWelshWithUnknownAreaIsTheAreasError(t *testing.T) {
	t.Parallel()
	d := good()
	d.Area, d.Languages = "atlantis", []string{"cy"}
	_, err := d.Validate(testAreas)
	var verr ValidationError
	if !errors.As(err, &verr) || len(verr) != 1 || verr[0].Field != FieldArea {
		t.Fatalf("Validate = %v, want the area's error only", err)
	}
}

func TestLanguageValid(t *testing.T) {
	t.Parallel()
	if !English.Valid() || !Welsh.Valid() || Language("fr").Valid() || Language("").Valid() {
		t.Error("Valid is wrong")
	}
}

// The default is a fresh slice each time: a caller changing its order's
// languages changes no other order's.
func TestDefaultLanguagesNotShared(t *testing.T) {
	t.Parallel()
	a, _ := good().Validate(testAreas)
	a.Languages[0] = Welsh
	b, _ := good().Validate(testAreas)
	if b.Languages[0] != English {
		t.Fatal("validation handed out a shared default")
	}
}

func TestSealedMessageCarriesLanguages(t *testing.T) {
	t.Parallel()
	for _, ls := range [][]Language{{English}, {Welsh}, {English, Welsh}} {
		o := sample()
		o.Area, o.Languages = "dyfed-powys", ls
		so, err := Seal(o, day, dayKey(t, day))
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalSealed(so)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalSealed(b)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Languages, ls) {
			t.Errorf("languages %v came back as %v (%s)", ls, got.Languages, b)
		}
	}
}

// An order made without languages (code from before issue 18) is sealed
// and written as English: every message written now names its languages.
func TestSealWithoutLanguagesIsEnglish(t *testing.T) {
	t.Parallel()
	so, err := Seal(sample(), day, dayKey(t, day))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := MarshalSealed(so)
	if !slices.Equal(so.Languages, []Language{English}) || !strings.Contains(string(b), `"languages":["en"]`) {
		t.Fatalf("languages %v, message %s", so.Languages, b)
	}
}

// A message written before issue 18 has no "languages": it is read, as
// English, which every booklet then was (sealedMessage).
func TestOldMessageWithoutLanguagesIsEnglish(t *testing.T) {
	t.Parallel()
	so, err := Seal(sample(), day, dayKey(t, day))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := MarshalSealed(so)
	old := strings.Replace(string(b), `"languages":["en"],`, "", 1)
	if strings.Contains(old, "languages") {
		t.Fatalf("could not make an old message: %s", old)
	}
	got, err := UnmarshalSealed([]byte(old))
	if err != nil {
		t.Fatalf("old message refused: %v", err)
	}
	if !slices.Equal(got.Languages, []Language{English}) || len(got.Formats) != 2 {
		t.Fatalf("old message read as %+v", got)
	}
}

func TestMessageWithBadLanguagesRefused(t *testing.T) {
	t.Parallel()
	so, _ := Seal(sample(), day, dayKey(t, day))
	b, _ := MarshalSealed(so)
	for name, repl := range map[string]string{
		"unknown":    `"languages":["LEAKY"],`,
		"empty":      `"languages":[],`,
		"not a list": `"languages":"cy",`,
	} {
		in := strings.Replace(string(b), `"languages":["en"],`, repl, 1)
		_, err := UnmarshalSealed([]byte(in))
		if !errors.Is(err, ErrBadMessage) || strings.Contains(err.Error(), "LEAKY") {
			t.Errorf("%s: error = %v, want ErrBadMessage without the value", name, err)
		}
	}
}
