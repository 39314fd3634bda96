package postgres

// The partner's dispatch and returns files (migrations/086_partner_updates.sql):
// each file judged and recorded whole, with its audit entry, in one
// transaction; per-batch counts for the auditors' page and the report;
// each booklet's status by order reference for the public status page.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
)

var _ reconcile.UpdatesStore = (*Ledger)(nil)

// PartnerUpdatesAccepted is the audit entry of an accepted updates file:
// its name, SHA-256, counts and signature; never a row (the rows are in
// order_updates, the file's SHA-256 vouches for them).
const PartnerUpdatesAccepted audit.Kind = "partner_updates_accepted"

const selectUpdatesFile = `SELECT file_name, file_sha256, batch_id, accepted, reason, dispatched, returned,
	coalesce(signer, ''), coalesce(signature_sha256, ''), received_at FROM partner_update_files`

func scanUpdatesFile(row pgx.Row) (reconcile.UpdatesOutcome, error) {
	var o reconcile.UpdatesOutcome
	err := row.Scan(&o.FileName, &o.FileSHA256, &o.BatchID, &o.Accepted, &o.Reason, &o.Dispatched, &o.Returned,
		&o.Signer, &o.SignatureSHA256, &o.ReceivedAt)
	o.ReceivedAt = o.ReceivedAt.UTC()
	return o, err
}

// RecordUpdates implements reconcile.UpdatesStore.
func (l *Ledger) RecordUpdates(ctx context.Context, f reconcile.File, batchID string, refs []string, now time.Time,
	judge func(*reconcile.Batch, map[string]reconcile.OrderInfo, map[reconcile.UpdateKey]reconcile.PriorUpdate) reconcile.UpdatesOutcome) (out reconcile.UpdatesOutcome, dup bool, err error) {
	err = pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error {
		// The reconciliation lock: a daily run and a check-now never judge
		// the same file, or two files about the same booklet, at once.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		// As for confirmations (ledger.go Record): an accepted record of
		// the bytes, or one with the same signature (migrations/088).
		prev, err := scanUpdatesFile(tx.QueryRow(ctx, selectUpdatesFile+` WHERE file_name = $1 AND file_sha256 = $2
			AND (accepted OR coalesce(signature_sha256, '') = $3) ORDER BY accepted DESC, file_id DESC LIMIT 1`, f.Name, f.SHA256, f.Sig.SHA256))
		if err == nil {
			out, dup = prev, true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("look for earlier record: %w", err)
		}
		var batch *reconcile.Batch
		b, err := scanReconcileBatch(tx.QueryRow(ctx, selectBatch+" WHERE batch_id = $1", batchID))
		switch {
		case err == nil:
			batch = &b
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("read batch %s: %w", batchID, err)
		}
		orders := map[string]reconcile.OrderInfo{}
		prior := map[reconcile.UpdateKey]reconcile.PriorUpdate{}
		if len(refs) > 0 {
			rows, err := tx.Query(ctx, `SELECT reference, coalesce(batch_id, ''), formats FROM orders_with_batch WHERE reference = ANY($1)`, refs)
			if err != nil {
				return fmt.Errorf("read orders: %w", err)
			}
			for rows.Next() {
				var ref string
				var o reconcile.OrderInfo
				if err := rows.Scan(&ref, &o.BatchID, &o.Formats); err != nil {
					rows.Close()
					return fmt.Errorf("read orders: %w", err)
				}
				orders[ref] = o
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read orders: %w", err)
			}
			rows, err = tx.Query(ctx, `SELECT u.reference, u.format, u.status, u.on_date, coalesce(u.return_reason, ''), f.file_name
				FROM order_updates u JOIN partner_update_files f USING (file_id) WHERE u.reference = ANY($1)`, refs)
			if err != nil {
				return fmt.Errorf("read recorded statuses: %w", err)
			}
			for rows.Next() {
				var k reconcile.UpdateKey
				var p reconcile.PriorUpdate
				if err := rows.Scan(&k.Reference, &k.Format, &k.Status, &p.Date, &p.Reason, &p.File); err != nil {
					rows.Close()
					return fmt.Errorf("read recorded statuses: %w", err)
				}
				prior[k] = p
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read recorded statuses: %w", err)
			}
		}
		out = judge(batch, orders, prior)
		var signer, sigSHA *string
		if out.Signer != "" {
			signer = &out.Signer
		}
		if out.SignatureSHA256 != "" {
			sigSHA = &out.SignatureSHA256
		}
		var id int64
		err = tx.QueryRow(ctx, `INSERT INTO partner_update_files
			(file_name, file_sha256, batch_id, accepted, reason, dispatched, returned, signer, signature_sha256, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING file_id`,
			storable(out.FileName), out.FileSHA256, batchID, out.Accepted, storable(out.Reason), out.Dispatched, out.Returned,
			signer, sigSHA, out.ReceivedAt).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert updates file: %w", err)
		}
		if !out.Accepted {
			// The reason file tells the partner, the log tells us; a
			// rejected file changes no booklet's status, so it is not an
			// audit event.
			return nil
		}
		rows := make([][]any, 0, len(out.New))
		for _, r := range out.New {
			var reason *string
			if r.Status == reconcile.Returned {
				reason = &r.Reason
			}
			rows = append(rows, []any{r.Reference, r.Format, r.Status, batchID, r.Date, reason, id})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"order_updates"},
			[]string{"reference", "format", "status", "batch_id", "on_date", "return_reason", "file_id"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("insert statuses: %w", err)
		}
		details := map[string]any{"file": out.FileName, "file_sha256": out.FileSHA256, "rows": len(out.Rows),
			"new_rows": len(out.New), "dispatched": out.Dispatched, "returned": out.Returned}
		if out.SignatureSHA256 != "" {
			details["signature_sha256"] = out.SignatureSHA256
		}
		if out.Signer != "" {
			details["signer"] = out.Signer
		} else {
			details["unsigned"] = true
		}
		_, err = AuditAppender{Now: func() time.Time { return now }}.Append(ctx, tx, audit.Event{Kind: PartnerUpdatesAccepted, BatchID: batchID, Details: details})
		return err
	})
	if err != nil {
		return reconcile.UpdatesOutcome{}, false, fmt.Errorf("ledger: record updates file %s: %w", f.Name, err)
	}
	return out, dup, nil
}

