package seal

import (
	"fmt"
	"testing"
	"time"
)

// timeDate is what checkDate accepted before it was written by hand: a date
// time.Parse reads with the layout and Format writes back the same.
func timeDate(s string) bool {
	t, err := time.Parse("2006-01-02", s)
	return err == nil && t.Format("2006-01-02") == s
}

func TestValidDateAsTimeParse(t *testing.T) {
	t.Parallel()
	check := func(s string) {
		if got, want := validDate(s), timeDate(s); got != want {
			t.Errorf("validDate(%q) = %v, time.Parse says %v", s, got, want)
		}
	}
	// Every year around the Gregorian rules (leap years, centuries, 400s)
	// and every month and day number, in and out of range.
	for _, years := range [][2]int{{0, 20}, {1596, 1606}, {1896, 1904}, {1996, 2104}, {2396, 2404}, {9990, 9999}} {
		for y := years[0]; y <= years[1]; y++ {
			for m := 0; m <= 13; m++ {
				for d := 0; d <= 32; d++ {
					check(fmt.Sprintf("%04d-%02d-%02d", y, m, d))
				}
			}
		}
	}
	for _, s := range []string{
		"", "2026-05-07", "2026-5-07", "2026-05-7", "2026-05-07 ", " 2026-05-07", "2026/05/07",
		"+026-05-07", "-026-05-07", "2026-+5-07", "2026-05-+7", "2026-05--7", "2026-0x-07",
		"20260-5-07", "2026-005-7", "2026-05-07T00:00:00Z", "2026-02-29", "2024-02-29", "2100-02-29",
		"2000-02-29", "2026-04-31", "2026-12-31", "2026-00-10", "2026-13-10", "0000-01-01",
		"２０２６-05-07", "2026-05-0\u0667", "2026-05-\x0007", "abcd-ef-gh", "2026-05-07\n",
	} {
		check(s)
	}
}

func FuzzValidDate(f *testing.F) {
	for _, s := range []string{"2026-05-07", "2024-02-29", "2026-02-29", "0000-00-00", "9999-12-31"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validDate(s), timeDate(s); got != want {
			t.Errorf("validDate(%q) = %v, time.Parse says %v", s, got, want)
		}
	})
}
