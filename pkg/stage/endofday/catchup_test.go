package endofday

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
)

// The demo mode's catch-up sends every closed day since the last batch
// sent, oldest first, at most a week back; only the last closed day on a
// fresh database; nothing while orders are still arriving.
func TestCatchUpSendsEveryClosedDayNotSent(t *testing.T) {
	t.Parallel()
	cut, err := businessday.ParseCutoff("23:00")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 12, 12, 0, 0, 0, time.UTC) // 11 March closed last
	d := func(day int) businessday.Date { return businessday.Date{Year: 2026, Month: time.March, Day: day} }
	for _, c := range []struct {
		name   string
		last   businessday.Date
		ok     bool
		ready  bool
		expect []businessday.Date
	}{
		{"two days behind", d(9), true, true, []businessday.Date{d(10), d(11)}},
		{"up to date", d(11), true, true, nil},
		{"fresh database", businessday.Date{}, false, true, []businessday.Date{d(11)}},
		{"long gap", d(1), true, true, []businessday.Date{d(5), d(6), d(7), d(8), d(9), d(10), d(11)}},
		{"orders still arriving", d(9), true, false, nil},
	} {
		var sent []businessday.Date
		c := c
		err := CatchUp{
			Cutoff:   cut,
			Now:      func() time.Time { return now },
			LastSent: func(context.Context) (businessday.Date, bool, error) { return c.last, c.ok, nil },
			Ready:    func(context.Context) (bool, error) { return c.ready, nil },
			Send: func(_ context.Context, day businessday.Date) (Result, error) {
				sent = append(sent, day)
				return Result{}, nil
			},
			Log: zerolog.Nop(),
		}.Run(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(sent, c.expect) {
			t.Errorf("%s: sent %v, want %v", c.name, sent, c.expect)
		}
	}
}
