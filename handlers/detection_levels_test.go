package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/permission"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
)

// levelScale returns the levels' names in position order, failing unless
// the positions are distinct.
func levelScale(t testing.TB, app *apptest.App) string {
	t.Helper()
	rows, err := app.DB.Query(`SELECT name, position FROM detection_levels ORDER BY position, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	seen := map[int]bool{}
	for rows.Next() {
		var name string
		var pos int
		if err := rows.Scan(&name, &pos); err != nil {
			t.Fatal(err)
		}
		if seen[pos] {
			t.Errorf("two levels at position %d", pos)
		}
		seen[pos] = true
		names = append(names, name)
	}
	return strings.Join(names, ",")
}

// levelAudits is the Rows key counting the audit events of action on the
// level id.
func levelAudits(action string, id uuid.UUID) string {
	return "audit_events WHERE action = '" + action + "' AND target_id = '" + id.String() + "'"
}

// settingsManager signs in a user whose only group grants settings.manage.
func settingsManager(t *testing.T, app *apptest.App) *http.Cookie {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	perm, err := app.Ent.Permission.Query().Where(permission.Code(string(auth.SettingsManage))).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Ent.Group.Create().SetName("settings-admins").AddPermissions(perm).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return app.SignedIn(t, "settings@example.com", "settings-admins")
}

func levelValues(name, score, colour string, counts bool) url.Values {
	v := url.Values{"name": {name}, "description": {"About " + name}, "score": {score},
		"colour": {colour}, "colour_was": {"#6b7280"}, "colour_picker": {"#6b7280"}}
	if counts {
		v.Set("counts_as_detected", "1")
	}
	return v
}

func TestDetectionLevelCreate(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	created := "audit_events WHERE action = 'detection_level.created'"
	tests := []struct {
		name      string
		form      url.Values
		status    int
		errField  string
		wantScale string
	}{
		{"valid level goes last", levelValues("Contained", "90", "#0F766E", true), http.StatusSeeOther, "",
			"Blocked,Alerted,Logged,Not detected,Contained"},
		{"name required", levelValues("  ", "50", "#0f766e", false), http.StatusUnprocessableEntity, "name", ""},
		{"name taken ignoring case", levelValues("blocked", "50", "#0f766e", false), http.StatusUnprocessableEntity, "name", ""},
		{"name too long", levelValues(strings.Repeat("é", 51), "50", "#0f766e", false), http.StatusUnprocessableEntity, "name", ""},
		{"score above 100", levelValues("High", "101", "#0f766e", false), http.StatusUnprocessableEntity, "score", ""},
		{"score negative", levelValues("Low", "-1", "#0f766e", false), http.StatusUnprocessableEntity, "score", ""},
		{"score not a number", levelValues("Odd", "ten", "#0f766e", false), http.StatusUnprocessableEntity, "score", ""},
		{"colour not hex", levelValues("Bad colour", "50", "red", false), http.StatusUnprocessableEntity, "colour", ""},
		{"colour CSS injection", levelValues("Evil", "50", "#fff;}", false), http.StatusUnprocessableEntity, "colour", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := levelScale(t, w.App)
			step := apptest.Step{As: "admin", Path: "/admin/detection-levels", Form: tt.form, Status: tt.status,
				Rows: apptest.Rows{"detection_levels": +1, created: +1}}
			if tt.errField != "" {
				step.Text = map[string]string{"error-" + tt.errField: ""}
				step.Rows = apptest.Rows{"detection_levels": 0, created: 0}
			}
			r := w.Do(t, step)
			if t.Failed() {
				return
			}
			if tt.errField != "" {
				if got, _ := doc(t, r).Find(`#field-name`).Attr("value"); got != strings.TrimSpace(tt.form.Get("name")) {
					t.Errorf("name not kept: %q", got)
				}
				if got := levelScale(t, w.App); got != before {
					t.Errorf("scale changed on a refused form: %s", got)
				}
				return
			}
			if got := levelScale(t, w.App); got != tt.wantScale {
				t.Errorf("scale %s, want %s", got, tt.wantScale)
			}
			lv, err := w.Ent.DetectionLevel.Get(w.Sys(), w.Level(t, "Contained"))
			if err != nil {
				t.Fatal(err)
			}
			if lv.Colour != "#0f766e" || lv.Score != 90 || !lv.CountsAsDetected || lv.Description != "About Contained" {
				t.Errorf("saved %+v", lv)
			}
			if n := w.Count(t, levelAudits("detection_level.created", lv.ID)); n != 1 {
				t.Errorf("%d created events, want 1", n)
			}
		})
	}
}

