// Package clock gives the services their notion of "now" as a plain
// function, so that the cut-off, the end of the business day and the 30
// working days can be tested without waiting, and so that `make run` can show
// a whole day passing in a few seconds (demo mode).
package clock

import "time"

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
