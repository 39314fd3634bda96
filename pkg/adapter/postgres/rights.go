package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/endofday"
)

// Why an operator may not look at, correct or erase an order any more, nor
// the person cancel it: the end-of-day stage's, which both the operator's
// commands and pkg/stage/trackorder tell apart.
var (
	// ErrAlreadySent: the order is in a batch (being sent or sent); its
	// data is with the partner, or about to be.
	ErrAlreadySent = endofday.ErrAlreadySent
	// ErrErased: the order's personal data was erased on request or
	// cancelled by the person.
	ErrErased = endofday.ErrErased
)

// HeldOrder is one order as the operator commands find it: its facts and,
// until it is sent or erased, its sealed personal part.
type HeldOrder = endofday.HeldOrder

// unsent reports why the order can no longer be shown, corrected or
// erased, or nil.
func unsent(h HeldOrder) error {
	switch {
	case h.Erased:
		return fmt.Errorf("order %s: %w", h.Reference, ErrErased)
	case h.BatchID != "" || h.Personal == nil:
		return fmt.Errorf("order %s (batch %s): %w", h.Reference, h.BatchID, ErrAlreadySent)
	}
	return nil
}

// FindUnsent implements endofday.RightsStore: FindOrder, refused with
// ErrAlreadySent or ErrErased once the order's personal data is gone.
func (s *Orders) FindUnsent(ctx context.Context, ref string) (HeldOrder, error) {
	h, err := s.FindOrder(ctx, ref)
	if err != nil {
		return HeldOrder{}, err
	}
	if err := unsent(h); err != nil {
		return HeldOrder{}, err
	}
	return h, nil
}

// FindOrder returns the order with a reference, or ErrNotFound.
func (s *Orders) FindOrder(ctx context.Context, ref string) (HeldOrder, error) {
	var (
		h         HeldOrder
		formats   []string
		languages []string
		date      time.Time
		batch     *string
		erased    *time.Time
	)
	err := s.pool.QueryRow(ctx, `
		SELECT o.order_id::text, o.reference, o.business_date, o.received_at, o.area, o.formats, o.languages, `+batchOf+`, o.erased_at, p.data
		FROM orders o LEFT JOIN order_personal p ON p.order_id = o.order_id
		WHERE o.reference = $1`, ref).Scan(&h.OrderID, &h.Reference, &date, &h.ReceivedAt, &h.Area, &formats, &languages, &batch, &erased, &h.Personal)
	if errors.Is(err, pgx.ErrNoRows) {
		return HeldOrder{}, fmt.Errorf("order %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return HeldOrder{}, fmt.Errorf("find order %s: %w", ref, dbErr(err))
	}
	h.BusinessDate = businessday.FromTime(date)
	for _, f := range formats {
		h.Formats = append(h.Formats, order.Format(f))
	}
	for _, l := range languages {
		h.Languages = append(h.Languages, order.Language(l))
	}
	if batch != nil {
		h.BatchID = *batch
	}
	h.Erased = erased != nil
	return h, nil
}

// batchOf is the id of the batch that holds order o (NULL if none): the
// batch whose date range covers its business date (Assemble). An erased
// order is in no batch.
const batchOf = `(SELECT b.batch_id FROM batches b WHERE o.erased_at IS NULL
	AND o.business_date BETWEEN ` + batchFirstDate + ` AND b.business_date)`

// lockUnsent locks an order for a change by an operator and checks, under
// the lock that assembling takes too, that it is still in no batch and not
// erased.
func lockUnsent(ctx context.Context, tx pgx.Tx, orderID, ref string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, assembleLockKey); err != nil {
		return err
	}
	var batch *string
	var erased *time.Time
	err := tx.QueryRow(ctx, `SELECT `+batchOf+`, o.erased_at FROM orders o WHERE o.order_id = $1 FOR UPDATE OF o`,
		orderID).Scan(&batch, &erased)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("order %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return err
	}
	return unsent(HeldOrder{Reference: ref, BatchID: derefString(batch), Erased: erased != nil, Personal: []byte{}})
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// RecordViewed records in the audit log that an operator displayed an
// order's personal data (the reference only).
func (s *Orders) RecordViewed(ctx context.Context, ref string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := AuditAppender{Now: s.now}.Append(ctx, tx, audit.Event{Kind: audit.OrderViewed,
			Details: map[string]any{"reference": ref}})
		return err
	})
	if err != nil {
		return fmt.Errorf("record viewing order %s: %w", ref, dbErr(err))
	}
	return nil
}

