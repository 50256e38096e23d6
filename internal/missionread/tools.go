package missionread

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/internal/mission"
	"violet/internal/paths"
	"violet/views/report"
	"violet/views/scale"
	"violet/views/toolfig"
)

// Figures per defensive tool (issue 20): computed from the rows the
// overview reads anyway (Tests with Rows carries each test's outcomes per
// tool in one more column, outcomesOf), so the mission page spends no
// statement on them, and from the tools in the mission's scope
// (overviewLists). Only the tools in scope are counted: an outcome of a
// tool since taken out of the scope (or deleted) is left out, as the
// overview no longer names that tool.

// toolScope is what the figures per tool read besides the tests: the
// tools in the mission's scope by name and the levels of the detection
// scale (retired ones included) their outcomes may name.
type toolScope struct {
	Tools  []scopeTool
	Levels map[uuid.UUID]scopeLevel
}

// scopeTool is a defensive tool in the mission's scope.
type scopeTool struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	Kind string    `json:"kind"`
}

// scopeLevel is a level of the detection scale as the figures per tool
// read it.
type scopeLevel struct {
	ID       uuid.UUID `json:"id"`
	Name     string    `json:"name"`
	Detected bool      `json:"detected"` // counts as detected
}

// scopeLevelsSQL is the scale's levels as one JSON column, read only when
// the mission has a tool in scope ($1: the mission's id).
const scopeLevelsSQL = `(SELECT coalesce(json_agg(json_build_object('id', l.id, 'name', l.name, 'detected', l.counts_as_detected)), '[]')
	FROM detection_levels l WHERE EXISTS (SELECT 1 FROM mission_tools st WHERE st.mission_id = $1))`

// decode reads the JSON columns of the tools in scope and of the levels.
func (s *toolScope) decode(tools, levels []byte) error {
	var list []scopeLevel
	if err := json.Unmarshal(tools, &s.Tools); err != nil {
		return fmt.Errorf("tools in scope: %w", err)
	}
	if err := json.Unmarshal(levels, &list); err != nil {
		return fmt.Errorf("detection levels: %w", err)
	}
	s.Levels = make(map[uuid.UUID]scopeLevel, len(list))
	for _, l := range list {
		s.Levels[l.ID] = l
	}
	return nil
}

// toolOutcome is one outcome of a tool on a test, as the figures read it.
type toolOutcome struct {
	tool  uuid.UUID
	level uuid.UUID  // uuid.Nil: no level recorded
	at    *time.Time // detected_at
}

// outcomesOf folds the outcomes with a tool of the query's test into one
// text, "tool␟level␟epoch␞…" (empty fields when unset), as a scalar
// subquery on the outcomes' (test, tool) index: a fraction of what
// decoding JSON would cost the overview of 1,000 tests. The levels' names
// are not joined here: joining detection_levels in the subquery added
// 0.11 ms of planning to every overview (EXPLAIN ANALYZE, 12 tests);
// they come with the tools in scope (toolScope). The test row is
// privacy-filtered by the query, and its outcomes are seen with it (the
// outcomes' policy is the test's).
func outcomesOf(s *sql.Selector) string {
	return `coalesce((SELECT string_agg(o.tool_id::text || E'\x1f' || coalesce(o.detection_level_id::text, '') || E'\x1f' ||
		coalesce(extract(epoch FROM o.detected_at)::text, ''), E'\x1e')
		FROM mission_test_outcomes o WHERE o.mission_test_id = ` + s.C(missiontest.FieldID) + ` AND o.tool_id IS NOT NULL), '')`
}

