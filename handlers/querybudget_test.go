package handlers_test

// Query budgets (issue 9; docs/ARCHITECTURE.md, "Performance budgets"): every
// main page sends the same number of SQL statements whatever the size of what
// it lists, so no page hides a query per row (N+1).
//
// Pages with a budget test of their own, not repeated here:
//   - /missions                          TestListMissionsQueryCount (missions_test.go)
//   - /missions/:id (lead and blue)       TestMissionPageQueryCount (mission_page_test.go);
//     measured here again with 200 tools in scope
//   - /missions/:id/report                TestMissionReportQueryCount (report_test.go)
//   - /missions/:id/timeline              TestTimelineQueryBudget (timeline_test.go), one
//     tool; measured here again with 200 tools and their outcomes
//   - /missions/:id/tests/:t/evidence     TestEvidenceSectionQueries (evidence_test.go),
//     1 and 20 files; measured here again at 10 and 200
//   - /missions/:id/export/*              TestExportQueryCount (exports_test.go)
//   - /attack, /attack/search, /attack/:external_id
//     (matrix, search, entry)             TestAttackQueryCount (attack_test.go); the
//     entry T1059.001 measured here again with 10 and 200 rules
//   - /library/tests                      TestTemplateQueryCount (templates_test.go)
//   - /notifications                      TestNotificationListQueries (notifications_test.go)
//   - /admin/trash                        TestTrashQueryCount (trash_test.go)
//
// TestQueryBudgets covers the rest: it measures every page on a small
// dataset (10 of each thing), grows every dataset (to 1,000 or 200 rows),
// and measures again.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/internal/testkit/sqltrace"
)

// budgetData grows the rows the pages list, in a handful of set-based
// statements per step so that 1,000 rows cost milliseconds.
type budgetData struct {
	t        *testing.T
	f        *overviewFixture
	group    uuid.UUID // a group every bulk user joins
	tactic   uuid.UUID // the ATT&CK tactic every bulk template is tagged with
	scenario uuid.UUID // a scenario template holding every bulk template
	template uuid.UUID // a test template in every bulk scenario
	test     uuid.UUID // the mission test with the evidence and history
}

func (d *budgetData) exec(q string, args ...any) {
	d.t.Helper()
	if _, err := d.f.app.DB.Exec(q, args...); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
}

func (d *budgetData) id(q string, args ...any) uuid.UUID {
	d.t.Helper()
	var id uuid.UUID
	if err := d.f.app.DB.QueryRow(q, args...).Scan(&id); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
	return id
}

