// Package attack renders the ATT&CK catalogue: the matrix, search as you
// type, one page per tactic, technique and sub-technique, and the picker
// that forms use to tag things with ATT&CK entries.
package attack

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"violet/internal/i18n"
	"violet/internal/paths"
)

// Kinds of catalogue entry, as picker values and mission tags name them.
const (
	KindTactic       = "tactic"
	KindTechnique    = "technique"
	KindSubtechnique = "subtechnique"
)

// SearchLimit is the most results one search shows.
const SearchLimit = 50

// Entry is a catalogue entry as lists and links show it: ATT&CK ID next
// to the name, and whether it is retired.
type Entry struct {
	Kind       string
	ExternalID string
	Name       string
	Revoked    bool
	Deprecated bool
}

// Href is the entry's page in Violet.
func (e Entry) Href() string { return paths.URL(paths.AttackEntry, e.ExternalID) }

// Retired reports a revoked or deprecated entry: hidden from the matrix by
// default and from pickers always.
func (e Entry) Retired() bool { return e.Revoked || e.Deprecated }

// KindLabel is the translated name of an entry's kind.
func KindLabel(ctx context.Context, kind string) string { return i18n.T(ctx, "attack.kind."+kind) }

// MatrixFilter is what the matrix shows, as its URL holds it.
type MatrixFilter struct {
	Platform string // "" for every platform
	Retired  bool   // show revoked and deprecated entries too
}

// URL is the matrix's address for the filter.
func (f MatrixFilter) URL() string {
	v := url.Values{}
	if f.Platform != "" {
		v.Set("platform", f.Platform)
	}
	if f.Retired {
		v.Set("retired", "1")
	}
	if len(v) == 0 {
		return paths.Attack
	}
	return paths.Attack + "?" + v.Encode()
}

// ToggleRetired is the same filter with retired entries switched.
func (f MatrixFilter) ToggleRetired() MatrixFilter {
	f.Retired = !f.Retired
	return f
}

// MatrixTechnique is a technique in a column, with the sub-techniques the
// filter keeps.
type MatrixTechnique struct {
	Entry
	Subtechniques []Entry
}

// MatrixColumn is a tactic and its techniques, sorted by name.
type MatrixColumn struct {
	Tactic     Entry
	Techniques []MatrixTechnique
}

// Matrix is the matrix page: the filter, the platforms it offers and the
// columns in matrix order.
type Matrix struct {
	Filter    MatrixFilter
	Platforms []string // every platform of the entries the retired filter keeps, sorted
	Columns   []MatrixColumn
	// Empty means there is no catalogue at all (never synced); CanSync
	// whether the viewer may go and sync it.
	Empty   bool
	CanSync bool
	// Distinct entries shown: a technique under several tactics counts once.
	TechniqueCount    int
	SubtechniqueCount int
}

// Hit is one search or picker result.
type Hit struct {
	Entry
	ID     string // the row's UUID, for picker values
	Parent string // a sub-technique's technique name, for context
}

// Label is the name as MITRE shows it: "Technique: Sub-technique" for a
// sub-technique.
func (h Hit) Label() string {
	if h.Parent != "" {
		return h.Parent + ": " + h.Name
	}
	return h.Name
}

// Search is the search page: the query and up to SearchLimit results.
type Search struct {
	Query   string
	Results []Hit
	More    bool // more entries matched than shown
}

// SearchURL is the search page's address for a query.
func SearchURL(q string) string { return paths.AttackSearch + "?q=" + url.QueryEscape(q) }

// TemplateUse is a test template tagged with an entry.
type TemplateUse struct {
	ID   string
	Name string
}

// Href is the template's page.
func (u TemplateUse) Href() string { return paths.URL(paths.Template, u.ID) }

// MissionTestUse is a mission test tagged with an entry.
type MissionTestUse struct {
	ID          string
	Name        string
	MissionID   string
	MissionName string
}

// Href is the mission test's page.
func (u MissionTestUse) Href() string { return paths.URL(paths.MissionTest, u.MissionID, u.ID) }

// Detail is one entry's page.
type Detail struct {
	Entry
	Description string // markdown, MITRE's
	URL         string // the entry's page on MITRE's site
	Platforms   []string
	Version     string // ATT&CK release of the last sync that changed it
	Modified    *time.Time
	ReplacedBy  *Entry // the replacement of a revoked entry, when known
	Tactics     []Entry
	Parent      *Entry  // a sub-technique's technique
	Children    []Entry // a technique's sub-techniques, a tactic's techniques
	// What uses the entry, each list only when the viewer may see it.
	ShowTemplates    bool
	TemplateCount    int
	Templates        []TemplateUse // the first ones by name
	ShowMissionTests bool
	MissionTestCount int
	MissionTests     []MissionTestUse // the first ones by name
}

// ChildrenKey is the i18n key of the heading over Children.
func (d Detail) ChildrenKey() string {
	if d.Kind == KindTactic {
		return "attack.detail.techniques"
	}
	return "attack.detail.subtechniques"
}

// modified shows a catalogue time in UTC with the zone named.
func modified(t *time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

func itoa(n int) string { return strconv.Itoa(n) }
