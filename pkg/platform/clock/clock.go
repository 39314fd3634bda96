// Package clock gives the services their notion of "now" as a plain
// function, so that the cut-off, the end of the business day and the 30
// working days can be tested without waiting, and so that `make run` can show
// a whole day passing in a few seconds (demo mode).
package clock

import (
	"fmt"
	"time"
)

// Clock returns the current time. Services take one instead of calling
// time.Now so that tests and demo mode can decide what "now" is.
type Clock func() time.Time

// Real is the wall clock. It is itself a Clock value: pass clock.Real.
func Real() time.Time { return time.Now() }

// Day is the length of a real day, the unit demo mode compresses.
const Day = 24 * time.Hour

// Accelerated returns a clock that reads start at the moment it is created
// and then runs factor times faster than the wall clock: with factor 4320 a
// whole day passes in 20 seconds. It measures elapsed time on the monotonic
// clock, so changes to the system clock do not make it jump.
func Accelerated(start time.Time, factor float64) Clock {
	return AcceleratedOn(Real, start, factor)
}

// AcceleratedOn is Accelerated over another base clock; tests pass a
// hand-moved clock to check the arithmetic without sleeping.
func AcceleratedOn(base Clock, start time.Time, factor float64) Clock {
	if factor <= 0 {
		factor = 1
	}
	origin := base()
	return func() time.Time {
		elapsed := base().Sub(origin)
		// Round-trip through float64 is exact enough: a nanosecond is far
		// below anything the services schedule on.
		return start.Add(time.Duration(float64(elapsed) * factor))
	}
}

// DayFactor is the acceleration that makes a simulated day last day of real
// time: DayFactor(20*time.Second) = 4320. A day of zero or less means no
// acceleration.
func DayFactor(day time.Duration) float64 {
	if day <= 0 {
		return 1
	}
	return float64(Day) / float64(day)
}

// RealDuration is how long simulated takes in real time on a clock running
// factor times faster: what a scheduler (which sleeps in real time) must
// wait for a simulated hour to pass. It never returns less than a
// millisecond so that a ticker built from it stays valid.
func RealDuration(simulated time.Duration, factor float64) time.Duration {
	if factor <= 0 {
		factor = 1
	}
	d := time.Duration(float64(simulated) / factor)
	if d < time.Millisecond {
		return time.Millisecond
	}
	return d
}

// Environment variables read by FromEnv. `make run` sets both in demo mode
// (DEMO=1) for every service it starts.
const (
	// EnvDemoDay is the real length of a simulated day, e.g. "5s". Unset
	// or empty means the real clock.
	EnvDemoDay = "DEMO_DAY"
	// EnvDemoEpoch is the moment (RFC 3339) at which simulated and real
	// time coincide. Every process started by the same launcher gets the
	// same epoch, so their accelerated clocks agree with each other;
	// without it a process uses its own start time.
	EnvDemoEpoch = "DEMO_EPOCH"
)

// Demo returns a clock on which a day lasts day of real time, counted from
// epoch: at epoch it reads epoch, day later it reads epoch plus 24 hours.
// It is computed from the wall clock rather than from the moment of the call
// so that separate processes given the same epoch read the same time.
func Demo(epoch time.Time, day time.Duration) Clock {
	return DemoOn(Real, epoch, day)
}

// DemoOn is Demo over another base clock, for tests.
func DemoOn(base Clock, epoch time.Time, day time.Duration) Clock {
	factor := DayFactor(day)
	epoch = epoch.Round(0) // wall clock only: comparable across processes
	return func() time.Time {
		elapsed := base().Round(0).Sub(epoch)
		return epoch.Add(time.Duration(float64(elapsed) * factor))
	}
}

// FromEnv returns the clock a service should use: Real, or the demo clock
// when DEMO_DAY is set (see EnvDemoDay and EnvDemoEpoch). The second result
// is the simulated day's real length, 24h on the real clock, for scheduling
// (see RealDuration).
func FromEnv(getenv func(string) string) (Clock, time.Duration, error) {
	v := getenv(EnvDemoDay)
	if v == "" {
		return Real, Day, nil
	}
	day, err := time.ParseDuration(v)
	if err != nil || day <= 0 {
		return nil, 0, fmt.Errorf("%s: %q is not a positive duration like 5s", EnvDemoDay, v)
	}
	epoch := time.Now()
	if e := getenv(EnvDemoEpoch); e != "" {
		epoch, err = time.Parse(time.RFC3339Nano, e)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %q is not an RFC 3339 time", EnvDemoEpoch, e)
		}
	}
	return Demo(epoch, day), day, nil
}
