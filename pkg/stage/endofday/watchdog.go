package endofday

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
)

// Watchdog raises personal data held past its promise: the end of its
// business day (the cut-off) plus a grace (RETENTION_GRACE, default 2h, for
// the batch to be sent). Nothing is kept silently: an overdue item gives an
// error log line with "alert":"personal_data_overdue" (counts and
// references only), the gauges booklets_batcher_personal_data_overdue and
// ..._oldest_age_seconds, and the finding on the auditors' page.
type Watchdog struct {
	Store   RetentionStore
	Cutoff  businessday.Cutoff
	Grace   time.Duration
	Now     func() time.Time
	Log     zerolog.Logger
	Metrics Observer // nil: none
}

// Finding is what one check found.
type Finding struct {
	Held      int
	Overdue   []HeldItem    // oldest first
	OldestAge time.Duration // since the oldest overdue item was received
}

// Check is the watchdog's work as a plain function: gocron calls it every
// 15 minutes, the service at start-up, tests directly.
func (w Watchdog) Check(ctx context.Context) (Finding, error) {
	items, err := w.Store.PersonalDataHeld(ctx)
	if err != nil {
		return Finding{}, fmt.Errorf("retention check: %w", err)
	}
	now := w.Now()
	f := Finding{Held: len(items)}
	for _, it := range items {
		if now.After(w.Cutoff.Closes(it.BusinessDate).Add(w.Grace)) {
			f.Overdue = append(f.Overdue, it)
			f.OldestAge = max(f.OldestAge, now.Sub(it.ReceivedAt))
		}
	}
	check := RetentionCheck{CheckedAt: now, Held: f.Held, Overdue: len(f.Overdue), Grace: w.Grace}
	if len(f.Overdue) > 0 {
		check.OldestOverdueAt = now.Add(-f.OldestAge)
	}
	if err := w.Store.SaveRetentionCheck(ctx, check); err != nil {
		return f, err
	}
	if w.Metrics != nil {
		w.Metrics.RetentionChecked(len(f.Overdue), f.OldestAge)
	}
	if len(f.Overdue) == 0 {
		w.Log.Debug().Int("held", f.Held).Msg("retention check: no personal data overdue")
		return f, nil
	}
	orders, dead := 0, 0
	var refs []string
	for _, it := range f.Overdue {
		if it.Kind == "order" {
			orders++
		} else {
			dead++
		}
		if len(refs) < 20 {
			refs = append(refs, it.Item)
		}
	}
	w.Log.Error().Str("alert", "personal_data_overdue").Int("orders", orders).Int("dead_letters", dead).
		Strs("items", refs).Str("oldest_business_date", f.Overdue[0].BusinessDate.String()).
		Dur("oldest_age", f.OldestAge).Dur("grace", w.Grace).
		Msg("personal data held past its day's cut-off plus RETENTION_GRACE: send the batch (`batcher send-now`) or erase")
	return f, nil
}