// parseOutcomes reads outcomesOf's text; a malformed record is skipped.
func parseOutcomes(text string) []toolOutcome {
	var out []toolOutcome
	for rec := range strings.SplitSeq(text, tagSep) {
		f := strings.SplitN(rec, fieldSep, 3)
		if len(f) != 3 {
			continue
		}
		tool, err := uuid.Parse(f[0])
		if err != nil {
			continue
		}
		o := toolOutcome{tool: tool}
		if f[1] != "" {
			o.level, _ = uuid.Parse(f[1])
		}
		if secs, err := strconv.ParseFloat(f[2], 64); err == nil {
			at := time.Unix(0, int64(secs*float64(time.Second))).UTC().Round(time.Microsecond)
			o.at = &at
		}
		out = append(out, o)
	}
	return out
}

// toolTest is one test as the figures per tool count it: the overview's
// rows (overviewToolTests) and the report's (Report) both give it.
type toolTest struct {
	number    int
	name, url string // url: the test's page, "" for none
	state     missiontest.State
	released  bool
	startedAt *time.Time
	tactics   []mission.TacticRef // repeats allowed
	outcomes  []toolOutcome
}

// overviewToolTests are the overview's rows (Listed.All, read with Rows)
// as toolFigures counts them, each linked to its page.
func overviewToolTests(all []Test, missionID string) []toolTest {
	out := make([]toolTest, len(all))
	for i := range all {
		t := &all[i]
		out[i] = toolTest{number: t.Number, name: t.Name, url: paths.URL(paths.MissionTest, missionID, t.ID.String()),
			state: t.State, released: t.ReleasedToBlue, startedAt: t.StartedAt, tactics: t.tactics, outcomes: t.outcomes}
	}
	return out
}

// reportToolTests are the report's tests as toolFigures counts them.
func reportToolTests(tests []report.Test, facts []testFacts) []toolTest {
	out := make([]toolTest, len(tests))
	for i := range tests {
		t := &tests[i]
		tt := toolTest{number: t.Number, name: t.Name, state: missiontest.State(t.State), released: t.Released,
			startedAt: t.StartedAt, outcomes: facts[i].outcomes}
		for k, g := range t.Tags {
			if g.Kind == "tactic" {
				tt.tactics = append(tt.tactics, mission.TacticRef{ID: g.ExternalID, Name: g.Name})
			}
			if k < len(facts[i].tactics) {
				for _, x := range facts[i].tactics[k] {
					tt.tactics = append(tt.tactics, mission.TacticRef{ID: x.id, Name: x.name})
				}
			}
		}
		out[i] = tt
	}
	return out
}

// scopeTools reads the defensive tools in the mission's scope by name, in
// one statement (deleted ones hidden, as overviewLists does), for the
// report, which has read the scale's levels already.
func scopeTools(ctx context.Context, db *stdsql.DB, missionID uuid.UUID, levels []*ent.DetectionLevel) (toolScope, error) {
	var text []byte
	s := toolScope{Levels: make(map[uuid.UUID]scopeLevel, len(levels))}
	err := db.QueryRowContext(ctx, `SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name, 'kind', t.kind)
		ORDER BY t.name, t.id), '[]')
		FROM mission_tools mt JOIN defensive_tools t ON t.id = mt.defensive_tool_id
		WHERE mt.mission_id = $1 AND t.deleted_at IS NULL`, missionID).Scan(&text)
	if err != nil {
		return s, fmt.Errorf("tools in scope: %w", err)
	}
	if err := json.Unmarshal(text, &s.Tools); err != nil {
		return s, fmt.Errorf("tools in scope: %w", err)
	}
	for _, l := range levels {
		s.Levels[l.ID] = scopeLevel{ID: l.ID, Name: l.Name, Detected: l.CountsAsDetected}
	}
	return s, nil
}

