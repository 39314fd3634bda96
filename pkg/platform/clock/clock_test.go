package clock_test

import (
	"testing"
	"time"

	"booklets/pkg/platform/clock"
)

// manual is a base clock the test moves by hand.
type manual struct{ now time.Time }

func (m *manual) Now() time.Time          { return m.now }
func (m *manual) Advance(d time.Duration) { m.now = m.now.Add(d) }

func TestRealIsTheWallClock(t *testing.T) {
	t.Parallel()
	var c clock.Clock = clock.Real
	before := time.Now()
	got := c()
	if got.Before(before) || got.Sub(before) > time.Minute {
		t.Fatalf("Real() = %v, want close to %v", got, before)
	}
}

func TestAcceleratedCompressesADay(t *testing.T) {
	t.Parallel()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	base := &manual{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := time.Date(2030, 3, 4, 9, 0, 0, 0, london)
	c := clock.AcceleratedOn(base.Now, start, clock.DayFactor(20*time.Second))

	if got := c(); !got.Equal(start) {
		t.Fatalf("at creation: %v, want %v", got, start)
	}
	base.Advance(20 * time.Second)
	if got, want := c(), start.Add(24*time.Hour); !got.Equal(want) {
		t.Fatalf("after one demo day: %v, want %v", got, want)
	}
	base.Advance(10 * time.Second)
	if got, want := c(), start.Add(36*time.Hour); !got.Equal(want) {
		t.Fatalf("after one and a half demo days: %v, want %v", got, want)
	}
	if got := c().Location(); got != london {
		t.Fatalf("location %v, want the start's location", got)
	}
}

func TestAcceleratedWithBadFactorRunsAtNormalSpeed(t *testing.T) {
	t.Parallel()
	base := &manual{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.AcceleratedOn(base.Now, start, 0)
	base.Advance(time.Hour)
	if got, want := c(), start.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestAcceleratedOnTheRealClockMovesForward(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.Accelerated(start, 1000)
	first := c()
	if first.Before(start) {
		t.Fatalf("first reading %v is before start %v", first, start)
	}
	// No sleeping and no timing assertion: only that it never goes back.
	for range 1000 {
		next := c()
		if next.Before(first) {
			t.Fatalf("clock went back from %v to %v", first, next)
		}
		first = next
	}
}

func TestDayFactorAndRealDuration(t *testing.T) {
	t.Parallel()
	if got := clock.DayFactor(20 * time.Second); got != 4320 {
		t.Fatalf("DayFactor(20s) = %v, want 4320", got)
	}
	if got := clock.DayFactor(0); got != 1 {
		t.Fatalf("DayFactor(0) = %v, want 1", got)
	}
	f := clock.DayFactor(24 * time.Second) // an hour per real second
	if got := clock.RealDuration(time.Hour, f); got != time.Second {
		t.Fatalf("RealDuration(1h) = %v, want 1s", got)
	}
	if got := clock.RealDuration(time.Nanosecond, f); got != time.Millisecond {
		t.Fatalf("RealDuration floor = %v, want 1ms", got)
	}
}

func TestDemoClocksWithOneEpochAgree(t *testing.T) {
	t.Parallel()
	base := &manual{now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	epoch := base.now
	first := clock.DemoOn(base.Now, epoch, 10*time.Second)
	base.Advance(3 * time.Second) // a second process starts later...
	second := clock.DemoOn(base.Now, epoch, 10*time.Second)
	if a, b := first(), second(); !a.Equal(b) {
		t.Fatalf("clocks disagree: %v and %v", a, b)
	}
	base.Advance(7 * time.Second) // ...and both see a whole day pass at epoch+10s
	if got, want := second(), epoch.Add(24*time.Hour); !got.Equal(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	c, day, err := clock.FromEnv(env(nil))
	if err != nil || day != clock.Day {
		t.Fatalf("no demo: day %v, err %v", day, err)
	}
	if d := time.Until(c()); d > time.Minute || d < -time.Minute {
		t.Fatalf("no demo: clock is %v off the wall clock", d)
	}

	epoch := time.Now().Add(-10 * time.Second)
	c, day, err = clock.FromEnv(env(map[string]string{
		clock.EnvDemoDay:   "10s",
		clock.EnvDemoEpoch: epoch.Format(time.RFC3339Nano),
	}))
	if err != nil || day != 10*time.Second {
		t.Fatalf("demo: day %v, err %v", day, err)
	}
	// Ten real seconds after the epoch at 10s a day: at least a day has
	// passed on the demo clock.
	if got := c().Sub(epoch); got < 24*time.Hour {
		t.Fatalf("demo clock is only %v past the epoch", got)
	}

	for _, bad := range []map[string]string{
		{clock.EnvDemoDay: "soon"},
		{clock.EnvDemoDay: "-5s"},
		{clock.EnvDemoDay: "5s", clock.EnvDemoEpoch: "yesterday"},
	} {
		if _, _, err := clock.FromEnv(env(bad)); err == nil {
			t.Errorf("FromEnv(%v) succeeded", bad)
		}
	}
}
