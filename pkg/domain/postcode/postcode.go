// Package postcode validates and normalises UK postcodes.
//
// It accepts the forms the public actually type ("st180yy", "St18 0YY ",
// "ST18  0YY") and returns the canonical form ("ST18 0YY"). The rules follow
// the published postcode format (outward code: area, district, optional
// sub-district letter; inward code: sector digit and two unit letters that
// never use C, I, K, M, O or V), plus the special case GIR 0AA. British Forces
// (BFPO) addresses are recognised so that they get a clear message rather than
// a generic "not valid".
package postcode

import (
	"errors"
	"regexp"
	"strings"
	"unicode"
)

var (
	// ErrEmpty means no postcode was given.
	ErrEmpty = errors.New("enter a postcode")
	// ErrInvalid means the text is not a UK postcode.
	ErrInvalid = errors.New("enter a real postcode, like AA1 1AA")
	// ErrBFPO means a British Forces Post Office address, which this service
	// does not deliver to.
	ErrBFPO = errors.New("we cannot post booklets to BFPO addresses; contact us to order by another route")
)

// outward matches the outward code forms A9, A99, AA9, AA99, A9A and AA9A.
// inward matches the inward code: a digit and two letters from the allowed set.
var (
	outward = regexp.MustCompile(`^(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])$`)
	inward  = regexp.MustCompile(`^[0-9][ABD-HJLNP-UW-Z]{2}$`)
)

// Normalise returns the canonical form of a UK postcode: upper case, a single
// space before the three-character inward code, nothing else.
func Normalise(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsSpace(r) {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	compact := b.String()
	if compact == "" {
		return "", ErrEmpty
	}
	if strings.HasPrefix(compact, "BFPO") {
		return "", ErrBFPO
	}
	if len(compact) < 5 || len(compact) > 7 {
		return "", ErrInvalid
	}
	out, in := compact[:len(compact)-3], compact[len(compact)-3:]
	if out+in == "GIR0AA" {
		return "GIR 0AA", nil
	}
	if !outward.MatchString(out) || !inward.MatchString(in) {
		return "", ErrInvalid
	}
	return out + " " + in, nil
}

// Area returns the postcode area of pc: the letters its outward code starts
// with, before the district number ("CF" of "cf10 1aa", "B" of "B1 1AA",
// "W" of "W1A 0AX", "EC" of "EC1A 1BB"). It is "" when pc is not a valid
// postcode, so that callers never treat a mistyped postcode as a place.
// GIR 0AA, the one valid postcode with no district number (Girobank's, not
// a delivery address), gives "GIR", which no postcode-area list holds.
func Area(pc string) string {
	n, err := Normalise(pc)
	if err != nil {
		return ""
	}
	out := n[:strings.IndexByte(n, ' ')]
	end := strings.IndexFunc(out, unicode.IsDigit)
	if end < 0 {
		return out
	}
	return out[:end]
}
