package missionread_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/mission"
	"violet/internal/missionread"
	"violet/internal/testkit/testdb"
	"violet/views/missionpage"
	"violet/views/report"
	"violet/views/scale"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var rolePerms = map[string][]auth.Permission{
	"lead":      {auth.MissionRead},
	"blue":      {auth.MissionRead},
	"adminblue": {auth.MissionRead, auth.MissionReadAll},
}

// world is a mission of twelve tests in two scenarios (plus one outside
// any), two categories (one deleted), three tags each; every third test is
// unreleased.
type world struct {
	db      *sql.DB
	client  *ent.Client
	mission uuid.UUID
	users   map[string]uuid.UUID
	tests   []uuid.UUID // in plan order
	cat     uuid.UUID   // the live category
	level   uuid.UUID   // the level of executed and reviewed tests
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	w := &world{db: db, client: client, users: map[string]uuid.UUID{}}
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
	for role := range rolePerms {
		w.users[role] = id(`INSERT INTO users (email, password_hash, display_name) VALUES ($1, 'x', $2) RETURNING id`,
			role+"@example.com", "User "+role)
	}
	w.mission = id(`INSERT INTO missions (name) VALUES ('Operation Violet') RETURNING id`)
	exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'lead'), ($1, $3, 'blue'), ($1, $4, 'blue')`,
		w.mission, w.users["lead"], w.users["blue"], w.users["adminblue"])
	scA := id(`INSERT INTO mission_scenarios (mission_id, name, position) VALUES ($1, 'Initial access', 1) RETURNING id`, w.mission)
	scB := id(`INSERT INTO mission_scenarios (mission_id, name, position) VALUES ($1, 'Credential theft', 0) RETURNING id`, w.mission)
	w.cat = id(`INSERT INTO mission_categories (mission_id, name, colour, position) VALUES ($1, 'Workstations', '#0e7490', 0) RETURNING id`, w.mission)
	gone := id(`INSERT INTO mission_categories (mission_id, name, colour, deleted_at) VALUES ($1, 'Gone', '#000000', now()) RETURNING id`, w.mission)
	w.level = id(`SELECT id FROM detection_levels WHERE counts_as_detected ORDER BY score DESC LIMIT 1`)
	states := []string{"pending", "running", "executed", "reviewed", "skipped", "blocked"}
	for i := range 12 {
		var sc, cat, level, executor any
		switch i % 3 {
		case 0:
			sc = scA
		case 1:
			sc = scB
		}
		switch i % 4 {
		case 0:
			cat = w.cat
		case 1:
			cat = gone
		}
		state := states[i%len(states)]
		if state == "executed" || state == "reviewed" {
			level, executor = w.level, w.users["lead"]
		}
		tid := id(`INSERT INTO mission_tests (mission_id, mission_scenario_id, category_id, position, name, platforms, state,
			released_to_blue, detection_level_id, executed_by_id, started_at, detected_at)
			VALUES ($1, $2, $3, $4, $5, '["windows"]', $6, $7, $8, $9, '2026-11-20T10:00:00Z', '2026-11-20T10:12:00Z') RETURNING id`,
			w.mission, sc, cat, i, fmt.Sprintf("Test %02d Été", i), state, i%3 != 0, level, executor)
		w.tests = append(w.tests, tid)
		exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, url, tactics) VALUES
			($1, 'subtechnique', 'T1059.001', 'PowerShell', 'https://attack.mitre.org/techniques/T1059/001',
			 '[{"id": "TA0002", "name": "Execution", "shortname": "execution"}]'),
			($1, 'technique', 'T1003', 'OS Credential Dumping', '', '[{"id": "TA0006", "name": "Credential Access", "shortname": "credential-access"}]'),
			($1, 'tactic', 'TA0007', 'Discovery', '', NULL)`, tid)
	}
	exec(`INSERT INTO mission_tests (mission_id, position, name, platforms, released_to_blue, deleted_at)
		VALUES ($1, 5, 'Deleted test', '[]', true, now())`, w.mission)
	return w
}

func (w *world) access(t *testing.T, role string) (context.Context, *mission.Access) {
	t.Helper()
	codes := []string{}
	for _, p := range rolePerms[role] {
		codes = append(codes, string(p))
	}
	v := auth.NewViewer(w.users[role], role+"@example.com", role, "en", uuid.New(), nil, codes)
	ctx := auth.NewContext(context.Background(), v)
	a, err := mission.Load(ctx, w.client, v, w.mission)
	if err != nil {
		t.Fatalf("%s: %v", role, err)
	}
	return ctx, a
}

// released are the plan indexes of the released tests.
func released() []int {
	var out []int
	for i := range 12 {
		if i%3 != 0 {
			out = append(out, i)
		}
	}
	return out
}