// CorrectPersonal replaces an unsent order's sealed personal part and
// records "order_corrected" with the names of the fields changed (never
// their values), in one transaction.
func (s *Orders) CorrectPersonal(ctx context.Context, orderID, ref string, sealed []byte, fields []string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUnsent(ctx, tx, orderID, ref); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE order_personal SET data = $2 WHERE order_id = $1`, orderID, sealed); err != nil {
			return err
		}
		_, err := AuditAppender{Now: s.now}.Append(ctx, tx, audit.Event{Kind: audit.OrderCorrected,
			Details: map[string]any{"reference": ref, "fields": fields}})
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadySent) || errors.Is(err, ErrErased) {
		return err
	}
	if err != nil {
		return fmt.Errorf("correct order %s: %w", ref, dbErr(err))
	}
	return nil
}

// ErasePersonal deletes an unsent order's personal part and marks it
// erased, so that no batch includes it, and records "order_erased", in one
// transaction. The non-personal facts stay.
func (s *Orders) ErasePersonal(ctx context.Context, orderID, ref string) error {
	return s.erasePersonal(ctx, orderID, ref, audit.OrderErased, "erase")
}

// erasePersonal deletes an unsent order's personal part, marks it erased
// (erased_at: assembling leaves it out) and appends an audit entry of kind
// with the reference only, in one transaction under the assemble lock
// (lockUnsent). An operator's erasure (ErasePersonal) and the person's
// cancellation (CancelOrder) differ only in the entry; verb names the step
// in an error.
func (s *Orders) erasePersonal(ctx context.Context, orderID, ref string, kind audit.Kind, verb string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUnsent(ctx, tx, orderID, ref); err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `DELETE FROM order_personal WHERE order_id = $1`, orderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET erased_at = $2 WHERE order_id = $1`, orderID, now); err != nil {
			return err
		}
		_, err := AuditAppender{Now: s.now}.Append(ctx, tx, audit.Event{Kind: kind,
			Details: map[string]any{"reference": ref}})
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadySent) || errors.Is(err, ErrErased) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s order %s: %w", verb, ref, dbErr(err))
	}
	return nil
}

// HeldItem is one piece of personal data held (view personal_data_held):
// an order (Item is its reference) or a dead letter (its stream sequence).
type HeldItem = endofday.HeldItem

// PersonalDataHeld lists every piece of personal data held, oldest first.
func (s *Orders) PersonalDataHeld(ctx context.Context) ([]HeldItem, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, item, business_date, received_at FROM personal_data_held
		ORDER BY business_date, received_at`)
	if err != nil {
		return nil, fmt.Errorf("list personal data held: %w", dbErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HeldItem, error) {
		var h HeldItem
		var d time.Time
		err := r.Scan(&h.Kind, &h.Item, &d, &h.ReceivedAt)
		h.BusinessDate = businessday.FromTime(d)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("list personal data held: %w", dbErr(err))
	}
	return items, nil
}

// RetentionCheck is the retention watchdog's finding.
type RetentionCheck = endofday.RetentionCheck

// SaveRetentionCheck keeps the watchdog's last finding for the auditors'
// page (table retention_check).
func (s *Orders) SaveRetentionCheck(ctx context.Context, c RetentionCheck) error {
	var oldest *time.Time
	if !c.OldestOverdueAt.IsZero() {
		oldest = &c.OldestOverdueAt
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO retention_check (id, checked_at, held, overdue, oldest_overdue_at, grace_seconds)
		VALUES (1, $1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at, held = EXCLUDED.held,
			overdue = EXCLUDED.overdue, oldest_overdue_at = EXCLUDED.oldest_overdue_at, grace_seconds = EXCLUDED.grace_seconds`,
		c.CheckedAt, c.Held, c.Overdue, oldest, int(c.Grace.Seconds()))
	if err != nil {
		return fmt.Errorf("save retention check: %w", dbErr(err))
	}
	return nil
}
