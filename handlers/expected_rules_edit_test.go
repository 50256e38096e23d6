package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"violet/internal/testkit/apptest"
)

// TestEditExpectedRulesOfATest: a lead edits a mission test's free rule
// names per tool from the test page: the test page links the editor for
// leads only; a refused row comes back next to its field with the input
// kept and nothing saved; a save is one plan change in the audit log and
// blue then sees the rule in its tool's row; a form read before someone
// else's save is a conflict showing the rules saved meanwhile; other
// roles may not open or post the editor.
func TestEditExpectedRulesOfATest(t *testing.T) {
	t.Parallel()
	w := newOutcomeWorld(t)
	page, edit := w.url(w.test, ""), w.url(w.test, "expected-rules")
	audits := "audit_events WHERE action = 'mission.plan_changed' AND details->>'change' = 'expected_rules'"
	stored := "mission_tests WHERE id = " + apptest.Lit(w.test) + " AND expected_rules @> " +
		apptest.Lit(`[{"tool_id":"`+w.tools["EDR"].String()+`","name":"Encoded command"}]`)

	w.Do(t, apptest.Step{As: "lead", Path: page, TestIDs: []string{"mission-test-edit-expected"}})
	w.Do(t, apptest.Step{As: "red", Path: page, NoTestIDs: []string{"mission-test-edit-expected"}})
	var seen string
	w.Do(t, apptest.Step{As: "lead", Path: edit, TestIDs: []string{"expected-edit-form", "expected-rules"},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			seen = doc(t, r).Find(`input[name="seen"]`).AttrOr("value", "")
		}})
	if seen == "" {
		t.Fatal("the editor carries no fingerprint of the rules it shows")
	}

	// A row without a name: 422, the error by its row, the tool kept.
	w.Do(t, apptest.Step{As: "lead", Path: edit, Status: http.StatusUnprocessableEntity,
		Form:    url.Values{"seen": {seen}, "expected_tool": {w.tools["EDR"].String()}, "expected_name": {""}},
		TestIDs: []string{"expected-rule-error", "error-expected_rules"},
		Text:    map[string]string{"expected-rule-error": "Give the rule's name."},
		Rows:    apptest.Rows{audits: 0},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			if got := doc(t, r).Find(`[data-testid="expected-rule-tool"] option[selected]`).First().AttrOr("value", ""); got != w.tools["EDR"].String() {
				t.Errorf("the tool typed is not kept: %q", got)
			}
		}})

	// A good save: back to the test page, one audit record, stored.
	w.Do(t, apptest.Step{As: "lead", Path: edit, Status: http.StatusSeeOther, Location: page,
		Form: url.Values{"seen": {seen}, "expected_tool": {w.tools["EDR"].String(), ""},
			"expected_name": {"Encoded command", ""}},
		Rows: apptest.Rows{audits: 1, stored: 1}})
	w.Do(t, apptest.Step{As: "blue", Path: page,
		Text: map[string]string{`[data-tool="EDR"] [data-testid="outcome-expected-rule"]`: "Encoded command"}})

	// The same form again, read before that save: a conflict naming the
	// rule saved meanwhile, the rows typed kept, nothing changed.
	w.Do(t, apptest.Step{As: "lead", Path: edit, Status: http.StatusConflict,
		Form: url.Values{"seen": {seen}, "expected_tool": {w.tools["SIEM"].String()},
			"expected_name": {"Logon burst"}},
		TestIDs: []string{"expected-edit-stale"},
		Text:    map[string]string{"expected-edit-saved": "Encoded command"},
		Rows:    apptest.Rows{audits: 0, stored: 0},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			if got := doc(t, r).Find(`[data-testid="expected-rule-name"]`).First().AttrOr("value", ""); got != "Logon burst" {
				t.Errorf("the name typed is not kept: %q", got)
			}
		}})

	for _, role := range []string{"red", "blue", "observer"} {
		w.Do(t, apptest.Step{As: role, Path: edit, Status: http.StatusForbidden})
		w.Do(t, apptest.Step{As: role, Path: edit, Status: http.StatusForbidden,
			Form: url.Values{"seen": {seen}, "expected_tool": {w.tools["EDR"].String()}, "expected_name": {"X"}},
			Rows: apptest.Rows{audits: 0}})
	}
}
