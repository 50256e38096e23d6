// Package insights is the read model of the trends across missions
// (/insights, issue 20 point 6): the detection rate per ATT&CK tactic and
// per defensive tool over the missions in date order, and the
// organisation's ATT&CK coverage, each technique with its latest result
// and the mission it came from; filtered by mission label and date range;
// each chart's data as CSV (csv.go).
//
// What counts, stated on the page too:
//   - a mission counts when it has an executed or reviewed test and is not
//     deleted, whatever its status (a mission still running has results
//     worth seeing); its date is its end date or, without one, the day
//     (UTC) of its last execution, so that every mission with results has
//     a place on the axis;
//   - a tactic's rate in a mission is the rule of the mission's figures
//     and of the scale (scale.Counts): its executed or reviewed tests
//     with a detection level, detected when that level counts as
//     detected; a test counts once per tactic its tags name;
//   - a tool's rate in a mission is the rule of the figures per tool
//     (missionread toolFigures): for a tool in the mission's scope, every
//     executed or reviewed test plus any other test it has an outcome
//     for, detected when its outcome's level counts as detected;
//   - a technique's latest result is the result of the latest mission
//     (by date, then last execution) with an executed test of it rated,
//     and within that mission the best level (the scale's outcome rule,
//     as the mission's report and Navigator layer colour it).
//
// It reads every mission, member or not: the page is gated by its own
// permission (auth.InsightsRead), checked here before anything is read,
// and the statements go through database/sql, under no mission's privacy
// filter. Five statements whatever the number of missions and tests, each
// aggregated in SQL (GROUP BY, DISTINCT ON).
package insights

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/paths"
	"violet/views/insights"
	"violet/views/scale"
)

// dateLayout is the filter's dates, as a date input sends them.
const dateLayout = "2006-01-02"

// FilterOf reads the page's query string; a date that is not one is left
// out (a date input never sends one).
func FilterOf(q url.Values) insights.Filter {
	day := func(s string) string {
		s = strings.TrimSpace(s)
		if t, err := time.Parse(dateLayout, s); err == nil && t.Year() >= 1900 && t.Year() <= 9999 {
			return s
		}
		return ""
	}
	return insights.Filter{Label: strings.TrimSpace(q.Get("label")), From: day(q.Get("from")), To: day(q.Get("to"))}
}

// query is the filter's values as the statements' parameters $1–$3.
func query(f insights.Filter) []any {
	date := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return []any{f.Label, date(f.From), date(f.To)}
}

// missionsCTE are the missions counted (f), with their date and their
// executed tests ($1 a label or "", $2 and $3 the date range or NULL).
const missionsCTE = `WITH act AS (
	SELECT mt.mission_id, max(coalesce(mt.ended_at, mt.started_at, mt.updated_at)) AS last, count(*) AS executed
	FROM mission_tests mt
	WHERE mt.deleted_at IS NULL AND mt.state IN ('executed', 'reviewed')
	GROUP BY mt.mission_id
), d AS (
	SELECT mi.id, mi.name, mi.end_date IS NOT NULL AS ended, act.last, act.executed,
		coalesce(mi.end_date, (act.last AT TIME ZONE 'UTC')::date) AS day
	FROM missions mi JOIN act ON act.mission_id = mi.id
	WHERE mi.deleted_at IS NULL AND ($1::text = '' OR mi.labels @> jsonb_build_array($1::text))
), f AS (
	SELECT * FROM d WHERE ($2::date IS NULL OR d.day >= $2::date) AND ($3::date IS NULL OR d.day <= $3::date)
)
`

// Data is what the statements read, before the page is built from it.
type Data struct {
	Labels   []string
	Missions []insights.Mission
	Tactics  []Figure
	Tools    []Figure
	Coverage []Covered
}

// Figure is a series' numbers in one mission (a tactic or a tool).
type Figure struct {
	Mission         uuid.UUID
	Key, Name       string
	Tests, Detected int
}

