package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/missiontest"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

// gapRule inserts a detection rule of the catalogue and returns its id.
func gapRule(t *testing.T, w *apptest.World, uid, title, level, status, techniques string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(w.Value(t, `INSERT INTO detection_rules (rule_uid, title, level, status, description, logsource,
		techniques, tags, "references") VALUES ($1, $2, $3, $4, $5, '{"product": "windows", "category": "process_creation"}',
		$6, '[]', '[]') RETURNING id`, uid, title, level, status, "Detects "+title+".", techniques))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestGapsPage: the gaps page lists, for every member, the executed tests
// nothing detected with the rule they expected and the technique's other
// rules (severest first); a detected or pending test is absent; the blue
// team does not see an unreleased test's gap; an htmx request gets the
// list alone; a mission without gaps says so; the mission's tabs link to
// the page.
func TestGapsPage(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Gaps")
	detected := w.Value(t, `SELECT id FROM detection_levels WHERE counts_as_detected ORDER BY score DESC LIMIT 1`)
	gap := w.Test(t, m, apptest.TestOpts{Name: "Scheduled task", State: missiontest.StateExecuted, Released: true,
		Technique: "T1053.005", TechniqueName: "Scheduled Task"})
	w.Test(t, m, apptest.TestOpts{Name: "Detected task", State: missiontest.StateReviewed, Released: true,
		Technique: "T1053.005", TechniqueName: "Scheduled Task", Level: uuid.MustParse(detected)})
	w.Test(t, m, apptest.TestOpts{Name: "Pending task", Released: true, Technique: "T1053.005", TechniqueName: "Scheduled Task"})
	w.Test(t, m, apptest.TestOpts{Name: "Hidden task", State: missiontest.StateExecuted, Technique: "T1053.005",
		TechniqueName: "Scheduled Task"})
	expected := gapRule(t, w, "11111111-1111-4111-8111-111111111111", "Schtasks creation", "medium", "test", `["T1053.005"]`)
	gapRule(t, w, "22222222-2222-4222-8222-222222222222", "Task XML dropped", "low", "stable", `["T1053.005"]`)
	gapRule(t, w, "33333333-3333-4333-8333-333333333333", "Task as SYSTEM", "high", "test", `["T1053"]`)
	w.Exec(t, `INSERT INTO mission_test_rules (mission_test_id, detection_rule_id) VALUES ($1, $2)`, gap, expected)
	// The plan's order: the hidden test last.
	w.Exec(t, `UPDATE mission_tests SET position = CASE WHEN name = 'Hidden task' THEN 9 ELSE 1 END WHERE mission_id = $1`, m)
	page := paths.URL(paths.MissionGaps, m)

	w.Run(t,
		apptest.Step{As: "lead", Path: page,
			TestIDs: []string{"gaps-counts", "gap-expected-rule", `[data-testid="mission-tab-gaps"][aria-current="page"]`},
			Text: map[string]string{"gap-test-name": "Scheduled task", "gaps-undetected": "2 tests undetected",
				"gaps-expected": "1 expected rule did not fire", "gaps-known": "2 more rules known",
				`[data-testid="gap-expected-rule"] [data-testid="gap-rule-title"]`:       "Schtasks creation",
				`[data-testid="gap-expected-rule"] [data-testid="gap-rule-description"]`: "Detects Schtasks creation.",
				`[data-testid="gap-expected-rule"]`:                                      "11111111-1111-4111-8111-111111111111",
			},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				d := apptest.Doc(t, r)
				var tests []string
				d.Find(`[data-testid="gap-test-name"]`).Each(func(_ int, s *goquery.Selection) {
					tests = append(tests, strings.TrimSpace(s.Text()))
				})
				if strings.Join(tests, "|") != "Scheduled task|Hidden task" {
					t.Errorf("gaps listed %v", tests)
				}
				first := d.Find(`[data-testid="gap-test"]`).First()
				var others []string
				first.Find(`[data-testid="gap-other-rule"]`).Each(func(_ int, s *goquery.Selection) {
					others = append(others, s.AttrOr("data-level", ""))
				})
				if strings.Join(others, ",") != "high,low" {
					t.Errorf("other rules by level %v, want high then low", others)
				}
				if href, _ := d.Find(`[data-testid="mission-tab-gaps"]`).Attr("href"); href != page {
					t.Errorf("gaps tab links to %q", href)
				}
			}},
		apptest.Step{As: "blue", Path: page, TestIDs: []string{"gap-test"},
			Text: map[string]string{"gap-test-name": "Scheduled task", "gaps-undetected": "1 test undetected"}},
		apptest.Step{As: "observer", Path: page, TestIDs: []string{"gaps-counts"}, Some: []string{"gap-test"}},
		apptest.Step{As: "red", Path: page, HX: true, TestIDs: []string{"gaps"}, NoTestIDs: []string{"mission-tabs"}},
		apptest.Step{As: "outsider", Path: page, Status: http.StatusNotFound},
		apptest.Step{As: "lead", Path: paths.URL(paths.Mission, m), TestIDs: []string{"mission-tab-gaps"}},
	)

	empty := w.Mission(t, "Operation Covered")
	w.Test(t, empty, apptest.TestOpts{Name: "Seen", State: missiontest.StateExecuted, Released: true,
		Level: uuid.MustParse(detected)})
	w.Run(t, apptest.Step{As: "lead", Path: paths.URL(paths.MissionGaps, empty), TestIDs: []string{"gaps-empty"},
		NoTestIDs: []string{"gap-test", "gaps-counts"}})
}

