// Package missiontest renders one mission test's page: what the test is
// (copied from its template, with its ATT&CK tags), then the work on it —
// the red panel, the blue panel, the review and the history — as one
// fragment that every action swaps whole.
package missiontest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"violet/ent/schema"
	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/internal/textrule"
	"violet/views/components"
)

// Field limits of the red and blue forms, as the handler checks them: the
// columns' own lengths, read from the ent schema (bytes for hosts and
// names, characters for the long texts, as the schema counts them).
var (
	HostMax   = textrule.For(schema.MissionTest{}, "source_host").Max
	NameMax   = textrule.For(schema.MissionTest{}, "alert_name").Max
	TextMax   = textrule.For(schema.MissionTest{}, "red_notes").Max
	ReasonMax = textrule.For(schema.MissionTest{}, "state_reason").Max
)

// DateTimeLayout is the value of a datetime-local input: a wall time in
// the viewer's zone (i18n.LocalInput, i18n.ParseLocal).
const DateTimeLayout = i18n.LocalLayout

// Notice kinds of the work fragment.
const (
	NoticeSaved    = "saved"
	NoticeConflict = "conflict"
	NoticeError    = "error"
)

// Tag is one ATT&CK tag as copied into the mission; it links to the
// catalogue's page of its ID.
type Tag struct {
	ExternalID string
	Name       string
}

// Page is a mission test's page.
type Page struct {
	ID          string // the test's id: live updates of it show the notice
	MissionID   string
	MissionName string
	CanManage   bool
	Name        string
	Platforms   []string
	Opsec       string
	Tags        []Tag
	Assignee    string // who runs the test, "" when nobody is assigned
	// Markdown, copied from the template.
	Description, Objective, Procedure, Prerequisites, Cleanup, ExpectedDetection string
	Work                                                                         Work
}

// HasText reports whether the test has any of the template's text.
func (p Page) HasText() bool {
	return p.Description != "" || p.Objective != "" || p.Procedure != "" ||
		p.Prerequisites != "" || p.Cleanup != "" || p.ExpectedDetection != ""
}

// below is the address of route, a route under the test's page
// (paths.MissionTestRed, paths.EvidenceFile…), for the test whose page is
// base (the work block's and the evidence section's Base, built by their
// caller), with route's own parameters after the test's.
func below(base, route string, params ...any) string {
	rest, ok := strings.CutPrefix(route, paths.MissionTest)
	if !ok {
		panic(fmt.Sprintf("missiontest: %q is not under %q", route, paths.MissionTest))
	}
	return base + paths.URL(rest, params...)
}

// Work is the part of the page that changes: the state line, the red and
// blue panels, the review and the history. Every form in it carries
// Version; all of them are re-rendered together after any action, so no
// form on screen ever holds a version older than another's.
type Work struct {
	Base    string // /missions/{id}/tests/{test}
	Version int
	// SavedFrom and SavedTo are, answering the save of one tool's outcome,
	// the test's version the save found and the one it left: the page's
	// other forms may take SavedTo only if they were at SavedFrom (the
	// save was the only change since they were shown). Zero otherwise.
	SavedFrom, SavedTo int
	State              string
	Reason             string
	Released           bool
	Archived           bool
	Notice             string // NoticeSaved, NoticeConflict, NoticeError or ""
	NoticeKey          string
	NoticeState        string // the state named by a refused action's notice
	Red                Red
	Blue               Blue
	Review             Review
	History            []Event
}

// Red is the red panel: the run's times, what was run and where, and the
// actions of the red side.
type Red struct {
	Editable    bool
	StartedAt   *time.Time
	EndedAt     *time.Time
	ExecutedBy  string
	Form        RedForm
	Saved       *RedForm // the values saved meanwhile by someone else (409)
	Aside       AsideForm
	CanStart    bool
	CanStop     bool
	CanRelease  bool
	CanSetAside bool
}

// RedForm is the red side's record, as typed or as saved.
type RedForm struct {
	Command    string
	SourceHost string
	TargetHost string
	Notes      string
	Errors     components.Errors
	Unsaved    bool // refused input, kept: the page warns before it is left
}

// AsideForm marks a test skipped or blocked, with a reason.
type AsideForm struct {
	State   string
	Reason  string
	Errors  components.Errors
	Open    bool
	Unsaved bool // refused input, kept: the page warns before it is left
}

// Blue is the blue panel, shown once the test is released.
type Blue struct {
	Editable bool
	Levels   []Level
	Form     BlueForm  // the outcome without a tool, the hand-set result
	Saved    *BlueForm // the values saved meanwhile by someone else (409)
	Overall  BlueForm  // the test's overall result, derived from its outcomes (outcomes.go)
	Outcomes []Outcome // one per tool of the scope (outcomes.go)
	Expected Expected  // the detection rules expected to fire (expected.go)
}

// Level is one detection level offered by the select.
type Level struct {
	ID      string
	Name    string
	Class   string // the scale stylesheet's class colouring it
	Retired bool
}

// BlueForm is the blue side's record, as typed or as saved. DetectedAt is
// a datetime-local value, in the viewer's zone.
type BlueForm struct {
	DetectionLevel string
	LevelName      string
	LevelClass     string
	DetectedAt     string
	AlertName      string
	LogSource      string
	Notes          string
	Errors         components.Errors
	Unsaved        bool // refused input, kept: the page warns before it is left
}

// Review is the lead's part: close an executed test, reopen a closed one.
type Review struct {
	CanReview  bool
	ReviewedBy string
	ReviewedAt *time.Time
}

// CanClose reports whether "review and close" applies to state.
func (w Work) CanClose() bool { return w.Review.CanReview && w.State == "executed" }

// CanReopen reports whether "reopen" applies to state.
func (w Work) CanReopen() bool {
	return w.Review.CanReview && (w.State == "reviewed" || w.State == "skipped" || w.State == "blocked")
}

// Event is one line of the test's history: an i18n key with who and when;
// Audited events come from the audit log (Action is theirs).
type Event struct {
	Key     string
	Who     string
	Action  string
	At      time.Time
	Audited bool
}

// unsaved is the data-unsaved attribute of a form holding typed text
// (static/js/app.js): "kept" when it holds refused input the server sent
// back, which the page counts as unsaved even though the user has not
// touched it since.
func unsaved(kept bool) string {
	if kept {
		return "kept"
	}
	return "typed"
}

// when formats a time for people, in the viewer's zone, naming the zone.
func when(ctx context.Context, t time.Time) string { return i18n.Time(ctx, t) }

// iso formats a time for the datetime attribute.
func iso(t time.Time) string { return i18n.ISO(t) }
