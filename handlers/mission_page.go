package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/missioncategory"
	"violet/ent/missionscenario"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/user"
	"violet/internal/mission"
	"violet/views/missionpage"
	"violet/views/scale"
)

// overviewFilter reads the mission page's query string. Unknown values
// fall back to the defaults: the URL is often typed or shared.
func overviewFilter(q url.Values) missionpage.Filter {
	f := missionpage.Filter{
		Group:    missionpage.GroupScenario,
		Category: strings.TrimSpace(q.Get("category")),
		Tactic:   cutRunes(strings.TrimSpace(q.Get("tactic")), 20),
		Q:        cutRunes(strings.TrimSpace(q.Get("q")), missionpage.SearchMax),
		Plan:     q.Get("plan") == "1",
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

// showMission renders a mission's overview page: header, figures, progress
// and its tests grouped and filtered. Leads get the plan editor with
// ?plan=1. htmx requests (filters, grouping) get only the test list. The
// page runs a fixed number of queries whatever the number of tests.
func (s *Server) showMission(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	p, err := s.overviewPage(c.Request().Context(), a, overviewFilter(c.QueryParams()))
	if err != nil {
		return err
	}
	if p.Filter.Plan && p.Editable {
		ctx := c.Request().Context()
		if p.Scenarios, err = s.planScenarioCandidates(ctx, planQuery(c.QueryParam("sq"))); err != nil {
			return err
		}
		if p.Templates, err = s.planTemplateCandidates(ctx, planQuery(c.QueryParam("tq"))); err != nil {
			return err
		}
	}
	return s.renderOverview(c, http.StatusOK, p)
}

// renderOverview renders the page, or for htmx the test list only.
func (s *Server) renderOverview(c echo.Context, status int, p missionpage.Page) error {
	fragment := missionpage.TestList(p)
	if isPartial(c.Request()) {
		// No page frame, so no layoutProps: pending flash messages stay
		// for the next page.
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "missions.page.title", "nav.missions")
	lp.Title = p.Name + " · " + lp.Title
	lp.Live = s.liveURL(uuid.MustParse(p.ID))
	return s.render(c, status, missionpage.MissionPage(lp, p), fragment)
}

// overviewLine is one row of the test list query: a test with its
// scenario, category, detection level and executor joined, and its ATT&CK
// tags folded into two texts.
type overviewLine struct {
	ID               uuid.UUID  `json:"id"`
	Position         int        `json:"position"`
	Name             string     `json:"name"`
	State            string     `json:"state"`
	Released         bool       `json:"released_to_blue"`
	ScenarioID       *uuid.UUID `json:"mission_scenario_id"`
	CategoryID       *uuid.UUID `json:"category_id"`
	ScenarioName     string     `json:"scenario_name"`
	ScenarioPosition int        `json:"scenario_position"`
	LevelID          *uuid.UUID `json:"detection_level_id"`
	LevelName        string     `json:"level_name"`
	Executor         string     `json:"executor_name"`
	Tags             string     `json:"tags"`
	Tactics          string     `json:"tactics"`
}

// Separators of the folded tags: the ASCII record and unit separators,
// which ATT&CK IDs and names never hold.
const (
	overviewTagSep   = "\x1e"
	overviewFieldSep = "\x1f"
)

// overviewTagsSQL folds a test's tags into "kind␟id␟name␞…" in ATT&CK ID
// order; overviewTacticsSQL their tactics into JSON lists separated by ␞
// (a tactic tag is its own tactic).
const (
	overviewTagsSQL    = `coalesce(string_agg(g.kind || E'\x1f' || g.external_id || E'\x1f' || g.name, E'\x1e' ORDER BY g.external_id), '')`
	overviewTacticsSQL = `coalesce(string_agg(CASE WHEN g.kind = 'tactic' THEN '[{"id":"' || g.external_id || '"}]' ELSE g.tactics::text END, E'\x1e'), '')`
)

// overviewLines reads the mission's tests the viewer may see, with what
// each row shows, in one query: the request's context applies the mission
// test privacy policy (blue members get released tests only), and the
// joined tables add their columns to the same statement. Tags are folded
// per test so that the query returns one line per test: scanning lines is
// most of the page's own work.
func (s *Server) overviewLines(ctx context.Context, missionID uuid.UUID) ([]overviewLine, error) {
	sc := sql.Table(missionscenario.Table).As("sc")
	cat := sql.Table(missioncategory.Table).As("cat")
	dl := sql.Table(detectionlevel.Table).As("dl")
	u := sql.Table(user.Table).As("u")
	g := sql.Table(missiontestmitretag.Table).As("g")
	col := func(expr, as string) ent.AggregateFunc {
		return func(*sql.Selector) string { return sql.As(expr, as) }
	}
	join := func(s *sql.Selector) string {
		s.LeftJoin(sc).OnP(sql.And(sql.ColumnsEQ(s.C(missiontest.FieldMissionScenarioID), sc.C(missionscenario.FieldID)),
			sql.IsNull(sc.C(missionscenario.FieldDeletedAt))))
		s.LeftJoin(cat).OnP(sql.And(sql.ColumnsEQ(s.C(missiontest.FieldCategoryID), cat.C(missioncategory.FieldID)),
			sql.IsNull(cat.C(missioncategory.FieldDeletedAt))))
		s.LeftJoin(dl).On(s.C(missiontest.FieldDetectionLevelID), dl.C(detectionlevel.FieldID))
		s.LeftJoin(u).On(s.C(missiontest.FieldExecutedByID), u.C(user.FieldID))
		s.LeftJoin(g).On(s.C(missiontest.FieldID), g.C(missiontestmitretag.FieldMissionTestID))
		// The joined columns depend on their tables' primary keys.
		s.GroupBy(s.C(missiontest.FieldID), sc.C(missionscenario.FieldID), dl.C(detectionlevel.FieldID), u.C(user.FieldID))
		return sql.As(sc.C(missionscenario.FieldName), "scenario_name")
	}
	var lines []overviewLine
	err := s.Ent.MissionTest.Query().
		Where(missiontest.MissionID(missionID)).
		Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID)).
		Select(missiontest.FieldID, missiontest.FieldPosition, missiontest.FieldName, missiontest.FieldState,
			missiontest.FieldReleasedToBlue, missiontest.FieldMissionScenarioID, missiontest.FieldCategoryID,
			missiontest.FieldDetectionLevelID).
		Aggregate(join,
			col(sc.C(missionscenario.FieldPosition), "scenario_position"),
			col(dl.C(detectionlevel.FieldName), "level_name"),
			col(u.C(user.FieldDisplayName), "executor_name"),
			col(overviewTagsSQL, "tags"),
			col(overviewTacticsSQL, "tactics"),
		).
		Scan(ctx, &lines)
	if err != nil {
		return nil, fmt.Errorf("load mission tests: %w", err)
	}
	return lines, nil
}

