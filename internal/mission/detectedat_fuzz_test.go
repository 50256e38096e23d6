package mission_test

import (
	"context"
	"testing"
	"time"

	msn "violet/internal/mission"
	mtviews "violet/views/missiontest"
)

// FuzzParseDetectedAt is issue 9's fuzzing of the blue form's detection
// time, a datetime-local value read in the viewer's zone (here none, so
// UTC; i18n's TestParseLocal covers other zones): whatever the string,
// ParseDetectedAt does not panic; an accepted time is in UTC, within the
// four-digit years the layout allows, and shown again in the form (to the
// minute, as the input shows it) it parses back to the same minute.
// (time.Parse takes a fraction after the seconds although the layout has
// none; harmless, as the form shows the minute.)
func FuzzParseDetectedAt(f *testing.F) {
	for _, s := range []string{
		"",
		"2026-03-14T09:42",
		"2026-03-14T09:42:17",
		"2026-03-14 09:42",
		"2026-03-14T09:42Z",
		"2026-03-14T09:42:17+02:00",
		"2026-03-14T9:42",
		"2026-02-30T09:42",
		"2026-13-01T00:00",
		"0000-01-01T00:00",
		"9999-12-31T23:59:59",
		"10000-01-01T00:00",
		"-001-01-01T00:00",
		"2026-03-14T24:00",
		"2026-03-14T23:60",
		"2026-03-14T09:42:17.999999999",
		"２０２６-03-14T09:42",
		"2026-03-14T09:42\x00",
		"\u202e2026-03-14T09:42",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		at, err := msn.ParseDetectedAt(context.Background(), raw)
		if err != nil {
			if !at.IsZero() {
				t.Fatalf("ParseDetectedAt(%q) = %v with error %v", raw, at, err)
			}
			return
		}
		if at.Location() != time.UTC || at.Year() < 0 || at.Year() > 9999 {
			t.Fatalf("ParseDetectedAt(%q) = %v", raw, at)
		}
		shown := at.Format(mtviews.DateTimeLayout)
		back, err := msn.ParseDetectedAt(context.Background(), shown)
		if err != nil || !back.Equal(at.Truncate(time.Minute)) {
			t.Fatalf("ParseDetectedAt(%q) = %v, shown as %q, parses back as %v (%v)", raw, at, shown, back, err)
		}
	})
}
