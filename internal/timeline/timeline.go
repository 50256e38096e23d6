// Package timeline is the read model of a mission's execution timeline
// (/missions/{id}/timeline, views/timeline): the tests the viewer may see
// that have started, as bars on a row per target host, and the outcomes
// per defensive tool as marks on their test's bar, with the time to
// detect between the two.
//
// It reads in two statements whatever the mission's size: the tests with
// their tactics and outcomes folded into columns, through ent with the
// request's context so the privacy policy of mission tests applies (blue
// members never see unreleased tests; an outcome is seen with its test, as
// on the test page, internal/mission/outcomepage.go), and the tools in the
// mission's scope for the tool filter. The filters and the zoom are
// applied here in Go to the rows read: the tactics list and the day
// presets need every started test anyway.
package timeline

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/paths"
	"violet/views/missionpage"
	"violet/views/scale"
	tlview "violet/views/timeline"
)

// Outcome is one tool's outcome of a test.
type Outcome struct {
	ToolID     *uuid.UUID `json:"tool_id"`
	ToolName   *string    `json:"tool_name"`
	LevelID    *uuid.UUID `json:"level_id"`
	LevelName  *string    `json:"level_name"`
	DetectedAt *time.Time `json:"detected_at"`
}

// Test is one started test with what the timeline shows of it.
type Test struct {
	ID        uuid.UUID
	Name      string
	State     string
	Host      string
	StartedAt time.Time
	EndedAt   *time.Time
	TacticIDs []string
	Tactics   []tlview.Option
	Outcomes  []Outcome
}

