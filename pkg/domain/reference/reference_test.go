package reference

import (
	"errors"
	"strings"
	"testing"
)

func TestNewIsCanonicalAndUnambiguous(t *testing.T) {
	t.Parallel()
	seen := map[Reference]bool{}
	for i := 0; i < 10000; i++ {
		r := New()
		if seen[r] {
			t.Fatalf("duplicate reference %s after %d", r, i)
		}
		seen[r] = true
		if strings.ContainsAny(string(r), "01IO") {
			t.Fatalf("reference %s has an ambiguous character", r)
		}
		got, err := Parse(string(r))
		if err != nil || got != r {
			t.Fatalf("Parse(%s) = %s, %v", r, got, err)
		}
	}
}

func TestParseAcceptsHowPeopleType(t *testing.T) {
	t.Parallel()
	r := New()
	typed := strings.ToLower(strings.ReplaceAll(string(r), "-", " "))
	got, err := Parse(typed)
	if err != nil || got != r {
		t.Fatalf("Parse(%q) = %q, %v; want %q", typed, got, err, r)
	}
}

func TestCheckCharacterCatchesMistakes(t *testing.T) {
	t.Parallel()
	for i := 0; i < 500; i++ {
		raw := strings.ReplaceAll(string(New()), "-", "")
		// Every single-character substitution must be rejected.
		for pos := 0; pos < len(raw); pos++ {
			for _, c := range Alphabet {
				if byte(c) == raw[pos] {
					continue
				}
				typo := raw[:pos] + string(c) + raw[pos+1:]
				if _, err := Parse(typo); !errors.Is(err, ErrInvalid) {
					t.Fatalf("substitution %s -> %s accepted", raw, typo)
				}
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "ABCD", "ABCD-EFGH-JKLM", "O0O0-O0O0-O0O", "ÄBCD-EFGH-JKL"} {
		if _, err := Parse(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error = %v, want ErrInvalid", s, err)
		}
	}
}

func TestDeriveIsStableAndKeyed(t *testing.T) {
	t.Parallel()
	a := Derive([]byte("secret"), []byte("key-1"))
	if b := Derive([]byte("secret"), []byte("key-1")); a != b {
		t.Fatalf("same inputs gave %s and %s", a, b)
	}
	if c := Derive([]byte("other"), []byte("key-1")); a == c {
		t.Fatalf("different secrets gave the same reference %s", a)
	}
	if d := Derive([]byte("secret"), []byte("key-2")); a == d {
		t.Fatalf("different keys gave the same reference %s", a)
	}
	if _, err := Parse(string(a)); err != nil {
		t.Fatalf("derived reference %s does not parse: %v", a, err)
	}
}

func TestNewDistinct(t *testing.T) {
	refs := NewDistinct(10_000)
	seen := map[Reference]bool{}
	for _, r := range refs {
		if seen[r] {
			t.Fatalf("%s twice", r)
		}
		seen[r] = true
		if _, err := Parse(r.String()); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	if len(refs) != 10_000 {
		t.Errorf("%d references, want 10,000", len(refs))
	}
}
