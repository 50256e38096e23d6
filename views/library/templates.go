package library

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/internal/textrule"
	"violet/views/attack"
	"violet/views/components"
	"violet/views/expectedrules"
	"violet/views/rulepicker"
)

// TemplatesPageSize is how many test templates one page of the list shows.
const TemplatesPageSize = 50

// Field limits of the test template form, as the handler checks them. The
// column lengths are read from the ent schema (every markdown field has the
// description's length); labels are a JSON list, bounded here.
var (
	TemplateNameMax = textrule.For(schema.TestTemplate{}, "name").Max
	TemplateTextMax = textrule.For(schema.TestTemplate{}, "description").Max
)

const (
	TemplateLabelMax  = 50 // characters of one label
	TemplateLabelsMax = 30 // labels on one template
)

// The lists below are functions returning a fresh slice rather than
// exported variables, so that no importer can change them for everyone.

// TemplatePlatforms is the fixed list of platforms a template may name:
// ATT&CK's own names, which the Atomic import also uses, so one filter
// serves both.
func TemplatePlatforms() []string {
	return []string{
		"Windows", "Linux", "macOS", "Network Devices", "Containers", "IaaS", "SaaS",
		"Office Suite", "Identity Provider", "ESXi", "PRE",
	}
}

// TemplateOpsecLevels are the opsec levels, quietest first: ent's enum,
// written once in the schema.
func TemplateOpsecLevels() []string {
	return []string{
		testtemplate.OpsecLevelLow.String(), testtemplate.OpsecLevelMedium.String(),
		testtemplate.OpsecLevelHigh.String(),
	}
}

// TemplateSources are where templates come from: ent's enum.
func TemplateSources() []string {
	return []string{testtemplate.SourceManual.String(), testtemplate.SourceAtomic.String()}
}

// TemplateTextFields are the markdown fields of the form, in the order it
// shows them; each is a form field name and the i18n key suffix of its
// label (library.templates.field_<name>).
func TemplateTextFields() []string {
	return []string{
		"description", "objective", "procedure", "prerequisites", "cleanup", "expected_detection",
	}
}

// TemplateFilter is the test template list's query as the filter form and
// the pager hold it; it round-trips through the URL so that Back and
// reload show the same list.
type TemplateFilter struct {
	Q         string // part of a name, or an ATT&CK ID
	Tactic    string // a tactic's ATT&CK ID
	Technique string // a technique's ATT&CK ID (its sub-techniques match too)
	Platform  string
	Opsec     string
	Source    string
	Label     string
	Deleted   bool // the trash: deleted templates only
	Page      int  // from 1
}

// Values is the filter as query parameters, without the page.
func (f TemplateFilter) Values() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{
		{"q", f.Q}, {"tactic", f.Tactic}, {"technique", f.Technique}, {"platform", f.Platform},
		{"opsec", f.Opsec}, {"source", f.Source}, {"label", f.Label},
	} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if f.Deleted {
		v.Set("deleted", "1")
	}
	return v
}

// URL returns the list's address for this filter on page.
func (f TemplateFilter) URL(page int) string {
	v := f.Values()
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return paths.Templates
	}
	return paths.Templates + "?" + v.Encode()
}

// Active reports whether anything narrows the list.
func (f TemplateFilter) Active() bool {
	return f.Q != "" || f.Tactic != "" || f.Technique != "" || f.Platform != "" ||
		f.Opsec != "" || f.Source != "" || f.Label != ""
}

// TemplateOption is one choice of a select: a value and what it shows.
type TemplateOption struct {
	Value string
	Label string
}

// TemplateRow is one line of the test template list.
type TemplateRow struct {
	ID        string
	Name      string
	Tags      []attack.Entry
	Platforms []string
	Opsec     string
	Source    string
	UpdatedAt time.Time
	Deleted   bool
}

// TemplateList is the test template list page: the filter, one page of
// rows, where it sits in the whole, and what the bulk form offers.
type TemplateList struct {
	Filter    TemplateFilter
	Rows      []TemplateRow
	Total     int
	Pages     int
	Tactics   []TemplateOption // the tactic filter's choices
	Scenarios []TemplateOption // "add to scenario" targets
	CanWrite  bool             // template.write: new, bulk actions
	CanTrash  bool             // trash.manage: the trash and restore
	// NoticeKey is an i18n key shown above the list: why a bulk action
	// was refused.
	NoticeKey string
	// Selected and Scenario are a refused bulk form's ticked templates
	// and chosen scenario, kept for the next try.
	Selected map[string]bool
	Scenario string
}

// From is the position of the first row shown (1-based), 0 when none.
func (l TemplateList) From() int {
	if l.Total == 0 {
		return 0
	}
	return (l.Filter.Page-1)*TemplatesPageSize + 1
}

// To is the position of the last row shown.
func (l TemplateList) To() int { return l.From() + len(l.Rows) - 1 }

// Bulk reports whether rows get checkboxes and the bulk form.
func (l TemplateList) Bulk() bool { return l.CanWrite && !l.Filter.Deleted }

