package handlers_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/mission"
	"violet/internal/testkit/apptest"
	"violet/views/scale"
)

// overviewFixture is a mission with a member of each role, plus an
// outsider and an admin who are not members, each signed in.
type overviewFixture struct {
	app     *apptest.App
	id      uuid.UUID
	users   map[string]uuid.UUID
	cookies map[string]*http.Cookie
	levels  []*ent.DetectionLevel // the seeded scale, by position
}

var overviewRoleGroups = map[string]string{
	"lead": "redteam", "red": "redteam", "blue": "blueteam", "observer": "observer",
	"outsider": "redteam", "admin": "admin",
}

func newOverviewFixture(t testing.TB, opts ...apptest.Option) *overviewFixture {
	t.Helper()
	app := apptest.New(t, opts...)
	ctx := rule.SystemContext(context.Background())
	f := &overviewFixture{app: app, users: map[string]uuid.UUID{}, cookies: map[string]*http.Cookie{}}
	for role, group := range overviewRoleGroups {
		email := role + "@example.com"
		f.users[role] = app.User(t, email, group).ID
		f.cookies[role] = app.Login(t, email, apptest.Password)
	}
	m, err := app.Ent.Mission.Create().SetName("Operation Violet").SetScope("Lab AD domain").
		SetStatus("in_progress").SetCreatedByID(f.users["lead"]).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.id = m.ID
	for _, role := range []string{"lead", "red", "blue", "observer"} {
		app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(f.users[role]).
			SetRole(missionmember.Role(role)).ExecX(ctx)
	}
	f.levels = app.Ent.DetectionLevel.Query().Order(ent.Asc("position")).AllX(ctx)
	if len(f.levels) == 0 {
		t.Fatal("no seeded detection levels")
	}
	return f
}

func (f *overviewFixture) path(suffix string) string { return "/missions/" + f.id.String() + suffix }

