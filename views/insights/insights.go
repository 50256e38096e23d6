// Package insights renders the trends across missions (/insights): the
// detection rate per tactic and per defensive tool over the missions in
// date order, each as an SVG line chart whose geometry internal/insights
// computes, with the same numbers in a table beside it, and the
// organisation's ATT&CK coverage (each technique's latest result) as a
// table grouped by tactic.
package insights

import (
	"strconv"
	"time"
)

// Charts, as the CSV download names them (?chart=…).
const (
	ChartTactics  = "tactics"
	ChartTools    = "tools"
	ChartCoverage = "coverage"
)

// Filter is the page's query string: a mission label and a date range
// (YYYY-MM-DD, inclusive) on the missions' dates. It round-trips through
// the URL, so a filtered page can be shared.
type Filter struct {
	Label, From, To string
}

// Page is the insights page.
type Page struct {
	Filter Filter
	Labels []string // every label of a mission, for the filter's select
	// Missions are the missions counted, in date order: the charts' x
	// axis and the tables' rows.
	Missions []Mission
	Tactics  Chart
	Tools    Chart
	Coverage []CoverageTactic
	// CSV is the download of each chart's data with the page's filter;
	// Layer the coverage as an ATT&CK Navigator layer.
	CSV   map[string]string
	Layer string
}

// Mission is one mission counted.
type Mission struct {
	ID, Name, URL string
	Day           time.Time // its end date, or the day of its last execution
	Ended         bool      // Day is the mission's end date
}

// DayText is the mission's date as YYYY-MM-DD: a calendar date, never
// shifted into the viewer's zone.
func (m Mission) DayText() string { return m.Day.Format("2006-01-02") }

// Chart is a line chart of rates (0–100 %) over the missions, with the
// table of its numbers. Its geometry is in the units of the SVG's viewBox.
type Chart struct {
	Key            string // ChartTactics or ChartTools
	Width, Height  float64
	PlotX0, PlotX1 float64
	PlotTop        float64 // the y of 100 %
	PlotBottom     float64 // the y of 0 %
	YTicks         []YTick
	XTicks         []XTick
	// Lines are the series drawn: the ones with the most tests (Drawn of
	// Series); the table has every series.
	Lines []Line
	// Series are every tactic or tool, the table's columns.
	Series []Series
	// Rows are the table's lines, one per mission in date order.
	Rows []Row
}

// YTick is a graduation of the rate axis.
type YTick struct {
	Y     float64
	Label string // "50 %"
}

// XTick is a mission's place on the date axis, labelled when Label is set
// (a dense axis labels one mission in a few).
type XTick struct {
	X     float64
	Label string
}

// Series is a tactic or a tool.
type Series struct {
	Key, Name string // the tactic's ATT&CK ID or the tool's id; its name
	Tests     int    // tests counted over every mission
	Drawn     int    // its line's index in Lines, -1 when not drawn
}

// Line is one series drawn: a polyline through its points, a dot per
// mission where it has tests.
type Line struct {
	Key, Name string
	Class     string // the series' colour class (ins-series-N)
	Points    string // the polyline's "x,y x,y…"
	Dots      []Dot
}

// Dot is one mission's rate of a series.
type Dot struct {
	X, Y      float64
	MissionID string
	Mission   string
	Day       string
	Detected  int
	Tests     int
	Rate      int // percent, rounded
}

// Row is one mission's line of a chart's table.
type Row struct {
	Mission Mission
	Cells   []Cell // one per Series
}

// Cell is a series' numbers in a mission: Tests 0 for none.
type Cell struct {
	Key             string
	Detected, Tests int
	Rate            int // percent, rounded; -1 for no test
}

// CoverageTactic is a tactic's techniques in the coverage table.
type CoverageTactic struct {
	ID, Name   string // "" for techniques tagged without a tactic
	Techniques []Technique
}

// Technique is a technique's latest result across the missions.
type Technique struct {
	ID, Name   string
	Level      string
	LevelClass string // the scale's colour class
	Detected   bool   // the level counts as detected
	Mission    Mission
}

// num writes a coordinate with one decimal.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// RateText is a cell's rate as the table shows it ("67 %"), "–" for no
// test.
func (c Cell) RateText() string {
	if c.Rate < 0 {
		return "–"
	}
	return strconv.Itoa(c.Rate) + " %"
}

// seriesName names a series: a tactic with its ATT&CK ID, a tool by its
// name.
func seriesName(chart, key, name string) string {
	if chart == ChartTactics && key != name {
		return name + " (" + key + ")"
	}
	return name
}
