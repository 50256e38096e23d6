package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

// TestPageHeadersTitleThenTabsThenActions: every page of a representative
// set has one page header, and in it the title comes first, then the
// area's tabs, then the page's actions, in document order.
func TestPageHeadersTitleThenTabsThenActions(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"lead", "admin"})
	m := w.MissionWith(t, "Header order", map[string]string{"lead": "lead"})
	for _, tc := range []struct {
		as, path      string
		tabs, actions bool // whether the page has tabs, actions
	}{
		{"admin", paths.Users, true, false},
		{"admin", paths.Groups, true, true},
		{"admin", paths.Audit, true, false},
		{"admin", paths.Templates, true, true},
		{"admin", paths.Scenarios, true, true},
		{"admin", paths.Missions, false, true},
		{"lead", paths.URL(paths.Mission, m), true, false},
		{"lead", paths.URL(paths.MissionSettings, m), true, false},
		{"lead", paths.URL(paths.MissionCategories, m), true, false},
		{"admin", paths.Account, false, false},
		{"admin", paths.Notifications, false, false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := w.GetAs(w.Cookie(tc.as), tc.path)
			if r.Code != http.StatusOK {
				t.Fatalf("GET %s as %s: %d", tc.path, tc.as, r.Code)
			}
			d := doc(t, r)
			headers := d.Find(`main [data-testid="page-header"]`)
			if headers.Length() != 1 {
				t.Fatalf("%d page headers, want one", headers.Length())
			}
			// at is an element's position in document order.
			all := d.Find("*")
			at := func(s *goquery.Selection) int { return all.IndexOfSelection(s.First()) }
			h1 := d.Find("main h1")
			if h1.Length() != 1 || headers.Find("h1").Length() != 1 {
				t.Fatalf("%d h1 on the page, %d in the header: want the one title in the header", h1.Length(), headers.Find("h1").Length())
			}
			tabs := d.Find("main nav.subnav")
			switch {
			case tc.tabs && (tabs.Length() != 1 || headers.Find("nav.subnav").Length() != 1):
				t.Fatalf("%d tab bars, %d in the header: want one, in the header", tabs.Length(), headers.Find("nav.subnav").Length())
			case !tc.tabs && tabs.Length() != 0:
				t.Fatalf("%d tab bars, want none", tabs.Length())
			}
			actions := headers.Find(`[data-testid="page-actions"]`)
			if got := actions.Find("a, button").Length() > 0; got != tc.actions {
				t.Fatalf("header has actions: %v, want %v", got, tc.actions)
			}
			if n := d.Find(`main [data-testid="page-actions"]`).Length(); n > 1 {
				t.Fatalf("%d action blocks", n)
			}
			if tc.tabs && at(h1) > at(tabs) {
				t.Errorf("the tabs (%d) come before the title (%d)", at(tabs), at(h1))
			}
			if tc.actions && at(h1) > at(actions) {
				t.Errorf("the actions (%d) come before the title (%d)", at(actions), at(h1))
			}
			if tc.tabs && tc.actions && at(tabs) > at(actions) {
				t.Errorf("the actions (%d) come before the tabs (%d)", at(actions), at(tabs))
			}
		})
	}
}

// TestAuditDetailsAsLabelledFields: an entry's details are shown as
// labelled fields (human labels, values formatted by kind, nested objects
// flattened one level, unknown keys under their own name), never as raw
// JSON; the time column does not wrap. (Deeper nesting: TestDetailsOf.)
func TestAuditDetailsAsLabelledFields(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	root := app.SignedIn(t, "root@example.com", "admin")
	expires := time.Date(2026, 12, 5, 17, 30, 0, 0, time.UTC)
	if err := audit.Record(rule.SystemContext(context.Background()), app.Ent.AuditEvent, audit.Event{
		Action: audit.InvitationCreated, TargetType: "invitation", TargetID: "abc", TargetLabel: "new@example.com",
		Details: map[string]any{
			"groups": []string{"redteam", "blueteam"}, "expires_at": expires, "reset": false,
			"changes":       map[string]any{"name": "B", "tags": 2},
			"brand_new_key": "kept",
		},
	}); err != nil {
		t.Fatal(err)
	}
	d := doc(t, app.GetAs(root, paths.Query(paths.Audit, "action", audit.InvitationCreated)))
	row := d.Find(`[data-testid="audit-row"][data-action="invitation.created"]`)
	if row.Length() != 1 {
		t.Fatalf("%d invitation rows", row.Length())
	}
	details := row.Find(`[data-testid="audit-details"]`)
	if html, _ := details.Html(); strings.Contains(html, "{&#34;") || strings.Contains(details.Text(), `{"`) {
		t.Errorf("details still raw JSON: %s", html)
	}
	fields := map[string][2]string{}
	details.Find(`[data-testid="audit-detail"]`).Each(func(_ int, s *goquery.Selection) {
		fields[s.AttrOr("data-key", "")] = [2]string{strings.TrimSpace(s.Find("dt").Text()), strings.TrimSpace(s.Find("dd").Text())}
	})
	want := map[string][2]string{
		"groups":        {"Groups", "redteam, blueteam"},
		"expires_at":    {"Expires", "2026-12-05 17:30 UTC"},
		"reset":         {"Password reset", "No"},
		"changes.name":  {"changes › Name", "B"},
		"changes.tags":  {"changes › Tags", "2"},
		"brand_new_key": {"brand_new_key", "kept"},
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("detail %s = %q, want %q", k, fields[k], v)
		}
	}
	if len(fields) != len(want) {
		t.Errorf("fields %v", fields)
	}
	if row.Find(`td.time-col [data-testid="audit-time"]`).Length() != 1 || d.Find(`th.time-col`).Length() != 1 {
		t.Error("the time column is not marked time-col")
	}

	// In French, the labels and the boolean are French.
	if _, err := app.DB.Exec(`UPDATE users SET locale = 'fr' WHERE email = 'root@example.com'`); err != nil {
		t.Fatal(err)
	}
	d = doc(t, app.GetAs(root, paths.Query(paths.Audit, "action", audit.InvitationCreated)))
	fr := d.Find(`[data-testid="audit-detail"][data-key="reset"]`)
	if got := strings.TrimSpace(fr.Find("dt").Text()) + "=" + strings.TrimSpace(fr.Find("dd").Text()); got != "Réinitialisation du mot de passe=Non" {
		t.Errorf("French detail %q", got)
	}
}

// TestErrorSummariesNameTheirField: converted forms' error summaries name
// each field by its label ("Name: This field is required.").
func TestErrorSummariesNameTheirField(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"lead", "admin"})
	m := w.MissionWith(t, "Summaries", map[string]string{"lead": "lead"})
	for _, tc := range []struct {
		name, as, path string
		form           url.Values
		hx             bool
		field, want    string
	}{
		{"new scenario", "admin", paths.Scenarios, url.Values{"name": {""}, "description": {""}}, false,
			"name", "Name: This field is required."},
		{"new category", "lead", paths.URL(paths.MissionCategories, m), url.Values{"name": {""}, "colour": {"#112233"}}, true,
			"name", "Name: This field is required."},
		{"new detection level", "admin", paths.DetectionLevels, levelValues("Odd", "ten", "#0f766e", false), false,
			"score", "Score: The score must be a whole number from 0 to 100."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.Do(t, apptest.Step{As: tc.as, Path: tc.path, Form: tc.form, HX: tc.hx, Status: http.StatusUnprocessableEntity,
				Text: map[string]string{`[data-testid="error-summary"] li[data-field="` + tc.field + `"]`: tc.want}})
		})
	}
}
