package library

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/views/attack"
	"violet/views/components"
)

// ScenariosPageSize is how many scenarios one page of the list shows.
const ScenariosPageSize = 50

// ScenarioCandidateLimit is the most test templates one "add a test"
// search offers.
const ScenarioCandidateLimit = 20

// ScenarioFilter is the scenario list's query as the search box and the
// pager hold it. It round-trips through the URL so that Back and reload
// show the same list.
type ScenarioFilter struct {
	Q       string // part of a name
	Deleted bool   // the trash: deleted scenarios only
	Page    int    // from 1
}

// URL returns the list's address for this filter on page.
func (f ScenarioFilter) URL(page int) string {
	v := url.Values{}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	if f.Deleted {
		v.Set("deleted", "1")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return paths.Scenarios
	}
	return paths.Scenarios + "?" + v.Encode()
}

// ScenarioRow is one line of the scenario list.
type ScenarioRow struct {
	ID          string
	Name        string
	Description string // the markdown source; the list shows an excerpt
	Tests       int
	UpdatedAt   time.Time
	Deleted     bool
}

// Excerpt is the start of the description as plain words on one line.
func (r ScenarioRow) Excerpt() string { return scenarioExcerpt(r.Description, 140) }

// ScenarioList is the scenario list page: the filter, one page of rows and
// where it sits in the whole.
type ScenarioList struct {
	Filter   ScenarioFilter
	Rows     []ScenarioRow
	Total    int // scenarios matching the filter
	Pages    int
	CanWrite bool // template.write: the "new scenario" button
	CanTrash bool // trash.manage: the trash and its restore buttons
}

// From is the position of the first row shown (1-based), 0 when none.
func (l ScenarioList) From() int {
	if l.Total == 0 {
		return 0
	}
	return (l.Filter.Page-1)*ScenariosPageSize + 1
}

// To is the position of the last row shown.
func (l ScenarioList) To() int { return l.From() + len(l.Rows) - 1 }

// ScenarioForm is the name and description form of a scenario, new or
// existing. The version of an existing scenario is not in it: it travels
// with the ordered list (ScenarioTests), which is re-rendered after every
// change, so the form always sends the version the page shows.
type ScenarioForm struct {
	ID          string // "" for a new scenario
	Name        string
	Description string
	Errors      components.Errors
	// Open shows the edit form unfolded (after a refused save).
	Open bool
}

// Action is where the form posts.
func (f ScenarioForm) Action() string {
	if f.ID == "" {
		return paths.Scenarios
	}
	return paths.URL(paths.Scenario, f.ID)
}

// scenarioFormID is the element id of the scenario form; the version input
// in ScenarioTests names the edit form's.
func scenarioFormID(f ScenarioForm) string {
	if f.ID == "" {
		return "scenario-new-form"
	}
	return "scenario-edit-form"
}

// ScenarioEntry is one position of a scenario's ordered list.
type ScenarioEntry struct {
	ID           string
	TemplateID   string
	TemplateName string // "" when the template was deleted
	Tags         []attack.Entry
}

// ScenarioTests is a scenario's ordered list of tests: the fragment every
// order change swaps, carrying the scenario's current version in each of
// its forms.
type ScenarioTests struct {
	ScenarioID string
	Version    int
	Entries    []ScenarioEntry
	Editable   bool // template.write on a scenario that is not deleted
	// NoticeKey is an i18n key shown above the list: why a change was
	// refused (someone else changed the scenario first) or what happened.
	NoticeKey string
	Notice    string // "stale", "error" or "saved": how the notice looks
}

// Notice kinds of ScenarioTests.
const (
	ScenarioNoticeStale = "stale"
	ScenarioNoticeError = "error"
	ScenarioNoticeSaved = "saved"
)

// ScenarioCandidate is a test template an "add a test" search offers.
type ScenarioCandidate struct {
	ID   string
	Name string
	Tags []attack.Entry
}

// ScenarioCandidates is one "add a test" search: the templates whose name
// matches, each with an add button that submits the list's add form.
type ScenarioCandidates struct {
	ScenarioID string
	Query      string
	Hits       []ScenarioCandidate
	More       bool // more templates matched than shown
}

// ScenarioDetail is a scenario's page.
type ScenarioDetail struct {
	ID          string
	Name        string // the stored name (the form may hold another)
	Description string
	UpdatedAt   time.Time
	DeletedAt   *time.Time
	Form        ScenarioForm
	Tests       ScenarioTests
	Candidates  ScenarioCandidates
	CanWrite    bool // template.write
	CanTrash    bool // trash.manage
	// NoticeKey is an i18n key shown at the top of the page: a save of the
	// name and description refused because someone else changed the
	// scenario first.
	NoticeKey string
}

// Deleted reports whether the scenario is in the trash.
func (d ScenarioDetail) Deleted() bool { return d.DeletedAt != nil }

// scenarioEntryLabel names an entry for screen readers ("Move … up").
func scenarioEntryLabel(ctx context.Context, e ScenarioEntry) string {
	if e.TemplateName == "" {
		return i18n.T(ctx, "library.scenarios.template_gone")
	}
	return e.TemplateName
}

// scenarioMoveLabel says what an up or down button does, naming the
// entry when name is not "".
func scenarioMoveLabel(ctx context.Context, direction, name string) string {
	switch {
	case direction == "up" && name != "":
		return i18n.T(ctx, "library.scenarios.move_up_named", "Name", name)
	case direction == "up":
		return i18n.T(ctx, "library.scenarios.move_up")
	case name != "":
		return i18n.T(ctx, "library.scenarios.move_down_named", "Name", name)
	default:
		return i18n.T(ctx, "library.scenarios.move_down")
	}
}

// scenarioExcerpt cuts text to about max characters on one line, at a
// word boundary when there is one, with an ellipsis when cut. Markdown
// marks stay as typed: the excerpt is escaped text, never HTML.
func scenarioExcerpt(text string, max int) string {
	s := strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)[:max]
	cut := string(r)
	if i := strings.LastIndexByte(cut, ' '); i > max/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}

// scenarioTime shows a time in the viewer's zone with the zone named.
func scenarioTime(ctx context.Context, t time.Time) string { return i18n.Time(ctx, t) }

// scenarioISOTime is the machine-readable form for <time datetime>.
func scenarioISOTime(t time.Time) string { return i18n.ISO(t) }

// candidateValues is the hx-vals of a candidate's add button: the template
// to add, as JSON (never evaluated as script).
func candidateValues(templateID string) string {
	b, _ := json.Marshal(map[string]string{"template_id": templateID})
	return string(b)
}
