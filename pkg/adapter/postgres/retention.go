package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/endofday"
)

// The audit entries of the copy kept for a resend (table batch_retention,
// migration 087). Details: file names, sizes and checksums, times and
// reasons; never personal data.
const (
	// BatchRetained: an encrypted batch's files are kept until
	// retained_until, recorded with batch_sent.
	BatchRetained audit.Kind = "batch_retained"
	// BatchResent: the kept files were uploaded again (`batcher resend`).
	BatchResent audit.Kind = "batch_resent"
	// RetainedCopyDeleted: the kept files are deleted from the batcher's
	// disk (the resend window ended).
	RetainedCopyDeleted audit.Kind = "retained_copy_deleted"
)

var _ endofday.RetentionRecords = (*Orders)(nil)

// recordRetained records a batch's kept copy inside the record
// transaction, with its audit entry.
func recordRetained(ctx context.Context, tx pgx.Tx, log AuditAppender, batchID string, r *endofday.Retention) error {
	files, err := json.Marshal(r.Files)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO batch_retention (batch_id, files, retained_at, retained_until)
		VALUES ($1, $2, $3, $4)`, batchID, files, r.RetainedAt, r.Until); err != nil {
		return err
	}
	_, err = log.Append(ctx, tx, audit.Event{Kind: BatchRetained, BatchID: batchID, Details: retentionDetails(r.Files, map[string]any{
		"retained_until": r.Until.UTC().Format(time.RFC3339),
	})})
	return err
}

// retentionDetails are an entry's details about kept files: the data
// file's name and checksum under the keys the auditors' page summarises,
// and every file.
func retentionDetails(files []endofday.RetainedFile, extra map[string]any) map[string]any {
	d := map[string]any{}
	var list []any
	for i, f := range files {
		if i == 0 {
			d["file"], d["sha256"] = f.Name, f.SHA256
		}
		list = append(list, map[string]any{"name": f.Name, "bytes": f.Bytes, "sha256": f.SHA256})
	}
	d["files"] = list
	for k, v := range extra {
		d[k] = v
	}
	return d
}

const retentionColumns = `b.batch_id, b.state, b.encryption, r.files, r.retained_at, r.retained_until,
	r.deleted_at, coalesce(r.deletion_reason, ''), coalesce(r.resend_count, 0)`

func scanRetention(row pgx.Row) (endofday.RetentionRecord, error) {
	var rec endofday.RetentionRecord
	var files []byte
	var at, until, deleted *time.Time
	if err := row.Scan(&rec.BatchID, &rec.State, &rec.Encryption, &files, &at, &until, &deleted,
		&rec.DeletionReason, &rec.Resends); err != nil {
		return endofday.RetentionRecord{}, err
	}
	if files != nil {
		rec.Retention = &endofday.Retention{RetainedAt: *at, Until: *until}
		if err := json.Unmarshal(files, &rec.Retention.Files); err != nil {
			return endofday.RetentionRecord{}, fmt.Errorf("batch %s: retained files: %w", rec.BatchID, err)
		}
	}
	if deleted != nil {
		rec.DeletedAt = *deleted
	}
	return rec, nil
}

// RetentionOf implements endofday.RetentionRecords.
func (s *Orders) RetentionOf(ctx context.Context, batchID string) (endofday.RetentionRecord, error) {
	rec, err := scanRetention(s.pool.QueryRow(ctx, `SELECT `+retentionColumns+`
		FROM batches b LEFT JOIN batch_retention r USING (batch_id) WHERE b.batch_id = $1`, batchID))
	if errors.Is(err, pgx.ErrNoRows) {
		return endofday.RetentionRecord{}, ErrNotFound
	}
	if err != nil {
		return endofday.RetentionRecord{}, fmt.Errorf("retention of batch %s: %w", batchID, dbErr(err))
	}
	return rec, nil
}

// RetentionsEnded implements endofday.RetentionRecords.
func (s *Orders) RetentionsEnded(ctx context.Context, now time.Time) ([]endofday.RetentionRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+retentionColumns+`
		FROM batch_retention r JOIN batches b USING (batch_id)
		WHERE r.deleted_at IS NULL AND r.retained_until <= $1 ORDER BY r.retained_until`, now)
	if err != nil {
		return nil, fmt.Errorf("retentions ended: %w", dbErr(err))
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (endofday.RetentionRecord, error) { return scanRetention(r) })
	if err != nil {
		return nil, fmt.Errorf("retentions ended: %w", dbErr(err))
	}
	return recs, nil
}

// RecordRetainedDeleted implements endofday.RetentionRecords: the row is
// marked, and the audit entry written, in one transaction.
func (s *Orders) RecordRetainedDeleted(ctx context.Context, batchID, reason string) (bool, error) {
	done := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		var files []byte
		var until time.Time
		err := tx.QueryRow(ctx, `UPDATE batch_retention SET deleted_at = $2, deletion_reason = $3
			WHERE batch_id = $1 AND deleted_at IS NULL RETURNING files, retained_until`, batchID, now, reason).Scan(&files, &until)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var fs []endofday.RetainedFile
		if err := json.Unmarshal(files, &fs); err != nil {
			return err
		}
		done = true
		_, err = AuditAppender{Now: s.now}.Append(ctx, tx, audit.Event{Kind: RetainedCopyDeleted, BatchID: batchID,
			Details: retentionDetails(fs, map[string]any{"reason": reason, "retained_until": until.UTC().Format(time.RFC3339)})})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record retained copy of batch %s deleted: %w", batchID, dbErr(err))
	}
	return done, nil
}

// RecordResent implements endofday.RetentionRecords.
func (s *Orders) RecordResent(ctx context.Context, batchID string, files []endofday.RetainedFile) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		var n int
		if err := tx.QueryRow(ctx, `UPDATE batch_retention SET resend_count = resend_count + 1, last_resent_at = $2
			WHERE batch_id = $1 RETURNING resend_count`, batchID, now).Scan(&n); err != nil {
			return err
		}
		_, err := AuditAppender{Now: s.now}.Append(ctx, tx, audit.Event{Kind: BatchResent, BatchID: batchID,
			Details: retentionDetails(files, map[string]any{"resend": n})})
		return err
	})
	if err != nil {
		return fmt.Errorf("record resend of batch %s: %w", batchID, dbErr(err))
	}
	return nil
}
