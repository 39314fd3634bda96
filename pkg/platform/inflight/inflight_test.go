package inflight_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"booklets/pkg/platform/inflight"
)

type key struct{}

// A job that finishes within the timeout is waited for, not cancelled, even
// though the service's own context is already done.
func TestStopWaitsForAJobThatFinishes(t *testing.T) {
	parent, stopService := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	jobs := inflight.New(parent)
	release := make(chan struct{})
	var jobErr error
	var value any
	started := make(chan struct{})
	go func() {
		defer jobs.Begin()()
		close(started)
		<-release
		jobErr = jobs.Context().Err()
		value = jobs.Context().Value(key{})
	}()
	<-started
	stopService() // the signal
	stopNewCalled := false
	go func() { time.Sleep(20 * time.Millisecond); close(release) }()
	if !jobs.Stop(time.Minute, func() { stopNewCalled = true }, func() { t.Error("cancelling a job that finished") }) {
		t.Fatal("Stop says the job did not finish in time")
	}
	if !stopNewCalled {
		t.Error("Stop did not stop new jobs")
	}
	if jobErr != nil {
		t.Errorf("the job's context was done while it ran: %v", jobErr)
	}
	if value != "v" {
		t.Errorf("the job's context lost the service context's values: %v", value)
	}
	if jobs.Context().Err() == nil {
		t.Error("the jobs' context is still live after Stop")
	}
}

// A job still running at the timeout is cancelled, and Stop returns only
// once it has returned.
func TestStopCancelsAJobPastTheTimeout(t *testing.T) {
	jobs := inflight.New(context.Background())
	returned := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		defer jobs.Begin()()
		close(started)
		<-jobs.Context().Done()
		time.Sleep(10 * time.Millisecond) // cleaning up after the cancel
		returned <- jobs.Context().Err()
	}()
	<-started
	cancelling := false
	if jobs.Stop(10*time.Millisecond, func() {}, func() { cancelling = true }) {
		t.Fatal("Stop says a job that never ends finished in time")
	}
	if !cancelling {
		t.Error("Stop cancelled the job without saying so first")
	}
	select {
	case err := <-returned:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("job ended with %v, want context.Canceled", err)
		}
	default:
		t.Error("Stop returned before the cancelled job did")
	}
}

// With nothing running, Stop returns at once.
func TestStopWithNothingRunning(t *testing.T) {
	jobs := inflight.New(context.Background())
	if !jobs.Stop(time.Minute, func() {}, nil) {
		t.Error("nothing was running, yet Stop says it did not finish in time")
	}
}

// Cancel ends the jobs' context at once, for a service that stops before
// it could call Stop.
func TestCancel(t *testing.T) {
	jobs := inflight.New(context.Background())
	jobs.Cancel()
	if !errors.Is(jobs.Context().Err(), context.Canceled) {
		t.Errorf("context after Cancel: %v", jobs.Context().Err())
	}
}
