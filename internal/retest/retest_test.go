package retest_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/notify"
	"violet/internal/retest"
	"violet/internal/testkit/testdb"
	views "violet/views/retest"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world is a mission with a scenario, a category, a defensive tool in
// scope (and an inactive one) and five tests: executed and undetected
// (tagged, with a Sigma rule and a free rule name, and an outcome for the
// tool), reviewed and only logged (the default scale's Logged does not
// count as detected), executed and alerted (the inactive tool alerted),
// executed and blocked, and pending.
type world struct {
	t        *testing.T
	db       *sql.DB
	client   *ent.Client
	notifier *notify.Notifier
	mission  uuid.UUID
	tool     uuid.UUID
	inactive uuid.UUID // a tool no longer offered, in the original's scope
	rule     uuid.UUID
	users    map[string]uuid.UUID
	tests    map[string]uuid.UUID
	levels   map[string]uuid.UUID
}

func (w *world) exec(q string, args ...any) {
	w.t.Helper()
	if _, err := w.db.Exec(q, args...); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
}

func (w *world) id(q string, args ...any) uuid.UUID {
	w.t.Helper()
	var v uuid.UUID
	if err := w.db.QueryRow(q, args...).Scan(&v); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
	return v
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, db: db, client: client, notifier: notify.New(catalog),
		users: map[string]uuid.UUID{}, tests: map[string]uuid.UUID{}, levels: map[string]uuid.UUID{}}
	for _, role := range []string{"lead", "red", "blue", "observer"} {
		w.users[role] = w.id(`INSERT INTO users (email, password_hash, display_name) VALUES ($1, 'x', $2) RETURNING id`,
			role+"@example.com", "User "+role)
	}
	for _, name := range []string{"Blocked", "Alerted", "Logged", "Not detected"} {
		w.levels[name] = w.id(`SELECT id FROM detection_levels WHERE name = $1`, name)
	}
	w.mission = w.id(`INSERT INTO missions (name, status, labels) VALUES ('Operation Violet', 'completed', '["acme"]') RETURNING id`)
	for _, role := range []string{"lead", "red", "blue", "observer"} {
		w.exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, $3)`, w.mission, w.users[role], role)
	}
	w.tool = w.id(`INSERT INTO defensive_tools (name, vendor, kind) VALUES ('Falcon', 'CrowdStrike', 'edr') RETURNING id`)
	w.exec(`INSERT INTO mission_tools (mission_id, defensive_tool_id) VALUES ($1, $2)`, w.mission, w.tool)
	scenario := w.id(`INSERT INTO mission_scenarios (mission_id, name, position) VALUES ($1, 'Persistence', 0) RETURNING id`, w.mission)
	w.exec(`INSERT INTO mission_categories (mission_id, name, colour, position) VALUES ($1, 'Unused', '#123456', 0)`, w.mission)
	cat := w.id(`INSERT INTO mission_categories (mission_id, name, colour, position) VALUES ($1, 'Workstations', '#0e7490', 1) RETURNING id`, w.mission)
	test := func(name string, pos int, state string, level any) uuid.UUID {
		id := w.id(`INSERT INTO mission_tests (mission_id, mission_scenario_id, category_id, position, name, objective,
			procedure, platforms, state, released_to_blue, detection_level_id, red_notes, blue_notes, command, expected_rules)
			VALUES ($1, $2, $3, $4, $5::text, 'Objective of ' || $5::text, 'Procedure of ' || $5::text, '["windows"]', $6, true, $7,
			'red notes', 'blue notes', 'schtasks /create', '[{"tool_id": "x", "name": "Task rule"}]') RETURNING id`,
			w.mission, scenario, cat, pos, name, state, level)
		w.exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, tactics)
			VALUES ($1, 'subtechnique', 'T1053.005', 'Scheduled Task', '[{"id": "TA0003", "name": "Persistence", "shortname": "persistence"}]')`, id)
		w.tests[name] = id
		return id
	}
	test("Undetected", 0, "executed", nil)
	test("Logged", 1, "reviewed", w.levels["Logged"])
	test("Alerted", 2, "executed", w.levels["Alerted"])
	test("Blocked", 3, "executed", w.levels["Blocked"])
	test("Pending", 4, "pending", nil)
	w.rule = w.id(`INSERT INTO detection_rules (rule_uid, title, techniques, tags, "references") VALUES ('r-1', 'Schtasks', '["T1053.005"]', '[]', '[]') RETURNING id`)
	w.exec(`INSERT INTO mission_test_rules (mission_test_id, detection_rule_id) VALUES ($1, $2)`, w.tests["Undetected"], w.rule)
	w.exec(`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id) VALUES ($1, $2, $3)`,
		w.tests["Undetected"], w.tool, w.levels["Not detected"])
	w.inactive = w.id(`INSERT INTO defensive_tools (name, vendor, kind, active) VALUES ('Legacy AV', 'Old', 'av', false) RETURNING id`)
	w.exec(`INSERT INTO mission_tools (mission_id, defensive_tool_id) VALUES ($1, $2)`, w.mission, w.inactive)
	w.exec(`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id) VALUES ($1, $2, $3)`,
		w.tests["Alerted"], w.inactive, w.levels["Alerted"])
	return w
}

