package handlers_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/apptest"
	"violet/internal/auth/rule"
)

// missionFixture is an app with one signed-in user per role on one
// mission ("Operation Violet": lead, red, blue, observer members), an
// outsider in the red team who is not a member, an admin who is not a
// member either, and a user without groups.
type missionFixture struct {
	t       *testing.T
	app     *apptest.App
	cookies map[string]*http.Cookie
	users   map[string]uuid.UUID
	mission uuid.UUID
}

// missionRoles are the fixture's people, in the order tables list them.
var missionRoles = []string{"lead", "red", "blue", "observer", "outsider", "admin", "none"}

func newMissionFixture(t *testing.T) *missionFixture {
	t.Helper()
	app := apptest.New(t)
	f := &missionFixture{t: t, app: app, cookies: map[string]*http.Cookie{}, users: map[string]uuid.UUID{}}
	groups := map[string][]string{
		"lead": {"redteam"}, "red": {"redteam"}, "blue": {"blueteam"}, "observer": {"observer"},
		"outsider": {"redteam"}, "admin": {"admin"}, "none": nil,
	}
	for _, role := range missionRoles {
		email := role + "@example.com"
		f.cookies[role] = app.SignedIn(t, email, groups[role]...)
		f.users[role] = f.userID(email)
	}
	f.mission = f.newMission("Operation Violet", map[string]string{
		"lead": "lead", "red": "red", "blue": "blue", "observer": "observer"})
	return f
}

