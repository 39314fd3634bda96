// Package seal is the envelope encryption of the personal part of orders
// (docs/privacy.md).
//
// There are two layers of keys:
//
//   - a day key: 32 random bytes per business date, used with AES-256-GCM to
//     seal the personal part of every order of that date. Destroying it at
//     the end of the day makes every copy of that day's ciphertext (stream
//     files, WAL, backups) unreadable: crypto-shredding.
//   - a key-encryption key (KEK), given by configuration, that wraps the day
//     keys so that a day key is never stored in the clear. A Ring holds the
//     current KEK, which wraps, and older KEKs, which only unwrap until every
//     day key they wrapped has been destroyed or rewrapped.
//
// The package does no I/O besides reading the KEK file and knows no driver;
// pkg/adapter/postgres stores the wrapped day keys in PostgreSQL. No error of this
// package carries plaintext or key material.
package seal

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers test with errors.Is.
var (
	// ErrTampered means authentication failed: the ciphertext, its
	// associated data (order id, reference, business date) or its key id
	// was changed, or it was opened with the wrong key.
	ErrTampered = errors.New("sealed data failed authentication")
	// ErrKeyDestroyed means the day key of that business date was destroyed
	// (crypto-shredded): the data sealed under it cannot be opened, and
	// nothing may be sealed under it again.
	ErrKeyDestroyed = errors.New("day key destroyed")
	// ErrUnknownKEK means a day key was wrapped by a key-encryption key that
	// is not in the configured ring.
	ErrUnknownKEK = errors.New("unknown key-encryption key")
	// ErrMalformed means an encoded value is not in a format this package
	// reads (wrong version, truncated, bad base64).
	ErrMalformed = errors.New("malformed sealed value")
	// ErrWrongDayKey means the value names another business date's key than
	// the one it was opened with: a caller looked up the wrong key.
	ErrWrongDayKey = errors.New("sealed under another day key")
	// ErrNoKEK means the configuration names no key-encryption key.
	ErrNoKEK = errors.New("no key-encryption key configured")
)

// checkDate accepts a business date written as 2006-01-02 and nothing else,
// so that key ids are canonical (one date, one spelling, one key): exactly
// the strings that time.Parse with that layout accepts and Format writes
// back unchanged (tested against it). It is checked by hand because it runs
// twice for every order the batcher opens, and time.Parse and Format were a
// tenth of that CPU.
func checkDate(date string) error {
	if !validDate(date) {
		// The value is not echoed: whatever a caller passed by mistake
		// stays out of logs.
		return fmt.Errorf("%w: business date is not a date like 2006-01-02", ErrMalformed)
	}
	return nil
}

func validDate[T string | []byte](s T) bool {
	if len(s) != len("2006-01-02") || s[4] != '-' || s[7] != '-' {
		return false
	}
	var n [3]int // year, month, day
	for i, field := range [3][2]int{{0, 4}, {5, 7}, {8, 10}} {
		for j := field[0]; j < field[1]; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return false
			}
			n[i] = n[i]*10 + int(c-'0')
		}
	}
	year, month, day := n[0], n[1], n[2]
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	return day <= daysIn(time.Month(month), year)
}

// daysIn is the number of days of a month in the proleptic Gregorian
// calendar, as the time package counts them.
func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
