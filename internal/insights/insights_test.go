package insights_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/insights"
	"violet/internal/testkit/testdb"
	views "violet/views/insights"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world holds three missions counted and two that are not:
//   - "Alpha", ended 2026-01-10, labels acme: three executed tests of
//     T1059.001 (Execution), one detected; a T1003 test (Credential
//     Access) missed; the EDR in scope, which detected one test, and a
//     running test the EDR logged (one more chance for the EDR);
//   - "Bravo", ended 2026-03-10, labels acme and q1: three T1059.001
//     tests, two detected; the EDR in scope, detecting both;
//   - "Charlie", no end date, last run 2026-05-02: three T1059.001 tests,
//     all detected, and an executed test without a level (counted for
//     no tactic); no tool in scope;
//   - "Deleted" (soft-deleted) and "Planned" (nothing executed) are left
//     out.
type world struct {
	db                 *sql.DB
	detected, missed   uuid.UUID
	edr                uuid.UUID
	alpha, bravo, char uuid.UUID
}

func setup(t *testing.T) *world {
	t.Helper()
	db, _, _ := testdb.Open(t)
	w := &world{db: db}
	id := func(q string, args ...any) uuid.UUID {
		t.Helper()
		var v uuid.UUID
		if err := db.QueryRow(q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	w.detected = id(`SELECT id FROM detection_levels WHERE counts_as_detected ORDER BY score DESC LIMIT 1`)
	w.missed = id(`SELECT id FROM detection_levels WHERE NOT counts_as_detected ORDER BY score LIMIT 1`)
	w.edr = id(`INSERT INTO defensive_tools (name, kind) VALUES ('Sentinel EDR', 'edr') RETURNING id`)
	mission := func(name string, end any, labels string) uuid.UUID {
		return id(`INSERT INTO missions (name, end_date, labels) VALUES ($1, $2, $3) RETURNING id`, name, end, labels)
	}
	test := func(m uuid.UUID, state string, ended time.Time, level uuid.UUID, technique, tactic, tacticName string) uuid.UUID {
		var lv any
		if level != uuid.Nil {
			lv = level
		}
		tid := id(`INSERT INTO mission_tests (mission_id, name, platforms, state, started_at, ended_at, detection_level_id)
			VALUES ($1, 'Test', '[]', $2, $3, $4, $5) RETURNING id`, m, state, ended.Add(-5*time.Minute), ended, lv)
		if technique != "" {
			exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, tactics)
				VALUES ($1, 'subtechnique', $2::text, 'Technique ' || $2::text,
				jsonb_build_array(jsonb_build_object('id', $3::text, 'name', $4::text)))`, tid, technique, tactic, tacticName)
		}
		return tid
	}
	outcome := func(test, level uuid.UUID) {
		exec(`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id) VALUES ($1, $2, $3)`, test, w.edr, level)
	}
	d := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	w.alpha = mission("Alpha", "2026-01-10", `["acme"]`)
	exec(`INSERT INTO mission_tools (mission_id, defensive_tool_id) VALUES ($1, $2)`, w.alpha, w.edr)
	a1 := test(w.alpha, "executed", d("2026-01-09 10:00"), w.detected, "T1059.001", "TA0002", "Execution")
	a2 := test(w.alpha, "reviewed", d("2026-01-09 11:00"), w.missed, "T1059.001", "TA0002", "Execution")
	test(w.alpha, "executed", d("2026-01-09 12:00"), w.missed, "T1059.001", "TA0002", "Execution")
	test(w.alpha, "executed", d("2026-01-09 13:00"), w.missed, "T1003", "TA0006", "Credential Access")
	running := test(w.alpha, "running", d("2026-01-09 14:00"), uuid.Nil, "", "", "")
	outcome(a1, w.detected)
	outcome(a2, w.missed)
	outcome(running, w.missed)

	w.bravo = mission("Bravo", "2026-03-10", `["acme", "q1"]`)
	exec(`INSERT INTO mission_tools (mission_id, defensive_tool_id) VALUES ($1, $2)`, w.bravo, w.edr)
	b1 := test(w.bravo, "executed", d("2026-03-09 10:00"), w.detected, "T1059.001", "TA0002", "Execution")
	b2 := test(w.bravo, "executed", d("2026-03-09 11:00"), w.detected, "T1059.001", "TA0002", "Execution")
	test(w.bravo, "executed", d("2026-03-09 12:00"), w.missed, "T1059.001", "TA0002", "Execution")
	outcome(b1, w.detected)
	outcome(b2, w.detected)

	w.char = mission("Charlie", nil, `[]`)
	for _, h := range []string{"08:00", "09:00", "10:00"} {
		test(w.char, "executed", d("2026-05-02 "+h), w.detected, "T1059.001", "TA0002", "Execution")
	}
	test(w.char, "executed", d("2026-05-01 10:00"), uuid.Nil, "T1059.001", "TA0002", "Execution")

	gone := mission("Deleted", "2026-02-01", `["acme"]`)
	exec(`UPDATE missions SET deleted_at = now() WHERE id = $1`, gone)
	test(gone, "executed", d("2026-02-01 10:00"), w.missed, "T1059.001", "TA0002", "Execution")
	planned := mission("Planned", "2026-04-01", `["later"]`)
	test(planned, "pending", d("2026-04-01 10:00"), uuid.Nil, "T1059.001", "TA0002", "Execution")
	return w
}

// as is a context whose viewer holds the codes.
func as(codes ...auth.Permission) context.Context {
	var cs []string
	for _, c := range codes {
		cs = append(cs, string(c))
	}
	v := auth.NewViewer(uuid.New(), "lead@example.com", "Lead", "en", uuid.New(), nil, cs)
	return auth.NewContext(context.Background(), v)
}

func load(t *testing.T, w *world, q url.Values) views.Page {
	t.Helper()
	p, err := insights.Load(as(auth.InsightsRead), w.db, insights.FilterOf(q))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func names(p views.Page) []string {
	var out []string
	for _, m := range p.Missions {
		out = append(out, m.Name)
	}
	return out
}

// column is the cells of one series over the chart's rows, as
// "detected/tests" ("" where the mission has none).
func column(c views.Chart, key string) []string {
	var out []string
	for _, r := range c.Rows {
		cell := ""
		for _, x := range r.Cells {
			if x.Key == key && x.Tests > 0 {
				cell = itoa(x.Detected) + "/" + itoa(x.Tests)
			}
		}
		out = append(out, cell)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestMissionsInDateOrder(t *testing.T) {
	w := setup(t)
	p := load(t, w, nil)
	if got := names(p); !slices.Equal(got, []string{"Alpha", "Bravo", "Charlie"}) {
		t.Fatalf("missions %v, want Alpha, Bravo, Charlie (deleted and never executed left out)", got)
	}
	c := p.Missions[2]
	if c.Ended || c.DayText() != "2026-05-02" {
		t.Errorf("Charlie dated %s (ended %v), want its last execution's day 2026-05-02, not ended", c.DayText(), c.Ended)
	}
	if !p.Missions[0].Ended || p.Missions[0].DayText() != "2026-01-10" {
		t.Errorf("Alpha dated %s, want its end date", p.Missions[0].DayText())
	}
	if !slices.Equal(p.Labels, []string{"acme", "later", "q1"}) {
		t.Errorf("labels %v, want every label of a mission not deleted", p.Labels)
	}
}

func TestRatePerTacticRises(t *testing.T) {
	w := setup(t)
	p := load(t, w, nil)
	if got := column(p.Tactics, "TA0002"); !slices.Equal(got, []string{"1/3", "2/3", "3/3"}) {
		t.Errorf("Execution per mission %v, want 1/3 2/3 3/3 (the test without a level left out)", got)
	}
	if got := column(p.Tactics, "TA0006"); !slices.Equal(got, []string{"0/1", "", ""}) {
		t.Errorf("Credential Access per mission %v, want 0/1 in Alpha only", got)
	}
	// The largest series is drawn first; its dots rise (y decreases).
	if len(p.Tactics.Lines) == 0 || p.Tactics.Lines[0].Key != "TA0002" {
		t.Fatalf("lines %+v, want Execution first", p.Tactics.Lines)
	}
	dots := p.Tactics.Lines[0].Dots
	if len(dots) != 3 || !(dots[0].Y > dots[1].Y && dots[1].Y > dots[2].Y) || !(dots[0].X < dots[1].X && dots[1].X < dots[2].X) {
		t.Errorf("Execution's dots %+v, want three rising left to right", dots)
	}
	if rates := []int{dots[0].Rate, dots[1].Rate, dots[2].Rate}; !slices.Equal(rates, []int{33, 67, 100}) {
		t.Errorf("rates %v, want 33 67 100", rates)
	}
}

func TestRatePerTool(t *testing.T) {
	w := setup(t)
	p := load(t, w, nil)
	// Alpha: 4 executed tests + the running one with an outcome, 1
	// detected; Bravo: 3 executed, 2 detected; Charlie: not in scope.
	if got := column(p.Tools, w.edr.String()); !slices.Equal(got, []string{"1/5", "2/3", ""}) {
		t.Errorf("EDR per mission %v, want 1/5 2/3 and nothing for Charlie", got)
	}
	if len(p.Tools.Series) != 1 || p.Tools.Series[0].Name != "Sentinel EDR" {
		t.Errorf("tool series %+v", p.Tools.Series)
	}
}

func TestLatestCoverage(t *testing.T) {
	w := setup(t)
	p := load(t, w, nil)
	got := map[string]string{}
	for _, g := range p.Coverage {
		for _, te := range g.Techniques {
			got[g.ID+" "+te.ID] = te.Mission.Name + " " + itoa(boolInt(te.Detected))
		}
	}
	want := map[string]string{
		"TA0002 T1059.001": "Charlie 1", // the latest mission
		"TA0006 T1003":     "Alpha 0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("coverage %v, want %v", got, want)
	}
	// Filtered to Alpha's date, T1059.001 is Alpha's: the best level of
	// its tests (one detected).
	p = load(t, w, url.Values{"to": {"2026-01-31"}})
	for _, g := range p.Coverage {
		for _, te := range g.Techniques {
			if te.ID == "T1059.001" && (te.Mission.Name != "Alpha" || !te.Detected) {
				t.Errorf("T1059.001 up to January: %s detected %v, want Alpha's best level (detected)", te.Mission.Name, te.Detected)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestFilters(t *testing.T) {
	w := setup(t)
	for _, c := range []struct {
		q    url.Values
		want []string
	}{
		{url.Values{"label": {"acme"}}, []string{"Alpha", "Bravo"}},
		{url.Values{"label": {"q1"}}, []string{"Bravo"}},
		{url.Values{"label": {"nobody"}}, nil},
		{url.Values{"from": {"2026-02-01"}}, []string{"Bravo", "Charlie"}},
		{url.Values{"to": {"2026-04-01"}}, []string{"Alpha", "Bravo"}},
		{url.Values{"from": {"2026-03-10"}, "to": {"2026-03-10"}}, []string{"Bravo"}},
		{url.Values{"from": {"not a date"}}, []string{"Alpha", "Bravo", "Charlie"}},
	} {
		p := load(t, w, c.q)
		if got := names(p); !slices.Equal(got, c.want) {
			t.Errorf("%v: missions %v, want %v", c.q, got, c.want)
		}
	}
	p := load(t, w, url.Values{"label": {"acme"}})
	if got := column(p.Tactics, "TA0002"); !slices.Equal(got, []string{"1/3", "2/3"}) {
		t.Errorf("acme's Execution %v, want 1/3 2/3", got)
	}
	if got := p.CSV[views.ChartTactics]; got != "/insights.csv?chart=tactics&label=acme" {
		t.Errorf("CSV link %q keeps the filter?", got)
	}
}

func TestNeedsThePermission(t *testing.T) {
	w := setup(t)
	if _, err := insights.Load(as(auth.MissionRead, auth.MissionReadAll), w.db, views.Filter{}); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("without insights.read: %v, want ErrForbidden", err)
	}
	if _, err := insights.CSV(as(auth.MissionRead), w.db, views.Filter{}, views.ChartTactics); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("CSV without insights.read: %v, want ErrForbidden", err)
	}
	if _, err := insights.CSV(as(auth.InsightsRead), w.db, views.Filter{}, "bogus"); !errors.Is(err, app.ErrInvalid) {
		t.Errorf("unknown chart: %v, want ErrInvalid", err)
	}
}

func TestCSV(t *testing.T) {
	w := setup(t)
	read := func(chart string) [][]string {
		t.Helper()
		f, err := insights.CSV(as(auth.InsightsRead), w.db, views.Filter{}, chart)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(strings.NewReader(string(f.Data))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	var got []string
	for _, r := range read(views.ChartTactics)[1:] {
		if r[4] == "TA0002" {
			got = append(got, r[1]+" "+r[2]+" "+r[6]+" "+r[7]+" "+r[8])
		}
	}
	want := []string{"Alpha 2026-01-10 3 1 33", "Bravo 2026-03-10 3 2 67", "Charlie 2026-05-02 3 3 100"}
	if !slices.Equal(got, want) {
		t.Errorf("tactics CSV %v, want %v", got, want)
	}
	tools := read(views.ChartTools)
	if len(tools) != 3 || tools[1][5] != "Sentinel EDR" || tools[1][6] != "5" || tools[2][8] != "67" {
		t.Errorf("tools CSV %v", tools)
	}
	cov := read(views.ChartCoverage)
	if len(cov) != 3 || cov[0][2] != "technique_id" {
		t.Errorf("coverage CSV %v", cov)
	}
}

func TestCSVCellsAreNotFormulas(t *testing.T) {
	w := setup(t)
	if _, err := w.db.Exec(`UPDATE missions SET name = '=HYPERLINK("x")' WHERE id = $1`, w.alpha); err != nil {
		t.Fatal(err)
	}
	f, err := insights.CSV(as(auth.InsightsRead), w.db, views.Filter{}, views.ChartTactics)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(f.Data), `'=HYPERLINK`) {
		t.Errorf("a formula-like mission name is not neutralised:\n%s", f.Data)
	}
}

func TestLayer(t *testing.T) {
	w := setup(t)
	f, err := insights.Layer(as(auth.InsightsRead), w.db, views.Filter{Label: "acme"}, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var layer struct {
		Domain     string `json:"domain"`
		Techniques []struct {
			ID      string `json:"techniqueID"`
			Score   *int   `json:"score"`
			Color   string `json:"color"`
			Comment string `json:"comment"`
		} `json:"techniques"`
	}
	if err := json.Unmarshal(f.Data, &layer); err != nil {
		t.Fatalf("%v\n%s", err, f.Data)
	}
	var detectedScore, missedScore int
	var detectedColour string
	if err := w.db.QueryRow(`SELECT score, colour FROM detection_levels WHERE id = $1`, w.detected).Scan(&detectedScore, &detectedColour); err != nil {
		t.Fatal(err)
	}
	if err := w.db.QueryRow(`SELECT score FROM detection_levels WHERE id = $1`, w.missed).Scan(&missedScore); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, te := range layer.Techniques {
		score := -1
		if te.Score != nil {
			score = *te.Score
		}
		got[te.ID] = strconv.Itoa(score) + " " + te.Color + " " + te.Comment
	}
	// With the acme label, T1059.001's latest result is Bravo's best
	// level (detected); T1003's is Alpha's miss.
	if g := got["T1059.001"]; !strings.HasPrefix(g, strconv.Itoa(detectedScore)+" "+detectedColour) || !strings.Contains(g, "Bravo (2026-03-10)") {
		t.Errorf("T1059.001 in the layer: %q", g)
	}
	if g := got["T1003"]; !strings.HasPrefix(g, strconv.Itoa(missedScore)+" ") || !strings.Contains(g, "Alpha") {
		t.Errorf("T1003 in the layer: %q", g)
	}
	if len(got) != 2 || layer.Domain != "enterprise-attack" {
		t.Errorf("layer of %d techniques (domain %q): %v", len(got), layer.Domain, got)
	}
	if _, err := insights.Layer(as(auth.MissionReadAll), w.db, views.Filter{}, time.Now()); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("layer without insights.read: %v", err)
	}
}
