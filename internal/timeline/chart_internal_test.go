package timeline

import (
	"context"
	"testing"
	"time"

	"violet/internal/i18n"
)

// The axis' ticks are on the viewer's wall clock, go forward across a
// change of daylight saving, and step by days on a long range.
func TestTicks(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no zone database")
	}
	ctx := i18n.WithZone(context.Background(), paris)
	x := func(time.Time) float64 { return 0 }
	// The night Paris goes back from CEST to CET (2026-10-25 03:00 → 02:00).
	from := time.Date(2026, 10, 24, 20, 0, 0, 0, time.UTC)
	ts := ticks(ctx, from, from.Add(12*time.Hour), x)
	if len(ts) < 4 || len(ts) > maxTicks+1 {
		t.Fatalf("%d ticks", len(ts))
	}
	for i, tk := range ts {
		if tk.At.In(paris).Minute() != 0 || tk.Time == "" {
			t.Errorf("tick %d at %v (%q) is not on the hour", i, tk.At.In(paris), tk.Time)
		}
		if i > 0 && !tk.At.After(ts[i-1].At) {
			t.Errorf("tick %d (%v) does not follow %v", i, tk.At, ts[i-1].At)
		}
	}
	if ts[0].Date != "2026-10-24" {
		t.Errorf("first tick names the day %q", ts[0].Date)
	}
	// Three weeks: ticks on midnights, dates only.
	long := ticks(ctx, from, from.Add(21*24*time.Hour), x)
	for _, tk := range long {
		if l := tk.At.In(paris); l.Hour() != 0 || tk.Time != "" || tk.Date == "" {
			t.Errorf("day tick %v (%q, %q)", l, tk.Time, tk.Date)
		}
	}
}