// seedTests writes n tests in two scenarios with three ATT&CK tags each
// in a fixed number of statements (CreateBulk): every third test is
// unreleased, states cycle, the released executed ones are rated.
// It returns the tests' ids in plan order.
func (f *overviewFixture) seedTests(t testing.TB, n int) []uuid.UUID {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	c := f.app.Ent
	scA := c.MissionScenario.Create().SetMissionID(f.id).SetName("Initial access").SetPosition(0).SaveX(ctx)
	scB := c.MissionScenario.Create().SetMissionID(f.id).SetName("Credential theft").SetPosition(1).SaveX(ctx)
	cat := c.MissionCategory.Create().SetMissionID(f.id).SetName("Workstations").SetColour("#0e7490").SaveX(ctx)
	states := []string{"pending", "running", "executed", "reviewed", "skipped", "blocked"}
	started := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	const batch = 500
	var ids []uuid.UUID
	for from := 0; from < n; from += batch {
		var creates []*ent.MissionTestCreate
		for i := from; i < min(n, from+batch); i++ {
			sc := scA.ID
			if i%2 == 1 {
				sc = scB.ID
			}
			state := states[i%len(states)]
			b := c.MissionTest.Create().SetMissionID(f.id).SetMissionScenarioID(sc).SetPosition(i).
				SetName(fmt.Sprintf("Test %04d", i)).SetState(missiontest.State(state)).
				SetReleasedToBlue(i%3 != 0)
			if i%4 == 0 {
				b.SetCategoryID(cat.ID)
			}
			if state == "executed" || state == "reviewed" {
				lvl := f.levels[i%len(f.levels)]
				b.SetExecutedByID(f.users["red"]).SetStartedAt(started).
					SetDetectionLevelID(lvl.ID).SetDetectedAt(started.Add(12 * time.Minute))
			}
			creates = append(creates, b)
		}
		tests, err := c.MissionTest.CreateBulk(creates...).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var tags []*ent.MissionTestMitreTagCreate
		for _, mt := range tests {
			ids = append(ids, mt.ID)
			tags = append(tags,
				c.MissionTestMitreTag.Create().SetMissionTestID(mt.ID).SetKind("subtechnique").
					SetExternalID("T1059.001").SetName("PowerShell").
					SetTactics([]map[string]string{{"id": "TA0002", "shortname": "execution", "name": "Execution"}}),
				c.MissionTestMitreTag.Create().SetMissionTestID(mt.ID).SetKind("technique").
					SetExternalID("T1003").SetName("OS Credential Dumping").
					SetTactics([]map[string]string{{"id": "TA0006", "shortname": "credential-access", "name": "Credential Access"}}),
				c.MissionTestMitreTag.Create().SetMissionTestID(mt.ID).SetKind("tactic").
					SetExternalID("TA0007").SetName("Discovery"),
			)
		}
		if err := c.MissionTestMitreTag.CreateBulk(tags...).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// countRows counts rows with a raw query.
func (f *overviewFixture) countRows(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.app.DB.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestShowMissionByRole(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	ids := f.seedTests(t, 12)
	unreleased := ids[0] // i % 3 == 0
	released := ids[1]
	cases := []struct {
		role       string
		status     int
		rows       int
		unreleased bool
		plan       bool
	}{
		{"lead", http.StatusOK, 12, true, true},
		{"red", http.StatusOK, 12, true, false},
		{"observer", http.StatusOK, 12, true, false},
		{"blue", http.StatusOK, 8, false, false},
		{"admin", http.StatusOK, 12, true, true},
		{"outsider", http.StatusNotFound, 0, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.role, func(t *testing.T) {
			w := f.app.GetAs(f.cookies[tc.role], f.path(""))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status != http.StatusOK {
				if strings.Contains(w.Body.String(), "Operation Violet") {
					t.Error("a hidden mission's name leaked")
				}
				return
			}
			d := doc(t, w)
			if got := d.Find(`[data-testid="test-row"]`).Length(); got != tc.rows {
				t.Errorf("%d rows, want %d", got, tc.rows)
			}
			if got := d.Find(`[data-testid="test-row"][data-id="` + unreleased.String() + `"]`).Length(); (got == 1) != tc.unreleased {
				t.Errorf("unreleased test shown: %d, want %v", got, tc.unreleased)
			}
			if d.Find(`[data-testid="test-row"][data-id="`+released.String()+`"]`).Length() != 1 {
				t.Error("released test missing")
			}
			if strings.Contains(w.Body.String(), "Test 0000") != tc.unreleased {
				t.Error("the unreleased test's name is in the page for blue, or missing for others")
			}
			if got := d.Find(`[data-testid="plan-open"]`).Length() == 1; got != tc.plan {
				t.Errorf("plan editor link %v, want %v", got, tc.plan)
			}
			if testid(d, "mission-name") != "Operation Violet" || testid(d, "mission-scope") == "" {
				t.Error("header missing")
			}
			if d.Find(`[data-testid="mission-tabs"]`).Length() != 1 {
				t.Error("tabs missing")
			}
			link := d.Find(`[data-testid="test-link"]`).First()
			if href, _ := link.Attr("href"); !strings.HasPrefix(href, f.path("/tests/")) {
				t.Errorf("test link %q", href)
			}
			if !strings.Contains(d.Find(`[data-testid="test-tag"]`).First().Text(), "T1003") {
				t.Errorf("tags: %q", d.Find(`[data-testid="test-tag"]`).First().Text())
			}
		})
	}
	t.Run("blue figures count released tests only", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.cookies["blue"], f.path("")))
		exec, _ := d.Find(`[data-testid="progress-executed"]`).Attr("data-count")
		want, _ := mission.ComputeFigures(context.Background(), f.app.DB, f.id, true)
		if exec != fmt.Sprint(want.Executed) {
			t.Errorf("blue executed %s, want %d", exec, want.Executed)
		}
		all, _ := mission.ComputeFigures(context.Background(), f.app.DB, f.id, false)
		if all.Executed == want.Executed {
			t.Fatal("fixture: released and all figures are equal, the test cannot fail")
		}
		d = doc(t, f.app.GetAs(f.cookies["lead"], f.path("")))
		if exec, _ := d.Find(`[data-testid="progress-executed"]`).Attr("data-count"); exec != fmt.Sprint(all.Executed) {
			t.Errorf("lead executed %s, want %d", exec, all.Executed)
		}
		if d.Find(`[data-testid="tactic-row"]`).Length() != 3 {
			t.Errorf("%d tactic rows, want 3", d.Find(`[data-testid="tactic-row"]`).Length())
		}
	})
	t.Run("detection level badge carries the scale's class", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.cookies["lead"], f.path("")))
		lvl := f.levels[2%len(f.levels)]
		badge := d.Find(`[data-testid="test-row"][data-id="` + ids[2].String() + `"] [data-testid="test-level"]`)
		if class, _ := badge.Attr("class"); !strings.Contains(class, scale.Class(lvl.ID)) || strings.TrimSpace(badge.Text()) != lvl.Name {
			t.Errorf("level badge %q %q, want class %s and %q", class, badge.Text(), scale.Class(lvl.ID), lvl.Name)
		}
		if strings.Contains(d.Text(), "style=") {
			t.Error("inline style")
		}
	})
	t.Run("missing mission", func(t *testing.T) {
		for _, p := range []string{"/missions/" + uuid.NewString(), "/missions/not-a-uuid"} {
			if w := f.app.GetAs(f.cookies["admin"], p); w.Code != http.StatusNotFound {
				t.Errorf("%s: %d", p, w.Code)
			}
		}
	})
}

