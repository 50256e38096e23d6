package mission_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	msn "violet/internal/mission"
)

// outcomeWorld is setup's mission in progress with its plan, two tools in
// its scope (EDR, SIEM), an inactive one in scope (Old AV), one of another
// mission (NDR), and the first test run and released.
type outcomeWorld struct {
	*world
	steps  *msn.Steps
	test   *ent.MissionTest
	tools  map[string]uuid.UUID
	levels map[string]uuid.UUID
	now    time.Time
}

func outcomeSetup(t *testing.T) *outcomeWorld {
	t.Helper()
	w := setup(t)
	if _, err := msn.Instantiate(w.as("lead"), w.client, w.access(t, "lead"), []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	w.inProgress(t)
	o := &outcomeWorld{world: w, tools: map[string]uuid.UUID{}, levels: map[string]uuid.UUID{},
		now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	o.steps = msn.NewSteps(w.client, notifier(t)).WithClock(func() time.Time { return o.now })
	sys := rule.SystemContext(context.Background())
	other := w.client.Mission.Create().SetName("Other").SaveX(sys).ID
	for _, tl := range []struct {
		name    string
		active  bool
		mission uuid.UUID
	}{{"EDR", true, w.mission}, {"SIEM", true, w.mission}, {"Old AV", false, w.mission}, {"NDR", true, other}} {
		id := w.client.DefensiveTool.Create().SetName(tl.name).SetKind("edr").SetActive(tl.active).SaveX(sys).ID
		w.client.Mission.UpdateOneID(tl.mission).AddToolIDs(id).ExecX(sys)
		o.tools[tl.name] = id
	}
	rows, err := w.db.Query(`SELECT name, id FROM detection_levels`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name string
			id   uuid.UUID
		)
		if err := rows.Scan(&name, &id); err != nil {
			t.Fatal(err)
		}
		o.levels[name] = id
	}
	o.test = w.client.MissionTest.Query().Order(ent.Asc(missiontest.FieldPosition)).FirstX(w.as("lead"))
	if _, err := w.db.Exec(`UPDATE mission_tests SET state = 'executed', released_to_blue = true,
		started_at = $2, ended_at = $2 WHERE id = $1`, o.test.ID, o.now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return o
}

// overall is the test's overall result as stored: level name, detected
// at, alert, log source, notes, version.
type overall struct {
	Level, Alert, Source, Notes string
	At                          *time.Time
	Version                     int
}

func (o *outcomeWorld) overall(t *testing.T) overall {
	t.Helper()
	var out overall
	var level *string
	if err := o.db.QueryRow(`SELECT l.name, t.detected_at, t.alert_name, t.log_source, t.blue_notes, t.version
		FROM mission_tests t LEFT JOIN detection_levels l ON l.id = t.detection_level_id WHERE t.id = $1`, o.test.ID).
		Scan(&level, &out.At, &out.Alert, &out.Source, &out.Notes, &out.Version); err != nil {
		t.Fatal(err)
	}
	if level != nil {
		out.Level = *level
	}
	return out
}

func (o *outcomeWorld) save(t *testing.T, role, tool string, version int, in msn.BlueInput) (msn.OutcomeSaved, error) {
	t.Helper()
	id := msn.NoTool
	if tool != "" {
		id = o.tools[tool].String()
	}
	return o.steps.SaveOutcome(o.as(role), o.access(t, role), o.test.ID, msn.OutcomeInput{Tool: id, Version: version, Fields: in})
}

// TestOutcomesDeriveTheOverallResult: blue records an outcome per tool;
// the test's overall result is the best level's outcome (its earliest
// detection); clearing the best derives it again from what is left; no
// outcome left clears it. Each change is audited with the tool's name and
// the changed fields and announced.
func TestOutcomesDeriveTheOverallResult(t *testing.T) {
	o := outcomeSetup(t)
	at := func(min int) string { return o.now.Add(time.Duration(min-60) * time.Minute).Format("2006-01-02T15:04") }

	logged, err := o.save(t, "blue", "SIEM", 0, msn.BlueInput{Level: o.levels["Logged"].String(), DetectedAt: at(5),
		AlertName: "Encoded PowerShell", LogSource: "Sysmon", Notes: "seen late"})
	if err != nil {
		t.Fatal(err)
	}
	if logged.Version != 1 {
		t.Errorf("a new outcome's version %d, want 1", logged.Version)
	}
	if got := o.overall(t); got.Level != "Logged" || got.Alert != "Encoded PowerShell" || got.Source != "Sysmon" || got.Version != logged.TestVersion {
		t.Errorf("after SIEM logged: %+v (test version %d)", got, logged.TestVersion)
	}
	blocked, err := o.save(t, "blue", "EDR", 0, msn.BlueInput{Level: o.levels["Blocked"].String(), DetectedAt: at(10), AlertName: "Blocked by EDR"})
	if err != nil {
		t.Fatal(err)
	}
	got := o.overall(t)
	if got.Level != "Blocked" || got.Alert != "Blocked by EDR" || got.Source != "" || got.At == nil || got.At.Format("2006-01-02T15:04") != at(10) {
		t.Errorf("after EDR blocked: %+v", got)
	}
	// A second blocked outcome, detected earlier, gives the time.
	if _, err := o.save(t, "lead", "", 0, msn.BlueInput{Level: o.levels["Blocked"].String(), DetectedAt: at(2), AlertName: "by hand"}); err != nil {
		t.Fatal(err)
	}
	if got := o.overall(t); got.Level != "Blocked" || got.Alert != "by hand" || got.At.Format("2006-01-02T15:04") != at(2) {
		t.Errorf("two blocked: %+v", got)
	}
	if _, err := o.steps.ClearOutcome(o.as("blue"), o.access(t, "blue"), o.test.ID, msn.NoTool, 1); err != nil {
		t.Fatal(err)
	}
	if n := o.count(t, `SELECT count(*) FROM mission_test_outcomes WHERE mission_test_id = $1`, o.test.ID); n != 2 {
		t.Errorf("%d outcomes after clearing one, want 2", n)
	}

	// Clearing the best: the overall result is the logged one again.
	if _, err := o.steps.ClearOutcome(o.as("blue"), o.access(t, "blue"), o.test.ID, o.tools["EDR"].String(), blocked.Version); err != nil {
		t.Fatal(err)
	}
	if got := o.overall(t); got.Level != "Logged" || got.Alert != "Encoded PowerShell" || got.Notes != "seen late" {
		t.Errorf("after clearing EDR: %+v", got)
	}
	// Saving an empty form clears the outcome too: nothing left, nothing overall.
	if _, err := o.save(t, "blue", "SIEM", logged.Version, msn.BlueInput{}); err != nil {
		t.Fatal(err)
	}
	if got := o.overall(t); got.Level != "" || got.At != nil || got.Alert != "" || got.Source != "" || got.Notes != "" {
		t.Errorf("with no outcome left: %+v", got)
	}

	// Every change audited with the tool and the fields it changed, and announced.
	rows, err := o.db.Query(`SELECT details->>'tool', details->'changed', (details->>'cleared')::bool FROM audit_events
		WHERE action = $1 AND target_id = $2 ORDER BY created_at, id`, audit.MissionTestBlueSaved, o.test.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var events []string
	for rows.Next() {
		var tool, changed string
		var cleared bool
		if err := rows.Scan(&tool, &changed, &cleared); err != nil {
			t.Fatal(err)
		}
		if cleared {
			tool += " cleared"
		}
		events = append(events, tool+" "+changed)
	}
	want := []string{
		`SIEM ["detection_level", "detected_at", "alert_name", "log_source", "notes"]`,
		`EDR ["detection_level", "detected_at", "alert_name"]`,
		` ["detection_level", "detected_at", "alert_name"]`,
		` cleared ["detection_level", "detected_at", "alert_name"]`,
		`EDR cleared ["detection_level", "detected_at", "alert_name"]`,
		`SIEM cleared ["detection_level", "detected_at", "alert_name", "log_source", "notes"]`,
	}
	if !slices.Equal(events, want) {
		t.Errorf("audit events:\n%q\nwant\n%q", events, want)
	}
	if n := o.count(t, `SELECT count(*) FROM live_events WHERE kind = 'test' AND test_id = $1`, o.test.ID); n != 6 {
		t.Errorf("%d live events, want 6", n)
	}
}

// TestOutcomeRefusals: a stale outcome version is a conflict; a tool out
// of the scope, of another mission or inactive is refused next to the
// row; an unreleased test is not found by blue and not released for a
// lead; red and observers may not record; a retired level is refused for
// a new value; a detection before the run started is refused. None of
// them writes anything.
func TestOutcomeRefusals(t *testing.T) {
	o := outcomeSetup(t)
	first, err := o.save(t, "blue", "EDR", 0, msn.BlueInput{Level: o.levels["Alerted"].String()})
	if err != nil {
		t.Fatal(err)
	}
	before := o.overall(t)
	audits := func() int {
		return o.count(t, `SELECT count(*) FROM audit_events WHERE target_id = $1`, o.test.ID.String())
	}
	auditsBefore := audits()

	if _, err := o.save(t, "lead", "EDR", 0, msn.BlueInput{Level: o.levels["Blocked"].String()}); !errors.Is(err, msn.ErrConflict) {
		t.Errorf("recording over an outcome recorded since: %v", err)
	}
	if _, err := o.save(t, "lead", "EDR", first.Version+1, msn.BlueInput{Level: o.levels["Blocked"].String()}); !errors.Is(err, msn.ErrConflict) {
		t.Errorf("a stale version: %v", err)
	}
	if _, err := o.save(t, "blue", "SIEM", 3, msn.BlueInput{Level: o.levels["Blocked"].String()}); !errors.Is(err, msn.ErrConflict) {
		t.Errorf("saving an outcome cleared since: %v", err)
	}
	for _, tool := range []string{"NDR", "Old AV"} {
		err := func() error {
			_, err := o.save(t, "blue", tool, 0, msn.BlueInput{Level: o.levels["Blocked"].String()})
			return err
		}()
		if keys := invalidKeys(t, err); keys["tool"] == "" {
			t.Errorf("%s: %v", tool, keys)
		}
	}
	_, err = o.steps.SaveOutcome(o.as("blue"), o.access(t, "blue"), o.test.ID,
		msn.OutcomeInput{Tool: uuid.NewString(), Fields: msn.BlueInput{AlertName: "x"}})
	if keys := invalidKeys(t, err); keys["tool"] != "outcomes.tool_not_in_scope" {
		t.Errorf("an unknown tool: %v", keys)
	}
	for _, role := range []string{"red", "observer"} {
		if _, err := o.save(t, role, "SIEM", 0, msn.BlueInput{AlertName: "x"}); !errors.Is(err, msn.ErrForbidden) {
			t.Errorf("%s: %v", role, err)
		}
	}
	if _, err := o.db.Exec(`UPDATE detection_levels SET retired = true WHERE id = $1`, o.levels["Logged"]); err != nil {
		t.Fatal(err)
	}
	if keys := invalidKeys(t, func() error {
		_, err := o.save(t, "blue", "SIEM", 0, msn.BlueInput{Level: o.levels["Logged"].String()})
		return err
	}()); keys["detection_level"] != "missions.test.level_retired_refused" {
		t.Errorf("a retired level: %v", keys)
	}
	if keys := invalidKeys(t, func() error {
		_, err := o.save(t, "blue", "SIEM", 0, msn.BlueInput{DetectedAt: o.now.Add(-3 * time.Hour).Format("2006-01-02T15:04")})
		return err
	}()); keys["detected_at"] != "missions.test.detected_before_start" {
		t.Errorf("a detection before the start: %v", keys)
	}
	if keys := invalidKeys(t, func() error {
		_, err := o.save(t, "blue", "SIEM", 0, msn.BlueInput{DetectedAt: o.now.Add(time.Hour).Format("2006-01-02T15:04")})
		return err
	}()); keys["detected_at"] != "missions.test.detected_in_future" {
		t.Errorf("a detection in the future: %v", keys)
	}
	// An unreleased test: not found by blue, not released for the lead.
	if _, err := o.db.Exec(`UPDATE mission_tests SET released_to_blue = false WHERE id = $1`, o.test.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.save(t, "blue", "SIEM", 0, msn.BlueInput{AlertName: "x"}); !ent.IsNotFound(err) {
		t.Errorf("blue on an unreleased test: %v", err)
	}
	if _, err := o.save(t, "lead", "SIEM", 0, msn.BlueInput{AlertName: "x"}); !errors.Is(err, msn.ErrNotReleased) {
		t.Errorf("a lead on an unreleased test: %v", err)
	}
	if got := o.overall(t); got != before {
		t.Errorf("refusals changed the overall result: %+v, was %+v", got, before)
	}
	if n := audits(); n != auditsBefore {
		t.Errorf("refusals recorded %d audit events", n-auditsBefore)
	}
	if n := o.count(t, `SELECT count(*) FROM mission_test_outcomes`); n != 1 {
		t.Errorf("%d outcomes, want 1", n)
	}
}

// TestSaveBlueWritesTheOutcomeWithoutATool: the single blue save of
// before outcomes per tool records the outcome without a tool and derives
// the overall result with the tools' outcomes: a better tool outcome
// stays the overall result; clearing the form removes that outcome.
func TestSaveBlueWritesTheOutcomeWithoutATool(t *testing.T) {
	o := outcomeSetup(t)
	if _, err := o.save(t, "blue", "EDR", 0, msn.BlueInput{Level: o.levels["Blocked"].String(), AlertName: "EDR"}); err != nil {
		t.Fatal(err)
	}
	v := o.overall(t).Version
	v, err := o.steps.SaveBlue(o.as("blue"), o.access(t, "blue"), o.test.ID, v,
		msn.BlueInput{Level: o.levels["Logged"].String(), AlertName: "by hand", LogSource: "Sysmon"})
	if err != nil {
		t.Fatal(err)
	}
	var alert, source string
	if err := o.db.QueryRow(`SELECT alert_name, log_source FROM mission_test_outcomes WHERE mission_test_id = $1 AND tool_id IS NULL`,
		o.test.ID).Scan(&alert, &source); err != nil {
		t.Fatal(err)
	}
	if alert != "by hand" || source != "Sysmon" {
		t.Errorf("the outcome without a tool: %q %q", alert, source)
	}
	// Its audit record names the fields it changed, as a tool's does.
	var changed string
	if err := o.db.QueryRow(`SELECT details->>'changed' FROM audit_events
		WHERE action = $1 AND details->>'tool' = '' AND details->>'tool_id' IS NULL`, audit.MissionTestBlueSaved).Scan(&changed); err != nil {
		t.Fatal(err)
	}
	if changed != `["detection_level", "alert_name", "log_source"]` {
		t.Errorf("the hand-set save's audit details: changed %s", changed)
	}
	if got := o.overall(t); got.Level != "Blocked" || got.Alert != "EDR" || got.Version != v {
		t.Errorf("overall after the hand-set save: %+v (version %d)", got, v)
	}
	if _, err := o.steps.SaveBlue(o.as("blue"), o.access(t, "blue"), o.test.ID, v-1, msn.BlueInput{}); !errors.Is(err, msn.ErrConflict) {
		t.Errorf("a stale test version: %v", err)
	}
	if _, err := o.steps.SaveBlue(o.as("blue"), o.access(t, "blue"), o.test.ID, v, msn.BlueInput{}); err != nil {
		t.Fatal(err)
	}
	if n := o.count(t, `SELECT count(*) FROM mission_test_outcomes WHERE tool_id IS NULL`); n != 0 {
		t.Errorf("%d outcomes without a tool after an empty save", n)
	}
}

// TestBestOutcome: the order of the overall result (outcomes.go).
func TestBestOutcome(t *testing.T) {
	at := func(m int) *time.Time { v := time.Date(2026, 1, 1, 10, m, 0, 0, time.UTC); return &v }
	lv := func(score, pos int) *ent.DetectionLevel { return &ent.DetectionLevel{Score: score, Position: pos} }
	tool := uuid.New()
	mk := func(name string, l *ent.DetectionLevel, when *time.Time, tooled bool) *ent.MissionTestOutcome {
		o := &ent.MissionTestOutcome{AlertName: name, DetectedAt: when}
		o.Edges.DetectionLevel = l
		if tooled {
			o.ToolID = &tool
		}
		return o
	}
	for _, tc := range []struct {
		want string
		in   []*ent.MissionTestOutcome
	}{
		{"", nil},
		{"high", []*ent.MissionTestOutcome{mk("low", lv(10, 0), at(1), true), mk("high", lv(90, 3), at(9), true)}},
		{"first", []*ent.MissionTestOutcome{mk("second", lv(50, 2), at(1), true), mk("first", lv(50, 1), at(9), true)}},
		{"early", []*ent.MissionTestOutcome{mk("late", lv(50, 1), at(9), true), mk("early", lv(50, 1), at(1), true)}},
		{"timed", []*ent.MissionTestOutcome{mk("untimed", lv(50, 1), nil, true), mk("timed", lv(50, 1), at(5), true)}},
		{"level", []*ent.MissionTestOutcome{mk("none", nil, at(1), true), mk("level", lv(0, 9), nil, true)}},
		{"hand", []*ent.MissionTestOutcome{mk("tool", lv(50, 1), at(1), true), mk("hand", lv(50, 1), at(1), false)}},
	} {
		best := msn.BestOutcome(tc.in)
		got := ""
		if best != nil {
			got = best.AlertName
		}
		if got != tc.want {
			t.Errorf("best %q, want %q", got, tc.want)
		}
	}
}

// TestOutcomeKeepsAResultRecordedWithoutOutcomes: a test rated before
// outcomes per tool without going through the migration (SQL, fixtures)
// keeps that result as its outcome without a tool when a tool's outcome is
// first recorded, and the overall result is derived from both.
func TestOutcomeKeepsAResultRecordedWithoutOutcomes(t *testing.T) {
	o := outcomeSetup(t)
	if _, err := o.db.Exec(`UPDATE mission_tests SET detection_level_id = $2, alert_name = 'old alert' WHERE id = $1`,
		o.test.ID, o.levels["Alerted"]); err != nil {
		t.Fatal(err)
	}
	if _, err := o.save(t, "blue", "SIEM", 0, msn.BlueInput{Level: o.levels["Logged"].String()}); err != nil {
		t.Fatal(err)
	}
	if got := o.overall(t); got.Level != "Alerted" || got.Alert != "old alert" {
		t.Errorf("overall %+v, want the result recorded before", got)
	}
	if n := o.count(t, `SELECT count(*) FROM mission_test_outcomes WHERE tool_id IS NULL AND alert_name = 'old alert'`); n != 1 {
		t.Errorf("%d outcomes without a tool holding the old result", n)
	}
}

// TestOutcomeChangingNothingWritesNothing: saving an empty row for a tool
// with no outcome on a test rated before outcomes per tool changes
// nothing, so it leaves no outcome row behind (the result kept as the
// outcome without a tool is written only with a change) and no audit
// record.
func TestOutcomeChangingNothingWritesNothing(t *testing.T) {
	o := outcomeSetup(t)
	if _, err := o.db.Exec(`UPDATE mission_tests SET detection_level_id = $2, alert_name = 'old alert' WHERE id = $1`,
		o.test.ID, o.levels["Alerted"]); err != nil {
		t.Fatal(err)
	}
	before := o.overall(t)
	if _, err := o.save(t, "blue", "SIEM", 0, msn.BlueInput{}); err != nil {
		t.Fatal(err)
	}
	if n := o.count(t, `SELECT count(*) FROM mission_test_outcomes WHERE mission_test_id = $1`, o.test.ID); n != 0 {
		t.Errorf("%d outcome rows written by a save that changed nothing", n)
	}
	if n := o.count(t, `SELECT count(*) FROM audit_events WHERE action = $1`, audit.MissionTestBlueSaved); n != 0 {
		t.Errorf("%d audit records of a save that changed nothing", n)
	}
	if got := o.overall(t); got != before {
		t.Errorf("overall %+v, want it unchanged %+v", got, before)
	}
}

// TestOutcomeOfAToolLeavingTheScope: once a tool with an outcome leaves
// the mission's scope, its outcome can no longer be changed but can be
// cleared, which derives the overall result again.
func TestOutcomeOfAToolLeavingTheScope(t *testing.T) {
	o := outcomeSetup(t)
	saved, err := o.save(t, "blue", "EDR", 0, msn.BlueInput{Level: o.levels["Blocked"].String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.db.Exec(`DELETE FROM mission_tools WHERE defensive_tool_id = $1`, o.tools["EDR"]); err != nil {
		t.Fatal(err)
	}
	_, err = o.save(t, "blue", "EDR", saved.Version, msn.BlueInput{Level: o.levels["Logged"].String()})
	if keys := invalidKeys(t, err); keys["tool"] != "outcomes.tool_not_in_scope" {
		t.Errorf("changing the outcome of a tool out of the scope: %v", keys)
	}
	if _, err := o.steps.ClearOutcome(o.as("blue"), o.access(t, "blue"), o.test.ID, o.tools["EDR"].String(), saved.Version); err != nil {
		t.Fatal(err)
	}
	if got := o.overall(t); got.Level != "" {
		t.Errorf("overall %+v after clearing the only outcome", got)
	}
}

// TestHandSetFormAgainstToolOutcomes: once only tools' outcomes give the
// test its result, the hand-set form (the outcome without a tool) compares
// what it sends with nothing: a level retired since a tool recorded it is
// refused there as new, and mission.SaveBlue itself refuses a test not
// released to blue.
func TestHandSetFormAgainstToolOutcomes(t *testing.T) {
	o := outcomeSetup(t)
	if _, err := o.save(t, "blue", "EDR", 0, msn.BlueInput{Level: o.levels["Logged"].String()}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.db.Exec(`UPDATE detection_levels SET retired = true WHERE id = $1`, o.levels["Logged"]); err != nil {
		t.Fatal(err)
	}
	v := o.overall(t).Version
	if keys := invalidKeys(t, func() error {
		_, err := o.steps.SaveBlue(o.as("blue"), o.access(t, "blue"), o.test.ID, v, msn.BlueInput{Level: o.levels["Logged"].String()})
		return err
	}()); keys["detection_level"] != "missions.test.level_retired_refused" {
		t.Errorf("the hand-set form took a retired level only a tool held: %v", keys)
	}
	if _, err := o.db.Exec(`UPDATE mission_tests SET released_to_blue = false WHERE id = $1`, o.test.ID); err != nil {
		t.Fatal(err)
	}
	_, err := msn.SaveBlue(o.as("lead"), o.client, o.access(t, "lead"), o.test.ID, v, msn.BlueFields{AlertName: "x"}, o.now)
	if !errors.Is(err, msn.ErrNotReleased) {
		t.Errorf("SaveBlue on an unreleased test: %v", err)
	}
}