func (f *missionFixture) userID(email string) uuid.UUID {
	f.t.Helper()
	var id uuid.UUID
	if err := f.app.DB.QueryRow(`SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// newMission makes a mission with members (fixture person → role).
func (f *missionFixture) newMission(name string, members map[string]string) uuid.UUID {
	f.t.Helper()
	ctx := rule.SystemContext(context.Background())
	m := f.app.Ent.Mission.Create().SetName(name).SaveX(ctx)
	for person, role := range members {
		f.app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(f.users[person]).
			SetRole(missionmember.Role(role)).ExecX(ctx)
	}
	return m.ID
}

// addTest plans a test on mission in state, released to blue or not.
func (f *missionFixture) addTest(mission uuid.UUID, name string, state missiontest.State, released bool) uuid.UUID {
	f.t.Helper()
	ctx := rule.SystemContext(context.Background())
	return f.app.Ent.MissionTest.Create().SetMissionID(mission).SetName(name).SetState(state).
		SetReleasedToBlue(released).SaveX(ctx).ID
}

func (f *missionFixture) path(suffix string) string {
	return "/missions/" + f.mission.String() + suffix
}

func (f *missionFixture) get(role, path string, header ...string) *httptest.ResponseRecorder {
	return f.app.GetAs(f.cookies[role], path, header...)
}

func (f *missionFixture) post(role, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	return f.app.PostAs(f.cookies[role], path, form, header...)
}

func (f *missionFixture) count(q string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.app.DB.QueryRow(q, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (f *missionFixture) str(q string, args ...any) string {
	f.t.Helper()
	var s sql.NullString
	if err := f.app.DB.QueryRow(q, args...).Scan(&s); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

func (f *missionFixture) version() int {
	return f.count(`SELECT version FROM missions WHERE id = $1`, f.mission)
}

func (f *missionFixture) audits(action string) int {
	return f.count(`SELECT count(*) FROM audit_events WHERE action = $1`, action)
}

// validMission is a complete, valid mission form.
func validMission(name string) url.Values {
	return url.Values{"name": {name}, "description": {"About **it**"}, "scope": {"Lab network"},
		"start_date": {"2026-03-01"}, "end_date": {"2026-03-31"}}
}

// TestMissionRoleMatrix: every route of the mission list, form, settings,
// members and categories, for each role on the mission; the writes are
// checked in the database too (a refused write changes nothing).
func TestMissionRoleMatrix(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	const (
		ok   = http.StatusOK
		see  = http.StatusSeeOther
		no   = http.StatusForbidden
		gone = http.StatusNotFound
	)
	type row struct {
		name   string
		do     func(role string) *httptest.ResponseRecorder
		want   map[string]int
		effect func(role string, code int) // checks the database after the call
	}
	catCount := func() int {
		return f.count(`SELECT count(*) FROM mission_categories WHERE mission_id = $1 AND deleted_at IS NULL`, f.mission)
	}
	rows := []row{
		{"GET /missions", func(r string) *httptest.ResponseRecorder { return f.get(r, "/missions") },
			map[string]int{"lead": ok, "red": ok, "blue": ok, "observer": ok, "outsider": ok, "admin": ok, "none": no}, nil},
		{"GET /missions/new", func(r string) *httptest.ResponseRecorder { return f.get(r, "/missions/new") },
			map[string]int{"lead": ok, "red": ok, "blue": no, "observer": no, "outsider": ok, "admin": ok, "none": no}, nil},
		{"POST /missions", func(r string) *httptest.ResponseRecorder {
			return f.post(r, "/missions", validMission("Created by "+r))
		}, map[string]int{"lead": see, "red": see, "blue": no, "observer": no, "outsider": see, "admin": see, "none": no},
			func(r string, code int) {
				n := f.count(`SELECT count(*) FROM missions WHERE name = $1`, "Created by "+r)
				if (code == see) != (n == 1) {
					t.Errorf("%s: %d missions created with status %d", r, n, code)
				}
			}},
		{"GET settings", func(r string) *httptest.ResponseRecorder { return f.get(r, f.path("/settings")) },
			map[string]int{"lead": ok, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": ok, "none": no}, nil},
		{"POST settings", func(r string) *httptest.ResponseRecorder {
			form := validMission("Renamed by " + r)
			form.Set("version", strconv.Itoa(f.version()))
			return f.post(r, f.path("/settings"), form)
		}, map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": see, "none": no},
			func(r string, code int) {
				renamed := f.str(`SELECT name FROM missions WHERE id = $1`, f.mission) == "Renamed by "+r
				if (code == see) != renamed {
					t.Errorf("%s: renamed %v with status %d", r, renamed, code)
				}
			}},
		{"POST status", func(r string) *httptest.ResponseRecorder {
			return f.post(r, f.path("/status"), url.Values{"to": {"planned"}})
		}, // no test planned yet: a manager gets the reason (422)
			map[string]int{"lead": 422, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": 422, "none": no},
			func(r string, _ int) {
				if s := f.str(`SELECT status FROM missions WHERE id = $1`, f.mission); s != "draft" {
					t.Errorf("%s: status %s", r, s)
				}
			}},
		{"GET members", func(r string) *httptest.ResponseRecorder { return f.get(r, f.path("/members")) },
			map[string]int{"lead": ok, "red": ok, "blue": ok, "observer": ok, "outsider": gone, "admin": ok, "none": no}, nil},
		{"GET member candidates", func(r string) *httptest.ResponseRecorder {
			return f.get(r, f.path("/members/candidates?q=out"), hxRequest...)
		}, map[string]int{"lead": ok, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": ok, "none": no}, nil},
		{"POST members (add)", func(r string) *httptest.ResponseRecorder {
			return f.post(r, f.path("/members"), url.Values{"user_id": {f.users["none"].String()}, "role": {"observer"}})
		}, map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": 422, "none": no},
			func(r string, code int) {
				n := f.count(`SELECT count(*) FROM mission_members WHERE mission_id = $1 AND user_id = $2`, f.mission, f.users["none"])
				if n != 1 && r == "lead" || n > 1 {
					t.Errorf("%s: %d memberships", r, n)
				}
			}},
		{"POST member role", func(r string) *httptest.ResponseRecorder {
			return f.post(r, f.path("/members/"+f.users["observer"].String()+"/role"), url.Values{"role": {"red"}})
		}, map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": see, "none": no}, nil},
		{"POST member remove", func(r string) *httptest.ResponseRecorder {
			return f.post(r, f.path("/members/"+f.users["none"].String()+"/remove"), nil)
		}, // admin comes after lead removed them: the member is gone (404)
			map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": gone, "none": no}, nil},
		{"GET categories", func(r string) *httptest.ResponseRecorder { return f.get(r, f.path("/categories")) },
			map[string]int{"lead": ok, "red": ok, "blue": ok, "observer": ok, "outsider": gone, "admin": ok, "none": no}, nil},
		{"POST categories (add)", func(r string) *httptest.ResponseRecorder {
			before := catCount()
			w := f.post(r, f.path("/categories"), url.Values{"name": {"By " + r}, "colour": {"#112233"}})
			if after := catCount(); (w.Code == see) != (after == before+1) {
				t.Errorf("%s: categories %d → %d with status %d", r, before, after, w.Code)
			}
			return w
		}, map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": see, "none": no}, nil},
		{"POST mission delete", func(r string) *httptest.ResponseRecorder {
			return f.post(r, "/missions/"+f.newMission("To delete "+r, map[string]string{"lead": "lead", "red": "red",
				"blue": "blue", "observer": "observer"}).String()+"/delete", nil)
		}, map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": see, "none": no},
			func(r string, code int) {
				deleted := f.count(`SELECT count(*) FROM missions WHERE name = $1 AND deleted_at IS NOT NULL`, "To delete "+r) == 1
				if (code == see) != deleted {
					t.Errorf("%s: deleted %v with status %d", r, deleted, code)
				}
			}},
		{"POST mission restore", func(r string) *httptest.ResponseRecorder {
			id := f.newMission("To restore "+r, map[string]string{"lead": "lead"})
			if _, err := f.app.DB.Exec(`UPDATE missions SET deleted_at = now() WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
			return f.post(r, "/missions/"+id.String()+"/restore", nil)
		}, map[string]int{"lead": no, "red": no, "blue": no, "observer": no, "outsider": no, "admin": see, "none": no},
			func(r string, code int) {
				restored := f.count(`SELECT count(*) FROM missions WHERE name = $1 AND deleted_at IS NULL`, "To restore "+r) == 1
				if (code == see) != restored {
					t.Errorf("%s: restored %v with status %d", r, restored, code)
				}
			}},
	}
	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			for _, role := range missionRoles {
				w := rw.do(role)
				if w.Code != rw.want[role] {
					t.Errorf("%s: status %d, want %d", role, w.Code, rw.want[role])
				}
				if rw.effect != nil {
					rw.effect(role, w.Code)
				}
			}
		})
	}
}