func TestShowMissionGroupsAndFilters(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	f.seedTests(t, 12)
	cat := f.app.Ent.MissionCategory.Query().OnlyX(rule.SystemContext(context.Background()))
	cases := []struct {
		name   string
		query  string
		rows   int
		groups []string
	}{
		{"by scenario", "", 12, []string{"Initial access", "Credential theft"}},
		{"by category", "?group=category", 12, []string{"Workstations", "No category"}},
		{"state", "?state=executed", 2, []string{"Initial access"}},
		{"state, odd positions", "?state=running", 2, []string{"Credential theft"}},
		{"category", "?category=" + cat.ID.String(), 3, []string{"Initial access"}},
		{"no category", "?category=none&group=category", 9, []string{"No category"}},
		{"tactic of a technique", "?tactic=TA0006", 12, nil},
		{"tactic nobody has", "?tactic=TA0040", 0, nil},
		{"search by name", "?q=test+0011", 1, []string{"Credential theft"}},
		{"search by ATT&CK ID", "?q=t1059", 12, nil},
		{"unknown values ignored", "?state=bogus&group=bogus&category=xyz", 12, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.app.GetAs(f.cookies["lead"], f.path(tc.query))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			d := doc(t, w)
			if got := d.Find(`[data-testid="test-row"]`).Length(); got != tc.rows {
				t.Errorf("%d rows, want %d", got, tc.rows)
			}
			if tc.groups != nil {
				var names []string
				d.Find(`[data-testid="test-group-name"]`).Each(func(_ int, s *goquery.Selection) {
					names = append(names, strings.TrimSpace(strings.Fields(s.Text())[0]))
				})
				for i, g := range tc.groups {
					if i >= len(names) || !strings.HasPrefix(g, names[i]) {
						t.Errorf("groups %v, want %v", names, tc.groups)
						break
					}
				}
				if len(names) != len(tc.groups) {
					t.Errorf("groups %v, want %v", names, tc.groups)
				}
			}
		})
	}
	t.Run("htmx gets the list only", func(t *testing.T) {
		w := f.app.GetAs(f.cookies["lead"], f.path("?state=reviewed"), "HX-Request", "true")
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "<html") {
			t.Fatalf("status %d, full page %v", w.Code, strings.Contains(w.Body.String(), "<html"))
		}
		d := doc(t, w)
		if d.Find(`#mission-tests`).Length() != 1 || d.Find(`[data-testid="test-row"]`).Length() != 2 {
			t.Errorf("fragment: %d rows", d.Find(`[data-testid="test-row"]`).Length())
		}
	})
	t.Run("scenario order in the group", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.cookies["lead"], f.path("")))
		first := d.Find(`[data-testid="test-group"]`).First().Find(`[data-testid="test-link"]`)
		if first.First().Text() != "Test 0000" || first.Eq(1).Text() != "Test 0002" {
			t.Errorf("first group starts %q, %q", first.First().Text(), first.Eq(1).Text())
		}
	})
}

// TestMissionPageQueryCount: the page runs the same number of statements
// for 10 and for 1,000 tests, at most 4 with the session's (issue 19).
func TestMissionPageQueryCount(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	srv, n := countingServer(t, f.app)
	f.seedTests(t, 10)
	counts := map[string]int64{}
	for _, role := range []string{"lead", "blue"} {
		status, q := countQueries(srv, n, f.cookies[role], f.path(""))
		if status != http.StatusOK {
			t.Fatalf("%s: status %d", role, status)
		}
		counts[role] = q
	}
	other := newOverviewFixture(t)
	srv2, n2 := countingServer(t, other.app)
	other.seedTests(t, 1000)
	for _, role := range []string{"lead", "blue"} {
		status, q := countQueries(srv2, n2, other.cookies[role], other.path("?group=category&tactic=TA0002"))
		if status != http.StatusOK {
			t.Fatalf("%s: status %d", role, status)
		}
		if q != counts[role] {
			t.Errorf("%s: %d statements for 1,000 tests, %d for 10", role, q, counts[role])
		}
		if q > 4 {
			t.Errorf("%s: %d statements, budget 4", role, q)
		}
		t.Logf("%s: %d statements", role, q)
	}
}

