package testenv

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"booklets/pkg/domain/seal"
)

// KEKEntry is one entry of a key-encryption key ring as KEK_KEYS lists it
// ("id:base64"), with a fresh random key under id.
func KEKEntry(id string) string {
	k := make([]byte, seal.KeySize)
	rand.Read(k)
	return id + ":" + base64.StdEncoding.EncodeToString(k)
}

// Ring parses a KEK_KEYS value (entries separated by commas, the first
// the one that wraps new keys); a malformed one fails the test.
func Ring(t testing.TB, spec string) *seal.Ring {
	t.Helper()
	r, err := seal.ParseRing(spec)
	Must(t, err)
	return r
}
