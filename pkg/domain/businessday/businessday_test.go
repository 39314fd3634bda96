package businessday_test

import (
	"testing"
	"time"

	"booklets/pkg/domain/businessday"
)

func TestParseCutoff(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"23:00", "00:00", "17:30", "23:59"} {
		c, err := businessday.ParseCutoff(s)
		if err != nil || c.String() != s {
			t.Errorf("ParseCutoff(%q) = %v, %v", s, c, err)
		}
	}
	for _, s := range []string{"", "23", "24:00", "23:60", "9:00", "ab:cd", "23:00:00", "-1:00"} {
		if _, err := businessday.ParseCutoff(s); err == nil {
			t.Errorf("ParseCutoff(%q) accepted", s)
		}
	}
}

func TestDateOf(t *testing.T) {
	t.Parallel()
	london := businessday.London()
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, london)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	c := businessday.DefaultCutoff
	tests := []struct {
		when time.Time
		want string
	}{
		{at("2026-11-25 00:00:00"), "2026-11-25"},
		{at("2026-11-25 22:59:59"), "2026-11-25"},
		{at("2026-11-25 23:00:00"), "2026-11-26"},
		{at("2026-11-25 23:59:59"), "2026-11-26"},
		{at("2026-12-31 23:30:00"), "2027-01-01"},
		// Summer time: 22:30 UTC is 23:30 in London, after the cut-off.
		{time.Date(2026, 7, 1, 22, 30, 0, 0, time.UTC), "2026-07-02"},
		{time.Date(2026, 7, 1, 21, 59, 0, 0, time.UTC), "2026-07-01"},
		// Winter: 22:30 UTC is 22:30 in London, before it.
		{time.Date(2026, 1, 15, 22, 30, 0, 0, time.UTC), "2026-01-15"},
		// Clocks go forward on 29 March 2026 at 01:00 UTC: that day is 23 hours.
		{time.Date(2026, 3, 28, 22, 59, 0, 0, time.UTC), "2026-03-28"},
		{time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), "2026-03-29"},
		{time.Date(2026, 3, 29, 21, 59, 0, 0, time.UTC), "2026-03-29"}, // 22:59 BST
		{time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC), "2026-03-30"},  // 23:00 BST
		// Clocks go back on 25 October 2026 at 01:00 UTC: that day is 25 hours.
		{time.Date(2026, 10, 24, 21, 59, 0, 0, time.UTC), "2026-10-24"}, // 22:59 BST
		{time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC), "2026-10-25"},  // 23:00 BST
		{time.Date(2026, 10, 25, 22, 59, 0, 0, time.UTC), "2026-10-25"}, // 22:59 GMT
		{time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC), "2026-10-26"},  // 23:00 GMT
	}
	for _, tt := range tests {
		if got := c.DateOf(tt.when).String(); got != tt.want {
			t.Errorf("DateOf(%s) = %s, want %s", tt.when.Format(time.RFC3339), got, tt.want)
		}
	}
	early := businessday.Cutoff{Hour: 17, Minute: 30}
	if got := early.DateOf(at("2026-11-25 17:29:59")).String(); got != "2026-11-25" {
		t.Errorf("17:29:59 with a 17:30 cut-off = %s", got)
	}
	if got := early.DateOf(at("2026-11-25 17:30:00")).String(); got != "2026-11-26" {
		t.Errorf("17:30 with a 17:30 cut-off = %s", got)
	}
}

func TestClosesAndLastClosed(t *testing.T) {
	t.Parallel()
	c := businessday.DefaultCutoff
	for _, tt := range []struct {
		date string
		want time.Time
	}{
		{"2026-03-28", time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC)},
		{"2026-03-29", time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC)},
		{"2026-10-24", time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC)},
		{"2026-10-25", time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC)},
	} {
		d, err := businessday.ParseDate(tt.date)
		if err != nil {
			t.Fatal(err)
		}
		closes := c.Closes(d)
		if !closes.Equal(tt.want) {
			t.Errorf("Closes(%s) = %s, want %s", d, closes.UTC(), tt.want)
		}
		// The instant of closing already belongs to the next day, and the
		// day it closed is then the last closed one.
		if got := c.DateOf(closes); got != d.AddDays(1) {
			t.Errorf("DateOf(Closes(%s)) = %s", d, got)
		}
		if got := c.LastClosed(closes); got != d {
			t.Errorf("LastClosed(Closes(%s)) = %s", d, got)
		}
		if got := c.LastClosed(closes.Add(-time.Second)); got != d.AddDays(-1) {
			t.Errorf("LastClosed a second before %s closes = %s", d, got)
		}
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	d, err := businessday.ParseDate("2024-02-28")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.AddDays(1).String(); got != "2024-02-29" {
		t.Errorf("AddDays = %s", got)
	}
	if got := d.AddDays(2).Compact(); got != "20240301" {
		t.Errorf("Compact = %s", got)
	}
	if !d.Before(d.AddDays(1)) || d.After(d.AddDays(1)) {
		t.Error("Before/After")
	}
	for _, bad := range []string{"", "2024-2-28", "28/02/2024", "2024-02-30"} {
		if _, err := businessday.ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
}
