// Package businessday decides which business day an order belongs to.
//
// A business day is named by a London calendar date. It runs from the
// cut-off (BATCH_CUTOFF, default 23:00 Europe/London) of the day before up
// to, but not including, the cut-off of its own date: an order received at
// 23:00 or later on 25 November belongs to 26 November's batch. The cut-off
// is a wall-clock time in London, so it follows the clock changes in March
// and October (the day of a change is 23 or 25 hours long).
package businessday

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the London rules must not depend on the host's zoneinfo
)

// Zone is the time zone business days are counted in.
const Zone = "Europe/London"

// london is loaded on first use, not at init, so that importing the package
// does no I/O.
var london = sync.OnceValues(func() (*time.Location, error) { return time.LoadLocation(Zone) })

// London returns the Europe/London location. It cannot fail in practice:
// the zone database is embedded (time/tzdata).
func London() *time.Location {
	loc, err := london()
	if err != nil {
		panic(fmt.Sprintf("businessday: load %s: %v", Zone, err))
	}
	return loc
}

// Date is a civil date: a day of the calendar, with no time or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateIn returns the calendar date of t in loc.
func DateIn(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// LondonDate returns the London calendar date of t.
func LondonDate(t time.Time) Date { return DateIn(t, London()) }

// FromTime returns the date carried by t's own year, month and day fields
// (used for midnight-UTC values such as those of pkg/domain/workdays).
func FromTime(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ErrBadDate is returned for a date that is not YYYY-MM-DD.
var ErrBadDate = errors.New("not a date in the form YYYY-MM-DD")

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%w: %q", ErrBadDate, s)
	}
	return FromTime(t), nil
}

// String returns the date as "2006-01-02".
func (d Date) String() string { return d.UTC().Format(time.DateOnly) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// UTC returns midnight UTC of the date: the form PostgreSQL's date columns
// and pkg/domain/workdays use.
func (d Date) UTC() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// AddDays returns the date n calendar days later (earlier if n < 0).
func (d Date) AddDays(n int) Date { return FromTime(d.UTC().AddDate(0, 0, n)) }

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool { return d.UTC().Before(e.UTC()) }

// After reports whether d is later than e.
func (d Date) After(e Date) bool { return d.UTC().After(e.UTC()) }

// Compact returns the date as "20060102" (used in batch ids).
func (d Date) Compact() string { return d.UTC().Format("20060102") }

// Cutoff is the London wall-clock time at which a business day closes.
type Cutoff struct {
	Hour, Minute int
}

// DefaultCutoff is 23:00 London time.
var DefaultCutoff = Cutoff{Hour: 23, Minute: 0}

// ParseCutoff parses "HH:MM" (24-hour clock).
func ParseCutoff(s string) (Cutoff, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return Cutoff{}, fmt.Errorf("cut-off %q is not HH:MM", s)
	}
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		return Cutoff{}, fmt.Errorf("cut-off %q is not a time between 00:00 and 23:59", s)
	}
	return Cutoff{Hour: hour, Minute: minute}, nil
}

// String returns the cut-off as "HH:MM".
func (c Cutoff) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

// DateOf returns the business day that a moment belongs to: its London
// date, or the next date if it is at or after the cut-off.
func (c Cutoff) DateOf(t time.Time) Date {
	lt := t.In(London())
	d := DateIn(lt, London())
	if lt.Hour() > c.Hour || (lt.Hour() == c.Hour && lt.Minute() >= c.Minute) {
		return d.AddDays(1)
	}
	return d
}

// Closes returns the moment business day d closes: the cut-off on that
// London date. Orders received before it (and at or after the previous
// day's cut-off) belong to d.
func (c Cutoff) Closes(d Date) time.Time {
	// A cut-off inside a spring-forward gap (01:00-02:00 on the last Sunday
	// of March) is normalised by time.Date to the hour after; any other
	// time exists exactly once or, in October, twice (the first is used).
	return time.Date(d.Year, d.Month, d.Day, c.Hour, c.Minute, 0, 0, London())
}

// LastClosed returns the most recent business day that has closed at now:
// the day before the current one. This is the day the end-of-day job
// sends and the default of `batcher send-now`.
func (c Cutoff) LastClosed(now time.Time) Date { return c.DateOf(now).AddDays(-1) }
