package openpgp_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/testkit/gnupg"
)

// Signatures made by the real gpg, as the partner makes them, checked with
// the pinned key the partner exported with gpg.
func TestVerifyGnuPGSignatures(t *testing.T) {
	partner := gnupg.New(t, "partner@example.test")
	other := gnupg.New(t, "intruder@example.test")
	dir := t.TempDir()
	key, err := openpgp.LoadSigningKey(partner.WritePublicKey(dir))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "deletion_b1.json")
	data := []byte(`{"format_version":1,"batch_id":"b1"}` + "\n")
	if err := os.WriteFile(conf, data, 0o600); err != nil {
		t.Fatal(err)
	}
	partner.SignFile(conf)
	sig, err := os.ReadFile(conf + openpgp.SigExt)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := key.Verify(data, sig)
	if err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
	if fp != key.Fingerprint() || len(fp) != 40 {
		t.Errorf("signer %q, want the pinned key %q", fp, key.Fingerprint())
	}

	changed := bytes.Replace(data, []byte("b1"), []byte("b2"), 1)
	if _, err := key.Verify(changed, sig); !errors.Is(err, openpgp.ErrBadSignature) {
		t.Errorf("file changed after signing: err = %v, want ErrBadSignature", err)
	}

	other.SignFile(conf)
	otherSig, _ := os.ReadFile(conf + openpgp.SigExt)
	if _, err := key.Verify(data, otherSig); !errors.Is(err, openpgp.ErrOtherKey) {
		t.Errorf("signed by another key: err = %v, want ErrOtherKey", err)
	}

	if _, err := key.Verify(data, []byte("not a signature")); !errors.Is(err, openpgp.ErrNotSignature) {
		t.Errorf("garbage signature: err = %v, want ErrNotSignature", err)
	}
}

// Our own signatures (the partner simulator's) verify with GnuPG, and with
// Verify.
func TestDetachSignVerifiesWithGnuPG(t *testing.T) {
	kp, err := openpgp.NewKeyPair("Partner simulator", "", "sim@example.test")
	if err != nil {
		t.Fatal(err)
	}
	key, err := openpgp.ReadSigningKey(bytes.NewReader(kp.Public))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("{}\n")
	sig, err := openpgp.DetachSign(kp.Entity, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := key.Verify(data, sig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	h := gnupg.New(t, "auditor@example.test")
	h.Run(kp.Public, "--import")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.json"), data, 0o600)
	os.WriteFile(filepath.Join(dir, "f.json.asc"), sig, 0o600)
	if ok, out := h.VerifyFile(filepath.Join(dir, "f.json.asc"), filepath.Join(dir, "f.json")); !ok {
		t.Fatalf("gpg --verify refused our signature:\n%s", out)
	}
}

func TestReadSigningKeyRefusesPrivateKey(t *testing.T) {
	h := gnupg.New(t, "partner@example.test")
	priv := h.Run(nil, "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--export-secret-keys", h.Email)
	if _, err := openpgp.ReadSigningKey(bytes.NewReader(priv)); err == nil {
		t.Fatal("a private key was accepted as the pinned public key")
	}
}
