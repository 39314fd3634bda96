package postgres

import (
	"context"
	"fmt"
	"time"

	"booklets/pkg/domain/businessday"
)

// Held is how much personal data the batcher holds: the orders whose
// personal part has not been deleted yet, and when the oldest of them was
// received (zero when there is none). It is what the promise "deleted at the
// end of the day" is watched by.
type Held struct {
	Orders int
	Oldest time.Time
}

// HeldPersonal counts the orders that still have their personal part.
func (s *Orders) HeldPersonal(ctx context.Context) (Held, error) {
	var (
		h      Held
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(received_at) FROM order_personal`).Scan(&h.Orders, &oldest)
	if err != nil {
		return Held{}, fmt.Errorf("count orders holding personal data: %w", dbErr(err))
	}
	if oldest != nil {
		h.Oldest = *oldest
	}
	return h, nil
}

// LastSent returns the business date of the latest batch sent; ok is false
// when none has been.
func (s *Orders) LastSent(ctx context.Context) (date businessday.Date, ok bool, err error) {
	var d *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(business_date) FROM batches WHERE state = 'sent'`).Scan(&d); err != nil {
		return businessday.Date{}, false, fmt.Errorf("latest batch sent: %w", dbErr(err))
	}
	if d == nil {
		return businessday.Date{}, false, nil
	}
	return businessday.FromTime(*d), true, nil
}
