package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	pgp "github.com/ProtonMail/go-crypto/openpgp"

	"booklets/pkg/adapter/openpgp"
)

// partnerPGPKey makes, once, the simulated partner's OpenPGP key pair in
// dir and returns the public key's file, for PARTNER_PGP_KEY_FILE: with
// it the batcher encrypts every batch file to the partner (*.csv.gpg), as
// in production. The private key stays beside it so that a person can
// look inside a batch: `gpg --import pgp-private.asc`, then
// `gpg --output X.csv --decrypt X.csv.gpg` (docs/partner-interface.md).
func partnerPGPKey(dir string) (string, error) {
	pub := filepath.Join(dir, "pgp-public.asc")
	priv := partnerPGPPrivate(pub)
	if _, err := os.Stat(pub); err == nil {
		return pub, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("partner key folder: %w", err)
	}
	k, err := openpgp.NewKeyPair("Partner simulator", "make run", "partner@booklets.invalid")
	if err != nil {
		return "", fmt.Errorf("partner OpenPGP key: %w", err)
	}
	privBytes, err := openpgp.Armor(pgp.PrivateKeyType, func(w io.Writer) error { return k.Entity.SerializePrivate(w, nil) })
	if err != nil {
		return "", fmt.Errorf("partner OpenPGP private key: %w", err)
	}
	if err := os.WriteFile(priv, privBytes, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", priv, err)
	}
	// Written last: its presence means the pair is complete.
	if err := os.WriteFile(pub, k.Public, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", pub, err)
	}
	return pub, nil
}

// partnerPGPPrivate is the private key file beside the public one that
// partnerPGPKey made: the partner simulator signs its confirmations with it.
func partnerPGPPrivate(public string) string {
	return filepath.Join(filepath.Dir(public), "pgp-private.asc")
}
