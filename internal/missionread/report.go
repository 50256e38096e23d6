package missionread

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/evidencefile"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/mitretactic"
	"violet/ent/user"
	"violet/internal/i18n"
	"violet/internal/markdown"
	"violet/internal/mission"
	"violet/internal/paths"
	"violet/internal/retest"
	internalscale "violet/internal/scale"
	"violet/internal/timeline"
	"violet/views/report"
	"violet/views/scale"
)

// Report loads the printable report of a mission in a fixed number of
// statements: the figures (three), the members with their names (two), the
// detection scale (one), the catalogue's tactic order (one), the tests the
// viewer may see with their tags, scenarios, levels and executors (one,
// reportTests) and their evidence (one). A blue member's report holds the
// released tests only, like their overview. generated is the moment the
// report says it was made; the caller sets its Assets and PageCSS.
//
// The report of 1,000 tests is megabytes of HTML but its model is small:
// the caller renders it straight to the response (handlers.showMissionReport)
// and the view converts the tests' markdown notes a batch at a time
// (Report.PrepareNotes, report.NotesBatch), so a request never holds the
// page nor every note's HTML. The tests are read in one statement rather
// than in pages: the query count stays the same whatever the mission's
// size (TestMissionReportQueryCount), and the model it fills is a small
// part of the report's memory (docs/ARCHITECTURE.md, "Performance
// budgets").
func Report(ctx context.Context, client *ent.Client, db *sql.DB, a *mission.Access, generated time.Time) (report.Report, error) {
	m := a.Mission
	r := report.Report{
		ID: m.ID.String(), Name: m.Name, Scope: m.Scope, Summary: m.Description, Status: string(m.Status),
		Start: m.StartDate, End: m.EndDate, Generated: generated.UTC(), BlueView: !a.SeesUnreleased(),
		PrepareNotes: renderNotes,
	}
	var err error
	if r.Figures, err = mission.ComputeFigures(ctx, db, m.ID, r.BlueView); err != nil {
		return r, err
	}
	if r.Members, err = reportMembers(ctx, client, m.ID); err != nil {
		return r, err
	}
	levels, err := Levels(ctx, client)
	if err != nil {
		return r, err
	}
	rank, names, err := tacticOrder(ctx, client)
	if err != nil {
		return r, err
	}
	tests, facts, err := reportTests(ctx, client, a)
	if err != nil {
		return r, err
	}
	evidence, err := client.EvidenceFile.Query().
		Where(evidencefile.HasMissionTestWith(missiontest.MissionID(m.ID))).
		Order(evidencefile.ByCreatedAt(), evidencefile.ByID()).
		All(ctx)
	if err != nil {
		return r, fmt.Errorf("load evidence: %w", err)
	}
	r.Tests = tests
	r.Appendix = reportEvidence(r.Tests, evidence, m.ID)
	r.Chart = report.NewChart(sortedTactics(r.Figures.PerTactic, rank))
	r.Heatmap = heatmap(r.Tests, facts, rank, names)
	r.Legend = legend(ctx, levels, facts)
	if r.Timeline, err = timeline.ReportChart(ctx, client, a, generated); err != nil {
		return r, err
	}
	scope, err := scopeTools(ctx, db, m.ID, levels)
	if err != nil {
		return r, err
	}
	r.ToolFigures = toolFigures(m.ID, reportToolTests(r.Tests, facts), scope, r.BlueView)
	// A retest's report compares it with the mission it retests (two
	// statements more, for retests only).
	if m.RetestOfID != nil {
		c, err := retest.Compare(ctx, db, a)
		if err != nil {
			return r, err
		}
		r.Comparison = &c
	}
	return r, nil
}

// Levels reads the detection scale in its order, retired levels included.
func Levels(ctx context.Context, client *ent.Client) ([]*ent.DetectionLevel, error) {
	levels, err := client.DetectionLevel.Query().Order(detectionlevel.ByPosition(), detectionlevel.ByName()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the detection scale: %w", err)
	}
	return levels, nil
}

