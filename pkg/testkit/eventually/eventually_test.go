package eventually

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder stands in for *testing.T so that a failure can be checked
// instead of failing this test.
type recorder struct {
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestWithinReturnsOnceTheCheckPasses(t *testing.T) {
	var r recorder
	calls := 0
	start := time.Now()
	Within(&r, time.Minute, "the third call", func(context.Context) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if r.failed != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls", r.failed, calls)
	}
	// 1 ms then 2 ms of pauses: far below a fixed 100 ms poll.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("three checks took %v", d)
	}
}

func TestWithinFailsWithTheLastReason(t *testing.T) {
	var r recorder
	calls := 0
	Within(&r, 50*time.Millisecond, "the impossible", func(ctx context.Context) error {
		calls++
		if ctx.Err() != nil {
			t.Error("check called with an ended context")
		}
		return fmt.Errorf("still %d", calls)
	})
	if calls < 2 {
		t.Errorf("checked %d times in 50ms", calls)
	}
	for _, want := range []string{"the impossible", "not within 50ms", fmt.Sprintf("still %d", calls)} {
		if !strings.Contains(r.failed, want) {
			t.Errorf("failure %q does not say %q", r.failed, want)
		}
	}
}

func TestUntilStopsWithTheContext(t *testing.T) {
	var r recorder
	ctx, cancel := context.WithCancelCause(context.Background())
	calls := 0
	Until(ctx, &r, "the cancel", func(context.Context) error {
		calls++
		if calls == 4 {
			cancel(errors.New("shutting down"))
		}
		return errors.New("not yet")
	})
	if calls != 4 {
		t.Errorf("checked %d times, want 4 (none after the cancel)", calls)
	}
	for _, want := range []string{"the cancel", "shutting down", "not yet"} {
		if !strings.Contains(r.failed, want) {
			t.Errorf("failure %q does not say %q", r.failed, want)
		}
	}
}

func TestUntilWithAnEndedContextFails(t *testing.T) {
	var r recorder
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	Until(ctx, &r, "anything", func(context.Context) error { return nil })
	if !strings.Contains(r.failed, "not checked") {
		t.Errorf("failure = %q, want it to say the check never ran", r.failed)
	}
}

// The real *testing.T satisfies TB.
var _ TB = (*testing.T)(nil)