// line is one row of the test query, scanned by column name.
type line struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	State      string     `json:"state"`
	TargetHost string     `json:"target_host"`
	StartedAt  *time.Time `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	TacticText string     `json:"tactic_text"`
	Outcomes   []Outcome  `json:"outcomes"` // a JSON array, decoded by ScanSlice
}

// Separators of the folded tactics: the ASCII record and unit separators,
// which ATT&CK IDs and names never hold.
const (
	recordSep = "\x1e"
	unitSep   = "\x1f"
)

// tacticsSQL folds the tactics of the query's test into "id␟name␞…": a
// tactic tag's own, and those copied with every technique's tag.
func tacticsSQL(s *entsql.Selector) string {
	id := s.C(missiontest.FieldID)
	return `coalesce((SELECT string_agg(DISTINCT x.id || E'\x1f' || x.name, E'\x1e') FROM (
		SELECT g.external_id AS id, g.name FROM mission_test_mitre_tags g WHERE g.mission_test_id = ` + id + ` AND g.kind = 'tactic'
		UNION SELECT e->>'id', coalesce(e->>'name', '') FROM mission_test_mitre_tags g,
			jsonb_array_elements(coalesce(g.tactics, '[]'::jsonb)) e
		WHERE g.mission_test_id = ` + id + ` AND g.kind <> 'tactic' AND e->>'id' IS NOT NULL) x), '')`
}

// outcomesSQL folds the outcomes of the query's test into a JSON array,
// with their tool's and level's names, the tools by name.
func outcomesSQL(s *entsql.Selector) string {
	return `coalesce((SELECT json_agg(json_build_object('tool_id', o.tool_id, 'tool_name', ot.name,
		'level_id', o.detection_level_id, 'level_name', ol.name, 'detected_at', o.detected_at)
		ORDER BY lower(ot.name) NULLS LAST, o.id)
		FROM mission_test_outcomes o LEFT JOIN defensive_tools ot ON ot.id = o.tool_id
		LEFT JOIN detection_levels ol ON ol.id = o.detection_level_id
		WHERE o.mission_test_id = ` + s.C(missiontest.FieldID) + `), '[]')`
}

// Tests reads the started tests of the mission the viewer may see, in
// order of their start, in one statement.
func Tests(ctx context.Context, client *ent.Client, a *mission.Access) ([]Test, error) {
	var lines []line
	err := client.MissionTest.Query().
		Where(missiontest.MissionID(a.Mission.ID), missiontest.StartedAtNotNil()).
		Order(ent.Asc(missiontest.FieldStartedAt), ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID)).
		Select(missiontest.FieldID, missiontest.FieldName, missiontest.FieldState, missiontest.FieldTargetHost,
			missiontest.FieldStartedAt, missiontest.FieldEndedAt).
		Aggregate(
			func(s *entsql.Selector) string { return entsql.As(tacticsSQL(s), "tactic_text") },
			func(s *entsql.Selector) string { return entsql.As(outcomesSQL(s), "outcomes") },
		).
		Scan(ctx, &lines)
	if err != nil {
		return nil, fmt.Errorf("load timeline tests: %w", err)
	}
	out := make([]Test, 0, len(lines))
	for _, l := range lines {
		if l.StartedAt == nil {
			continue
		}
		t := Test{ID: l.ID, Name: l.Name, State: l.State, Host: strings.TrimSpace(l.TargetHost),
			StartedAt: *l.StartedAt, EndedAt: l.EndedAt, Outcomes: l.Outcomes}
		if l.TacticText != "" {
			for rec := range strings.SplitSeq(l.TacticText, recordSep) {
				id, name, _ := strings.Cut(rec, unitSep)
				t.TacticIDs = append(t.TacticIDs, id)
				t.Tactics = append(t.Tactics, tlview.Option{Value: id, Label: name})
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// scopeTools reads the tools in the mission's scope (deleted ones left
// out), by name, for the tool filter: the registry is readable by
// everyone signed in.
func scopeTools(ctx context.Context, db *sql.DB, missionID uuid.UUID) ([]tlview.Option, error) {
	rows, err := db.QueryContext(ctx, `SELECT t.id, t.name FROM mission_tools ms
		JOIN defensive_tools t ON t.id = ms.defensive_tool_id AND t.deleted_at IS NULL
		WHERE ms.mission_id = $1 ORDER BY lower(t.name), t.id`, missionID)
	if err != nil {
		return nil, fmt.Errorf("load timeline tools: %w", err)
	}
	defer rows.Close()
	var out []tlview.Option
	for rows.Next() {
		var o tlview.Option
		if err := rows.Scan(&o.Value, &o.Label); err != nil {
			return nil, fmt.Errorf("load timeline tools: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// FilterOf reads the page's query string. Unknown values fall back to the
// defaults (the URL is often typed or shared): an unknown state or tool
// shows everything, a date that does not parse is left out.
func FilterOf(q url.Values) tlview.Filter {
	f := tlview.Filter{
		Tactic: cut(strings.TrimSpace(q.Get("tactic")), 20),
		Tool:   strings.TrimSpace(q.Get("tool")),
		From:   cut(strings.TrimSpace(q.Get("from")), 19),
		To:     cut(strings.TrimSpace(q.Get("to")), 19),
		Day:    strings.TrimSpace(q.Get("day")),
	}
	if _, err := uuid.Parse(f.Tool); err != nil {
		f.Tool = ""
	}
	if s := q.Get("state"); slices.Contains(missionpage.States(), s) {
		f.State = s
	}
	if q.Get("range") == tlview.RangeDay {
		f.Range = tlview.RangeDay
	}
	if _, err := time.Parse(time.DateOnly, f.Day); err != nil {
		f.Day = ""
	}
	return f
}

// cut keeps the first n bytes of an ASCII value (longer ones are not
// valid anyway).
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Load builds the timeline page: the tests the filter and the range keep,
// drawn (chart.go) and tabulated, now being the end of a running test's
// bar. Times are shown in the viewer's zone (i18n.Zone of ctx).
func Load(ctx context.Context, client *ent.Client, db *sql.DB, a *mission.Access, f tlview.Filter, now time.Time) (tlview.Page, error) {
	p := tlview.Page{MissionID: a.Mission.ID.String(), Name: a.Mission.Name, CanManage: a.CanManage(),
		Filter: f, States: missionpage.States()}
	tools, err := scopeTools(ctx, db, a.Mission.ID)
	if err != nil {
		return p, err
	}
	tests, err := Tests(ctx, client, a)
	if err != nil {
		return p, err
	}
	p.Tools = toolOptions(tools, tests)
	p.Tactics = tacticOptions(tests)
	kept := make([]Test, 0, len(tests))
	for _, t := range tests {
		if keeps(f, t) {
			kept = append(kept, t)
		}
	}
	loc := i18n.Zone(ctx)
	from, to := rangeOf(ctx, f, kept, now)
	p.From, p.To = from, to
	// The range fields keep what was typed: left empty, the preset's range
	// (the whole mission by default) follows the executions as they come.
	if _, err := i18n.ParseLocal(ctx, f.From); err == nil {
		p.FromInput = i18n.LocalInput(ctx, from)
	}
	if _, err := i18n.ParseLocal(ctx, f.To); err == nil {
		p.ToInput = i18n.LocalInput(ctx, to)
	}
	p.Presets = presets(p.MissionID, f, tests, loc)
	var shown []Test
	for _, t := range kept {
		if s, e := t.StartedAt, endOf(t, now); !e.Before(from) && !s.After(to) {
			shown = append(shown, t)
		}
	}
	p.Tests = len(shown)
	p.Chart = draw(ctx, p.MissionID, shown, f.Tool, from, to, now)
	p.Rows = rows(p.MissionID, shown, f.Tool)
	return p, nil
}

// keeps reports whether the filter keeps a test. The tool filter keeps
// every execution (one without that tool's mark is one it missed) and
// draws that tool's marks only.
func keeps(f tlview.Filter, t Test) bool {
	if f.State != "" && t.State != f.State {
		return false
	}
	if f.Tactic != "" && !slices.Contains(t.TacticIDs, f.Tactic) {
		return false
	}
	return true
}

// endOf is where a test's bar ends: its end, now while it runs, its start
// without an end (a point).
func endOf(t Test, now time.Time) time.Time {
	switch {
	case t.EndedAt != nil:
		return *t.EndedAt
	case t.State == string(missiontest.StateRunning) && now.After(t.StartedAt):
		return now
	}
	return t.StartedAt
}

// shownOutcome reports whether an outcome is drawn under the tool filter.
func shownOutcome(o Outcome, tool string) bool {
	return tool == "" || (o.ToolID != nil && o.ToolID.String() == tool)
}

// rangeOf is the range drawn: the one typed (from, to), the last 24
// hours, a day of the viewer's zone, or the whole of the kept tests'
// executions and detections (a day around now without any).
func rangeOf(ctx context.Context, f tlview.Filter, tests []Test, now time.Time) (time.Time, time.Time) {
	loc := i18n.Zone(ctx)
	var from, to time.Time
	for _, t := range tests {
		if from.IsZero() || t.StartedAt.Before(from) {
			from = t.StartedAt
		}
		if e := endOf(t, now); e.After(to) {
			to = e
		}
		for _, o := range t.Outcomes {
			if o.DetectedAt != nil && shownOutcome(o, f.Tool) {
				if o.DetectedAt.After(to) {
					to = *o.DetectedAt
				}
				if o.DetectedAt.Before(from) {
					from = *o.DetectedAt
				}
			}
		}
	}
	if from.IsZero() {
		from, to = now.Add(-24*time.Hour), now
	} else {
		// A margin, so the first bar and the last mark are not on the
		// chart's edges.
		pad := max(to.Sub(from)/40, time.Minute)
		from, to = from.Add(-pad), to.Add(pad)
	}
	switch {
	case f.Day != "":
		if d, err := time.ParseInLocation(time.DateOnly, f.Day, loc); err == nil {
			from, to = d, time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
		}
	case f.Range == tlview.RangeDay:
		from, to = now.Add(-24*time.Hour), now
	}
	// A bound typed narrows whatever the preset.
	if t, err := i18n.ParseLocal(ctx, f.From); f.From != "" && err == nil {
		from = t
	}
	if t, err := i18n.ParseLocal(ctx, f.To); f.To != "" && err == nil {
		to = t
	}
	// A range of nothing (one execution without an end, or a reversed
	// range typed) is widened to show something around it.
	if !to.After(from) {
		from, to = from.Add(-30*time.Minute), from.Add(30*time.Minute)
	}
	return from.UTC(), to.UTC()
}

// presets are the zoom links: the whole mission, the last 24 hours, and
// each day of the viewer's zone with an execution (the filters kept).
func presets(missionID string, f tlview.Filter, tests []Test, loc *time.Location) []tlview.Preset {
	base := paths.URL(paths.MissionTimeline, missionID)
	link := func(pairs ...string) string {
		return paths.Query(base, append([]string{"tactic", f.Tactic, "tool", f.Tool, "state", f.State}, pairs...)...)
	}
	whole := f.Range == "" && f.Day == "" && f.From == "" && f.To == ""
	out := []tlview.Preset{
		{Key: "timeline.preset.whole", URL: link(), Current: whole, TestID: "timeline-preset-whole"},
		{Key: "timeline.preset.last24h", URL: link("range", tlview.RangeDay), Current: f.Range == tlview.RangeDay && f.Day == "",
			TestID: "timeline-preset-24h"},
	}
	var days []string
	for _, t := range tests {
		d := t.StartedAt.In(loc).Format(time.DateOnly)
		if !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	// A long mission keeps its last days' links: the range fields reach
	// any other.
	const maxDays = 31
	if len(days) > maxDays {
		days = days[len(days)-maxDays:]
	}
	for _, d := range days {
		out = append(out, tlview.Preset{Day: d, URL: link("day", d), Current: f.Day == d, TestID: "timeline-preset-day"})
	}
	return out
}

// toolOptions are the tools of the scope, then any other tool with an
// outcome on the tests read (one taken out of the scope since).
func toolOptions(scope []tlview.Option, tests []Test) []tlview.Option {
	out := slices.Clone(scope)
	for _, t := range tests {
		for _, o := range t.Outcomes {
			if o.ToolID == nil {
				continue
			}
			id := o.ToolID.String()
			if !slices.ContainsFunc(out, func(x tlview.Option) bool { return x.Value == id }) {
				out = append(out, tlview.Option{Value: id, Label: deref(o.ToolName)})
			}
		}
	}
	return out
}

// tacticOptions are the tactics of the started tests, by ID.
func tacticOptions(tests []Test) []tlview.Option {
	var out []tlview.Option
	seen := map[string]bool{}
	for _, t := range tests {
		for _, o := range t.Tactics {
			if !seen[o.Value] {
				seen[o.Value] = true
				out = append(out, o)
			}
		}
	}
	slices.SortFunc(out, func(a, b tlview.Option) int { return strings.Compare(a.Value, b.Value) })
	return out
}

// rows are the table's lines: one per outcome drawn of each test shown,
// one for a test without any.
func rows(missionID string, tests []Test, tool string) []tlview.Row {
	var out []tlview.Row
	for _, t := range tests {
		base := tlview.Row{TestID: t.ID.String(), TestName: t.Name, URL: paths.URL(paths.MissionTest, missionID, t.ID),
			Host: t.Host, State: t.State, Start: t.StartedAt, End: t.EndedAt,
			Running: t.State == string(missiontest.StateRunning) && t.EndedAt == nil}
		n := 0
		for _, o := range t.Outcomes {
			if !shownOutcome(o, tool) {
				continue
			}
			r := base
			r.HasOutcome, r.Tool, r.Level, r.Detected = true, deref(o.ToolName), deref(o.LevelName), o.DetectedAt
			if o.LevelID != nil && r.Level != "" {
				r.LevelClass = scale.Class(*o.LevelID)
			}
			if o.DetectedAt != nil {
				d := o.DetectedAt.Sub(t.StartedAt)
				r.TTD = &d
			}
			out = append(out, r)
			n++
		}
		if n == 0 {
			out = append(out, base)
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

// ReportChart is the timeline of the whole mission for its report, in
// one statement: every started test the viewer may see and every outcome,
// without filters. generated is the report's moment, the end of a running
// test's bar.
func ReportChart(ctx context.Context, client *ent.Client, a *mission.Access, generated time.Time) (tlview.Chart, error) {
	tests, err := Tests(ctx, client, a)
	if err != nil || len(tests) == 0 {
		return tlview.Chart{}, err
	}
	from, to := rangeOf(ctx, tlview.Filter{}, tests, generated)
	return draw(ctx, a.Mission.ID.String(), tests, "", from, to, generated), nil
}
