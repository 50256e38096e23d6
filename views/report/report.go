// Package report renders a mission's printable report: a cover with the
// headline figures, the detection rate per tactic as an SVG chart, an
// ATT&CK heatmap, the table of tests, each test's red and blue details and
// image evidence (the tests follow one another, each kept whole on a page
// when it fits), and an appendix of the other evidence files. A table of
// contents after the cover links the sections. It has its own frame
// without the navigation and no JavaScript: people print it or save it as
// PDF from the browser.
package report

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/views/layout"
	"violet/views/missionpage"
	retestview "violet/views/retest"
	tlview "violet/views/timeline"
	"violet/views/toolfig"
)

// Heatmap cell classes for techniques without a recorded level; rated
// cells carry the scale's class of their level instead.
const (
	CellUnrated  = "heat--unrated"  // executed, no detection level recorded
	CellUntested = "heat--untested" // planned, running, skipped or blocked
)

// Report is everything the report shows.
type Report struct {
	Assets    layout.Assets
	PageCSS   string // the stylesheet naming the mission in the running headers
	ID        string
	Name      string
	Scope     string
	Summary   string // markdown (the mission's description)
	Status    string
	Start     *time.Time
	End       *time.Time
	Generated time.Time
	BlueView  bool // a blue member's report: released tests only
	Members   []Member
	Figures   mission.Figures
	Chart     Chart
	Heatmap   []Column
	Legend    []LegendItem
	Tests     []Test
	Appendix  []Evidence
	// PrepareNotes, when set, converts the markdown notes of a batch of
	// tests (RedNotesHTML, BlueNotesHTML) just before the batch is
	// rendered (details): the HTML of every note is never held at once.
	PrepareNotes func([]Test)
	// Timeline is the execution timeline of the whole mission
	// (internal/timeline), empty when no test has started.
	Timeline tlview.Chart
	// ToolFigures are the figures per defensive tool in scope and the
	// matrix of which tool saw what (issue 20).
	ToolFigures toolfig.Figures
	// Comparison is a retest's comparison with the mission it retests
	// (internal/retest); nil for a mission that retests nothing.
	Comparison *retestview.Comparison
}

// Member is one mission member on the cover.
type Member struct {
	Name string
	Role string
}

// Chart is the detection rate per tactic as horizontal bars; the view
// draws it from the computed geometry.
type Chart struct {
	Bars   []Bar
	Width  int
	Height int
}

// Chart geometry, in SVG user units.
const (
	ChartWidth    = 640
	ChartLabel    = 230 // the tactic names' column
	ChartBarArea  = 330 // 100 %
	ChartRow      = 24
	ChartBarThick = 14
)

// Bar is one tactic's bar.
type Bar struct {
	ID       string
	Name     string
	Rated    int
	Detected int
	Rate     int // -1 when nothing was rated
	Y        int // top of the row
}

// BarWidth is the bar's length for its rate.
func (b Bar) BarWidth() string {
	if b.Rate <= 0 {
		return "0"
	}
	return strconv.Itoa(ChartBarArea * b.Rate / 100)
}

// NewChart lays out bars for the tactics' figures, in the given order.
func NewChart(tactics []mission.TacticFigure) Chart {
	c := Chart{Width: ChartWidth, Height: ChartRow*len(tactics) + 4}
	for i, t := range tactics {
		c.Bars = append(c.Bars, Bar{ID: t.ID, Name: t.Name, Rated: t.Rated, Detected: t.Detected, Rate: t.Rate(), Y: 2 + i*ChartRow})
	}
	return c
}

// Column is one tactic of the heatmap with the techniques tested under it.
type Column struct {
	ID    string
	Name  string
	Cells []Cell
}

// Cell is one technique or sub-technique: its aggregated outcome.
type Cell struct {
	ExternalID string
	Name       string
	Class      string // scale.Class of its level, CellUnrated or CellUntested
	Level      string // the level's name; empty when not rated
	Tests      int
}

// LegendItem is one colour of the heatmap.
type LegendItem struct {
	Name  string
	Class string
	Score string // "" for the two states outside the scale
}

// Tag is one ATT&CK tag of a test.
type Tag struct {
	Kind       string
	ExternalID string
	Name       string
}

// Test is one test, for the table and its details.
type Test struct {
	ID         string
	Number     int
	Name       string
	State      string
	Reason     string
	Released   bool
	Scenario   string
	Tags       []Tag
	Level      string
	LevelClass string
	Executor   string
	StartedAt  *time.Time
	EndedAt    *time.Time
	Command    string
	SourceHost string
	TargetHost string
	RedNotes   string
	// RedNotesHTML and BlueNotesHTML are the notes through
	// markdown.Render, prepared by Report.PrepareNotes (several at a
	// time); nil: the view converts them.
	RedNotesHTML  templ.Component
	BlueNotesHTML templ.Component
	DetectedAt    *time.Time
	AlertName     string
	LogSource     string
	BlueNotes     string
	Images        []Evidence
}

