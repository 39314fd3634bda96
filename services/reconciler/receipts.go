package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/platform/envconfig"
	"booklets/pkg/stage/reconcile"
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

// receiptOut is what `reconciler audit receipt` prints.
type receiptOut struct {
	BatchID         string `json:"batch_id"`
	File            string `json:"file"`
	FileSHA256      string `json:"file_sha256"`
	SignatureFile   string `json:"signature_file,omitempty"`
	SignatureSHA256 string `json:"signature_sha256,omitempty"`
	Signer          string `json:"signer,omitempty"`
	Unsigned        bool   `json:"unsigned"`
	AuditSeq        int64  `json:"audit_seq"`
}

// writeReceipt writes a batch's accepted confirmation and its signature
// into dir, byte for byte as received, so that an auditor runs
// gpg --verify on them (docs/reconciler.md), and prints their hashes and
// the audit entry whose details carry the same hashes.
func writeReceipt(ctx context.Context, db *pgxpool.Pool, batchID, dir string, stdout io.Writer) error {
	r, err := postgres.ReadReceipt(ctx, db, batchID)
	if err != nil {
		return fmt.Errorf("audit receipt: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("audit receipt: %w", err)
	}
	// The name comes from the database: keep it to a bare file name.
	name := filepath.Base(r.FileName)
	out := receiptOut{BatchID: r.BatchID, File: filepath.Join(dir, name), FileSHA256: r.FileSHA256,
		SignatureSHA256: r.SignatureSHA256, Signer: r.Signer, Unsigned: r.Signer == "", AuditSeq: r.AuditSeq}
	if err := os.WriteFile(out.File, r.Confirmation, 0o644); err != nil {
		return fmt.Errorf("audit receipt: %w", err)
	}
	if r.Signature != nil {
		out.SignatureFile = out.File + reconcile.SigExt
		if err := os.WriteFile(out.SignatureFile, r.Signature, 0o644); err != nil {
			return fmt.Errorf("audit receipt: %w", err)
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
