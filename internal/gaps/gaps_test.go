package gaps_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/gaps"
	"violet/internal/mission"
	"violet/internal/testkit/testdb"
	gapviews "violet/views/gaps"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world is a mission with an undetected released test expecting one rule
// (its technique has more rules in the catalogue), a detected test, a
// pending one, a test rated below detection and an undetected unreleased
// test.
type world struct {
	db      *sql.DB
	client  *ent.Client
	mission uuid.UUID
	users   map[string]uuid.UUID
	tests   map[string]uuid.UUID
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	w := &world{db: db, client: client, users: map[string]uuid.UUID{}, tests: map[string]uuid.UUID{}}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	id := func(q string, args ...any) uuid.UUID {
		t.Helper()
		var v uuid.UUID
		if err := db.QueryRow(q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	for _, role := range []string{"lead", "blue"} {
		w.users[role] = id(`INSERT INTO users (email, password_hash, display_name) VALUES ($1, 'x', $2) RETURNING id`,
			role+"@example.com", "User "+role)
	}
	w.mission = id(`INSERT INTO missions (name) VALUES ('Operation Violet') RETURNING id`)
	exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'lead'), ($1, $3, 'blue')`,
		w.mission, w.users["lead"], w.users["blue"])
	detected := id(`SELECT id FROM detection_levels WHERE counts_as_detected ORDER BY score DESC LIMIT 1`)
	seen := id(`SELECT id FROM detection_levels WHERE NOT counts_as_detected ORDER BY score DESC LIMIT 1`)
	test := func(name string, pos int, state string, released bool, level any, tags ...string) {
		tid := id(`INSERT INTO mission_tests (mission_id, position, name, platforms, state, released_to_blue, detection_level_id)
			VALUES ($1, $2, $3, '["windows"]', $4, $5, $6) RETURNING id`, w.mission, pos, name, state, released, level)
		w.tests[name] = tid
		for _, tag := range tags {
			kind := "technique"
			if len(tag) > 5 {
				kind = "subtechnique"
			}
			exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name) VALUES ($1, $2, $3, $4)`,
				tid, kind, tag, "Name of "+tag)
		}
		exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name) VALUES ($1, 'tactic', 'TA0003', 'Persistence')`, tid)
	}
	// Out of plan order on purpose: the view follows positions.
	test("Seen in the logs", 3, "reviewed", true, seen, "T1003")
	test("Scheduled task", 0, "executed", true, nil, "T1053.005")
	test("Detected", 1, "executed", true, detected, "T1053.005")
	test("Pending", 2, "pending", true, nil, "T1053.005")
	test("Unreleased", 4, "executed", false, nil, "T1053.005")
	// The ATT&CK catalogue knows T1003.001 as a sub-technique of T1003.
	tech := id(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms) VALUES ('attack-pattern--t1003', 'T1003', 'OS Credential Dumping', '[]') RETURNING id`)
	exec(`INSERT INTO mitre_subtechniques (stix_id, external_id, name, platforms, technique_id) VALUES ('attack-pattern--t1003-001', 'T1003.001', 'LSASS Memory', '[]', $1)`, tech)
	rule := func(uid, title, level, status, techniques string, deleted bool) uuid.UUID {
		var at any
		if deleted {
			at = "2026-01-01T00:00:00Z"
		}
		return id(`INSERT INTO detection_rules (rule_uid, title, level, status, description, logsource, techniques, deleted_at, tags, "references")
			VALUES ($1, $2, $3, $4, $5, '{"product": "windows", "category": "process_creation"}', $6, $7, '[]', '[]') RETURNING id`,
			uid, title, level, status, "About "+title, techniques, at)
	}
	expected := rule("r-expected", "Schtasks creation", "medium", "test", `["T1053.005"]`, false)
	rule("r-high-test", "Task XML dropped", "high", "test", `["T1053.005"]`, false)
	rule("r-high-stable", "Scheduled task via parent", "high", "stable", `["T1053"]`, false)
	rule("r-critical", "Task run as SYSTEM", "critical", "experimental", `["T1053.005", "T1059"]`, false)
	rule("r-sibling", "At job", "high", "stable", `["T1053.002"]`, false)
	rule("r-other", "Unrelated", "critical", "stable", `["T1566"]`, false)
	rule("r-deleted", "Deleted rule", "critical", "stable", `["T1053.005"]`, true)
	rule("r-lsass", "LSASS access", "high", "stable", `["T1003.001"]`, false)
	exec(`INSERT INTO mission_test_rules (mission_test_id, detection_rule_id) VALUES ($1, $2), ($3, $2)`,
		w.tests["Scheduled task"], expected, w.tests["Detected"])
	return w
}

func (w *world) gaps(t *testing.T, role string) gapviews.Page {
	t.Helper()
	v := auth.NewViewer(w.users[role], role+"@example.com", role, "en", uuid.New(), nil, []string{string(auth.MissionRead)})
	ctx := auth.NewContext(context.Background(), v)
	a, err := mission.Load(ctx, w.client, v, w.mission)
	if err != nil {
		t.Fatal(err)
	}
	p, err := gaps.Of(ctx, w.client, a)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func names(p gapviews.Page) []string {
	var out []string
	for _, t := range p.Tests {
		out = append(out, t.Name)
	}
	return out
}

func uids(rules []gapviews.Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.UID)
	}
	return out
}

