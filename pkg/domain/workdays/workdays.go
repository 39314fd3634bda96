// Package workdays counts working days in England and Wales: Monday to
// Friday, less the bank holidays. It answers one question for the
// reconciler and the batcher: by which day must the print partner have
// deleted a batch (the 30th working day after delivery).
//
// Bank holidays come from github.com/rickar/cal/v2/gb (the rules, including
// substitute days when a holiday falls at a weekend) plus extra dates the
// caller supplies, typically from the GOV.UK bank-holidays JSON
// (https://www.gov.uk/bank-holidays.json) so that one-off holidays announced
// after the library was released (a state funeral, say) can be added
// without a new build.
//
// Dates are civil dates: a time.Time whose year, month and day (in its own
// location) name the London calendar day. Results are midnight UTC.
package workdays

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/gb"
)

// DeletionPeriod is the number of working days after delivery by which the
// partner must have deleted a batch.
const DeletionPeriod = 30

// Calendar knows the England and Wales bank holidays. It is read-only after
// New and safe for concurrent use.
type Calendar struct {
	rules []*cal.Holiday
	extra map[civil]string
}

type civil struct {
	y int
	m time.Month
	d int
}

func civilOf(t time.Time) civil {
	y, m, d := t.Date()
	return civil{y, m, d}
}

func (c civil) time() time.Time { return time.Date(c.y, c.m, c.d, 0, 0, 0, 0, time.UTC) }

// englandAndWales is the holiday set observed in England and Wales. The gb
// package's list is exactly that set (Scotland's August holiday is defined
// separately and deliberately left out); it is copied so that nothing here
// depends on the library's exported slice staying unmodified.
func englandAndWales() []*cal.Holiday {
	return append([]*cal.Holiday(nil), gb.Holidays...)
}

// New returns a calendar of England and Wales bank holidays plus the extra
// holidays given (their civil dates; time of day and location ignored).
func New(extraHolidays ...time.Time) *Calendar {
	c := &Calendar{rules: englandAndWales(), extra: make(map[civil]string, len(extraHolidays))}
	for _, h := range extraHolidays {
		c.extra[civilOf(h)] = "extra"
	}
	return c
}

// Date returns midnight UTC of the given civil date.
func Date(year int, month time.Month, day int) time.Time {
	return time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
}

// London returns the Europe/London calendar date of an instant, as a civil
// date (midnight UTC). This is how the delivery date of an upload is found.
func London(t time.Time) (time.Time, error) {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.Time{}, fmt.Errorf("workdays: load Europe/London time zone: %w", err)
	}
	return civilOf(t.In(loc)).time(), nil
}

// IsHoliday reports whether the civil date d is a bank holiday in England
// and Wales (the substitute day, where a holiday falls at a weekend, counts).
func (c *Calendar) IsHoliday(d time.Time) bool {
	day := civilOf(d)
	if _, ok := c.extra[day]; ok {
		return true
	}
	for _, h := range c.rules {
		actual, observed := h.Calc(day.y)
		if actual.IsZero() {
			continue
		}
		if civilOf(observed) == day {
			return true
		}
	}
	return false
}

// IsWorkday reports whether the civil date d is a working day: Monday to
// Friday and not a bank holiday.
func (c *Calendar) IsWorkday(d time.Time) bool {
	day := civilOf(d).time()
	switch day.Weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	return !c.IsHoliday(day)
}

// AddWorkdays returns the n-th working day after the civil date d (d itself
// never counts, whether or not it is a working day). n <= 0 returns d.
func (c *Calendar) AddWorkdays(d time.Time, n int) time.Time {
	day := civilOf(d).time()
	for n > 0 {
		day = day.AddDate(0, 0, 1)
		if c.IsWorkday(day) {
			n--
		}
	}
	return day
}

// WorkdaysBetween counts the working days after from up to and including to
// (0 when to is not after from). AddWorkdays(from, WorkdaysBetween(from, to))
// is the last working day on or before to.
func (c *Calendar) WorkdaysBetween(from, to time.Time) int {
	day, end := civilOf(from).time(), civilOf(to).time()
	n := 0
	for day.Before(end) {
		day = day.AddDate(0, 0, 1)
		if c.IsWorkday(day) {
			n++
		}
	}
	return n
}

// DueDate is the day by which the partner must have deleted a batch
// delivered on the civil date delivery: the 30th working day after it.
func (c *Calendar) DueDate(delivery time.Time) time.Time {
	return c.AddWorkdays(delivery, DeletionPeriod)
}

// govUK is the shape of https://www.gov.uk/bank-holidays.json.
type govUK map[string]struct {
	Division string `json:"division"`
	Events   []struct {
		Title string `json:"title"`
		Date  string `json:"date"`
	} `json:"events"`
}

// LoadGovUK reads a file in the format of the GOV.UK bank-holidays JSON and
// returns the dates of the england-and-wales division. An empty path returns
// no dates (the override file is optional). A file without that division is
// an error: it is almost certainly the wrong file.
func LoadGovUK(path string) ([]time.Time, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("workdays: read bank holidays file: %w", err)
	}
	var doc govUK
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("workdays: bank holidays file %s is not GOV.UK bank-holidays JSON: %w", path, err)
	}
	div, ok := doc["england-and-wales"]
	if !ok {
		return nil, fmt.Errorf("workdays: bank holidays file %s has no england-and-wales division", path)
	}
	dates := make([]time.Time, 0, len(div.Events))
	for i, e := range div.Events {
		d, err := time.Parse(time.DateOnly, e.Date)
		if err != nil {
			return nil, fmt.Errorf("workdays: bank holidays file %s: event %d (%q) has date %q, want YYYY-MM-DD", path, i, e.Title, e.Date)
		}
		dates = append(dates, d)
	}
	return dates, nil
}
