package main

import (
	"context"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/stage/endofday"
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
	send func(context.Context, businessday.Date) (endofday.Result, error), log zerolog.Logger) (gocron.Job, error) {
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

// ScheduleCatchUp adds a job running c every interval (in demo mode a
// simulated hour), never two at once.
func ScheduleCatchUp(ctx context.Context, s gocron.Scheduler, every time.Duration, c endofday.CatchUp) (gocron.Job, error) {
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

// ScheduleRetry adds the job running r at once (start-up) and then every
// interval, never two at once.
func ScheduleRetry(ctx context.Context, s gocron.Scheduler, every time.Duration, r endofday.Retry) (gocron.Job, error) {
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

// ScheduleWatchdog runs Check every interval (15 minutes in production).
func ScheduleWatchdog(ctx context.Context, s gocron.Scheduler, every time.Duration, w endofday.Watchdog) (gocron.Job, error) {
	job, err := s.NewJob(gocron.DurationJob(every),
		gocron.NewTask(func() {
			if _, err := w.Check(ctx); err != nil {
				w.Log.Error().Err(err).Msg("retention check failed")
			}
		}),
		gocron.WithName("retention watchdog"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithContext(ctx),
	)
	if err != nil {
		return nil, fmt.Errorf("schedule the retention watchdog: %w", err)
	}
	return job, nil
}
