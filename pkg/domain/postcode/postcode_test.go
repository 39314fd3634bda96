package postcode

import (
	"errors"
	"testing"
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
