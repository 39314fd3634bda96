package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/stage/endofday"
)

// The job runs at 23:00 London time every day, whichever side of a clock
// change, and sends the day that has just closed.
func TestEndOfDayAcrossClockChanges(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		start time.Time
		want  []time.Time // UTC
		dates []string
	}{
		{
			name:  "March",
			start: time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC),
			want: []time.Time{
				time.Date(2026, 3, 27, 23, 0, 0, 0, time.UTC), // GMT
				time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC),
				time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC), // BST from 29 March
				time.Date(2026, 3, 30, 22, 0, 0, 0, time.UTC),
			},
			dates: []string{"2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"},
		},
		{
			name:  "October",
			start: time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC),
			want: []time.Time{
				time.Date(2026, 10, 23, 22, 0, 0, 0, time.UTC), // BST
				time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC),
				time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC), // GMT from 25 October
				time.Date(2026, 10, 26, 23, 0, 0, 0, time.UTC),
			},
			dates: []string{"2026-10-23", "2026-10-24", "2026-10-25", "2026-10-26"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := clockwork.NewFakeClockAt(tt.start)
			s, err := NewScheduler(clock)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var sent []string
			ran := make(chan struct{}, 10)
			job, err := ScheduleEndOfDay(ctx, s, businessday.DefaultCutoff, clock.Now,
				func(_ context.Context, d businessday.Date) (endofday.Result, error) {
					mu.Lock()
					sent = append(sent, d.String())
					mu.Unlock()
					ran <- struct{}{}
					return endofday.Result{}, nil
				}, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			s.Start()
			defer s.Shutdown()
			next, err := job.NextRuns(len(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				if !next[i].Equal(w) {
					t.Errorf("run %d at %s, want %s", i, next[i].UTC(), w)
				}
			}
			// Fire the runs on the fake clock and see which day each sends.
			for i, w := range tt.want {
				// Advance only once the scheduler has planned this run: after
				// a run, the fake clock may still count the old timer as its
				// waiter, and an advance made before the new timer exists
				// would carry the clock past the run it was meant to fire.
				waitNextRun(t, job, w)
				if err := clock.BlockUntilContext(ctx, 1); err != nil {
					t.Fatal(err)
				}
				// A moment past the due time, as a real clock would be when the
				// job reads it.
				clock.Advance(w.Sub(clock.Now()) + time.Second)
				select {
				case <-ran:
				case <-time.After(10 * time.Second):
					t.Fatalf("run %d did not happen", i)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for i, d := range tt.dates {
				if i >= len(sent) || sent[i] != d {
					t.Fatalf("sent %v, want %v", sent, tt.dates)
				}
			}
		})
	}
}

// waitNextRun waits until the scheduler reports want as the job's next
// run. The limit only stops a hang.
func waitNextRun(t *testing.T, job gocron.Job, want time.Time) {
	t.Helper()
	limit := time.Now().Add(10 * time.Second)
	for {
		next, err := job.NextRun()
		if err == nil && next.Equal(want) {
			return
		}
		if time.Now().After(limit) {
			t.Fatalf("the next run is %s (%v), want %s", next.UTC(), err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
