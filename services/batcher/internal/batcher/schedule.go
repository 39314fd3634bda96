package batcher

import (
	"context"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
)

// NewScheduler returns a gocron scheduler on London time. clock is nil in
// production; tests pass a fake one.
func NewScheduler(clock clockwork.Clock) (gocron.Scheduler, error) {
	opts := []gocron.SchedulerOption{gocron.WithLocation(businessday.London())}
	if clock != nil {
		opts = append(opts, gocron.WithClock(clock))
	}
	s, err := gocron.NewScheduler(opts...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return s, nil
}

// ScheduleEndOfDay adds the end-of-day job: every day at the cut-off,
// London wall-clock time (so at 23:00 UTC in winter and 22:00 UTC in
// summer), it sends the business day that has just closed. A run that is
// still going when the next is due is not doubled (singleton mode), and
// replicas are kept apart by SendBatch's own lock.
func ScheduleEndOfDay(ctx context.Context, s gocron.Scheduler, cutoff businessday.Cutoff, now func() time.Time,
	send func(context.Context, businessday.Date) (Result, error), log zerolog.Logger) (gocron.Job, error) {
	job, err := s.NewJob(
		gocron.DailyJob(1, gocron.NewAtTimes(gocron.NewAtTime(uint(cutoff.Hour), uint(cutoff.Minute), 0))),
		gocron.NewTask(func() {
			date := cutoff.LastClosed(now())
			if _, err := send(ctx, date); err != nil {
				// SendBatch has logged the alert with the batch id.
				log.Error().Err(err).Str("business_date", date.String()).Msg("end-of-day job failed")
			}
		}),
		gocron.WithName("end-of-day batch"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithContext(ctx),
	)
	if err != nil {
		return nil, fmt.Errorf("schedule the end-of-day job at %s: %w", cutoff, err)
	}
	return job, nil
}

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

// ScheduleCatchUp adds a job running c every interval (in demo mode a
// simulated hour), never two at once.
func ScheduleCatchUp(ctx context.Context, s gocron.Scheduler, every time.Duration, c CatchUp) (gocron.Job, error) {
	job, err := s.NewJob(
		gocron.DurationJob(every),
		gocron.NewTask(func() {
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				c.Log.Error().Err(err).Msg("end-of-day catch-up failed; retrying on the next run")
			}
		}),
		gocron.WithName("end-of-day catch-up"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithContext(ctx),
	)
	if err != nil {
		return nil, fmt.Errorf("schedule the end-of-day catch-up every %s: %w", every, err)
	}
	return job, nil
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

// ScheduleRetry adds the job running r at once (start-up) and then every
// interval, never two at once.
func ScheduleRetry(ctx context.Context, s gocron.Scheduler, every time.Duration, r Retry) (gocron.Job, error) {
	job, err := s.NewJob(
		gocron.DurationJob(every),
		gocron.NewTask(func() {
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				r.Log.Error().Err(err).Dur("retry_in", every).Msg("sending a closed day failed; retrying")
			}
		}),
		gocron.WithName("end-of-day retry"),
		gocron.WithStartAt(gocron.WithStartImmediately()),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithContext(ctx),
	)
	if err != nil {
		return nil, fmt.Errorf("schedule the end-of-day retry every %s: %w", every, err)
	}
	return job, nil
}
