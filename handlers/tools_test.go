package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/internal/auth"
	"violet/internal/testkit/apptest"
)

// toolValues is a tool's form.
func toolValues(name, vendor, kind string, active bool) url.Values {
	v := url.Values{"name": {name}, "vendor": {vendor}, "kind": {kind}}
	if active {
		v.Set("active", "1")
	}
	return v
}

// toolID is the id of the tool named name (deleted ones too).
func toolID(t *testing.T, w *apptest.World, name string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(w.Value(t, `SELECT id FROM defensive_tools WHERE name = $1`, name))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// toolRows lists the registry's rows as "name/kind label/active" in order.
func toolRows(d *goquery.Document) string {
	var out []string
	d.Find(`[data-testid="tool-row"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("data-name", "")+"/"+strings.TrimSpace(s.Find(`[data-testid="tool-kind"]`).Text())+
			"/"+s.AttrOr("data-active", ""))
	})
	return strings.Join(out, ",")
}

// TestToolCreate: the form adds a tool (audited) and the list shows it
// with its kind's label; a refused form keeps the input and shows the
// error next to the field, a name taken naming the tool that has it.
func TestToolCreate(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	created := "audit_events WHERE action = 'tool.created'"
	w.Do(t, apptest.Step{Name: "empty registry", As: "admin", Path: "/admin/tools",
		TestIDs: []string{"tools-empty", "tool-form", `[data-testid="admin-tabs"] a[href="/admin/tools"][aria-current="page"]`}})
	r := w.Do(t, apptest.Step{Name: "add", As: "admin", Path: "/admin/tools",
		Form: toolValues("CrowdStrike Falcon", "CrowdStrike", "edr", true), Status: http.StatusSeeOther, Location: "/admin/tools",
		Rows: apptest.Rows{"defensive_tools": +1, created: +1}})
	d := doc(t, w.Follow("admin", r))
	if got := toolRows(d); got != "CrowdStrike Falcon/EDR/true" {
		t.Errorf("rows %s", got)
	}
	if got := testid(d, "tool-vendor"); got != "CrowdStrike" {
		t.Errorf("vendor %q", got)
	}

	tests := []struct {
		name, field, text string
		form              url.Values
	}{
		{"name taken ignoring case", "name", "“CrowdStrike Falcon”", toolValues(" crowdstrike FALCON ", "Other vendor", "siem", false)},
		{"name required", "name", "required", toolValues("", "Acme", "av", true)},
		{"name too long", "name", "too long", toolValues(strings.Repeat("n", 101), "Acme", "av", true)},
		{"vendor too long", "vendor", "too long", toolValues("Fine", strings.Repeat("v", 101), "av", true)},
		{"unknown kind", "kind", "kinds", toolValues("Fine", "Acme", "radar", true)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := w.Do(t, apptest.Step{As: "admin", Path: "/admin/tools", Form: tc.form, Status: http.StatusUnprocessableEntity,
				TestIDs: []string{"error-summary", "error-" + tc.field}, Text: map[string]string{"error-" + tc.field: tc.text},
				Rows: apptest.Rows{"defensive_tools": 0, created: 0}})
			d := doc(t, r)
			if got := d.Find("#field-name").AttrOr("value", ""); got != strings.TrimSpace(tc.form.Get("name")) {
				t.Errorf("name not kept (trimmed): %q", got)
			}
			if got := d.Find("#field-vendor").AttrOr("value", ""); got != tc.form.Get("vendor") {
				t.Errorf("vendor not kept: %q", got)
			}
			if tc.form.Get("kind") != "radar" {
				if got := d.Find(`#field-kind option[selected]`).AttrOr("value", ""); got != tc.form.Get("kind") {
					t.Errorf("kind not kept: %q", got)
				}
			}
			if got := d.Find(`[data-testid="tool-active-check"]`).Is("[checked]"); got != (tc.form.Get("active") != "") {
				t.Errorf("active not kept: %v", got)
			}
		})
	}
}

