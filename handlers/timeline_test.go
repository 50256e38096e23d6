package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// timelineFixture adds to the overview fixture two tools in scope and
// three started tests: "Mimikatz" on dc01 (released, blocked by the EDR
// five minutes after its start and logged by the SIEM), "Hidden" on dc01
// (not released) and "Recon" on ws01 (released, running).
func timelineFixture(t *testing.T) (*overviewFixture, map[string]uuid.UUID) {
	t.Helper()
	f := newOverviewFixture(t)
	ids := map[string]uuid.UUID{}
	id := func(q string, args ...any) uuid.UUID {
		t.Helper()
		var v uuid.UUID
		if err := f.app.DB.QueryRow(q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	ids["edr"] = id(`INSERT INTO defensive_tools (name, kind) VALUES ('Sentinel EDR', 'edr') RETURNING id`)
	ids["siem"] = id(`INSERT INTO defensive_tools (name, kind) VALUES ('Splunk', 'siem') RETURNING id`)
	if _, err := f.app.DB.Exec(`INSERT INTO mission_tools (mission_id, defensive_tool_id) VALUES ($1, $2), ($1, $3)`,
		f.id, ids["edr"], ids["siem"]); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Minute)
	test := func(name, host, state string, released bool, end *time.Time, tactic string) uuid.UUID {
		tid := id(`INSERT INTO mission_tests (mission_id, name, platforms, state, released_to_blue, target_host, started_at, ended_at)
			VALUES ($1, $2, '[]', $3, $4, $5, $6, $7) RETURNING id`, f.id, name, state, released, host, start, end)
		if _, err := f.app.DB.Exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, tactics)
			VALUES ($1, 'tactic', $2, $2, NULL)`, tid, tactic); err != nil {
			t.Fatal(err)
		}
		return tid
	}
	end := start.Add(20 * time.Minute)
	ids["Mimikatz"] = test("Mimikatz", "dc01", "executed", true, &end, "TA0006")
	ids["Hidden"] = test("Hidden", "dc01", "executed", false, &end, "TA0006")
	ids["Recon"] = test("Recon", "ws01", "running", true, nil, "TA0007")
	if _, err := f.app.DB.Exec(`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id, detected_at)
		VALUES ($1, $2, (SELECT id FROM detection_levels WHERE name = 'Blocked'), $4),
		       ($1, $3, (SELECT id FROM detection_levels WHERE name = 'Logged'), $5)`,
		ids["Mimikatz"], ids["edr"], ids["siem"], start.Add(5*time.Minute), start.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	return f, ids
}

// TestTimelinePage: the page draws a bar per execution the viewer may see
// and a mark per outcome, tabulates them, filters by tactic, state and
// tool, and is linked from the mission's tabs.
func TestTimelinePage(t *testing.T) {
	t.Parallel()
	f, ids := timelineFixture(t)
	count := func(role, query string, sel string) int {
		t.Helper()
		r := f.app.GetAs(f.cookies[role], f.path("/timeline"+query))
		if r.Code != http.StatusOK {
			t.Fatalf("%s %s: status %d", role, query, r.Code)
		}
		return doc(t, r).Find(sel).Length()
	}
	r := f.app.GetAs(f.cookies["lead"], f.path("/timeline"))
	if r.Code != http.StatusOK {
		t.Fatalf("status %d", r.Code)
	}
	d := doc(t, r)
	svg := d.Find(`svg[data-testid="timeline-chart"]`)
	if svg.Length() != 1 {
		t.Fatal("no SVG")
	}
	if n := svg.Find(`[data-testid="timeline-bar"]`).Length(); n != 3 {
		t.Errorf("%d bars, want 3", n)
	}
	marks := svg.Find(`[data-testid="timeline-mark"]`)
	if marks.Length() != 2 {
		t.Fatalf("%d marks, want 2", marks.Length())
	}
	title := marks.First().Find("title").Text()
	for _, want := range []string{"Mimikatz", "Sentinel EDR", "Blocked", "Time to detect 5 min"} {
		if !strings.Contains(title, want) {
			t.Errorf("mark's tooltip %q lacks %q", title, want)
		}
	}
	if href, _ := marks.First().Attr("href"); href != f.path("/tests/"+ids["Mimikatz"].String()) {
		t.Errorf("mark links to %q", href)
	}
	if n := svg.Find(`[data-testid="timeline-host"]`).Length(); n != 2 {
		t.Errorf("%d host rows, want 2", n)
	}
	// The table: Mimikatz twice (two outcomes), Hidden and Recon once.
	rows := d.Find(`[data-testid="timeline-table"] [data-testid="timeline-row"]`)
	if rows.Length() != 4 {
		t.Errorf("%d table rows, want 4", rows.Length())
	}
	mimi := rows.Filter(`[data-test="` + ids["Mimikatz"].String() + `"]`)
	if ttd := strings.TrimSpace(mimi.Find(`[data-testid="timeline-row-ttd"]`).First().Text()); mimi.Length() != 2 || ttd != "5 min" {
		t.Errorf("Mimikatz: %d rows, first time to detect %q", mimi.Length(), ttd)
	}
	if d.Find(`[data-testid="mission-tab-timeline"][aria-current="page"]`).Length() != 1 {
		t.Error("the timeline tab is not current")
	}
	// Blue: the unreleased test is absent.
	if n := count("blue", "", `[data-testid="timeline-bar"]`); n != 2 {
		t.Errorf("blue sees %d bars, want 2", n)
	}
	if body := f.app.GetAs(f.cookies["blue"], f.path("/timeline")).Body.String(); strings.Contains(body, "Hidden") {
		t.Error("blue's timeline names the unreleased test")
	}
	// Filters.
	if n := count("lead", "?tactic=TA0007", `[data-testid="timeline-bar"]`); n != 1 {
		t.Errorf("tactic filter: %d bars", n)
	}
	if n := count("lead", "?state=executed", `[data-testid="timeline-bar"]`); n != 2 {
		t.Errorf("state filter: %d bars", n)
	}
	q := "?" + url.Values{"tool": {ids["siem"].String()}}.Encode()
	if n := count("lead", q, `[data-testid="timeline-mark"][data-tool="Splunk"]`); n != 1 {
		t.Errorf("tool filter: %d Splunk marks", n)
	}
	if n := count("lead", q, `[data-testid="timeline-mark"]`); n != 1 {
		t.Errorf("tool filter: %d marks", n)
	}
	if n := count("lead", "?day=2001-01-01", `[data-testid="timeline-empty"]`); n != 1 {
		t.Error("a day without executions does not say so")
	}
	// htmx gets the timeline alone.
	hx := f.app.GetAs(f.cookies["lead"], f.path("/timeline?state=running"), "HX-Request", "true")
	if hx.Code != http.StatusOK || strings.Contains(hx.Body.String(), "<html") ||
		doc(t, hx).Find(`[data-testid="timeline-bar"]`).Length() != 1 {
		t.Errorf("htmx: status %d, body %.200s", hx.Code, hx.Body.String())
	}
	// The overview links to the timeline.
	if n := count("observer", "", `[data-testid="timeline"]`); n != 1 {
		t.Error("an observer cannot read the timeline")
	}
	ov := doc(t, f.app.GetAs(f.cookies["lead"], f.path("")))
	if href, _ := ov.Find(`[data-testid="mission-tab-timeline"]`).Attr("href"); href != f.path("/timeline") {
		t.Errorf("the mission's tabs link to %q", href)
	}
}

// TestTimelineInTheReport: the report draws the whole mission's timeline,
// the unreleased test left out of blue's.
func TestTimelineInTheReport(t *testing.T) {
	t.Parallel()
	f, _ := timelineFixture(t)
	for role, want := range map[string]int{"lead": 3, "blue": 2} {
		r := f.app.GetAs(f.cookies[role], f.path("/report"))
		if r.Code != http.StatusOK {
			t.Fatalf("%s: status %d", role, r.Code)
		}
		tl := doc(t, r).Find(`[data-testid="report-timeline"] svg[data-testid="timeline-chart"]`)
		if n := tl.Find(`[data-testid="timeline-bar"]`).Length(); n != want {
			t.Errorf("%s: %d bars in the report, want %d", role, n, want)
		}
		if n := tl.Find(`[data-testid="timeline-mark"]`).Length(); n != 2 {
			t.Errorf("%s: %d marks in the report, want 2", role, n)
		}
	}
}

// TestTimelineQueryBudget: the timeline sends as many statements at 1,000
// started tests with outcomes as at 10, at most four with the session's
// and the viewer's access.
func TestTimelineQueryBudget(t *testing.T) {
	t.Parallel()
	measure := func(n int) (map[string]int64, int) {
		f := newOverviewFixture(t)
		srv, counter := countingServer(t, f.app)
		f.seedTests(t, n)
		// Every test started on a host of ten, each with an outcome of a
		// tool in scope.
		for _, q := range []string{
			`UPDATE mission_tests SET started_at = now() - interval '3 hours' + position * interval '10 seconds',
				ended_at = now() - interval '3 hours' + position * interval '10 seconds' + interval '5 minutes',
				target_host = 'host' || (position % 10) WHERE mission_id = $1`,
			`INSERT INTO defensive_tools (name, kind) VALUES ('Budget EDR', 'edr')`,
			`INSERT INTO mission_tools (mission_id, defensive_tool_id) SELECT $1, id FROM defensive_tools WHERE name = 'Budget EDR'`,
			`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id, detected_at)
				SELECT t.id, d.id, (SELECT id FROM detection_levels ORDER BY position LIMIT 1), t.started_at + interval '1 minute'
				FROM mission_tests t, defensive_tools d WHERE t.mission_id = $1 AND d.name = 'Budget EDR'`,
		} {
			args := []any{}
			if strings.Contains(q, "$1") {
				args = append(args, f.id)
			}
			if _, err := f.app.DB.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		out := map[string]int64{}
		bars := 0
		for _, role := range []string{"lead", "blue"} {
			status, q := countQueries(srv, counter, f.cookies[role], f.path("/timeline"))
			if status != http.StatusOK {
				t.Fatalf("%s: status %d", role, status)
			}
			out[role] = q
		}
		r := f.app.GetAs(f.cookies["lead"], f.path("/timeline?tactic=TA0002"))
		bars = doc(t, r).Find(`[data-testid="timeline-bar"]`).Length()
		return out, bars
	}
	small, bars10 := measure(10)
	big, bars1000 := measure(1000)
	if bars10 != 10 || bars1000 != 1000 {
		t.Errorf("bars drawn: %d of 10, %d of 1,000", bars10, bars1000)
	}
	for role, q := range big {
		if q != small[role] {
			t.Errorf("%s: %d statements for 1,000 tests, %d for 10", role, q, small[role])
		}
		if q > 4 {
			t.Errorf("%s: %d statements, budget 4", role, q)
		}
		t.Logf("%s: %d statements", role, q)
	}
}