func TestPlanPermissions(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	ids := f.seedTests(t, 4)
	archived := f.app.Ent.Mission.Create().SetName("Old").SetStatus("archived").SaveX(rule.SystemContext(context.Background()))
	f.app.Ent.MissionMember.Create().SetMissionID(archived.ID).SetUserID(f.users["lead"]).SetRole("lead").
		ExecX(rule.SystemContext(context.Background()))
	routes := []struct {
		method, path string
		form         url.Values
	}{
		{http.MethodGet, "/plan/scenarios?sq=x", nil},
		{http.MethodGet, "/plan/tests?tq=x", nil},
		{http.MethodPost, "/plan/scenarios", url.Values{"scenario_id": {uuid.NewString()}}},
		{http.MethodPost, "/plan/tests", url.Values{"template_id": {uuid.NewString()}}},
		{http.MethodPost, "/plan/tests/new", url.Values{"name": {"Sneaky"}}},
		{http.MethodPost, "/plan/tests/" + ids[1].String() + "/move", url.Values{"direction": {"up"}}},
		{http.MethodPost, "/plan/tests/" + ids[1].String() + "/category", url.Values{"category_id": {""}}},
		{http.MethodPost, "/plan/tests/" + ids[1].String() + "/remove", nil},
	}
	want := map[string]int{"red": http.StatusForbidden, "blue": http.StatusForbidden, "observer": http.StatusForbidden, "outsider": http.StatusNotFound}
	for _, r := range routes {
		for role, status := range want {
			t.Run(role+" "+r.method+" "+r.path, func(t *testing.T) {
				var w *httptest.ResponseRecorder
				if r.method == http.MethodGet {
					w = f.app.GetAs(f.cookies[role], f.path(r.path))
				} else {
					w = f.app.PostAs(f.cookies[role], f.path(r.path), r.form)
				}
				if w.Code != status {
					t.Errorf("status %d, want %d", w.Code, status)
				}
			})
		}
		t.Run("archived "+r.method+" "+r.path, func(t *testing.T) {
			path := "/missions/" + archived.ID.String() + strings.Replace(r.path, ids[1].String(), uuid.NewString(), 1)
			var w *httptest.ResponseRecorder
			if r.method == http.MethodGet {
				w = f.app.GetAs(f.cookies["lead"], path)
			} else {
				w = f.app.PostAs(f.cookies["lead"], path, r.form)
			}
			if w.Code != http.StatusConflict {
				t.Errorf("status %d, want 409", w.Code)
			}
		})
	}
	if n := f.countRows(t, `SELECT count(*) FROM mission_tests WHERE mission_id = $1 AND deleted_at IS NULL`, f.id); n != 4 {
		t.Errorf("%d tests after refused changes, want 4", n)
	}
	if n := f.countRows(t, `SELECT count(*) FROM audit_events WHERE action = 'mission.plan_changed'`); n != 0 {
		t.Errorf("%d audit events after refused changes", n)
	}
	if w := f.app.GetAs(f.cookies["lead"], "/missions/"+archived.ID.String()); w.Code != http.StatusOK ||
		doc(t, w).Find(`[data-testid="plan-open"]`).Length() != 0 {
		t.Errorf("archived mission page: %d, or its plan editor is offered", w.Code)
	}
}

