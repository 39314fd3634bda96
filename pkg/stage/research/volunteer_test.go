package research

import (
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/businessday"
)

func TestValidateCombinations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		d          Draft
		want       SignUp
		wantFields string
	}{
		{"name only", Draft{Name: "  Siân   O'Brien ", Consent: true}, SignUp{Name: "Siân O'Brien", ConsentVersion: ConsentVersion}, ""},
		{"email only", Draft{Email: " Sian.OBrien@Example.ORG ", Consent: true}, SignUp{Email: "sian.obrien@example.org", ConsentVersion: ConsentVersion}, ""},
		{"both", Draft{Name: "Ann", Email: "ann+research@example.co.uk", Consent: true, ConsentVersion: ConsentVersion},
			SignUp{Name: "Ann", Email: "ann+research@example.co.uk", ConsentVersion: ConsentVersion}, ""},
		{"neither", Draft{Name: "  ", Email: " ", Consent: true}, SignUp{}, FieldName},
		{"bad email", Draft{Name: "Ann", Email: "ann@example", Consent: true}, SignUp{}, FieldEmail},
		{"bad email and no consent", Draft{Email: "ann.example.com"}, SignUp{}, FieldEmail + "," + FieldConsent},
		{"no consent", Draft{Name: "Ann"}, SignUp{}, FieldConsent},
		{"welsh wording", Draft{Name: "Siân", Consent: true, ConsentVersion: ConsentVersionWelsh},
			SignUp{Name: "Siân", ConsentVersion: ConsentVersionWelsh}, ""},
		{"old consent wording", Draft{Name: "Ann", Consent: true, ConsentVersion: "research-consent-v0"}, SignUp{}, FieldConsent},
		{"old welsh wording", Draft{Name: "Ann", Consent: true, ConsentVersion: "research-consent-v0-cy"}, SignUp{}, FieldConsent},
		{"name too long", Draft{Name: strings.Repeat("a", 101), Consent: true}, SignUp{}, FieldName},
		{"name with a line break", Draft{Name: "Ann\nBob", Consent: true}, SignUp{}, FieldName},
	}
	for _, c := range cases {
		got, err := c.d.Validate()
		if c.wantFields == "" {
			if err != nil || got != c.want {
				t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
			}
			continue
		}
		verr, ok := err.(ValidationError)
		if !ok {
			t.Errorf("%s: err = %v, want a ValidationError", c.name, err)
			continue
		}
		var fields []string
		for _, f := range verr {
			fields = append(fields, f.Field)
			if e := strings.TrimSpace(c.d.Email); e != "" && strings.Contains(f.Message, e) {
				t.Errorf("%s: message %q repeats the input", c.name, f.Message)
			}
		}
		if strings.Join(fields, ",") != c.wantFields {
			t.Errorf("%s: fields %v, want %s", c.name, fields, c.wantFields)
		}
		if strings.Contains(err.Error(), "Ann") || strings.Contains(err.Error(), "example") {
			t.Errorf("%s: error text %q carries the input", c.name, err)
		}
	}
}

