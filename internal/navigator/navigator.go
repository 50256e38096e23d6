// Package navigator writes and reads MITRE ATT&CK Navigator layers, so
// that a mission's results open in MITRE's Navigator and a layer someone
// drew there can seed a mission's plan. It writes layer format 4.5, domain
// enterprise-attack; it reads the formats the Navigator itself opens (3.x
// and 4.x) and Enterprise ATT&CK under both its names (enterprise-attack,
// and mitre-enterprise of format 3.x), see Parse.
//
// Scoring rule of an exported layer (also written in the layer's
// description): a technique entry's score is the HIGHEST detection-level
// score among its tests that were executed or reviewed and have a
// detection level; tests without a level (or not run yet, skipped,
// blocked) are listed in the comment but not counted; an entry without
// such a test has no score and no colour. The entry's colour is the
// colour of the level that gave the score (on a tie, the level placed
// first on the scale). The maximum answers "did anything we tried on this
// technique get seen": one detected procedure is what a defender can
// build on, and the comment lists every test with its outcome so that the
// misses stay visible.
//
// Tactics: a technique or sub-technique tag carries its tactics. When a
// test is also tagged with one of those tactics, it counts under that
// tactic only; otherwise under all of them. A technique whose tests all
// count under all its tactics gets one entry without "tactic" (Navigator
// applies it everywhere); a technique with a test under a specific tactic
// gets one entry per tactic of the technique, each scored from the tests
// that count under it (entries with no test are left out).
package navigator

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/internal/attackid"
	"violet/internal/scale"
)

// Format constants of the layers Violet writes.
const (
	Domain       = "enterprise-attack"
	LayerVersion = "4.5"
	// NavigatorVersion is the oldest Navigator that reads layer format 4.5.
	NavigatorVersion = "4.9.0"
)

// defaultGradient is Navigator's own red → yellow → green, used when the
// scale has fewer than two active levels.
var defaultGradient = []string{"#ff6666", "#ffe766", "#8ec843"}

// Layer is a Navigator layer. Field order is the order Navigator writes.
type Layer struct {
	Name                          string       `json:"name"`
	Versions                      Versions     `json:"versions"`
	Domain                        string       `json:"domain"`
	Description                   string       `json:"description"`
	Sorting                       int          `json:"sorting"`
	Layout                        *Layout      `json:"layout,omitempty"`
	HideDisabled                  bool         `json:"hideDisabled"`
	Techniques                    []Technique  `json:"techniques"`
	Gradient                      *Gradient    `json:"gradient,omitempty"`
	LegendItems                   []LegendItem `json:"legendItems"`
	Metadata                      []Metadata   `json:"metadata"`
	ShowTacticRowBackground       bool         `json:"showTacticRowBackground"`
	SelectTechniquesAcrossTactics bool         `json:"selectTechniquesAcrossTactics"`
	SelectSubtechniquesWithParent bool         `json:"selectSubtechniquesWithParent"`
}

// Versions names the formats the layer follows.
type Versions struct {
	Attack    string `json:"attack,omitempty"`
	Navigator string `json:"navigator"`
	Layer     string `json:"layer"`
}

// Layout is how Navigator draws the matrix.
type Layout struct {
	Layout                string `json:"layout"`
	AggregateFunction     string `json:"aggregateFunction"`
	ShowAggregateScores   bool   `json:"showAggregateScores"`
	CountUnscored         bool   `json:"countUnscored"`
	ShowID                bool   `json:"showID"`
	ShowName              bool   `json:"showName"`
	ExpandedSubtechniques string `json:"expandedSubtechniques"`
}

// Technique is one technique entry, under one tactic or all of them.
type Technique struct {
	TechniqueID       string     `json:"techniqueID"`
	Tactic            string     `json:"tactic,omitempty"`
	Score             *int       `json:"score,omitempty"`
	Color             string     `json:"color,omitempty"`
	Comment           string     `json:"comment,omitempty"`
	Enabled           bool       `json:"enabled"`
	Metadata          []Metadata `json:"metadata,omitempty"`
	ShowSubtechniques bool       `json:"showSubtechniques"`
}

