// Package missionread is the one read model of a mission: its tests as the
// overview, the printable report and the exports show them, read in a fixed
// number of statements whatever the mission's size (docs/ARCHITECTURE.md,
// "Performance budgets"), with the overview's filters applied in SQL.
//
// Every test query goes through ent with the request's context, so the
// privacy policy of mission tests applies (internal/auth/rule
// FilterVisibleTests: blue members never see unreleased tests) and
// soft-deleted rows stay hidden. The package builds the views' own structs
// (views/missionpage, views/report), so that handlers only render them.
package missionread

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/missioncategory"
	"violet/ent/missionscenario"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/user"
	"violet/internal/mission"
)

// Detail is how much of each test a page reads.
type Detail int

const (
	// Rows is the overview's list: name, state, scenario, category, level,
	// executor and tags (kind, ID, name), with the test's place in the plan.
	Rows Detail = iota
	// Results adds the red and blue results and the tags' URLs and tactics
	// (the report, the Navigator layer).
	Results
	// Everything is every column of the test and of the people and the
	// level it names (the CSV and JSON exports).
	Everything
)

// Filter narrows the tests; the zero Filter keeps them all. It is applied
// in SQL.
type Filter struct {
	State    string // a test state
	Category string // a category id, "none" for tests outside any category
	Tactic   string // an ATT&CK tactic ID: a tag of the test belongs to it
	Q        string // part of the name or of a tag's name, or the start of a tag's ATT&CK ID
	Queue    string // a work queue (queues.go), for the viewer
	Assignee string // a user id, "none" for unassigned tests
}

// Active reports whether the filter hides any test.
func (f Filter) Active() bool {
	return f.State != "" || f.Category != "" || f.Tactic != "" || f.Q != "" || f.Queue != "" || f.Assignee != ""
}

// Test is one test with what it names. Of the embedded MissionTest only the
// columns of the Detail read are set; its Edges are not loaded.
type Test struct {
	*ent.MissionTest
	// Number is the test's place in the plan among the tests the viewer
	// may see, from 1, whatever the filter.
	Number int
	// First and Last mark the first and last test of its scenario (Rows
	// only): they cannot move up or down.
	First, Last bool
	Scenario    *Scenario           // nil outside any scenario (or in a deleted one)
	Category    *Category           // nil outside any category (or in a deleted one)
	Level       *ent.DetectionLevel // nil when no level is recorded; Rows: ID and name only
	ExecutedBy  *Person
	Assignee    *Person // Rows only
	ReviewedBy  *Person // Everything only
	Tags        []Tag   // in ATT&CK ID order
	// Rows only: whether the filter keeps the test, whether its level
	// counts as detected, and the tactics its tags name (the figures).
	shown    bool
	detected bool
	tactics  []mission.TacticRef
	// Rows only: the test's outcomes per tool (tools.go), for the
	// figures per tool.
	outcomes []toolOutcome
}

// Scenario is the mission scenario a test belongs to.
type Scenario struct {
	ID       uuid.UUID
	Name     string
	Position int
}

// Category is the mission category of a test.
type Category struct {
	ID   uuid.UUID
	Name string
}

// Person is a user a test names. Email is read with Everything only.
type Person struct {
	Name  string
	Email string
}

// Tag is an ATT&CK tag copied into the test. URL and Tactics are read from
// Results on.
type Tag struct {
	Kind       string              `json:"kind"`
	ExternalID string              `json:"external_id"`
	Name       string              `json:"name"`
	URL        string              `json:"url"`
	Tactics    []map[string]string `json:"tactics"`
}

// Listed is the result of Tests: the tests and the number of tests the
// viewer may see, which is more than len(Tests) under a filter.
type Listed struct {
	Tests []Test
	// Total is the number of tests the viewer may see, read with Rows;
	// -1 (unknown) with the other details.
	Total int
	// All is, with Rows, every test the viewer may see whatever the
	// filter (Tests is the part of it the filter keeps), with what the
	// figures count (FigureTests): the overview computes its figures from
	// these rows instead of querying them.
	All []Test
}

