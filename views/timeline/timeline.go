// Package timeline renders a mission's execution timeline
// (/missions/{id}/timeline): red executions as bars on a row per target
// host, blue outcomes as marks per tool on their test's bar, drawn as SVG
// on the server (internal/timeline computes every coordinate), with a
// table of the same data below for screen readers and print.
package timeline

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"violet/internal/i18n"
)

// Presets of the zoom: the whole mission, the last 24 hours, one day.
const (
	RangeWhole = ""
	RangeDay   = "24h"
)

// Option is one choice of a filter's select.
type Option struct {
	Value string
	Label string
}

// Filter is the page's query string: tactic, tool, state and the range.
type Filter struct {
	Tactic string // an ATT&CK tactic ID
	Tool   string // a defensive tool's id: only its marks are drawn
	State  string // a test state
	Range  string // RangeWhole or RangeDay (the last 24 hours)
	Day    string // a calendar day in the viewer's zone, YYYY-MM-DD
	From   string // datetime-local values, in the viewer's zone
	To     string
}

// Preset is a zoom link.
type Preset struct {
	Key     string // message key
	Day     string // the day named, for a day's link
	URL     string
	Current bool
	TestID  string
}

// Page is the timeline page.
type Page struct {
	MissionID string
	Name      string
	CanManage bool
	Filter    Filter
	States    []string
	Tactics   []Option
	Tools     []Option
	Presets   []Preset
	// From and To bound the range drawn; FromInput and ToInput are the
	// same as datetime-local values in the viewer's zone.
	From, To           time.Time
	FromInput, ToInput string
	// Tests is how many executions the range and the filter keep.
	Tests int
	Chart Chart
	Rows  []Row
}

// Chart is the SVG's geometry, in the units of its viewBox.
type Chart struct {
	Width, Height  float64
	PlotX0, PlotX1 float64 // the time axis' ends
	AxisY          float64 // the axis line
	Ticks          []Tick
	Hosts          []Host
	Bars           []Bar
	Marks          []Mark
}

// Tick is one graduation of the time axis: its time in the viewer's zone,
// and the day under it where the day changes.
type Tick struct {
	X    float64
	At   time.Time
	Time string // "14:00", empty on a day-step axis
	Date string // "2026-11-20" where the day changes
}

// Host is one row of the chart: a target host and the lanes its bars
// take (bars that overlap in time go on lanes of their own).
type Host struct {
	Name   string // "" is the row of tests without a target host
	Y, H   float64
	Odd    bool
	LabelY float64
}

// Bar is one execution: a bar from its start to its end (now while it
// runs), or a point when it has no end.
type Bar struct {
	TestID  string
	Name    string
	URL     string
	State   string
	Host    string
	X, Y    float64
	W, H    float64
	CY      float64 // the lane's middle
	Point   bool
	Running bool
	Start   time.Time
	End     *time.Time
}

// Mark is one outcome of a tool on its test's bar, at its detection time;
// the time to detect is the line from the bar's start (X0) to the mark.
type Mark struct {
	TestID     string
	TestName   string
	URL        string
	Tool       string // "" for the outcome without a tool
	Level      string
	LevelClass string
	X, X0, Y   float64
	Detected   time.Time
	TTD        time.Duration
}

// Row is one line of the table: an execution and one of its outcomes
// (or none).
type Row struct {
	TestID     string
	TestName   string
	URL        string
	Host       string
	State      string
	Start      time.Time
	End        *time.Time
	Running    bool
	HasOutcome bool
	Tool       string
	Level      string
	LevelClass string
	Detected   *time.Time
	TTD        *time.Duration
}

// num writes a coordinate for an SVG attribute.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// Duration is a time to detect in words read at a glance ("12 min",
// "1 h 05 min", "3 d 4 h"), negative when the detection was recorded
// before the execution started.
func Duration(ctx context.Context, d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "−", -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = i18n.T(ctx, "timeline.duration.s", "S", int(d.Seconds()))
	case d < time.Hour:
		s = i18n.T(ctx, "timeline.duration.m", "M", int(d.Minutes()))
	case d < 48*time.Hour:
		s = i18n.T(ctx, "timeline.duration.hm", "H", int(d.Hours()), "M", fmt.Sprintf("%02d", int(d.Minutes())%60))
	default:
		s = i18n.T(ctx, "timeline.duration.dh", "D", int(d.Hours()/24), "H", int(d.Hours())%24)
	}
	return sign + s
}

// hostName is a row's label: the host, or the row without one.
func hostName(ctx context.Context, h string) string {
	if h == "" {
		return i18n.T(ctx, "timeline.no_host")
	}
	return h
}

// toolName names an outcome's tool, or says it has none.
func toolName(ctx context.Context, t string) string {
	if t == "" {
		return i18n.T(ctx, "timeline.no_tool")
	}
	return t
}

// barTitle is a bar's tooltip.
func barTitle(ctx context.Context, b Bar) string {
	s := b.Name + " · " + hostName(ctx, b.Host) + " · " + i18n.T(ctx, "missions.page.state_"+b.State) + "\n" +
		i18n.T(ctx, "timeline.col.start") + " " + i18n.Time(ctx, b.Start)
	switch {
	case b.Running:
		s += "\n" + i18n.T(ctx, "timeline.running")
	case b.End != nil:
		s += "\n" + i18n.T(ctx, "timeline.col.end") + " " + i18n.Time(ctx, *b.End)
	}
	return s
}

// markTitle is a mark's tooltip: the tool, its level, when, and the time
// to detect.
func markTitle(ctx context.Context, m Mark) string {
	level := m.Level
	if level == "" {
		level = "–"
	}
	return m.TestName + "\n" + toolName(ctx, m.Tool) + " · " + level + "\n" +
		i18n.T(ctx, "timeline.col.detected") + " " + i18n.Time(ctx, m.Detected) + "\n" +
		i18n.T(ctx, "timeline.col.ttd") + " " + Duration(ctx, m.TTD)
}

// presetLabel names a zoom link.
func presetLabel(ctx context.Context, pr Preset) string {
	if pr.Day != "" {
		return pr.Day
	}
	return i18n.T(ctx, pr.Key)
}
