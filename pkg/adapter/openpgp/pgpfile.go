// Package pgpfile encrypts batch files to the print partner's OpenPGP
// public key (docs/privacy.md, "Files to the partner"), streaming, so that
// the batcher can write CSV -> encrypt -> SFTP without holding the file in
// memory.
//
// The output is a binary OpenPGP message (the partner's file is named
// *.gpg): public-key encrypted session key, then AES-256 symmetrically
// encrypted and integrity protected data (SEIPD v1 with MDC, which GnuPG
// 2.2 and later read), no compression, no signature. Binary rather than
// ASCII armour because the file travels over SFTP, which is 8-bit clean,
// and armour adds a third to its size.
package openpgp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// EnvKeyFile names the armored public key file of the partner.
const EnvKeyFile = "PARTNER_PGP_KEY_FILE"

// Ext is the file name extension of an encrypted batch file.
const Ext = ".gpg"

// ErrNoEncryptionKey means no pinned key can be used to encrypt now: each
// has no encryption subkey, or is expired or revoked. The error wrapping it
// also wraps ErrKeyExpired or ErrKeyRevoked when that is why, and says
// which key and since when.
var ErrNoEncryptionKey = errors.New("partner key cannot encrypt")

// MaxKeys is how many keys PARTNER_PGP_KEY_FILE may hold: the partner's
// key, and during a rotation its next one (docs/batcher.md, "Rotating the
// partner's key"). More would be a keyring pasted by mistake, and every
// key in the file can read the batches.
const MaxKeys = 2

// bufferSize is the size of the buffers before and after the OpenPGP
// layer: big enough that small CSV writes do not each become an SFTP packet,
// small enough that memory stays flat whatever the file's size.
const bufferSize = 64 << 10

// Recipient is the partner's pinned public key, or during a rotation its
// two keys: batch files are encrypted to every one of them that can encrypt
// at the time of the send (not expired, not revoked), so that the partner
// can read them with either private key while it changes over.
type Recipient struct {
	entities []*pgp.Entity // in the file's order
	now      func() time.Time
}

// LoadRecipient reads the partner's armored public key(s) from a file. now
// is the clock used to check that a key is valid and to date the messages.
func LoadRecipient(path string, now func() time.Time) (*Recipient, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("partner OpenPGP key: %w", err)
	}
	defer f.Close()
	r, err := ReadRecipient(f, now)
	if err != nil {
		return nil, fmt.Errorf("partner OpenPGP key %s: %w", path, err)
	}
	return r, nil
}

// LoadPinned reads the key file as LoadRecipient does, but also when no
// key in it can encrypt now: for showing the keys' state (the auditors'
// page), never for encrypting.
func LoadPinned(path string, now func() time.Time) (*Recipient, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("partner OpenPGP key: %w", err)
	}
	defer f.Close()
	r, err := readKeys(f, now)
	if err != nil {
		return nil, fmt.Errorf("partner OpenPGP key %s: %w", path, err)
	}
	return r, nil
}

// ReadRecipient reads armored public keys ("-----BEGIN PGP PUBLIC KEY
// BLOCK-----"): one key, or two during a rotation (one armored block
// holding both, as `gpg --armor --export OLD NEW` writes it, or two
// blocks one after the other). At least one must be usable for encryption
// now; a key that is not (the old one expiring during a rotation) is kept,
// so that its state shows in the metrics, and not encrypted to.
func ReadRecipient(r io.Reader, now func() time.Time) (*Recipient, error) {
	rec, err := readKeys(r, now)
	if err != nil {
		return nil, err
	}
	if err := rec.Check(); err != nil {
		return nil, err
	}
	return rec, nil
}

// readKeys parses the file: one or two public keys, none private, none
// twice.
func readKeys(r io.Reader, now func() time.Time) (*Recipient, error) {
	// Every armored block is read, not only the first, so that no key in
	// the file is silently left out. armor.Decode reuses a *bufio.Reader
	// it is given, so the bytes after one block are still there for the
	// next.
	br := bufio.NewReader(r)
	var list pgp.EntityList
	for {
		block, err := armor.Decode(br)
		if errors.Is(err, io.EOF) && len(list) > 0 {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read armored public key: %w", err)
		}
		if block.Type != pgp.PublicKeyType && block.Type != pgp.PrivateKeyType {
			return nil, fmt.Errorf("read armored public key: found a %q block", block.Type)
		}
		l, err := pgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("read armored public key: %w", err)
		}
		if _, err := io.Copy(io.Discard, block.Body); err != nil { // up to the END line
			return nil, fmt.Errorf("read armored public key: %w", err)
		}
		list = append(list, l...)
	}
	if len(list) > MaxKeys {
		return nil, fmt.Errorf("want one key (two during a rotation), found %d", len(list))
	}
	seen := map[string]bool{}
	for _, e := range list {
		if e.PrivateKey != nil {
			// Someone was sent the partner's secret key: refuse to use it,
			// the key pair should be treated as compromised.
			return nil, errors.New("the file holds a private key; give only the partner's public key")
		}
		fp := fingerprint(e.PrimaryKey)
		if seen[fp] {
			return nil, fmt.Errorf("key %s is in the file twice", fp)
		}
		seen[fp] = true
	}
	return &Recipient{entities: list, now: now}, nil
}

