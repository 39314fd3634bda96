// Package ledger is the PostgreSQL adapter of pkg/stage/reconcile: it reads the
// batcher's batches table and keeps the partner's deletion confirmations
// and overdue alerts (migrations/011_confirmations.sql), writing the audit
// entry of each in the same transaction.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
)

// lockKey serialises reconciliation runs ("recon" in ASCII), so that the
// daily job and a `check-now` cannot judge the same file twice at once.
const lockKey int64 = 0x7265636f6e

// Ledger is the record of confirmations.
type Ledger struct {
	db *pgxpool.Pool
}

// NewLedger returns a ledger over the pool.
func NewLedger(db *pgxpool.Pool) *Ledger { return &Ledger{db: db} }

var _ reconcile.Store = (*Ledger)(nil)

const selectBatch = `SELECT batch_id, business_date, state, record_count, coalesce(sha256, ''),
	coalesce(sent_at, 'epoch'::timestamptz), coalesce(delivery_date, 'epoch'::date), coalesce(due_date, 'epoch'::date)
	FROM batches`

func scanReconcileBatch(row pgx.Row) (reconcile.Batch, error) {
	var b reconcile.Batch
	err := row.Scan(&b.ID, &b.BusinessDate, &b.State, &b.RecordCount, &b.SHA256, &b.SentAt, &b.DeliveryDate, &b.DueDate)
	if b.SentAt.Unix() == 0 {
		b.SentAt = time.Time{}
	}
	b.SentAt = b.SentAt.UTC()
	return b, err
}

const selectConfirmation = `SELECT file_name, file_sha256, coalesce(batch_id, ''), accepted, early, reason,
	coalesce(record_count, 0), coalesce(sha256, ''), coalesce(deleted_at, 'epoch'::timestamptz), coalesce(deleted_by, ''), received_at,
	coalesce(signer, ''), coalesce(signature_sha256, '')
	FROM confirmations LEFT JOIN confirmation_signatures USING (confirmation_id)`

func scanConfirmation(row pgx.Row) (reconcile.Recorded, error) {
	var r reconcile.Recorded
	var count int
	err := row.Scan(&r.FileName, &r.FileSHA256, &r.BatchID, &r.Accepted, &r.Early, &r.Reason,
		&count, &r.Conf.SHA256, &r.Conf.DeletedAt, &r.Conf.DeletedBy, &r.ReceivedAt, &r.Signer, &r.SignatureSHA256)
	r.Conf.BatchID, r.Conf.RecordCount, r.Conf.FormatVersion = r.BatchID, &count, reconcile.FormatVersion
	r.Conf.DeletedAt, r.ReceivedAt = r.Conf.DeletedAt.UTC(), r.ReceivedAt.UTC()
	if r.Conf.DeletedAt.Unix() == 0 {
		r.Conf.DeletedAt = time.Time{}
	}
	return r, err
}

// Record implements reconcile.Store.
func (l *Ledger) Record(ctx context.Context, f reconcile.File, now time.Time, judge func(*reconcile.Batch, *reconcile.Recorded) reconcile.Recorded) (rec reconcile.Recorded, dup bool, err error) {
	err = pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		// The same file read again: its accepted record, or its record with
		// the same signature. The same bytes with a new signature after a
		// rejection are a new submission (migrations/088).
		prev, err := scanConfirmation(tx.QueryRow(ctx, selectConfirmation+` WHERE file_name = $1 AND file_sha256 = $2
			AND (accepted OR coalesce(signature_sha256, '') = $3) ORDER BY accepted DESC, confirmation_id DESC LIMIT 1`, f.Name, f.SHA256, f.Sig.SHA256))
		if err == nil {
			rec, dup = prev, true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("look for earlier record: %w", err)
		}
		var batch *reconcile.Batch
		var accepted *reconcile.Recorded
		if id, ok := reconcile.BatchIDFromFileName(f.Name); ok {
			b, err := scanReconcileBatch(tx.QueryRow(ctx, selectBatch+" WHERE batch_id = $1", id))
			switch {
			case err == nil:
				batch = &b
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("read batch %s: %w", id, err)
			}
			a, err := scanConfirmation(tx.QueryRow(ctx, selectConfirmation+" WHERE batch_id = $1 AND accepted", id))
			switch {
			case err == nil:
				accepted = &a
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("read accepted confirmation of batch %s: %w", id, err)
			}
		}
		rec = judge(batch, accepted)
		if rec.Unmatched || rec.Same {
			// Not a confirmation of any batch of ours: the run's summary
			// counts it (RecordRun). Or the accepted confirmation again:
			// nothing new to record, and not a rejection.
			return nil
		}
		var count *int
		var sha, deletedBy *string
		var deletedAt *time.Time
		if rec.Conf.RecordCount != nil {
			count = rec.Conf.RecordCount
		}
		if rec.Conf.SHA256 != "" {
			sha = &rec.Conf.SHA256
		}
		if !rec.Conf.DeletedAt.IsZero() {
			deletedAt = &rec.Conf.DeletedAt
		}
		if rec.Conf.DeletedBy != "" {
			deletedBy = &rec.Conf.DeletedBy
		}
		var id int64
		err = tx.QueryRow(ctx, `INSERT INTO confirmations
			(file_name, file_sha256, batch_id, accepted, early, reason, record_count, sha256, deleted_at, deleted_by, received_at)
			VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8, $9, $10, $11) RETURNING confirmation_id`,
			rec.FileName, rec.FileSHA256, rec.BatchID, rec.Accepted, rec.Early, rec.Reason, count, sha, deletedAt, deletedBy, rec.ReceivedAt).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert confirmation: %w", err)
		}
		if err := insertReceipt(ctx, tx, id, f, rec); err != nil {
			return err
		}
		// The officer's name (deleted_by) stays out of the audit log.
		details := map[string]any{"file": rec.FileName, "file_sha256": rec.FileSHA256}
		kind := audit.ConfirmationRejected
		if rec.Accepted {
			kind = audit.ConfirmationAccepted
			details["early"] = rec.Early
			details["deleted_at"] = rec.Conf.DeletedAt.UTC().Format(time.RFC3339)
			details["record_count"] = *rec.Conf.RecordCount
		} else {
			details["reason"] = rec.Reason
		}
		receiptDetails(details, rec)
		_, err = AuditAppender{Now: func() time.Time { return now }}.Append(ctx, tx, audit.Event{Kind: kind, BatchID: rec.BatchID, Details: details})
		return err
	})
	if err != nil {
		return reconcile.Recorded{}, false, fmt.Errorf("ledger: record confirmation %s: %w", f.Name, err)
	}
	return rec, dup, nil
}

