package workdays_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"booklets/pkg/domain/workdays"
)

func d(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The published England and Wales bank holidays (GOV.UK), substitute days
// included. The 2022 state funeral is a one-off the library does not know,
// so it is supplied as an extra, as the override file would.
var published = map[int][]string{
	2020: {"2020-01-01", "2020-04-10", "2020-04-13", "2020-05-08", "2020-05-25", "2020-08-31", "2020-12-25", "2020-12-28"},
	2021: {"2021-01-01", "2021-04-02", "2021-04-05", "2021-05-03", "2021-05-31", "2021-08-30", "2021-12-27", "2021-12-28"},
	2022: {"2022-01-03", "2022-04-15", "2022-04-18", "2022-05-02", "2022-06-02", "2022-06-03", "2022-08-29", "2022-09-19", "2022-12-26", "2022-12-27"},
	2023: {"2023-01-02", "2023-04-07", "2023-04-10", "2023-05-01", "2023-05-08", "2023-05-29", "2023-08-28", "2023-12-25", "2023-12-26"},
	2024: {"2024-01-01", "2024-03-29", "2024-04-01", "2024-05-06", "2024-05-27", "2024-08-26", "2024-12-25", "2024-12-26"},
	2025: {"2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25", "2025-12-25", "2025-12-26"},
	2026: {"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28"},
	2027: {"2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30", "2027-12-27", "2027-12-28"},
}

func TestHolidaysMatchPublishedList(t *testing.T) {
	t.Parallel()
	c := workdays.New(d("2022-09-19"))
	for year, dates := range published {
		want := map[string]bool{}
		for _, s := range dates {
			want[s] = true
		}
		for day := d(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)); day.Year() == year; day = day.AddDate(0, 0, 1) {
			got := c.IsHoliday(day)
			if got != want[day.Format(time.DateOnly)] {
				t.Errorf("IsHoliday(%s) = %v, want %v", day.Format("Mon 2006-01-02"), got, !got)
			}
		}
	}
}

func TestStateFuneralNeedsTheOverride(t *testing.T) {
	t.Parallel()
	if workdays.New().IsHoliday(d("2022-09-19")) {
		t.Log("the library now knows the 2022 state funeral; the override is no longer needed for it")
	}
	if !workdays.New(d("2022-09-19")).IsHoliday(d("2022-09-19")) {
		t.Error("an extra holiday was not counted")
	}
	// The coronation is in the library.
	if !workdays.New().IsHoliday(d("2023-05-08")) {
		t.Error("2023-05-08 (coronation) not a holiday")
	}
}

func TestIsWorkday(t *testing.T) {
	t.Parallel()
	c := workdays.New()
	for _, tc := range []struct {
		day  string
		want bool
	}{
		{"2024-06-07", true},  // Friday
		{"2024-06-08", false}, // Saturday
		{"2024-06-09", false}, // Sunday
		{"2024-06-10", true},  // Monday
		{"2024-03-29", false}, // Good Friday
		{"2024-04-01", false}, // Easter Monday
		{"2024-04-02", true},
		{"2024-08-26", false}, // late-August holiday
		{"2024-08-05", true},  // Scotland's August holiday, a working day here
		{"2022-01-03", false}, // New Year substitute (1 Jan a Saturday)
		{"2021-12-27", false}, // Christmas substitute (25 Dec a Saturday)
		{"2021-12-28", false}, // Boxing Day substitute (26 Dec a Sunday)
		{"2021-12-29", true},
		{"2022-12-26", false}, // Boxing Day on a Monday
		{"2022-12-27", false}, // Christmas substitute (25 Dec a Sunday)
		{"2026-12-28", false}, // Boxing Day substitute (26 Dec a Saturday)
	} {
		if got := c.IsWorkday(d(tc.day)); got != tc.want {
			t.Errorf("IsWorkday(%s) = %v, want %v", tc.day, got, tc.want)
		}
	}
}