// line is one row of the test query, scanned by column name (ent's
// sql.ScanSlice: the embedded MissionTest takes the test's columns).
type line struct {
	ent.MissionTest
	ScenarioName     *string `json:"scenario_name"`
	ScenarioPosition *int    `json:"scenario_position"`
	CategoryName     *string `json:"category_name"`
	LevelName        *string `json:"level_name"`
	LevelScore       *int    `json:"level_score"`
	LevelColour      *string `json:"level_colour"`
	LevelDetected    *bool   `json:"level_detected"`
	LevelPosition    *int    `json:"level_position"`
	LevelRetired     *bool   `json:"level_retired"`
	ExecutorName     *string `json:"executor_name"`
	ExecutorEmail    *string `json:"executor_email"`
	AssigneeName     *string `json:"assignee_name"`
	ReviewerName     *string `json:"reviewer_name"`
	ReviewerEmail    *string `json:"reviewer_email"`
	TagText          string  `json:"tag_text"`
	Tags             []Tag   `json:"tags"` // a JSON array, decoded by ScanSlice
	Shown            *bool   `json:"shown"`
	OutcomeText      string  `json:"outcome_text"` // Rows: the outcomes per tool, folded (outcomesOf)
}

// columns are the columns of a test the Detail reads.
func columns(d Detail) []string {
	if d == Everything {
		return missiontest.Columns
	}
	cols := []string{missiontest.FieldID, missiontest.FieldPosition, missiontest.FieldName, missiontest.FieldState,
		missiontest.FieldReleasedToBlue, missiontest.FieldMissionScenarioID, missiontest.FieldCategoryID,
		missiontest.FieldDetectionLevelID}
	if d == Rows {
		// The times are the median time to detect's (FigureTests).
		cols = append(cols, missiontest.FieldVersion, missiontest.FieldAssigneeID,
			missiontest.FieldStartedAt, missiontest.FieldDetectedAt)
	}
	if d == Results {
		cols = append(cols, missiontest.FieldMissionID, missiontest.FieldStateReason, missiontest.FieldExecutedByID,
			missiontest.FieldStartedAt, missiontest.FieldEndedAt, missiontest.FieldCommand, missiontest.FieldSourceHost,
			missiontest.FieldTargetHost, missiontest.FieldRedNotes, missiontest.FieldDetectedAt, missiontest.FieldAlertName,
			missiontest.FieldLogSource, missiontest.FieldBlueNotes)
	}
	return cols
}

// Separators of the folded tags of Rows and of the report (tagsOf): the ASCII record and
// unit separators, which ATT&CK IDs and names never hold.
const (
	tagSep   = "\x1e"
	fieldSep = "\x1f"
)

// Tests reads the tests of the mission the viewer may see, in plan order,
// in one statement: the request's context applies the mission test privacy
// policy, and the joined tables add their columns to the same statement,
// each test's tags folded into one column (tagsOf).
//
// With Rows (the overview) the statement reads every test the viewer may
// see and the filter is a column (shown): the numbers in the plan, the
// scenarios' first and last tests, the count and the figures are computed
// here from the same rows, whatever the filter, rather than by window
// functions and three more statements.
func Tests(ctx context.Context, client *ent.Client, a *mission.Access, d Detail, f Filter) (Listed, error) {
	q := client.MissionTest.Query().
		Where(missiontest.MissionID(a.Mission.ID)).
		Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID))
	if d != Rows {
		if f.State != "" {
			q.Where(missiontest.StateEQ(missiontest.State(f.State)))
		}
		if f.Category != "" || f.Tactic != "" || f.Q != "" {
			q.Where(func(s *sql.Selector) { s.Where(filterPredicate(s, f)) })
		}
		if f.Queue != "" || f.Assignee != "" {
			q.Where(func(s *sql.Selector) { s.Where(workPredicate(s, a, f)) })
		}
	}
	var lines []line
	if err := q.Select(columns(d)...).Aggregate(joined(a, d, f)...).Scan(ctx, &lines); err != nil {
		return Listed{}, fmt.Errorf("load mission tests: %w", err)
	}
	out := Listed{Tests: make([]Test, len(lines)), Total: -1}
	tactics := map[string][]mission.TacticRef{} // decoded tactics, by their JSON text
	for i := range lines {
		out.Tests[i] = lines[i].test(i, d, tactics)
	}
	if d == Rows {
		out.All, out.Total = out.Tests, len(out.Tests)
		placeRows(out.All)
		out.Tests = make([]Test, 0, len(out.All))
		for _, t := range out.All {
			if t.shown {
				out.Tests = append(out.Tests, t)
			}
		}
	}
	return out, nil
}