func TestNormaliseEmail(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"a@b.co":                  "a@b.co",
		" First.Last@Example.COM": "first.last@example.com",
		"x_y-z+tag@sub.domain.uk": "x_y-z+tag@sub.domain.uk",
		"o'neil@example.ie":       "o'neil@example.ie",
		"jo@bücher.example":       "jo@bücher.example",
		"jo@xn--bcher-kva.de":     "jo@xn--bcher-kva.de",
	}
	for in, want := range good {
		if got, err := NormaliseEmail(in); err != nil || got != want {
			t.Errorf("NormaliseEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "plain", "@example.com", "a@", "a@b", "a@b.c", "a@@b.com", "a@b@c.com", "a b@c.com",
		"Ann <ann@example.com>", "ann@example.com (Ann)", `"a b"@example.com`, "a@[192.168.0.1]",
		".a@b.com", "a.@b.com", "a..b@c.com", "a@-b.com", "a@b-.com", "a@b..com", "a@b.c0m", "a@b.com.",
		strings.Repeat("a", 65) + "@example.com", "a@" + strings.Repeat("b", 64) + ".com",
		strings.Repeat("a", 60) + "@" + strings.Repeat(strings.Repeat("b", 60)+".", 4) + "com",
		"a,b@c.com", "a;b@c.com",
	}
	for _, in := range bad {
		if got, err := NormaliseEmail(in); err == nil {
			t.Errorf("NormaliseEmail(%q) = %q, want an error", in, got)
		}
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		c := NewCode()
		if len(c) != CodeLen+3 || c[4] != '-' || c[9] != '-' || c[14] != '-' {
			t.Fatalf("code %q is not XXXX-XXXX-XXXX-XXXX", c)
		}
		if seen[c] {
			t.Fatalf("code %q repeated", c)
		}
		seen[c] = true
		h1, ok1 := HashCode(c)
		h2, ok2 := HashCode(strings.ToLower(strings.ReplaceAll(c, "-", " ")))
		if !ok1 || !ok2 || h1 != h2 || len(h1) != 64 {
			t.Fatalf("hash of %q: %q %v, %q %v", c, h1, ok1, h2, ok2)
		}
		if strings.Contains(h1, strings.ReplaceAll(c, "-", "")) {
			t.Fatal("hash contains the code")
		}
	}
	// Confusable letters read as the digits they look like.
	a, _ := HashCode("0000-1111-0000-1111")
	b, _ := HashCode("oooo-iiii-OOOO-llll")
	if a != b {
		t.Error("O, I and L are not read as 0 and 1")
	}
	for _, bad := range []string{"", "ABCD", "ABCD-EFGH-JKMN-PQRSX", "ABCD-EFGH-JKMN-PQRU", "ABCD-EFGH-JKMN-PQR!", "ABCD-EFGH-JKMN-PQRé"} {
		if _, ok := HashCode(bad); ok {
			t.Errorf("HashCode(%q) accepted", bad)
		}
	}
}

func TestReviewDue(t *testing.T) {
	t.Parallel()
	d := func(s string) businessday.Date {
		x, err := businessday.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for from, want := range map[string]string{
		"2026-11-25": "2028-11-25",
		"2028-02-29": "2030-03-01",
		"2027-12-31": "2029-12-31",
	} {
		if got := ReviewDue(d(from)).String(); got != want {
			t.Errorf("ReviewDue(%s) = %s, want %s", from, got, want)
		}
	}
	// A sign-up at 23:30 on a summer evening in London is that London day,
	// not the UTC one.
	late := time.Date(2026, 6, 30, 23, 30, 0, 0, time.UTC) // 00:30 on 1 July in London
	if got := Today(late).String(); got != "2026-07-01" {
		t.Errorf("Today = %s", got)
	}
}

// TestConsentIn: each language has its own wording and its own version, so
// an entry's version tells which words its person agreed to; both are
// accepted and recorded as shown.
func TestConsentIn(t *testing.T) {
	t.Parallel()
	enText, enVersion := ConsentIn("en")
	cyText, cyVersion := ConsentIn("cy")
	if enText != ConsentText || enVersion != ConsentVersion || cyText != ConsentTextWelsh || cyVersion != ConsentVersionWelsh {
		t.Fatalf("ConsentIn: en %q %q, cy %q %q", enVersion, enText, cyVersion, cyText)
	}
	if enVersion == cyVersion || enText == cyText || !strings.Contains(cyText, "Rwy’n cytuno") {
		t.Errorf("the two languages share a version or a wording: %q %q", enVersion, cyVersion)
	}
	for _, v := range []string{enVersion, cyVersion} {
		got, err := Draft{Name: "Ann", Consent: true, ConsentVersion: v}.Validate()
		if err != nil || got.ConsentVersion != v {
			t.Errorf("version %q: recorded %q, %v", v, got.ConsentVersion, err)
		}
	}
}
