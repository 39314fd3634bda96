package main

import (
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/platform/envconfig"
)

// receiptsConfig is how the partner's signed deletion receipts are checked
// (issue 15; docs/reconciler.md "Signed deletion receipts").
type receiptsConfig struct {
	// KeyFile is PARTNER_SIGNING_KEY_FILE: the partner's armored public
	// key, pinned; Key is it loaded (nil when not set).
	KeyFile string
	Key     *openpgp.SigningKey
	// AcceptUnsigned is ACCEPT_UNSIGNED_CONFIRMATIONS, for a transition
	// period only: a confirmation without a signature (or with one when no
	// key is pinned) is accepted, and shown to auditors as unsigned.
	AcceptUnsigned bool
	// Grace is CONFIRMATION_SIGNATURE_GRACE: how long a confirmation may
	// wait for its .asc before it is judged without one.
	Grace time.Duration
}

func readReceiptsConfig(r *envconfig.Reader) receiptsConfig {
	c := receiptsConfig{
		KeyFile:        r.String(openpgp.EnvSigningKeyFile, ""),
		AcceptUnsigned: r.Bool("ACCEPT_UNSIGNED_CONFIRMATIONS", false),
		Grace:          r.Duration("CONFIRMATION_SIGNATURE_GRACE", 10*time.Minute),
	}
	if c.Grace < 0 {
		r.Fail("CONFIRMATION_SIGNATURE_GRACE", "must not be negative")
	}
	if c.KeyFile != "" {
		// Loaded now, so that a wrong file stops the reconciler at start
		// instead of rejecting every confirmation.
		k, err := openpgp.LoadSigningKey(c.KeyFile)
		if err != nil {
			r.Fail(openpgp.EnvSigningKeyFile, err.Error())
		}
		c.Key = k
	}
	return c
}

// verifier is the reconcile stage's signature check, nil when no key is
// pinned.
func (c receiptsConfig) verifier() func(data, sig []byte) (string, error) {
	if c.Key == nil {
		return nil
	}
	return c.Key.Verify
}

// warn says at start how confirmations will be judged when that is not the
// normal, signed, way.
func (c receiptsConfig) warn(log zerolog.Logger) {
	switch {
	case c.Key == nil && !c.AcceptUnsigned:
		log.Error().Msg("no PARTNER_SIGNING_KEY_FILE: every deletion confirmation is rejected (its signature cannot be checked); pin the partner's signing key, or set ACCEPT_UNSIGNED_CONFIRMATIONS=true for a transition period")
	case c.Key == nil:
		log.Warn().Msg("ACCEPT_UNSIGNED_CONFIRMATIONS without PARTNER_SIGNING_KEY_FILE: signatures are not checked; every confirmation is accepted as unsigned")
	case c.AcceptUnsigned:
		log.Warn().Str("partner_key", c.Key.Fingerprint()).Msg("ACCEPT_UNSIGNED_CONFIRMATIONS: confirmations without a signature are accepted, shown to auditors as unsigned")
	default:
		log.Info().Str("partner_key", c.Key.Fingerprint()).Msg("deletion confirmations must be signed by the partner's pinned key")
	}
}