// overviewPage loads what the mission page shows: the figures (three
// queries), the tests with everything their rows show (one query) and the
// mission's categories (one query).
func (s *Server) overviewPage(ctx context.Context, a *mission.Access, f missionpage.Filter) (missionpage.Page, error) {
	m := a.Mission
	p := missionpage.Page{
		ID: m.ID.String(), Name: m.Name, Description: m.Description, Scope: m.Scope,
		Status: string(m.Status), Start: m.StartDate, End: m.EndDate, Role: a.Role,
		CanManage: a.CanManage(), Editable: a.CanManage() && !a.Archived(),
		BlueView: !a.SeesUnreleased(), Filter: f,
	}
	var err error
	if p.Figures, err = mission.ComputeFigures(ctx, s.DB, m.ID, p.BlueView); err != nil {
		return p, err
	}
	for _, t := range p.Figures.PerTactic {
		p.Tactics = append(p.Tactics, missionpage.Option{Value: t.ID, Label: t.Name})
	}
	cats, err := s.Ent.MissionCategory.Query().Where(missioncategory.MissionID(m.ID)).
		Order(missioncategory.ByPosition(), missioncategory.ByName()).
		Select(missioncategory.FieldName, missioncategory.FieldColour, missioncategory.FieldPosition).
		All(ctx)
	if err != nil {
		return p, fmt.Errorf("load categories: %w", err)
	}
	for _, c := range cats {
		p.Categories = append(p.Categories, missionpage.Option{Value: c.ID.String(), Label: c.Name})
	}
	lines, err := s.overviewLines(ctx, m.ID)
	if err != nil {
		return p, err
	}
	rows, tactics := overviewRows(lines, cats)
	p.Total = len(rows)
	shown := make([]missionpage.Row, 0, len(rows))
	for i, r := range rows {
		if overviewRowMatches(f, r, tactics[i]) {
			shown = append(shown, r)
		}
	}
	p.Shown = len(shown)
	if f.Group == missionpage.GroupCategory {
		p.Groups = overviewByCategory(shown, cats)
	} else {
		p.Groups = overviewByScenario(shown, lines)
	}
	return p, nil
}

