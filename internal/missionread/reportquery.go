package missionread

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/missionscenario"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/user"
	"violet/internal/mission"
	"violet/views/report"
	"violet/views/scale"
)

// testFacts is what the heatmap and the legend aggregate of one test of
// the report, besides its report.Test: its level's place on the scale and
// the tactics each of its tags was copied with.
type testFacts struct {
	levelID *uuid.UUID
	level   *ent.DetectionLevel // ID, name, score and position; nil when none
	tactics [][]tactic          // per tag, in the order of report.Test.Tags
	// The figures per tool's (tools.go): the outcomes per tool.
	outcomes []toolOutcome
}

// tactic is one tactic a technique's tag was copied with.
type tactic struct{ id, name string }

// reportLine is one row of the report's test query, scanned by column name
// (ent's sql.ScanSlice). It holds the columns the report shows only, not a
// whole ent.MissionTest: a thousand of them are scanned per report.
type reportLine struct {
	ID             uuid.UUID  `json:"id"`
	Name           string     `json:"name"`
	State          string     `json:"state"`
	StateReason    string     `json:"state_reason"`
	ReleasedToBlue bool       `json:"released_to_blue"`
	ScenarioID     *uuid.UUID `json:"mission_scenario_id"`
	LevelID        *uuid.UUID `json:"detection_level_id"`
	StartedAt      *time.Time `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at"`
	Command        string     `json:"command"`
	SourceHost     string     `json:"source_host"`
	TargetHost     string     `json:"target_host"`
	RedNotes       string     `json:"red_notes"`
	DetectedAt     *time.Time `json:"detected_at"`
	AlertName      string     `json:"alert_name"`
	LogSource      string     `json:"log_source"`
	BlueNotes      string     `json:"blue_notes"`
	ScenarioName   *string    `json:"scenario_name"`
	LevelName      *string    `json:"level_name"`
	LevelScore     *int       `json:"level_score"`
	LevelPosition  *int       `json:"level_position"`
	ExecutorName   *string    `json:"executor_name"`
	TagText        string     `json:"tag_text"`
	OutcomeText    string     `json:"outcome_text"` // the outcomes per tool, folded (outcomesOf)
}

// reportColumns are the columns of a test the report shows.
func reportColumns() []string {
	return []string{missiontest.FieldID, missiontest.FieldName, missiontest.FieldState, missiontest.FieldStateReason,
		missiontest.FieldReleasedToBlue, missiontest.FieldMissionScenarioID, missiontest.FieldDetectionLevelID,
		missiontest.FieldStartedAt, missiontest.FieldEndedAt, missiontest.FieldCommand,
		missiontest.FieldSourceHost, missiontest.FieldTargetHost, missiontest.FieldRedNotes, missiontest.FieldDetectedAt,
		missiontest.FieldAlertName, missiontest.FieldLogSource, missiontest.FieldBlueNotes}
}

// reportTests reads the tests of the report in plan order, in one statement
// through ent (the request's context applies the mission test privacy
// policy, as Tests does), and returns them as the view's tests, numbered
// from 1, with what the heatmap and the legend need beside them.
//
// It is Tests(Results) cut to what the report shows, for speed: each test's
// tags come folded into one text column (reportTagTable) rather than as
// JSON, whose decoding (a map per tactic of every tag) was most of the
// report's own time for 1,000 tests.
func reportTests(ctx context.Context, client *ent.Client, a *mission.Access) ([]report.Test, []testFacts, error) {
	var lines []reportLine
	err := client.MissionTest.Query().
		Where(missiontest.MissionID(a.Mission.ID)).
		Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID)).
		Select(reportColumns()...).
		Aggregate(reportJoined(a)...).
		Scan(ctx, &lines)
	if err != nil {
		return nil, nil, fmt.Errorf("load mission tests: %w", err)
	}
	tests := make([]report.Test, len(lines))
	facts := make([]testFacts, len(lines))
	seen := map[string][]tactic{}
	for i := range lines {
		tests[i], facts[i] = lines[i].reportTest(i, seen)
	}
	return tests, facts, nil
}

// reportJoined returns the report's test query's extra columns; the first
// adds the joins (ent has no other hook to join tables to a query it
// builds). The executor is left out once their account is deleted, as
// ent's soft delete does for the people the report names.
func reportJoined(a *mission.Access) []ent.AggregateFunc {
	col := func(expr, as string) ent.AggregateFunc {
		return func(*sql.Selector) string { return sql.As(expr, as) }
	}
	sc := sql.Table(missionscenario.Table).As(aliasScenario)
	dl := sql.Table(detectionlevel.Table).As(aliasLevel)
	u := sql.Table(user.Table).As(aliasExecutor)
	tg := reportTagTable(a)
	join := func(s *sql.Selector) string {
		s.LeftJoin(sc).OnP(sql.And(sql.ColumnsEQ(s.C(missiontest.FieldMissionScenarioID), sc.C(missionscenario.FieldID)),
			sql.IsNull(sc.C(missionscenario.FieldDeletedAt))))
		s.LeftJoin(dl).On(s.C(missiontest.FieldDetectionLevelID), dl.C(detectionlevel.FieldID))
		s.LeftJoin(u).OnP(sql.And(sql.ColumnsEQ(s.C(missiontest.FieldExecutedByID), u.C(user.FieldID)),
			sql.IsNull(u.C(user.FieldDeletedAt))))
		s.LeftJoin(tg).On(s.C(missiontest.FieldID), tg.C(missiontestmitretag.FieldMissionTestID))
		return sql.As(sc.C(missionscenario.FieldName), "scenario_name")
	}
	return []ent.AggregateFunc{join,
		col(dl.C(detectionlevel.FieldName), "level_name"),
		col(dl.C(detectionlevel.FieldScore), "level_score"),
		col(dl.C(detectionlevel.FieldPosition), "level_position"),
		col(u.C(user.FieldDisplayName), "executor_name"),
		col("coalesce("+tg.C("tags")+", '')", "tag_text"),
		func(s *sql.Selector) string { return sql.As(outcomesOf(s), "outcome_text") },
	}
}

