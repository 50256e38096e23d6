package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/auditevent"
	"violet/ent/detectionlevel"
	"violet/ent/permission"
	"violet/internal/apptest"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// levelFixture is an app with an admin, a user with only settings.manage
// (through a group of their own) and helpers reading the scale back.
type levelFixture struct {
	t     *testing.T
	app   *apptest.App
	admin *http.Cookie
	red   *http.Cookie
}

func newLevelFixture(t *testing.T) *levelFixture {
	t.Helper()
	app := apptest.New(t)
	return &levelFixture{t: t, app: app,
		admin: app.SignedIn(t, "admin@example.com", "admin"),
		red:   app.SignedIn(t, "red@example.com", "redteam"),
	}
}

// level returns the id of the level named name.
func (f *levelFixture) level(name string) uuid.UUID {
	f.t.Helper()
	lv, err := f.app.Ent.DetectionLevel.Query().Where(detectionlevel.Name(name)).Only(rule.SystemContext(context.Background()))
	if err != nil {
		f.t.Fatalf("level %q: %v", name, err)
	}
	return lv.ID
}

// scale returns the levels' names in position order, failing unless the
// positions are distinct.
func (f *levelFixture) scale() string {
	f.t.Helper()
	rows, err := f.app.DB.Query(`SELECT name, position FROM detection_levels ORDER BY position, name`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	seen := map[int]bool{}
	for rows.Next() {
		var name string
		var pos int
		if err := rows.Scan(&name, &pos); err != nil {
			f.t.Fatal(err)
		}
		if seen[pos] {
			f.t.Errorf("two levels at position %d", pos)
		}
		seen[pos] = true
		names = append(names, name)
	}
	return strings.Join(names, ",")
}

// audits counts the audit events of action on the level id.
func (f *levelFixture) audits(action string, id uuid.UUID) int {
	f.t.Helper()
	n, err := f.app.Ent.AuditEvent.Query().Where(auditevent.Action(action), auditevent.TargetID(id.String())).
		Count(rule.SystemContext(context.Background()))
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// rateTest makes a mission with one test rated with the level.
func (f *levelFixture) rateTest(level uuid.UUID) {
	f.t.Helper()
	mission := uuid.New()
	if _, err := f.app.DB.Exec(`INSERT INTO missions (id, name) VALUES ($1, 'M')`, mission); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.app.DB.Exec(`INSERT INTO mission_tests (mission_id, name, platforms, detection_level_id)
		VALUES ($1, 'T', '[]', $2)`, mission, level); err != nil {
		f.t.Fatal(err)
	}
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
	f := newLevelFixture(t)
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
			before := f.scale()
			w := f.app.PostAs(f.admin, "/admin/detection-levels", tt.form)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.errField != "" {
				d := doc(t, w)
				if testid(d, "error-"+tt.errField) == "" {
					t.Errorf("no error next to %s", tt.errField)
				}
				if got, _ := d.Find(`#field-name`).Attr("value"); got != strings.TrimSpace(tt.form.Get("name")) {
					t.Errorf("name not kept: %q", got)
				}
				if got := f.scale(); got != before {
					t.Errorf("scale changed on a refused form: %s", got)
				}
				return
			}
			if got := f.scale(); got != tt.wantScale {
				t.Errorf("scale %s, want %s", got, tt.wantScale)
			}
			lv, err := f.app.Ent.DetectionLevel.Get(rule.SystemContext(context.Background()), f.level("Contained"))
			if err != nil {
				t.Fatal(err)
			}
			if lv.Colour != "#0f766e" || lv.Score != 90 || !lv.CountsAsDetected || lv.Description != "About Contained" {
				t.Errorf("saved %+v", lv)
			}
			if n := f.audits("detection_level.created", lv.ID); n != 1 {
				t.Errorf("%d created events, want 1", n)
			}
		})
	}
}

