// Package eventually waits in tests for something that happens in the
// background: a server that becomes ready, a file that appears, a replica
// that catches up. It replaces the loops of "check, sleep a fixed time,
// check again" that each test wrote for itself: it checks again at once
// after a short pause that grows (1 ms, 2 ms, ... up to 100 ms), so a
// fast machine does not wait for nothing and a slow one is not hammered,
// and when time is up it fails the test saying what it waited for and the
// last reason the check gave.
//
// It is for tests only: production code never imports pkg/testkit.
package eventually

import (
	"context"
	"errors"
	"time"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

const (
	firstPause = time.Millisecond
	maxPause   = 100 * time.Millisecond
)

// Until calls check until it returns nil. If ctx ends first, it fails the
// test with what (the condition waited for, e.g. "the stream has a
// leader") and the last error check returned. check gets ctx, to bound any
// call it makes. Like t.Fatalf, call it from the test's goroutine.
func Until(ctx context.Context, t TB, what string, check func(ctx context.Context) error) {
	t.Helper()
	if err := poll(ctx, check); err != nil {
		t.Fatalf("eventually: %s: gave up (%v); last check: %v", what, context.Cause(ctx), err)
	}
}

// Within is Until with a time limit instead of a context.
func Within(t TB, limit time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := poll(ctx, check); err != nil {
		t.Fatalf("eventually: %s: not within %v; last check: %v", what, limit, err)
	}
}

// poll returns nil once check does or, when ctx ends, the last error check
// gave.
func poll(ctx context.Context, check func(ctx context.Context) error) error {
	last := errors.New("not checked: the context had already ended")
	for pause := firstPause; ctx.Err() == nil; pause = min(2*pause, maxPause) {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	return last
}