// Gradient colours scores Navigator has no explicit colour for.
type Gradient struct {
	Colors   []string `json:"colors"`
	MinValue int      `json:"minValue"`
	MaxValue int      `json:"maxValue"`
}

// LegendItem names a colour.
type LegendItem struct {
	Label string `json:"label"`
	Color string `json:"color"`
}

// Metadata is a name/value pair Navigator shows.
type Metadata struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Level is a step of the detection scale.
type Level struct {
	ID       uuid.UUID
	Name     string
	Score    int
	Colour   string
	Position int
	Retired  bool
}

// Tactic is a tactic as the mission tags copied it.
type Tactic struct {
	ID, Shortname string
}

// Tag is an ATT&CK tag copied on a mission test.
type Tag struct {
	Kind       string // tactic, technique, subtechnique
	ExternalID string
	Tactics    []Tactic // of a technique or sub-technique
}

// Test is a mission test as the layer needs it.
type Test struct {
	Name    string
	State   string // pending, running, executed, reviewed, skipped, blocked
	LevelID *uuid.UUID
	Tags    []Tag
}

// Labels are the words of the layer in the exporter's language.
type Labels struct {
	Rule     string                    // the scoring rule, for the description
	State    func(state string) string // a test state's name
	NoLevel  string                    // a test without a detection level
	Mission  string                    // metadata names
	Exported string
	Catalog  string
	Tests    string
}

// Input is what a layer is built from.
type Input struct {
	Name, Description string
	AttackVersion     string // the catalogue's version ("17.1"); "" if never synced
	Levels            []Level
	Tests             []Test
	Now               time.Time
	Labels            Labels
}

// Scored reports whether a test's level counts towards its techniques'
// scores: executed or reviewed, with a level.
func Scored(t Test) bool { return scale.Counts(t.State, t.LevelID != nil) }

// AttackMajor is the version Navigator's configuration knows a catalogue
// by: the major number of "17.1".
func AttackMajor(v string) string {
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".")
	if _, err := strconv.Atoi(major); err != nil {
		return ""
	}
	return major
}

// entry gathers the tests of one technique under one tactic ("" = all).
type entry struct {
	id, tactic string
	tests      []int
}

// Build writes the layer of a mission (see the package doc for the rule).
func Build(in Input) Layer {
	levels := make(map[uuid.UUID]Level, len(in.Levels))
	for _, l := range in.Levels {
		levels[l.ID] = l
	}
	l := Layer{
		Name:        in.Name,
		Versions:    Versions{Attack: AttackMajor(in.AttackVersion), Navigator: NavigatorVersion, Layer: LayerVersion},
		Domain:      Domain,
		Description: strings.TrimSpace(strings.TrimSpace(in.Description) + "\n\n" + in.Labels.Rule),
		Layout: &Layout{Layout: "side", AggregateFunction: "max", ShowAggregateScores: true,
			ShowID: true, ShowName: true, ExpandedSubtechniques: "annotated"},
		Techniques:  []Technique{},
		Gradient:    gradient(in.Levels),
		LegendItems: []LegendItem{},
		Metadata: []Metadata{
			{Name: in.Labels.Mission, Value: in.Name},
			{Name: in.Labels.Exported, Value: in.Now.UTC().Format(time.RFC3339)},
		},
		SelectSubtechniquesWithParent: false,
	}
	if in.AttackVersion != "" {
		l.Metadata = append(l.Metadata, Metadata{Name: in.Labels.Catalog, Value: in.AttackVersion})
	}
	for _, lv := range sortedLevels(in.Levels) {
		if !lv.Retired {
			l.LegendItems = append(l.LegendItems, LegendItem{Label: fmt.Sprintf("%s (%d)", lv.Name, lv.Score), Color: lv.Colour})
		}
	}
	for _, e := range entries(in.Tests) {
		l.Techniques = append(l.Techniques, technique(e, in, levels))
	}
	return l
}

