// Package reference makes and checks order references.
//
// A reference is what a member of the public reads out over the phone, so it
// uses an alphabet with no look-alikes (no 0/O, no 1/I), is grouped for
// reading ("K7QM-X9PA-C4T"), and ends with a check character (Luhn mod N) that
// catches every single mistyped character and most swapped neighbours. The ten
// random characters give 50 bits: unguessable, and never derived from
// personal data.
package reference

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
)

// Alphabet is the set of characters a reference is made of.
const Alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

const (
	payloadLen = 10
	// Len is the number of characters in a reference, without the dashes.
	Len = payloadLen + 1
)

// ErrInvalid means a text is not a well-formed reference (wrong length,
// a character outside the alphabet, or a check character that does not match).
var ErrInvalid = errors.New("not a valid order reference")

// Reference is a canonical order reference, grouped with dashes.
type Reference string

func (r Reference) String() string { return string(r) }

// New returns a random reference.
func New() Reference {
	var b [payloadLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+).
		panic(err)
	}
	return fromBytes(b[:])
}

// NewDistinct returns n new references, no two alike, for making many
// orders at once (benchmarks, load and test data): among a million random
// 50-bit references two are alike about once in 2,300 sets, and orders
// must not share one (orders.reference is UNIQUE).
func NewDistinct(n int) []Reference {
	refs := make([]Reference, 0, n)
	seen := make(map[Reference]bool, n)
	for len(refs) < n {
		if r := New(); !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	return refs
}

// Derive returns the reference for a secret and a key: the same pair always
// gives the same reference, and without the secret nobody can predict it.
// The intake uses it to give a retried request (same Idempotency-Key) the
// same reference as the first.
func Derive(secret, key []byte) Reference {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("booklets/reference/v1\x00"))
	mac.Write(key)
	return fromBytes(mac.Sum(nil)[:payloadLen])
}

func fromBytes(b []byte) Reference {
	var raw [Len]byte
	for i := 0; i < payloadLen; i++ {
		// 256 is a multiple of 32, so taking the low five bits is unbiased.
		raw[i] = Alphabet[b[i]%byte(len(Alphabet))]
	}
	raw[payloadLen] = checkChar(raw[:payloadLen])
	return group(string(raw[:]))
}

// Parse accepts a reference as a person might type it (any case, spaces or
// dashes anywhere) and returns the canonical form.
func Parse(s string) (Reference, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r < 128 && strings.IndexByte(Alphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", ErrInvalid
		}
	}
	raw := b.String()
	if len(raw) != Len || checkChar([]byte(raw[:payloadLen])) != raw[payloadLen] {
		return "", ErrInvalid
	}
	return group(raw), nil
}

// checkChar computes the Luhn mod N check character over the alphabet.
func checkChar(payload []byte) byte {
	n := len(Alphabet)
	sum, factor := 0, 2
	for i := len(payload) - 1; i >= 0; i-- {
		addend := factor * strings.IndexByte(Alphabet, payload[i])
		addend = addend/n + addend%n
		sum += addend
		if factor == 2 {
			factor = 1
		} else {
			factor = 2
		}
	}
	return Alphabet[(n-sum%n)%n]
}

func group(raw string) Reference {
	return Reference(raw[0:4] + "-" + raw[4:8] + "-" + raw[8:])
}
