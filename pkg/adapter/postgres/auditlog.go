// Package auditlog stores the audit chain (pkg/stage/audit) in the PostgreSQL
// table audit_log (migrations/010_audit_log.sql) and verifies it.
//
// Appending happens inside the caller's transaction, so an event is
// recorded if and only if the change it describes is committed. Appends are
// serialised by a transaction-level advisory lock, which keeps the chain
// linear however many services write to it.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"booklets/pkg/stage/audit"
)

// AuditLockKey is the pg_advisory_xact_lock key that serialises appends ("audit"
// in ASCII). Anything else writing audit_log must take it too.
const AuditLockKey int64 = 0x6175646974

// Querier is what Verify reads through: a *pgx.Conn, a pgx.Tx or a
// *pgxpool.Pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// AuditAppender appends entries stamped with its clock.
type AuditAppender struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// AppendAudit records ev as the next entry of the chain inside tx, stamped with
// the wall clock. It is the form the services call.
func AppendAudit(ctx context.Context, tx pgx.Tx, ev audit.Event) error {
	_, err := AuditAppender{}.Append(ctx, tx, ev)
	return err
}

// Append records ev as the next entry of the chain inside tx and returns
// the entry. The lock it takes is held until tx ends, so callers should
// append late in their transaction and commit promptly.
func (a AuditAppender) Append(ctx context.Context, tx pgx.Tx, ev audit.Event) (e audit.Entry, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("audit log: append %s for batch %q: %w", ev.Kind, ev.BatchID, err)
		}
	}()
	if err := ev.Validate(); err != nil {
		return audit.Entry{}, err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", AuditLockKey); err != nil {
		return audit.Entry{}, fmt.Errorf("lock: %w", err)
	}
	var prev *audit.Entry
	var last audit.Entry
	err = tx.QueryRow(ctx, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").Scan(&last.Seq, &last.Hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return audit.Entry{}, fmt.Errorf("read last entry: %w", err)
	default:
		prev = &last
	}
	e, err = audit.Next(prev, ev, now())
	if err != nil {
		return audit.Entry{}, err
	}
	details, err := audit.CanonicalDetails(e.Details)
	if err != nil {
		return audit.Entry{}, err
	}
	_, err = tx.Exec(ctx,
		`INSERT INTO audit_log (seq, at, kind, batch_id, details, prev_hash, hash)
		 VALUES ($1, $2, $3, NULLIF($4, ''), $5::jsonb, $6, $7)`,
		e.Seq, e.At, string(e.Kind), e.BatchID, string(details), e.PrevHash, e.Hash)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return audit.Entry{}, fmt.Errorf("insert: the database role may not write audit_log (grant booklets_service): %w", err)
		}
		return audit.Entry{}, fmt.Errorf("insert: %w", err)
	}
	// The entry's leaf in the Merkle tree, in the same transaction
	// (audittree.go).
	if err := appendAuditLeaf(ctx, tx, e); err != nil {
		return audit.Entry{}, err
	}
	return e, nil
}

const selectEntries = `SELECT seq, at, kind, coalesce(batch_id, ''), details::text, prev_hash, hash FROM audit_log`

func scanEntry(rows pgx.Rows) (audit.Entry, error) {
	var e audit.Entry
	var kind, details string
	if err := rows.Scan(&e.Seq, &e.At, &kind, &e.BatchID, &details, &e.PrevHash, &e.Hash); err != nil {
		return audit.Entry{}, err
	}
	e.Kind = audit.Kind(kind)
	e.At = e.At.UTC()
	if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
		return audit.Entry{}, fmt.Errorf("entry %d details: %w", e.Seq, err)
	}
	return e, nil
}

// VerifyAudit reads the whole chain in seq order, streaming it, and checks it.
// A broken chain is not an error: it is reported in the Result. The error
// is for failing to read.
func VerifyAudit(ctx context.Context, db Querier) (audit.Result, error) {
	rows, err := db.Query(ctx, selectEntries+" ORDER BY seq")
	if err != nil {
		return audit.Result{}, fmt.Errorf("audit log: verify: %w", err)
	}
	defer rows.Close()
	v := audit.NewVerifier()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return audit.Result{}, fmt.Errorf("audit log: verify: %w", err)
		}
		if !v.Add(e) {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return audit.Result{}, fmt.Errorf("audit log: verify: %w", err)
	}
	return v.Result(), nil
}

// AuditForBatch returns the entries about one batch, oldest first.
func AuditForBatch(ctx context.Context, db Querier, batchID string) ([]audit.Entry, error) {
	rows, err := db.Query(ctx, selectEntries+" WHERE batch_id = $1 ORDER BY seq", batchID)
	if err != nil {
		return nil, fmt.Errorf("audit log: entries for batch %q: %w", batchID, err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("audit log: entries for batch %q: %w", batchID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit log: entries for batch %q: %w", batchID, err)
	}
	return out, nil
}