// libraryFixture writes a small catalogue, three test templates (tagged
// with a sub-technique, a technique and a tactic) and two scenario
// templates of those tests; it returns the templates and the scenarios.
func (f *overviewFixture) libraryFixture(t testing.TB) (templates, scenarios []uuid.UUID) {
	t.Helper()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := f.app.DB.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO mitre_tactics (stix_id, external_id, name, shortname, position, platforms)
		VALUES ('x-mitre-tactic--1', 'TA0002', 'Execution', 'execution', 0, '[]'),
		       ('x-mitre-tactic--2', 'TA0006', 'Credential Access', 'credential-access', 1, '[]')`)
	exec(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms) VALUES ('attack-pattern--1', 'T1059', 'Command and Scripting Interpreter', '[]')`)
	exec(`INSERT INTO mitre_technique_tactics SELECT t.id, a.id FROM mitre_techniques t, mitre_tactics a WHERE a.external_id = 'TA0002'`)
	exec(`INSERT INTO mitre_subtechniques (stix_id, external_id, name, technique_id, platforms)
		SELECT 'attack-pattern--2', 'T1059.001', 'PowerShell', id, '[]' FROM mitre_techniques`)
	for i, name := range []string{"Run PowerShell", "Run a script", "Dump credentials"} {
		id := uuid.New()
		exec(`INSERT INTO test_templates (id, name, procedure, platforms, opsec_level) VALUES ($1, $2, 'do it', '["Windows"]', 'high')`, id, name)
		switch i {
		case 0:
			exec(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) SELECT $1, id FROM mitre_subtechniques`, id)
		case 1:
			exec(`INSERT INTO test_template_mitre_tags (test_template_id, technique_id) SELECT $1, id FROM mitre_techniques`, id)
		case 2:
			exec(`INSERT INTO test_template_mitre_tags (test_template_id, tactic_id) SELECT $1, id FROM mitre_tactics WHERE external_id = 'TA0006'`, id)
		}
		templates = append(templates, id)
	}
	for _, name := range []string{"Initial foothold", "Credential theft"} {
		id := uuid.New()
		exec(`INSERT INTO scenario_templates (id, name) VALUES ($1, $2)`, id, name)
		for i, tpl := range templates {
			exec(`INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position) VALUES ($1, $2, $3)`, id, tpl, i)
		}
		scenarios = append(scenarios, id)
	}
	return templates, scenarios
}

func TestInstantiateScenariosRoute(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	templates, scenarios := f.libraryFixture(t)
	lead := f.cookies["lead"]
	counts := func() [3]int {
		return [3]int{
			f.countRows(t, `SELECT count(*) FROM mission_scenarios WHERE mission_id = $1`, f.id),
			f.countRows(t, `SELECT count(*) FROM mission_tests WHERE mission_id = $1`, f.id),
			f.countRows(t, `SELECT count(*) FROM mission_test_mitre_tags g JOIN mission_tests t ON t.id = g.mission_test_id WHERE t.mission_id = $1`, f.id),
		}
	}
	t.Run("search as you type", func(t *testing.T) {
		w := f.app.GetAs(lead, f.path("/plan/scenarios?sq=cred"), "HX-Request", "true")
		d := doc(t, w)
		if w.Code != http.StatusOK || d.Find(`[data-testid="plan-scenario-hit"]`).Length() != 1 {
			t.Fatalf("status %d, %d hits", w.Code, d.Find(`[data-testid="plan-scenario-hit"]`).Length())
		}
		if w := f.app.GetAs(lead, f.path("/plan/scenarios?sq=cred")); w.Code != http.StatusSeeOther ||
			!strings.Contains(w.Header().Get("Location"), "sq=cred") {
			t.Errorf("without htmx: %d %s", w.Code, w.Header().Get("Location"))
		}
		d = doc(t, f.app.GetAs(lead, f.path("?plan=1&sq=i&tq=powershell")))
		if d.Find(`[data-testid="plan-scenario-hit"]`).Length() != 2 || d.Find(`[data-testid="plan-template-hit"]`).Length() != 1 {
			t.Errorf("page search: %d scenarios, %d templates", d.Find(`[data-testid="plan-scenario-hit"]`).Length(),
				d.Find(`[data-testid="plan-template-hit"]`).Length())
		}
	})
	t.Run("none chosen", func(t *testing.T) {
		w := f.app.PostAs(lead, f.path("/plan/scenarios"), url.Values{})
		if w.Code != http.StatusUnprocessableEntity || testid(doc(t, w), "mission-tests-notice") == "" {
			t.Errorf("status %d", w.Code)
		}
	})
	t.Run("a scenario deleted since the search: nothing copied", func(t *testing.T) {
		gone := uuid.New()
		f.app.DB.Exec(`INSERT INTO scenario_templates (id, name, deleted_at) VALUES ($1, 'Gone', now())`, gone)
		f.app.DB.Exec(`INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position) VALUES ($1, $2, 0)`, gone, templates[0])
		w := f.app.PostAs(lead, f.path("/plan/scenarios"), url.Values{"scenario_id": {scenarios[0].String(), gone.String()}})
		if w.Code != http.StatusUnprocessableEntity {
			t.Errorf("status %d, want 422", w.Code)
		}
		if c := counts(); c != [3]int{} {
			t.Errorf("rows after a refused instantiation: %v", c)
		}
	})
	t.Run("a failure part way: nothing copied", func(t *testing.T) {
		if _, err := f.app.DB.Exec(`CREATE FUNCTION fail_fifth() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF (SELECT count(*) FROM mission_tests WHERE mission_id = NEW.mission_id) >= 4 THEN
					RAISE EXCEPTION 'injected failure';
				END IF;
				RETURN NEW;
			END $$;
			CREATE TRIGGER fail_fifth BEFORE INSERT ON mission_tests FOR EACH ROW EXECUTE FUNCTION fail_fifth();`); err != nil {
			t.Fatal(err)
		}
		defer f.app.DB.Exec(`DROP TRIGGER fail_fifth ON mission_tests; DROP FUNCTION fail_fifth()`)
		w := f.app.PostAs(lead, f.path("/plan/scenarios"), url.Values{"scenario_id": {scenarios[0].String(), scenarios[1].String()}})
		if w.Code != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", w.Code)
		}
		if c := counts(); c != [3]int{} {
			t.Errorf("rows after a failed instantiation: %v", c)
		}
		if n := f.countRows(t, `SELECT count(*) FROM audit_events WHERE action = 'mission.plan_changed'`); n != 0 {
			t.Errorf("%d audit events for a failed instantiation", n)
		}
	})
	t.Run("two scenarios at once", func(t *testing.T) {
		w := f.app.PostAs(lead, f.path("/plan/scenarios"), url.Values{"scenario_id": {scenarios[0].String(), scenarios[1].String()}})
		if w.Code != http.StatusSeeOther {
			t.Fatalf("status %d\n%s", w.Code, w.Body)
		}
		if c := counts(); c != [3]int{2, 6, 6} {
			t.Errorf("rows %v, want [2 6 6]", c)
		}
		if n := f.countRows(t, `SELECT count(*) FROM audit_events WHERE action = 'mission.plan_changed' AND target_id = $1`, f.id.String()); n != 1 {
			t.Errorf("%d audit events", n)
		}
		d := doc(t, f.app.GetAs(lead, f.path("")))
		if d.Find(`[data-testid="test-group"]`).Length() != 2 || d.Find(`[data-testid="test-row"]`).Length() != 6 {
			t.Errorf("page: %d groups, %d rows", d.Find(`[data-testid="test-group"]`).Length(), d.Find(`[data-testid="test-row"]`).Length())
		}
		if !strings.Contains(d.Find(`[data-testid="test-tag"]`).Text(), "T1059.001 PowerShell") {
			t.Errorf("tags: %q", d.Find(`[data-testid="test-tag"]`).Text())
		}
	})
}

func TestAddPlanTests(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	templates, _ := f.libraryFixture(t)
	lead := f.cookies["lead"]
	live := func() int {
		return f.countRows(t, `SELECT count(*) FROM mission_tests WHERE mission_id = $1 AND deleted_at IS NULL`, f.id)
	}
	cases := []struct {
		name   string
		path   string
		form   url.Values
		status int
		added  int
	}{
		{"from the library", "/plan/tests", url.Values{"template_id": {templates[0].String()}}, http.StatusSeeOther, 1},
		{"a template that does not exist", "/plan/tests", url.Values{"template_id": {uuid.NewString()}}, http.StatusUnprocessableEntity, 0},
		{"a malformed template id", "/plan/tests", url.Values{"template_id": {"x"}}, http.StatusBadRequest, 0},
		{"from scratch", "/plan/tests/new", url.Values{"name": {"  Phish the CFO "}, "description": {"Spear phishing"}}, http.StatusSeeOther, 1},
		{"from scratch without a name", "/plan/tests/new", url.Values{"name": {" "}, "description": {"kept input"}}, http.StatusUnprocessableEntity, 0},
		{"from scratch, name too long", "/plan/tests/new", url.Values{"name": {strings.Repeat("é", 200)}}, http.StatusUnprocessableEntity, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := live()
			w := f.app.PostAs(lead, f.path(tc.path), tc.form)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			if got := live() - before; got != tc.added {
				t.Errorf("%d tests added, want %d", got, tc.added)
			}
			if tc.status == http.StatusUnprocessableEntity && tc.path == "/plan/tests/new" {
				d := doc(t, w)
				if d.Find(`[data-testid="plan-new-form"] .error-summary, [data-testid="plan-new-form"] [role="alert"]`).Length() == 0 {
					t.Error("no error summary")
				}
				if got := strings.TrimSpace(d.Find(`#field-description`).Text()); got != strings.TrimSpace(tc.form.Get("description")) {
					t.Errorf("description not kept: %q", got)
				}
			}
		})
	}
	if n := f.countRows(t, `SELECT count(*) FROM mission_tests WHERE name = 'Phish the CFO' AND description = 'Spear phishing' AND mission_scenario_id IS NULL`); n != 1 {
		t.Error("the new test was not saved trimmed, outside any scenario")
	}
	if n := f.countRows(t, `SELECT count(*) FROM mission_test_mitre_tags g JOIN mission_tests t ON t.id = g.mission_test_id
		WHERE t.name = 'Run PowerShell' AND g.external_id = 'T1059.001'`); n != 1 {
		t.Error("the library test's tags were not copied")
	}
	if n := f.countRows(t, `SELECT count(*) FROM audit_events WHERE action = 'mission.plan_changed'`); n != 2 {
		t.Errorf("%d audit events, want 2", n)
	}
}