// TestCreateMission: a valid form creates the mission with its creator as
// lead and an audit event, and opens it; refused forms are 422 with the
// input kept and nothing created.
func TestCreateMission(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	w := f.post("red", "/missions", validMission("Night run"))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", w.Code, w.Body)
	}
	var id uuid.UUID
	var scope, start, end, status string
	if err := f.app.DB.QueryRow(`SELECT id, scope, start_date::text, end_date::text, status FROM missions WHERE name = 'Night run'`).
		Scan(&id, &scope, &start, &end, &status); err != nil {
		t.Fatal(err)
	}
	if loc := w.Header().Get("Location"); loc != "/missions/"+id.String() {
		t.Errorf("redirect to %q", loc)
	}
	if scope != "Lab network" || start != "2026-03-01" || end != "2026-03-31" || status != "draft" {
		t.Errorf("stored %q %s %s %s", scope, start, end, status)
	}
	if role := f.str(`SELECT role FROM mission_members WHERE mission_id = $1 AND user_id = $2`, id, f.users["red"]); role != "lead" {
		t.Errorf("creator's role %q, want lead", role)
	}
	if n := f.count(`SELECT count(*) FROM audit_events WHERE action = 'mission.created' AND target_id = $1`, id.String()); n != 1 {
		t.Errorf("%d audit events", n)
	}

	cases := []struct {
		name  string
		form  url.Values
		field string
	}{
		{"empty name", url.Values{"name": {"  "}, "scope": {"kept scope"}}, "name"},
		{"name too long", url.Values{"name": {strings.Repeat("é", 151)}, "scope": {"kept scope"}}, "name"},
		{"end before start", url.Values{"name": {"Backwards"}, "scope": {"kept scope"}, "start_date": {"2026-03-10"}, "end_date": {"2026-03-09"}}, "end_date"},
		{"malformed date", url.Values{"name": {"Bad date"}, "scope": {"kept scope"}, "start_date": {"10/03/2026"}}, "start_date"},
		{"description too long", url.Values{"name": {"Long"}, "scope": {"kept scope"}, "description": {strings.Repeat("x", 20001)}}, "description"},
	}
	before := f.count(`SELECT count(*) FROM missions`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.post("red", "/missions", tc.form)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", w.Code)
			}
			d := doc(t, w)
			if d.Find(`[data-testid="error-`+tc.field+`"]`).Length() != 1 || d.Find(`[data-testid="error-summary"]`).Length() != 1 {
				t.Errorf("no error for %s", tc.field)
			}
			if got := d.Find(`textarea[name="scope"]`).Text(); got != "kept scope" {
				t.Errorf("scope not kept: %q", got)
			}
			if v := d.Find(`input[name="start_date"]`).AttrOr("value", ""); v != tc.form.Get("start_date") {
				t.Errorf("start date not kept: %q", v)
			}
		})
	}
	if after := f.count(`SELECT count(*) FROM missions`); after != before {
		t.Errorf("refused forms created %d missions", after-before)
	}
	// Extra fields are ignored: the status and creator are not the form's.
	form := validMission("Sneaky")
	form.Set("status", "archived")
	form.Set("created_by_id", f.users["admin"].String())
	if w := f.post("red", "/missions", form); w.Code != http.StatusSeeOther {
		t.Fatalf("sneaky: %d", w.Code)
	}
	if s := f.str(`SELECT status::text || ' ' || created_by_id::text FROM missions WHERE name = 'Sneaky'`); s != "draft "+f.users["red"].String() {
		t.Errorf("sneaky mission: %s", s)
	}
}