// overviewRows turns the query's lines into rows, in plan order, marking
// the first and last test of each scenario; it also returns each test's
// tactics (JSON lists separated by ␞) for the tactic filter.
func overviewRows(lines []overviewLine, cats []*ent.MissionCategory) ([]missionpage.Row, []string) {
	catName := make(map[uuid.UUID]string, len(cats))
	for _, c := range cats {
		catName[c.ID] = c.Name
	}
	rows := make([]missionpage.Row, len(lines))
	tactics := make([]string, len(lines))
	first := map[uuid.UUID]int{}
	last := map[uuid.UUID]int{}
	for i := range lines {
		l := &lines[i]
		r := missionpage.Row{
			ID: l.ID.String(), Number: i + 1, Name: l.Name, State: l.State, Released: l.Released,
			Level: l.LevelName, Executor: l.Executor,
		}
		if l.LevelID != nil && l.LevelName != "" {
			r.LevelClass = scale.Class(*l.LevelID)
		}
		if l.CategoryID != nil {
			if name, ok := catName[*l.CategoryID]; ok {
				r.CategoryID, r.Category = l.CategoryID.String(), name
			}
		}
		if l.Tags != "" {
			for tag := range strings.SplitSeq(l.Tags, overviewTagSep) {
				if kind, rest, ok := strings.Cut(tag, overviewFieldSep); ok {
					id, name, _ := strings.Cut(rest, overviewFieldSep)
					r.Tags = append(r.Tags, missionpage.Tag{Kind: kind, ExternalID: id, Name: name})
				}
			}
		}
		rows[i], tactics[i] = r, l.Tactics
		var sc uuid.UUID // uuid.Nil: outside any scenario
		if l.ScenarioID != nil && l.ScenarioName != "" {
			sc = *l.ScenarioID
		}
		if _, ok := first[sc]; !ok {
			first[sc] = i
		}
		last[sc] = i
	}
	for sc, i := range first {
		rows[i].First = true
		rows[last[sc]].Last = true
	}
	return rows, tactics
}

// overviewRowMatches applies the filters to one test.
func overviewRowMatches(f missionpage.Filter, r missionpage.Row, tactics string) bool {
	if f.State != "" && r.State != f.State {
		return false
	}
	switch f.Category {
	case "":
	case "none":
		if r.CategoryID != "" {
			return false
		}
	default:
		if r.CategoryID != f.Category {
			return false
		}
	}
	if f.Tactic != "" && !overviewHasTactic(tactics, f.Tactic) {
		return false
	}
	if f.Q != "" {
		q := strings.ToLower(f.Q)
		if strings.Contains(strings.ToLower(r.Name), q) {
			return true
		}
		for _, t := range r.Tags {
			if strings.HasPrefix(strings.ToLower(t.ExternalID), q) || strings.Contains(strings.ToLower(t.Name), q) {
				return true
			}
		}
		return false
	}
	return true
}

// overviewHasTactic reports whether one of a test's tags belongs to the
// tactic id.
func overviewHasTactic(tactics string, id string) bool {
	if !strings.Contains(tactics, id) {
		return false
	}
	for raw := range strings.SplitSeq(tactics, overviewTagSep) {
		var list []struct {
			ID string `json:"id"`
		}
		if json.Unmarshal([]byte(raw), &list) != nil {
			continue
		}
		for _, t := range list {
			if t.ID == id {
				return true
			}
		}
	}
	return false
}

// overviewByScenario groups rows by their scenario, in the scenarios' order;
// tests outside any scenario come last.
func overviewByScenario(rows []missionpage.Row, lines []overviewLine) []missionpage.Group {
	type scenario struct {
		id, name string
		pos      int
	}
	of := make(map[string]scenario, len(rows))
	for _, l := range lines {
		if l.ScenarioID != nil && l.ScenarioName != "" {
			of[l.ID.String()] = scenario{l.ScenarioID.String(), l.ScenarioName, l.ScenarioPosition}
		}
	}
	var groups []missionpage.Group
	index := map[string]int{}
	pos := map[string]int{}
	for _, r := range rows {
		sc := of[r.ID]
		i, ok := index[sc.id]
		if !ok {
			i = len(groups)
			index[sc.id] = i
			pos[sc.id] = sc.pos
			groups = append(groups, missionpage.Group{Key: sc.id, Name: sc.name})
		}
		groups[i].Rows = append(groups[i].Rows, r)
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

// overviewByCategory groups rows by category in the categories' order;
// uncategorised tests come last. Empty categories are left out.
func overviewByCategory(rows []missionpage.Row, cats []*ent.MissionCategory) []missionpage.Group {
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

// showMissionFigures renders the mission's figures alone, for the live
// updates of an open mission page (three queries).
func (s *Server) showMissionFigures(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	p := missionpage.Page{ID: a.Mission.ID.String(), BlueView: !a.SeesUnreleased()}
	if p.Figures, err = mission.ComputeFigures(c.Request().Context(), s.DB, a.Mission.ID, p.BlueView); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, missionpage.Figures(p), nil)
}
