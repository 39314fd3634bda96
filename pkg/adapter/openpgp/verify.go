package openpgp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// EnvSigningKeyFile names the armored public key the partner signs its
// deletion confirmations with (docs/partner-interface.md).
const EnvSigningKeyFile = "PARTNER_SIGNING_KEY_FILE"

// SigExt is the extension of a detached, armored signature beside the
// file it signs, as `gpg --armor --detach-sign FILE` writes it.
const SigExt = ".asc"

// Why a signature is refused. The messages are the reasons recorded for a
// rejected confirmation, and shown to auditors and to the partner.
var (
	// ErrBadSignature: the signature does not match the file (it was
	// changed after signing) or is damaged.
	ErrBadSignature = errors.New("the signature does not match the file (changed after signing, or a damaged signature)")
	// ErrOtherKey: the signature was made by a key that is not the
	// partner's pinned signing key.
	ErrOtherKey = errors.New("signed by another key, not the partner's pinned signing key")
	// ErrNotSignature: the .asc file is not an OpenPGP signature.
	ErrNotSignature = errors.New("the signature file is not an armored OpenPGP detached signature")
	// ErrSignerInvalid: the pinned key made the signature but is expired
	// or revoked, or the signature itself is expired.
	ErrSignerInvalid = errors.New("the partner's signing key or the signature is expired or revoked")
)

// SigningKey is the partner's pinned public key, used to check the
// signatures on its deletion confirmations. Only signatures by this key
// (its primary key or a signing subkey) are good.
type SigningKey struct {
	keys        pgp.EntityList
	fingerprint string
}

// LoadSigningKey reads the partner's armored public key from a file.
func LoadSigningKey(path string) (*SigningKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("partner signing key: %w", err)
	}
	k, err := ReadSigningKey(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("partner signing key %s: %w", path, err)
	}
	return k, nil
}

// ReadSigningKey reads an armored public key holding exactly one key, which
// must be able to sign.
func ReadSigningKey(r io.Reader) (*SigningKey, error) {
	keys, err := pgp.ReadArmoredKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("not an armored OpenPGP public key: %w", err)
	}
	if len(keys) != 1 {
		// One key pinned: a file of several would let any of them sign.
		return nil, fmt.Errorf("holds %d keys; exactly one is pinned", len(keys))
	}
	e := keys[0]
	if e.PrivateKey != nil {
		return nil, errors.New("holds a private key; pin only the public key")
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, errors.New("has no valid key that can sign (expired, revoked, or no signing capability)")
	}
	return &SigningKey{keys: keys, fingerprint: fingerprint(e.PrimaryKey)}, nil
}

// Fingerprint is the pinned key's fingerprint, upper-case hexadecimal as
// `gpg --fingerprint` shows it (without spaces).
func (k *SigningKey) Fingerprint() string { return k.fingerprint }

// Verify checks an armored detached signature of data. It returns the
// fingerprint of the pinned (primary) key when the signature is good, or an
// error wrapping ErrBadSignature, ErrOtherKey, ErrNotSignature or
// ErrSignerInvalid.
func (k *SigningKey) Verify(data, signature []byte) (string, error) {
	issuer, err := issuerOf(signature)
	if err != nil {
		return "", err
	}
	signer, err := pgp.CheckArmoredDetachedSignature(k.keys, bytes.NewReader(data), bytes.NewReader(signature), nil)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return "", fmt.Errorf("%w (key ID %s)", ErrOtherKey, issuer)
	case errors.Is(err, pgperrors.ErrSignatureExpired), errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrKeyRevoked):
		return "", fmt.Errorf("%w: %v", ErrSignerInvalid, err)
	case err != nil:
		return "", ErrBadSignature
	case signer == nil:
		return "", ErrBadSignature
	}
	return fingerprint(signer.PrimaryKey), nil
}

// issuerOf reads the issuer key ID of an armored detached signature, to
// name the other key in the reason.
func issuerOf(signature []byte) (string, error) {
	block, err := armor.Decode(bytes.NewReader(signature))
	if err != nil || block.Type != pgp.SignatureType {
		return "", ErrNotSignature
	}
	p, err := packet.NewReader(block.Body).Next()
	if err != nil {
		return "", ErrNotSignature
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return "", ErrNotSignature
	}
	switch {
	case sig.IssuerFingerprint != nil:
		return strings.ToUpper(fmt.Sprintf("%x", sig.IssuerFingerprint)), nil
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *sig.IssuerKeyId), nil
	}
	return "", ErrNotSignature
}

func fingerprint(pk *packet.PublicKey) string {
	return strings.ToUpper(fmt.Sprintf("%x", pk.Fingerprint))
}

// DetachSign makes an armored detached signature of data with a private
// key, as `gpg --armor --detach-sign` does: the partner simulator signs its
// confirmations with it.
func DetachSign(signer *pgp.Entity, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := pgp.ArmoredDetachSign(&buf, signer, bytes.NewReader(data), nil); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ReadPrivateKey reads one armored, unencrypted private key (the partner
// simulator's, as make run keeps it).
func ReadPrivateKey(r io.Reader) (*pgp.Entity, error) {
	keys, err := pgp.ReadArmoredKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("not an armored OpenPGP private key: %w", err)
	}
	if len(keys) != 1 || keys[0].PrivateKey == nil {
		return nil, errors.New("not exactly one OpenPGP private key")
	}
	return keys[0], nil
}
