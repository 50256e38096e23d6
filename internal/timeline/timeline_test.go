package timeline_test

import (
	"context"
	"database/sql"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/testkit/testdb"
	"violet/internal/timeline"
	tlview "violet/views/timeline"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world is a mission with two tools in scope and five tests:
//   - "Mimikatz" on dc01, 10:00 → 10:20, released, tactic TA0006, with
//     the EDR's "Blocked" at 10:05 and the SIEM's "Logged" at 10:30;
//   - "Hidden" on dc01, 10:10 → 10:15, not released (blue never sees it);
//   - "Recon" on ws01 from 11:00, running, tactic TA0007;
//   - "Orphan" without a host at 12:00, executed with no end (a point);
//   - "Planned", never started (not on the timeline).
type world struct {
	db        *sql.DB
	client    *ent.Client
	mission   uuid.UUID
	users     map[string]uuid.UUID
	edr, siem uuid.UUID
	tests     map[string]uuid.UUID
}

var day = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func at(h, m int) time.Time {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	w := &world{db: db, client: client, users: map[string]uuid.UUID{}, tests: map[string]uuid.UUID{}}
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
	for _, role := range []string{"lead", "blue"} {
		w.users[role] = id(`INSERT INTO users (email, password_hash, display_name) VALUES ($1, 'x', $1) RETURNING id`, role+"@example.com")
	}
	w.mission = id(`INSERT INTO missions (name) VALUES ('Operation Violet') RETURNING id`)
	exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'lead'), ($1, $3, 'blue')`,
		w.mission, w.users["lead"], w.users["blue"])
	w.edr = id(`INSERT INTO defensive_tools (name, kind) VALUES ('Sentinel EDR', 'edr') RETURNING id`)
	w.siem = id(`INSERT INTO defensive_tools (name, kind) VALUES ('Splunk', 'siem') RETURNING id`)
	exec(`INSERT INTO mission_tools (mission_id, defensive_tool_id) VALUES ($1, $2), ($1, $3)`, w.mission, w.edr, w.siem)
	test := func(name, host, state string, released bool, start time.Time, end *time.Time, tactic string) uuid.UUID {
		tid := id(`INSERT INTO mission_tests (mission_id, name, platforms, state, released_to_blue, target_host, started_at, ended_at)
			VALUES ($1, $2, '[]', $3, $4, $5, $6, $7) RETURNING id`, w.mission, name, state, released, host, start, end)
		if tactic != "" {
			exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, tactics)
				VALUES ($1, 'technique', 'T0000', 'Technique', jsonb_build_array(jsonb_build_object('id', $2::text, 'name', 'Tactic ' || $2::text)))`,
				tid, tactic)
		}
		w.tests[name] = tid
		return tid
	}
	end := func(h, m int) *time.Time { v := at(h, m); return &v }
	mimi := test("Mimikatz", "dc01", "executed", true, at(10, 0), end(10, 20), "TA0006")
	test("Hidden", "dc01", "executed", false, at(10, 10), end(10, 15), "TA0006")
	test("Recon", "ws01", "running", true, at(11, 0), nil, "TA0007")
	test("Orphan", "", "executed", true, at(12, 0), nil, "")
	exec(`INSERT INTO mission_tests (mission_id, name, platforms) VALUES ($1, 'Planned', '[]')`, w.mission)
	exec(`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id, detected_at)
		VALUES ($1, $2, (SELECT id FROM detection_levels WHERE name = 'Blocked'), $4),
		       ($1, $3, (SELECT id FROM detection_levels WHERE name = 'Logged'), $5)`,
		mimi, w.edr, w.siem, at(10, 5), at(10, 30))
	return w
}