// HasRed reports whether the red side recorded anything.
func (t Test) HasRed() bool {
	return t.StartedAt != nil || t.EndedAt != nil || t.Executor != "" || t.Command != "" ||
		t.SourceHost != "" || t.TargetHost != "" || t.RedNotes != ""
}

// HasBlue reports whether the blue side recorded anything.
func (t Test) HasBlue() bool {
	return t.Level != "" || t.DetectedAt != nil || t.AlertName != "" || t.LogSource != "" || t.BlueNotes != ""
}

// Evidence is one evidence file: an image shown inline through its
// preview, or a line of the appendix.
type Evidence struct {
	ID          string
	TestNumber  int
	TestName    string
	Side        string
	Name        string
	Caption     string
	ContentType string
	Size        int64
	SHA256      string
	PreviewURL  string // images: the re-encoded preview shown inline
	DownloadURL string // the original bytes
}

// labels are the words the report repeats, translated once per report
// rather than once per test (a mission has up to thousands).
type labels struct {
	State                                                  map[string]string
	Side                                                   map[string]string
	Unreleased, Reason, RedTitle, BlueTitle, ExecutedBy    string
	Started, Ended, SourceHost, TargetHost, Command, Notes string
	Nothing, Level, DetectedAt, Alert, LogSource, Evidence string
}

func newLabels(ctx context.Context) labels {
	l := labels{
		State: make(map[string]string, len(missionpage.States())),
		Side: map[string]string{
			"red":  i18n.T(ctx, "report.side_red"),
			"blue": i18n.T(ctx, "report.side_blue"),
		},
		Unreleased: i18n.T(ctx, "report.unreleased"),
		Reason:     i18n.T(ctx, "report.reason"),
		RedTitle:   i18n.T(ctx, "report.red_title"),
		BlueTitle:  i18n.T(ctx, "report.blue_title"),
		ExecutedBy: i18n.T(ctx, "report.executed_by"),
		Started:    i18n.T(ctx, "report.started"),
		Ended:      i18n.T(ctx, "report.ended"),
		SourceHost: i18n.T(ctx, "report.source_host"),
		TargetHost: i18n.T(ctx, "report.target_host"),
		Command:    i18n.T(ctx, "report.command"),
		Notes:      i18n.T(ctx, "report.notes"),
		Nothing:    i18n.T(ctx, "report.nothing_recorded"),
		Level:      i18n.T(ctx, "report.level"),
		DetectedAt: i18n.T(ctx, "report.detected_at"),
		Alert:      i18n.T(ctx, "report.alert"),
		LogSource:  i18n.T(ctx, "report.log_source"),
		Evidence:   i18n.T(ctx, "report.evidence"),
	}
	for _, s := range missionpage.States() {
		l.State[s] = i18n.T(ctx, "missions.page.state_"+s)
	}
	return l
}

// day formats a calendar date. A mission's dates are days, not moments:
// they have no zone and are not converted to the reader's.
func day(t *time.Time) string {
	if t == nil {
		return "–"
	}
	return t.Format("2006-01-02")
}

// stamp formats a moment in the reader's zone, to the minute, with the
// zone named (the cover names the zone the report is printed in).
func stamp(ctx context.Context, t *time.Time) string {
	if t == nil {
		return "–"
	}
	return i18n.Time(ctx, *t)
}

// duration is a median time to detect in words a person reads at a glance.
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d d", int(d.Hours()/24))
}

// percent renders a rate, "–" when nothing was rated.
func percent(rate int) string {
	if rate < 0 {
		return "–"
	}
	return strconv.Itoa(rate) + " %"
}

// anchor is the in-page id of a test's section.
func anchor(t Test) string { return "test-" + t.ID }

// DetailsAnchor is the in-page id of the tests' details section.
const DetailsAnchor = "report-details-title"

// slashParts splits an ATT&CK name after each slash, keeping the slash:
// "Virtualization/Sandbox Evasion" → "Virtualization/", "Sandbox Evasion".
func slashParts(name string) []string {
	return strings.SplitAfter(name, "/")
}

// or shows a dash for an empty value.
func or(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// altText describes an image for a screen reader: its caption, else its
// name.
func altText(e Evidence) string {
	if e.Caption != "" {
		return e.Caption
	}
	return e.Name
}

// NotesBatch is how many tests' notes are converted at a time.
const NotesBatch = 100

// details renders the tests' details a batch at a time: the batch's notes
// are converted (Report.PrepareNotes), its tests rendered, and their HTML
// let go before the next batch, so that a report streamed to its reader
// holds the converted notes of one batch at most.
func details(r Report, l labels) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		for start := 0; start < len(r.Tests); start += NotesBatch {
			batch := r.Tests[start:min(start+NotesBatch, len(r.Tests))]
			if r.PrepareNotes != nil {
				r.PrepareNotes(batch)
			}
			for i := range batch {
				if err := testPage(r, batch[i], l).Render(ctx, w); err != nil {
					return err
				}
				batch[i].RedNotesHTML, batch[i].BlueNotesHTML = nil, nil
			}
		}
		return nil
	})
}