// placeRows marks the first and last test of each scenario among every
// test the viewer may see, in plan order (Number is already the place in
// that order): a filtered list keeps each test's number and its arrows.
// Tests outside any scenario (or in a deleted one) are one group, as
// PostgreSQL's PARTITION BY puts NULLs together.
func placeRows(all []Test) {
	last := map[uuid.UUID]int{}
	for i := range all {
		key := uuid.Nil
		if all[i].Scenario != nil {
			key = all[i].Scenario.ID
		}
		j, ok := last[key]
		all[i].First = !ok
		if ok {
			all[j].Last = false
		}
		all[i].Last = true
		last[key] = i
	}
}

// shownPredicate is the filter as the overview's shown column: the same
// conditions as the other details' WHERE clause.
func shownPredicate(s *sql.Selector, a *mission.Access, f Filter) *sql.Predicate {
	var ps []*sql.Predicate
	if f.State != "" {
		ps = append(ps, sql.EQ(s.C(missiontest.FieldState), f.State))
	}
	if f.Category != "" || f.Tactic != "" || f.Q != "" {
		ps = append(ps, filterPredicate(s, f))
	}
	if f.Queue != "" || f.Assignee != "" {
		ps = append(ps, workPredicate(s, a, f))
	}
	// NULL (a test outside any category compared with one) is not shown,
	// as in a WHERE clause; a NULL read back would mean no filter.
	return sql.P(func(b *sql.Builder) {
		b.WriteString("coalesce(").Join(sql.And(ps...)).WriteString(", false)")
	})
}

// Table aliases of the test query.
const (
	aliasScenario = "sc"
	aliasCategory = "cat"
	aliasLevel    = "dl"
	aliasExecutor = "u"  // the report's
	aliasTags     = "tg" // the report's
)

// joined returns the test query's extra columns. ent has no other hook to
// join tables to a query it builds: the first column adds the joins to the
// statement (and, for Rows under a filter, the shown column, which carries
// arguments).
//
// The scenario, the category and the level are joined; the people and the
// tags are scalar subqueries on their keys. Each join multiplies the join
// orders PostgreSQL weighs when it plans the statement, which it does at
// nearly every execution (a custom plan per mission id): with seven
// tables joined, planning took 1.4 ms of a 10-test overview's 1.8 ms in
// this statement; with three, 0.4 ms, and a 1,000-test mission reads as
// fast (measured with EXPLAIN ANALYZE on the bench's data).
func joined(a *mission.Access, d Detail, f Filter) []ent.AggregateFunc {
	col := func(expr, as string) ent.AggregateFunc {
		return func(*sql.Selector) string { return sql.As(expr, as) }
	}
	sc := sql.Table(missionscenario.Table).As(aliasScenario)
	cat := sql.Table(missioncategory.Table).As(aliasCategory)
	dl := sql.Table(detectionlevel.Table).As(aliasLevel)
	// The overview names the executor even once their account is
	// deleted; the report and the exports leave deleted accounts out, as
	// ent's soft delete does for the people they name.
	live := d > Rows
	person := func(key, field, as string, live bool) ent.AggregateFunc {
		return func(s *sql.Selector) string { return sql.As(personOf(s.C(key), field, live), as) }
	}
	join := func(s *sql.Selector) string {
		s.LeftJoin(sc).OnP(sql.And(sql.ColumnsEQ(s.C(missiontest.FieldMissionScenarioID), sc.C(missionscenario.FieldID)),
			sql.IsNull(sc.C(missionscenario.FieldDeletedAt))))
		s.LeftJoin(cat).OnP(sql.And(sql.ColumnsEQ(s.C(missiontest.FieldCategoryID), cat.C(missioncategory.FieldID)),
			sql.IsNull(cat.C(missioncategory.FieldDeletedAt))))
		s.LeftJoin(dl).On(s.C(missiontest.FieldDetectionLevelID), dl.C(detectionlevel.FieldID))
		if d == Rows && f.Active() {
			s.AppendSelectExprAs(shownPredicate(s, a, f), "shown")
		}
		return sql.As(sc.C(missionscenario.FieldName), "scenario_name")
	}
	fns := []ent.AggregateFunc{join,
		col(sc.C(missionscenario.FieldPosition), "scenario_position"),
		col(cat.C(missioncategory.FieldName), "category_name"),
		col(dl.C(detectionlevel.FieldName), "level_name"),
		person(missiontest.FieldExecutedByID, user.FieldDisplayName, "executor_name", live),
	}
	if d == Rows {
		return append(fns, func(s *sql.Selector) string { return sql.As(tagsOf(s, tagsText), "tag_text") },
			person(missiontest.FieldAssigneeID, user.FieldDisplayName, "assignee_name", false),
			col(dl.C(detectionlevel.FieldCountsAsDetected), "level_detected"),
			func(s *sql.Selector) string { return sql.As(outcomesOf(s), "outcome_text") })
	}
	fns = append(fns, func(s *sql.Selector) string { return sql.As(tagsOf(s, tagsJSON), "tags") },
		col(dl.C(detectionlevel.FieldScore), "level_score"),
		col(dl.C(detectionlevel.FieldColour), "level_colour"),
		col(dl.C(detectionlevel.FieldCountsAsDetected), "level_detected"),
		col(dl.C(detectionlevel.FieldPosition), "level_position"),
		col(dl.C(detectionlevel.FieldRetired), "level_retired"))
	if d == Everything {
		fns = append(fns, person(missiontest.FieldExecutedByID, user.FieldEmail, "executor_email", live),
			person(missiontest.FieldReviewedByID, user.FieldDisplayName, "reviewer_name", true),
			person(missiontest.FieldReviewedByID, user.FieldEmail, "reviewer_email", true))
	}
	return fns
}

