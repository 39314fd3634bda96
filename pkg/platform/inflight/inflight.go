// Package inflight lets a service's scheduled jobs (the batcher's end of
// day, the reconciler's check) outlive the signal that stops the service,
// for a while: on SIGTERM no new job starts, the one in progress may finish
// within a timeout, and past it the job is cancelled and waited for. Jobs
// are written to be cancelled at any point and repeated by the next run, so
// cancelling is safe; finishing is better.
package inflight

import (
	"context"
	"sync"
	"time"
)

// Jobs tracks the jobs in progress and gives them their context.
type Jobs struct {
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// New returns Jobs whose context carries parent's values but is not
// cancelled with it: only Stop cancels it.
func New(parent context.Context) *Jobs {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &Jobs{ctx: ctx, cancel: cancel}
}

// Cancel cancels the jobs' context at once, without waiting: for the
// paths that return before Stop (defer it right after New).
func (j *Jobs) Cancel() { j.cancel() }

// Context is the context jobs run with.
func (j *Jobs) Context() context.Context { return j.ctx }

// Begin marks a job as in progress; the job calls the function returned
// when it ends.
func (j *Jobs) Begin() (end func()) {
	j.running.Add(1)
	return j.running.Done
}

// Stop calls stopNew (which must keep new jobs from starting, and may wait
// for what it needs to), then waits for the jobs in progress for up to
// timeout. Past the timeout it calls cancelling (if not nil: to say so in
// the log before the job's own errors), cancels them and waits for them to
// return. It reports whether they finished in time. The context is
// cancelled when Stop returns either way.
func (j *Jobs) Stop(timeout time.Duration, stopNew, cancelling func()) (inTime bool) {
	defer j.cancel()
	stopped := make(chan struct{})
	go func() {
		stopNew()
		j.running.Wait()
		close(stopped)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-stopped:
		return true
	case <-timer.C:
		if cancelling != nil {
			cancelling()
		}
		j.cancel()
		<-stopped
		return false
	}
}
