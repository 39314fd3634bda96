// Package gnupg drives the real GnuPG (the gpg binary) in a temporary
// GNUPGHOME, so that tests sign deletion confirmations exactly as the
// partner does (docs/partner-interface.md) and not with our own library.
package gnupg

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Home is a GnuPG home folder with one signing key.
type Home struct {
	t     testing.TB
	Dir   string // GNUPGHOME
	Email string // the key's user ID e-mail, to name it with --local-user
}

// New makes a GNUPGHOME in a temporary folder with a new ed25519 signing
// key for email, or skips the test when gpg is not installed.
func New(t testing.TB, email string) *Home {
	t.Helper()
	h := newHome(t, email)
	h.Run(nil, "--batch", "--passphrase", "", "--quick-generate-key", "Partner <"+email+">", "ed25519", "sign", "never")
	return h
}

// newHome makes an empty GNUPGHOME, removed with its agent when the test
// ends, or skips the test when gpg is not installed.
func newHome(t testing.TB, email string) *Home {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	// A short path: gpg-agent's socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	h := &Home{t: t, Dir: dir, Email: email}
	t.Cleanup(func() {
		// Stop the agent this home started, then remove the folder.
		c := exec.Command("gpgconf", "--kill", "gpg-agent")
		c.Env = append(os.Environ(), "GNUPGHOME="+dir)
		_ = c.Run()
		os.RemoveAll(dir)
	})
	return h
}

// Run runs gpg with the arguments and stdin, failing the test on error, and
// returns its standard output.
func (h *Home) Run(stdin []byte, args ...string) []byte {
	h.t.Helper()
	out, errOut, err := h.run(stdin, args...)
	if err != nil {
		h.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (h *Home) run(stdin []byte, args ...string) ([]byte, []byte, error) {
	c := exec.Command("gpg", append([]string{"--homedir", h.Dir, "--no-tty"}, args...)...)
	c.Env = append(os.Environ(), "GNUPGHOME="+h.Dir)
	var out, errOut bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = bytes.NewReader(stdin), &out, &errOut
	err := c.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// PublicKey is the key's armored public key, as the partner sends it:
// gpg --armor --export EMAIL.
func (h *Home) PublicKey() []byte {
	h.t.Helper()
	return h.Run(nil, "--armor", "--export", h.Email)
}

// WritePublicKey writes the public key into dir and returns its path.
func (h *Home) WritePublicKey(dir string) string {
	h.t.Helper()
	p := filepath.Join(dir, "partner-signing.asc")
	if err := os.WriteFile(p, h.PublicKey(), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// SignFile signs a file as the partner does, writing FILE.asc beside it:
// gpg --armor --detach-sign FILE.
func (h *Home) SignFile(path string) {
	h.t.Helper()
	h.Run(nil, "--batch", "--yes", "--local-user", h.Email, "--armor", "--detach-sign", path)
}

// VerifyFile runs gpg --verify FILE.asc FILE, as an auditor does, and
// returns whether it succeeded and what gpg said.
func (h *Home) VerifyFile(sig, path string) (bool, string) {
	h.t.Helper()
	_, errOut, err := h.run(nil, "--verify", sig, path)
	return err == nil, string(errOut)
}

// NewEncryptionKey makes a GNUPGHOME with a key the partner would send us
// to encrypt its batch files to: gpg's default algorithms (ed25519 to sign
// and certify, cv25519 to encrypt), without a passphrase. expire is gpg's
// expiry argument ("never", "1y", "2026-12-31"). The key is made at
// created (gpg's --faked-system-time) unless it is zero, so that a test
// can have a key that already expired, made by gpg itself.
func NewEncryptionKey(t testing.TB, email, expire string, created time.Time) *Home {
	t.Helper()
	h := newHome(t, email)
	args := []string{"--batch", "--passphrase", ""}
	if !created.IsZero() {
		args = append(args, "--faked-system-time", created.UTC().Format("20060102T150405"))
	}
	h.Run(nil, append(args, "--quick-generate-key", "Partner <"+email+">", "future-default", "default", expire)...)
	return h
}

// Fingerprint is the key's fingerprint, upper-case hex without spaces, as
// gpg --with-colons lists it.
func (h *Home) Fingerprint() string {
	h.t.Helper()
	for _, line := range strings.Split(string(h.Run(nil, "--with-colons", "--fingerprint", h.Email)), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			return f[9]
		}
	}
	h.t.Fatalf("gpg lists no fingerprint for %s", h.Email)
	return ""
}

// Revoke revokes the key as a partner whose key was compromised would:
// it imports the revocation certificate gpg made with the key
// (openpgp-revocs.d, armored behind a ":" so that it is not imported by
// accident). PublicKey then exports the key with its revocation.
func (h *Home) Revoke() {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Dir, "openpgp-revocs.d", h.Fingerprint()+".rev"))
	if err != nil {
		h.t.Fatal(err)
	}
	cert := strings.Replace(string(b), ":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----", 1)
	h.Run([]byte(cert), "--batch", "--import")
}

// Decrypt decrypts an OpenPGP message with the key, as the partner does
// (gpg --decrypt), failing the test if gpg refuses it.
func (h *Home) Decrypt(msg []byte) []byte {
	h.t.Helper()
	return h.Run(msg, "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--decrypt")
}
