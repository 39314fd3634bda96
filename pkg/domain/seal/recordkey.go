package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// RecordKey is the data key of one stored record rather than of a business
// day: one user-research volunteer's contact details (pkg/adapter/postgres),
// say. It is the same envelope as a day key (32 random bytes, AES-256-GCM,
// stored only wrapped by the KEK ring, rewrapped at a KEK rotation) for
// data whose deletion is decided one record at a time, not at the end of a
// day: destroying the record's wrapped key with the record crypto-shreds
// every copy of what it sealed (WAL, dead tuples, backups) once the KEK
// that wrapped it is retired, as for orders.
//
// A record key is named by a kind ("volunteer") and the record's id. Both
// are bound into the wrapped key and into every value it seals, so a
// wrapped key or a sealed value copied onto another record, or another
// kind of record, fails with ErrTampered. It is safe for concurrent use.
type RecordKey struct {
	kind, id string
	raw      []byte
	aead     cipher.AEAD
}

// recordNamePattern is what a kind or a record id may be: the KEK id's
// alphabet (a UUID fits), so that neither can hold a separator or
// anything a caller should not put in an error.
var recordNamePattern = kekIDPattern

func checkRecordName(kind, id string) error {
	if !recordNamePattern.MatchString(kind) || !recordNamePattern.MatchString(id) {
		// Neither is echoed: a caller may have passed something else.
		return fmt.Errorf("%w: record key kind and id must be 1-64 letters, digits, '.', '_' or '-'", ErrMalformed)
	}
	return nil
}

// NewRecordKey makes a fresh random key for one record.
func NewRecordKey(kind, id string) (*RecordKey, error) {
	if err := checkRecordName(kind, id); err != nil {
		return nil, fmt.Errorf("new record key: %w", err)
	}
	raw := make([]byte, KeySize)
	rand.Read(raw) // crypto/rand.Read never fails (it crashes the program instead)
	return recordKeyFrom(kind, id, raw)
}

func recordKeyFrom(kind, id string, raw []byte) (*RecordKey, error) {
	aead, err := newGCM(raw)
	if err != nil {
		return nil, fmt.Errorf("record key %s %s: %w", kind, id, err)
	}
	return &RecordKey{kind: kind, id: id, raw: raw, aead: aead}, nil
}

// ID returns the id of the record the key belongs to.
func (k *RecordKey) ID() string { return k.id }

// recordWrapAAD binds a wrapped record key to its kind, record and KEK id.
// Its label differs from wrapAAD's, so a wrapped day key can never be
// unwrapped as a record key or the other way round.
func recordWrapAAD(kind, id, kekID string) []byte {
	return fmt.Appendf(nil, "booklets record key v%d\x00%s\x00%s\x00%s", wrapVersion, kind, id, kekID)
}

// WrapRecordKey encrypts a record key under the ring's current KEK, in the
// format of Wrap (version byte, nonce, ciphertext and tag).
func (r *Ring) WrapRecordKey(k *RecordKey) Wrapped {
	cur := r.keys[0]
	out := make([]byte, 1+cur.aead.NonceSize(), 1+cur.aead.NonceSize()+KeySize+cur.aead.Overhead())
	out[0] = wrapVersion
	rand.Read(out[1:])
	out = cur.aead.Seal(out, out[1:], k.raw, recordWrapAAD(k.kind, k.id, cur.id))
	return Wrapped{KEKID: cur.id, Data: out}
}

// UnwrapRecordKey decrypts the wrapped key of one record. A KEK id not in
// the ring is ErrUnknownKEK; a wrapped key that does not authenticate
// (changed, moved to another record, wrong KEK under that id) is
// ErrTampered.
func (r *Ring) UnwrapRecordKey(kind, id string, w Wrapped) (*RecordKey, error) {
	if err := checkRecordName(kind, id); err != nil {
		return nil, fmt.Errorf("unwrap record key: %w", err)
	}
	k, ok := r.find(w.KEKID)
	if !ok {
		return nil, fmt.Errorf("unwrap %s key %s: %w %s", kind, id, ErrUnknownKEK, w.KEKID)
	}
	ns := k.aead.NonceSize()
	if len(w.Data) != 1+ns+KeySize+k.aead.Overhead() || w.Data[0] != wrapVersion {
		return nil, fmt.Errorf("unwrap %s key %s: %w: not a version %d wrapped key", kind, id, ErrMalformed, wrapVersion)
	}
	raw, err := k.aead.Open(nil, w.Data[1:1+ns], w.Data[1+ns:], recordWrapAAD(kind, id, k.id))
	if err != nil {
		return nil, fmt.Errorf("unwrap %s key %s with key-encryption key %s: %w", kind, id, k.id, ErrTampered)
	}
	return recordKeyFrom(kind, id, raw)
}

// RewrapRecordKey is Rewrap for a record key: unwrapped with whichever KEK
// wrapped it, wrapped again under the current KEK.
func (r *Ring) RewrapRecordKey(kind, id string, w Wrapped) (Wrapped, error) {
	k, err := r.UnwrapRecordKey(kind, id, w)
	if err != nil {
		return Wrapped{}, fmt.Errorf("rewrap: %w", err)
	}
	return r.WrapRecordKey(k), nil
}

// recordVersion is the first byte of a value sealed by a record key:
// AES-256-GCM with a 12-byte nonce. There is no key id in the value: the
// record it belongs to names its key.
const recordVersion = 1

// recordSealAAD adds the kind and record id to the caller's associated
// data, under a label of its own.
func recordSealAAD(kind, id string, aad []byte) []byte {
	b := append([]byte(nil), "booklets record seal v1"...)
	b = appendField(appendField(b, kind), id)
	return append(b, aad...)
}

// Seal encrypts plaintext under the record key with a fresh random nonce,
// authenticating aad together with the kind and the record id. The result
// is one version byte (1), the 12-byte nonce, then the ciphertext with its
// 16-byte tag: 29 bytes more than the plaintext, for a bytea column.
func (k *RecordKey) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+k.aead.Overhead())
	out[0] = recordVersion
	rand.Read(out[1:])
	return k.aead.Seal(out, out[1:], plaintext, recordSealAAD(k.kind, k.id, aad))
}

// Open authenticates and decrypts a value sealed under this record key
// with the same aad. Any change to it, or a value of another record, is
// ErrTampered; a value not in Seal's format is ErrMalformed.
func (k *RecordKey) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+k.aead.Overhead() || sealed[0] != recordVersion {
		return nil, fmt.Errorf("open %s %s: %w: not a version %d sealed record value", k.kind, k.id, ErrMalformed, recordVersion)
	}
	pt, err := k.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], recordSealAAD(k.kind, k.id, aad))
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", k.kind, k.id, ErrTampered)
	}
	return pt, nil
}
