package public

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"booklets/pkg/domain/order"
)

// The form keeps a person's answers between pages in one cookie
// (answersCookie), sealed with AES-256-GCM: nothing is stored on the server,
// nothing goes in a URL, and the browser can neither read nor change the
// answers it carries (a changed value fails to open). The cookie is what
// lets every POST be answered with a redirect to a GET page (journey.go):
// the GET page must find the answers somewhere, and a URL is no place for
// them. The seal carries an expiry so that a page left open on a shared
// computer stops working; the pages show it and let it be extended
// (timeout.go).

var (
	// errStateInvalid means a form's hidden state was missing, altered, or
	// sealed with another secret.
	errStateInvalid = errors.New("form state invalid")
	// errStateExpired means the state was genuine but too old.
	errStateExpired = errors.New("form state expired")
)

// stateAAD binds a seal to its purpose and version, so that a value sealed
// for something else with the same key is never accepted as form state.
const stateAAD = "booklets/form-state/v1"

// formState is what the form carries between pages.
type formState struct {
	Draft order.Draft `json:"d"`
	// Key is the idempotency key of the submission, set when "Check your
	// answers" is shown, so that a double-click or a refresh of the submit
	// sends the same key and JetStream stores one order.
	Key string `json:"k,omitempty"`
	// KeyFor is the fingerprint of the answers Key was made for: answers
	// that differ (another person's, or changed ones posted with an old
	// state) get a new key, so a key never names two sets of answers.
	KeyFor string `json:"kf,omitempty"`
	// Show names the question page whose errors are to be shown: the page
	// last sent with answers that are not valid. Post/redirect/get: the
	// POST stores the answers as given and the GET page shows the errors.
	Show string `json:"s,omitempty"`
	// Sent is the reference of the order the answers became. The answers
	// themselves are dropped when the order is sent: only the confirmation
	// page needs anything after that.
	Sent string `json:"r,omitempty"`
	// Lost tells the next page to say that earlier answers were deleted
	// because their time ran out, and that those of the page just sent
	// were kept (the no-JavaScript side of the timeout warning).
	Lost    bool  `json:"l,omitempty"`
	Expires int64 `json:"e"` // Unix seconds
}

// sealer seals and opens form state.
type sealer struct {
	aead cipher.AEAD
	ttl  time.Duration
	now  func() time.Time
}

func newSealer(secret []byte, ttl time.Duration, now func() time.Time) (*sealer, error) {
	key := deriveKey(secret, "booklets/form-state-key/v1")
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("form state cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("form state cipher: %w", err)
	}
	return &sealer{aead: aead, ttl: ttl, now: now}, nil
}

// deriveKey gives each use of the secret its own 32-byte key, so that the
// sealing key is never the key of the reference or message-id HMACs.
func deriveKey(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// seal encrypts the state with a fresh expiry.
func (s *sealer) seal(st formState) (string, error) {
	st.Expires = s.now().Add(s.ttl).Unix()
	// Without HTML escaping: a "<" would take six bytes instead of one, and
	// the cookie has 4 KiB (capAnswers keeps the answers well within).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(st); err != nil {
		return "", fmt.Errorf("seal form state: %w", err)
	}
	plain := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal form state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(stateAAD))), nil
}

// open decrypts and checks a sealed state. The errors say what was wrong,
// never what was inside.
func (s *sealer) open(sealed string) (formState, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return formState{}, errStateInvalid
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(stateAAD))
	if err != nil {
		return formState{}, errStateInvalid
	}
	var st formState
	if err := json.Unmarshal(plain, &st); err != nil {
		return formState{}, errStateInvalid
	}
	if !s.now().Before(time.Unix(st.Expires, 0)) {
		return formState{}, errStateExpired
	}
	return st, nil
}

// newKey returns a random idempotency key for a form submission.
func newKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return "form-" + hex.EncodeToString(b[:])
}