// TemplateForm is the create/edit form of a test template, as typed.
type TemplateForm struct {
	ID                string // "" for a new template
	Version           int
	Name              string
	Description       string
	Objective         string
	Procedure         string
	Prerequisites     string
	Cleanup           string
	ExpectedDetection string
	Platforms         []string
	Opsec             string
	Labels            string // comma-separated, as typed
	Tags              []attack.PickedTag
	// The detection rules expected to fire (the rules picker): those
	// picked, and those offered (RulesQuery's search by title, else the
	// rules of the template's techniques).
	Rules          []RuleChoice
	RuleCandidates []RuleChoice
	RulesQuery     string
	// Expected is the free rule names per tool expected to fire.
	Expected expectedrules.Editor
	Errors   components.Errors
	// Conflict is set when a save was refused because someone else saved
	// the template first: what is stored now.
	Conflict *TemplateConflict
}

// RuleChoice is a detection rule of the catalogue in the rules picker.
type RuleChoice = rulepicker.Rule

// RulesURL is where the rules picker searches: the form's own page,
// which answers an htmx request with the picker's results.
func (f TemplateForm) RulesURL() string {
	if f.ID == "" {
		return paths.TemplateNew
	}
	return paths.URL(paths.TemplateEdit, f.ID)
}

// RulePicker is the form's rules picker, suggesting the rules of the
// template's techniques.
func (f TemplateForm) RulePicker() rulepicker.Props {
	return rulepicker.Props{Picked: f.Rules, Offered: f.RuleCandidates, Query: f.RulesQuery, URL: f.RulesURL(),
		Hint: "sigma.picker.hint", Suggested: "sigma.picker.suggested", Errors: f.Errors}
}

// Action is where the form posts.
func (f TemplateForm) Action() string {
	if f.ID == "" {
		return paths.Templates
	}
	return paths.URL(paths.Template, f.ID)
}

// Text returns the value of a markdown field by its form name.
func (f TemplateForm) Text(name string) string {
	switch name {
	case "description":
		return f.Description
	case "objective":
		return f.Objective
	case "procedure":
		return f.Procedure
	case "prerequisites":
		return f.Prerequisites
	case "cleanup":
		return f.Cleanup
	case "expected_detection":
		return f.ExpectedDetection
	}
	return ""
}

// HasPlatform reports whether the form ticks platform p.
func (f TemplateForm) HasPlatform(p string) bool {
	for _, x := range f.Platforms {
		if x == p {
			return true
		}
	}
	return false
}

// TemplateConflict is the stored state of a template whose save was
// refused as stale: its name, when and at which version it was saved, and
// the fields whose stored value differs from the refused input.
type TemplateConflict struct {
	Name      string
	UpdatedAt time.Time
	Version   int
	Fields    []TemplateConflictField
}

// TemplateConflictField is one field that differs: its label key and the
// value stored now, as text.
type TemplateConflictField struct {
	Label string
	Value string
}

// TemplateUse is a scenario holding a template.
type TemplateUse struct {
	ID   string
	Name string
}

// TemplateDetail is a test template's page.
type TemplateDetail struct {
	ID                string
	Name              string
	Description       string
	Objective         string
	Procedure         string
	Prerequisites     string
	Cleanup           string
	ExpectedDetection string
	Platforms         []string
	Opsec             string
	Source            string
	ExternalRef       string
	Labels            []string
	Tags              []attack.Entry
	UpdatedAt         time.Time
	DeletedAt         *time.Time
	Scenarios         []TemplateUse
	// The detection rules expected to fire: the catalogue's (Sigma) and
	// the free names per tool.
	Rules    []RuleChoice
	Expected []expectedrules.Rule
	CanWrite bool
	CanTrash bool
}

// Deleted reports whether the template is in the trash.
func (d TemplateDetail) Deleted() bool { return d.DeletedAt != nil }

// Text returns the value of a markdown field by its form name.
func (d TemplateDetail) Text(name string) string {
	return TemplateForm{Description: d.Description, Objective: d.Objective, Procedure: d.Procedure,
		Prerequisites: d.Prerequisites, Cleanup: d.Cleanup, ExpectedDetection: d.ExpectedDetection}.Text(name)
}

// templateFieldLabel is the i18n key of a form field's label.
func templateFieldLabel(name string) string { return "library.templates.field_" + name }

// templateOpsecLabel is the translated name of an opsec level.
func templateOpsecLabel(ctx context.Context, level string) string {
	return i18n.T(ctx, "library.templates.opsec_"+level)
}

// templateSourceLabel is the translated name of a source.
func templateSourceLabel(ctx context.Context, source string) string {
	return i18n.T(ctx, "library.templates.source_"+source)
}

// templatePreviewValues is the hx-vals of a preview button: which field
// to render, as JSON (never evaluated as script).
func templatePreviewValues(field string) string {
	b, _ := json.Marshal(map[string]string{"field": field})
	return string(b)
}

// templateJoin lists values separated by commas.
func templateJoin(values []string) string { return strings.Join(values, ", ") }

// templateFormFields are the template form's fields with their labels, in
// the form's order, for its error summary.
func templateFormFields() []components.Labelled {
	fields := []components.Labelled{components.Label("name", "library.templates.name")}
	for _, name := range TemplateTextFields() {
		fields = append(fields, components.Label(name, templateFieldLabel(name)))
	}
	return append(fields,
		components.Label("platforms", "library.templates.platforms"),
		components.Label("opsec_level", "library.templates.opsec"),
		components.Label("labels", "library.templates.labels"),
		components.Label("tags", "attack.picker.label"),
		components.Label("rules", "sigma.picker.legend"),
		components.Label(expectedrules.Field, "expectedrules.legend"))
}