// updateCounts adds each batch's dispatched and returned booklets to its
// state.
func (l *Ledger) updateCounts(ctx context.Context, states []reconcile.State, ids []string, index map[string]int) error {
	rows, err := l.db.Query(ctx, `SELECT batch_id, count(*) FILTER (WHERE status = 'dispatched'), count(*) FILTER (WHERE status = 'returned')
		FROM order_updates WHERE batch_id = ANY($1) GROUP BY batch_id`, ids)
	if err != nil {
		return fmt.Errorf("ledger: read dispatch and returns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var d, r int
		if err := rows.Scan(&id, &d, &r); err != nil {
			return fmt.Errorf("ledger: read dispatch and returns: %w", err)
		}
		s := &states[index[id]]
		s.Dispatched, s.Returned = d, r
	}
	return rows.Err()
}

// OrderStatuses tells what the partner reported about each booklet of the
// order with the canonical reference ref: one per format it reported on,
// by format name; none when nothing is reported (or there is no such
// order). For the public status page (issue 17): a returned booklet is
// not sent again, the person is told to order again.
func (l *Ledger) OrderStatuses(ctx context.Context, ref string) ([]reconcile.OrderStatus, error) {
	rows, err := l.db.Query(ctx, `SELECT format, batch_id, status, on_date, coalesce(return_reason, '')
		FROM order_updates WHERE reference = $1 ORDER BY format, status`, ref)
	if err != nil {
		return nil, fmt.Errorf("ledger: read an order's dispatch and returns: %w", err)
	}
	type row struct {
		format, batch, status, reason string
		on                            time.Time
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.format, &x.batch, &x.status, &x.on, &x.reason)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: read an order's dispatch and returns: %w", err)
	}
	var out []reconcile.OrderStatus
	byFormat := map[string]int{}
	for _, x := range got {
		i, ok := byFormat[x.format]
		if !ok {
			i = len(out)
			byFormat[x.format] = i
			out = append(out, reconcile.OrderStatus{Format: x.format, BatchID: x.batch, Status: reconcile.Dispatched})
		}
		s := &out[i]
		switch x.status {
		case reconcile.Dispatched:
			s.DispatchedOn = x.on
		case reconcile.Returned:
			s.Status, s.ReturnedOn, s.ReturnReason = reconcile.Returned, x.on, x.reason
		}
	}
	return out, nil
}

// RejectedUpdates lists the newest dispatch and returns files rejected
// (with the reason the partner was given), for the auditors' page; limit
// 0 is all.
func (l *Ledger) RejectedUpdates(ctx context.Context, limit int) ([]reconcile.UpdatesOutcome, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := l.db.Query(ctx, selectUpdatesFile+` WHERE NOT accepted ORDER BY received_at DESC, file_id DESC LIMIT $1`, lim)
	if err != nil {
		return nil, fmt.Errorf("ledger: read rejected updates files: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (reconcile.UpdatesOutcome, error) { return scanUpdatesFile(row) })
	if err != nil {
		return nil, fmt.Errorf("ledger: read rejected updates files: %w", err)
	}
	return out, nil
}
