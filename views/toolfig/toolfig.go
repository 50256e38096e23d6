// Package toolfig renders the figures per defensive tool of a mission
// (issue 20): per tool in the mission's scope, its detection rate overall
// and per tactic and its median time to detect, and the "which tool saw
// what" matrix of tests × tools. The mission overview and the report show
// the same view model, built by internal/missionread (tools.go).
package toolfig

import (
	"fmt"
	"strconv"
	"time"

	"violet/internal/paths"
)

// Figures are the figures of every tool in scope and the matrix.
type Figures struct {
	MissionID string
	Tools     []Tool // the tools in scope, by name
	// Rows are the matrix's tests: those some tool's rate counts (see
	// Tool.Tests), in plan order; each has one cell per tool of Tools.
	Rows []Row
}

// LayerURL is the Navigator layer of one tool's outcomes.
func (f Figures) LayerURL(t Tool) string {
	return paths.Query(paths.URL(paths.MissionExportNavigator, f.MissionID), "tool", t.ID)
}

// Empty reports whether the mission has no tool in scope: nothing to show.
func (f Figures) Empty() bool { return len(f.Tools) == 0 }

// Tool is one tool's figures.
type Tool struct {
	ID, Name, Kind string
	// Tests is the rate's denominator: the tests counted (released ones
	// only in the blue view) that were executed or reviewed, plus any
	// other counted test this tool has an outcome for. A tool that saw
	// nothing of an executed test scores 0 on it, not "no data".
	Tests       int
	WithOutcome int // tests this tool has an outcome for
	Detected    int // outcomes whose level counts as detected
	PerTactic   []Tactic
	// Median is the median of detected_at − started_at over this tool's
	// detected outcomes with both times in order; Timed how many there are.
	Median time.Duration
	Timed  int
}

// Rate is Detected/Tests as a percentage, -1 with no test counted.
func (t Tool) Rate() int { return rate(t.Detected, t.Tests) }

// Tactic is one tool's rate over the tests of one tactic.
type Tactic struct {
	ID, Name        string
	Tests, Detected int
}

// Rate is Detected/Tests as a percentage, -1 with no test counted.
func (t Tactic) Rate() int { return rate(t.Detected, t.Tests) }

// Row is one test of the matrix.
type Row struct {
	Number int
	Name   string
	URL    string // the test's page, "" in the report
	Cells  []Cell // one per tool, in Tools' order
}

// Cell is one tool's outcome on one test: its level's name and colour
// class (views/scale), empty without an outcome.
type Cell struct {
	Level, Class string
	Detected     bool
}

func rate(n, of int) int {
	if of == 0 {
		return -1
	}
	return (100*n + of/2) / of
}

// percent renders a rate, "–" when nothing was counted.
func percent(r int) string {
	if r < 0 {
		return "–"
	}
	return strconv.Itoa(r) + " %"
}

// duration is a median time to detect in words a person reads at a
// glance, "–" without any timed detection.
func duration(t Tool) string {
	d := t.Median
	switch {
	case t.Timed == 0:
		return "–"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d d", int(d.Hours()/24))
}