// reportTagTable folds the tags of each of the mission's tests into one
// text, in ATT&CK ID order: "kind␟id␟name␟tactics␞…", the tactics of a
// tag as their stored JSON text (decoded once per distinct text:
// tacticsOf). It is aggregated once for the mission (one hash join), not
// per test (a scalar subquery per test, as Tests reads the overview's
// tags, was 2.5 ms slower here for 1,000 tests: each test's ordered
// aggregate sorts on its own).
//
// The order comes from a sorted subquery rather than from an ORDER BY in
// string_agg: PostgreSQL 15 sorts each group of an ordered aggregate on
// its own, which was most of this statement's time for 1,000 tests; the
// aggregate reads its input in order, and the planner knows the input is
// sorted by the group key, so it does not sort again.
func reportTagTable(a *mission.Access) *sql.Selector {
	g := sql.Table(missiontestmitretag.Table).As("g")
	t := sql.Table(missiontest.Table).As("gt")
	sorted := sql.Select(g.C(missiontestmitretag.FieldMissionTestID), g.C(missiontestmitretag.FieldKind),
		g.C(missiontestmitretag.FieldExternalID), g.C(missiontestmitretag.FieldName), g.C(missiontestmitretag.FieldTactics)).
		From(g).
		Join(t).On(g.C(missiontestmitretag.FieldMissionTestID), t.C(missiontest.FieldID)).
		Where(sql.And(sql.EQ(t.C(missiontest.FieldMissionID), a.Mission.ID), sql.IsNull(t.C(missiontest.FieldDeletedAt)))).
		OrderBy(g.C(missiontestmitretag.FieldMissionTestID), g.C(missiontestmitretag.FieldExternalID), g.C(missiontestmitretag.FieldID)).
		As("st")
	agg := `string_agg(st.kind || E'\x1f' || st.external_id || E'\x1f' || st.name || E'\x1f' || coalesce(st.tactics::text, ''), E'\x1e')`
	return sql.Select(sorted.C(missiontestmitretag.FieldMissionTestID), sql.As(agg, "tags")).
		From(sorted).
		GroupBy(sorted.C(missiontestmitretag.FieldMissionTestID)).
		As(aliasTags)
}

// tacticsOf decodes the tactics a tag was copied with (their JSON text),
// once per distinct text: the tags of one technique repeat it across
// tests. A text that is not an array of objects has no tactics.
func tacticsOf(seen map[string][]tactic, text string) []tactic {
	if text == "" || text == "null" {
		return nil
	}
	if tacs, ok := seen[text]; ok {
		return tacs
	}
	var raw []map[string]any
	_ = json.Unmarshal([]byte(text), &raw)
	var tacs []tactic
	for _, m := range raw {
		id, _ := m["id"].(string)
		name, _ := m["name"].(string)
		tacs = append(tacs, tactic{id: id, name: name})
	}
	seen[text] = tacs
	return tacs
}

// reportTest turns the i-th line into the view's test and its facts.
func (l *reportLine) reportTest(i int, seen map[string][]tactic) (report.Test, testFacts) {
	t := l
	rt := report.Test{
		ID: t.ID.String(), Number: i + 1, Name: t.Name, State: t.State, Reason: t.StateReason,
		Released: t.ReleasedToBlue, StartedAt: t.StartedAt, EndedAt: t.EndedAt,
		Command: t.Command, SourceHost: t.SourceHost, TargetHost: t.TargetHost, RedNotes: t.RedNotes,
		DetectedAt: t.DetectedAt, AlertName: t.AlertName, LogSource: t.LogSource, BlueNotes: t.BlueNotes,
	}
	f := testFacts{levelID: t.LevelID}
	if l.OutcomeText != "" {
		f.outcomes = parseOutcomes(l.OutcomeText)
	}
	if t.ScenarioID != nil && l.ScenarioName != nil {
		rt.Scenario = *l.ScenarioName
	}
	if l.ExecutorName != nil {
		rt.Executor = *l.ExecutorName
	}
	if t.LevelID != nil && l.LevelName != nil {
		f.level = &ent.DetectionLevel{ID: *t.LevelID, Name: *l.LevelName,
			Score: deref(l.LevelScore), Position: deref(l.LevelPosition)}
		rt.Level, rt.LevelClass = f.level.Name, scale.Class(f.level.ID)
	}
	if l.TagText != "" {
		n := strings.Count(l.TagText, tagSep) + 1
		rt.Tags, f.tactics = make([]report.Tag, 0, n), make([][]tactic, 0, n)
		for tag := range strings.SplitSeq(l.TagText, tagSep) {
			parts := strings.SplitN(tag, fieldSep, 4)
			if len(parts) < 4 {
				continue
			}
			rt.Tags = append(rt.Tags, report.Tag{Kind: parts[0], ExternalID: parts[1], Name: parts[2]})
			f.tactics = append(f.tactics, tacticsOf(seen, parts[3]))
		}
	}
	return rt, f
}