// personOf is a column of the user whose id is in key, as a scalar
// subquery (NULL without one); live leaves deleted accounts out.
func personOf(key, field string, live bool) string {
	q := "(SELECT p." + field + " FROM " + user.Table + " p WHERE p.id = " + key
	if live {
		q += " AND p.deleted_at IS NULL"
	}
	return q + ")"
}

// How tagsOf folds a test's tags.
const (
	// tagsText is "kind␟id␟name␟tactics␞…", the tactics as their stored
	// JSON text: the overview and the report, where scanning the lines is
	// most of their own work.
	tagsText = iota
	// tagsJSON is a JSON array of the tags (the exports, the Navigator).
	tagsJSON
)

// tagsOf folds the tags of the query's test into one value, in ATT&CK ID
// order, as a scalar subquery on the tag table's test index (never NULL).
func tagsOf(s *sql.Selector, how int) string {
	agg, none := `string_agg(g.kind || E'\x1f' || g.external_id || E'\x1f' || g.name || E'\x1f' || coalesce(g.tactics::text, ''), E'\x1e'`, "''"
	if how == tagsJSON {
		agg, none = "json_agg(json_build_object('kind', g.kind, 'external_id', g.external_id, 'name', g.name, "+
			"'url', g.url, 'tactics', g.tactics)", "'[]'"
	}
	return "coalesce((SELECT " + agg + " ORDER BY g.external_id, g.id) FROM " + missiontestmitretag.Table +
		" g WHERE g.mission_test_id = " + s.C(missiontest.FieldID) + "), " + none + ")"
}

// filterPredicate is the filter's condition on the category and the tags.
func filterPredicate(s *sql.Selector, f Filter) *sql.Predicate {
	var ps []*sql.Predicate
	cat := sql.Table(aliasCategory)
	switch f.Category {
	case "":
	case "none":
		ps = append(ps, sql.IsNull(cat.C(missioncategory.FieldID)))
	default:
		id, err := uuid.Parse(f.Category)
		if err != nil {
			return sql.False() // no category has that id
		}
		ps = append(ps, sql.EQ(cat.C(missioncategory.FieldID), id))
	}
	tagged := func(cond func(b *sql.Builder)) *sql.Predicate {
		return sql.P(func(b *sql.Builder) {
			b.WriteString("EXISTS (SELECT 1 FROM " + missiontestmitretag.Table + " g WHERE g.mission_test_id = " +
				s.C(missiontest.FieldID) + " AND (")
			cond(b)
			b.WriteString("))")
		})
	}
	if f.Tactic != "" {
		// A tactic tag is its own tactic; a technique's tactics were
		// copied with its tag.
		ps = append(ps, tagged(func(b *sql.Builder) {
			b.WriteString("(g.kind = 'tactic' AND g.external_id = ").Arg(f.Tactic).
				WriteString(") OR (g.kind <> 'tactic' AND g.tactics @> jsonb_build_array(jsonb_build_object('id', ").
				Arg(f.Tactic).WriteString("::text)))")
		}))
	}
	if f.Q != "" {
		// Case-insensitive: both sides through PostgreSQL's lower().
		ps = append(ps, sql.Or(
			sql.P(func(b *sql.Builder) {
				b.WriteString("strpos(lower(" + s.C(missiontest.FieldName) + "), lower(").Arg(f.Q).WriteString("::text)) > 0")
			}),
			tagged(func(b *sql.Builder) {
				b.WriteString("starts_with(lower(g.external_id), lower(").Arg(f.Q).
					WriteString("::text)) OR strpos(lower(g.name), lower(").Arg(f.Q).WriteString("::text)) > 0")
			})))
	}
	return sql.And(ps...)
}

