package missionread

import (
	"context"
	"database/sql"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/mission"
	"violet/views/missionpage"
	"violet/views/scale"
)

// Overview loads what the mission page shows in two statements: the
// members tests may be assigned to, the mission's categories and its
// tools in scope (overviewLists), and every test the viewer may see with everything their
// rows show (Tests, Rows), from which the figures and the work queues'
// sizes are computed (mission.FiguresOf, queueCounts) and the filter's
// tests kept. The plan
// editor's search results are the caller's.
func Overview(ctx context.Context, client *ent.Client, db *sql.DB, a *mission.Access, f missionpage.Filter) (missionpage.Page, error) {
	m := a.Mission
	p := missionpage.Page{
		ID: m.ID.String(), Name: m.Name, Description: m.Description, Scope: m.Scope,
		Status: string(m.Status), Start: m.StartDate, End: m.EndDate, Role: a.Role,
		CanManage: a.CanManage(), Editable: a.CanManage() && !a.Archived(),
		BlueView: !a.SeesUnreleased(), Filter: f,
	}
	var (
		cats  []*ent.MissionCategory
		scope toolScope
		err   error
	)
	if p.Assignees, cats, scope, err = overviewLists(ctx, db, a); err != nil {
		return p, err
	}
	for _, t := range scope.Tools {
		p.Tools = append(p.Tools, t.Name)
	}
	for _, c := range cats {
		p.Categories = append(p.Categories, missionpage.Option{Value: c.ID.String(), Label: c.Name})
	}
	listed, err := Tests(ctx, client, a, Rows, Filter{State: f.State, Category: f.Category, Tactic: f.Tactic, Q: f.Q,
		Queue: f.Queue, Assignee: f.Assignee})
	if err != nil {
		return p, err
	}
	// The figures are the whole mission's whatever the filter, kept to the
	// released tests in the blue view (as mission.ComputeFigures): a
	// viewer who may read every mission but is a blue member of this one
	// is shown every test, yet counts only the released ones.
	p.Figures = mission.FiguresOf(FigureTests(listed.All), p.BlueView)
	p.Queues = queueCounts(listed.All, a)
	p.ToolFigures = toolFigures(m.ID, overviewToolTests(listed.All, p.ID), scope, p.BlueView)
	for _, t := range p.Figures.PerTactic {
		p.Tactics = append(p.Tactics, missionpage.Option{Value: t.ID, Label: t.Name})
	}
	rows := make([]missionpage.Row, len(listed.Tests))
	for i := range listed.Tests {
		rows[i] = row(&listed.Tests[i])
	}
	// Total is every test the viewer may see (the privacy policy's rows).
	p.Shown, p.Total = len(rows), listed.Total
	if f.Group == missionpage.GroupCategory {
		p.Groups = byCategory(rows, cats)
	} else {
		p.Groups = byScenario(rows, listed.Tests)
	}
	return p, nil
}

// row is a test as a line of the list.
func row(t *Test) missionpage.Row {
	r := missionpage.Row{
		ID: t.ID.String(), Number: t.Number, Name: t.Name, State: string(t.State), Released: t.ReleasedToBlue,
		First: t.First, Last: t.Last, Version: t.Version,
	}
	if t.AssigneeID != nil && t.Assignee != nil {
		r.AssigneeID, r.Assignee = t.AssigneeID.String(), t.Assignee.Name
	}
	if t.Level != nil {
		r.Level = t.Level.Name
		if r.Level != "" {
			r.LevelClass = scale.Class(t.Level.ID)
		}
	}
	if t.ExecutedBy != nil {
		r.Executor = t.ExecutedBy.Name
	}
	if t.Category != nil {
		r.CategoryID, r.Category = t.Category.ID.String(), t.Category.Name
	}
	for _, g := range t.Tags {
		r.Tags = append(r.Tags, missionpage.Tag{Kind: g.Kind, ExternalID: g.ExternalID, Name: g.Name})
	}
	return r
}

// byScenario groups rows by their scenario, in the scenarios' order;
// tests outside any scenario come last.
func byScenario(rows []missionpage.Row, tests []Test) []missionpage.Group {
	var groups []missionpage.Group
	index := map[string]int{}
	pos := map[string]int{}
	for i, r := range rows {
		var key, name string // "": outside any scenario
		if sc := tests[i].Scenario; sc != nil && sc.Name != "" {
			key, name = sc.ID.String(), sc.Name
			pos[key] = sc.Position
		}
		g, ok := index[key]
		if !ok {
			g = len(groups)
			index[key] = g
			groups = append(groups, missionpage.Group{Key: key, Name: name})
		}
		groups[g].Rows = append(groups[g].Rows, r)
	}
	slices.SortStableFunc(groups, func(a, b missionpage.Group) int {
		switch {
		case a.Key == b.Key:
			return 0
		case a.Key == "":
			return 1
		case b.Key == "":
			return -1
		}
		return pos[a.Key] - pos[b.Key]
	})
	return groups
}

// byCategory groups rows by category in the categories' order;
// uncategorised tests come last. Empty categories are left out.
func byCategory(rows []missionpage.Row, cats []*ent.MissionCategory) []missionpage.Group {
	byCat := map[string][]missionpage.Row{}
	for _, r := range rows {
		byCat[r.CategoryID] = append(byCat[r.CategoryID], r)
	}
	var groups []missionpage.Group
	for _, c := range cats {
		if rs := byCat[c.ID.String()]; len(rs) > 0 {
			groups = append(groups, missionpage.Group{Key: c.ID.String(), Name: c.Name, Color: c.Colour, Rows: rs})
		}
	}
	if rs := byCat[""]; len(rs) > 0 {
		groups = append(groups, missionpage.Group{Rows: rs})
	}
	return groups
}

// Figures loads the mission's figures alone, for the live updates of an
// open mission page (three statements).
func Figures(ctx context.Context, db *sql.DB, a *mission.Access) (missionpage.Page, error) {
	p := missionpage.Page{ID: a.Mission.ID.String(), BlueView: !a.SeesUnreleased()}
	var err error
	p.Figures, err = mission.ComputeFigures(ctx, db, a.Mission.ID, p.BlueView)
	return p, err
}

// FilterOf reads the mission page's query string. Unknown values fall back
// to the defaults: the URL is often typed or shared.
func FilterOf(q url.Values) missionpage.Filter {
	f := missionpage.Filter{
		Group:    missionpage.GroupScenario,
		Category: strings.TrimSpace(q.Get("category")),
		Tactic:   cutRunes(strings.TrimSpace(q.Get("tactic")), 20),
		Q:        cutRunes(strings.TrimSpace(q.Get("q")), missionpage.SearchMax),
		Plan:     q.Get("plan") == "1",
		Assignee: strings.TrimSpace(q.Get("assignee")),
	}
	if qu := q.Get("queue"); slices.Contains(missionpage.Queues(), qu) {
		f.Queue = qu
	}
	if f.Assignee != "none" {
		if _, err := uuid.Parse(f.Assignee); err != nil {
			f.Assignee = ""
		}
	}
	if q.Get("group") == missionpage.GroupCategory {
		f.Group = missionpage.GroupCategory
	}
	if s := q.Get("state"); slices.Contains(missionpage.States(), s) {
		f.State = s
	}
	if f.Category != "none" {
		if _, err := uuid.Parse(f.Category); err != nil {
			f.Category = ""
		}
	}
	return f
}

// cutRunes keeps the first n characters of s.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
