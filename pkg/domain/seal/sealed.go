package seal

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// AlgAES256GCM is the only sealing algorithm so far: AES-256-GCM with a
// random 96-bit nonce. At a few hundred thousand orders a day per key, the
// random-nonce limit of 2^32 messages per key is never approached.
const AlgAES256GCM = "AES-256-GCM"

// binaryVersion is the first byte of the binary encoding; it stands for
// AlgAES256GCM with a 12-byte nonce.
const binaryVersion = 1

const nonceSize = 12

// Sealed is one sealed value: the personal part of one order. Its key id is
// the business date of the day key that sealed it.
//
// It has two encodings with the same content:
//   - JSON, for the stream message:
//     {"alg":"AES-256-GCM","key_id":"2026-05-07","nonce":"<base64>","ciphertext":"<base64>"}
//   - bytes (MarshalBinary), for a PostgreSQL bytea: one version byte (1),
//     one byte with the length of the key id, the key id, the 12-byte nonce,
//     then the ciphertext with its 16-byte tag.
type Sealed struct {
	Alg        string `json:"alg"`
	KeyID      string `json:"key_id"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// OrderAAD is the associated data that ties a sealed personal part to its
// order: the order id and the reference. The business date is bound as the
// key id (see Seal), so together a ciphertext cannot be moved to another
// order or another day without failing with ErrTampered.
func OrderAAD(orderID, reference string) []byte {
	return AppendOrderAAD(nil, orderID, reference)
}

// AppendOrderAAD appends OrderAAD(orderID, reference) to b, so that a caller
// opening many values can build it in a buffer it reuses.
func AppendOrderAAD(b []byte, orderID, reference string) []byte {
	b = append(b, "booklets order v1"...)
	return appendField(appendField(b, orderID), reference)
}

// appendField appends a length-prefixed field, so that no two different
// field lists give the same bytes.
func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// fullAAD adds the algorithm and key id to the caller's associated data, so
// that relabelling a value with another day's key id fails to open.
func fullAAD(alg, keyID string, aad []byte) []byte {
	return appendFullAAD(nil, alg, keyID, aad)
}

func appendFullAAD(b []byte, alg, keyID string, aad []byte) []byte {
	b = append(b, "booklets seal v1"...)
	b = appendField(appendField(b, alg), keyID)
	return append(b, aad...)
}

// Seal encrypts plaintext under the day key with a fresh random nonce,
// authenticating aad (use OrderAAD) together with the key id.
func (k *DayKey) Seal(plaintext, aad []byte) (Sealed, error) {
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	ct := k.aead.Seal(nil, nonce, plaintext, fullAAD(AlgAES256GCM, k.date, aad))
	return Sealed{Alg: AlgAES256GCM, KeyID: k.date, Nonce: nonce, Ciphertext: ct}, nil
}

// Open authenticates and decrypts a value sealed under this day key with
// the same aad. Any change to the ciphertext, nonce, key id or aad is
// ErrTampered.
func (k *DayKey) Open(s Sealed, aad []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if s.KeyID != k.date {
		return nil, fmt.Errorf("open: %w: value is for %s, key is for %s", ErrWrongDayKey, s.KeyID, k.date)
	}
	pt, err := k.aead.Open(nil, s.Nonce, s.Ciphertext, fullAAD(s.Alg, s.KeyID, aad))
	if err != nil {
		return nil, fmt.Errorf("open value sealed under day key %s: %w", k.date, ErrTampered)
	}
	return pt, nil
}

// check reports whether the value is one this package can open.
func (s Sealed) check() error {
	if s.Alg != AlgAES256GCM {
		return fmt.Errorf("%w: unsupported algorithm", ErrMalformed)
	}
	if err := checkDate(s.KeyID); err != nil {
		return fmt.Errorf("key id: %w", err)
	}
	if len(s.Nonce) != nonceSize {
		return fmt.Errorf("%w: nonce is %d bytes, want %d", ErrMalformed, len(s.Nonce), nonceSize)
	}
	if len(s.Ciphertext) < 16 {
		return fmt.Errorf("%w: ciphertext shorter than its tag", ErrMalformed)
	}
	return nil
}

// MarshalBinary encodes the value for a bytea column.
func (s Sealed) MarshalBinary() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("encode sealed value: %w", err)
	}
	b := make([]byte, 0, 2+len(s.KeyID)+len(s.Nonce)+len(s.Ciphertext))
	b = append(b, binaryVersion, byte(len(s.KeyID)))
	b = append(b, s.KeyID...)
	b = append(b, s.Nonce...)
	return append(b, s.Ciphertext...), nil
}

// UnmarshalBinary decodes a value written by MarshalBinary.
func (s *Sealed) UnmarshalBinary(b []byte) error {
	v, err := ParseBinary(b)
	if err != nil {
		return err
	}
	*s = Sealed{
		Alg:        AlgAES256GCM,
		KeyID:      string(v.keyID),
		Nonce:      append([]byte(nil), v.nonce...),
		Ciphertext: append([]byte(nil), v.ciphertext...),
	}
	return nil
}

// SealedBytes is a value in the binary encoding (MarshalBinary), checked by
// ParseBinary but not copied: it refers to the bytes given, which must not
// change while it is used. It is for opening many stored values one after
// the other without allocating (the batcher's end of day: a million orders,
// where copying each value into a Sealed was a fifth of the allocations);
// use UnmarshalBinary for a value that is kept.
type SealedBytes struct {
	keyID, nonce, ciphertext []byte
}

// ParseBinary decodes a value written by MarshalBinary without copying it.
// It accepts and rejects exactly what UnmarshalBinary does, with the same
// errors.
func ParseBinary(b []byte) (SealedBytes, error) {
	if len(b) < 2 || b[0] != binaryVersion {
		return SealedBytes{}, fmt.Errorf("decode sealed value: %w: not version %d", ErrMalformed, binaryVersion)
	}
	n := int(b[1])
	if len(b) < 2+n+nonceSize {
		return SealedBytes{}, fmt.Errorf("decode sealed value: %w: truncated", ErrMalformed)
	}
	// The same checks as Sealed.check, in the same order; the algorithm is
	// the version's and the nonce has its size by construction.
	v := SealedBytes{keyID: b[2 : 2+n], nonce: b[2+n : 2+n+nonceSize], ciphertext: b[2+n+nonceSize:]}
	if !validDate(v.keyID) {
		return SealedBytes{}, fmt.Errorf("decode sealed value: key id: %w", checkDate(string(v.keyID)))
	}
	if len(v.ciphertext) < 16 {
		return SealedBytes{}, fmt.Errorf("decode sealed value: %w: ciphertext shorter than its tag", ErrMalformed)
	}
	return v, nil
}

// HasKeyID reports whether the value was sealed under the key id (business
// date) given.
func (s SealedBytes) HasKeyID(id string) bool { return string(s.keyID) == id }

// OpenBuffer is the memory OpenBytes reuses from one call to the next: the
// associated data and the plaintext. The plaintext OpenBytes returns is in
// it, so it holds personal data: clear the plaintext once it is read, as
// after Open. The zero value is ready; it must not be used by two
// goroutines at once.
type OpenBuffer struct {
	aad, plain []byte
}

// OpenBytes is Open for a value from ParseBinary: the same checks and
// errors, but the plaintext is written into buf and is only valid until
// the next call with buf; nothing is allocated once buf has grown to the
// size of the values.
func (k *DayKey) OpenBytes(buf *OpenBuffer, s SealedBytes, aad []byte) ([]byte, error) {
	if s.nonce == nil {
		// The zero SealedBytes: ParseBinary's checks were not made.
		return nil, fmt.Errorf("open: %w: not from ParseBinary", ErrMalformed)
	}
	if string(s.keyID) != k.date {
		return nil, fmt.Errorf("open: %w: value is for %s, key is for %s", ErrWrongDayKey, s.keyID, k.date)
	}
	buf.aad = appendFullAAD(buf.aad[:0], AlgAES256GCM, k.date, aad)
	pt, err := k.aead.Open(buf.plain[:0], s.nonce, s.ciphertext, buf.aad)
	if err != nil {
		return nil, fmt.Errorf("open value sealed under day key %s: %w", k.date, ErrTampered)
	}
	buf.plain = pt[:0] // keep what it grew to
	return pt, nil
}

// sealedJSON has the same fields as Sealed without its methods, so that
// encoding/json can be used inside UnmarshalJSON.
type sealedJSON Sealed

// UnmarshalJSON decodes the stream encoding and checks it. Its errors never
// quote the input.
func (s *Sealed) UnmarshalJSON(b []byte) error {
	var v sealedJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("decode sealed value: %w: wrong JSON shape or base64", ErrMalformed)
	}
	if err := Sealed(v).check(); err != nil {
		return fmt.Errorf("decode sealed value: %w", err)
	}
	*s = Sealed(v)
	return nil
}
