package i18n

import (
	"context"
	"time"
)

// The viewer's time zone travels beside the language: times are stored in
// UTC and shown, and entered, in the zone of the person reading.

type zoneKey struct{}

// WithZone returns ctx carrying the time zone times are shown in.
func WithZone(ctx context.Context, loc *time.Location) context.Context {
	if loc == nil {
		return ctx
	}
	return context.WithValue(ctx, zoneKey{}, loc)
}

// Zone returns the time zone carried by ctx, UTC without one.
func Zone(ctx context.Context) *time.Location {
	if loc, ok := ctx.Value(zoneKey{}).(*time.Location); ok {
		return loc
	}
	return time.UTC
}

// Time formats t as a date and minute in the zone of ctx, naming the zone
// ("2026-12-05 18:10 CET"), so a reader never wonders which clock it is.
func Time(ctx context.Context, t time.Time) string {
	return t.In(Zone(ctx)).Format("2006-01-02 15:04 MST")
}

// Date formats t's calendar day in the zone of ctx.
func Date(ctx context.Context, t time.Time) string {
	return t.In(Zone(ctx)).Format(time.DateOnly)
}

// ISO formats t for a <time datetime> attribute: an instant, in UTC.
func ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }
