// Package missionpage renders a mission's overview page: its header, the
// headline figures, the progress bars, the tests grouped by scenario or by
// category with their filters, and for leads the plan editor (instantiate
// scenarios, add tests, reorder, categorise, remove).
package missionpage

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"violet/ent/missiontest"
	"violet/ent/schema"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/paths"
	"violet/internal/textrule"
	"violet/views/components"
	"violet/views/toolfig"
)

// Grouping of the test list.
const (
	GroupScenario = "scenario"
	GroupCategory = "category"
)

// Field limits of the "new test" form, as the handler checks them: the
// columns' lengths, read from the ent schema.
var (
	TestNameMax        = textrule.For(schema.MissionTest{}, "name").Max
	TestDescriptionMax = textrule.For(schema.MissionTest{}, "description").Max
)

const (
	SearchMax = 200
	// CandidateLimit is the most templates one plan search offers.
	CandidateLimit = 20
)

// States lists the test states in workflow order (the state filter, the
// report's columns). The values are ent's enum, written once in the schema;
// a function rather than a shared slice, so no caller can change the list.
func States() []string {
	return []string{
		missiontest.StatePending.String(), missiontest.StateRunning.String(),
		missiontest.StateExecuted.String(), missiontest.StateReviewed.String(),
		missiontest.StateSkipped.String(), missiontest.StateBlocked.String(),
	}
}

// Work queues: preset filters of the test list (the home page links to
// them by these values). What each holds is defined in
// internal/missionread (queues.go).
const (
	QueueRed    = "red"
	QueueBlue   = "blue"
	QueueReview = "review"
	QueueMine   = "mine"
)

// Queues lists the work queues in the order of their tabs.
func Queues() []string { return []string{QueueRed, QueueBlue, QueueReview, QueueMine} }

// Filter is the test list's query: it round-trips through the URL so that
// Back and reload show the same list.
type Filter struct {
	Group    string // scenario (default) or category
	Queue    string // a work queue (Queues), "" for every test
	State    string
	Category string // a category id, "none" for uncategorised tests
	Tactic   string // an ATT&CK tactic ID (TA0002)
	Assignee string // a user id, "none" for unassigned tests
	Q        string // part of a name or an ATT&CK ID
	Plan     bool   // the plan editor is open
}

// Active reports whether the filter hides any test.
func (f Filter) Active() bool {
	return f.Queue != "" || f.State != "" || f.Category != "" || f.Tactic != "" || f.Assignee != "" || f.Q != ""
}

// Values is the filter as query parameters.
func (f Filter) Values() url.Values {
	v := url.Values{}
	if f.Group == GroupCategory {
		v.Set("group", f.Group)
	}
	for k, s := range map[string]string{"queue": f.Queue, "state": f.State, "category": f.Category, "tactic": f.Tactic,
		"assignee": f.Assignee, "q": f.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Plan {
		v.Set("plan", "1")
	}
	return v
}

// URL is the mission page's address with this filter.
func (f Filter) URL(missionID string) string {
	base := paths.URL(paths.Mission, missionID)
	if q := f.Values().Encode(); q != "" {
		return base + "?" + q
	}
	return base
}

// Tag is an ATT&CK tag copied into the mission.
type Tag struct {
	Kind       string
	ExternalID string
	Name       string
}

// Row is one test of the list.
type Row struct {
	ID         string
	Number     int // 1-based place in the mission's plan
	Name       string
	State      string
	Released   bool
	Tags       []Tag
	Level      string // detection level name, "" when none recorded
	LevelClass string // the scale stylesheet's class of the level (views/scale)
	Executor   string
	CategoryID string
	Category   string
	AssigneeID string // "" when unassigned
	Assignee   string
	Version    int  // the version shown, sent back by the bulk form
	First      bool // first of its scenario (no "up")
	Last       bool // last of its scenario (no "down")
}

// QueueTab is a work queue's tab: its name and how many tests it holds.
type QueueTab struct {
	Name  string
	Count int
}

// BulkRefusal is a test a bulk action left unchanged: its name and the
// message key of the reason (with the state, for a refused state).
type BulkRefusal struct {
	Name  string
	Key   string
	State string
}

// BulkSummary is what a bulk action did, shown above the list.
type BulkSummary struct {
	Action  string
	Applied int
	Refused []BulkRefusal
}

// BulkForm is the bulk bar as sent back after a refusal: the input kept,
// the errors next to the fields (or Errors' form key for the whole bar).
type BulkForm struct {
	Action   string
	Reason   string
	Category string
	Assignee string
	Selected map[string]bool // test ids still ticked
	Errors   components.Errors
	Key      string // a message for the whole action (nothing selected, too many)
}

// BulkReasonMax is the longest reason a skip takes: its column's length.
var BulkReasonMax = textrule.For(schema.MissionTest{}, "state_reason").Max

// bulkActions are the bulk bar's actions (mission.Bulk…), in its order.
func bulkActions() []string {
	return []string{mission.BulkSkip, mission.BulkRelease, mission.BulkCategory, mission.BulkAssign, mission.BulkRemove}
}

// queueID names a queue tab for tests: "all" for the list without a queue.
func queueID(q string) string {
	if q == "" {
		return "all"
	}
	return q
}

// Group is a heading of the list with its tests.
type Group struct {
	Key   string // scenario or category id, "" for the rest
	Name  string // "" for tests outside any scenario or category
	Color string // category colour
	Rows  []Row
}

// Option is one choice of a select.
type Option struct {
	Value string
	Label string
}

// Candidate is a template a plan search found.
type Candidate struct {
	ID    string
	Name  string
	Tests int    // scenario templates: their number of tests
	Tags  []Tag  // test templates: their ATT&CK tags
	Note  string // description excerpt
}

// Candidates is the result of a plan search.
type Candidates struct {
	Kind  string // scenarios or tests
	Query string
	Hits  []Candidate
	More  bool
}

// NewTestForm is the "new test from scratch" form.
type NewTestForm struct {
	Name        string
	Description string
	Errors      components.Errors
}

// Page is everything the mission page shows.
type Page struct {
	ID          string
	Name        string
	Description string
	Scope       string
	Tools       []string // the names of the defensive tools in scope
	Status      string
	Start, End  *time.Time
	Role        string // the viewer's role, "" for an admin non-member
	CanManage   bool   // tabs and the plan editor
	Editable    bool   // CanManage on a mission that is not archived
	BlueView    bool   // figures and list restricted to released tests
	Figures     mission.Figures
	ToolFigures toolfig.Figures // per defensive tool in scope (issue 20)
	Filter      Filter
	Groups      []Group
	Shown       int // tests the filter keeps
	Total       int // tests the viewer may see
	Categories  []Option
	Tactics     []Option
	Queues      []QueueTab // the work queues with their sizes
	Assignees   []Option   // members with a red role: the assignee filter and bulk assign
	Bulk        *BulkSummary
	BulkForm    BulkForm
	Scenarios   Candidates
	Templates   Candidates
	NewTest     NewTestForm
	NoticeKey   string // an i18n key shown above the list (refused change)
	NoticeError bool
}

// Tab is the mission's id as the shared tabs want it.
func (p Page) Tab() string { return p.ID }

// TestURL is the one-test page of a row.
func (p Page) TestURL(r Row) string { return paths.URL(paths.MissionTest, p.ID, r.ID) }

// GroupURL is the list grouped by g with the same filters.
func (p Page) GroupURL(g string) string {
	f := p.Filter
	f.Group = g
	return f.URL(p.ID)
}

// QueueURL is the list of queue q ("" for every test) with the same
// other filters.
func (p Page) QueueURL(q string) string {
	f := p.Filter
	f.Queue = q
	return f.URL(p.ID)
}

// CanBulk reports whether the viewer gets the checkboxes and the bulk bar:
// those who may change the plan, as the bulk action's workflow checks.
func (p Page) CanBulk() bool { return p.Editable }

// PlanToggleURL opens or closes the plan editor, keeping the filters.
func (p Page) PlanToggleURL() string {
	f := p.Filter
	f.Plan = !f.Plan
	return f.URL(p.ID)
}

// date formats a mission date (a calendar day, no zone).
func date(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format("2006-01-02")
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

// rowLabels are the words every row repeats, translated once per list
// rather than once per row (a mission has up to thousands of tests).
type rowLabels struct {
	State      map[string]string
	Unreleased string
}

func newRowLabels(ctx context.Context) rowLabels {
	l := rowLabels{State: make(map[string]string, len(States())), Unreleased: i18n.T(ctx, "missions.page.unreleased")}
	for _, s := range States() {
		l.State[s] = i18n.T(ctx, "missions.page.state_"+s)
	}
	return l
}