func TestDetectionLevelColourPicker(t *testing.T) {
	t.Parallel()
	f := newLevelFixture(t)
	// The text field unchanged: the picker's colour is saved.
	form := levelValues("Picked", "40", "#6b7280", false)
	form.Set("colour_picker", "#123abc")
	if w := f.app.PostAs(f.admin, "/admin/detection-levels", form); w.Code != http.StatusSeeOther {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	// The text field changed: it wins over the picker.
	form = levelValues("Typed", "40", "#ABCDEF", false)
	form.Set("colour_picker", "#123abc")
	if w := f.app.PostAs(f.admin, "/admin/detection-levels", form); w.Code != http.StatusSeeOther {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ctx := rule.SystemContext(context.Background())
	for name, want := range map[string]string{"Picked": "#123abc", "Typed": "#abcdef"} {
		lv, err := f.app.Ent.DetectionLevel.Get(ctx, f.level(name))
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
	f := newLevelFixture(t)
	id := f.level("Logged")
	path := "/admin/detection-levels/" + id.String()
	if w := f.app.GetAs(f.admin, path); w.Code != http.StatusOK {
		t.Fatalf("edit page %d", w.Code)
	} else if v, _ := doc(t, w).Find("#field-name").Attr("value"); v != "Logged" {
		t.Errorf("edit form name %q", v)
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		want   string // saved name
	}{
		{"rename onto another level refused", levelValues("Alerted", "25", "#ca8a04", false), http.StatusUnprocessableEntity, "Logged"},
		{"bad score keeps input", levelValues("Seen in logs", "250", "#ca8a04", false), http.StatusUnprocessableEntity, "Logged"},
		{"valid edit", levelValues("Seen in logs", "30", "#ca8a04", true), http.StatusSeeOther, "Seen in logs"},
		{"same name own level", levelValues("Seen in logs", "30", "#ca8a04", true), http.StatusSeeOther, "Seen in logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.app.PostAs(f.admin, path, tt.form)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == http.StatusUnprocessableEntity {
				if v, _ := doc(t, w).Find("#field-score").Attr("value"); v != tt.form.Get("score") {
					t.Errorf("score not kept: %q", v)
				}
			}
			lv, err := f.app.Ent.DetectionLevel.Get(rule.SystemContext(context.Background()), id)
			if err != nil {
				t.Fatal(err)
			}
			if lv.Name != tt.want {
				t.Errorf("name %q, want %q", lv.Name, tt.want)
			}
		})
	}
	// The valid edit recorded one event; the unchanged save none.
	if n := f.audits("detection_level.updated", id); n != 1 {
		t.Errorf("%d updated events, want 1", n)
	}
	if w := f.app.GetAs(f.admin, "/admin/detection-levels/"+uuid.NewString()); w.Code != http.StatusNotFound {
		t.Errorf("unknown level: %d", w.Code)
	}
}

func TestDetectionLevelMove(t *testing.T) {
	t.Parallel()
	f := newLevelFixture(t)
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
			var hdr []string
			if tt.htmx {
				hdr = []string{"HX-Request", "true"}
			}
			w := f.app.PostAs(f.admin, "/admin/detection-levels/"+f.level(tt.level).String()+"/move",
				url.Values{"direction": {tt.direction}}, hdr...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if got := f.scale(); got != tt.want {
				t.Errorf("scale %s, want %s", got, tt.want)
			}
			if tt.htmx {
				d := doc(t, w)
				if d.Find(`[data-testid="detection-levels"]`).Length() != 1 || d.Find("header").Length() != 0 {
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
	f := newLevelFixture(t)
	logged, blocked := f.level("Logged"), f.level("Blocked")
	f.rateTest(logged)
	base := "/admin/detection-levels/"

	// The list offers no delete for the level in use, and delete for the other.
	d := doc(t, f.app.GetAs(f.admin, "/admin/detection-levels"))
	row := func(name string) *goquery.Selection {
		return d.Find(`[data-testid="detection-row"][data-name="` + name + `"]`)
	}
	if row("Logged").Find(`[data-testid="detection-delete"]`).Length() != 0 {
		t.Error("a level in use offers delete")
	}
	if row("Logged").Find(`[data-testid="detection-retire"]`).Length() != 1 {
		t.Error("a level in use offers no retire")
	}
	if row("Blocked").Find(`[data-testid="detection-delete"]`).Length() != 1 {
		t.Error("an unused level offers no delete")
	}
	if got := testid(d, "detection-uses"); got == "" {
		t.Error("no use count")
	}

	tests := []struct {
		name   string
		path   string
		htmx   bool
		status int
		check  func(t *testing.T)
	}{
		{"delete in use refused", base + logged.String() + "/delete", false, http.StatusConflict, func(t *testing.T) {
			if !strings.Contains(f.scale(), "Logged") {
				t.Error("level in use deleted")
			}
			if n := f.audits("detection_level.deleted", logged); n != 0 {
				t.Errorf("%d delete events", n)
			}
		}},
		{"delete in use refused (htmx)", base + logged.String() + "/delete", true, http.StatusConflict, nil},
		{"retire", base + logged.String() + "/retire", false, http.StatusSeeOther, func(t *testing.T) {
			lv, _ := f.app.Ent.DetectionLevel.Get(rule.SystemContext(context.Background()), logged)
			if !lv.Retired {
				t.Error("not retired")
			}
		}},
		{"retire twice changes nothing", base + logged.String() + "/retire", true, http.StatusOK, func(t *testing.T) {
			if n := f.audits("detection_level.updated", logged); n != 1 {
				t.Errorf("%d update events, want 1", n)
			}
		}},
		{"unretire", base + logged.String() + "/unretire", false, http.StatusSeeOther, func(t *testing.T) {
			lv, _ := f.app.Ent.DetectionLevel.Get(rule.SystemContext(context.Background()), logged)
			if lv.Retired {
				t.Error("still retired")
			}
		}},
		{"delete unused", base + blocked.String() + "/delete", false, http.StatusSeeOther, func(t *testing.T) {
			if got := f.scale(); got != "Alerted,Logged,Not detected" {
				t.Errorf("scale %s", got)
			}
			if n := f.audits("detection_level.deleted", blocked); n != 1 {
				t.Errorf("%d delete events, want 1", n)
			}
		}},
		{"delete missing", base + blocked.String() + "/delete", false, http.StatusNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.htmx {
				hdr = []string{"HX-Request", "true"}
			}
			w := f.app.PostAs(f.admin, tt.path, url.Values{}, hdr...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == http.StatusConflict && testid(doc(t, w), "detection-error") == "" {
				t.Error("no message saying why")
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}

func TestDetectionLevelAccess(t *testing.T) {
	t.Parallel()
	f := newLevelFixture(t)
	settingsOnly := settingsManager(t, f.app)
	id := f.level("Logged").String()
	tests := []struct {
		name   string
		cookie *http.Cookie
		method string
		path   string
		status int
	}{
		{"red cannot see the scale page", f.red, http.MethodGet, "/admin/detection-levels", http.StatusForbidden},
		{"red cannot create", f.red, http.MethodPost, "/admin/detection-levels", http.StatusForbidden},
		{"red cannot delete", f.red, http.MethodPost, "/admin/detection-levels/" + id + "/delete", http.StatusForbidden},
		{"anonymous goes to login", nil, http.MethodGet, "/admin/detection-levels", http.StatusSeeOther},
		{"admin sees the page", f.admin, http.MethodGet, "/admin/detection-levels", http.StatusOK},
		{"settings.manage alone sees the page", settingsOnly, http.MethodGet, "/admin/detection-levels", http.StatusOK},
		{"settings.manage alone edits", settingsOnly, http.MethodPost, "/admin/detection-levels/" + id, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var code int
			if tt.method == http.MethodGet {
				code = f.app.GetAs(tt.cookie, tt.path).Code
			} else {
				code = f.app.PostAs(tt.cookie, tt.path, levelValues("New", "10", "#000000", false)).Code
			}
			if code != tt.status {
				t.Errorf("status %d, want %d", code, tt.status)
			}
		})
	}
	if got := f.scale(); got != "Blocked,Alerted,New,Not detected" {
		t.Errorf("scale %s: only the settings manager's edit should have changed it", got)
	}
}