func TestTestsVisibilityAndNumbers(t *testing.T) {
	w := setup(t)
	for _, tc := range []struct {
		role    string
		visible []int // plan indexes, in order
	}{
		{"lead", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"blue", released()},
		// The privacy policy shows every test to a viewer who may read every
		// mission, even when they are also a blue member.
		{"adminblue", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			ctx, a := w.access(t, tc.role)
			for _, d := range []missionread.Detail{missionread.Rows, missionread.Results, missionread.Everything} {
				l, err := missionread.Tests(ctx, w.client, a, d, missionread.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				if len(l.Tests) != len(tc.visible) {
					t.Fatalf("detail %d: %d tests, want %d", d, len(l.Tests), len(tc.visible))
				}
				for i, want := range tc.visible {
					got := l.Tests[i]
					if got.ID != w.tests[want] || got.Number != i+1 {
						t.Errorf("detail %d: test %d is %s number %d, want %s number %d", d, i, got.ID, got.Number, w.tests[want], i+1)
					}
					if len(got.Tags) != 3 || got.Tags[0].ExternalID != "T1003" || got.Tags[2].Kind != "tactic" {
						t.Errorf("detail %d: tags %+v", d, got.Tags)
					}
				}
				if d == missionread.Rows && l.Total != len(tc.visible) {
					t.Errorf("total %d, want %d", l.Total, len(tc.visible))
				}
			}
		})
	}
}

