package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"violet/ent/defensivetool"
	"violet/ent/detectionlevel"
	"violet/ent/missiontest"
	"violet/internal/testkit/apptest"
)

// outcomeWorld is mtWorld with two tools in the mission's scope (EDR,
// SIEM), an inactive one in it (Old AV) and one outside it (NDR), and a
// released, executed test.
type outcomeWorld struct {
	*mtWorld
	test   uuid.UUID
	tools  map[string]uuid.UUID
	levels map[string]uuid.UUID
}

func newOutcomeWorld(t *testing.T) *outcomeWorld {
	t.Helper()
	w := &outcomeWorld{mtWorld: newMTWorld(t), tools: map[string]uuid.UUID{}, levels: map[string]uuid.UUID{}}
	w.test = w.mk(t, missiontest.StateExecuted, true)
	for _, tl := range []struct {
		name, kind    string
		active, scope bool
	}{{"EDR", "edr", true, true}, {"SIEM", "siem", true, true}, {"Old AV", "av", false, true}, {"NDR", "ndr", true, false}} {
		id := w.Ent.DefensiveTool.Create().SetName(tl.name).SetKind(defensivetool.Kind(tl.kind)).SetActive(tl.active).SaveX(w.ctx).ID
		if tl.scope {
			w.Ent.Mission.UpdateOneID(w.mission).AddToolIDs(id).ExecX(w.ctx)
		}
		w.tools[tl.name] = id
	}
	for _, l := range w.Ent.DetectionLevel.Query().Where(detectionlevel.Retired(false)).AllX(w.ctx) {
		w.levels[l.Name] = l.ID
	}
	return w
}

// outcome is the step of a tool's row saved as role (htmx), at the
// outcome's version.
func (w *outcomeWorld) outcome(role, tool string, version int, form url.Values) apptest.Step {
	if form == nil {
		form = url.Values{}
	}
	form.Set("tool", w.tools[tool].String())
	form.Set("outcome_version", strconv.Itoa(version))
	return apptest.Step{As: role, Path: w.url(w.test, "blue"), Form: form, HX: true}
}

func (w *outcomeWorld) row(tool string) string { return "#outcome-" + w.tools[tool].String() }

