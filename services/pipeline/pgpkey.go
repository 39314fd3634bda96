package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// partnerPGPKey makes, once, the simulated partner's OpenPGP key pair in
// dir and returns the public key's file, for PARTNER_PGP_KEY_FILE: with
// it the batcher encrypts every batch file to the partner (*.csv.gpg), as
// in production. The private key stays beside it so that a person can
// look inside a batch: `gpg --import pgp-private.asc`, then
// `gpg --output X.csv --decrypt X.csv.gpg` (docs/partner-interface.md).
func partnerPGPKey(dir string) (string, error) {
	pub := filepath.Join(dir, "pgp-public.asc")
	priv := filepath.Join(dir, "pgp-private.asc")
	if _, err := os.Stat(pub); err == nil {
		return pub, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("partner key folder: %w", err)
	}
	e, err := openpgp.NewEntity("Partner simulator", "make run", "partner@booklets.invalid",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return "", fmt.Errorf("partner OpenPGP key: %w", err)
	}
	armored := func(kind string, write func(w *bytes.Buffer) error) ([]byte, error) {
		var buf bytes.Buffer
		w, err := armor.Encode(&buf, kind, nil)
		if err != nil {
			return nil, err
		}
		var body bytes.Buffer
		if err := write(&body); err != nil {
			return nil, err
		}
		if _, err := w.Write(body.Bytes()); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	privBytes, err := armored(openpgp.PrivateKeyType, func(b *bytes.Buffer) error { return e.SerializePrivate(b, nil) })
	if err != nil {
		return "", fmt.Errorf("partner OpenPGP private key: %w", err)
	}
	pubBytes, err := armored(openpgp.PublicKeyType, func(b *bytes.Buffer) error { return e.Serialize(b) })
	if err != nil {
		return "", fmt.Errorf("partner OpenPGP public key: %w", err)
	}
	if err := os.WriteFile(priv, privBytes, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", priv, err)
	}
	// Written last: its presence means the pair is complete.
	if err := os.WriteFile(pub, pubBytes, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", pub, err)
	}
	return pub, nil
}
