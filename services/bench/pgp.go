package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// writePartnerKey writes a made-up print partner's armored OpenPGP public
// key (EdDSA/X25519, as pkg/pgpfile's tests use), so that the batch file
// is encrypted as in production (PARTNER_PGP_KEY_FILE).
func writePartnerKey(path string) error {
	e, err := openpgp.NewEntity("Bench Print Partner", "", "pgp@partner.example", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return fmt.Errorf("make the partner's OpenPGP key: %w", err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return err
	}
	if err := e.Serialize(w); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