func TestDetectionLevelColourPicker(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	picked := levelValues("Picked", "40", "#6b7280", false)
	picked.Set("colour_picker", "#123abc")
	typed := levelValues("Typed", "40", "#ABCDEF", false)
	typed.Set("colour_picker", "#123abc")
	w.Run(t,
		apptest.Step{Name: "the text field unchanged: the picker's colour is saved", As: "admin",
			Path: "/admin/detection-levels", Form: picked, Status: http.StatusSeeOther, Rows: apptest.Rows{"detection_levels": +1}},
		apptest.Step{Name: "the text field changed: it wins over the picker", As: "admin",
			Path: "/admin/detection-levels", Form: typed, Status: http.StatusSeeOther, Rows: apptest.Rows{"detection_levels": +1}},
	)
	for name, want := range map[string]string{"Picked": "#123abc", "Typed": "#abcdef"} {
		lv, err := w.Ent.DetectionLevel.Get(w.Sys(), w.Level(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if lv.Colour != want {
			t.Errorf("%s saved %s, want %s", name, lv.Colour, want)
		}
	}
}

func TestDetectionLevelUpdate(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	id := w.Level(t, "Logged")
	path := "/admin/detection-levels/" + id.String()
	r := w.Do(t, apptest.Step{Name: "edit page", As: "admin", Path: path})
	if v, _ := doc(t, r).Find("#field-name").Attr("value"); v != "Logged" {
		t.Errorf("edit form name %q", v)
	}
	// The valid edit records one event; the refused and unchanged saves none.
	updated := levelAudits("detection_level.updated", id)
	tests := []struct {
		name   string
		form   url.Values
		status int
		want   string // saved name
		events int
	}{
		{"rename onto another level refused", levelValues("Alerted", "25", "#ca8a04", false), http.StatusUnprocessableEntity, "Logged", 0},
		{"bad score keeps input", levelValues("Seen in logs", "250", "#ca8a04", false), http.StatusUnprocessableEntity, "Logged", 0},
		{"valid edit", levelValues("Seen in logs", "30", "#ca8a04", true), http.StatusSeeOther, "Seen in logs", 1},
		{"same name own level", levelValues("Seen in logs", "30", "#ca8a04", true), http.StatusSeeOther, "Seen in logs", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.Do(t, apptest.Step{As: "admin", Path: path, Form: tt.form, Status: tt.status,
				Rows: apptest.Rows{updated: tt.events, "detection_levels": 0}})
			if tt.status == http.StatusUnprocessableEntity && r.Code == tt.status {
				if v, _ := doc(t, r).Find("#field-score").Attr("value"); v != tt.form.Get("score") {
					t.Errorf("score not kept: %q", v)
				}
			}
			lv, err := w.Ent.DetectionLevel.Get(w.Sys(), id)
			if err != nil {
				t.Fatal(err)
			}
			if lv.Name != tt.want {
				t.Errorf("name %q, want %q", lv.Name, tt.want)
			}
		})
	}
	w.Do(t, apptest.Step{Name: "unknown level", As: "admin", Path: "/admin/detection-levels/" + uuid.NewString(), Status: http.StatusNotFound})
}

func TestDetectionLevelMove(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	tests := []struct {
		name, level, direction string
		htmx                   bool
		status                 int
		want                   string
	}{
		{"up", "Logged", "up", false, http.StatusSeeOther, "Blocked,Logged,Alerted,Not detected"},
		{"down with htmx gets the table", "Blocked", "down", true, http.StatusOK, "Logged,Blocked,Alerted,Not detected"},
		{"first cannot go up", "Logged", "up", false, http.StatusSeeOther, "Logged,Blocked,Alerted,Not detected"},
		{"last cannot go down", "Not detected", "down", false, http.StatusSeeOther, "Logged,Blocked,Alerted,Not detected"},
		{"bad direction", "Logged", "sideways", false, http.StatusBadRequest, "Logged,Blocked,Alerted,Not detected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := apptest.Step{As: "admin", Path: "/admin/detection-levels/" + w.Level(t, tt.level).String() + "/move",
				Form: url.Values{"direction": {tt.direction}}, HX: tt.htmx, Status: tt.status}
			if tt.htmx {
				step.TestIDs, step.NoTestIDs = []string{"detection-levels"}, []string{"html header"}
			}
			r := w.Do(t, step)
			if got := levelScale(t, w.App); got != tt.want {
				t.Errorf("scale %s, want %s", got, tt.want)
			}
			if tt.htmx {
				d := doc(t, r)
				if d.Find(`[data-testid="detection-levels"]`).Length() != 1 {
					t.Errorf("htmx answer is not the table alone")
				}
				var names []string
				d.Find(`[data-testid="detection-row"]`).Each(func(_ int, s *goquery.Selection) {
					names = append(names, s.AttrOr("data-name", ""))
				})
				if strings.Join(names, ",") != tt.want {
					t.Errorf("table shows %v", names)
				}
			}
		})
	}
}