// TestMissionTestOutcomesPerTool: the test page lists a row per tool of
// the scope (not the inactive one, not one outside the scope); saving a
// row answers that row alone with the overall result derived again out
// of band; a stale row is a conflict with the input kept, a bad time an
// error next to its field; a tool outside the scope is refused; clearing
// the best outcome derives the overall result from the others; readers
// see each tool's outcome.
func TestMissionTestOutcomesPerTool(t *testing.T) {
	t.Parallel()
	w := newOutcomeWorld(t)
	page := w.url(w.test, "")
	outcomes := "mission_test_outcomes WHERE mission_test_id = " + apptest.Lit(w.test)

	w.Do(t, apptest.Step{As: "blue", Path: page,
		TestIDs: []string{"mission-test-overall", "mission-test-overall-derived", w.row("EDR"), w.row("SIEM"),
			`[data-testid="outcome-row"][data-tool="EDR"] [data-testid="outcome-kind"]`, "mission-test-blue-form"},
		NoTestIDs: []string{w.row("Old AV"), w.row("NDR"), "mission-test-overall-level"},
		Text:      map[string]string{`[data-tool="SIEM"] [data-testid="outcome-kind"]`: "SIEM"},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			if n := doc(t, r).Find(`[data-testid="outcome-row"]`).Length(); n != 2 {
				t.Errorf("%d outcome rows, want 2", n)
			}
		}})

	w.Do(t, expect(w.outcome("blue", "SIEM", 0, url.Values{"detection_level": {w.levels["Logged"].String()},
		"alert_name": {"Encoded PowerShell"}, "log_source": {"Sysmon"}}), apptest.Step{
		TestIDs:   []string{w.row("SIEM"), `#mission-test-overall[hx-swap-oob]`, `#mission-test-history[hx-swap-oob]`},
		NoTestIDs: []string{"mission-test-work", w.row("EDR")},
		Text: map[string]string{"mission-test-overall-level": "Logged", w.row("SIEM") + ` [data-testid="outcome-notice"]`: "Outcome saved",
			`#mission-test-overall [data-testid="value-alert_name"]`: "Encoded PowerShell"},
		Rows: apptest.Rows{outcomes: 1, "audit_events WHERE details->>'tool' = 'SIEM'": 1}}))
	w.Do(t, expect(w.outcome("blue", "EDR", 0, url.Values{"detection_level": {w.levels["Blocked"].String()}}), apptest.Step{
		Text: map[string]string{"mission-test-overall-level": "Blocked"}, Rows: apptest.Rows{outcomes: 1}}))
	if got := w.get(w.test); got.DetectionLevelID == nil || *got.DetectionLevelID != w.levels["Blocked"] || got.AlertName != "" {
		t.Errorf("the test's overall result: %v %q", got.DetectionLevelID, got.AlertName)
	}

	// A row saved from a page older than the outcome: 409, the input kept
	// and the value saved meanwhile next to it.
	w.Do(t, expect(w.outcome("lead", "EDR", 0, url.Values{"detection_level": {w.levels["Alerted"].String()}, "alert_name": {"mine"}}), apptest.Step{
		Status:  http.StatusConflict,
		TestIDs: []string{w.row("EDR") + ` [data-testid="saved-detection_level"]`, w.row("EDR") + `[data-unsaved="kept"]`},
		Text:    map[string]string{"outcome-notice": "changed", w.row("EDR") + ` [data-testid="saved-detection_level"]`: "Blocked"},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			if v := doc(t, r).Find(w.row("EDR")+` [name="alert_name"]`).AttrOr("value", ""); v != "mine" {
				t.Errorf("the input kept: %q", v)
			}
		},
		Rows: apptest.Rows{outcomes + " AND version = 1": 0}}))
	w.Do(t, expect(w.outcome("blue", "EDR", 1, url.Values{"detected_at": {"yesterday"}}), apptest.Step{
		Status:  http.StatusUnprocessableEntity,
		TestIDs: []string{w.row("EDR") + ` [data-testid="error-detected_at"]`, w.row("EDR") + ` [aria-invalid][name="detected_at"]`},
		Rows:    apptest.Rows{outcomes + " AND version = 1": 0}}))
	// A tool outside the scope has no row: refused, the work block answers.
	w.Do(t, expect(w.outcome("blue", "NDR", 0, url.Values{"alert_name": {"x"}}), apptest.Step{
		Status: http.StatusUnprocessableEntity, Rows: apptest.Rows{outcomes: 0}}))
	w.Do(t, expect(w.outcome("red", "EDR", 1, url.Values{"clear": {"1"}}), apptest.Step{
		Status: http.StatusForbidden, Rows: apptest.Rows{outcomes: 0}}))

	// Readers see each tool's outcome and the overall result.
	w.Do(t, apptest.Step{As: "observer", Path: page,
		NoTestIDs: []string{"outcome-save", "mission-test-blue-form"},
		Text: map[string]string{"mission-test-overall-level": "Blocked",
			`[data-tool="SIEM"] [data-testid="outcome-value-level"]`: "Logged",
			`[data-tool="SIEM"] [data-testid="outcome-value-alert"]`: "Encoded PowerShell",
			`[data-tool="EDR"] [data-testid="outcome-value-level"]`:  "Blocked"}})

	// Clearing the best outcome: the overall result is the logged one.
	w.Do(t, expect(w.outcome("blue", "EDR", 1, url.Values{"clear": {"1"}}), apptest.Step{
		TestIDs: []string{w.row("EDR") + `[data-recorded="false"]`},
		Text:    map[string]string{"mission-test-overall-level": "Logged", "outcome-notice": "Outcome cleared"},
		Rows:    apptest.Rows{outcomes: -1}}))
	// Without htmx, a save is redirected to the page.
	step := w.outcome("blue", "SIEM", 1, url.Values{"detection_level": {w.levels["Alerted"].String()}})
	step.HX, step.Status, step.Location = false, http.StatusSeeOther, page
	w.Do(t, step)
	w.Do(t, apptest.Step{As: "lead", Path: page, Text: map[string]string{"mission-test-overall-level": "Alerted"}})

	// The blue form of before outcomes per tool records the outcome
	// without a tool; the best level stays the overall result.
	legacy := w.act("blue", w.test, "blue", url.Values{"detection_level": {w.levels["Logged"].String()}, "alert_name": {"by hand"}})
	legacy.HX, legacy.Text = true, map[string]string{"mission-test-overall-level": "Alerted", "mission-test-notice": "saved"}
	legacy.Rows = apptest.Rows{outcomes + " AND tool_id IS NULL AND alert_name = 'by hand'": 1}
	w.Do(t, legacy)
}

// expect is step s with the checks of e.
func expect(s, e apptest.Step) apptest.Step {
	s.Status, s.Location, s.TestIDs, s.Some, s.NoTestIDs = e.Status, e.Location, e.TestIDs, e.Some, e.NoTestIDs
	s.Text, s.Rows, s.Check = e.Text, e.Rows, e.Check
	return s
}
