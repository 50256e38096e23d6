// Package attack renders the ATT&CK catalogue: the matrix, search as you
// type, one page per tactic, technique and sub-technique, and the picker
// that forms use to tag things with ATT&CK entries.
package attack

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
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

// Overlays of the matrix (?overlay=).
const (
	OverlayLibrary = "library" // test templates per technique
	OverlayMission = "mission" // a mission's results in the scale's colours
)

// MatrixFilter is what the matrix shows, as its URL holds it.
type MatrixFilter struct {
	Platform string // "" for every platform
	Retired  bool   // show revoked and deprecated entries too
	Overlay  string // "", OverlayLibrary or OverlayMission
	Mission  string // the mission of OverlayMission, a UUID
}

// URL is the matrix's address for the filter.
func (f MatrixFilter) URL() string {
	var kv []string
	if f.Platform != "" {
		kv = append(kv, "platform", f.Platform)
	}
	if f.Retired {
		kv = append(kv, "retired", "1")
	}
	if f.Overlay != "" {
		kv = append(kv, "overlay", f.Overlay)
	}
	if f.Overlay == OverlayMission && f.Mission != "" {
		kv = append(kv, "mission", f.Mission)
	}
	return paths.Query(paths.Attack, kv...)
}

// ToggleRetired is the same filter with retired entries switched.
func (f MatrixFilter) ToggleRetired() MatrixFilter {
	f.Retired = !f.Retired
	return f
}

// Cover is what an overlay says of one technique or sub-technique; nil
// when the overlay says nothing of it (no template, no test).
type Cover struct {
	Count int    // templates (library) or tests (mission)
	Class string // the cell's colour: a CoverN bucket, scale.Class of a level, CoverUnrated or CoverUntested
	Level string // the level's name (mission)
}

// Classes of covered cells outside the scale's own level classes.
const (
	CoverUnrated  = "cover--unrated"  // executed or reviewed, no detection level recorded
	CoverUntested = "cover--untested" // planned, running, skipped or blocked
)

// CoverClass is the library overlay's shade for n templates, from the
// lightest bucket (1) to the darkest (10 and more); "" for none.
func CoverClass(n int) string {
	switch {
	case n >= 10:
		return "cover--4"
	case n >= 5:
		return "cover--3"
	case n >= 2:
		return "cover--2"
	case n >= 1:
		return "cover--1"
	}
	return ""
}

// MatrixSub is a sub-technique in a cell, with what the overlay says of it.
type MatrixSub struct {
	Entry
	Cover *Cover
}

// MatrixTechnique is a technique in a column, with the sub-techniques the
// filter keeps and what the overlay says of it: its own tests or templates
// and its sub-techniques', each counted once.
type MatrixTechnique struct {
	Entry
	Subtechniques []MatrixSub
	Cover         *Cover
}

// MatrixColumn is a tactic and its techniques, sorted by name.
type MatrixColumn struct {
	Tactic     Entry
	Techniques []MatrixTechnique
}

// MissionOption is a mission the mission overlay offers.
type MissionOption struct {
	ID   string
	Name string
}

// LegendItem is one colour of an overlay's legend.
type LegendItem struct {
	Class string
	Label string // already translated
}

// Overlay is the overlay part of the matrix: which overlays the viewer
// may choose, the missions to choose from, and the legend.
type Overlay struct {
	CanLibrary bool            // the viewer may read the library
	CanMission bool            // the viewer may read missions
	Missions   []MissionOption // with OverlayMission: the missions the viewer may read, by name
	Mission    string          // the chosen mission's name
	Legend     []LegendItem
}

// Matrix is the matrix page: the filter, the platforms it offers and the
// columns in matrix order.
type Matrix struct {
	Filter    MatrixFilter
	Overlay   Overlay
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
	// RollsUp: a technique's lists include its sub-techniques' uses.
	RollsUp          bool
	ShowTemplates    bool
	TemplateCount    int
	Templates        []TemplateUse // the first ones by name
	ShowMissionTests bool
	MissionTestCount int
	MissionTests     []MissionTestUse // the first ones by name
	// The detection rules of the catalogue expected to detect the entry
	// (a technique's include its sub-techniques'), for techniques and
	// sub-techniques.
	ShowRules bool
	Rules     []RuleUse
}

// RuleUse is a detection rule whose ATT&CK tags name an entry.
type RuleUse struct {
	ID, UID   string // the catalogue's id, the Sigma rule's id
	Title     string
	Level     string   // informational, low, medium, high, critical
	Status    string   // stable, test, experimental, deprecated, unsupported
	Logsource string   // "windows / ps_script"
	Via       []string // the sub-techniques it names, when it does not name the technique itself
}

// ChildrenKey is the i18n key of the heading over Children.
func (d Detail) ChildrenKey() string {
	if d.Kind == KindTactic {
		return "attack.detail.techniques"
	}
	return "attack.detail.subtechniques"
}

// modified shows a catalogue time in the viewer's zone with the zone named.
func modified(ctx context.Context, t *time.Time) string { return i18n.Time(ctx, *t) }

func itoa(n int) string { return strconv.Itoa(n) }

// coverClass is a covered cell's colour class ("" without a cover).
func coverClass(c *Cover) string {
	if c == nil {
		return ""
	}
	return "is-covered " + c.Class
}

// coverTitle says in words what a cell's colour and count mean.
func coverTitle(ctx context.Context, c *Cover) string {
	switch {
	case c == nil:
		return ""
	case c.Level != "":
		return i18n.T(ctx, "matrix.title_level", "Level", c.Level, "Count", c.Count)
	case c.Class == CoverUnrated:
		return i18n.T(ctx, "matrix.title_unrated", "Count", c.Count)
	case c.Class == CoverUntested:
		return i18n.T(ctx, "matrix.title_untested", "Count", c.Count)
	}
	return i18n.T(ctx, "matrix.title_templates", "Count", c.Count)
}

// nameParts splits a name after each "/" (the slash kept), for wrapName.
func nameParts(name string) []string { return strings.SplitAfter(name, "/") }

// RuleWord translates a Sigma level or status (prefix + word) when it is
// one of the format's own words, and shows any other as written: rules
// from elsewhere may carry their own.
func RuleWord(ctx context.Context, prefix, word string) string {
	known := []string{"stable", "test", "experimental", "deprecated", "unsupported"}
	if prefix == "sigma.level." {
		known = []string{"informational", "low", "medium", "high", "critical"}
	}
	switch {
	case word == "":
		return "—"
	case slices.Contains(known, word):
		return i18n.T(ctx, prefix+word)
	}
	return word
}