// TestUpdateMissionConflict: a save from a page older than the last save
// is 409 with the user's input kept, the current values shown and the
// current version in the form; saving again from there works.
func TestUpdateMissionConflict(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	seen := f.version()
	adminForm := validMission("Admin's name")
	adminForm.Set("scope", "Admin scope")
	adminForm.Set("version", strconv.Itoa(seen))
	if w := f.post("admin", f.path("/settings"), adminForm); w.Code != http.StatusSeeOther {
		t.Fatalf("admin save: %d\n%s", w.Code, w.Body)
	}
	leadForm := validMission("Lead's name")
	leadForm.Set("scope", "Lead scope")
	leadForm.Set("version", strconv.Itoa(seen))
	w := f.post("lead", f.path("/settings"), leadForm)
	if w.Code != http.StatusConflict {
		t.Fatalf("stale save: %d", w.Code)
	}
	d := doc(t, w)
	if v := d.Find(`input[name="name"]`).AttrOr("value", ""); v != "Lead's name" {
		t.Errorf("input not kept: %q", v)
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="mission-saved"] [data-testid="value-name"]`).Text()); got != "Admin's name" {
		t.Errorf("saved values show %q", got)
	}
	if d.Find(`[data-testid="mission-notice"]`).Length() != 1 {
		t.Error("no notice")
	}
	now := f.version()
	if now != seen+1 || d.Find(`input[name="version"]`).AttrOr("value", "") != strconv.Itoa(now) {
		t.Errorf("version %d, form carries %s", now, d.Find(`input[name="version"]`).AttrOr("value", ""))
	}
	if name := f.str(`SELECT name FROM missions WHERE id = $1`, f.mission); name != "Admin's name" {
		t.Errorf("stale save changed the name to %q", name)
	}
	leadForm.Set("version", strconv.Itoa(now))
	if w := f.post("lead", f.path("/settings"), leadForm); w.Code != http.StatusSeeOther {
		t.Fatalf("save again: %d", w.Code)
	}
	if name := f.str(`SELECT name FROM missions WHERE id = $1`, f.mission); name != "Lead's name" {
		t.Errorf("name %q", name)
	}
	if n := f.audits("mission.updated"); n != 2 {
		t.Errorf("%d update events, want 2", n)
	}
	// Validation on edit keeps the input too, and a missing version is 400.
	bad := validMission("")
	bad.Set("version", strconv.Itoa(f.version()))
	if w := f.post("lead", f.path("/settings"), bad); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("invalid edit: %d", w.Code)
	}
	if w := f.post("lead", f.path("/settings"), validMission("No version")); w.Code != http.StatusBadRequest {
		t.Errorf("no version: %d", w.Code)
	}
}

// TestMissionStatusTransitions walks a mission through its life: refused
// moves are 422 with the reason and change nothing; archived missions are
// read-only until a lead reopens them.
func TestMissionStatusTransitions(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	status := func() string { return f.str(`SELECT status FROM missions WHERE id = $1`, f.mission) }
	move := func(role, to string, want int, wantStatus string) *goquery.Document {
		t.Helper()
		w := f.post(role, f.path("/status"), url.Values{"to": {to}})
		if w.Code != want {
			t.Fatalf("%s → %s: %d, want %d\n%s", role, to, w.Code, want, w.Body)
		}
		if s := status(); s != wantStatus {
			t.Fatalf("%s → %s: status %s, want %s", role, to, s, wantStatus)
		}
		if w.Code == http.StatusSeeOther || w.Code >= 500 {
			return nil
		}
		return doc(t, w)
	}
	d := move("lead", "planned", 422, "draft")
	if n := strings.TrimSpace(d.Find(`[data-testid="mission-notice"]`).Text()); !strings.Contains(n, "at least one test") {
		t.Errorf("reason %q", n)
	}
	d = move("lead", "completed", 422, "draft") // not a next status of draft
	if n := d.Find(`[data-testid="mission-notice"]`).Text(); !strings.Contains(n, "“Completed”") {
		t.Errorf("reason %q", n)
	}
	move("lead", "bogus", http.StatusBadRequest, "draft")
	move("red", "planned", http.StatusForbidden, "draft")
	test := f.addTest(f.mission, "Run PowerShell", missiontest.StatePending, false)
	move("lead", "planned", http.StatusSeeOther, "planned")
	move("lead", "draft", http.StatusSeeOther, "draft")
	move("lead", "planned", http.StatusSeeOther, "planned")
	move("lead", "in_progress", http.StatusSeeOther, "in_progress")
	d = move("lead", "completed", 422, "in_progress")
	if n := d.Find(`[data-testid="mission-notice"]`).Text(); !strings.Contains(n, "1 test is not reviewed") {
		t.Errorf("reason %q", n)
	}
	if _, err := f.app.DB.Exec(`UPDATE mission_tests SET state = 'reviewed' WHERE id = $1`, test); err != nil {
		t.Fatal(err)
	}
	move("lead", "completed", http.StatusSeeOther, "completed")
	move("lead", "archived", http.StatusSeeOther, "archived")

	// Archived: the settings page has no inputs, offers reopening only,
	// and refuses saves and plan changes.
	w := f.get("lead", f.path("/settings"))
	if w.Code != http.StatusOK {
		t.Fatal(w.Code)
	}
	d = doc(t, w)
	if d.Find(`[data-testid="mission-settings"] input, [data-testid="mission-settings"] textarea`).Length() != 0 ||
		d.Find(`[data-testid="mission-read-only"]`).Length() != 1 {
		t.Error("archived mission's form still has inputs")
	}
	var next []string
	d.Find(`[data-testid="mission-status-box"] button`).Each(func(_ int, s *goquery.Selection) { next = append(next, s.AttrOr("data-to", "")) })
	if strings.Join(next, ",") != "completed" {
		t.Errorf("archived offers %v", next)
	}
	form := validMission("Archived edit")
	form.Set("version", strconv.Itoa(f.version()))
	if w := f.post("lead", f.path("/settings"), form); w.Code != http.StatusConflict {
		t.Errorf("archived save: %d", w.Code)
	}
	if w := f.post("lead", f.path("/categories"), url.Values{"name": {"Late"}, "colour": {"#000000"}}); w.Code != http.StatusConflict {
		t.Errorf("archived category add: %d", w.Code)
	}
	move("observer", "completed", http.StatusForbidden, "archived")
	move("lead", "completed", http.StatusSeeOther, "completed") // reopen
	move("lead", "in_progress", http.StatusSeeOther, "in_progress")
	if n := f.audits("mission.status_changed"); n != 8 {
		t.Errorf("%d status events, want 8", n)
	}
	if s := f.str(`SELECT details->>'from' || '>' || (details->>'to') FROM audit_events WHERE action = 'mission.status_changed' ORDER BY created_at DESC, id LIMIT 1`); s != "completed>in_progress" {
		t.Errorf("last event %s", s)
	}
}

// TestMissionMembers: leads add people found by name or email with a role,
// change roles and remove members; a person is a member once; the last
// lead can be neither demoted nor removed.
func TestMissionMembers(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	ctx := rule.SystemContext(context.Background())
	carol := f.app.User(t, "carol.analyst@example.com", "blueteam")
	gone := f.app.User(t, "carol.gone@example.com", "blueteam")
	f.app.Ent.User.UpdateOne(gone).SetIsActive(false).ExecX(ctx)
	role := func(u uuid.UUID) string {
		return f.str(`SELECT role FROM mission_members WHERE mission_id = $1 AND user_id = $2`, f.mission, u)
	}

	t.Run("search", func(t *testing.T) {
		w := f.get("lead", f.path("/members/candidates?q=CAROL"), hxRequest...)
		if w.Code != http.StatusOK {
			t.Fatal(w.Code)
		}
		var hits []string
		doc(t, w).Find(`[data-testid="member-candidate"]`).Each(func(_ int, s *goquery.Selection) { hits = append(hits, s.AttrOr("data-user-id", "")) })
		if strings.Join(hits, ",") != carol.ID.String() {
			t.Errorf("hits %v: want only the active carol", hits)
		}
		// Members are not offered; the page without JavaScript shows results.
		if w := f.get("lead", f.path("/members/candidates?q=blue"), hxRequest...); strings.Contains(w.Body.String(), f.users["blue"].String()) {
			t.Error("a member is offered")
		}
		if w := f.get("lead", f.path("/members?q=carol")); !strings.Contains(w.Body.String(), `data-testid="member-candidate"`) {
			t.Error("no results on the page")
		}
	})
	t.Run("add", func(t *testing.T) {
		w := f.post("lead", f.path("/members"), url.Values{"user_id": {carol.ID.String()}, "role": {"blue"}, "q": {"carol"}}, hxRequest...)
		if w.Code != http.StatusOK {
			t.Fatalf("add: %d", w.Code)
		}
		d := doc(t, w)
		if d.Find(`[data-testid="member-row"][data-user-id="`+carol.ID.String()+`"][data-role="blue"]`).Length() != 1 {
			t.Error("the list does not show carol as blue")
		}
		// The search results come back out of band, without carol.
		cands := d.Find(`#member-candidates[hx-swap-oob="true"]`)
		if cands.Length() != 1 || cands.Find(`[data-testid="member-candidate"]`).Length() != 0 ||
			cands.Find(`[data-testid="member-candidates-none"]`).Length() != 1 {
			t.Error("the search results are not refreshed")
		}
		if role(carol.ID) != "blue" {
			t.Error("not stored")
		}
		w = f.post("lead", f.path("/members"), url.Values{"user_id": {carol.ID.String()}, "role": {"red"}}, hxRequest...)
		if w.Code != http.StatusUnprocessableEntity || doc(t, w).Find(`[data-testid="members-notice"][data-notice="error"]`).Length() != 1 {
			t.Errorf("second add: %d", w.Code)
		}
		if role(carol.ID) != "blue" {
			t.Error("second add changed the role")
		}
		if w := f.post("lead", f.path("/members"), url.Values{"user_id": {gone.ID.String()}, "role": {"red"}}); w.Code != http.StatusUnprocessableEntity {
			t.Errorf("inactive user: %d", w.Code)
		}
		if w := f.post("lead", f.path("/members"), url.Values{"user_id": {carol.ID.String()}, "role": {"owner"}}); w.Code != http.StatusBadRequest {
			t.Errorf("unknown role: %d", w.Code)
		}
		if n := f.audits("mission.member_added"); n != 1 {
			t.Errorf("%d add events", n)
		}
	})
	t.Run("last lead", func(t *testing.T) {
		lead := f.users["lead"].String()
		w := f.post("lead", f.path("/members/"+lead+"/role"), url.Values{"role": {"red"}}, hxRequest...)
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "at least one lead") {
			t.Errorf("demote the last lead: %d", w.Code)
		}
		if w := f.post("admin", f.path("/members/"+lead+"/remove"), nil); w.Code != http.StatusUnprocessableEntity {
			t.Errorf("remove the last lead: %d", w.Code)
		}
		if role(f.users["lead"]) != "lead" {
			t.Error("the last lead lost the role")
		}
		// With a second lead, the first may step down.
		if w := f.post("lead", f.path("/members/"+f.users["red"].String()+"/role"), url.Values{"role": {"lead"}}); w.Code != http.StatusSeeOther {
			t.Fatalf("promote: %d", w.Code)
		}
		w = f.post("lead", f.path("/members/"+lead+"/role"), url.Values{"role": {"observer"}}, hxRequest...)
		if w.Code != http.StatusOK || role(f.users["lead"]) != "observer" {
			t.Fatalf("step down: %d", w.Code)
		}
		// Now an observer: the list is read-only for them.
		if doc(t, w).Find(`select[name="role"]`).Length() != 0 {
			t.Error("a former lead still gets the role selects")
		}
		if w := f.post("lead", f.path("/members/"+f.users["red"].String()+"/remove"), nil); w.Code != http.StatusForbidden {
			t.Errorf("former lead removes: %d", w.Code)
		}
		if w := f.post("red", f.path("/members/"+f.users["red"].String()+"/remove"), nil); w.Code != http.StatusUnprocessableEntity {
			t.Errorf("the only lead removes themselves: %d", w.Code)
		}
	})
	t.Run("remove", func(t *testing.T) {
		w := f.post("red", f.path("/members/"+carol.ID.String()+"/remove"), nil)
		if w.Code != http.StatusSeeOther {
			t.Fatalf("remove: %d", w.Code)
		}
		if n := f.count(`SELECT count(*) FROM mission_members WHERE mission_id = $1 AND user_id = $2`, f.mission, carol.ID); n != 0 {
			t.Error("still a member")
		}
		if w := f.post("red", f.path("/members/"+carol.ID.String()+"/remove"), nil); w.Code != http.StatusNotFound {
			t.Errorf("remove twice: %d", w.Code)
		}
		if f.audits("mission.member_removed") != 1 || f.audits("mission.member_changed") != 2 {
			t.Errorf("events: removed %d changed %d", f.audits("mission.member_removed"), f.audits("mission.member_changed"))
		}
	})
}

