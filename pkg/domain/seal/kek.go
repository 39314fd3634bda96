package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// KeySize is the length in bytes of every key: key-encryption keys and day
// keys are AES-256 keys.
const KeySize = 32

// Environment variables read by RingFromEnv.
const (
	EnvKEK     = "KEK"
	EnvKEKFile = "KEK_FILE"
)

var kekIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// kek is one key-encryption key with its AEAD built once.
type kek struct {
	id   string
	aead cipher.AEAD
}

// Ring is the set of configured key-encryption keys. The first is the
// current one: it wraps every new day key. The others only unwrap, so that
// day keys wrapped before a rotation stay readable until they are destroyed
// or rewrapped. A Ring is immutable and safe for concurrent use.
type Ring struct {
	keys []kek
}

// ParseRing reads a ring written as "id:base64key" entries separated by
// commas or new lines, current key first, for example
// "2026b:q83v...=,2026a:7Hk1...=". Blank lines and lines starting with # are
// ignored. Keys are 32 bytes, in standard or URL base64 with or without
// padding (`openssl rand -base64 32` makes one). Errors name the entry and
// its id, never the key.
func ParseRing(s string) (*Ring, error) {
	var r Ring
	seen := map[string]bool{}
	n := 0
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, entry := range strings.Split(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			n++
			id, b64, ok := strings.Cut(entry, ":")
			id = strings.TrimSpace(id)
			if !ok {
				return nil, fmt.Errorf("key-encryption key entry %d: want id:base64key", n)
			}
			if !kekIDPattern.MatchString(id) {
				return nil, fmt.Errorf("key-encryption key entry %d: id must be 1-64 letters, digits, '.', '_' or '-'", n)
			}
			if seen[id] {
				return nil, fmt.Errorf("key-encryption key entry %d: id %s appears twice", n, id)
			}
			seen[id] = true
			key, err := decodeKey(strings.TrimSpace(b64))
			if err != nil {
				return nil, fmt.Errorf("key-encryption key entry %d (id %s): %w", n, id, err)
			}
			aead, err := newGCM(key)
			if err != nil {
				return nil, fmt.Errorf("key-encryption key entry %d (id %s): %w", n, id, err)
			}
			clear(key)
			r.keys = append(r.keys, kek{id: id, aead: aead})
		}
	}
	if len(r.keys) == 0 {
		return nil, ErrNoKEK
	}
	return &r, nil
}

// decodeKey decodes a base64 key and checks its length. The error says
// what is wrong with the key without quoting it.
func decodeKey(b64 string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(b64)
		if err != nil {
			continue
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("key is %d bytes after base64 decoding, want %d", len(key), KeySize)
		}
		return key, nil
	}
	return nil, fmt.Errorf("key is not base64")
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("AES-GCM: %w", err)
	}
	return aead, nil
}

// LoadRing reads a ring from a file in ParseRing's format. The file should
// be readable by the service's user only (mode 0400 or 0600).
func LoadRing(path string) (*Ring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key-encryption key file: %w", err)
	}
	defer clear(b)
	r, err := ParseRing(string(b))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	return r, nil
}

// RingFromEnv loads the ring from the file named by KEK_FILE, or else from
// the KEK variable itself. Setting both is refused, because it is unclear
// which the operator meant; setting neither is ErrNoKEK.
func RingFromEnv(getenv func(string) string) (*Ring, error) {
	file, inline := getenv(EnvKEKFile), getenv(EnvKEK)
	switch {
	case file != "" && inline != "":
		return nil, fmt.Errorf("both %s and %s are set: set one", EnvKEKFile, EnvKEK)
	case file != "":
		return LoadRing(file)
	case inline != "":
		r, err := ParseRing(inline)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKEK, err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: set %s or %s", ErrNoKEK, EnvKEKFile, EnvKEK)
}

// Current returns the id of the key that wraps new day keys.
func (r *Ring) Current() string { return r.keys[0].id }

// IDs returns the ids of the ring's keys, current first.
func (r *Ring) IDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// Has reports whether the ring holds the key with this id.
func (r *Ring) Has(id string) bool {
	_, ok := r.find(id)
	return ok
}

func (r *Ring) find(id string) (kek, bool) {
	for _, k := range r.keys {
		if k.id == id {
			return k, true
		}
	}
	return kek{}, false
}