// TestGapsPageQueryCount: the gaps page sends as many statements at 1,000
// tests as at 10 (the session, the viewer's access, the tests with their
// tags and expected rules, the techniques' rules), within its budget.
func TestGapsPageQueryCount(t *testing.T) {
	t.Parallel()
	measure := func(n int) (lead, blue int64) {
		f := newOverviewFixture(t)
		srv, counter := countingServer(t, f.app)
		f.seedTests(t, n)
		// Rules for the seeded tests' techniques, each test expecting one.
		var expected uuid.UUID
		if err := f.app.DB.QueryRow(`INSERT INTO detection_rules (rule_uid, title, level, status, techniques, tags, "references")
			VALUES ('r-ps', 'PowerShell download', 'high', 'stable', '["T1059.001"]', '[]', '[]'),
			       ('r-lsass', 'LSASS access', 'critical', 'test', '["T1003.001", "T1003"]', '[]', '[]')
			RETURNING id`).Scan(&expected); err != nil {
			t.Fatal(err)
		}
		if _, err := f.app.DB.Exec(`INSERT INTO mission_test_rules (mission_test_id, detection_rule_id)
			SELECT id, $1 FROM mission_tests WHERE mission_id = $2`, expected, f.id); err != nil {
			t.Fatal(err)
		}
		counts := map[string]int64{}
		for _, role := range []string{"lead", "blue"} {
			r := httptest.NewRequest(http.MethodGet, f.path("/gaps"), nil)
			r.AddCookie(f.cookies[role])
			rec := httptest.NewRecorder()
			before := counter.Count()
			srv.ServeHTTP(rec, r)
			counts[role] = counter.Count() - before
			if rec.Code != http.StatusOK {
				t.Fatalf("%s at %d tests: status %d", role, n, rec.Code)
			}
			if d := apptest.Doc(t, rec); d.Find(`[data-testid="gap-test"]`).Length() == 0 ||
				d.Find(`[data-testid="gap-other-rule"]`).Length() == 0 {
				t.Fatalf("%s at %d tests: no gap with its rules listed", role, n)
			}
		}
		return counts["lead"], counts["blue"]
	}
	lead10, blue10 := measure(10)
	lead1000, blue1000 := measure(1000)
	if lead10 != lead1000 || blue10 != blue1000 {
		t.Errorf("statements at 10 tests: lead %d, blue %d; at 1,000: lead %d, blue %d", lead10, blue10, lead1000, blue1000)
	}
	for _, q := range []int64{lead1000, blue1000} {
		if q > 5 {
			t.Errorf("%d statements, budget 5", q)
		}
	}
	t.Logf("gaps page: %d statements (lead), %d (blue)", lead1000, blue1000)
}