// TestToolUpdate: the edit form saves at the version it was read at;
// a stale form is refused with 409, the input kept beside what is saved
// now, and saving again from that page works.
func TestToolUpdate(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	w.Do(t, apptest.Step{As: "admin", Path: "/admin/tools", Form: toolValues("Sentinel", "", "siem", true), Status: http.StatusSeeOther})
	w.Do(t, apptest.Step{As: "admin", Path: "/admin/tools", Form: toolValues("Elastic", "Elastic", "siem", true), Status: http.StatusSeeOther})
	id := toolID(t, w, "Sentinel")
	path := "/admin/tools/" + id.String()
	updated := "audit_events WHERE action = 'tool.updated' AND target_id = '" + id.String() + "'"

	d := doc(t, w.Do(t, apptest.Step{Name: "edit page", As: "admin", Path: path, TestIDs: []string{"tool-edit-title"}}))
	version := d.Find(`input[name="version"]`).AttrOr("value", "")
	if d.Find("#field-name").AttrOr("value", "") != "Sentinel" || version != "1" {
		t.Fatalf("edit form: name %q version %q", d.Find("#field-name").AttrOr("value", ""), version)
	}
	form := func(name, version string) url.Values {
		v := toolValues(name, "Microsoft", "siem", true)
		v.Set("version", version)
		return v
	}
	w.Do(t, apptest.Step{Name: "rename onto another tool", As: "admin", Path: path, Form: form("elastic", version),
		Status: http.StatusUnprocessableEntity, Text: map[string]string{"error-name": "“Elastic”"}, Rows: apptest.Rows{updated: 0}})
	w.Do(t, apptest.Step{Name: "save", As: "admin", Path: path, Form: form("Microsoft Sentinel", version),
		Status: http.StatusSeeOther, Rows: apptest.Rows{updated: +1}})
	r := w.Do(t, apptest.Step{Name: "the same form again is stale", As: "admin", Path: path, Form: form("Sentinel SIEM", version),
		Status: http.StatusConflict, TestIDs: []string{"tool-stale"}, Text: map[string]string{"tool-stale-saved": "Microsoft Sentinel"},
		Rows: apptest.Rows{updated: 0}})
	d = doc(t, r)
	if got := d.Find("#field-name").AttrOr("value", ""); got != "Sentinel SIEM" {
		t.Errorf("input not kept: %q", got)
	}
	again := d.Find(`input[name="version"]`).AttrOr("value", "")
	if again != "2" {
		t.Errorf("the stale page carries version %q, want the saved one", again)
	}
	w.Do(t, apptest.Step{Name: "saving again from the stale page", As: "admin", Path: path, Form: form("Sentinel SIEM", again),
		Status: http.StatusSeeOther, Rows: apptest.Rows{updated: +1}})
	if got := w.Ent.DefensiveTool.GetX(w.Sys(), id); got.Name != "Sentinel SIEM" || got.Vendor != "Microsoft" || got.Version != 3 {
		t.Errorf("saved %+v", got)
	}
	w.Do(t, apptest.Step{Name: "unknown tool", As: "admin", Path: "/admin/tools/" + uuid.NewString(), Status: http.StatusNotFound})
}

