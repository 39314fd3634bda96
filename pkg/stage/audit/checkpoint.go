package audit

// Signed checkpoints (issue 15). A checkpoint says "the log named Origin had
// Size entries whose tree has root Root, at Time", in the text form of
// C2SP's tlog-checkpoint (the form of the Go checksum database and of
// Certificate Transparency's successors), with the time as an extension
// line:
//
//	booklets-audit
//	42
//	qjiHl1K2yvXCPZ9y3MIYEgMRsVQjZxN5ZyBgNfjDz8w=
//	time 2026-12-04T07:00:03Z
//
// signed as a note (golang.org/x/mod/sumdb/note, Ed25519) by the key whose
// name is the origin, so a checkpoint cannot be passed off as another log's.
// The signed file is what is published and what auditors keep.

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a tree head: the log's origin, size, root hash and the time
// it was signed.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Time   time.Time
}

// checkpointTimeFormat is the time extension line's format: UTC, seconds.
const checkpointTimeFormat = "2006-01-02T15:04:05Z"

// Body is the checkpoint's text, the part that is signed.
func (c Checkpoint) Body() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, c.Root)
	if !c.Time.IsZero() {
		fmt.Fprintf(&b, "time %s\n", c.Time.UTC().Format(checkpointTimeFormat))
	}
	return b.Bytes()
}

func (c Checkpoint) String() string {
	return fmt.Sprintf("checkpoint of %s: %d entries, root %s, signed %s", c.Origin, c.Size, c.Root, c.Time.UTC().Format(checkpointTimeFormat))
}

// ErrMalformedCheckpoint marks text that is not a checkpoint.
var ErrMalformedCheckpoint = errors.New("malformed checkpoint")

// ParseCheckpoint reads a checkpoint's text (the note's text, without the
// signatures). Unknown extension lines are ignored, as the format asks.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasSuffix(text, "\n") || len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("%w: fewer than 3 lines", ErrMalformedCheckpoint)
	}
	c := Checkpoint{Origin: lines[0]}
	if c.Origin == "" {
		return Checkpoint{}, fmt.Errorf("%w: empty origin", ErrMalformedCheckpoint)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: tree size %q", ErrMalformedCheckpoint, lines[1])
	}
	c.Size = n
	if c.Root, err = tlog.ParseHash(lines[2]); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: root hash %q", ErrMalformedCheckpoint, lines[2])
	}
	for _, l := range lines[3:] {
		if v, ok := strings.CutPrefix(l, "time "); ok {
			if c.Time, err = time.Parse(checkpointTimeFormat, v); err != nil {
				return Checkpoint{}, fmt.Errorf("%w: time %q", ErrMalformedCheckpoint, v)
			}
		}
	}
	return c, nil
}

// Signer signs checkpoints with the reconciler's key.
type Signer struct {
	signer note.Signer
	// PublicKey is the verifier key auditors are given
	// ("name+hash+base64", the form auditverify --key reads).
	PublicKey string
}

// GenerateKey makes a new Ed25519 signing key named name (the log's
// origin): the private key text to keep in AUDIT_SIGNING_KEY_FILE and the
// public key for auditors.
func GenerateKey(rand io.Reader, name string) (private, public string, err error) {
	if err := checkKeyName(name); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand, name)
}

func checkKeyName(name string) error {
	if name == "" || strings.ContainsAny(name, "+ \t\n\r") {
		return fmt.Errorf("key name %q: must be non-empty, without spaces or '+'", name)
	}
	return nil
}

// NewSigner reads a private key (note's "PRIVATE+KEY+name+hash+base64").
// The text is never repeated in an error.
func NewSigner(private string) (*Signer, error) {
	private = strings.TrimSpace(private)
	s, err := note.NewSigner(private)
	if err != nil {
		return nil, fmt.Errorf("not a signing key made by `reconciler audit keygen` (%v)", err)
	}
	// note derives the public key inside NewSigner but does not give it
	// out; derive it the same way from the seed so that `public-key` prints
	// exactly the key the signatures verify with.
	parts := strings.SplitN(private, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("not an Ed25519 signing key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil || v.KeyHash() != s.KeyHash() {
		return nil, errors.New("signing key: its public key does not match its hash")
	}
	return &Signer{signer: s, PublicKey: vkey}, nil
}

// Origin is the log's name: the key's name.
func (s *Signer) Origin() string { return s.signer.Name() }

// Sign returns the signed checkpoint note for a tree of size entries with
// the given root at time at.
func (s *Signer) Sign(size int64, root tlog.Hash, at time.Time) (Checkpoint, []byte, error) {
	c := Checkpoint{Origin: s.Origin(), Size: size, Root: root, Time: at.UTC().Truncate(time.Second)}
	msg, err := note.Sign(&note.Note{Text: string(c.Body())}, s.signer)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return c, msg, nil
}

// The ways a signed checkpoint is refused.
var (
	// ErrWrongKey: signed, but not by the key given (another key, or
	// another log's).
	ErrWrongKey = errors.New("wrong key")
	// ErrBadSignature: the signature claims the key given but does not
	// verify: the checkpoint was altered after signing, or forged.
	ErrBadSignature = errors.New("bad signature")
)

// OpenCheckpoint checks a signed checkpoint against the public key and
// returns it. Its errors wrap ErrWrongKey, ErrBadSignature or
// ErrMalformedCheckpoint.
func OpenCheckpoint(msg []byte, publicKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(publicKey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("public key %q: %v", strings.TrimSpace(publicKey), err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		var by []string
		for _, s := range unverified.Note.UnverifiedSigs {
			by = append(by, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return Checkpoint{}, fmt.Errorf("%w: the checkpoint is signed by %s, not by the key %s+%08x", ErrWrongKey, strings.Join(by, ", "), v.Name(), v.KeyHash())
	case errors.As(err, &invalid):
		return Checkpoint{}, fmt.Errorf("%w: the signature by %s+%08x does not verify: the checkpoint was changed after it was signed", ErrBadSignature, invalid.Name, invalid.Hash)
	case err != nil:
		return Checkpoint{}, fmt.Errorf("%w: not a signed note (%v)", ErrMalformedCheckpoint, err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		// A key signs one log: a checkpoint of another origin signed by
		// it is not this log's.
		return Checkpoint{}, fmt.Errorf("%w: the checkpoint is of the log %q, the key is %q's", ErrWrongKey, c.Origin, v.Name())
	}
	return c, nil
}