// Covered is a technique's latest result under one of its tactics.
type Covered struct {
	TacticID, Tactic string // "" without a tactic
	ID, Name         string
	LevelID          uuid.UUID
	Level            string
	Detected         bool
	Mission          insights.Mission
}

// Read runs the five statements with the viewer's permission checked.
func Read(ctx context.Context, db *sql.DB, f insights.Filter) (Data, error) {
	var d Data
	if !auth.FromContext(ctx).Can(auth.InsightsRead) {
		return d, app.ErrForbidden
	}
	args := query(f)
	var err error
	if d.Labels, err = labels(ctx, db); err != nil {
		return d, err
	}
	if d.Missions, err = missions(ctx, db, args); err != nil {
		return d, err
	}
	if d.Tactics, err = figures(ctx, db, tacticsSQL, args); err != nil {
		return d, fmt.Errorf("insights per tactic: %w", err)
	}
	if d.Tools, err = figures(ctx, db, toolsSQL, args); err != nil {
		return d, fmt.Errorf("insights per tool: %w", err)
	}
	if d.Coverage, err = coverage(ctx, db, args); err != nil {
		return d, err
	}
	return d, nil
}

// labels are every label of a mission not deleted, sorted.
func labels(ctx context.Context, db *sql.DB) ([]string, error) {
	var text []byte
	err := db.QueryRowContext(ctx, `SELECT coalesce(json_agg(DISTINCT l ORDER BY l), '[]')
		FROM missions mi, jsonb_array_elements_text(mi.labels) l WHERE mi.deleted_at IS NULL`).Scan(&text)
	if err != nil {
		return nil, fmt.Errorf("insights labels: %w", err)
	}
	var out []string
	if err := json.Unmarshal(text, &out); err != nil {
		return nil, fmt.Errorf("insights labels: %w", err)
	}
	return out, nil
}