func TestChangePlanTests(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	ids := f.seedTests(t, 6) // scenario A: 0, 2, 4; B: 1, 3, 5
	lead := f.cookies["lead"]
	sys := rule.SystemContext(context.Background())
	cat := f.app.Ent.MissionCategory.Query().OnlyX(sys)
	other := f.app.Ent.Mission.Create().SetName("Other").SaveX(sys)
	foreign := f.app.Ent.MissionCategory.Create().SetMissionID(other.ID).SetName("Elsewhere").SaveX(sys)
	order := func() []string {
		var names []string
		d := doc(t, f.app.GetAs(lead, f.path("")))
		d.Find(`[data-testid="test-group"]`).First().Find(`[data-testid="test-link"]`).Each(func(_ int, s *goquery.Selection) {
			names = append(names, s.Text())
		})
		return names
	}
	move := func(id uuid.UUID, dir string, header ...string) *httptest.ResponseRecorder {
		return f.app.PostAs(lead, f.path("/plan/tests/"+id.String()+"/move"), url.Values{"direction": {dir}}, header...)
	}
	t.Run("move down", func(t *testing.T) {
		if w := move(ids[0], "down"); w.Code != http.StatusSeeOther {
			t.Fatalf("status %d", w.Code)
		}
		if got := strings.Join(order(), ","); got != "Test 0002,Test 0000,Test 0004" {
			t.Errorf("order %s", got)
		}
	})
	t.Run("move up with htmx returns the list", func(t *testing.T) {
		w := move(ids[0], "up", "HX-Request", "true", "HX-Current-URL", "http://localhost"+f.path("?plan=1&state=pending"))
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "<html") {
			t.Fatalf("status %d", w.Code)
		}
		d := doc(t, w)
		if d.Find(`[data-testid="test-row"]`).Length() != 1 || d.Find(`[data-testid="plan-up"]`).Length() != 1 {
			t.Errorf("fragment keeps the page's filter and the plan controls: %d rows", d.Find(`[data-testid="test-row"]`).Length())
		}
		if got := strings.Join(order(), ","); got != "Test 0000,Test 0002,Test 0004" {
			t.Errorf("order %s", got)
		}
	})
	t.Run("first stays first", func(t *testing.T) {
		if w := move(ids[0], "up"); w.Code != http.StatusSeeOther {
			t.Fatalf("status %d", w.Code)
		}
		if got := strings.Join(order(), ","); got != "Test 0000,Test 0002,Test 0004" {
			t.Errorf("order %s", got)
		}
	})
	t.Run("bad direction", func(t *testing.T) {
		if w := move(ids[0], "sideways"); w.Code != http.StatusBadRequest {
			t.Errorf("status %d", w.Code)
		}
	})
	setCat := func(id uuid.UUID, cat string) int {
		return f.app.PostAs(lead, f.path("/plan/tests/"+id.String()+"/category"), url.Values{"category_id": {cat}}).Code
	}
	catOf := func(id uuid.UUID) int {
		return f.countRows(t, `SELECT count(*) FROM mission_tests WHERE id = $1 AND category_id = $2`, id, cat.ID)
	}
	t.Run("category", func(t *testing.T) {
		if code := setCat(ids[1], cat.ID.String()); code != http.StatusSeeOther || catOf(ids[1]) != 1 {
			t.Errorf("set: %d", code)
		}
		if code := setCat(ids[1], foreign.ID.String()); code != http.StatusUnprocessableEntity || catOf(ids[1]) != 1 {
			t.Errorf("another mission's category: %d", code)
		}
		if code := setCat(ids[1], ""); code != http.StatusSeeOther || catOf(ids[1]) != 0 {
			t.Errorf("clear: %d", code)
		}
	})
	t.Run("remove", func(t *testing.T) {
		w := f.app.PostAs(lead, f.path("/plan/tests/"+ids[2].String()+"/remove"), nil)
		if w.Code != http.StatusSeeOther {
			t.Fatalf("status %d", w.Code)
		}
		if n := f.countRows(t, `SELECT count(*) FROM mission_tests WHERE id = $1 AND deleted_at IS NOT NULL`, ids[2]); n != 1 {
			t.Error("not soft deleted")
		}
		if got := strings.Join(order(), ","); got != "Test 0000,Test 0004" {
			t.Errorf("order %s", got)
		}
		if w := f.app.PostAs(lead, f.path("/plan/tests/"+ids[2].String()+"/remove"), nil); w.Code != http.StatusNotFound {
			t.Errorf("second removal: %d", w.Code)
		}
	})
	t.Run("a test of another mission", func(t *testing.T) {
		alien := f.app.Ent.MissionTest.Create().SetMissionID(other.ID).SetName("Alien").SaveX(sys)
		if w := f.app.PostAs(lead, f.path("/plan/tests/"+alien.ID.String()+"/remove"), nil); w.Code != http.StatusNotFound {
			t.Errorf("status %d", w.Code)
		}
		if n := f.countRows(t, `SELECT count(*) FROM mission_tests WHERE id = $1 AND deleted_at IS NULL`, alien.ID); n != 1 {
			t.Error("another mission's test was removed")
		}
	})
	if n := f.countRows(t, `SELECT count(*) FROM audit_events WHERE action = 'mission.plan_changed'`); n != 6 {
		t.Errorf("%d audit events, want 6", n)
	}
}

