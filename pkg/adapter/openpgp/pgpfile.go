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
	"strings"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// EnvKeyFile names the armored public key file of the partner.
const EnvKeyFile = "PARTNER_PGP_KEY_FILE"

// Ext is the file name extension of an encrypted batch file.
const Ext = ".gpg"

// ErrNoEncryptionKey means the key cannot be used to encrypt now: it has no
// encryption subkey, or it is expired or revoked.
var ErrNoEncryptionKey = errors.New("partner key cannot encrypt")

// bufferSize is the size of the buffers before and after the OpenPGP
// layer: big enough that small CSV writes do not each become an SFTP packet,
// small enough that memory stays flat whatever the file's size.
const bufferSize = 64 << 10

// Recipient is the partner's public key.
type Recipient struct {
	entity *pgp.Entity
	now    func() time.Time
}

// LoadRecipient reads the partner's armored public key from a file. now is
// the clock used to check that the key is valid and to date the messages.
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

// ReadRecipient reads an armored public key ("-----BEGIN PGP PUBLIC KEY
// BLOCK-----"). It must hold exactly one key, a public one, usable for
// encryption now.
func ReadRecipient(r io.Reader, now func() time.Time) (*Recipient, error) {
	// Every armored block is read, not only the first, so that a file with
	// two keys is refused instead of silently using one of them.
	// armor.Decode reuses a *bufio.Reader it is given, so the bytes after
	// one block are still there for the next.
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
	if len(list) != 1 {
		return nil, fmt.Errorf("want exactly one key, found %d", len(list))
	}
	e := list[0]
	if e.PrivateKey != nil {
		// Someone was sent the partner's secret key: refuse to use it, the
		// key pair should be treated as compromised.
		return nil, errors.New("the file holds a private key; give only the partner's public key")
	}
	rec := &Recipient{entity: e, now: now}
	if err := rec.Check(); err != nil {
		return nil, err
	}
	return rec, nil
}

// Check reports whether the key can still encrypt (not expired or
// revoked). The batcher calls it before each batch so that an expired key
// stops the send instead of producing a file nobody may read.
func (r *Recipient) Check() error {
	if _, ok := r.entity.EncryptionKey(r.now()); !ok {
		return fmt.Errorf("%w (key %s)", ErrNoEncryptionKey, r.Fingerprint())
	}
	return nil
}

// Fingerprint returns the key's fingerprint in upper-case hex, as gpg
// prints it, for the manifest and the logs.
func (r *Recipient) Fingerprint() string {
	return strings.ToUpper(fmt.Sprintf("%x", r.entity.PrimaryKey.Fingerprint))
}

// Encrypt returns a writer that encrypts everything written to it into
// dst. name is recorded in the message as the file name the partner's gpg
// suggests (for example "batch-20260507.csv"). Close finishes the message
// and flushes it into dst, but does not close dst: the caller closes the
// remote file after Close returned nil. Memory use does not depend on the
// amount written.
func (r *Recipient) Encrypt(dst io.Writer, name string) (io.WriteCloser, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	out := bufio.NewWriterSize(dst, bufferSize)
	cfg := &packet.Config{
		DefaultCipher:          packet.CipherAES256,
		DefaultHash:            0, // go-crypto's default (SHA-256)
		DefaultCompressionAlgo: packet.CompressionNone,
		Time:                   r.now,
	}
	pt, err := pgp.Encrypt(out, []*pgp.Entity{r.entity}, nil,
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