// States implements reconcile.Store.
func (l *Ledger) States(ctx context.Context, f reconcile.Filter) ([]reconcile.State, error) {
	q := selectBatch + ` WHERE state = 'sent'
		AND ($1::date IS NULL OR business_date >= $1) AND ($2::date IS NULL OR business_date <= $2)
		ORDER BY business_date, batch_id`
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	rows, err := l.db.Query(ctx, q, from, to)
	if err != nil {
		return nil, fmt.Errorf("ledger: read batches: %w", err)
	}
	states, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (reconcile.State, error) {
		b, err := scanReconcileBatch(row)
		return reconcile.State{Batch: b}, err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: read batches: %w", err)
	}
	if len(states) == 0 {
		return states, nil
	}
	ids := make([]string, len(states))
	index := make(map[string]int, len(states))
	for i, s := range states {
		ids[i] = s.Batch.ID
		index[s.Batch.ID] = i
	}
	rows, err = l.db.Query(ctx, selectConfirmation+" WHERE batch_id = ANY($1) ORDER BY received_at, confirmation_id", ids)
	if err != nil {
		return nil, fmt.Errorf("ledger: read confirmations: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (reconcile.Recorded, error) { return scanConfirmation(row) })
	if err != nil {
		return nil, fmt.Errorf("ledger: read confirmations: %w", err)
	}
	for _, r := range recs {
		s := &states[index[r.BatchID]]
		if r.Accepted {
			acc := r
			s.Accepted = &acc
		}
		s.LastRejected, s.LastReason = !r.Accepted, ""
		if !r.Accepted {
			s.LastReason = r.Reason
		}
	}
	if err := l.updateCounts(ctx, states, ids, index); err != nil {
		return nil, err
	}
	return states, nil
}

// RaiseOverdue implements reconcile.Store.
func (l *Ledger) RaiseOverdue(ctx context.Context, b reconcile.Batch, today, now time.Time) (raised bool, err error) {
	err = pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO overdue_alerts (batch_id, alert_date, due_date, raised_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, b.ID, today, b.DueDate, now)
		if err != nil {
			return fmt.Errorf("insert alert: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		raised = true
		_, err = AuditAppender{Now: func() time.Time { return now }}.Append(ctx, tx, audit.Event{
			Kind: audit.OverdueRaised, BatchID: b.ID,
			Details: map[string]any{"due_date": b.DueDate.Format(time.DateOnly), "alert_date": today.Format(time.DateOnly)},
		})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ledger: raise overdue alert for batch %s: %w", b.ID, err)
	}
	return raised, nil
}

// RecordRun implements reconcile.Store.
func (l *Ledger) RecordRun(ctx context.Context, run reconcile.Run) error {
	s := run.Summary
	err := pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO reconcile_runs
			(started_at, finished_at, ok, files, accepted, rejected, duplicates, unmatched, failed, overdue)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			run.StartedAt, run.FinishedAt, run.OK, s.Files, s.Accepted, s.Rejected, s.Duplicates, s.Unmatched, s.Failed, len(s.Overdue))
		if err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		if s.Unmatched == 0 {
			return nil
		}
		for _, u := range run.Unmatched {
			var sha *string
			if u.FileSHA256 != "" {
				sha = &u.FileSHA256
			}
			// The name is the partner's (or anyone's with access to the
			// folder): made storable rather than refused, or the file
			// would fail every run.
			_, err := tx.Exec(ctx, `INSERT INTO unmatched_confirmations (seen_at, file_name, file_sha256, why, batch_id, reason)
				VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6) ON CONFLICT DO NOTHING`,
				u.SeenAt, storable(u.FileName), sha, u.Why, storable(u.BatchID), storable(u.Reason))
			if err != nil {
				return fmt.Errorf("list unmatched file: %w", err)
			}
		}
		details := map[string]any{"files": s.Unmatched, "run_started_at": run.StartedAt.UTC().Format(time.RFC3339)}
		for _, why := range []string{reconcile.BadName, reconcile.UnknownBatch, reconcile.Oversized} {
			details[why] = s.UnmatchedBy[why]
		}
		_, err = AuditAppender{Now: func() time.Time { return run.FinishedAt }}.Append(ctx, tx,
			audit.Event{Kind: audit.ConfirmationsUnmatched, Details: details})
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: record reconciliation run: %w", err)
	}
	return nil
}

// storable is s as PostgreSQL text can hold it: valid UTF-8, no NUL.
func storable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Unmatched lists the files that named no batch of ours, seen from from
// to to (zero: unbounded), newest first, at most limit (0: all).
func (l *Ledger) Unmatched(ctx context.Context, from, to time.Time, limit int) ([]reconcile.UnmatchedFile, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	var f, t *time.Time
	if !from.IsZero() {
		f = &from
	}
	if !to.IsZero() {
		t = &to
	}
	rows, err := l.db.Query(ctx, `SELECT seen_at, file_name, coalesce(file_sha256, ''), why, coalesce(batch_id, ''), reason
		FROM unmatched_confirmations
		WHERE ($1::timestamptz IS NULL OR seen_at >= $1) AND ($2::timestamptz IS NULL OR seen_at < $2)
		ORDER BY seen_at DESC, unmatched_id DESC LIMIT $3`, f, t, lim)
	if err != nil {
		return nil, fmt.Errorf("ledger: read unmatched files: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (reconcile.UnmatchedFile, error) {
		var u reconcile.UnmatchedFile
		err := row.Scan(&u.SeenAt, &u.FileName, &u.FileSHA256, &u.Why, &u.BatchID, &u.Reason)
		u.SeenAt = u.SeenAt.UTC()
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: read unmatched files: %w", err)
	}
	return out, nil
}

// Stats are the alert figures, from the records of every run whichever
// process made it (the daemon serves them on /metrics).
type Stats struct {
	Accepted, Rejected int64     // confirmation files recorded, by outcome
	Unmatched, Dupes   int64     // files naming no batch of ours; files seen again (summed over runs)
	LastRejected       time.Time // when a file was last rejected or unmatched; zero if never
	RunsOK, RunsFailed int64
	LastOK, LastFailed time.Time // when the last run of each result finished; zero if never
}

// Stats reads the figures. Every count only grows (the service role may
// not delete confirmations or runs), so they are Prometheus counters.
func (l *Ledger) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	var lastRej, lastUnm, lastOK, lastFailed *time.Time
	err := l.db.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM confirmations WHERE accepted),
			(SELECT count(*) FROM confirmations WHERE NOT accepted),
			(SELECT max(received_at) FROM confirmations WHERE NOT accepted),
			coalesce(sum(unmatched), 0), coalesce(sum(duplicates), 0),
			max(finished_at) FILTER (WHERE unmatched > 0),
			count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok),
			max(finished_at) FILTER (WHERE ok), max(finished_at) FILTER (WHERE NOT ok)
		FROM reconcile_runs`).Scan(&s.Accepted, &s.Rejected, &lastRej, &s.Unmatched, &s.Dupes, &lastUnm,
		&s.RunsOK, &s.RunsFailed, &lastOK, &lastFailed)
	if err != nil {
		return Stats{}, fmt.Errorf("ledger: read reconciliation figures: %w", err)
	}
	for _, t := range []*time.Time{lastRej, lastUnm} {
		if t != nil && t.After(s.LastRejected) {
			s.LastRejected = *t
		}
	}
	if lastOK != nil {
		s.LastOK = *lastOK
	}
	if lastFailed != nil {
		s.LastFailed = *lastFailed
	}
	return s, nil
}

// Ready checks the database answers.
func (l *Ledger) Ready(ctx context.Context) error {
	if err := l.db.Ping(ctx); err != nil {
		return fmt.Errorf("ledger: database: %w", err)
	}
	return nil
}