// TestMissionCategories: leads add categories (validated), edit them in
// place, reorder and delete them; positions stay dense; a deleted
// category's tests become uncategorised; colours reach the page only as
// SVG fills.
func TestMissionCategories(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	order := func() string {
		rows, err := f.app.DB.Query(`SELECT name, position FROM mission_categories WHERE mission_id = $1 AND deleted_at IS NULL ORDER BY position`, f.mission)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for i := 0; rows.Next(); i++ {
			var name string
			var pos int
			if err := rows.Scan(&name, &pos); err != nil {
				t.Fatal(err)
			}
			if pos != i {
				t.Errorf("position %d at index %d", pos, i)
			}
			out = append(out, name)
		}
		return strings.Join(out, ",")
	}
	id := func(name string) string {
		return f.str(`SELECT id FROM mission_categories WHERE mission_id = $1 AND name = $2 AND deleted_at IS NULL`, f.mission, name)
	}
	for i, name := range []string{"Workstations", "Servers", "Cloud"} {
		w := f.post("lead", f.path("/categories"), url.Values{"name": {name}, "colour": {fmt.Sprintf("#A0B0C%d", i)}}, hxRequest...)
		if w.Code != http.StatusOK {
			t.Fatalf("add %s: %d", name, w.Code)
		}
	}
	if o := order(); o != "Workstations,Servers,Cloud" {
		t.Fatalf("order %s", o)
	}
	if c := f.str(`SELECT colour FROM mission_categories WHERE id = $1`, id("Cloud")); c != "#a0b0c2" {
		t.Errorf("colour stored as %q", c)
	}

	t.Run("validation", func(t *testing.T) {
		cases := []struct{ name, colour, field string }{
			{"", "#000000", "name"},
			{strings.Repeat("é", 51), "#000000", "name"},
			{"Bad colour", "red", "colour"},
			{"Script", `#000000"/><script>`, "colour"},
		}
		for _, tc := range cases {
			w := f.post("lead", f.path("/categories"), url.Values{"name": {tc.name}, "colour": {tc.colour}}, hxRequest...)
			if w.Code != http.StatusUnprocessableEntity {
				t.Errorf("%q %q: %d", tc.name, tc.colour, w.Code)
				continue
			}
			d := doc(t, w)
			if d.Find(`[data-testid="category-add"] [data-testid="error-`+tc.field+`"]`).Length() != 1 {
				t.Errorf("%q %q: no error on %s", tc.name, tc.colour, tc.field)
			}
			if v := d.Find(`#category-new-name`).AttrOr("value", ""); v != strings.TrimSpace(tc.name) {
				t.Errorf("name not kept: %q", v)
			}
		}
		if o := order(); o != "Workstations,Servers,Cloud" {
			t.Errorf("order %s", o)
		}
		// An edit refused: that row's form comes back open with its errors.
		w := f.post("lead", f.path("/categories/"+id("Servers")), url.Values{"name": {"Servers"}, "colour": {"blue"}}, hxRequest...)
		if w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("bad edit: %d", w.Code)
		}
		row := doc(t, w).Find(`[data-testid="category-row"][data-category-id="` + id("Servers") + `"]`)
		if _, open := row.Find(`details`).Attr("open"); !open || row.Find(`[data-testid="error-colour"]`).Length() != 1 {
			t.Error("the refused edit is not shown open with its error")
		}
	})
	t.Run("move", func(t *testing.T) {
		if w := f.post("lead", f.path("/categories/"+id("Cloud")+"/move"), url.Values{"direction": {"up"}}, hxRequest...); w.Code != http.StatusOK {
			t.Fatalf("move: %d", w.Code)
		}
		if o := order(); o != "Workstations,Cloud,Servers" {
			t.Errorf("after up: %s", o)
		}
		if w := f.post("lead", f.path("/categories/"+id("Workstations")+"/move"), url.Values{"direction": {"up"}}); w.Code != http.StatusSeeOther {
			t.Fatalf("first up: %d", w.Code)
		}
		if w := f.post("lead", f.path("/categories/"+id("Workstations")+"/move"), url.Values{"direction": {"down"}}); w.Code != http.StatusSeeOther {
			t.Fatalf("down: %d", w.Code)
		}
		if o := order(); o != "Cloud,Workstations,Servers" {
			t.Errorf("after first up and down: %s", o)
		}
		if w := f.post("lead", f.path("/categories/"+id("Cloud")+"/move"), url.Values{"direction": {"sideways"}}); w.Code != http.StatusBadRequest {
			t.Errorf("sideways: %d", w.Code)
		}
		other := f.newMission("Other", map[string]string{"lead": "lead"})
		if w := f.post("lead", "/missions/"+other.String()+"/categories/"+id("Cloud")+"/move", url.Values{"direction": {"down"}}); w.Code != http.StatusNotFound {
			t.Errorf("another mission's category: %d", w.Code)
		}
	})
	t.Run("edit", func(t *testing.T) {
		w := f.post("lead", f.path("/categories/"+id("Servers")), url.Values{"name": {"Data centre"}, "colour": {"#00FF00"}}, hxRequest...)
		if w.Code != http.StatusOK {
			t.Fatalf("edit: %d", w.Code)
		}
		if s := f.str(`SELECT name || ' ' || colour FROM mission_categories WHERE mission_id = $1 AND position = 2`, f.mission); s != "Data centre #00ff00" {
			t.Errorf("stored %s", s)
		}
	})
	t.Run("page", func(t *testing.T) {
		w := f.get("observer", f.path("/categories"))
		if w.Code != http.StatusOK {
			t.Fatal(w.Code)
		}
		body := w.Body.String()
		d := doc(t, w)
		var fills []string
		d.Find(`[data-testid="category-swatch"] rect`).Each(func(_ int, s *goquery.Selection) { fills = append(fills, s.AttrOr("fill", "")) })
		if strings.Join(fills, ",") != "#a0b0c2,#a0b0c0,#00ff00" {
			t.Errorf("fills %v", fills)
		}
		if strings.Contains(body, "style=") {
			t.Error("inline style on the page")
		}
		if d.Find(`[data-testid="category-add"], [data-testid="category-delete"]`).Length() != 0 {
			t.Error("an observer gets the management forms")
		}
		if d.Find(`[data-testid="mission-tabs"] [data-testid="mission-tab-settings"]`).Length() != 0 {
			t.Error("an observer gets the settings tab")
		}
	})
	t.Run("delete", func(t *testing.T) {
		cloud := id("Cloud")
		test := f.addTest(f.mission, "Enumerate buckets", missiontest.StatePending, false)
		if _, err := f.app.DB.Exec(`UPDATE mission_tests SET category_id = $1 WHERE id = $2`, cloud, test); err != nil {
			t.Fatal(err)
		}
		if w := f.post("red", f.path("/categories/"+cloud+"/delete"), nil); w.Code != http.StatusForbidden {
			t.Errorf("red deletes: %d", w.Code)
		}
		if w := f.post("lead", f.path("/categories/"+cloud+"/delete"), nil, hxRequest...); w.Code != http.StatusOK {
			t.Fatalf("delete: %d", w.Code)
		}
		if o := order(); o != "Workstations,Data centre" {
			t.Errorf("after delete: %s", o)
		}
		if c := f.str(`SELECT category_id::text FROM mission_tests WHERE id = $1`, test); c != "" {
			t.Errorf("the test keeps category %s", c)
		}
		if w := f.post("lead", f.path("/categories/"+cloud+"/delete"), nil); w.Code != http.StatusNotFound {
			t.Errorf("delete twice: %d", w.Code)
		}
		// 3 adds, 2 moves that changed the order and 1 that did not, 1 edit, 1 delete.
		if n := f.audits("mission.plan_changed"); n != 8 {
			t.Errorf("%d plan events, want 8", n)
		}
	})
}

