package controllers

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestScheduleTimes(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name      string
		cron      string
		loc       *time.Location
		last, now time.Time
		due, next time.Time // zero due: nothing due
		ok        bool
	}{
		{"nothing due yet", "0 10 * * *", time.UTC, utc(11, 24, 9, 0), utc(11, 24, 9, 58), time.Time{}, utc(11, 24, 10, 0), true},
		{"one due", "0 10 * * *", time.UTC, utc(11, 24, 9, 0), utc(11, 24, 10, 0), utc(11, 24, 10, 0), utc(11, 25, 10, 0), true},
		{"missed times: only the latest is due", "* * * * *", time.UTC, utc(11, 24, 9, 0), utc(11, 24, 9, 5), utc(11, 24, 9, 5), utc(11, 24, 9, 6), true},
		{"in a time zone", "0 10 * * *", paris, utc(11, 24, 8, 0), utc(11, 24, 9, 30), utc(11, 24, 9, 0), utc(11, 25, 9, 0), true},
		{"30 February never fires", "0 10 30 2 *", time.UTC, utc(11, 24, 9, 0), utc(11, 24, 9, 58), time.Time{}, time.Time{}, false},
		{"31 April never fires", "0 0 31 4 *", time.UTC, utc(1, 1, 0, 0), utc(11, 24, 9, 58), time.Time{}, time.Time{}, false},
		// 2026-10-25, Paris goes from CEST to CET at 03:00: 02:30 comes twice (00:30 and 01:30 UTC).
		{"a wall time that comes twice runs once", "30 2 * * *", paris, utc(10, 25, 0, 30), utc(10, 25, 1, 35), time.Time{}, utc(10, 26, 1, 30), true},
		{"its first coming is due", "30 2 * * *", paris, utc(10, 24, 0, 30), utc(10, 25, 0, 31), utc(10, 25, 0, 30), utc(10, 26, 1, 30), true},
		{"a minutely schedule down for ten days: the latest time", "* * * * *", time.UTC, utc(11, 14, 9, 0), utc(11, 24, 9, 5), utc(11, 24, 9, 5), utc(11, 24, 9, 6), true},
		{"a yearly one down for two years: the latest time", "0 10 1 1 *", time.UTC, time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC), utc(11, 24, 9, 5), time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC), true},
		{"29 February fires in a leap year", "0 10 29 2 *", time.UTC, utc(11, 24, 9, 0), utc(11, 24, 9, 58), time.Time{}, time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := cron.ParseStandard(tc.cron)
			if err != nil {
				t.Fatal(err)
			}
			due, next, ok := scheduleTimes(cs, tc.loc, tc.last, tc.now)
			if ok != tc.ok || !due.Equal(tc.due) || !next.Equal(tc.next) {
				t.Errorf("scheduleTimes = %s, %s, %v; want %s, %s, %v", due, next, ok, tc.due, tc.next, tc.ok)
			}
		})
	}
}