// TestToolLifecycle: deactivate and reactivate (htmx swaps the table),
// delete → gone from the list → in the trash → restored; a restore onto
// a name taken meanwhile is refused naming the tool; a user without
// settings.manage is refused every write.
func TestToolLifecycle(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	w.Do(t, apptest.Step{As: "admin", Path: "/admin/tools", Form: toolValues("Zscaler", "Zscaler", "proxy", true), Status: http.StatusSeeOther})
	w.Do(t, apptest.Step{As: "admin", Path: "/admin/tools", Form: toolValues("Okta", "Okta", "identity", true), Status: http.StatusSeeOther})
	id := toolID(t, w, "Zscaler")
	base := "/admin/tools/" + id.String()
	audits := func(action string) string {
		return "audit_events WHERE action = 'tool." + action + "' AND target_id = '" + id.String() + "'"
	}

	w.Do(t, apptest.Step{Name: "red team cannot deactivate", As: "red", Path: base + "/deactivate", Form: url.Values{},
		Status: http.StatusForbidden, Rows: apptest.Rows{audits("deactivated"): 0}})
	w.Do(t, apptest.Step{Name: "red team cannot open the registry", As: "red", Path: "/admin/tools", Status: http.StatusForbidden})
	r := w.Do(t, apptest.Step{Name: "deactivate (htmx)", As: "admin", Path: base + "/deactivate", Form: url.Values{}, HX: true,
		TestIDs: []string{"tools-notice"}, NoTestIDs: []string{"tool-form"}, Rows: apptest.Rows{audits("deactivated"): +1}})
	if got := toolRows(doc(t, r)); got != "Okta/Identity/true,Zscaler/Proxy/false" {
		t.Errorf("after deactivation: %s", got)
	}
	r = w.Do(t, apptest.Step{Name: "reactivate", As: "admin", Path: base + "/reactivate", Form: url.Values{},
		Status: http.StatusSeeOther, Rows: apptest.Rows{audits("reactivated"): +1}})
	if got := toolRows(doc(t, w.Follow("admin", r))); got != "Okta/Identity/true,Zscaler/Proxy/true" {
		t.Errorf("after reactivation: %s", got)
	}
	w.Do(t, apptest.Step{Name: "filter by kind", As: "admin", Path: "/admin/tools?kind=identity",
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			if got := toolRows(doc(t, r)); got != "Okta/Identity/true" {
				t.Errorf("identity only: %s", got)
			}
		}})

	live := "defensive_tools WHERE id = '" + id.String() + "' AND deleted_at IS NULL"
	r = w.Do(t, apptest.Step{Name: "delete", As: "admin", Path: base + "/delete", Form: url.Values{},
		Status: http.StatusSeeOther, Rows: apptest.Rows{live: -1, audits("deleted"): +1}})
	if got := toolRows(doc(t, w.Follow("admin", r))); got != "Okta/Identity/true" {
		t.Errorf("after delete: %s", got)
	}
	w.Do(t, apptest.Step{Name: "edit page of a deleted tool", As: "admin", Path: base, Status: http.StatusNotFound})
	row := `[data-testid="trash-row"][data-id="` + id.String() + `"]`
	d := doc(t, w.Do(t, apptest.Step{Name: "in the trash", As: "admin", Path: "/admin/trash?type=tool", TestIDs: []string{row},
		Text: map[string]string{row + ` [data-testid="trash-row-type"]`: "Defensive tool"}}))
	restore := d.Find(row+" form").AttrOr("action", "")
	if restore != base+"/restore" {
		t.Fatalf("restore action %q", restore)
	}

	// Another Zscaler meanwhile: the restore is refused, naming it.
	w.Do(t, apptest.Step{As: "admin", Path: "/admin/tools", Form: toolValues("ZSCALER", "", "proxy", true), Status: http.StatusSeeOther})
	w.Do(t, apptest.Step{Name: "restore onto a taken name", As: "admin", Path: restore, Form: url.Values{},
		Status: http.StatusConflict, Text: map[string]string{"tools-error": "“ZSCALER”"}, Rows: apptest.Rows{live: 0}})
	// A keeper of the trash who may not open the registry gets the
	// conflict without the registry's list.
	w.Group(t, "janitors", auth.TrashManage)
	w.Person(t, "jan", "janitors")
	w.Do(t, apptest.Step{Name: "restore onto a taken name from the trash alone", As: "jan", Path: restore, Form: url.Values{},
		Status: http.StatusConflict, NoTestIDs: []string{"tools-error", "tool-form"}, Rows: apptest.Rows{live: 0}})
	w.Do(t, apptest.Step{As: "admin", Path: "/admin/tools/" + toolID(t, w, "ZSCALER").String() + "/delete", Form: url.Values{},
		Status: http.StatusSeeOther})
	w.Do(t, apptest.Step{Name: "red team cannot restore", As: "red", Path: restore, Form: url.Values{},
		Status: http.StatusForbidden, Rows: apptest.Rows{live: 0}})
	r = w.Do(t, apptest.Step{Name: "restore", As: "admin", Path: restore, Form: url.Values{},
		Status: http.StatusSeeOther, Location: "/admin/tools", Rows: apptest.Rows{live: +1, audits("restored"): +1}})
	if got := toolRows(doc(t, w.Follow("admin", r))); got != "Okta/Identity/true,Zscaler/Proxy/true" {
		t.Errorf("after restore: %s", got)
	}
	w.Do(t, apptest.Step{Name: "off the trash", As: "admin", Path: "/admin/trash?type=tool", NoTestIDs: []string{row}})
	if n := w.Count(t, "defensive_tools WHERE deleted_at IS NULL AND name = "+apptest.Lit("Zscaler")); n != 1 {
		t.Errorf("%d live Zscaler", n)
	}
}
