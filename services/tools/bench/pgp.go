package main

import (
	"fmt"
	"os"

	"booklets/pkg/adapter/openpgp"
)

// writePartnerKey writes a made-up print partner's armored OpenPGP public
// key (EdDSA/X25519, as pkg/adapter/openpgp's tests use), so that the batch file
// is encrypted as in production (PARTNER_PGP_KEY_FILE).
func writePartnerKey(path string) error {
	k, err := openpgp.NewKeyPair("Bench Print Partner", "", "pgp@partner.example")
	if err != nil {
		return fmt.Errorf("make the partner's OpenPGP key: %w", err)
	}
	return os.WriteFile(path, k.Public, 0o644)
}
