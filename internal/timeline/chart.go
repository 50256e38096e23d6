package timeline

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/views/scale"
	tlview "violet/views/timeline"
)

// The chart's geometry, in the units of the SVG's viewBox: the SVG is as
// wide as its container (and the printed page), so a unit is about a
// pixel on a laptop's screen. Rows are a fixed height, so the SVG grows
// with the lanes a mission needs (1,000 tests on one host are 1,000 lanes
// at most, scrolled like any long page).
const (
	chartWidth = 1000.0
	plotX0     = 170.0 // left of it: the hosts' names
	plotX1     = 985.0
	axisY      = 44.0 // the axis line; the ticks' labels above it
	laneH      = 22.0
	barH       = 12.0
	rowPad     = 6.0  // above and below a host's lanes
	minBarW    = 3.0  // a bar never thinner than this
	laneGap    = 10.0 // room a bar keeps after the one before it on a lane
)

// draw lays the tests out: a row per target host (by name, the row
// without a host last), each test on the first lane of its row free at
// its start, its outcomes (those of tool, or all) as marks at their
// detection time.
func draw(ctx context.Context, missionID string, tests []Test, tool string, from, to, now time.Time) tlview.Chart {
	c := tlview.Chart{Width: chartWidth, PlotX0: plotX0, PlotX1: plotX1, AxisY: axisY}
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 {
		v := plotX0 + (plotX1-plotX0)*t.Sub(from).Seconds()/span
		return min(max(v, plotX0), plotX1)
	}
	c.Ticks = ticks(ctx, from, to, x)

	// Hosts by name, the row without one last.
	var hosts []string
	byHost := map[string][]Test{}
	for _, t := range tests {
		if _, ok := byHost[t.Host]; !ok {
			hosts = append(hosts, t.Host)
		}
		byHost[t.Host] = append(byHost[t.Host], t)
	}
	sortHosts(hosts)

	y := axisY + 8
	for i, h := range hosts {
		var lanes []float64 // where each lane's last bar ends
		top := y + rowPad
		for _, t := range byHost[h] { // in order of start
			x0 := x(t.StartedAt)
			x1 := max(x(endOf(t, now)), x0+minBarW)
			lane := -1
			for k, end := range lanes {
				if x0 >= end+laneGap {
					lane = k
					break
				}
			}
			if lane < 0 {
				lane = len(lanes)
				lanes = append(lanes, 0)
			}
			lanes[lane] = x1
			cy := top + float64(lane)*laneH + laneH/2
			b := tlview.Bar{TestID: t.ID.String(), Name: t.Name, URL: paths.URL(paths.MissionTest, missionID, t.ID),
				State: t.State, Host: t.Host, X: x0, Y: cy - barH/2, W: x1 - x0, H: barH, CY: cy,
				Running: t.State == "running" && t.EndedAt == nil, Start: t.StartedAt, End: t.EndedAt}
			b.Point = t.EndedAt == nil && !b.Running
			c.Bars = append(c.Bars, b)
			for _, o := range t.Outcomes {
				if o.DetectedAt == nil || !shownOutcome(o, tool) || o.DetectedAt.Before(from) || o.DetectedAt.After(to) {
					continue
				}
				m := tlview.Mark{TestID: b.TestID, TestName: t.Name, URL: b.URL, Tool: deref(o.ToolName),
					Level: deref(o.LevelName), X: x(*o.DetectedAt), X0: x0, Y: cy,
					Detected: *o.DetectedAt, TTD: o.DetectedAt.Sub(t.StartedAt)}
				if o.LevelID != nil && m.Level != "" {
					m.LevelClass = scale.Class(*o.LevelID)
				}
				c.Marks = append(c.Marks, m)
			}
		}
		hgt := 2*rowPad + float64(max(len(lanes), 1))*laneH
		c.Hosts = append(c.Hosts, tlview.Host{Name: h, Y: y, H: hgt, Odd: i%2 == 1, LabelY: y + rowPad + laneH/2 + 4})
		y += hgt
	}
	c.Height = y + 8
	return c
}

// sortHosts orders hosts by name, ignoring case, the empty one last.
func sortHosts(hosts []string) {
	slices.SortFunc(hosts, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "":
			return 1
		case b == "":
			return -1
		}
		return cmp.Or(strings.Compare(strings.ToLower(a), strings.ToLower(b)), strings.Compare(a, b))
	})
}

// steps are the tick intervals an axis may take, finest first.
var steps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

// maxTicks bounds the graduations: about one per 100 units of width.
const maxTicks = 8

// ticks graduates the axis from from to to in the viewer's zone: on the
// minute or the hour of a step of the range's size, or on midnights;
// each tick of a sub-day axis names its time, and the day where the day
// changes. Steps of hours are counted on the wall clock, so a tick stays
// on the hour across a change of daylight saving.
func ticks(ctx context.Context, from, to time.Time, x func(time.Time) float64) []tlview.Tick {
	loc := i18n.Zone(ctx)
	span := to.Sub(from)
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= maxTicks {
			step = s
			break
		}
	}
	l := from.In(loc)
	var t time.Time
	switch {
	case step < time.Hour:
		m := int(step / time.Minute)
		t = time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute()/m*m, 0, 0, loc)
	case step < 24*time.Hour:
		h := int(step / time.Hour)
		t = time.Date(l.Year(), l.Month(), l.Day(), l.Hour()/h*h, 0, 0, 0, loc)
	default:
		t = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	}
	next := func(t time.Time) time.Time {
		var n time.Time
		switch {
		case step < time.Hour:
			return t.Add(step)
		case step < 24*time.Hour:
			n = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+int(step/time.Hour), 0, 0, 0, loc)
		default:
			n = time.Date(t.Year(), t.Month(), t.Day()+int(step/(24*time.Hour)), 0, 0, 0, 0, loc)
		}
		// A wall time a change of daylight saving repeats may be read as
		// its earlier instant: never step back.
		if !n.After(t) {
			n = t.Add(step)
		}
		return n
	}
	var out []tlview.Tick
	lastDay := ""
	for ; !t.After(to); t = next(t) {
		if t.Before(from) {
			continue
		}
		day := t.Format(time.DateOnly)
		tk := tlview.Tick{X: x(t), At: t.UTC()}
		if step < 24*time.Hour {
			tk.Time = t.Format("15:04")
		}
		if day != lastDay {
			tk.Date = day
			lastDay = day
		}
		out = append(out, tk)
	}
	return out
}
