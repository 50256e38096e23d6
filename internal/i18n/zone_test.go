package i18n_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"violet/internal/i18n"
)

func paris(t *testing.T) context.Context {
	t.Helper()
	loc, ok := i18n.LoadZone("Europe/Paris")
	if !ok {
		t.Fatal("Europe/Paris is not a zone")
	}
	return i18n.WithZone(context.Background(), loc)
}

// TestZoneFormats: times are shown in the zone of the context with the
// zone's abbreviation; without a zone, in UTC; the datetime attribute is
// always the UTC instant.
func TestZoneFormats(t *testing.T) {
	winter := time.Date(2026, 12, 5, 17, 10, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 14, 8, 0, 0, 0, time.UTC)
	ctx := paris(t)
	for _, c := range []struct{ got, want string }{
		{i18n.Time(ctx, winter), "2026-12-05 18:10 CET"},
		{i18n.Time(ctx, summer), "2026-07-14 10:00 CEST"},
		{i18n.Time(context.Background(), winter), "2026-12-05 17:10 UTC"},
		{i18n.Date(ctx, time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC)), "2026-12-06"},
		{i18n.ISO(winter.In(i18n.Zone(ctx))), "2026-12-05T17:10:00Z"},
		{i18n.ZoneName(ctx), "Europe/Paris"},
		{i18n.ZoneName(context.Background()), "UTC"},
		{i18n.ZoneLabel(ctx, winter), "Europe/Paris (CET)"},
		{i18n.ZoneLabel(ctx, summer), "Europe/Paris (CEST)"},
		{i18n.ZoneLabel(context.Background(), winter), "UTC"},
		{i18n.LocalInput(ctx, summer), "2026-07-14T10:00"},
		{i18n.LocalInput(context.Background(), summer), "2026-07-14T08:00"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if i18n.WithZone(context.Background(), nil) == nil || i18n.Zone(i18n.WithZone(context.Background(), nil)) != time.UTC {
		t.Error("a nil zone is not UTC")
	}
}

// TestLoadZone: only IANA names the zone database knows are zones; what a
// browser or a form sends is never trusted.
func TestLoadZone(t *testing.T) {
	for _, name := range []string{"Europe/Paris", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "America/Port-au-Prince"} {
		if _, ok := i18n.LoadZone(name); !ok {
			t.Errorf("%q refused", name)
		}
	}
	for _, name := range []string{"", "Local", "Europe/Nowhere", "europe paris", "../../etc/passwd", "/etc/localtime",
		"Europe/Paris\x00", "Europe/Pàris", strings.Repeat("A", i18n.MaxZoneLen+1), "+02:00"} {
		if _, ok := i18n.LoadZone(name); ok {
			t.Errorf("%q accepted", name)
		}
	}
	var zones i18n.Zones
	if zones.Of("") != time.UTC || zones.Of("Mars/Olympus") != time.UTC || zones.Of("Asia/Tokyo").String() != "Asia/Tokyo" ||
		zones.Of("Asia/Tokyo") != zones.Of("Asia/Tokyo") {
		t.Error("Zones.Of does not fall back to UTC, or loads a zone twice")
	}
	for _, name := range i18n.CommonZones() {
		if _, ok := i18n.LoadZone(name); !ok {
			t.Errorf("common zone %q is not a zone", name)
		}
	}
}

// TestParseLocal: a datetime-local value is a wall time in the viewer's
// zone, stored as its UTC instant, and shown back as the same wall time;
// daylight-saving gaps move forward, overlaps take the earlier instant,
// in every zone alike.
func TestParseLocal(t *testing.T) {
	ctx := paris(t)
	ny, _ := i18n.LoadZone("America/New_York")
	nyc := i18n.WithZone(context.Background(), ny)
	for _, c := range []struct {
		ctx  context.Context
		raw  string
		want time.Time
	}{
		{ctx, "2026-03-29T10:15", time.Date(2026, 3, 29, 8, 15, 0, 0, time.UTC)},     // CEST, the day of the change
		{ctx, "2026-01-10T10:15", time.Date(2026, 1, 10, 9, 15, 0, 0, time.UTC)},     // CET
		{ctx, "2026-01-10T10:15:30", time.Date(2026, 1, 10, 9, 15, 30, 0, time.UTC)}, // with seconds
		{ctx, "2026-03-29T02:30", time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)},     // gap: 03:30 CEST
		{ctx, "2026-10-25T02:30", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)},    // overlap: the first, CEST
		{nyc, "2026-03-08T02:30", time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)},      // gap: 03:30 EDT
		{nyc, "2026-11-01T01:30", time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},     // overlap: the first, EDT
		{context.Background(), "2026-03-29T10:15", time.Date(2026, 3, 29, 10, 15, 0, 0, time.UTC)},
	} {
		got, err := i18n.ParseLocal(c.ctx, c.raw)
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("ParseLocal(%s, %q) = %v, %v; want %v", i18n.ZoneName(c.ctx), c.raw, got, err, c.want)
		}
	}
	if got := i18n.LocalInput(ctx, time.Date(2026, 3, 29, 8, 15, 0, 0, time.UTC)); got != "2026-03-29T10:15" {
		t.Errorf("shown back as %q", got)
	}
	for _, raw := range []string{"", "2026-03-29", "2026-03-29 10:15", "2026-03-29T10:15Z", "2026-02-30T10:00", "tomorrow"} {
		if got, err := i18n.ParseLocal(ctx, raw); err == nil {
			t.Errorf("ParseLocal(%q) = %v, want an error", raw, got)
		}
	}
}
