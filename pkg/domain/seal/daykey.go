package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// DayKey is the data key of one business date. It seals and opens the
// personal part of that date's orders. It is safe for concurrent use. The
// raw key never leaves the package except wrapped by a KEK.
type DayKey struct {
	date string
	raw  []byte
	aead cipher.AEAD
}

// NewDayKey makes a fresh random key for a business date (2006-01-02).
func NewDayKey(date string) (*DayKey, error) {
	if err := checkDate(date); err != nil {
		return nil, fmt.Errorf("new day key: %w", err)
	}
	raw := make([]byte, KeySize)
	rand.Read(raw) // crypto/rand.Read never fails (it crashes the program instead)
	return dayKeyFrom(date, raw)
}

func dayKeyFrom(date string, raw []byte) (*DayKey, error) {
	aead, err := newGCM(raw)
	if err != nil {
		return nil, fmt.Errorf("day key %s: %w", date, err)
	}
	return &DayKey{date: date, raw: raw, aead: aead}, nil
}

// Date returns the business date the key belongs to; it is also the key id
// recorded in every Sealed value.
func (k *DayKey) Date() string { return k.date }

// Wrapped is a day key encrypted under a key-encryption key, as stored in
// day_keys.wrapped with the KEK's id in day_keys.kek_id.
type Wrapped struct {
	KEKID string
	Data  []byte // wrapVersion, 12-byte nonce, AES-256-GCM ciphertext and tag
}

const wrapVersion = 1

// wrapAAD binds a wrapped key to its business date and KEK id, so that a
// wrapped key copied to another date's row, or relabelled with another KEK
// id, fails to unwrap.
func wrapAAD(date, kekID string) []byte {
	return fmt.Appendf(nil, "booklets day key v%d\x00%s\x00%s", wrapVersion, date, kekID)
}

// Wrap encrypts the day key under the ring's current KEK.
func (r *Ring) Wrap(k *DayKey) (Wrapped, error) {
	cur := r.keys[0]
	out := make([]byte, 1+cur.aead.NonceSize(), 1+cur.aead.NonceSize()+KeySize+cur.aead.Overhead())
	out[0] = wrapVersion
	rand.Read(out[1:])
	out = cur.aead.Seal(out, out[1:], k.raw, wrapAAD(k.date, cur.id))
	return Wrapped{KEKID: cur.id, Data: out}, nil
}

// Unwrap decrypts the wrapped key of a business date. A KEK id not in the
// ring is ErrUnknownKEK; a wrapped key that does not authenticate (changed,
// moved to another date, wrong KEK under that id) is ErrTampered.
func (r *Ring) Unwrap(date string, w Wrapped) (*DayKey, error) {
	if err := checkDate(date); err != nil {
		return nil, fmt.Errorf("unwrap day key: %w", err)
	}
	k, ok := r.find(w.KEKID)
	if !ok {
		return nil, fmt.Errorf("unwrap day key %s: %w %s", date, ErrUnknownKEK, w.KEKID)
	}
	ns := k.aead.NonceSize()
	if len(w.Data) != 1+ns+KeySize+k.aead.Overhead() || w.Data[0] != wrapVersion {
		return nil, fmt.Errorf("unwrap day key %s: %w: not a version %d wrapped key", date, ErrMalformed, wrapVersion)
	}
	raw, err := k.aead.Open(nil, w.Data[1:1+ns], w.Data[1+ns:], wrapAAD(date, k.id))
	if err != nil {
		return nil, fmt.Errorf("unwrap day key %s with key-encryption key %s: %w", date, k.id, ErrTampered)
	}
	return dayKeyFrom(date, raw)
}

// Rewrap unwraps a day key with whichever KEK wrapped it and wraps it again
// under the current KEK. It is how day keys are moved off a KEK that is
// being retired. A key already under the current KEK is rewrapped too (with
// a new nonce), which is harmless.
func (r *Ring) Rewrap(date string, w Wrapped) (Wrapped, error) {
	k, err := r.Unwrap(date, w)
	if err != nil {
		return Wrapped{}, fmt.Errorf("rewrap: %w", err)
	}
	return r.Wrap(k)
}