func newBudgetData(t *testing.T, f *overviewFixture) *budgetData {
	d := &budgetData{t: t, f: f}
	d.group = d.id(`INSERT INTO groups (name, description) VALUES ('Budget crew', 'bulk users') RETURNING id`)
	d.exec(`INSERT INTO group_permissions (group_id, permission_id) SELECT $1, id FROM permissions WHERE code LIKE 'mission.%'`, d.group)
	d.tactic = d.id(`INSERT INTO mitre_tactics (stix_id, external_id, name, shortname, position, platforms)
		VALUES ('x-mitre-tactic--budget', 'TA0002', 'Execution', 'execution', 0, '["Windows"]') RETURNING id`)
	d.template = d.id(`INSERT INTO test_templates (name, platforms, created_by_id) VALUES ('Budget template', '["windows"]', $1) RETURNING id`, f.users["red"])
	d.exec(`INSERT INTO test_template_mitre_tags (test_template_id, tactic_id) VALUES ($1, $2)`, d.template, d.tactic)
	d.scenario = d.id(`INSERT INTO scenario_templates (name, created_by_id) VALUES ('Budget scenario', $1) RETURNING id`, f.users["red"])
	d.test = d.id(`INSERT INTO mission_tests (mission_id, name, platforms, state, released_to_blue, started_at, ended_at, executed_by_id)
		VALUES ($1, 'Budget test', '["windows"]', 'executed', true, now() - interval '1 hour', now(), $2) RETURNING id`, f.id, f.users["red"])
	d.exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, tactics)
		VALUES ($1, 'subtechnique', 'T1059.001', 'PowerShell', '[{"id": "TA0002", "name": "Execution", "shortname": "execution"}]')`, d.test)
	// The catalogue's T1059 and T1059.001 under the tactic, for the
	// technique page that lists the bulk rules.
	d.exec(`WITH te AS (
		INSERT INTO mitre_techniques (stix_id, external_id, name, platforms)
		VALUES ('attack-pattern--budget-t1059', 'T1059', 'Command and Scripting Interpreter', '["Windows"]') RETURNING id),
	tt AS (INSERT INTO mitre_technique_tactics (technique_id, tactic_id) SELECT id, $1 FROM te)
	INSERT INTO mitre_subtechniques (stix_id, external_id, name, platforms, technique_id)
	SELECT 'attack-pattern--budget-t1059-001', 'T1059.001', 'PowerShell', '["Windows"]', id FROM te`, d.tactic)
	// A retest of the mission (internal/retest) running the budget test
	// again, with the lead; grow adds the bulk tests' reruns.
	d.exec(`WITH r AS (INSERT INTO missions (name, status, retest_of_id) VALUES ('Budget retest', 'planned', $1) RETURNING id),
	m AS (INSERT INTO mission_members (mission_id, user_id, role) SELECT id, $2, 'lead' FROM r)
	INSERT INTO mission_tests (mission_id, name, platforms, retest_of_id) SELECT r.id, 'Budget test', '["windows"]', $3 FROM r`,
		f.id, f.users["lead"], d.test)
	return d
}

// grow adds rows [from, to) of everything the pages list.
func (d *budgetData) grow(from, to int) {
	d.t.Helper()
	f := d.f
	lo, hi := from, to-1
	// Users, each in a system group and the bulk group.
	d.exec(`WITH u AS (
		INSERT INTO users (email, password_hash, display_name, last_login_at)
		SELECT format('bulk%s@example.com', i), 'x', format('Bulk user %s', i), now() FROM generate_series($1::int, $2::int) i
		RETURNING id)
	INSERT INTO user_groups (user_id, group_id)
	SELECT u.id, g.id FROM u, groups g WHERE g.name = 'blueteam' OR g.id = $3`, lo, hi, d.group)
	// Groups, each with three permissions and a member.
	d.exec(`WITH g AS (
		INSERT INTO groups (name, description) SELECT format('Group %s', i), 'bulk' FROM generate_series($1::int, $2::int) i RETURNING id)
	INSERT INTO group_permissions (group_id, permission_id)
	SELECT g.id, p.id FROM g, (SELECT id FROM permissions ORDER BY code LIMIT 3) p`, lo, hi)
	d.exec(`INSERT INTO user_groups (user_id, group_id)
		SELECT $1, id FROM groups WHERE description = 'bulk' AND NOT EXISTS
		(SELECT 1 FROM user_groups ug WHERE ug.group_id = groups.id)`, f.users["blue"])
	// Audit events by many actors, some about the mission test.
	d.exec(`INSERT INTO audit_events (actor_id, actor_label, action, target_type, target_id, target_label, created_at)
		SELECT u.id, u.email, 'user.updated', 'user', u.id::text, u.email, now() - i * interval '1 minute'
		FROM generate_series($1::int, $2::int) i JOIN users u ON u.email = format('bulk%s@example.com', i)`, lo, hi)
	d.exec(`INSERT INTO audit_events (actor_id, actor_label, action, target_type, target_id, target_label, created_at)
		SELECT u.id, u.email, CASE WHEN i % 2 = 0 THEN 'mission_test.red_saved' ELSE 'mission_test.blue_saved' END,
			'mission_test', $3::text, 'Budget test', now() - i * interval '1 second'
		FROM generate_series($1::int, $2::int) i JOIN users u ON u.email = format('bulk%s@example.com', i)
		WHERE i < 200`, lo, hi, d.test.String())
	// Mission members, categories and tests (each test tagged).
	d.exec(`INSERT INTO mission_members (mission_id, user_id, role)
		SELECT $3, u.id, 'blue' FROM generate_series($1::int, $2::int) i JOIN users u ON u.email = format('bulk%s@example.com', i)
		WHERE i < 200`, lo, hi, f.id)
	d.exec(`INSERT INTO mission_categories (mission_id, name, colour, position)
		SELECT $3, format('Category %s', i), '#0e7490', i FROM generate_series($1::int, $2::int) i WHERE i < 200`, lo, hi, f.id)
	d.exec(`WITH t AS (
		INSERT INTO mission_tests (mission_id, name, platforms, state, released_to_blue, position)
		SELECT $3, format('Bulk test %s', i), '["windows"]', 'pending', i % 3 <> 0, i + 1 FROM generate_series($1::int, $2::int) i
		RETURNING id)
	INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name) SELECT id, 'technique', 'T1003', 'OS Credential Dumping' FROM t`, lo, hi, f.id)
	// Evidence on the test, red and blue, from several uploaders.
	d.exec(`INSERT INTO evidence_files (side, original_name, stored_key, content_type, size, sha256, caption, uploaded_by_id, mission_test_id)
		SELECT CASE WHEN i % 2 = 0 THEN 'red' ELSE 'blue' END, format('file-%s.png', i), gen_random_uuid()::text,
			'image/png', 100 + i, md5(i::text) || md5(i::text), format('caption %s', i),
			CASE WHEN i % 2 = 0 THEN $4::uuid ELSE $5::uuid END, $3
		FROM generate_series($1::int, $2::int) i WHERE i < 200`, lo, hi, d.test, f.users["red"], f.users["blue"])
	// Test templates (tagged) in the bulk scenario, and scenarios of three
	// tests each holding the budget template.
	d.exec(`WITH t AS (
		INSERT INTO test_templates (name, platforms, created_by_id)
		SELECT format('Bulk template %s', i), '["windows"]', $3 FROM generate_series($1::int, $2::int) i WHERE i < 200
		RETURNING id, name),
	tags AS (INSERT INTO test_template_mitre_tags (test_template_id, tactic_id) SELECT id, $4 FROM t)
	INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position)
	SELECT $5, id, substring(name from 15)::int FROM t`, lo, hi, f.users["red"], d.tactic, d.scenario)
	d.exec(`WITH s AS (
		INSERT INTO scenario_templates (name, created_by_id)
		SELECT format('Bulk scenario %s', i), $3 FROM generate_series($1::int, $2::int) i WHERE i < 200 RETURNING id)
	INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position)
	SELECT s.id, t.id, row_number() OVER (PARTITION BY s.id ORDER BY t.name)
	FROM s, (SELECT id, name FROM test_templates WHERE id = $4 OR name IN ('Bulk template 0', 'Bulk template 1')) t`,
		lo, hi, f.users["red"], d.template)
	// Invitations, each for two groups, and sessions of the admin.
	d.exec(`WITH v AS (
		INSERT INTO invitations (token_hash, email_hint, expires_at, created_by_id, created_at)
		SELECT md5('inv' || i) || md5('tion' || i), format('invitee%s@example.com', i), now() + interval '2 days', $3,
			now() - i * interval '1 minute'
		FROM generate_series($1::int, $2::int) i WHERE i < 200 RETURNING id)
	INSERT INTO invitation_groups (invitation_id, group_id)
	SELECT v.id, g.id FROM v, groups g WHERE g.name IN ('blueteam', 'observer')`, lo, hi, f.users["admin"])
	d.exec(`INSERT INTO refresh_tokens (jti, token_hash, issued_at, expires_at, last_seen_at, user_agent, ip, user_id)
		SELECT gen_random_uuid(), md5('tok' || i) || md5('en' || i), now(), now() + interval '2 days', now(),
			format('Browser %s', i), '192.0.2.1', $3
		FROM generate_series($1::int, $2::int) i WHERE i < 200`, lo, hi, f.users["admin"])
	// Defensive tools (issue 20), each in the mission's scope and with an
	// outcome on the budget test.
	d.exec(`WITH t AS (
		INSERT INTO defensive_tools (name, vendor, kind)
		SELECT format('Bulk tool %s', i), format('Vendor %s', i), 'edr' FROM generate_series($1::int, $2::int) i WHERE i < 200
		RETURNING id),
	s AS (INSERT INTO mission_tools (mission_id, defensive_tool_id) SELECT $3, id FROM t)
	INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id, detected_at, recorded_by_id)
	SELECT $4, t.id, $5, now() - interval '30 minutes', $6 FROM t`, lo, hi, f.id, d.test, f.levels[0].ID, f.users["blue"])
	// Detection rules for T1059.001, each expected of the budget template
	// and of the budget test.
	d.exec(`WITH r AS (
		INSERT INTO detection_rules (rule_uid, title, level, status, techniques, tags, "references", content)
		SELECT format('bulk-rule-%s', i), format('Bulk rule %s', i), 'high', 'stable', '["T1059.001"]', '[]', '[]', ''
		FROM generate_series($1::int, $2::int) i WHERE i < 200
		RETURNING id),
	tr AS (INSERT INTO test_template_rules (test_template_id, detection_rule_id) SELECT $3, id FROM r)
	INSERT INTO mission_test_rules (mission_test_id, detection_rule_id) SELECT $4, id FROM r`, lo, hi, d.template, d.test)
	// The bulk tests run again in the budget retest, released and rated.
	d.exec(`INSERT INTO mission_tests (mission_id, name, platforms, retest_of_id, position, state, released_to_blue, detection_level_id)
		SELECT r.id, t.name, t.platforms, t.id, t.position, 'executed', true, $4
		FROM mission_tests t, missions r WHERE r.name = 'Budget retest' AND t.mission_id = $3
		AND t.name LIKE 'Bulk test %' AND substring(t.name from 11)::int BETWEEN $1 AND $2`, lo, hi, f.id, f.levels[0].ID)
}

// budgets are the statement counts of the pages people open most (issue
// 19), exact: one more statement fails. The home (internal/home): the
// session, the missions with their queues' first tests, and the activity;
// an administrator, a member of nothing, adds the Database card's probe
// (three) and the two kinds of job. The test page
// and its work block (internal/mission TestPage): the session, the
// viewer's access to the mission (the mission and their membership in
// one), the test with its people, level, tags and the blue form's scale,
// and its history with the actors' names.
var budgets = map[string]int64{
	"home as lead": 3, "home as red": 3, "home as blue": 3, "home as admin": 8,
	"test page as lead": 4, "test page as blue": 4, "test work block (htmx)": 4, "test drawer (htmx)": 4,
	"mission gaps": 4,
	"insights":     6,
}

// TestQueryBudgets: each page sends as many statements at 10 rows as at
// 1,000 (users, audit events, mission tests) or 200 (groups, members,
// categories, evidence and history of a test, templates, scenarios,
// invitations, sessions, defensive tools in scope with their outcomes on a
// test, detection rules expected of a template and a test). A count that
// grows fails with both runs' statements listed.
func TestQueryBudgets(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	d := newBudgetData(t, f)
	srv, n := countingServer(t, f.app)
	testPath := f.path("/tests/" + d.test.String())
	pages := []struct {
		name, role, path string
		hx               bool
		want             string // rows only the grown data has, separated by "|" (or, where a page lists nothing, proof it rendered)
	}{
		// Home (internal/home): each role's queue counts every open test
		// of the mission; the admin, a member of nothing, sees the
		// Database card and the jobs.
		{"home as lead", "lead", "/", false, "0 / 1001 done"},
		{"home as red", "red", "/", false, "Operation Violet: see all (1000)"},
		{"home as blue", "blue", "/", false, "Operation Violet: see all (667)"},
		{"home as admin", "admin", "/", false, "Migration revision"},
		// The test page and its work block: the history and the 200 tools'
		// outcomes.
		{"test page as lead", "lead", testPath, false, "Bulk user 199|Bulk tool 199"},
		{"test page as blue", "blue", testPath, false, "Bulk user 199|Bulk tool 199"},
		{"test evidence section", "lead", testPath + "/evidence", false, "file-199.png"},
		{"test work block (htmx)", "red", testPath, true, "Bulk user 199|Bulk tool 199"},
		{"test drawer (htmx)", "lead", testPath, true, "Bulk user 199|Bulk tool 199"},
		{"mission members", "lead", f.path("/members"), false, "Bulk user 199"},
		{"mission categories", "lead", f.path("/categories"), false, "Category 199"},
		{"mission settings", "lead", f.path("/settings"), false, "Operation Violet|Bulk tool 199"},
		{"mission figures", "lead", f.path("/figures"), false, "of 1001"},
		// Gaps (internal/gaps): the budget test is executed and undetected
		// (each tool's outcome the scale's first level), with its 200
		// expected rules; the bulk tests are pending (TestGapsPageQueryCount
		// grows the gaps).
		{"mission gaps", "lead", f.path("/gaps"), false, "Budget test|Bulk rule 199"},
		{"template page", "red", "/library/tests/" + d.template.String(), false, "Bulk scenario 199"},
		{"scenario list", "red", "/library/scenarios", false, "Bulk scenario 100"},
		{"scenario page", "red", "/library/scenarios/" + d.scenario.String(), false, "Bulk template 199"},
		{"users", "admin", "/admin/users", false, "Bulk user 100"},
		{"user page", "admin", "/admin/users/" + f.users["admin"].String(), false, "Group 199"},
		{"groups", "admin", "/admin/groups", false, "Group 190"},
		{"group page", "admin", "/admin/groups/" + d.group.String(), false, "Bulk user 100"},
		{"invitations", "admin", "/admin/invitations", false, "invitee42@"},
		{"audit log", "admin", "/admin/audit", false, "bulk42@"},
		{"account", "admin", "/account", false, "Browser 199"},
		// Issue 20: tools, their outcomes and detection rules.
		{"tools", "admin", "/admin/tools", false, "Bulk tool 199"},
		{"template edit", "red", "/library/tests/" + d.template.String() + "/edit", false, "Bulk rule 199"},
		{"test expected rules", "lead", testPath + "/expected-rules", false, "Bulk rule 199|Bulk tool 199"},
		{"technique page", "red", "/attack/T1059.001", false, "Bulk rule 199"},
		{"mission timeline", "lead", f.path("/timeline"), false, "Bulk tool 199"},
		{"mission page with tools", "lead", f.path(""), false, "Bulk tool 199"},
		// Retest (internal/retest): the form lists every test of the
		// mission and its members; the comparison every rerun test beside
		// its original, and the 200 tools' outcomes on the budget test.
		{"retest form", "lead", f.path("/retest"), false, "Bulk test 999|Bulk user 199"},
		{"retest compare", "lead", "/missions/" + retestOf(t, d).String() + "/compare", false, "Bulk test 999|Bulk tool 199"},
		// Insights (internal/insights): every mission's rates per tool,
		// here the budget mission's 200 tools, aggregated in SQL.
		{"insights", "admin", "/insights", false, "Bulk tool 199"},
	}
	count := func(role, path string, hx bool) ([]sqltrace.Statement, string) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.AddCookie(f.cookies[role])
		if hx {
			r.Header.Set("HX-Request", "true")
		}
		w := httptest.NewRecorder()
		stop := n.Record()
		srv.ServeHTTP(w, r)
		stmts := stop()
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s as %s: status %d", path, role, w.Code)
		}
		return stmts, w.Body.String()
	}
	d.grow(0, 10)
	small := make([][]sqltrace.Statement, len(pages))
	for i, p := range pages {
		small[i], _ = count(p.role, p.path, p.hx)
	}
	d.grow(10, 1000)
	for i, p := range pages {
		stmts, body := count(p.role, p.path, p.hx)
		big := int64(len(stmts))
		for _, want := range strings.Split(p.want, "|") {
			if !strings.Contains(body, want) {
				t.Errorf("%s: %q not on the page; the grown data is not listed", p.name, want)
			}
		}
		if big != int64(len(small[i])) {
			t.Errorf("%s (%s): %d statements with 10 rows, %d with 1,000:\nat 10:%s\nat 1,000:%s",
				p.name, p.path, len(small[i]), big, budgetStatements(small[i]), budgetStatements(stmts))
		}
		if big < 2 {
			t.Errorf("%s: %d statements counted; the counter is not counting", p.name, big)
		}
		if limit, ok := budgets[p.name]; ok && big > limit {
			t.Errorf("%s: %d statements, over its budget of %d", p.name, big, limit)
		}
		t.Logf("%-24s %d statements", p.name, big)
	}
}

// budgetStatements lists statements one a line, for a count that grew.
func budgetStatements(stmts []sqltrace.Statement) string {
	var b strings.Builder
	for i, s := range stmts {
		fmt.Fprintf(&b, "\n  %d. %s", i+1, strings.Join(strings.Fields(s.Query), " "))
	}
	return b.String()
}