// missions are the missions counted in date order (then name).
func missions(ctx context.Context, db *sql.DB, args []any) ([]insights.Mission, error) {
	rows, err := db.QueryContext(ctx, missionsCTE+`SELECT f.id, f.name, f.day, f.ended FROM f ORDER BY f.day, f.last, lower(f.name), f.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("insights missions: %w", err)
	}
	defer rows.Close()
	var out []insights.Mission
	for rows.Next() {
		var m insights.Mission
		var id uuid.UUID
		if err := rows.Scan(&id, &m.Name, &m.Day, &m.Ended); err != nil {
			return nil, fmt.Errorf("insights missions: %w", err)
		}
		m.ID, m.URL = id.String(), paths.URL(paths.Mission, id)
		out = append(out, m)
	}
	return out, rows.Err()
}

// tacticsSQL counts, per mission and tactic, the executed or reviewed
// tests with a level and those whose level counts as detected. A
// technique's tactics were copied with its tag; a tactic tag counts for
// its own tactic (as mission.ComputeFigures reads them).
const tacticsSQL = missionsCTE + `, t AS (
	SELECT mt.id, mt.mission_id, dl.counts_as_detected AS det
	FROM mission_tests mt JOIN f ON f.id = mt.mission_id
	JOIN detection_levels dl ON dl.id = mt.detection_level_id
	WHERE mt.deleted_at IS NULL AND mt.state IN ('executed', 'reviewed')
), tac AS (
	SELECT g.mission_test_id AS id, x->>'id' AS tid, x->>'name' AS tname
	FROM mission_test_mitre_tags g JOIN t ON t.id = g.mission_test_id,
		jsonb_array_elements(coalesce(g.tactics, '[]'::jsonb)) x
	UNION
	SELECT g.mission_test_id, g.external_id, g.name
	FROM mission_test_mitre_tags g JOIN t ON t.id = g.mission_test_id WHERE g.kind = 'tactic'
)
SELECT t.mission_id, tac.tid, min(tac.tname), count(DISTINCT t.id), count(DISTINCT t.id) FILTER (WHERE t.det)
FROM tac JOIN t ON t.id = tac.id WHERE tac.tid IS NOT NULL
GROUP BY t.mission_id, tac.tid`

// toolsSQL counts, per mission and defensive tool in its scope (deleted
// tools left out, as the overview leaves them out), the tests the tool
// had a chance on: the mission's executed or reviewed tests plus the
// other tests it has an outcome for; and its outcomes whose level counts
// as detected.
const toolsSQL = missionsCTE + `, o AS (
	SELECT o.tool_id, mt.mission_id, mt.state IN ('executed', 'reviewed') AS executed,
		coalesce(dl.counts_as_detected, false) AS det
	FROM mission_test_outcomes o
	JOIN mission_tests mt ON mt.id = o.mission_test_id AND mt.deleted_at IS NULL
	JOIN f ON f.id = mt.mission_id
	LEFT JOIN detection_levels dl ON dl.id = o.detection_level_id
	WHERE o.tool_id IS NOT NULL
)
SELECT s.mission_id, dt.id::text, dt.name,
	f.executed + count(o.tool_id) FILTER (WHERE NOT o.executed), count(o.tool_id) FILTER (WHERE o.det)
FROM f JOIN mission_tools s ON s.mission_id = f.id
JOIN defensive_tools dt ON dt.id = s.defensive_tool_id AND dt.deleted_at IS NULL
LEFT JOIN o ON o.tool_id = dt.id AND o.mission_id = f.id
GROUP BY s.mission_id, dt.id, dt.name, f.executed`

// figures runs tacticsSQL or toolsSQL.
func figures(ctx context.Context, db *sql.DB, q string, args []any) ([]Figure, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Figure
	for rows.Next() {
		var fg Figure
		if err := rows.Scan(&fg.Mission, &fg.Key, &fg.Name, &fg.Tests, &fg.Detected); err != nil {
			return nil, err
		}
		out = append(out, fg)
	}
	return out, rows.Err()
}

// coverageSQL is each technique's latest result (see the package
// comment), one row per tactic it was tagged under (none: one row with
// NULL tactic), in the ATT&CK matrix's order of tactics.
const coverageSQL = missionsCTE + `, c AS (
	SELECT DISTINCT ON (g.external_id) g.external_id, g.name, g.tactics, l.id AS level_id, l.name AS level,
		l.counts_as_detected, f.id AS mission_id, f.name AS mission, f.day, f.ended
	FROM mission_test_mitre_tags g
	JOIN mission_tests mt ON mt.id = g.mission_test_id AND mt.deleted_at IS NULL AND mt.state IN ('executed', 'reviewed')
	JOIN detection_levels l ON l.id = mt.detection_level_id
	JOIN f ON f.id = mt.mission_id
	WHERE g.kind <> 'tactic'
	ORDER BY g.external_id, f.day DESC, f.last DESC, f.id, l.score DESC, l.position, l.id
)
SELECT coalesce(x->>'id', ''), coalesce(x->>'name', ''), c.external_id, c.name, c.level_id, c.level,
	c.counts_as_detected, c.mission_id, c.mission, c.day, c.ended
FROM c LEFT JOIN LATERAL jsonb_array_elements(coalesce(c.tactics, '[]'::jsonb)) x ON true
ORDER BY coalesce((SELECT min(ta.position) FROM mitre_tactics ta WHERE ta.external_id = x->>'id'), 1000000),
	x->>'id' NULLS LAST, c.external_id`

// coverage runs coverageSQL.
func coverage(ctx context.Context, db *sql.DB, args []any) ([]Covered, error) {
	rows, err := db.QueryContext(ctx, coverageSQL, args...)
	if err != nil {
		return nil, fmt.Errorf("insights coverage: %w", err)
	}
	defer rows.Close()
	var out []Covered
	for rows.Next() {
		var c Covered
		var mid uuid.UUID
		if err := rows.Scan(&c.TacticID, &c.Tactic, &c.ID, &c.Name, &c.LevelID, &c.Level, &c.Detected,
			&mid, &c.Mission.Name, &c.Mission.Day, &c.Mission.Ended); err != nil {
			return nil, fmt.Errorf("insights coverage: %w", err)
		}
		c.Mission.ID, c.Mission.URL = mid.String(), paths.URL(paths.Mission, mid)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Load reads the page: the filter's choices, both charts with their
// tables, the coverage, and the CSV links with the same filter.
func Load(ctx context.Context, db *sql.DB, f insights.Filter) (insights.Page, error) {
	d, err := Read(ctx, db, f)
	if err != nil {
		return insights.Page{}, err
	}
	p := insights.Page{Filter: f, Labels: d.Labels, Missions: d.Missions, CSV: map[string]string{}}
	p.Tactics = chart(insights.ChartTactics, d.Missions, d.Tactics, byKey)
	p.Tools = chart(insights.ChartTools, d.Missions, d.Tools, byName)
	p.Coverage = group(d.Coverage)
	for _, c := range []string{insights.ChartTactics, insights.ChartTools, insights.ChartCoverage} {
		p.CSV[c] = withFilter(paths.InsightsCSV, f, "chart", c)
	}
	p.Layer = withFilter(paths.InsightsNavigator, f)
	return p, nil
}

// withFilter is path with the filter f and pairs in its query.
func withFilter(path string, f insights.Filter, pairs ...string) string {
	for _, kv := range [][2]string{{"label", f.Label}, {"from", f.From}, {"to", f.To}} {
		if kv[1] != "" {
			pairs = append(pairs, kv[0], kv[1])
		}
	}
	if len(pairs) == 0 {
		return path
	}
	return paths.Query(path, pairs...)
}

// group puts the covered techniques under their tactics, in the order
// read (the matrix's), a technique once per tactic.
func group(cs []Covered) []insights.CoverageTactic {
	var out []insights.CoverageTactic
	seen := map[[2]string]bool{}
	for _, c := range cs {
		if seen[[2]string{c.TacticID, c.ID}] {
			continue
		}
		seen[[2]string{c.TacticID, c.ID}] = true
		if len(out) == 0 || out[len(out)-1].ID != c.TacticID {
			out = append(out, insights.CoverageTactic{ID: c.TacticID, Name: c.Tactic})
		}
		g := &out[len(out)-1]
		g.Techniques = append(g.Techniques, insights.Technique{ID: c.ID, Name: c.Name, Level: c.Level,
			LevelClass: scale.Class(c.LevelID), Detected: c.Detected, Mission: c.Mission})
	}
	return out
}

// rate is n of total as a rounded percentage, -1 for none (as the
// mission's figures round it).
func rate(n, total int) int {
	if total == 0 {
		return -1
	}
	return (100*n + total/2) / total
}

// byKey and byName order the series of equal size: tactics by ATT&CK
// ID, tools by name.
func byKey(a, b *series) int { return strings.Compare(a.key, b.key) }
func byName(a, b *series) int {
	return cmp.Or(strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)), strings.Compare(a.key, b.key))
}

// series is one tactic's or tool's numbers per mission.
type series struct {
	key, name string
	tests     int
	per       map[string]Figure // by mission id
}

// collect folds the figures into series, the largest (most tests over
// every mission) first.
func collect(fs []Figure, tie func(a, b *series) int) []*series {
	index := map[string]*series{}
	var out []*series
	for _, fg := range fs {
		s := index[fg.Key]
		if s == nil {
			s = &series{key: fg.Key, name: fg.Name, per: map[string]Figure{}}
			index[fg.Key] = s
			out = append(out, s)
		}
		s.tests += fg.Tests
		s.per[fg.Mission.String()] = fg
	}
	slices.SortFunc(out, func(a, b *series) int { return cmp.Or(b.tests-a.tests, tie(a, b)) })
	return out
}