// BenchmarkMissionPage measures GET /missions/:id for a lead on a mission of
// 1,000 tests with 3 ATT&CK tags each, through the router, and its SQL floor:
// the same queries on the same data through database/sql, rows scanned, no
// rendering. The budget is page ≤ 2× floor.
func BenchmarkMissionPage(b *testing.B) {
	f := newOverviewFixture(b)
	f.seedTests(b, 1000)
	// Statistics as autovacuum would have them after the bulk insert.
	if _, err := f.app.DB.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
	cookie := f.cookies["lead"]
	ctx := context.Background()
	r := httptest.NewRequest(http.MethodGet, f.path(""), nil)
	r.AddCookie(cookie)
	// Page and floor alternate, so that load from elsewhere on the machine
	// weighs on both alike.
	var page, floor time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		w := httptest.NewRecorder()
		f.app.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		page += time.Since(start)
		start = time.Now()
		if n := missionPageFloor(b, ctx, f.app.DB, f.users["lead"], f.id); n != 1000 {
			b.Fatalf("%d lines, want 1000", n)
		}
		floor += time.Since(start)
	}
	b.ReportMetric(float64(page.Milliseconds())/float64(b.N), "page-ms")
	b.ReportMetric(float64(floor.Milliseconds())/float64(b.N), "floor-ms")
	b.ReportMetric(float64(page)/float64(floor), "page/floor")
}

