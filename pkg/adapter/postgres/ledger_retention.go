package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LastRetentionCheck returns the batcher's last retention watchdog finding
// (table retention_check, docs/privacy.md): when it ran, how many items of
// personal data were held past their day's cut-off plus the grace, and
// when the oldest of them was received. A zero checkedAt means it never
// ran.
func (l *Ledger) LastRetentionCheck(ctx context.Context) (checkedAt time.Time, overdue int, oldest time.Time, err error) {
	var o *time.Time
	err = l.db.QueryRow(ctx, `SELECT checked_at, overdue, oldest_overdue_at FROM retention_check WHERE id = 1`).Scan(&checkedAt, &overdue, &o)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, 0, time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, 0, time.Time{}, fmt.Errorf("read retention check: %w", err)
	}
	if o != nil {
		oldest = *o
	}
	return checkedAt, overdue, oldest, nil
}
