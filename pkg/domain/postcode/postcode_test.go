package postcode

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

func TestNormalise(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{"st180yy", "ST18 0YY", nil},
		{"ST18 0YY", "ST18 0YY", nil},
		{"  st18   0yy ", "ST18 0YY", nil},
		{"SW1A 1AA", "SW1A 1AA", nil},
		{"sw1a1aa", "SW1A 1AA", nil},
		{"M1 1AE", "M1 1AE", nil},
		{"B33 8TH", "B33 8TH", nil},
		{"CR2 6XH", "CR2 6XH", nil},
		{"DN55 1PT", "DN55 1PT", nil},
		{"W1A 0AX", "W1A 0AX", nil},
		{"EC1A 1BB", "EC1A 1BB", nil},
		{"CF10 1EP", "CF10 1EP", nil},
		{"gir0aa", "GIR 0AA", nil},
		{"GIR 0AA", "GIR 0AA", nil},
		{"ST18\t0YY", "ST18 0YY", nil},
		{"", "", ErrEmpty},
		{"   ", "", ErrEmpty},
		{"BFPO 801", "", ErrBFPO},
		{"bfpo801", "", ErrBFPO},
		{"ST18 0Y", "", ErrInvalid},
		{"ST180YYY", "", ErrInvalid},
		{"QA1 1AA", "", ErrInvalid},  // Q is never a first letter
		{"AI1 1AA", "", ErrInvalid},  // I is never a second letter
		{"SW1A 1CA", "", ErrInvalid}, // C is never a unit letter
		{"12345", "", ErrInvalid},
		{"ST18 0YY; DROP", "", ErrInvalid},
		{"ＳＴ18 0YY", "", ErrInvalid}, // full-width letters are not ASCII
	}
	for _, tt := range tests {
		got, err := Normalise(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("Normalise(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if got != tt.want {
			t.Errorf("Normalise(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"st180yy", "GIR 0AA", "BFPO 1", "", "SW1A1AA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalise(s)
		if err != nil {
			return
		}
		again, err := Normalise(got)
		if err != nil || again != got {
			t.Fatalf("canonical form %q does not normalise to itself: %q, %v", got, again, err)
		}
	})
}

func TestArea(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"cf10 1aa", "CF"},
		{"CF10 1EP", "CF"},
		{"B1 1AA", "B"},    // one letter, one digit
		{"b11aa", "B"},     // typed without a space
		{"B33 8TH", "B"},   // one letter, two digits
		{"BS1 4DJ", "BS"},  // two letters: not Birmingham
		{"BT1 5GS", "BT"},  // Belfast: a valid postcode, its own area
		{"W1A 0AX", "W"},   // district with a sub-district letter
		{"EC1A 1BB", "EC"}, // two letters, sub-district letter
		{"SW1A 2AA", "SW"},
		{"M1 1AE", "M"},
		{"DN55 1PT", "DN"},
		{"LL57 2DG", "LL"},
		{" st18   0yy ", "ST"},
		{"GIR 0AA", "GIR"}, // valid, no district number
		{"gir0aa", "GIR"},
		{"", ""},
		{"B1", ""}, // an outward code alone is not a postcode
		{"BS", ""}, // nor an area
		{"BT", ""},
		{"BFPO 801", ""}, // refused by Normalise
		{"QA1 1AA", ""},  // Q never starts a postcode
		{"SW1A 1CA", ""}, // C is never a unit letter
		{"12345", ""},
	}
	for _, tt := range tests {
		if got := Area(tt.in); got != tt.want {
			t.Errorf("Area(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzArea(f *testing.F) {
	for _, s := range []string{"cf10 1aa", "W1A 0AX", "GIR 0AA", "B1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := Area(s)
		n, err := Normalise(s)
		if err != nil {
			if a != "" {
				t.Fatalf("Area(%q) = %q for a postcode Normalise refuses (%v)", s, a, err)
			}
			return
		}
		// The area is a prefix of the canonical form, followed by a digit
		// (or it is GIR 0AA's "GIR"), made only of capital letters.
		if a == "" || !strings.HasPrefix(n, a) || (n != "GIR 0AA" && !unicode.IsDigit(rune(n[len(a)]))) {
			t.Fatalf("Area(%q) = %q, not the leading letters of %q", s, a, n)
		}
		for _, r := range a {
			if r < 'A' || r > 'Z' {
				t.Fatalf("Area(%q) = %q: not capital letters", s, a)
			}
		}
	})
}