// toolFigures computes the figures per tool in scope from every test the
// viewer may see. releasedOnly keeps the released tests, as the mission's
// figures do in the blue view.
//
// The denominator of a tool's rate (toolfig.Tool.Tests) is the tests that
// were executed or reviewed, plus any other test it has an outcome for
// (blue may record one while the test still runs): every test the red
// team carried out is a chance the tool had, so a tool that saw nothing
// scores 0 rather than "no data", and a detection always counts in the
// denominator too. The same rule per tactic, over the tests a tactic's
// tags name (a test counts once per tactic). The median time to detect is
// detected_at − started_at over the tool's detected outcomes with both
// times in order (percentile_cont(0.5), as mission.FiguresOf).
func toolFigures(missionID uuid.UUID, all []toolTest, ts toolScope, releasedOnly bool) toolfig.Figures {
	f := toolfig.Figures{MissionID: missionID.String()}
	scope := ts.Tools
	if len(scope) == 0 {
		return f
	}
	index := make(map[uuid.UUID]int, len(scope))
	f.Tools = make([]toolfig.Tool, len(scope))
	for i, s := range scope {
		index[s.ID] = i
		f.Tools[i] = toolfig.Tool{ID: s.ID.String(), Name: s.Name, Kind: s.Kind}
	}
	type tacticAgg struct {
		name            string
		tests, detected int
	}
	tactics := make([]map[string]*tacticAgg, len(scope))
	seconds := make([][]float64, len(scope))
	for i := range tactics {
		tactics[i] = map[string]*tacticAgg{}
	}
	seen := map[string]bool{}
	per := make([]*toolOutcome, len(scope)) // the test's outcome of each tool
	for k := range all {
		t := &all[k]
		if releasedOnly && !t.released {
			continue
		}
		clear(per)
		hit := false
		for j := range t.outcomes {
			if i, ok := index[t.outcomes[j].tool]; ok {
				per[i], hit = &t.outcomes[j], true
			}
		}
		executed := t.state == missiontest.StateExecuted || t.state == missiontest.StateReviewed
		if !executed && !hit {
			continue
		}
		row := toolfig.Row{Number: t.number, Name: t.name, URL: t.url, Cells: make([]toolfig.Cell, len(scope))}
		for i, o := range per {
			tool := &f.Tools[i]
			if !executed && o == nil {
				continue
			}
			tool.Tests++
			var level scopeLevel
			if o != nil {
				level = ts.Levels[o.level]
				tool.WithOutcome++
				row.Cells[i] = toolfig.Cell{Level: level.Name, Detected: level.Detected}
				if o.level != uuid.Nil {
					row.Cells[i].Class = scale.Class(o.level)
				}
			}
			detected := level.Detected
			if detected {
				tool.Detected++
				if t.startedAt != nil && o.at != nil && !o.at.Before(*t.startedAt) {
					seconds[i] = append(seconds[i], o.at.Sub(*t.startedAt).Seconds())
				}
			}
			clear(seen)
			for _, ref := range t.tactics {
				if seen[ref.ID] {
					continue
				}
				seen[ref.ID] = true
				agg := tactics[i][ref.ID]
				if agg == nil {
					agg = &tacticAgg{name: ref.Name}
					tactics[i][ref.ID] = agg
				} else if ref.Name < agg.name {
					agg.name = ref.Name
				}
				agg.tests++
				if detected {
					agg.detected++
				}
			}
		}
		f.Rows = append(f.Rows, row)
	}
	for i := range f.Tools {
		tool := &f.Tools[i]
		for id, agg := range tactics[i] {
			tool.PerTactic = append(tool.PerTactic, toolfig.Tactic{ID: id, Name: agg.name, Tests: agg.tests, Detected: agg.detected})
		}
		slices.SortFunc(tool.PerTactic, func(a, b toolfig.Tactic) int { return strings.Compare(a.ID, b.ID) })
		tool.Median, tool.Timed = median(seconds[i]), len(seconds[i])
	}
	return f
}

// median is percentile_cont(0.5) of the seconds (the middle value, or the
// mean of the two middle ones), rounded to the second; zero when empty.
func median(seconds []float64) time.Duration {
	n := len(seconds)
	if n == 0 {
		return 0
	}
	slices.Sort(seconds)
	m := seconds[(n-1)/2]
	if n%2 == 0 {
		m += (seconds[n/2] - m) / 2
	}
	return time.Duration(m * float64(time.Second)).Round(time.Second)
}