// test turns the i-th line into a Test. tactics keeps the tactics
// decoded from each JSON text met (Rows): most tags repeat a few.
func (l *line) test(i int, d Detail, tactics map[string][]mission.TacticRef) Test {
	t := Test{MissionTest: &l.MissionTest, Number: i + 1}
	t.shown = l.Shown == nil || *l.Shown
	t.detected = l.LevelDetected != nil && *l.LevelDetected
	if l.MissionScenarioID != nil && l.ScenarioName != nil {
		t.Scenario = &Scenario{ID: *l.MissionScenarioID, Name: *l.ScenarioName}
		if l.ScenarioPosition != nil {
			t.Scenario.Position = *l.ScenarioPosition
		}
	}
	if l.CategoryID != nil && l.CategoryName != nil {
		t.Category = &Category{ID: *l.CategoryID, Name: *l.CategoryName}
	}
	if l.DetectionLevelID != nil && l.LevelName != nil {
		t.Level = &ent.DetectionLevel{ID: *l.DetectionLevelID, Name: *l.LevelName}
		if d > Rows {
			t.Level.Score, t.Level.Colour = deref(l.LevelScore), deref(l.LevelColour)
			t.Level.CountsAsDetected, t.Level.Position, t.Level.Retired = deref(l.LevelDetected), deref(l.LevelPosition), deref(l.LevelRetired)
		}
	}
	if l.ExecutorName != nil {
		t.ExecutedBy = &Person{Name: *l.ExecutorName, Email: deref(l.ExecutorEmail)}
	}
	if l.AssigneeName != nil {
		t.Assignee = &Person{Name: *l.AssigneeName}
	}
	if l.ReviewerName != nil {
		t.ReviewedBy = &Person{Name: *l.ReviewerName, Email: deref(l.ReviewerEmail)}
	}
	t.Tags = l.Tags
	if l.OutcomeText != "" {
		t.outcomes = parseOutcomes(l.OutcomeText)
	}
	if l.TagText != "" {
		for tag := range strings.SplitSeq(l.TagText, tagSep) {
			kind, rest, ok := strings.Cut(tag, fieldSep)
			if !ok {
				continue
			}
			id, rest, _ := strings.Cut(rest, fieldSep)
			name, tacticsJSON, _ := strings.Cut(rest, fieldSep)
			t.Tags = append(t.Tags, Tag{Kind: kind, ExternalID: id, Name: name})
			// The figures' tactics (mission.ComputeFigures): a tactic
			// tag's own, and those copied with every tag.
			if kind == "tactic" {
				t.tactics = append(t.tactics, mission.TacticRef{ID: id, Name: name})
			}
			t.tactics = append(t.tactics, decodeTactics(tacticsJSON, tactics)...)
		}
	}
	return t
}

// decodeTactics reads a tag's tactics column ([{"id", "name", …}]),
// remembering each text decoded in seen.
func decodeTactics(text string, seen map[string][]mission.TacticRef) []mission.TacticRef {
	if text == "" || text == "[]" {
		return nil
	}
	if refs, ok := seen[text]; ok {
		return refs
	}
	var list []struct {
		ID   *string `json:"id"`
		Name *string `json:"name"`
	}
	_ = json.Unmarshal([]byte(text), &list) // written by Violet from ATT&CK: an array of objects
	refs := make([]mission.TacticRef, 0, len(list))
	for _, x := range list {
		if x.ID != nil {
			refs = append(refs, mission.TacticRef{ID: *x.ID, Name: deref(x.Name)})
		}
	}
	seen[text] = refs
	return refs
}

// FigureTests returns the tests as the figures count them
// (mission.FiguresOf); only tests read with Rows carry their tactics.
func FigureTests(tests []Test) []mission.FigureTest {
	out := make([]mission.FigureTest, len(tests))
	for i := range tests {
		t := &tests[i]
		out[i] = mission.FigureTest{
			State: string(t.State), Released: t.ReleasedToBlue, Rated: t.DetectionLevelID != nil, Detected: t.detected,
			StartedAt: t.StartedAt, DetectedAt: t.DetectedAt, Tactics: t.tactics,
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
