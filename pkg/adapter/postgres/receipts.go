package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
)

// insertReceipt keeps a recorded confirmation's bytes and the partner's
// signature beside it (migrations/084_confirmation_signatures.sql), in the
// transaction that records the confirmation and its audit entry.
func insertReceipt(ctx context.Context, tx pgx.Tx, id int64, f reconcile.File, rec reconcile.Recorded) error {
	var sigSHA, signer *string
	if f.Sig.Data != nil {
		sigSHA = &f.Sig.SHA256
	}
	if rec.Signer != "" {
		signer = &rec.Signer
	}
	_, err := tx.Exec(ctx, `INSERT INTO confirmation_signatures (confirmation_id, confirmation, signature, signature_sha256, signer)
		VALUES ($1, $2, $3, $4, $5)`, id, f.Data, f.Sig.Data, sigSHA, signer)
	if err != nil {
		return fmt.Errorf("keep the confirmation and its signature: %w", err)
	}
	return nil
}

// receiptDetails adds to a confirmation's audit entry what vouches for the
// kept evidence: the signature file's SHA-256 (the confirmation's is
// file_sha256 already) and the signer's fingerprint, or, for an accepted
// confirmation without a good signature, unsigned: true.
func receiptDetails(details map[string]any, rec reconcile.Recorded) {
	if rec.SignatureSHA256 != "" {
		details["signature_sha256"] = rec.SignatureSHA256
	}
	if rec.Signer != "" {
		details["signer"] = rec.Signer
	}
	if rec.Unsigned() {
		details["unsigned"] = true
	}
}

// Receipt is a batch's accepted deletion confirmation as the partner sent
// it, with its signature: the evidence an auditor re-checks with GnuPG.
type Receipt struct {
	BatchID         string
	FileName        string // deletion_<batch_id>.json
	Confirmation    []byte // the file's bytes as received
	FileSHA256      string
	Signature       []byte // the .asc as received; nil when there was none
	SignatureSHA256 string
	Signer          string // fingerprint of the pinned key; "" when unsigned
	AuditSeq        int64  // the confirmation_accepted audit entry that vouches for both hashes
}

// ErrNoReceipt means the batch has no accepted confirmation with its bytes
// kept (none accepted, or accepted before migration 084).
var ErrNoReceipt = errors.New("no accepted confirmation kept for this batch")

// ReadReceipt reads a batch's accepted confirmation and its signature.
func ReadReceipt(ctx context.Context, db *pgxpool.Pool, batchID string) (Receipt, error) {
	r := Receipt{BatchID: batchID}
	var sigSHA, signer *string
	err := db.QueryRow(ctx, `SELECT c.file_name, s.confirmation, c.file_sha256, s.signature, s.signature_sha256, s.signer,
			coalesce((SELECT max(seq) FROM audit_log a WHERE a.kind = $2 AND a.batch_id = c.batch_id), 0)
		FROM confirmations c JOIN confirmation_signatures s USING (confirmation_id)
		WHERE c.batch_id = $1 AND c.accepted`, batchID, string(audit.ConfirmationAccepted)).
		Scan(&r.FileName, &r.Confirmation, &r.FileSHA256, &r.Signature, &sigSHA, &signer, &r.AuditSeq)
	if errors.Is(err, pgx.ErrNoRows) {
		return Receipt{}, fmt.Errorf("batch %s: %w", batchID, ErrNoReceipt)
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("read the receipt of batch %s: %w", batchID, err)
	}
	if sigSHA != nil {
		r.SignatureSHA256 = *sigSHA
	}
	if signer != nil {
		r.Signer = *signer
	}
	return r, nil
}