// missionPageFloor runs the page's eight statements with database/sql and
// scans every row: the session, the mission, the role, the three figures
// queries, the categories and the test lines. It returns the number of
// test lines.
func missionPageFloor(b *testing.B, ctx context.Context, db *sql.DB, userID, missionID uuid.UUID) int {
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	var (
		id, uid                   uuid.UUID
		email, name, locale, text string
		idle                      int
		groups, perms             pq.StringArray
		t1, t2, t3                time.Time
		revoked                   sql.NullTime
		replaced                  uuid.NullUUID
	)
	must(db.QueryRowContext(ctx, `SELECT rt.id, rt.user_id, rt.issued_at, rt.expires_at, rt.last_seen_at, rt.revoked_at, rt.replaced_by_id,
		u.email, u.display_name, u.locale,
		COALESCE((SELECT (value #>> '{}')::int FROM settings WHERE key = 'session.idle_timeout_minutes'), 0),
		COALESCE(array_agg(DISTINCT g.name) FILTER (WHERE g.name IS NOT NULL), '{}'),
		COALESCE(array_agg(DISTINCT p.code) FILTER (WHERE p.code IS NOT NULL), '{}')
		FROM refresh_tokens rt
		JOIN users u ON u.id = rt.user_id AND u.deleted_at IS NULL AND u.is_active
		LEFT JOIN user_groups ug ON ug.user_id = u.id
		LEFT JOIN groups g ON g.id = ug.group_id AND g.deleted_at IS NULL
		LEFT JOIN group_permissions gp ON gp.group_id = g.id
		LEFT JOIN permissions p ON p.id = gp.permission_id
		WHERE rt.user_id = $1 AND rt.revoked_at IS NULL
		GROUP BY rt.id, u.id LIMIT 1`, userID).
		Scan(&id, &uid, &t1, &t2, &t3, &revoked, &replaced, &email, &name, &locale, &idle, &groups, &perms))
	var (
		desc, scope, status string
		start, end          sql.NullTime
		createdBy           uuid.NullUUID
		version             int
		deleted             sql.NullTime
	)
	must(db.QueryRowContext(ctx, `SELECT id, created_at, updated_at, deleted_at, name, description, scope, start_date, end_date, status, created_by_id, version
		FROM missions WHERE id = $1 AND deleted_at IS NULL
		AND id IN (SELECT mission_id FROM mission_members WHERE user_id = $2)`, missionID, userID).
		Scan(&id, &t1, &t2, &deleted, &name, &desc, &scope, &start, &end, &status, &createdBy, &version))
	must(db.QueryRowContext(ctx, `SELECT id, created_at, updated_at, mission_id, user_id, role FROM mission_members
		WHERE mission_id = $1 AND user_id = $2`, missionID, userID).Scan(&id, &t1, &t2, &id, &uid, &text))
	if _, err := mission.ComputeFigures(ctx, db, missionID, false); err != nil {
		b.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT id, name, colour, position FROM mission_categories
		WHERE mission_id = $1 AND deleted_at IS NULL ORDER BY position, name`, missionID)
	must(err)
	var pos int
	for rows.Next() {
		must(rows.Scan(&id, &name, &text, &pos))
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT t.id, t.position, t.name, t.state, t.released_to_blue, t.mission_scenario_id, t.category_id,
		t.detection_level_id, sc.name, sc.position, dl.name, u.display_name,
		coalesce(string_agg(g.kind || E'\x1f' || g.external_id || E'\x1f' || g.name, E'\x1e' ORDER BY g.external_id), ''),
		coalesce(string_agg(CASE WHEN g.kind = 'tactic' THEN '[{"id":"' || g.external_id || '"}]' ELSE g.tactics::text END, E'\x1e'), '')
		FROM mission_tests t
		LEFT JOIN mission_scenarios sc ON t.mission_scenario_id = sc.id AND sc.deleted_at IS NULL
		LEFT JOIN mission_categories cat ON t.category_id = cat.id AND cat.deleted_at IS NULL
		LEFT JOIN detection_levels dl ON t.detection_level_id = dl.id
		LEFT JOIN users u ON t.executed_by_id = u.id
		LEFT JOIN mission_test_mitre_tags g ON t.id = g.mission_test_id
		WHERE t.mission_id = $1 AND t.deleted_at IS NULL
		AND t.mission_id IN (SELECT mission_id FROM mission_members WHERE user_id = $2 AND role <> 'blue')
		GROUP BY t.id, sc.id, dl.id, u.id
		ORDER BY t.position, t.id`, missionID, userID)
	must(err)
	defer rows.Close()
	n := 0
	var (
		scID, catID, lvID    uuid.NullUUID
		scName, lvName, exec sql.NullString
		tags, tactics        string
		scPos                sql.NullInt64
		released             bool
	)
	for rows.Next() {
		must(rows.Scan(&id, &pos, &name, &status, &released, &scID, &catID, &lvID, &scName, &scPos, &lvName,
			&exec, &tags, &tactics))
		n++
	}
	must(rows.Err())
	return n
}
