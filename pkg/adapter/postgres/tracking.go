package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/trackorder"
)

var _ trackorder.Store = (*Orders)(nil)

// Track implements trackorder.Store: what is known of the order with the
// canonical reference ref, none of it personal (no area, no formats): its
// times, its batch (batchOf: the batch whose dates cover it), the batch's
// accepted deletion confirmation and what the partner reported of each
// booklet (Ledger.OrderStatuses). ErrNotFound if there is no such order.
func (s *Orders) Track(ctx context.Context, ref string) (trackorder.Facts, error) {
	var (
		f                         trackorder.Facts
		date                      time.Time
		erased                    *time.Time
		batch, state              *string
		uploaded, sent, confirmed *time.Time
		due                       *time.Time
	)
	err := s.pool.QueryRow(ctx, `
		SELECT o.order_id::text, o.reference, o.received_at, o.business_date, o.erased_at,
			b.batch_id, b.state, b.uploaded_at, b.sent_at, b.due_date,
			(SELECT coalesce(c.deleted_at, c.received_at) FROM confirmations c WHERE c.batch_id = b.batch_id AND c.accepted)
		FROM orders o
		LEFT JOIN batches b ON b.batch_id = `+batchOf+`
		WHERE o.reference = $1`, ref).Scan(&f.OrderID, &f.Reference, &f.ReceivedAt, &date, &erased,
		&batch, &state, &uploaded, &sent, &due, &confirmed)
	if errors.Is(err, pgx.ErrNoRows) {
		return trackorder.Facts{}, fmt.Errorf("order %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return trackorder.Facts{}, fmt.Errorf("track order %s: %w", ref, dbErr(err))
	}
	f.BusinessDate = businessday.FromTime(date)
	f.ErasedAt = derefTime(erased)
	f.Batch = trackorder.Batch{ID: derefString(batch), State: derefString(state),
		UploadedAt: derefTime(uploaded), SentAt: derefTime(sent)}
	if due != nil {
		f.Batch.DueDate = businessday.FromTime(*due)
	}
	f.ConfirmedAt = derefTime(confirmed)
	if f.Batch.ID == "" {
		return f, nil // nothing reported before it is sent
	}
	reported, err := NewLedger(s.pool).OrderStatuses(ctx, f.Reference)
	if err != nil {
		return trackorder.Facts{}, fmt.Errorf("track order %s: %w", ref, err)
	}
	for _, r := range reported {
		var b trackorder.Booklet
		if !r.DispatchedOn.IsZero() {
			b.DispatchedOn = businessday.FromTime(r.DispatchedOn)
		}
		if !r.ReturnedOn.IsZero() {
			b.ReturnedOn = businessday.FromTime(r.ReturnedOn)
		}
		f.Booklets = append(f.Booklets, b)
	}
	return f, nil
}

// CancelOrder implements trackorder.Store: the person's cancellation is
// an erasure (erasePersonal, as `batcher order erase`) recorded as
// "order_cancelled".
func (s *Orders) CancelOrder(ctx context.Context, orderID, ref string) error {
	return s.erasePersonal(ctx, orderID, ref, audit.OrderCancelled, "cancel")
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