func TestDetectionLevelRetireAndDelete(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	logged, blocked := w.Level(t, "Logged"), w.Level(t, "Blocked")
	w.Test(t, w.Mission(t, "M"), apptest.TestOpts{Name: "T", Level: logged})
	base := "/admin/detection-levels/"

	// The list offers no delete for the level in use, and delete for the other.
	inUse := `[data-testid="detection-row"][data-name="Logged"] `
	unused := `[data-testid="detection-row"][data-name="Blocked"] `
	w.Do(t, apptest.Step{Name: "the list", As: "admin", Path: "/admin/detection-levels",
		TestIDs:   []string{inUse + `[data-testid="detection-retire"]`, unused + `[data-testid="detection-delete"]`},
		NoTestIDs: []string{inUse + `[data-testid="detection-delete"]`},
		Text:      map[string]string{"detection-uses": ""}})

	retired := func(want bool) func(t *testing.T, _ *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			lv, _ := w.Ent.DetectionLevel.Get(w.Sys(), logged)
			if lv.Retired != want {
				t.Errorf("retired %v, want %v", lv.Retired, want)
			}
		}
	}
	why := map[string]string{"detection-error": ""} // the message saying why
	w.Run(t,
		apptest.Step{Name: "delete in use refused", As: "admin", Path: base + logged.String() + "/delete", Form: url.Values{},
			Status: http.StatusConflict, Text: why,
			Rows: apptest.Rows{"detection_levels WHERE name = 'Logged'": 0, levelAudits("detection_level.deleted", logged): 0}},
		apptest.Step{Name: "delete in use refused (htmx)", As: "admin", Path: base + logged.String() + "/delete", Form: url.Values{},
			HX: true, Status: http.StatusConflict, Text: why},
		apptest.Step{Name: "retire", As: "admin", Path: base + logged.String() + "/retire", Form: url.Values{},
			Status: http.StatusSeeOther, Check: retired(true)},
		apptest.Step{Name: "retire twice changes nothing", As: "admin", Path: base + logged.String() + "/retire", Form: url.Values{},
			HX: true, Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if n := w.Count(t, levelAudits("detection_level.updated", logged)); n != 1 {
					t.Errorf("%d update events, want 1", n)
				}
			}},
		apptest.Step{Name: "unretire", As: "admin", Path: base + logged.String() + "/unretire", Form: url.Values{},
			Status: http.StatusSeeOther, Check: retired(false)},
		apptest.Step{Name: "delete unused", As: "admin", Path: base + blocked.String() + "/delete", Form: url.Values{},
			Status: http.StatusSeeOther, Rows: apptest.Rows{levelAudits("detection_level.deleted", blocked): +1},
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if got := levelScale(t, w.App); got != "Alerted,Logged,Not detected" {
					t.Errorf("scale %s", got)
				}
			}},
		apptest.Step{Name: "delete missing", As: "admin", Path: base + blocked.String() + "/delete", Form: url.Values{},
			Status: http.StatusNotFound},
	)
}

func TestDetectionLevelAccess(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	w.Group(t, "settings-admins", auth.SettingsManage)
	w.Person(t, "settings", "settings-admins")
	id := w.Level(t, "Logged").String()
	form := levelValues("New", "10", "#000000", false)
	w.Run(t,
		apptest.Step{Name: "red cannot see the scale page", As: "red", Path: "/admin/detection-levels", Status: http.StatusForbidden},
		apptest.Step{Name: "red cannot create", As: "red", Path: "/admin/detection-levels", Form: form, Status: http.StatusForbidden},
		apptest.Step{Name: "red cannot delete", As: "red", Path: "/admin/detection-levels/" + id + "/delete", Form: form, Status: http.StatusForbidden},
		apptest.Step{Name: "anonymous goes to login", Path: "/admin/detection-levels", Status: http.StatusSeeOther},
		apptest.Step{Name: "admin sees the page", As: "admin", Path: "/admin/detection-levels"},
		apptest.Step{Name: "settings.manage alone sees the page", As: "settings", Path: "/admin/detection-levels"},
		apptest.Step{Name: "settings.manage alone edits", As: "settings", Path: "/admin/detection-levels/" + id, Form: form, Status: http.StatusSeeOther},
	)
	if got := levelScale(t, w.App); got != "Blocked,Alerted,New,Not detected" {
		t.Errorf("scale %s: only the settings manager's edit should have changed it", got)
	}
}
