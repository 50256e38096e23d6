package insights

import (
	"strconv"
	"strings"

	"violet/views/insights"
)

// The charts' geometry, in the units of the SVG's viewBox (as wide as its
// container, so a unit is about a pixel on a laptop's screen).
const (
	chartWidth  = 720.0
	chartHeight = 270.0
	plotX0      = 52.0 // left of it: the rate axis' labels
	plotX1      = 704.0
	plotTop     = 14.0  // 100 %
	plotBottom  = 236.0 // 0 %; below it: the missions' dates
	// maxLines keeps a chart readable: the series with the most tests
	// are drawn, the table beside it has every one.
	maxLines = 6
	// maxLabels is how many dates the x axis names at most; a dense axis
	// names one mission in a few (each dot still names its own).
	maxLabels = 7
)

// chart lays a series' rates out over the missions: x by the mission's
// place in date order (evenly spaced: the missions are the events, not
// the days between them), y by the rate; a line joins a series' missions
// that have tests of it, and skips the others.
func chart(key string, ms []insights.Mission, fs []Figure, tie func(a, b *series) int) insights.Chart {
	c := insights.Chart{Key: key, Width: chartWidth, Height: chartHeight, PlotX0: plotX0, PlotX1: plotX1,
		PlotTop: plotTop, PlotBottom: plotBottom}
	for r := 0; r <= 100; r += 25 {
		c.YTicks = append(c.YTicks, insights.YTick{Y: y(float64(r) / 100), Label: strconv.Itoa(r) + " %"})
	}
	xs := make([]float64, len(ms))
	step := max(1, (len(ms)+maxLabels-1)/maxLabels)
	for i, m := range ms {
		xs[i] = x(i, len(ms))
		t := insights.XTick{X: xs[i]}
		if i%step == 0 {
			t.Label = m.DayText()
		}
		c.XTicks = append(c.XTicks, t)
	}
	all := collect(fs, tie)
	for i, s := range all {
		drawn := -1
		if i < maxLines {
			drawn = len(c.Lines)
			c.Lines = append(c.Lines, line(s, ms, xs, drawn))
		}
		c.Series = append(c.Series, insights.Series{Key: s.key, Name: s.name, Tests: s.tests, Drawn: drawn})
	}
	for _, m := range ms {
		row := insights.Row{Mission: m, Cells: make([]insights.Cell, len(all))}
		for i, s := range all {
			fg := s.per[m.ID]
			row.Cells[i] = insights.Cell{Key: s.key, Detected: fg.Detected, Tests: fg.Tests, Rate: rate(fg.Detected, fg.Tests)}
		}
		c.Rows = append(c.Rows, row)
	}
	return c
}

// line is series s drawn as the n-th line.
func line(s *series, ms []insights.Mission, xs []float64, n int) insights.Line {
	l := insights.Line{Key: s.key, Name: s.name, Class: "ins-series-" + strconv.Itoa(n)}
	var pts []string
	for i, m := range ms {
		fg, ok := s.per[m.ID]
		if !ok || fg.Tests == 0 {
			continue
		}
		d := insights.Dot{X: xs[i], Y: y(float64(fg.Detected) / float64(fg.Tests)), MissionID: m.ID, Mission: m.Name,
			Day: m.DayText(), Detected: fg.Detected, Tests: fg.Tests, Rate: rate(fg.Detected, fg.Tests)}
		l.Dots = append(l.Dots, d)
		pts = append(pts, num(d.X)+","+num(d.Y))
	}
	l.Points = strings.Join(pts, " ")
	return l
}

// x is the i-th of n missions' place: the plot's middle for one.
func x(i, n int) float64 {
	const pad = 24.0
	if n <= 1 {
		return (plotX0 + plotX1) / 2
	}
	return plotX0 + pad + (plotX1-plotX0-2*pad)*float64(i)/float64(n-1)
}

// y is a rate's (0–1) height.
func y(r float64) float64 { return plotBottom - (plotBottom-plotTop)*r }

// num writes a coordinate with one decimal, as the SVG gets it.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