// Check reports whether at least one pinned key can still encrypt. The
// batcher calls it at start-up and each send encrypts only after it (in
// Encrypt), so that an expired or revoked key stops the send with an error
// that says so, instead of producing a file nobody may read.
func (r *Recipient) Check() error {
	_, err := r.usable(r.now())
	return err
}

// usable returns the keys that can encrypt at now, in the file's order, or
// an error naming each key and why it cannot.
func (r *Recipient) usable(now time.Time) ([]*pgp.Entity, error) {
	var ok []*pgp.Entity
	var why []error
	for _, e := range r.entities {
		st := status(e, now)
		if st.Usable {
			ok = append(ok, e)
			continue
		}
		why = append(why, st.err())
	}
	if len(ok) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoEncryptionKey, errors.Join(why...))
	}
	return ok, nil
}

// Fingerprint returns the fingerprint of the first pinned key that can
// encrypt now (the file's order), in upper-case hex as gpg prints it, for
// the manifest's recipient_fingerprint and the logs; "" if none can.
func (r *Recipient) Fingerprint() string {
	if fps := r.Fingerprints(); len(fps) > 0 {
		return fps[0]
	}
	return ""
}

// Fingerprints returns the fingerprints of every pinned key that can
// encrypt now, in the file's order: the keys a file encrypted now is
// readable with (the manifest's recipient_fingerprints).
func (r *Recipient) Fingerprints() []string {
	ok, _ := r.usable(r.now())
	fps := make([]string, 0, len(ok))
	for _, e := range ok {
		fps = append(fps, fingerprint(e.PrimaryKey))
	}
	return fps
}

// Keys describes every pinned key as of now, usable or not, in the file's
// order: for the metrics, the start-up log and the auditors' page.
func (r *Recipient) Keys() []KeyStatus {
	now := r.now()
	out := make([]KeyStatus, 0, len(r.entities))
	for _, e := range r.entities {
		out = append(out, status(e, now))
	}
	return out
}

// Encrypt returns a writer that encrypts everything written to it into
// dst. name is recorded in the message as the file name the partner's gpg
// suggests (for example "batch-20260507.csv"). Close finishes the message
// and flushes it into dst, but does not close dst: the caller closes the
// remote file after Close returned nil. Memory use does not depend on the
// amount written.
func (r *Recipient) Encrypt(dst io.Writer, name string) (io.WriteCloser, error) {
	// Validity is judged now, at the send, not when the key was loaded:
	// a key that expired or was revoked since stops the send here.
	to, err := r.usable(r.now())
	if err != nil {
		return nil, err
	}
	out := bufio.NewWriterSize(dst, bufferSize)
	cfg := &packet.Config{
		DefaultCipher:          packet.CipherAES256,
		DefaultHash:            0, // go-crypto's default (SHA-256)
		DefaultCompressionAlgo: packet.CompressionNone,
		Time:                   r.now,
	}
	pt, err := pgp.Encrypt(out, to, nil,
		&pgp.FileHints{IsBinary: true, FileName: name, ModTime: r.now()}, cfg)
	if err != nil {
		return nil, fmt.Errorf("start OpenPGP message: %w", err)
	}
	return &writer{in: bufio.NewWriterSize(pt, bufferSize), pt: pt, out: out}, nil
}

// writer is the plaintext end: buffer -> OpenPGP -> buffer -> dst.
type writer struct {
	in     *bufio.Writer
	pt     io.WriteCloser
	out    *bufio.Writer
	closed bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("write to closed OpenPGP writer")
	}
	return w.in.Write(p)
}

// Close flushes the plaintext buffer, finishes the OpenPGP packets (the
// integrity check is written last) and flushes the ciphertext buffer.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.in.Flush(); err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	if err := w.pt.Close(); err != nil {
		return fmt.Errorf("finish OpenPGP message: %w", err)
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("write OpenPGP message: %w", err)
	}
	return nil
}