// reportMembers lists the mission's members by role (lead first), then
// name.
func reportMembers(ctx context.Context, client *ent.Client, missionID uuid.UUID) ([]report.Member, error) {
	members, err := client.MissionMember.Query().Where(missionmember.MissionID(missionID)).
		WithUser(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load members: %w", err)
	}
	order := map[string]int{"lead": 0, "red": 1, "blue": 2, "observer": 3}
	out := make([]report.Member, 0, len(members))
	for _, mm := range members {
		if mm.Edges.User != nil {
			out = append(out, report.Member{Name: mm.Edges.User.DisplayName, Role: string(mm.Role)})
		}
	}
	slices.SortFunc(out, func(a, b report.Member) int {
		return cmp.Or(cmp.Compare(order[a.Role], order[b.Role]), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

// enterpriseTactics is the Enterprise matrix's column order, used for
// tactics the synced catalogue does not hold (or before any sync).
func enterpriseTactics() []string {
	return []string{"TA0043", "TA0042", "TA0001", "TA0002", "TA0003", "TA0004", "TA0005",
		"TA0006", "TA0007", "TA0008", "TA0009", "TA0011", "TA0010", "TA0040"}
}

// tacticOrder returns the rank of each tactic in the matrix (the synced
// catalogue's positions, else the built-in Enterprise order) and the
// catalogue's names.
func tacticOrder(ctx context.Context, client *ent.Client) (map[string]int, map[string]string, error) {
	tactics, err := client.MitreTactic.Query().
		Where(mitretactic.Revoked(false), mitretactic.Deprecated(false)).
		Select(mitretactic.FieldExternalID, mitretactic.FieldName, mitretactic.FieldPosition).
		All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load tactics: %w", err)
	}
	enterprise := enterpriseTactics()
	rank := make(map[string]int, len(enterprise)+len(tactics))
	names := make(map[string]string, len(tactics))
	for i, id := range enterprise {
		rank[id] = 1000 + i
	}
	for _, t := range tactics {
		rank[t.ExternalID] = t.Position
		names[t.ExternalID] = t.Name
	}
	return rank, names, nil
}

// tacticCompare orders tactic ids by their rank, unknown ones last by id.
func tacticCompare(rank map[string]int) func(a, b string) int {
	return func(a, b string) int {
		ra, oka := rank[a]
		rb, okb := rank[b]
		switch {
		case oka && okb:
			return cmp.Or(cmp.Compare(ra, rb), strings.Compare(a, b))
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(a, b)
	}
}

// sortedTactics returns the per-tactic figures in matrix order.
func sortedTactics(in []mission.TacticFigure, rank map[string]int) []mission.TacticFigure {
	out := slices.Clone(in)
	by := tacticCompare(rank)
	slices.SortStableFunc(out, func(a, b mission.TacticFigure) int { return by(a.ID, b.ID) })
	return out
}

// renderNotes turns the markdown notes of a batch of tests into HTML on
// every core: with thousands of tests, markdown is most of the report's
// own work. The view calls it a batch at a time (Report.PrepareNotes), so
// the HTML of every note is never held at once. Notes that repeat within
// the batch ("n/a", a pasted template) are converted once.
// markdown.Render converts when called, so the view only copies.
func renderNotes(tests []report.Test) {
	var sources []string
	seen := map[string]bool{}
	for _, t := range tests {
		for _, src := range []string{t.RedNotes, t.BlueNotes} {
			if src != "" && !seen[src] {
				seen[src] = true
				sources = append(sources, src)
			}
		}
	}
	html := make([]templ.Component, len(sources))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(sources)/64))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(sources); i += workers {
				html[i] = markdown.Render(sources[i])
			}
		})
	}
	wg.Wait()
	of := make(map[string]templ.Component, len(sources))
	for i, src := range sources {
		of[src] = html[i]
	}
	for i := range tests {
		tests[i].RedNotesHTML = of[tests[i].RedNotes]
		tests[i].BlueNotesHTML = of[tests[i].BlueNotes]
	}
}

// reportEvidence attaches image evidence to its test (shown inline through
// its preview) and returns every other file for the appendix, in test
// order. Evidence of a test the viewer may not see is dropped: the tests
// were read through the privacy policy, the evidence query was not.
func reportEvidence(tests []report.Test, files []*ent.EvidenceFile, missionID uuid.UUID) []report.Evidence {
	index := make(map[string]int, len(tests))
	for i, t := range tests {
		index[t.ID] = i
	}
	var appendix []report.Evidence
	for _, f := range files {
		i, ok := index[f.MissionTestID.String()]
		if !ok {
			continue
		}
		e := report.Evidence{
			ID: f.ID.String(), TestNumber: tests[i].Number, TestName: tests[i].Name, Side: string(f.Side),
			Name: f.OriginalName, Caption: f.Caption, ContentType: f.ContentType, Size: f.Size, SHA256: f.Sha256,
		}
		e.DownloadURL = paths.URL(paths.EvidenceFile, missionID, f.MissionTestID, f.ID)
		if strings.HasPrefix(f.ContentType, "image/") {
			e.PreviewURL = paths.URL(paths.EvidencePreview, missionID, f.MissionTestID, f.ID)
			tests[i].Images = append(tests[i].Images, e)
			continue
		}
		appendix = append(appendix, e)
	}
	slices.SortStableFunc(appendix, func(a, b report.Evidence) int { return cmp.Compare(a.TestNumber, b.TestNumber) })
	return appendix
}