func TestTestsColumnsPerDetail(t *testing.T) {
	w := setup(t)
	ctx, a := w.access(t, "lead")
	for _, d := range []missionread.Detail{missionread.Rows, missionread.Results, missionread.Everything} {
		l, err := missionread.Tests(ctx, w.client, a, d, missionread.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		tt := l.Tests[9] // reviewed, in scenario A, its category deleted
		if tt.Scenario == nil || tt.Scenario.Name != "Initial access" || tt.Category != nil {
			t.Errorf("detail %d: scenario %+v category %+v", d, tt.Scenario, tt.Category)
		}
		if tt.Level == nil || tt.Level.ID != w.level || tt.ExecutedBy == nil || tt.ExecutedBy.Name != "User lead" {
			t.Errorf("detail %d: level %+v executor %+v", d, tt.Level, tt.ExecutedBy)
		}
		if cat := l.Tests[4].Category; cat == nil || cat.ID != w.cat || cat.Name != "Workstations" {
			t.Errorf("detail %d: category %+v", d, cat)
		}
		hasResults := d > missionread.Rows
		// Rows reads the times too: the overview's median time to detect.
		if tt.StartedAt == nil || (tt.Tags[1].URL != "") != hasResults || (tt.Tags[1].Tactics != nil) != hasResults {
			t.Errorf("detail %d: started %v, tag %+v", d, tt.StartedAt, tt.Tags[1])
		}
		if hasResults && (tt.Level.Score == 0 || !tt.Level.CountsAsDetected) {
			t.Errorf("detail %d: level %+v", d, tt.Level)
		}
		if (tt.Platforms != nil) != (d == missionread.Everything) || (tt.ExecutedBy.Email != "") != (d == missionread.Everything) {
			t.Errorf("detail %d: platforms %v, executor %+v", d, tt.Platforms, tt.ExecutedBy)
		}
	}
}

func TestTestsFilters(t *testing.T) {
	w := setup(t)
	for _, tc := range []struct {
		role   string
		filter missionread.Filter
		want   []int // plan indexes
	}{
		{"lead", missionread.Filter{State: "executed"}, []int{2, 8}},
		{"blue", missionread.Filter{State: "executed"}, []int{2, 8}},
		{"blue", missionread.Filter{State: "pending"}, nil},
		{"lead", missionread.Filter{Category: w.cat.String()}, []int{0, 4, 8}},
		{"lead", missionread.Filter{Category: "none"}, []int{1, 2, 3, 5, 6, 7, 9, 10, 11}}, // a deleted category is none
		{"lead", missionread.Filter{Category: "not-an-id"}, nil},
		{"lead", missionread.Filter{Tactic: "TA0006"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}, // a technique's tactic
		{"lead", missionread.Filter{Tactic: "TA0007"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}, // a tactic tag
		{"lead", missionread.Filter{Tactic: "TA0040"}, nil},
		{"lead", missionread.Filter{Q: "test 1"}, []int{10, 11}},
		{"lead", missionread.Filter{Q: "ÉTÉ"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"lead", missionread.Filter{Q: "t1059"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"lead", missionread.Filter{Q: "1059"}, nil}, // an ATT&CK ID matches from its start
		{"lead", missionread.Filter{Q: "credential"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"lead", missionread.Filter{Q: "%"}, nil},
		{"lead", missionread.Filter{State: "reviewed", Category: "none", Q: "test"}, []int{3, 9}},
	} {
		t.Run(fmt.Sprintf("%s %+v", tc.role, tc.filter), func(t *testing.T) {
			ctx, a := w.access(t, tc.role)
			l, err := missionread.Tests(ctx, w.client, a, missionread.Rows, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, tt := range l.Tests {
				got = append(got, slices.Index(w.tests, tt.ID))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("tests %v, want %v", got, tc.want)
			}
			// Numbers count every visible test, whatever the filter.
			visible := released()
			if tc.role == "lead" {
				visible = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
			}
			for _, tt := range l.Tests {
				if want := slices.Index(visible, slices.Index(w.tests, tt.ID)) + 1; tt.Number != want {
					t.Errorf("%s: number %d, want %d", tt.Name, tt.Number, want)
				}
			}
			// The total is known whether or not a test passed the filter.
			if wantTotal := len(visible); l.Total != wantTotal {
				t.Errorf("total %d, want %d", l.Total, wantTotal)
			}
		})
	}
}

func TestOverview(t *testing.T) {
	w := setup(t)
	ctx, a := w.access(t, "lead")
	p, err := missionread.Overview(ctx, w.client, w.db, a, missionpage.Filter{Group: missionpage.GroupScenario, Plan: true})
	if err != nil {
		t.Fatal(err)
	}
	groups := func(p missionpage.Page) string {
		var out []string
		for _, g := range p.Groups {
			var rows []string
			for _, r := range g.Rows {
				mark := ""
				if r.First {
					mark += "^"
				}
				if r.Last {
					mark += "$"
				}
				rows = append(rows, fmt.Sprintf("%d%s", r.Number, mark))
			}
			out = append(out, g.Name+":"+strings.Join(rows, ","))
		}
		return strings.Join(out, " ")
	}
	// Scenario B (position 0) first, tests outside any scenario last.
	want := "Credential theft:2^,5,8,11$ Initial access:1^,4,7,10$ :3^,6,9,12$"
	if got := groups(p); got != want || p.Total != 12 || p.Shown != 12 {
		t.Errorf("groups %q (%d of %d), want %q", got, p.Shown, p.Total, want)
	}
	if len(p.Categories) != 1 || len(p.Tactics) != 3 || p.Figures.Total != 12 {
		t.Errorf("categories %v, tactics %v, figures %+v", p.Categories, p.Tactics, p.Figures)
	}
	r := p.Groups[0].Rows[1] // Test 04: category, no level
	if r.Category != "Workstations" || r.Level != "" || r.Tags[0].ExternalID != "T1003" {
		t.Errorf("row %+v", r)
	}
	if r := p.Groups[1].Rows[1]; r.Level == "" || r.LevelClass != scale.Class(w.level) || r.Executor != "User lead" {
		t.Errorf("rated row %+v", r)
	}

	// A filter keeps each row's number and arrows, and the total.
	p, err = missionread.Overview(ctx, w.client, w.db, a, missionpage.Filter{Group: missionpage.GroupScenario, Q: "test 1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := groups(p), "Credential theft:11$ :12$"; got != want || p.Total != 12 || p.Shown != 2 {
		t.Errorf("filtered %q (%d of %d), want %q", got, p.Shown, p.Total, want)
	}
	p, err = missionread.Overview(ctx, w.client, w.db, a, missionpage.Filter{Group: missionpage.GroupCategory})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := groups(p), "Workstations:1^,5,9 :2^,3^,4,6,7,8,10$,11$,12$"; got != want {
		t.Errorf("by category %q, want %q", got, want)
	}

	// No test passes the filter: the total comes from the figures, or for
	// a blue member who may read every mission, from a count.
	for _, role := range []string{"lead", "blue", "adminblue"} {
		ctx, a := w.access(t, role)
		p, err := missionread.Overview(ctx, w.client, w.db, a, missionpage.Filter{Q: "nothing matches"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"lead": 12, "blue": 8, "adminblue": 12}[role]
		if p.Shown != 0 || p.Total != want {
			t.Errorf("%s: %d of %d, want 0 of %d", role, p.Shown, p.Total, want)
		}
	}
}

func TestFilterOf(t *testing.T) {
	id := uuid.NewString()
	for query, want := range map[string]missionpage.Filter{
		"":                                     {Group: missionpage.GroupScenario},
		"group=category&state=executed&plan=1": {Group: missionpage.GroupCategory, State: "executed", Plan: true},
		"state=bogus&group=bogus&category=xyz": {Group: missionpage.GroupScenario},
		"category=none&tactic=+TA0002+":        {Group: missionpage.GroupScenario, Category: "none", Tactic: "TA0002"},
		"category=" + id + "&q=" + strings.Repeat("é", 300): {Group: missionpage.GroupScenario, Category: id,
			Q: strings.Repeat("é", missionpage.SearchMax)},
	} {
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		if got := missionread.FilterOf(q); got != want {
			t.Errorf("%q: %+v, want %+v", query, got, want)
		}
	}
}

func TestReport(t *testing.T) {
	w := setup(t)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	file := func(test uuid.UUID, name, ctype string, deleted bool) {
		var del any
		if deleted {
			del = time.Now()
		}
		exec(`INSERT INTO evidence_files (side, original_name, stored_key, content_type, size, sha256, uploaded_by_id, mission_test_id, deleted_at)
			VALUES ('red', $1, $2, $3, 10, $4, $5, $6, $7)`, name, uuid.NewString(), ctype, strings.Repeat("ab", 32), w.users["lead"], test, del)
	}
	file(w.tests[2], "screen.png", "image/png", false)
	file(w.tests[2], "capture.pcap", "application/vnd.tcpdump.pcap", false)
	file(w.tests[2], "gone.png", "image/png", true)
	file(w.tests[0], "unreleased.log", "text/plain", false)
	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		role     string
		tests    int
		appendix []string
	}{
		{"lead", 12, []string{"unreleased.log", "capture.pcap"}},
		{"blue", 8, []string{"capture.pcap"}},
	} {
		ctx, a := w.access(t, tc.role)
		r, err := missionread.Report(ctx, w.client, w.db, a, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Tests) != tc.tests || r.BlueView != (tc.role == "blue") || !r.Generated.Equal(now) || r.Generated.Location() != time.UTC {
			t.Errorf("%s: %d tests, blue view %v, generated %v", tc.role, len(r.Tests), r.BlueView, r.Generated)
		}
		var appendix []string
		for _, e := range r.Appendix {
			appendix = append(appendix, e.Name)
		}
		if !slices.Equal(appendix, tc.appendix) {
			t.Errorf("%s: appendix %v, want %v", tc.role, appendix, tc.appendix)
		}
		i := slices.IndexFunc(r.Tests, func(rt report.Test) bool { return rt.ID == w.tests[2].String() })
		if i < 0 || len(r.Tests[i].Images) != 1 || r.Tests[i].Images[0].PreviewURL == "" || r.Tests[i].Level == "" {
			t.Fatalf("%s: test with evidence %+v", tc.role, r.Tests[i])
		}
		var cols []string
		for _, c := range r.Heatmap {
			cols = append(cols, c.ID)
		}
		if !slices.Equal(cols, []string{"TA0002", "TA0006"}) { // built-in matrix order: no synced catalogue
			t.Errorf("%s: heatmap columns %v", tc.role, cols)
		}
		if c := r.Heatmap[0].Cells[0]; c.ExternalID != "T1059.001" || c.Tests != tc.tests || c.Class != scale.Class(w.level) {
			t.Errorf("%s: cell %+v", tc.role, c)
		}
		if len(r.Members) != 3 || r.Members[0].Role != "lead" || len(r.Legend) < 3 {
			t.Errorf("%s: members %+v legend %+v", tc.role, r.Members, r.Legend)
		}
	}
}

func TestLoadArchive(t *testing.T) {
	w := setup(t)
	if _, err := w.db.Exec(`INSERT INTO evidence_files (side, original_name, stored_key, content_type, size, sha256, uploaded_by_id, mission_test_id)
		VALUES ('blue', 'alert.png', 'k', 'image/png', 10, $1, $2, $3)`, strings.Repeat("ab", 32), w.users["blue"], w.tests[1]); err != nil {
		t.Fatal(err)
	}
	ctx, a := w.access(t, "blue")
	ar, err := missionread.LoadArchive(ctx, w.client, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(ar.Tests) != 8 || len(ar.Members) != 3 || len(ar.Categories) != 1 || len(ar.Scenarios) != 2 || len(ar.Levels) == 0 {
		t.Errorf("archive: %d tests, %d members, %d categories, %d scenarios", len(ar.Tests), len(ar.Members), len(ar.Categories), len(ar.Scenarios))
	}
	files := ar.Evidence[w.tests[1]]
	if len(files) != 1 || files[0].Edges.UploadedBy == nil || files[0].Edges.UploadedBy.Email != "blue@example.com" {
		t.Errorf("evidence %+v", files)
	}
	if v, err := missionread.AttackVersion(ctx, w.client); err != nil || v != "" {
		t.Errorf("attack version %q, %v", v, err)
	}
}
