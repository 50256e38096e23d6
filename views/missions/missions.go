package missions

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"time"

	"violet/ent/schema"
	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/internal/textrule"
	"violet/views/components"
)

// Sizes of the mission pages.
const (
	PageSize           = 50
	CandidateLimit     = 20
	DefaultCategoryHex = "#6d28d9"
)

// Limits of the mission forms, as the handlers check them: the columns'
// own lengths, read from the ent schema.
var (
	NameMax         = textrule.For(schema.Mission{}, "name").Max
	DescriptionMax  = textrule.For(schema.Mission{}, "description").Max
	ScopeMax        = textrule.For(schema.Mission{}, "scope").Max
	CategoryNameMax = textrule.For(schema.MissionCategory{}, "name").Max
)

// Statuses lists a mission's statuses in their order.
func Statuses() []string {
	return []string{"draft", "planned", "in_progress", "completed", "archived"}
}

// Filter is the mission list's query as the filters and the pager hold
// it; it round-trips through the URL so Back and reload keep it.
type Filter struct {
	Q       string // part of a name
	Status  string // "" for any
	Mine    bool   // missions the viewer is a member of
	Deleted bool   // the trash
	Page    int    // from 1
}

// URL returns the list's address for this filter on page.
func (f Filter) URL(page int) string {
	v := url.Values{}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	if f.Status != "" {
		v.Set("status", f.Status)
	}
	if f.Mine {
		v.Set("mine", "1")
	}
	if f.Deleted {
		v.Set("deleted", "1")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return paths.Missions
	}
	return paths.Missions + "?" + v.Encode()
}

// Row is one line of the mission list.
type Row struct {
	ID        string
	Name      string
	Status    string
	StartDate *time.Time
	EndDate   *time.Time
	Members   int
	Tests     int // tests the viewer may see
	Executed  int // executed or reviewed
	Deleted   bool
	Labels    []string // shown as chips (insights filter by them)
}

// List is the mission list page.
type List struct {
	Filter    Filter
	Rows      []Row
	Total     int
	Pages     int
	CanCreate bool // mission.create
	CanTrash  bool // trash.manage
}

// From is the position of the first row shown (1-based), 0 when none.
func (l List) From() int {
	if l.Total == 0 {
		return 0
	}
	return (l.Filter.Page-1)*PageSize + 1
}

// To is the position of the last row shown.
func (l List) To() int { return l.From() + len(l.Rows) - 1 }

// Form is the mission form, new (ID "") or existing. Dates are the
// inputs' text (YYYY-MM-DD), kept as typed when refused.
type Form struct {
	ID          string
	Name        string
	Description string
	Scope       string
	StartDate   string
	EndDate     string
	Labels      string // comma-separated, as typed
	Version     int
	Errors      components.Errors
	// Tools are the defensive tools the edit form offers (every active
	// tool, and the inactive ones already in scope), each checked when in
	// scope; a new mission's form has none.
	Tools []Tool
	// ToolsAdmin: the viewer keeps the tool registry (settings.manage),
	// so an empty registry points them to it.
	ToolsAdmin bool
}

// Tool is a defensive tool on the mission form. An inactive tool is only
// listed when the mission already has it in scope, so that saving the
// form does not drop it silently; it is marked as such.
type Tool struct {
	ID      string
	Name    string
	Vendor  string
	Kind    string // one of schema.ToolKinds
	Active  bool
	Checked bool // in scope (as stored, or as the refused form sent it)
}

// InScope are the form's tools that are checked, in their order.
func (f Form) InScope() []Tool {
	var out []Tool
	for _, t := range f.Tools {
		if t.Checked {
			out = append(out, t)
		}
	}
	return out
}

// CheckTools is tools with exactly the ids in checked checked: a refused
// form shown again with the user's choice.
func CheckTools(tools []Tool, checked []string) []Tool {
	out := make([]Tool, len(tools))
	for i, t := range tools {
		t.Checked = slices.Contains(checked, t.ID)
		out[i] = t
	}
	return out
}

// ToolKindLabel names a tool's kind in the viewer's language.
func ToolKindLabel(ctx context.Context, kind string) string {
	return i18n.T(ctx, "tools.kind_label.kind_"+kind)
}

// Action is where the form posts.
func (f Form) Action() string {
	if f.ID == "" {
		return paths.Missions
	}
	return paths.URL(paths.MissionSettings, f.ID)
}

// Settings is a mission's settings page: the form (or, archived, its
// values read-only), the status box and delete or restore.
type Settings struct {
	ID        string
	Name      string // the stored name
	Status    string
	Form      Form
	Next      []string // statuses the mission may move to
	ReadOnly  bool     // archived: no inputs
	Deleted   bool
	CanManage bool
	CanTrash  bool
	// Saved holds the stored values after a refused stale save (409), next
	// to the user's input kept in Form.
	Saved *Form
	// NoticeKey (with NoticeArgs) says why a change was refused.
	NoticeKey  string
	NoticeArgs []any
}

