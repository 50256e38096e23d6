// Package retest renders the retest of a mission (issue 20, point 5): the
// form that creates it, the links between a mission and its retests on the
// overview, and the comparison of each retested test with its earlier run
// (the compare page and the report of a retest share Comparison).
// internal/retest builds its props.
package retest

import (
	"strconv"

	"violet/views/components"
)

// Form is the retest form of one mission, filled with the defaults or
// with what the user sent (a refused form keeps it).
type Form struct {
	MissionID, MissionName   string
	Name, StartDate, EndDate string
	Groups                   []TestGroup
	Members                  []MemberChoice
	Errors                   components.Errors
}

// TestGroup is the tests of one scenario (Name "" for the tests outside
// any scenario), in plan order.
type TestGroup struct {
	Name  string
	Tests []TestChoice
}

// TestChoice is one test of the original mission the retest may include.
type TestChoice struct {
	ID, Name, State, Category string
	Level, LevelClass         string // the overall result, "" when none
	Checked                   bool
}

// MemberChoice is one member of the original mission with their role.
type MemberChoice struct {
	ID, Name, Role string
	Checked        bool
	Me             bool // the viewer, who leads the retest whatever is checked
}

// Links are the retest links of a mission's overview.
type Links struct {
	MissionID string
	// CanRetest shows the Retest button: a lead (or mission.manage) who
	// may create missions.
	CanRetest bool
	// Of is the mission this one retests (nil when it is none, or when
	// the viewer may not see it: the compare link stays).
	Of       *Link
	IsRetest bool
	Retests  []Link
}

// Link names a mission.
type Link struct{ ID, Name string }

// Verdicts of a comparison.
const (
	Improved  = "improved"
	Regressed = "regressed"
	Unchanged = "unchanged"
	NotRun    = "not_run"
	// BeforeHidden: the retested test has a result, and its original
	// exists but its result is hidden from the viewer (not released to
	// blue, and the viewer is blue on the original). It is no improvement
	// nor anything else: the viewer cannot compare.
	BeforeHidden = "before_hidden"
)

// Verdicts lists them in the order the summaries show them (without
// BeforeHidden, which only a blue viewer may meet: Comparison.Verdicts).
func Verdicts() []string { return []string{Improved, Regressed, Unchanged, NotRun} }

// Verdicts are the verdicts the comparison's summaries show: BeforeHidden
// last, only when some test has it.
func (c Comparison) Verdicts() []string {
	if c.Totals.BeforeHidden > 0 {
		return append(Verdicts(), BeforeHidden)
	}
	return Verdicts()
}

// ComparePage is the compare page of a retest.
type ComparePage struct {
	MissionID, MissionName string
	CanManage              bool
	Comparison             Comparison
}

// Comparison is each retested test beside its original, with the
// summaries per tactic and per tool.
type Comparison struct {
	MissionID                string // the retest's
	OriginalID, OriginalName string // "" when the original is gone
	Rows                     []Row
	Totals                   Counts
	Tactics                  []Summary
	Tools                    []ToolSummary
}

// Row is one retested test.
type Row struct {
	TestID, OriginalTestID, OriginalMissionID string
	Name                                      string
	Before, After                             Level
	Verdict                                   string
}

// Level is a result on the scale ("" name: none).
type Level struct{ Name, Class string }

// Counts are the number of tests per verdict.
type Counts struct{ Improved, Regressed, Unchanged, NotRun, BeforeHidden int }

// Add counts one verdict.
func (c *Counts) Add(verdict string) {
	switch verdict {
	case Improved:
		c.Improved++
	case Regressed:
		c.Regressed++
	case Unchanged:
		c.Unchanged++
	case BeforeHidden:
		c.BeforeHidden++
	default:
		c.NotRun++
	}
}

// Of returns the count of one verdict.
func (c Counts) Of(verdict string) int {
	switch verdict {
	case Improved:
		return c.Improved
	case Regressed:
		return c.Regressed
	case Unchanged:
		return c.Unchanged
	case BeforeHidden:
		return c.BeforeHidden
	}
	return c.NotRun
}

// Summary is the verdicts of one tactic's tests.
type Summary struct {
	ID, Name string
	Counts
}

// ToolSummary is one defensive tool's outcomes before and after: the
// tests it detected in each run, and the verdicts of the tests it has an
// outcome for in either run.
type ToolSummary struct {
	ID, Name                      string
	DetectedBefore, DetectedAfter int
	Counts
}

func itoa(n int) string { return strconv.Itoa(n) }

func boolText(b bool) string { return strconv.FormatBool(b) }
