package i18n

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// The viewer's time zone travels beside the language: times are stored in
// UTC and shown, and entered, in the zone of the person reading. Exports
// (CSV, JSON) do not use it: they stay in UTC, RFC 3339, so that a file
// means the same thing to whoever opens it.

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

// ZoneName is the IANA name of the zone of ctx ("Europe/Paris", "UTC"),
// for labels such as "Detection time (Europe/Paris)".
func ZoneName(ctx context.Context) string { return Zone(ctx).String() }

// ZoneLabel names the zone of ctx with its abbreviation at t
// ("Europe/Paris (CET)"); the abbreviation alone is dropped when it says
// nothing more than the name ("UTC").
func ZoneLabel(ctx context.Context, t time.Time) string {
	loc := Zone(ctx)
	abbr, _ := t.In(loc).Zone()
	if abbr == "" || abbr == loc.String() {
		return loc.String()
	}
	return loc.String() + " (" + abbr + ")"
}

// MaxZoneLen bounds a zone name before it reaches the zone database (the
// users.time_zone column holds 64 bytes; the longest IANA name has 32).
const MaxZoneLen = 64

// LoadZone returns the zone named name when name is an IANA zone name the
// zone database knows ("Europe/Paris", "UTC"). Names come from browsers
// and forms, so they are never trusted: an empty, over-long or oddly
// spelled name, "Local" (the server's own zone, which means nothing to
// the viewer) and anything time.LoadLocation refuses are not zones.
func LoadZone(name string) (*time.Location, bool) {
	if name == "" || len(name) > MaxZoneLen || name == "Local" ||
		strings.ContainsFunc(name, func(r rune) bool { return !zoneRune(r) }) ||
		strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, false
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	return loc, true
}

// zoneRune reports a character IANA zone names are made of.
func zoneRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '/' || r == '_' || r == '-' || r == '+'
}

// LocalLayout is the value of a datetime-local input: a wall time, with
// no zone; the zone is the viewer's.
const LocalLayout = "2006-01-02T15:04"

// LocalInput is t as a datetime-local value: its wall time in the zone of
// ctx, to the minute.
func LocalInput(ctx context.Context, t time.Time) string {
	return t.In(Zone(ctx)).Format(LocalLayout)
}

// ErrNotLocalTime: the value is not a datetime-local value.
var ErrNotLocalTime = errors.New("not a date and time")

// ParseLocal reads a datetime-local value (to the minute or the second)
// as a wall time in the zone of ctx and returns the instant, in UTC.
//
// A wall time a daylight-saving change skips or repeats has no single
// instant, and time.ParseInLocation (like time.Date) does not guarantee
// which one it picks — it differs from zone to zone. So the choice is made
// here, the same everywhere:
//   - in a gap (Europe/Paris, 2026-03-29 02:30, which never happened) the
//     wall time is read on the clock before the change, which lands after
//     the jump: 02:30 CET is 03:30 CEST (01:30 UTC);
//   - in an overlap (Europe/Paris, 2026-10-25 02:30, which happened twice)
//     the earlier instant is taken: 02:30 CEST (00:30 UTC), the first time
//     the clock showed it.
func ParseLocal(ctx context.Context, raw string) (time.Time, error) {
	return parseLocalIn(raw, Zone(ctx))
}

func parseLocalIn(raw string, loc *time.Location) (time.Time, error) {
	var wall time.Time
	var err error
	for _, layout := range []string{LocalLayout, LocalLayout + ":05"} {
		if wall, err = time.ParseInLocation(layout, raw, time.UTC); err == nil {
			break
		}
	}
	if err != nil {
		return time.Time{}, ErrNotLocalTime
	}
	// The wall time read as UTC, then shifted by each offset the zone has
	// around it: an offset is right when the instant it gives shows that
	// offset.
	_, before := wall.Add(-24 * time.Hour).In(loc).Zone()
	_, after := wall.Add(24 * time.Hour).In(loc).Zone()
	var found time.Time
	for _, off := range []int{before, after} {
		at := wall.Add(-time.Duration(off) * time.Second)
		if _, o := at.In(loc).Zone(); o == off && (found.IsZero() || at.Before(found)) {
			found = at
		}
	}
	if found.IsZero() {
		// A gap: no offset shows this wall time; read it on the clock
		// before the change.
		found = wall.Add(-time.Duration(before) * time.Second)
	}
	return found.UTC(), nil
}

// CommonZones is the short list the account page offers (a <datalist>:
// any other IANA name may still be typed): UTC, then zones by region.
func CommonZones() []string {
	return []string{
		"UTC",
		"Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Brussels",
		"Europe/Amsterdam", "Europe/Luxembourg", "Europe/Berlin", "Europe/Zurich", "Europe/Vienna",
		"Europe/Madrid", "Europe/Rome", "Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen",
		"Europe/Helsinki", "Europe/Warsaw", "Europe/Prague", "Europe/Budapest", "Europe/Bucharest",
		"Europe/Athens", "Europe/Istanbul", "Europe/Kyiv", "Europe/Moscow",
		"Africa/Casablanca", "Africa/Algiers", "Africa/Tunis", "Africa/Dakar", "Africa/Abidjan",
		"Africa/Lagos", "Africa/Cairo", "Africa/Nairobi", "Africa/Johannesburg",
		"America/St_Johns", "America/Halifax", "America/Montreal", "America/Toronto", "America/New_York",
		"America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Anchorage",
		"Pacific/Honolulu", "America/Mexico_City", "America/Bogota", "America/Lima", "America/Santiago",
		"America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Martinique", "America/Guadeloupe",
		"Asia/Dubai", "Asia/Tehran", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok",
		"Asia/Singapore", "Asia/Hong_Kong", "Asia/Shanghai", "Asia/Taipei", "Asia/Seoul", "Asia/Tokyo",
		"Australia/Perth", "Australia/Adelaide", "Australia/Brisbane", "Australia/Sydney",
		"Pacific/Noumea", "Pacific/Auckland", "Pacific/Tahiti", "Indian/Reunion",
	}
}

// Zones loads each time zone once. time.LoadLocation reads and parses the
// zone database on every call (about 20 µs), which would otherwise be paid
// on every request of a user with a zone. Only valid names are kept, so the
// cache is bounded by the zone database (a few hundred names). The zero
// value is ready to use and safe for concurrent use.
type Zones struct{ m sync.Map }

// Of returns the zone of a stored name: an empty (not chosen yet) or
// unknown one (a name the zone database no longer has) means UTC.
func (z *Zones) Of(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	if loc, ok := z.m.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, ok := LoadZone(name)
	if !ok {
		return time.UTC
	}
	z.m.Store(name, loc)
	return loc
}
