package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

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

// TestEditExpectedSigmaRulesOfATest: the same page edits the test's
// Sigma rules with the template form's picker: it shows the live rules
// linked (not one in the trash) and suggests the rules of the test's own
// technique; a search (htmx) answers only the picker's results, the
// rules picked left out; a rule that does not exist is refused next to
// the picker with the rules picked kept; a save adding one rule and
// removing another changes only the live links, is one plan change
// naming both, and blue's test page then lists the new rule; a form read
// before that save is a conflict, the fingerprint covering Sigma rules
// too.
func TestEditExpectedSigmaRulesOfATest(t *testing.T) {
	t.Parallel()
	w := newOutcomeWorld(t) // w.test is tagged T1059.001
	ids := map[string]string{}
	for _, r := range []struct{ uid, title, techniques string }{
		{"uid-encoded", "Encoded PowerShell command line", `["T1059.001"]`},
		{"uid-download", "PowerShell download cradle", `["T1059.001"]`},
		{"uid-mimikatz", "Mimikatz credential dump", `["T1003.001"]`},
		{"uid-runkey", "Registry run key added", `["T1547.001"]`},
		{"uid-retired", "Retired PowerShell rule", `["T1059.001"]`},
	} {
		var id string
		if err := w.DB.QueryRow(`INSERT INTO detection_rules (rule_uid, title, level, tags, techniques, "references")
			VALUES ($1, $2, 'high', '[]', $3, '[]') RETURNING id`, r.uid, r.title, r.techniques).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[r.uid] = id
	}
	// Linked: the run key rule, live, and the retired one, in the trash.
	if _, err := w.DB.Exec(`INSERT INTO mission_test_rules VALUES ($1, $2), ($1, $3)`, w.test, ids["uid-runkey"], ids["uid-retired"]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB.Exec(`UPDATE detection_rules SET deleted_at = now() WHERE id = $1`, ids["uid-retired"]); err != nil {
		t.Fatal(err)
	}
	page, edit := w.url(w.test, ""), w.url(w.test, "expected-rules")
	linked := func(uid string) string {
		return "mission_test_rules WHERE mission_test_id = " + apptest.Lit(w.test) + " AND detection_rule_id = " + apptest.Lit(ids[uid])
	}
	audits := "audit_events WHERE action = 'mission.plan_changed' AND details->>'change' = 'expected_rules'"
	rows := func(d *goquery.Document, list string) []string {
		var out []string
		d.Find(`[data-testid="` + list + `"] [data-testid="rule-row"]`).Each(func(_ int, s *goquery.Selection) {
			out = append(out, s.AttrOr("data-id", ""))
		})
		return out
	}

	var seen string
	w.Do(t, apptest.Step{As: "lead", Path: edit, TestIDs: []string{"picker-rules", "rules-suggested", "expected-rules"},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			d := doc(t, r)
			seen = d.Find(`input[name="seen"]`).AttrOr("value", "")
			if got, want := rows(d, "rules-selected"), []string{ids["uid-runkey"]}; !slices.Equal(got, want) {
				t.Errorf("picked %q, want the live linked rule %q", got, want)
			}
			if got, want := rows(d, "rules-results"), []string{ids["uid-encoded"], ids["uid-download"]}; !slices.Equal(got, want) {
				t.Errorf("suggested %q, want the rules of T1059.001 %q", got, want)
			}
		}})

	// A search: only the picker's results, the rule picked left out.
	w.Do(t, apptest.Step{As: "lead", HX: true,
		Path:    edit + "?" + url.Values{"rules_q": {"e"}, "rules": {ids["uid-runkey"]}}.Encode(),
		TestIDs: []string{"rules-results"}, NoTestIDs: []string{"picker-rules", "expected-edit-form", "rules-suggested"},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			if strings.Contains(r.Body.String(), "<html") {
				t.Error("the search answers a whole page")
			}
			got := rows(doc(t, r), "rules-results")
			if slices.Contains(got, ids["uid-runkey"]) || !slices.Contains(got, ids["uid-mimikatz"]) || slices.Contains(got, ids["uid-retired"]) {
				t.Errorf("search found %q", got)
			}
		}})

	// A rule that does not exist: 422 next to the picker, the known rule
	// picked kept, nothing changed.
	w.Do(t, apptest.Step{As: "lead", Path: edit, Status: http.StatusUnprocessableEntity,
		Form:    url.Values{"seen": {seen}, "rules": {ids["uid-encoded"], uuid.NewString()}},
		TestIDs: []string{"error-rules"},
		Text:    map[string]string{"error-rules": "no longer in the catalogue"},
		Rows:    apptest.Rows{audits: 0, linked("uid-encoded"): 0, linked("uid-runkey"): 0},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			if got := rows(doc(t, r), "rules-selected"); !slices.Equal(got, []string{ids["uid-encoded"]}) {
				t.Errorf("picked after a refusal %q", got)
			}
		}})

	// A save adding the encoded command rule and removing the run key:
	// the link to the rule in the trash stays.
	w.Do(t, apptest.Step{As: "lead", Path: edit, Status: http.StatusSeeOther, Location: page,
		Form: url.Values{"seen": {seen}, "rules": {ids["uid-encoded"]}},
		Rows: apptest.Rows{audits: 1, linked("uid-encoded"): 1, linked("uid-runkey"): -1, linked("uid-retired"): 0,
			audits + ` AND details->'rules_added' = '["Encoded PowerShell command line"]'` +
				` AND details->'rules_removed' = '["Registry run key added"]' AND NOT details ? 'added'`: 1}})
	w.Do(t, apptest.Step{As: "blue", Path: page,
		TestIDs: []string{`[data-testid="mission-test-sigma-rule"][data-rule-uid="uid-encoded"]`},
		NoTestIDs: []string{`[data-testid="mission-test-sigma-rule"][data-rule-uid="uid-runkey"]`,
			`[data-testid="mission-test-sigma-rule"][data-rule-uid="uid-retired"]`},
		Text: map[string]string{"mission-test-sigma-rule": "Encoded PowerShell command line"}})

	// The form read before that save: a conflict naming the rule saved
	// meanwhile, the rules picked kept, nothing changed.
	w.Do(t, apptest.Step{As: "lead", Path: edit, Status: http.StatusConflict,
		Form:    url.Values{"seen": {seen}, "rules": {ids["uid-mimikatz"]}},
		TestIDs: []string{"expected-edit-stale"},
		Text:    map[string]string{"expected-edit-saved-rule": "Encoded PowerShell command line"},
		Rows:    apptest.Rows{audits: 0, linked("uid-mimikatz"): 0},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			if got := rows(doc(t, r), "rules-selected"); !slices.Equal(got, []string{ids["uid-mimikatz"]}) {
				t.Errorf("picked after a conflict %q", got)
			}
		}})
}