// heatCell aggregates the tests of one technique or sub-technique.
type heatCell struct {
	name     string
	tests    int
	executed bool
	best     *ent.DetectionLevel
}

// heatmap builds the ATT&CK heatmap: one column per tactic in matrix
// order (every tactic of the catalogue, plus any other a tag names), and
// under each the techniques and sub-techniques the mission's visible tests
// are tagged with, listed under every tactic their tag was copied with.
//
// The aggregation of a technique's tests is the scale's outcome rule
// (internal/scale.Counts and Outranks): the cell takes the detection level
// of its executed or reviewed tests with the highest score (the best
// outcome; equal scores go to the level placed first on the scale), as the
// Navigator layer and the matrix's mission overlay do; a technique with no rated
// test is "executed, not rated" when one of its tests was executed or
// reviewed, else "not executed" (pending, running, skipped, blocked). A
// level that counts as undetected keeps its own colour from the scale, so
// "undetected" and "untested" never look alike. Tests tagged with a
// tactic only count in the chart, not here.
func heatmap(tests []report.Test, facts []testFacts, rank map[string]int, names map[string]string) []report.Column {
	cells := map[string]*heatCell{}
	columns := map[string]map[string]bool{} // tactic -> techniques
	tacticName := map[string]string{}
	for id, name := range names {
		columns[id] = map[string]bool{}
		tacticName[id] = name
	}
	for i := range tests {
		t, f := &tests[i], &facts[i]
		executed := t.State == string(missiontest.StateExecuted) || t.State == string(missiontest.StateReviewed)
		for j, g := range t.Tags {
			if g.Kind == string(missiontestmitretag.KindTactic) {
				continue
			}
			c, ok := cells[g.ExternalID]
			if !ok {
				c = &heatCell{name: g.Name}
				cells[g.ExternalID] = c
			}
			c.tests++
			c.executed = c.executed || executed
			if lvl := f.level; lvl != nil && internalscale.Counts(t.State, true) &&
				(c.best == nil || internalscale.Outranks(lvl.Score, lvl.Position, c.best.Score, c.best.Position)) {
				c.best = lvl
			}
			for _, tac := range f.tactics[j] {
				id := tac.id
				if id == "" {
					continue
				}
				if columns[id] == nil {
					columns[id] = map[string]bool{}
				}
				if tacticName[id] == "" {
					tacticName[id] = tac.name
				}
				columns[id][g.ExternalID] = true
			}
		}
	}
	ids := make([]string, 0, len(columns))
	for id := range columns {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, tacticCompare(rank))
	out := make([]report.Column, 0, len(ids))
	for _, id := range ids {
		col := report.Column{ID: id, Name: tacticName[id]}
		for ext := range columns[id] {
			c := cells[ext]
			cell := report.Cell{ExternalID: ext, Name: c.name, Tests: c.tests, Class: report.CellUntested}
			switch {
			case c.best != nil:
				cell.Class, cell.Level = scale.Class(c.best.ID), c.best.Name
			case c.executed:
				cell.Class = report.CellUnrated
			}
			col.Cells = append(col.Cells, cell)
		}
		slices.SortFunc(col.Cells, func(a, b report.Cell) int { return strings.Compare(a.ExternalID, b.ExternalID) })
		out = append(out, col)
	}
	if len(cells) == 0 {
		return nil // nothing tested: no matrix of empty columns
	}
	return out
}

// legend is the heatmap's legend: the scale's levels in order (a retired
// one only when a test uses it), then the two states outside it.
func legend(ctx context.Context, levels []*ent.DetectionLevel, facts []testFacts) []report.LegendItem {
	used := map[uuid.UUID]bool{}
	for i := range facts {
		if id := facts[i].levelID; id != nil {
			used[*id] = true
		}
	}
	var out []report.LegendItem
	for _, l := range levels {
		if l.Retired && !used[l.ID] {
			continue
		}
		out = append(out, report.LegendItem{Name: l.Name, Class: scale.Class(l.ID), Score: strconv.Itoa(l.Score)})
	}
	return append(out,
		report.LegendItem{Name: i18n.T(ctx, "report.legend_unrated"), Class: report.CellUnrated},
		report.LegendItem{Name: i18n.T(ctx, "report.legend_untested"), Class: report.CellUntested})
}
