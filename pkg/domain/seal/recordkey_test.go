package seal_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"booklets/pkg/domain/seal"
)

func TestRecordKeyRoundTripAndBinding(t *testing.T) {
	t.Parallel()
	ring := mustRing(t, "k1:"+newKey())
	const id = "3f0c2a9e-6a43-4d8e-9d43-3f1c6b2a9e01"
	k, err := seal.NewRecordKey("volunteer", id)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(`{"name":"Philippa Quenneville-Ashgrove"}`)
	aad := []byte("contact v1")
	v := k.Seal(secret, aad)
	if bytes.Contains(v, []byte("Quenneville")) || len(v) != len(secret)+29 {
		t.Fatalf("sealed value of %d bytes for %d", len(v), len(secret))
	}

	// Wrapped and unwrapped, as stored and read back.
	w := ring.WrapRecordKey(k)
	if w.KEKID != "k1" {
		t.Fatalf("wrapped under %q", w.KEKID)
	}
	back, err := ring.UnwrapRecordKey("volunteer", id, w)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := back.Open(v, aad)
	if err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("open: %q, %v", pt, err)
	}

	// The wrapped key moved to another record or kind, or relabelled as a
	// day key, does not unwrap; the value does not open with another aad,
	// another record's key, or changed.
	if _, err := ring.UnwrapRecordKey("volunteer", "another-id", w); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("wrapped key moved to another record: %v", err)
	}
	if _, err := ring.UnwrapRecordKey("order", id, w); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("wrapped key moved to another kind: %v", err)
	}
	if _, err := ring.Unwrap("2026-05-07", w); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("record key unwrapped as a day key: %v", err)
	}
	dk := mustDayKey(t, "2026-05-07")
	dw, err := ring.Wrap(dk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.UnwrapRecordKey("volunteer", "2026-05-07", dw); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("day key unwrapped as a record key: %v", err)
	}
	if _, err := back.Open(v, []byte("contact v2")); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("other aad: %v", err)
	}
	other, _ := seal.NewRecordKey("volunteer", id)
	if _, err := other.Open(v, aad); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("another key for the same record: %v", err)
	}
	bad := append([]byte(nil), v...)
	bad[len(bad)-1] ^= 1
	if _, err := back.Open(bad, aad); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("changed value: %v", err)
	}
	for _, m := range [][]byte{nil, {1}, append([]byte{2}, v[1:]...)} {
		if _, err := back.Open(m, aad); !errors.Is(err, seal.ErrMalformed) {
			t.Errorf("malformed value %x: %v", m, err)
		}
	}
}

func TestRecordKeyRotationAndUnknownKEK(t *testing.T) {
	t.Parallel()
	oldEntry, newEntry := "old:"+newKey(), "new:"+newKey()
	old := mustRing(t, oldEntry)
	k, err := seal.NewRecordKey("volunteer", "v1")
	if err != nil {
		t.Fatal(err)
	}
	v := k.Seal([]byte("x"), nil)
	w := old.WrapRecordKey(k)

	rotated := mustRing(t, newEntry+","+oldEntry)
	nw, err := rotated.RewrapRecordKey("volunteer", "v1", w)
	if err != nil || nw.KEKID != "new" {
		t.Fatalf("rewrap: %v %v", nw.KEKID, err)
	}
	newOnly := mustRing(t, newEntry)
	back, err := newOnly.UnwrapRecordKey("volunteer", "v1", nw)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := back.Open(v, nil); err != nil || string(pt) != "x" {
		t.Fatalf("open after rotation: %q %v", pt, err)
	}
	if _, err := newOnly.UnwrapRecordKey("volunteer", "v1", w); !errors.Is(err, seal.ErrUnknownKEK) || !strings.Contains(err.Error(), "old") {
		t.Errorf("old KEK removed: %v", err)
	}
	if _, err := seal.NewRecordKey("volunteer", "a\x00b"); !errors.Is(err, seal.ErrMalformed) || strings.Contains(err.Error(), "a\x00b") {
		t.Errorf("bad record id: %v", err)
	}
}