// Member is one member of a mission.
type Member struct {
	UserID string
	Name   string
	Email  string
	Role   string
	Self   bool
	// MixedName and MixedEmail flag a name or an address that mixes
	// writing systems (identity.MixedScript): a possible look-alike.
	MixedName  bool
	MixedEmail bool
}

// Members is a mission's member list: the fragment every member change
// swaps.
type Members struct {
	MissionID string
	Rows      []Member
	CanManage bool // leads and mission.manage, not on an archived mission
	// NoticeKey says what a change did or why it was refused; Notice is
	// "saved" or "error".
	NoticeKey string
	Notice    string
}

// Candidate is an active user a member search offers.
type Candidate struct {
	ID    string
	Name  string
	Email string
	// MixedName and MixedEmail flag a possible look-alike, as for Member:
	// the picker is where one would be added by mistake.
	MixedName  bool
	MixedEmail bool
}

// Candidates is one member search.
type Candidates struct {
	MissionID string
	Query     string
	Hits      []Candidate
	More      bool
	OOB       bool // swapped out of band, after an add
}

// MembersDetail is the members page.
type MembersDetail struct {
	ID         string
	Name       string
	Members    Members
	Candidates Candidates
	CanManage  bool // the settings tab
}

// Category is one category of a mission.
type Category struct {
	ID     string
	Name   string
	Colour string
	Tests  int
}

// CategoryForm is the add form or one row's edit form, with its errors.
type CategoryForm struct {
	ID     string // "" for the add form
	Name   string
	Colour string
	Errors components.Errors
}

// Categories is a mission's ordered categories: the fragment every
// category change swaps.
type Categories struct {
	MissionID string
	Rows      []Category
	CanManage bool
	Add       CategoryForm
	Edit      *CategoryForm // a refused edit, shown open with its errors
	NoticeKey string
	Notice    string // "saved" or "error"
}

// CategoriesDetail is the categories page.
type CategoriesDetail struct {
	ID         string
	Name       string
	Categories Categories
	CanManage  bool
}

// Notice kinds.
const (
	NoticeSaved = "saved"
	NoticeError = "error"
)

// statusKey is the i18n key naming a status.
func statusKey(status string) string { return "missions.status." + status }

// StatusLabel names a status in the viewer's language.
func StatusLabel(ctx context.Context, status string) string { return i18n.T(ctx, statusKey(status)) }

// StatusBadge is the badge class of a mission status, wherever one is shown.
func StatusBadge(status string) string {
	switch status {
	case "in_progress":
		return "badge badge--warn"
	case "completed":
		return "badge badge--ok"
	default:
		return "badge badge--neutral"
	}
}

// roleKey is the i18n key naming a role.
func roleKey(role string) string { return "missions.members.role_" + role }

// RoleLabel names a member role in the context's language.
func RoleLabel(ctx context.Context, role string) string { return i18n.T(ctx, roleKey(role)) }

// day shows a date, or a dash. A mission's dates are calendar days with
// no zone: they are not converted to the viewer's.
func day(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.Format("2006-01-02")
}

// progressLabel is "executed/total".
func progressLabel(r Row) string { return strconv.Itoa(r.Executed) + "/" + strconv.Itoa(r.Tests) }

// editForm is the edit form of row r: the refused input when that row's
// edit was refused, else its stored values.
func editForm(c Categories, r Category) CategoryForm {
	if c.Edit != nil && c.Edit.ID == r.ID {
		return *c.Edit
	}
	return CategoryForm{ID: r.ID, Name: r.Name, Colour: r.Colour}
}

// colourOr is a colour input's value: a colour input only holds #rrggbb,
// so anything else (a refused value) shows the default.
func colourOr(c string) string {
	if len(c) == 7 && c[0] == '#' {
		return c
	}
	return DefaultCategoryHex
}

// moveLabel names a status button: a move back (a completed mission
// going on, an archived one coming back) reads as reopening.
func moveLabel(ctx context.Context, from, to string) string {
	order := Statuses()
	if slices.Index(order, to) < slices.Index(order, from) && from != "planned" {
		return i18n.T(ctx, "missions.status.reopen", "Status", StatusLabel(ctx, to))
	}
	return i18n.T(ctx, "missions.status.move_to", "Status", StatusLabel(ctx, to))
}

// StatusKey is the i18n key naming a status, for a notification that
// stores it to translate it when read.
func StatusKey(status string) string { return statusKey(status) }

// RoleKey is the i18n key naming a member role, for a notification that
// stores it to translate it when read.
func RoleKey(role string) string { return roleKey(role) }