func (w *world) load(t *testing.T, role string, zone *time.Location, q url.Values) tlview.Page {
	t.Helper()
	v := auth.NewViewer(w.users[role], role+"@example.com", role, "en", uuid.New(), nil, []string{string(auth.MissionRead)})
	ctx := i18n.WithZone(auth.NewContext(context.Background(), v), zone)
	a, err := mission.Load(ctx, w.client, v, w.mission)
	if err != nil {
		t.Fatal(err)
	}
	p, err := timeline.Load(ctx, w.client, w.db, a, timeline.FilterOf(q), at(13, 0))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func names(p tlview.Page) []string {
	var out []string
	for _, b := range p.Chart.Bars {
		out = append(out, b.Name)
	}
	slices.Sort(out)
	return out
}

func bar(t *testing.T, p tlview.Page, name string) tlview.Bar {
	t.Helper()
	for _, b := range p.Chart.Bars {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no bar %q in %v", name, names(p))
	return tlview.Bar{}
}

func TestTimelineRowsBarsAndMarks(t *testing.T) {
	t.Parallel()
	w := setup(t)
	p := w.load(t, "lead", time.UTC, nil)
	if got, want := names(p), []string{"Hidden", "Mimikatz", "Orphan", "Recon"}; !slices.Equal(got, want) {
		t.Fatalf("bars %v, want %v (the planned test has no start)", got, want)
	}
	// One row per host by name, the row without a host last; dc01 has two
	// lanes, as its two executions overlap.
	var hosts []string
	for _, h := range p.Chart.Hosts {
		hosts = append(hosts, h.Name)
	}
	if !slices.Equal(hosts, []string{"dc01", "ws01", ""}) {
		t.Fatalf("hosts %q", hosts)
	}
	if dc, ws := p.Chart.Hosts[0], p.Chart.Hosts[1]; dc.H <= ws.H {
		t.Errorf("dc01's row (%v) is not taller than ws01's (%v): overlapping bars share a lane", dc.H, ws.H)
	}
	mimi, hidden := bar(t, p, "Mimikatz"), bar(t, p, "Hidden")
	if mimi.CY == hidden.CY || mimi.W <= hidden.W || mimi.Point {
		t.Errorf("overlapping bars: %+v and %+v", mimi, hidden)
	}
	// The running test's bar ends now (13:00, the end of the range); the
	// test without an end is a point.
	recon, orphan := bar(t, p, "Recon"), bar(t, p, "Orphan")
	xNow := p.Chart.PlotX0 + (p.Chart.PlotX1-p.Chart.PlotX0)*at(13, 0).Sub(p.From).Seconds()/p.To.Sub(p.From).Seconds()
	if d := recon.X + recon.W - xNow; !recon.Running || d > 0.01 || d < -0.01 {
		t.Errorf("running bar %+v does not reach now (%v)", recon, xNow)
	}
	if !orphan.Point {
		t.Errorf("a test without an end is not a point: %+v", orphan)
	}
	// Two marks on Mimikatz's lane, with their tool, level and time to
	// detect, the line starting at the bar's start.
	if len(p.Chart.Marks) != 2 {
		t.Fatalf("%d marks, want 2", len(p.Chart.Marks))
	}
	got := map[string]tlview.Mark{}
	for _, m := range p.Chart.Marks {
		got[m.Tool] = m
		if m.Y != mimi.CY || m.X0 != mimi.X || m.TestID != mimi.TestID {
			t.Errorf("mark %+v is not on Mimikatz's bar %+v", m, mimi)
		}
	}
	if m := got["Sentinel EDR"]; m.Level != "Blocked" || m.TTD != 5*time.Minute || m.LevelClass == "" {
		t.Errorf("EDR mark %+v", m)
	}
	if m := got["Splunk"]; m.Level != "Logged" || m.TTD != 30*time.Minute || m.X <= mimi.X+mimi.W {
		t.Errorf("SIEM mark %+v (detected after the end of the bar)", m)
	}
	// The table: a line per outcome, one per test without any.
	if len(p.Rows) != 5 {
		t.Errorf("%d table rows, want 5", len(p.Rows))
	}
	for _, r := range p.Rows {
		if r.TestName == "Mimikatz" && (r.TTD == nil || !r.HasOutcome) {
			t.Errorf("row %+v has no time to detect", r)
		}
	}
	// The whole mission is the preset shown; its range fields stay empty,
	// so the range follows the executions to come.
	if !p.Presets[0].Current || p.FromInput != "" || p.ToInput != "" {
		t.Errorf("presets %+v, range fields %q %q", p.Presets, p.FromInput, p.ToInput)
	}
	// The tool filter lists the scope, by name.
	if len(p.Tools) != 2 || p.Tools[0].Label != "Sentinel EDR" || p.Tools[1].Label != "Splunk" {
		t.Errorf("tools %+v", p.Tools)
	}
	if len(p.Tactics) != 2 || p.Tactics[0].Value != "TA0006" {
		t.Errorf("tactics %+v", p.Tactics)
	}
}

func TestTimelineBlueSeesReleasedTestsOnly(t *testing.T) {
	t.Parallel()
	w := setup(t)
	p := w.load(t, "blue", time.UTC, nil)
	if got, want := names(p), []string{"Mimikatz", "Orphan", "Recon"}; !slices.Equal(got, want) {
		t.Fatalf("blue sees %v, want %v", got, want)
	}
	for _, r := range p.Rows {
		if r.TestName == "Hidden" {
			t.Errorf("the unreleased test is in blue's table")
		}
	}
	// Alone on its host now, Mimikatz takes one lane.
	if dc, ws := p.Chart.Hosts[0], p.Chart.Hosts[1]; dc.H != ws.H {
		t.Errorf("dc01's row %v, ws01's %v", dc.H, ws.H)
	}
}

func TestTimelineFilters(t *testing.T) {
	t.Parallel()
	w := setup(t)
	cases := []struct {
		name  string
		q     url.Values
		bars  []string
		marks int
	}{
		{"tactic", url.Values{"tactic": {"TA0007"}}, []string{"Recon"}, 0},
		{"state", url.Values{"state": {"executed"}}, []string{"Hidden", "Mimikatz", "Orphan"}, 2},
		{"tool", url.Values{"tool": {w.edr.String()}}, []string{"Hidden", "Mimikatz", "Orphan", "Recon"}, 1},
		{"range", url.Values{"from": {"2026-11-20T10:50"}, "to": {"2026-11-20T11:30"}}, []string{"Recon"}, 0},
		{"day", url.Values{"day": {"2026-11-21"}}, nil, 0},
		{"unknown values", url.Values{"state": {"lost"}, "tool": {"x"}, "from": {"yesterday"}}, []string{"Hidden", "Mimikatz", "Orphan", "Recon"}, 2},
	}
	for _, c := range cases {
		p := w.load(t, "lead", time.UTC, c.q)
		if got := names(p); !slices.Equal(got, c.bars) {
			t.Errorf("%s: bars %v, want %v", c.name, got, c.bars)
		}
		if len(p.Chart.Marks) != c.marks {
			t.Errorf("%s: %d marks, want %d", c.name, len(p.Chart.Marks), c.marks)
		}
		if p.Tests != len(c.bars) {
			t.Errorf("%s: %d tests counted, want %d", c.name, p.Tests, len(c.bars))
		}
	}
	p := w.load(t, "lead", time.UTC, url.Values{"tool": {w.edr.String()}})
	if m := p.Chart.Marks[0]; m.Tool != "Sentinel EDR" {
		t.Errorf("tool filter draws %q's mark", m.Tool)
	}
}

// The axis and the range are in the viewer's zone: 10:00 UTC is 11:00 in
// Paris, and the day preset is Paris' day.
func TestTimelineInTheViewersZone(t *testing.T) {
	t.Parallel()
	w := setup(t)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no zone database")
	}
	p := w.load(t, "lead", paris, url.Values{"from": {"2026-11-20T11:00"}, "to": {"2026-11-20T14:00"}})
	if !p.From.Equal(at(10, 0)) || !p.To.Equal(at(13, 0)) {
		t.Fatalf("range %v → %v, want 10:00 → 13:00 UTC", p.From, p.To)
	}
	if p.FromInput != "2026-11-20T11:00" {
		t.Errorf("from input %q", p.FromInput)
	}
	var labels []string
	for _, tk := range p.Chart.Ticks {
		labels = append(labels, tk.Time)
	}
	if len(labels) == 0 || labels[0] != "11:00" || p.Chart.Ticks[0].Date != "2026-11-20" {
		t.Errorf("ticks %v", p.Chart.Ticks)
	}
	if x := p.Chart.Ticks[0].X; x != p.Chart.PlotX0 {
		t.Errorf("the first tick (11:00 Paris, the range's start) at %v, want %v", x, p.Chart.PlotX0)
	}
	var days []string
	for _, pr := range p.Presets {
		days = append(days, pr.Day)
	}
	if !slices.Contains(days, "2026-11-20") {
		t.Errorf("presets %v", days)
	}
}
