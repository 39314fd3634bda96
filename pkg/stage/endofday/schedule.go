package endofday

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
)

// The runs of the end of day other than the one at the cut-off, as plain
// functions: the service schedules them (services/batcher/schedule.go).

// CatchUp is the end-of-day work as a plain function for a job that runs
// often rather than once a day (demo mode, where a day lasts seconds): it
// sends, oldest first, every closed business day whose batch has not been
// sent, from the day after the last batch sent (at most a week back) to the
// day that closed last; with no batch ever sent, only the day that closed
// last (days before the service existed get no empty batches). It sends
// nothing while ready reports that orders received before the cut-off may
// still be on their way from the stream, so that a closed day's batch does
// not go out without them.
type CatchUp struct {
	Cutoff   businessday.Cutoff
	Now      func() time.Time
	LastSent func(context.Context) (businessday.Date, bool, error)
	Ready    func(context.Context) (bool, error) // nil: always ready
	Send     func(context.Context, businessday.Date) (Result, error)
	Log      zerolog.Logger
}

// Run sends what is due; it returns the first error, leaving later days to
// the next run.
func (c CatchUp) Run(ctx context.Context) error {
	last := c.Cutoff.LastClosed(c.Now())
	from := last.AddDays(-6)
	sent, ok, err := c.LastSent(ctx)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		from = last
	case !sent.Before(from):
		from = sent.AddDays(1)
	}
	if from.After(last) {
		return nil // nothing closed since the last batch
	}
	if c.Ready != nil {
		ready, err := c.Ready(ctx)
		if err != nil {
			return err
		}
		if !ready {
			c.Log.Debug().Msg("orders are still arriving from the stream; sending on the next run")
			return nil
		}
	}
	for d := from; !d.After(last); d = d.AddDays(1) {
		res, err := c.Send(ctx, d)
		if err != nil {
			return err
		}
		if res.Skipped {
			return nil // another instance is sending
		}
	}
	return nil
}

// Retry makes sure that a closed day whose batch failed to go (the partner
// down at the cut-off, a crash, a restart) does not wait for the next
// cut-off with its personal data: run at start-up and then every
// SEND_RETRY_INTERVAL, it sends the day that closed last whenever anything
// of a closed day is still unsent (Pending: store.Unsent). One send covers
// every closed day: SendBatch first finishes unfinished batches of earlier
// days, and the batch of the day that closed last takes every earlier
// order in no batch yet. A closed day with nothing to send is left to the
// end-of-day job. A failure raises the same alert as the end-of-day job
// (batch_not_sent, logged by SendBatch) and is tried again on the next
// run.
type Retry struct {
	Cutoff  businessday.Cutoff
	Now     func() time.Time
	Pending func(ctx context.Context, closed businessday.Date) (bool, error)
	Send    func(context.Context, businessday.Date) (Result, error)
	Log     zerolog.Logger
}

// Run sends the day that closed last if anything of a closed day is unsent.
func (r Retry) Run(ctx context.Context) error {
	last := r.Cutoff.LastClosed(r.Now())
	pending, err := r.Pending(ctx, last)
	if err != nil || !pending {
		return err
	}
	r.Log.Warn().Str("business_date", last.String()).Msg("a closed day is not sent yet: sending it now")
	_, err = r.Send(ctx, last)
	return err
}