func TestIsWorkdayIgnoresTimeAndZone(t *testing.T) {
	t.Parallel()
	c := workdays.New()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	// 23:30 on Good Friday in London is still Good Friday.
	if c.IsWorkday(time.Date(2024, 3, 29, 23, 30, 0, 0, london)) {
		t.Error("late evening of Good Friday counted as a working day")
	}
	got, err := workdays.London(time.Date(2024, 6, 30, 23, 30, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if want := d("2024-07-01"); !got.Equal(want) {
		t.Errorf("London(23:30 UTC, summer time) = %s, want %s", got, want)
	}
}

func TestDueDate(t *testing.T) {
	t.Parallel()
	c := workdays.New(d("2022-09-19"))
	for _, tc := range []struct {
		name, delivery, want string
	}{
		{"six plain weeks", "2024-06-03", "2024-07-15"},
		{"delivered on a Saturday", "2024-06-01", "2024-07-12"},
		{"across Easter and early May", "2024-03-28", "2024-05-14"},
		{"across Christmas and New Year", "2024-12-20", "2025-02-05"},
		{"across substitute days 2021/22", "2021-12-24", "2022-02-09"},
		{"across the late-August holiday", "2025-08-01", "2025-09-15"},
		{"across the state funeral", "2022-09-01", "2022-10-14"},
		{"across the coronation", "2023-04-20", "2023-06-06"},
		{"across Christmas 2027 substitutes", "2027-12-17", "2028-02-02"},
	} {
		got := c.DueDate(d(tc.delivery))
		if got.Format(time.DateOnly) != tc.want {
			t.Errorf("%s: DueDate(%s) = %s, want %s", tc.name, tc.delivery, got.Format("Mon 2006-01-02"), tc.want)
		}
		if n := c.WorkdaysBetween(d(tc.delivery), got); n != workdays.DeletionPeriod {
			t.Errorf("%s: WorkdaysBetween = %d, want %d", tc.name, n, workdays.DeletionPeriod)
		}
		if !c.IsWorkday(got) {
			t.Errorf("%s: due date %s is not a working day", tc.name, got.Format(time.DateOnly))
		}
	}
}

func TestAddWorkdays(t *testing.T) {
	t.Parallel()
	c := workdays.New()
	if got := c.AddWorkdays(d("2024-06-07"), 1); got.Format(time.DateOnly) != "2024-06-10" {
		t.Errorf("Friday + 1 = %s, want the Monday", got.Format(time.DateOnly))
	}
	if got := c.AddWorkdays(d("2024-06-07"), 0); got.Format(time.DateOnly) != "2024-06-07" {
		t.Errorf("+0 = %s", got.Format(time.DateOnly))
	}
	if got := c.AddWorkdays(d("2024-12-24"), 1); got.Format(time.DateOnly) != "2024-12-27" {
		t.Errorf("Christmas Eve + 1 = %s, want 2024-12-27", got.Format(time.DateOnly))
	}
}

func TestLoadGovUK(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "bank-holidays.json")
	body := `{"england-and-wales":{"division":"england-and-wales","events":[
	  {"title":"Bank Holiday for the State Funeral of Queen Elizabeth II","date":"2022-09-19","notes":"","bunting":false},
	  {"title":"An imagined holiday","date":"2031-07-04","notes":"","bunting":true}]},
	 "scotland":{"division":"scotland","events":[{"title":"St Andrew's Day","date":"2031-12-01","notes":"","bunting":true}]}}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	extra, err := workdays.LoadGovUK(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) != 2 {
		t.Fatalf("got %d dates, want the 2 of england-and-wales", len(extra))
	}
	c := workdays.New(extra...)
	if c.IsWorkday(d("2031-07-04")) || c.IsWorkday(d("2022-09-19")) {
		t.Error("holidays from the file not applied")
	}
	if !c.IsWorkday(d("2031-12-01")) {
		t.Error("a Scottish holiday was applied in England and Wales")
	}

	if got, err := workdays.LoadGovUK(""); err != nil || got != nil {
		t.Errorf("LoadGovUK(\"\") = %v, %v; want nothing", got, err)
	}
	for name, body := range map[string]string{
		"notjson.json":    `hello`,
		"nodivision.json": `{"scotland":{"division":"scotland","events":[]}}`,
		"baddate.json":    `{"england-and-wales":{"division":"england-and-wales","events":[{"title":"x","date":"19/09/2022"}]}}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := workdays.LoadGovUK(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := workdays.LoadGovUK(filepath.Join(dir, "absent.json")); err == nil {
		t.Error("absent file: no error")
	}
}
