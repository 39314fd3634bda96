package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"

	"booklets/pkg/stage/audit"
)

// secrets are what the launcher generates for a local run. Production gets
// them from a secret store (see deploy/README.md).
type secrets struct {
	auditToken   string // AUDIT_TOKEN: new each run unless given, printed for the person running it
	auditUser    string // AUDIT_USER: for a browser, which cannot send a bearer token
	auditPass    string // the password, printed; the reconciler gets only its bcrypt hash
	auditHash    string // AUDIT_PASSWORD_HASH
	intakeSecret string // INTAKE_SECRET: kept in runDir so that references stay stable across runs
	kekFile      string // KEK_FILE: kept in runDir, or sealed personal data from the last run is unreadable
	partnerPGP   string // PARTNER_PGP_KEY_FILE: the simulated partner's public key, kept in runDir/partner
	auditKey     string // AUDIT_SIGNING_KEY_FILE: kept, or checkpoints signed before no longer verify with the new key
	auditPub     string // the audit key's public key file, for auditverify --key
}

func makeSecrets(cfg config) (secrets, error) {
	dir := filepath.Join(cfg.runDir, "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return secrets{}, fmt.Errorf("secrets folder: %w", err)
	}
	s := secrets{auditToken: cfg.auditToken, kekFile: filepath.Join(dir, "kek")}
	if s.auditToken == "" {
		s.auditToken = randomHex(16)
	}
	s.auditUser, s.auditPass = "auditor", randomHex(8)
	hash, err := bcrypt.GenerateFromPassword([]byte(s.auditPass), bcrypt.MinCost) // a local run's throwaway password
	if err != nil {
		return secrets{}, fmt.Errorf("auditor password: %w", err)
	}
	s.auditHash = string(hash)
	secret, err := keep(filepath.Join(dir, "intake-secret"), func() string { return randomHex(32) })
	if err != nil {
		return secrets{}, err
	}
	s.intakeSecret = secret
	// The KEK file format is pkg/domain/seal's: "id:base64key" lines, current first.
	if _, err := keep(s.kekFile, func() string {
		return "local1:" + base64.StdEncoding.EncodeToString(randomBytes(32)) + "\n"
	}); err != nil {
		return secrets{}, err
	}
	if s.partnerPGP, err = partnerPGPKey(filepath.Join(cfg.runDir, "partner")); err != nil {
		return secrets{}, err
	}
	if s.auditKey, s.auditPub, err = auditSigningKey(dir, cfg.runDir); err != nil {
		return secrets{}, err
	}
	return s, nil
}

// auditSigningKey makes, once, the reconciler's checkpoint signing key in
// dir (the form `reconciler audit keygen` writes, pkg/stage/audit), and
// writes its public key to runDir/audit.pub, the form `reconciler audit
// public-key` prints and `auditverify --key` reads. The public key is
// derived from the private one on every run, so the two always match.
func auditSigningKey(dir, runDir string) (keyFile, pubFile string, err error) {
	keyFile = filepath.Join(dir, "audit-signing.key")
	var keygenErr error
	private, err := keep(keyFile, func() string {
		priv, _, err := audit.GenerateKey(rand.Reader, "booklets-audit")
		keygenErr = err
		return priv + "\n"
	})
	if keygenErr != nil {
		_ = os.Remove(keyFile)
		return "", "", fmt.Errorf("audit signing key: %w", keygenErr)
	}
	if err != nil {
		return "", "", err
	}
	signer, err := audit.NewSigner(private)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w (delete it to make a new one)", keyFile, err)
	}
	pubFile = filepath.Join(runDir, "audit.pub")
	if err := os.WriteFile(pubFile, []byte(signer.PublicKey+"\n"), 0o644); err != nil {
		return "", "", fmt.Errorf("write %s: %w", pubFile, err)
	}
	return keyFile, pubFile, nil
}

// keep returns the content of path, creating it with make() the first time.
func keep(path string, make func() string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return string(b), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	v := make()
	if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return v, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
