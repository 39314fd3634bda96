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
	return appendField(appendField([]byte("booklets order v1"), orderID), reference)
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
	b := appendField(appendField([]byte("booklets seal v1"), alg), keyID)
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
	if len(b) < 2 || b[0] != binaryVersion {
		return fmt.Errorf("decode sealed value: %w: not version %d", ErrMalformed, binaryVersion)
	}
	n := int(b[1])
	if len(b) < 2+n+nonceSize {
		return fmt.Errorf("decode sealed value: %w: truncated", ErrMalformed)
	}
	v := Sealed{
		Alg:        AlgAES256GCM,
		KeyID:      string(b[2 : 2+n]),
		Nonce:      append([]byte(nil), b[2+n:2+n+nonceSize]...),
		Ciphertext: append([]byte(nil), b[2+n+nonceSize:]...),
	}
	if err := v.check(); err != nil {
		return fmt.Errorf("decode sealed value: %w", err)
	}
	*s = v
	return nil
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
