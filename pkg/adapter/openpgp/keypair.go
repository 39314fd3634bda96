package openpgp

import (
	"bytes"
	"fmt"
	"io"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// KeyPair is an OpenPGP key made for a stand-in partner: the partner
// simulator of `make run`, the benchmarks and the tests. A real partner
// makes its own key and sends us the public half.
type KeyPair struct {
	Entity *pgp.Entity // with its private keys, to decrypt
	Public []byte      // armored public key, as PARTNER_PGP_KEY_FILE holds it
}

// NewKeyPair makes a key of the kind GnuPG's "future-default" makes (EdDSA
// to sign, X25519 to encrypt) for name <email>.
func NewKeyPair(name, comment, email string) (KeyPair, error) {
	e, err := pgp.NewEntity(name, comment, email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return KeyPair{}, fmt.Errorf("make OpenPGP key: %w", err)
	}
	pub, err := Armor(pgp.PublicKeyType, e.Serialize)
	if err != nil {
		return KeyPair{}, fmt.Errorf("armor OpenPGP public key: %w", err)
	}
	return KeyPair{Entity: e, Public: pub}, nil
}

// Recipient is the key pair's public half, as the batcher loads it.
func (k KeyPair) Recipient() (*Recipient, error) {
	return ReadRecipient(bytes.NewReader(k.Public), time.Now)
}

// Armor returns what serialize writes, in ASCII armor of the given block
// type (openpgp.PublicKeyType or openpgp.PrivateKeyType).
func Armor(blockType string, serialize func(w io.Writer) error) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		return nil, err
	}
	if err := serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