// as returns the context and access of one member on a mission.
func (w *world) as(role string, missionID uuid.UUID, perms ...auth.Permission) (context.Context, *mission.Access) {
	w.t.Helper()
	codes := []string{string(auth.MissionRead)}
	for _, p := range perms {
		codes = append(codes, string(p))
	}
	v := auth.NewViewer(w.users[role], role+"@example.com", "User "+role, "en", uuid.New(), nil, codes)
	ctx := auth.NewContext(context.Background(), v)
	a, err := mission.Load(ctx, w.client, v, missionID)
	if err != nil {
		w.t.Fatal(err)
	}
	return ctx, a
}

func (w *world) service() *retest.Service { return retest.NewService(w.client, w.notifier) }

func checkedTests(f views.Form) []string {
	var out []string
	for _, g := range f.Groups {
		for _, t := range g.Tests {
			if t.Checked {
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// TestFormDefaultSelection: the executed tests nothing detected or only
// logged are checked, every member too; the viewer leads.
func TestFormDefaultSelection(t *testing.T) {
	w := setup(t)
	ctx, a := w.as("lead", w.mission, auth.MissionCreate)
	f, err := w.service().Form(ctx, a, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkedTests(f); !slices.Equal(got, []string{"Undetected", "Logged"}) {
		t.Errorf("default selection %v, want the undetected and the logged test", got)
	}
	if len(f.Members) != 4 || !f.Members[0].Me || f.Members[0].ID != w.users["lead"].String() {
		t.Fatalf("members %+v: want the viewer first, then the three others", f.Members)
	}
	for _, m := range f.Members {
		if !m.Checked {
			t.Errorf("member %s not checked by default", m.Name)
		}
	}
	// A scale where logging counts as detected: the weakest detecting
	// level is then the logging one, and its tests are proposed too.
	w.exec(`UPDATE detection_levels SET counts_as_detected = true WHERE name = 'Logged'`)
	f, err = w.service().Form(ctx, a, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkedTests(f); !slices.Equal(got, []string{"Undetected", "Logged"}) {
		t.Errorf("with Logged detecting: default selection %v, want the undetected and the logged test", got)
	}
}

// TestCreateCopiesTheChosenTests: the retest is a planned mission linked
// to the original with its labels, active tools, the chosen members and
// the categories and scenarios used (in their order, each test in its
// own); each test is copied without its results and linked to the
// original test; both missions are audited and the members notified.
func TestCreateCopiesTheChosenTests(t *testing.T) {
	w := setup(t)
	// Alerted in a second scenario and category, so that each copied test
	// must be mapped to its own copies.
	servers := w.id(`INSERT INTO mission_categories (mission_id, name, colour, position) VALUES ($1, 'Servers', '#b91c1c', 2) RETURNING id`, w.mission)
	discovery := w.id(`INSERT INTO mission_scenarios (mission_id, name, position) VALUES ($1, 'Discovery', 1) RETURNING id`, w.mission)
	w.exec(`UPDATE mission_tests SET category_id = $2, mission_scenario_id = $3 WHERE id = $1`, w.tests["Alerted"], servers, discovery)
	ctx, a := w.as("lead", w.mission, auth.MissionCreate)
	m, err := w.service().Create(ctx, a, retest.Input{Name: "Operation Violet — retest", StartDate: "2027-01-04", EndDate: "2027-01-08",
		Tests:   []string{w.tests["Alerted"].String(), w.tests["Undetected"].String()},
		Members: []string{w.users["red"].String(), w.users["blue"].String()}})
	if err != nil {
		t.Fatal(err)
	}
	var status, labels string
	var of uuid.UUID
	if err := w.db.QueryRow(`SELECT status, retest_of_id, labels::text FROM missions WHERE id = $1`, m.ID).Scan(&status, &of, &labels); err != nil {
		t.Fatal(err)
	}
	if status != "planned" || of != w.mission || labels != `["acme"]` {
		t.Errorf("retest: status %s, retest of %s, labels %s", status, of, labels)
	}
	var tools int
	w.db.QueryRow(`SELECT count(*) FROM mission_tools WHERE mission_id = $1 AND defensive_tool_id = $2`, m.ID, w.tool).Scan(&tools)
	if tools != 1 {
		t.Errorf("the tool in scope was not copied")
	}
	// The inactive tool stays in the original's scope but is not newly
	// added to the retest's (as the mission's settings never add it).
	w.db.QueryRow(`SELECT count(*) FROM mission_tools WHERE mission_id = $1`, m.ID).Scan(&tools)
	if tools != 1 {
		t.Errorf("%d tools in the retest's scope, want the active one only", tools)
	}
	rows, err := w.db.Query(`SELECT u.email, mm.role FROM mission_members mm JOIN users u ON u.id = mm.user_id WHERE mission_id = $1 ORDER BY u.email`, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for rows.Next() {
		var email, role string
		rows.Scan(&email, &role)
		members = append(members, email+":"+role)
	}
	rows.Close()
	if !slices.Equal(members, []string{"blue@example.com:blue", "lead@example.com:lead", "red@example.com:red"}) {
		t.Errorf("members %v", members)
	}
	var cats, scenarios, placed string
	w.db.QueryRow(`SELECT string_agg(name || ':' || position, ',' ORDER BY position) FROM mission_categories WHERE mission_id = $1`, m.ID).Scan(&cats)
	if cats != "Workstations:0,Servers:1" {
		t.Errorf("categories %q: want the used ones copied in their order", cats)
	}
	w.db.QueryRow(`SELECT string_agg(name || ':' || position, ',' ORDER BY position) FROM mission_scenarios WHERE mission_id = $1`, m.ID).Scan(&scenarios)
	if scenarios != "Persistence:0,Discovery:1" {
		t.Errorf("scenarios %q: want the used ones copied in their order", scenarios)
	}
	w.db.QueryRow(`SELECT string_agg(t.name || ':' || c.name || ':' || sc.name, ',' ORDER BY t.position) FROM mission_tests t
		JOIN mission_categories c ON c.id = t.category_id AND c.mission_id = t.mission_id
		JOIN mission_scenarios sc ON sc.id = t.mission_scenario_id AND sc.mission_id = t.mission_id
		WHERE t.mission_id = $1`, m.ID).Scan(&placed)
	if placed != "Undetected:Workstations:Persistence,Alerted:Servers:Discovery" {
		t.Errorf("copied tests' categories and scenarios %q", placed)
	}
	type copied struct {
		name, state, objective, procedure, expected, redNotes, command string
		retestOf                                                       uuid.UUID
		level                                                          *uuid.UUID
		tags, rules, outcomes                                          int
		scenario, category                                             bool
	}
	rows, err = w.db.Query(`SELECT t.name, t.state, t.objective, t.procedure, t.expected_rules::text, t.red_notes, t.command, t.retest_of_id, t.detection_level_id,
		(SELECT count(*) FROM mission_test_mitre_tags g WHERE g.mission_test_id = t.id AND g.tactics::text LIKE '%TA0003%'),
		(SELECT count(*) FROM mission_test_rules r WHERE r.mission_test_id = t.id),
		(SELECT count(*) FROM mission_test_outcomes o WHERE o.mission_test_id = t.id),
		t.mission_scenario_id IN (SELECT id FROM mission_scenarios WHERE mission_id = $1),
		t.category_id IN (SELECT id FROM mission_categories WHERE mission_id = $1)
		FROM mission_tests t WHERE t.mission_id = $1 ORDER BY t.position`, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []copied
	for rows.Next() {
		var c copied
		if err := rows.Scan(&c.name, &c.state, &c.objective, &c.procedure, &c.expected, &c.redNotes, &c.command, &c.retestOf, &c.level,
			&c.tags, &c.rules, &c.outcomes, &c.scenario, &c.category); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	rows.Close()
	if len(got) != 2 || got[0].name != "Undetected" || got[1].name != "Alerted" {
		t.Fatalf("copied tests %+v: want Undetected then Alerted, in plan order", got)
	}
	for _, c := range got {
		switch {
		case c.retestOf != w.tests[c.name]:
			t.Errorf("%s: retest of %s, want the original test", c.name, c.retestOf)
		case c.state != "pending" || c.level != nil || c.redNotes != "" || c.command != "" || c.outcomes != 0:
			t.Errorf("%s: results copied: %+v", c.name, c)
		case c.objective != "Objective of "+c.name || c.procedure != "Procedure of "+c.name:
			t.Errorf("%s: definition not copied: %+v", c.name, c)
		case c.tags != 1 || !c.scenario || !c.category:
			t.Errorf("%s: tags, scenario or category not copied: %+v", c.name, c)
		case c.expected != `[{"name": "Task rule", "tool_id": "x"}]`:
			t.Errorf("%s: expected rules %s", c.name, c.expected)
		}
	}
	if got[0].rules != 1 {
		t.Errorf("the Sigma rule of the test was not copied")
	}
	var audits int
	w.db.QueryRow(`SELECT count(*) FROM audit_events WHERE (target_id = $1 AND action = 'mission.created' AND details->>'retest_of' = 'Operation Violet')
		OR (target_id = $2 AND action = 'mission.updated' AND details->>'retested_as' = 'Operation Violet — retest')`,
		m.ID.String(), w.mission.String()).Scan(&audits)
	if audits != 2 {
		t.Errorf("%d audit events, want the retest's creation and the original's", audits)
	}
	var notified []string
	rows, _ = w.db.Query(`SELECT u.email FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.link LIKE '%' || $1 ORDER BY u.email`, m.ID.String())
	for rows.Next() {
		var e string
		rows.Scan(&e)
		notified = append(notified, e)
	}
	rows.Close()
	if !slices.Equal(notified, []string{"blue@example.com", "red@example.com"}) {
		t.Errorf("notified %v, want the members taken along (not the lead, not the observer left out)", notified)
	}
}

// TestCreateRefusals: a refused form names each field and creates
// nothing; a member who is not a lead, or a lead who may not create
// missions, is refused.
func TestCreateRefusals(t *testing.T) {
	w := setup(t)
	ctx, a := w.as("lead", w.mission, auth.MissionCreate)
	_, err := w.service().Create(ctx, a, retest.Input{Name: " ", StartDate: "2027-02-01", EndDate: "2027-01-01"})
	var inv *app.Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("err %v, want *app.Invalid", err)
	}
	for _, f := range []string{"name", "tests", "end_date"} {
		if inv.Fields[f] == "" {
			t.Errorf("no error for %s: %v", f, inv)
		}
	}
	_, err = w.service().Create(ctx, a, retest.Input{Name: "x", Tests: []string{uuid.NewString()}})
	if !errors.As(err, &inv) || inv.Fields["tests"] != "retest.form.tests_unknown" {
		t.Errorf("a test of another mission: %v", err)
	}
	var n int
	w.db.QueryRow(`SELECT count(*) FROM missions WHERE retest_of_id IS NOT NULL`).Scan(&n)
	if n != 0 {
		t.Errorf("%d retests created by refused forms", n)
	}
	in := retest.Input{Name: "x", Tests: []string{w.tests["Undetected"].String()}}
	ctx, a = w.as("red", w.mission, auth.MissionCreate)
	if _, err := w.service().Create(ctx, a, in); !errors.Is(err, mission.ErrForbidden) {
		t.Errorf("a red member: %v, want ErrForbidden", err)
	}
	if _, err := w.service().Form(ctx, a, nil, nil); !errors.Is(err, mission.ErrForbidden) {
		t.Errorf("a red member's form: %v, want ErrForbidden", err)
	}
	ctx, a = w.as("lead", w.mission)
	if _, err := w.service().Create(ctx, a, in); !errors.Is(err, mission.ErrForbidden) {
		t.Errorf("a lead without mission.create: %v, want ErrForbidden", err)
	}
}

// TestVerdict: the scale's order decides; no result after is not run.
func TestVerdict(t *testing.T) {
	blocked, alerted, logged, none := &retest.Rank{Score: 100, Position: 0}, &retest.Rank{Score: 75, Position: 1},
		&retest.Rank{Score: 25, Position: 2}, &retest.Rank{Score: 0, Position: 3}
	cases := []struct {
		before, after *retest.Rank
		want          string
	}{
		{logged, alerted, views.Improved},
		{blocked, alerted, views.Regressed},
		{alerted, alerted, views.Unchanged},
		{alerted, nil, views.NotRun},
		{nil, nil, views.NotRun},
		{nil, logged, views.Improved},
		{nil, none, views.Unchanged},
		{&retest.Rank{Score: 75, Position: 4}, alerted, views.Improved}, // same score, placed first on the scale
	}
	for _, c := range cases {
		if got := retest.Verdict(c.before, c.after); got != c.want {
			t.Errorf("Verdict(%v, %v) = %s, want %s", c.before, c.after, got, c.want)
		}
	}
}

// TestCompare: each retested test beside its original, the summaries per
// tactic and per tool; a blue member sees the released tests only; a
// mission that retests nothing has no comparison.
func TestCompare(t *testing.T) {
	w := setup(t)
	ctx, a := w.as("lead", w.mission, auth.MissionCreate)
	m, err := w.service().Create(ctx, a, retest.Input{Name: "Retest",
		Tests:   []string{w.tests["Undetected"].String(), w.tests["Logged"].String(), w.tests["Alerted"].String(), w.tests["Blocked"].String()},
		Members: []string{w.users["blue"].String()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := retest.Compare(ctx, w.db, a); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("compare of a mission that retests nothing: %v, want not found", err)
	}
	copyOf := func(name string) uuid.UUID {
		return w.id(`SELECT id FROM mission_tests WHERE mission_id = $1 AND retest_of_id = $2`, m.ID, w.tests[name])
	}
	// Undetected is now alerted by the tool; Alerted only logged; Logged
	// is not run yet; Blocked is blocked again but not released.
	w.exec(`UPDATE mission_tests SET state = 'executed', released_to_blue = true, detection_level_id = $2 WHERE id = $1`, copyOf("Undetected"), w.levels["Alerted"])
	w.exec(`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id) VALUES ($1, $2, $3)`, copyOf("Undetected"), w.tool, w.levels["Alerted"])
	w.exec(`UPDATE mission_tests SET state = 'executed', released_to_blue = true, detection_level_id = $2 WHERE id = $1`, copyOf("Alerted"), w.levels["Logged"])
	w.exec(`UPDATE mission_tests SET released_to_blue = true WHERE id = $1`, copyOf("Logged"))
	w.exec(`UPDATE mission_tests SET state = 'executed', detection_level_id = $2 WHERE id = $1`, copyOf("Blocked"), w.levels["Blocked"])

	ctx, a = w.as("lead", m.ID)
	c, err := retest.Compare(ctx, w.db, a)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, r := range c.Rows {
		verdicts[r.Name] = r.Verdict
	}
	want := map[string]string{"Undetected": views.Improved, "Logged": views.NotRun, "Alerted": views.Regressed, "Blocked": views.Unchanged}
	for name, v := range want {
		if verdicts[name] != v {
			t.Errorf("%s: %s, want %s", name, verdicts[name], v)
		}
	}
	if c.OriginalName != "Operation Violet" || c.Totals != (views.Counts{Improved: 1, Regressed: 1, Unchanged: 1, NotRun: 1}) {
		t.Errorf("original %q, totals %+v", c.OriginalName, c.Totals)
	}
	if len(c.Tactics) != 1 || c.Tactics[0].ID != "TA0003" || c.Tactics[0].Counts != c.Totals {
		t.Errorf("per tactic %+v", c.Tactics)
	}
	// The tools of either scope with an outcome in either run: the
	// inactive one, only in the original's scope, alerted on Alerted.
	if len(c.Tools) != 2 || c.Tools[0].Name != "Falcon" || c.Tools[0].DetectedBefore != 0 || c.Tools[0].DetectedAfter != 1 || c.Tools[0].Improved != 1 ||
		c.Tools[1].Name != "Legacy AV" || c.Tools[1].DetectedBefore != 1 || c.Tools[1].NotRun != 1 {
		t.Errorf("per tool %+v", c.Tools)
	}
	// The blue member sees the released tests only: not Blocked's rerun.
	ctx, a = w.as("blue", m.ID)
	c, err = retest.Compare(ctx, w.db, a)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range c.Rows {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"Undetected", "Logged", "Alerted"}) {
		t.Errorf("blue sees %v, want the released tests only", names)
	}
	// The links: the retest names its original, the original its retest.
	l, err := retest.Links(ctx, w.client, a)
	if err != nil {
		t.Fatal(err)
	}
	if !l.IsRetest || l.CanRetest || l.Of == nil || l.Of.Name != "Operation Violet" {
		t.Errorf("blue's links on the retest %+v: want the original named, no retest button", l)
	}
	ctx, a = w.as("lead", w.mission, auth.MissionCreate)
	l, err = retest.Links(ctx, w.client, a)
	if err != nil {
		t.Fatal(err)
	}
	if l.IsRetest || !l.CanRetest || len(l.Retests) != 1 || l.Retests[0].Name != "Retest" {
		t.Errorf("the lead's links on the original %+v: want the retest listed and the button", l)
	}

	// The viewer's role on the original decides whether they see its
	// unreleased results, not their role on the retest: someone blue on
	// the original and observer on the retest sees the retest's unreleased
	// tests, but not the result or the outcomes of an original never
	// released to blue.
	w.exec(`UPDATE mission_tests SET released_to_blue = false WHERE id = $1`, w.tests["Alerted"])
	w.users["switch"] = w.id(`INSERT INTO users (email, password_hash, display_name) VALUES ('switch@example.com', 'x', 'User switch') RETURNING id`)
	w.exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'blue'), ($3, $2, 'observer')`, w.mission, w.users["switch"], m.ID)
	before := func(role string) (views.Comparison, map[string]views.Row) {
		t.Helper()
		ctx, a := w.as(role, m.ID)
		c, err := retest.Compare(ctx, w.db, a)
		if err != nil {
			t.Fatal(err)
		}
		rows := map[string]views.Row{}
		for _, r := range c.Rows {
			rows[r.Name] = r
		}
		return c, rows
	}
	c, rows := before("lead")
	if rows["Alerted"].Before.Name != "Alerted" || rows["Logged"].Before.Name != "Logged" || len(c.Tools) != 2 {
		t.Errorf("the lead of both sees an unreleased original's result: %+v, tools %+v", rows, c.Tools)
	}
	c, rows = before("switch")
	if len(rows) != 4 {
		t.Errorf("an observer on the retest sees %d retested tests, want the unreleased one too", len(rows))
	}
	if rows["Alerted"].Before.Name != "" || rows["Logged"].Before.Name != "Logged" || rows["Blocked"].Before.Name != "Blocked" {
		t.Errorf("blue on the original sees before: Alerted %q (unreleased: want none), Logged %q, Blocked %q",
			rows["Alerted"].Before.Name, rows["Logged"].Before.Name, rows["Blocked"].Before.Name)
	}
	if len(c.Tools) != 1 || c.Tools[0].Name != "Falcon" {
		t.Errorf("blue on the original sees the unreleased original's outcomes: tools %+v", c.Tools)
	}
	// The hidden result is no "no result": Alerted (logged after) is not
	// improved for them, but before not visible, outside the other counts;
	// the lead sees it regressed.
	if v := rows["Alerted"].Verdict; v != views.BeforeHidden {
		t.Errorf("blue on the original: Alerted %s, want before not visible", v)
	}
	if c.Totals != (views.Counts{Improved: 1, Unchanged: 1, NotRun: 1, BeforeHidden: 1}) ||
		!slices.Equal(c.Verdicts(), append(views.Verdicts(), views.BeforeHidden)) {
		t.Errorf("blue on the original: totals %+v, verdicts shown %v", c.Totals, c.Verdicts())
	}
	if c, _ := before("lead"); c.Totals.BeforeHidden != 0 || !slices.Equal(c.Verdicts(), views.Verdicts()) {
		t.Errorf("the lead: totals %+v, verdicts shown %v", c.Totals, c.Verdicts())
	}

	// The original in the trash (its tests keep deleted_at NULL): its
	// results, outcomes and tools are no longer compared.
	w.exec(`UPDATE missions SET deleted_at = now() WHERE id = $1`, w.mission)
	c, rows = before("lead")
	if c.OriginalName != "" || len(rows) != 4 {
		t.Errorf("original in the trash: named %q, %d rows", c.OriginalName, len(rows))
	}
	for name, r := range rows {
		if r.Before.Name != "" || r.OriginalTestID != "" {
			t.Errorf("original in the trash: %s still has a result before %q (original test %q)", name, r.Before.Name, r.OriginalTestID)
		}
	}
	if len(c.Tools) != 1 || c.Tools[0].Name != "Falcon" || c.Tools[0].DetectedBefore != 0 {
		t.Errorf("original in the trash: tools %+v, want the retest's only, nothing detected before", c.Tools)
	}
}