// TestMissionDeleteRestore: a lead deletes a mission (then it is a 404
// everywhere and out of the list); the trash is for trash.manage, who
// restores it.
func TestMissionDeleteRestore(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	if w := f.post("lead", f.path("/delete"), nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/missions" {
		t.Fatalf("delete: %d %s", w.Code, w.Header().Get("Location"))
	}
	for _, p := range []string{"/settings", "/members", "/categories"} {
		if w := f.get("lead", f.path(p)); w.Code != http.StatusNotFound {
			t.Errorf("deleted mission %s: %d", p, w.Code)
		}
	}
	if w := f.get("lead", "/missions"); strings.Contains(w.Body.String(), f.mission.String()) {
		t.Error("the deleted mission is listed")
	}
	if w := f.get("lead", "/missions?deleted=1"); w.Code != http.StatusForbidden {
		t.Errorf("lead opens the trash: %d", w.Code)
	}
	w := f.get("admin", "/missions?deleted=1")
	if w.Code != http.StatusOK {
		t.Fatal(w.Code)
	}
	if doc(t, w).Find(`[data-testid="mission-row"][data-id="`+f.mission.String()+`"] [data-testid="mission-row-restore"]`).Length() != 1 {
		t.Error("the trash does not offer the mission")
	}
	if w := f.post("admin", f.path("/restore"), nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != f.path("") {
		t.Fatalf("restore: %d %s", w.Code, w.Header().Get("Location"))
	}
	if w := f.post("admin", f.path("/restore"), nil); w.Code != http.StatusSeeOther {
		t.Errorf("restore twice: %d", w.Code)
	}
	if w := f.get("lead", f.path("/members")); w.Code != http.StatusOK {
		t.Errorf("restored mission: %d", w.Code)
	}
	if f.audits("mission.deleted") != 1 || f.audits("mission.restored") != 1 {
		t.Errorf("events: deleted %d restored %d", f.audits("mission.deleted"), f.audits("mission.restored"))
	}
	if w := f.post("admin", "/missions/"+uuid.NewString()+"/restore", nil); w.Code != http.StatusNotFound {
		t.Errorf("restore a missing mission: %d", w.Code)
	}
}

// listedMissions reads the list's rows: name → "status members tests executed".
func listedMissions(t *testing.T, w *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	out := map[string]string{}
	doc(t, w).Find(`[data-testid="mission-row"]`).Each(func(_ int, s *goquery.Selection) {
		out[strings.TrimSpace(s.Find(`[data-testid="mission-link"]`).Text())] = strings.Join([]string{
			s.Find(`[data-testid="mission-status"]`).AttrOr("data-status", ""),
			strings.TrimSpace(s.Find(`[data-testid="mission-members"]`).Text()),
			strings.TrimSpace(s.Find(`[data-testid="mission-tests"]`).Text()),
			s.Find(`[data-testid="mission-progress"]`).AttrOr("data-executed", ""),
		}, " ")
	})
	return out
}

// TestListMissions: the list shows only the viewer's missions (every one
// with mission.read_all), with counts a blue member sees through their
// role; filters by status, membership and name; pages by 50.
func TestListMissions(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	f.addTest(f.mission, "A", missiontest.StateReviewed, true)
	f.addTest(f.mission, "B", missiontest.StateExecuted, false)
	f.addTest(f.mission, "C", missiontest.StatePending, false)
	other := f.newMission("Red only", map[string]string{"red": "lead"})
	if _, err := f.app.DB.Exec(`UPDATE missions SET status = 'planned' WHERE id = $1`, other); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		role, query string
		want        map[string]string
	}{
		{"lead", "", map[string]string{"Operation Violet": "draft 4 3 2"}},
		{"blue", "", map[string]string{"Operation Violet": "draft 4 1 1"}},
		{"red", "", map[string]string{"Operation Violet": "draft 4 3 2", "Red only": "planned 1 0 0"}},
		{"red", "?status=planned", map[string]string{"Red only": "planned 1 0 0"}},
		{"red", "?q=VIOLET", map[string]string{"Operation Violet": "draft 4 3 2"}},
		{"outsider", "", map[string]string{}},
		{"admin", "", map[string]string{"Operation Violet": "draft 4 3 2", "Red only": "planned 1 0 0"}},
		{"admin", "?mine=1", map[string]string{}},
		{"admin", "?status=nonsense", map[string]string{"Operation Violet": "draft 4 3 2", "Red only": "planned 1 0 0"}},
	}
	for _, tc := range cases {
		t.Run(tc.role+tc.query, func(t *testing.T) {
			w := f.get(tc.role, "/missions"+tc.query)
			if w.Code != http.StatusOK {
				t.Fatal(w.Code)
			}
			got := listedMissions(t, w)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("htmx gets the results only", func(t *testing.T) {
		w := f.get("red", "/missions?q=red", hxRequest...)
		d := doc(t, w)
		if d.Find(`#mission-results`).Length() != 1 || d.Find(`[data-testid="mission-filters"]`).Length() != 0 {
			t.Error("not the fragment")
		}
	})
	t.Run("paging", func(t *testing.T) {
		for i := 0; i < 55; i++ {
			f.newMission(fmt.Sprintf("Bulk %02d", i), nil)
		}
		w := f.get("admin", "/missions?q=bulk")
		if n := len(listedMissions(t, w)); n != 50 {
			t.Errorf("page 1: %d rows", n)
		}
		w = f.get("admin", "/missions?q=bulk&page=2")
		d := doc(t, w)
		if n := d.Find(`[data-testid="mission-row"]`).Length(); n != 5 {
			t.Errorf("page 2: %d rows", n)
		}
		if d.Find(`[data-testid="mission-count"]`).AttrOr("data-total", "") != "55" {
			t.Error("total")
		}
	})
}

// TestListMissionsQueryCount: the list sends the same number of SQL
// statements for 10 missions as for 200 (a full page of 50), each with
// members and tests.
func TestListMissionsQueryCount(t *testing.T) {
	t.Parallel()
	f := newMissionFixture(t)
	srv, n := countingServer(t, f.app)
	count := func() int64 {
		r := httptest.NewRequest(http.MethodGet, "/missions", nil)
		r.AddCookie(f.cookies["admin"])
		w := httptest.NewRecorder()
		before := n.Count()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("list: %d", w.Code)
		}
		return n.Count() - before
	}
	grow := func(total int) {
		for f.count(`SELECT count(*) FROM missions`) < total {
			m := f.newMission("Mission", map[string]string{"lead": "lead", "red": "red"})
			f.addTest(m, "T1", missiontest.StateExecuted, true)
			f.addTest(m, "T2", missiontest.StatePending, false)
		}
	}
	grow(10)
	small := count()
	grow(200)
	large := count()
	if small < 4 || small != large {
		t.Errorf("%d statements for 10 missions, %d for 200", small, large)
	}
	t.Logf("/missions: %d statements", large)
}