// entries groups the tests by technique and tactic, in ATT&CK ID order.
func entries(tests []Test) []entry {
	type key struct{ id, tactic string }
	groups := map[key][]int{}
	tacticsOf := map[string][]string{} // technique → its tactics' shortnames
	specific := map[string]bool{}      // technique → a test counts under a given tactic
	for i, t := range tests {
		tagged := map[string]bool{}
		for _, g := range t.Tags {
			if g.Kind == "tactic" {
				tagged[g.ExternalID] = true
			}
		}
		for _, g := range t.Tags {
			if g.Kind != "technique" && g.Kind != "subtechnique" || !attackid.IsTechniqueOrSub(g.ExternalID) {
				continue
			}
			var under []string
			for _, tac := range g.Tactics {
				if tac.Shortname == "" {
					continue
				}
				if !slices.Contains(tacticsOf[g.ExternalID], tac.Shortname) {
					tacticsOf[g.ExternalID] = append(tacticsOf[g.ExternalID], tac.Shortname)
				}
				if tagged[tac.ID] {
					under = append(under, tac.Shortname)
				}
			}
			if len(under) == 0 {
				groups[key{g.ExternalID, ""}] = appendOnce(groups[key{g.ExternalID, ""}], i)
				continue
			}
			specific[g.ExternalID] = true
			for _, s := range under {
				groups[key{g.ExternalID, s}] = appendOnce(groups[key{g.ExternalID, s}], i)
			}
		}
	}
	var out []entry
	for k, idx := range groups {
		if k.tactic != "" {
			continue
		}
		if !specific[k.id] {
			out = append(out, entry{id: k.id, tests: idx})
			continue
		}
		// Tests under every tactic count under each one.
		for _, s := range tacticsOf[k.id] {
			groups[key{k.id, s}] = mergeSorted(groups[key{k.id, s}], idx)
		}
	}
	for k, idx := range groups {
		if k.tactic != "" && len(idx) > 0 {
			out = append(out, entry{id: k.id, tactic: k.tactic, tests: idx})
		}
	}
	slices.SortFunc(out, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.tactic, b.tactic))
	})
	return out
}

func appendOnce(list []int, i int) []int {
	if len(list) > 0 && list[len(list)-1] == i {
		return list
	}
	return append(list, i)
}

func mergeSorted(a, b []int) []int {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// technique scores one entry and lists its tests in the comment.
func technique(e entry, in Input, levels map[uuid.UUID]Level) Technique {
	t := Technique{TechniqueID: e.id, Tactic: e.tactic, Enabled: true}
	var best *Level
	lines := make([]string, 0, len(e.tests))
	scored := 0
	for _, i := range e.tests {
		test := in.Tests[i]
		outcome := in.Labels.State(test.State)
		lv, ok := Level{}, false
		if test.LevelID != nil {
			lv, ok = levels[*test.LevelID]
		}
		if ok {
			outcome += fmt.Sprintf(", %s (%d)", lv.Name, lv.Score)
		} else {
			outcome += ", " + in.Labels.NoLevel
		}
		lines = append(lines, "• "+test.Name+": "+outcome)
		if ok && Scored(test) {
			scored++
			if best == nil || scale.Outranks(lv.Score, lv.Position, best.Score, best.Position) {
				best = &lv
			}
		}
	}
	t.Comment = strings.Join(lines, "\n")
	if best != nil {
		score := best.Score
		t.Score, t.Color = &score, best.Colour
	}
	t.Metadata = []Metadata{{Name: in.Labels.Tests, Value: fmt.Sprintf("%d / %d", scored, len(e.tests))}}
	return t
}

// sortedLevels orders the scale by position, then name.
func sortedLevels(levels []Level) []Level {
	out := slices.Clone(levels)
	slices.SortFunc(out, func(a, b Level) int {
		return cmp.Or(cmp.Compare(a.Position, b.Position), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// gradient runs through the active levels' colours from the lowest score
// to the highest (equal scores in scale order), over 0–100.
func gradient(levels []Level) *Gradient {
	var active []Level
	for _, l := range sortedLevels(levels) {
		if !l.Retired {
			active = append(active, l)
		}
	}
	slices.SortStableFunc(active, func(a, b Level) int { return cmp.Compare(a.Score, b.Score) })
	g := &Gradient{MinValue: 0, MaxValue: 100}
	for _, l := range active {
		if !slices.Contains(g.Colors, l.Colour) {
			g.Colors = append(g.Colors, l.Colour)
		}
	}
	if len(g.Colors) < 2 {
		g.Colors = slices.Clone(defaultGradient)
	}
	return g
}