// TestGapsListUndetectedTestsWithTheirRules: only the executed tests with
// no detection, in plan order; each with its expected rules and its
// techniques' other rules (parent and sub-techniques included, siblings,
// unrelated and deleted rules not), the most severe and most mature
// first; the counts at the top.
func TestGapsListUndetectedTestsWithTheirRules(t *testing.T) {
	w := setup(t)
	p := w.gaps(t, "lead")
	if got, want := names(p), []string{"Scheduled task", "Seen in the logs", "Unreleased"}; !slices.Equal(got, want) {
		t.Fatalf("gaps %v, want %v (detected and pending tests absent)", got, want)
	}
	st := p.Tests[0]
	if got := uids(st.Expected); !slices.Equal(got, []string{"r-expected"}) {
		t.Errorf("expected rules %v", got)
	}
	if st.Expected[0].Description != "About Schtasks creation" || st.Expected[0].Logsource != "windows / process_creation" {
		t.Errorf("expected rule %+v", st.Expected[0])
	}
	if got, want := uids(st.Others), []string{"r-critical", "r-high-stable", "r-high-test"}; !slices.Equal(got, want) {
		t.Errorf("other rules %v, want %v", got, want)
	}
	if len(st.Techniques) != 1 || st.Techniques[0].ID != "T1053.005" || st.Level != "" || st.State != "executed" {
		t.Errorf("test %+v", st)
	}
	seen := p.Tests[1]
	if seen.Level == "" || len(seen.Expected) != 0 {
		t.Errorf("rated test: level %q, expected %v", seen.Level, uids(seen.Expected))
	}
	if got := uids(seen.Others); !slices.Equal(got, []string{"r-lsass"}) {
		t.Errorf("a technique's sub-technique rules: %v", got)
	}
	// The unreleased test expected nothing: the expected rule is among
	// its other rules, yet counted once, as expected.
	if got := uids(p.Tests[2].Others); !slices.Contains(got, "r-expected") {
		t.Errorf("unreleased test's other rules %v", got)
	}
	if p.Undetected != 3 || p.Expected != 1 || p.Known != 4 {
		t.Errorf("counts %d undetected, %d expected, %d known; want 3, 1, 4", p.Undetected, p.Expected, p.Known)
	}
}

// TestGapsFollowBluePrivacy: a blue member does not see the unreleased
// test's gap, nor count its rules.
func TestGapsFollowBluePrivacy(t *testing.T) {
	w := setup(t)
	p := w.gaps(t, "blue")
	if got, want := names(p), []string{"Scheduled task", "Seen in the logs"}; !slices.Equal(got, want) {
		t.Fatalf("blue's gaps %v, want %v", got, want)
	}
	if p.Undetected != 2 || p.Expected != 1 || p.Known != 4 {
		t.Errorf("counts %d, %d, %d; want 2, 1, 4", p.Undetected, p.Expected, p.Known)
	}
}

// TestGapsEmpty: a mission whose executed tests were all detected has no
// gaps, and reads no rules.
func TestGapsEmpty(t *testing.T) {
	w := setup(t)
	if _, err := w.db.Exec(`UPDATE mission_tests SET state = 'pending' WHERE name <> 'Detected'`); err != nil {
		t.Fatal(err)
	}
	p := w.gaps(t, "lead")
	if len(p.Tests) != 0 || p.Undetected != 0 || p.Known != 0 {
		t.Errorf("gaps %v", names(p))
	}
}

// TestGapsListFreeRulesPerTool: an undetected test lists the free rule
// names per tool it expected beside its Sigma rules, by tool name, a
// deleted tool's rule unnamed; they count among the expected rules, the
// same rule of two tests once.
func TestGapsListFreeRulesPerTool(t *testing.T) {
	w := setup(t)
	edr, siem, gone := uuid.New(), uuid.New(), uuid.New()
	if _, err := w.db.Exec(`INSERT INTO defensive_tools (id, name, kind, deleted_at)
		VALUES ($1, 'Sentinel', 'siem', NULL), ($2, 'Defender', 'edr', NULL), ($3, 'Retired EDR', 'edr', now())`, siem, edr, gone); err != nil {
		t.Fatal(err)
	}
	free := `[{"tool_id":"` + siem.String() + `","name":"Task burst"},{"tool_id":"` + edr.String() + `","name":"Schtasks /create"},` +
		`{"tool_id":"` + gone.String() + `","name":"Old alert"}]`
	if _, err := w.db.Exec(`UPDATE mission_tests SET expected_rules = $1 WHERE name IN ('Scheduled task', 'Unreleased')`, free); err != nil {
		t.Fatal(err)
	}
	// A JSON null, as a column written outside the workflows could hold,
	// reads as no rule.
	if _, err := w.db.Exec(`UPDATE mission_tests SET expected_rules = 'null' WHERE name = 'Seen in the logs'`); err != nil {
		t.Fatal(err)
	}
	p := w.gaps(t, "lead")
	var got []string
	for _, r := range p.Tests[0].Free {
		got = append(got, r.Tool+": "+r.Name)
	}
	if want := []string{": Old alert", "Defender: Schtasks /create", "Sentinel: Task burst"}; !slices.Equal(got, want) {
		t.Errorf("free rules %q, want %q", got, want)
	}
	if len(p.Tests[1].Free) != 0 {
		t.Errorf("a null column lists %+v", p.Tests[1].Free)
	}
	if p.Expected != 4 {
		t.Errorf("%d expected rules, want 4 (one Sigma rule, three free ones counted once)", p.Expected)
	}
}
