package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/internal/testkit/apptest"
)

// The mission tests run in a world with one mission, "Operation Violet",
// whose members are the lead, red, blue and observer people.

// missionURL is the path of the mission id followed by suffix.
func missionURL(id uuid.UUID, suffix string) string { return "/missions/" + id.String() + suffix }

// missionVersion is the mission's version, for the settings form.
func missionVersion(t testing.TB, w *apptest.World, id uuid.UUID) string {
	t.Helper()
	return w.Value(t, `SELECT version FROM missions WHERE id = $1`, id)
}

// actions is the Rows key counting the audit events of action.
func actions(action string) string { return "audit_events WHERE action = '" + action + "'" }

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
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	path := func(suffix string) string { return missionURL(m, suffix) }
	const (
		ok   = http.StatusOK
		see  = http.StatusSeeOther
		no   = http.StatusForbidden
		gone = http.StatusNotFound
	)
	where := func(format string, args ...any) string { return fmt.Sprintf(format, args...) }
	rows := []struct {
		name string
		want map[string]int
		// step is the request, built just before it is sent.
		step func(role string) apptest.Step
		// done, when set, is the Rows key the write adds one row to
		// when it is let through (303), and leaves alone otherwise.
		done func(role string) string
	}{
		{"GET /missions", map[string]int{"lead": ok, "red": ok, "blue": ok, "observer": ok, "outsider": ok, "admin": ok, "none": no},
			func(string) apptest.Step { return apptest.Step{Path: "/missions"} }, nil},
		{"GET /missions/new", map[string]int{"lead": ok, "red": ok, "blue": no, "observer": no, "outsider": ok, "admin": ok, "none": no},
			func(string) apptest.Step { return apptest.Step{Path: "/missions/new"} }, nil},
		{"POST /missions", map[string]int{"lead": see, "red": see, "blue": no, "observer": no, "outsider": see, "admin": see, "none": no},
			func(r string) apptest.Step {
				return apptest.Step{Path: "/missions", Form: validMission("Created by " + r)}
			},
			func(r string) string { return where("missions WHERE name = 'Created by %s'", r) }},
		{"GET settings", map[string]int{"lead": ok, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": ok, "none": no},
			func(string) apptest.Step { return apptest.Step{Path: path("/settings")} }, nil},
		{"POST settings", map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": see, "none": no},
			func(r string) apptest.Step {
				form := validMission("Renamed by " + r)
				form.Set("version", missionVersion(t, w, m))
				return apptest.Step{Path: path("/settings"), Form: form}
			},
			func(r string) string { return where("missions WHERE id = '%s' AND name = 'Renamed by %s'", m, r) }},
		// No test planned yet: a manager gets the reason (422); the status stays draft.
		{"POST status", map[string]int{"lead": 422, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": 422, "none": no},
			func(string) apptest.Step {
				return apptest.Step{Path: path("/status"), Form: url.Values{"to": {"planned"}}}
			},
			func(string) string { return where("missions WHERE id = '%s' AND status = 'draft'", m) }},
		{"GET members", map[string]int{"lead": ok, "red": ok, "blue": ok, "observer": ok, "outsider": gone, "admin": ok, "none": no},
			func(string) apptest.Step { return apptest.Step{Path: path("/members")} }, nil},
		{"GET member candidates", map[string]int{"lead": ok, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": ok, "none": no},
			func(string) apptest.Step { return apptest.Step{Path: path("/members/candidates?q=out"), HX: true} }, nil},
		// The lead adds "none"; the admin after them finds them a member (422).
		{"POST members (add)", map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": 422, "none": no},
			func(string) apptest.Step {
				return apptest.Step{Path: path("/members"), Form: url.Values{"user_id": {w.User("none").String()}, "role": {"observer"}}}
			},
			func(string) string {
				return where("mission_members WHERE mission_id = '%s' AND user_id = '%s'", m, w.User("none"))
			}},
		{"POST member role", map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": see, "none": no},
			func(string) apptest.Step {
				return apptest.Step{Path: path("/members/" + w.User("observer").String() + "/role"), Form: url.Values{"role": {"red"}}}
			}, nil},
		// The admin comes after the lead removed them: the member is gone (404).
		{"POST member remove", map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": gone, "none": no},
			func(string) apptest.Step {
				return apptest.Step{Path: path("/members/" + w.User("none").String() + "/remove"), Form: url.Values{}}
			}, nil},
		{"GET categories", map[string]int{"lead": ok, "red": ok, "blue": ok, "observer": ok, "outsider": gone, "admin": ok, "none": no},
			func(string) apptest.Step { return apptest.Step{Path: path("/categories")} }, nil},
		{"POST categories (add)", map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": see, "none": no},
			func(r string) apptest.Step {
				return apptest.Step{Path: path("/categories"), Form: url.Values{"name": {"By " + r}, "colour": {"#112233"}}}
			},
			func(string) string {
				return where("mission_categories WHERE mission_id = '%s' AND deleted_at IS NULL", m)
			}},
		{"POST mission delete", map[string]int{"lead": see, "red": no, "blue": no, "observer": no, "outsider": gone, "admin": see, "none": no},
			func(r string) apptest.Step {
				return apptest.Step{Path: missionURL(w.Mission(t, "To delete "+r), "/delete"), Form: url.Values{}}
			},
			func(r string) string {
				return where("missions WHERE name = 'To delete %s' AND deleted_at IS NOT NULL", r)
			}},
		{"POST mission restore", map[string]int{"lead": no, "red": no, "blue": no, "observer": no, "outsider": no, "admin": see, "none": no},
			func(r string) apptest.Step {
				id := w.MissionWith(t, "To restore "+r, map[string]string{"lead": "lead"})
				w.Exec(t, `UPDATE missions SET deleted_at = now() WHERE id = $1`, id)
				return apptest.Step{Path: missionURL(id, "/restore"), Form: url.Values{}}
			},
			func(r string) string { return where("missions WHERE name = 'To restore %s' AND deleted_at IS NULL", r) }},
	}
	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			for _, role := range apptest.Everyone {
				s := rw.step(role)
				s.Name, s.As, s.Status = role, role, rw.want[role]
				if rw.done != nil {
					s.Rows = apptest.Rows{rw.done(role): 0}
					if s.Status == see {
						s.Rows[rw.done(role)] = +1
					}
				}
				w.Do(t, s)
			}
		})
	}
}

// TestCreateMission: a valid form creates the mission with its creator as
// lead and an audit event, and opens it; refused forms are 422 with the
// input kept and nothing created.
func TestCreateMission(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	r := w.Do(t, apptest.Step{Name: "create", As: "red", Path: "/missions", Form: validMission("Night run"),
		Status: http.StatusSeeOther, Rows: apptest.Rows{"missions": +1}})
	if r.Code != http.StatusSeeOther {
		t.FailNow()
	}
	var id uuid.UUID
	var scope, start, end, status string
	if err := w.DB.QueryRow(`SELECT id, scope, start_date::text, end_date::text, status FROM missions WHERE name = 'Night run'`).
		Scan(&id, &scope, &start, &end, &status); err != nil {
		t.Fatal(err)
	}
	if loc := r.Header().Get("Location"); loc != "/missions/"+id.String() {
		t.Errorf("redirect to %q", loc)
	}
	if scope != "Lab network" || start != "2026-03-01" || end != "2026-03-31" || status != "draft" {
		t.Errorf("stored %q %s %s %s", scope, start, end, status)
	}
	if role := w.Value(t, `SELECT role FROM mission_members WHERE mission_id = $1 AND user_id = $2`, id, w.User("red")); role != "lead" {
		t.Errorf("creator's role %q, want lead", role)
	}
	if n := w.Count(t, `audit_events WHERE action = 'mission.created' AND target_id = $1`, id.String()); n != 1 {
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
	for _, tc := range cases {
		w.Run(t, apptest.Step{Name: tc.name, As: "red", Path: "/missions", Form: tc.form,
			Status: http.StatusUnprocessableEntity, TestIDs: []string{"error-" + tc.field, "error-summary"},
			Rows: apptest.Rows{"missions": 0},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				d := doc(t, r)
				if got := d.Find(`textarea[name="scope"]`).Text(); got != "kept scope" {
					t.Errorf("scope not kept: %q", got)
				}
				if v := d.Find(`input[name="start_date"]`).AttrOr("value", ""); v != tc.form.Get("start_date") {
					t.Errorf("start date not kept: %q", v)
				}
			}})
	}
	// Extra fields are ignored: the status and creator are not the form's.
	form := validMission("Sneaky")
	form.Set("status", "archived")
	form.Set("created_by_id", w.User("admin").String())
	w.Do(t, apptest.Step{Name: "sneaky", As: "red", Path: "/missions", Form: form, Status: http.StatusSeeOther})
	if s := w.Value(t, `SELECT status::text || ' ' || created_by_id::text FROM missions WHERE name = 'Sneaky'`); s != "draft "+w.User("red").String() {
		t.Errorf("sneaky mission: %s", s)
	}
}

// TestUpdateMissionConflict: a save from a page older than the last save
// is 409 with the user's input kept, the current values shown and the
// current version in the form; saving again from there works.
func TestUpdateMissionConflict(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	settings := missionURL(m, "/settings")
	seen := missionVersion(t, w, m)
	named := func(name string) string {
		return "missions WHERE id = " + apptest.Lit(m) + " AND name = " + apptest.Lit(name)
	}
	adminForm := validMission("Admin's name")
	adminForm.Set("scope", "Admin scope")
	adminForm.Set("version", seen)
	leadForm := validMission("Lead's name")
	leadForm.Set("scope", "Lead scope")
	leadForm.Set("version", seen)
	w.Run(t,
		apptest.Step{Name: "admin save", As: "admin", Path: settings, Form: adminForm, Status: http.StatusSeeOther},
		apptest.Step{Name: "stale save", As: "lead", Path: settings, Form: leadForm, Status: http.StatusConflict,
			TestIDs: []string{"mission-notice"},
			Rows:    apptest.Rows{named("Admin's name"): 0, actions("mission.updated"): 0},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				d := doc(t, r)
				if v := d.Find(`input[name="name"]`).AttrOr("value", ""); v != "Lead's name" {
					t.Errorf("input not kept: %q", v)
				}
				if got := strings.TrimSpace(d.Find(`[data-testid="mission-saved"] [data-testid="value-name"]`).Text()); got != "Admin's name" {
					t.Errorf("saved values show %q", got)
				}
				now := missionVersion(t, w, m)
				if n, _ := strconv.Atoi(seen); now != strconv.Itoa(n+1) || d.Find(`input[name="version"]`).AttrOr("value", "") != now {
					t.Errorf("version %s, form carries %s", now, d.Find(`input[name="version"]`).AttrOr("value", ""))
				}
			}},
	)
	leadForm.Set("version", missionVersion(t, w, m))
	w.Run(t,
		apptest.Step{Name: "save again", As: "lead", Path: settings, Form: leadForm, Status: http.StatusSeeOther,
			Rows: apptest.Rows{named("Lead's name"): +1}},
	)
	if n := w.Count(t, actions("mission.updated")); n != 2 {
		t.Errorf("%d update events, want 2", n)
	}
	// Validation on edit keeps the input too, and a missing version is 400.
	bad := validMission("")
	bad.Set("version", missionVersion(t, w, m))
	w.Run(t,
		apptest.Step{Name: "invalid edit", As: "lead", Path: settings, Form: bad, Status: http.StatusUnprocessableEntity},
		apptest.Step{Name: "no version", As: "lead", Path: settings, Form: validMission("No version"), Status: http.StatusBadRequest},
	)
}

// TestMissionStatusTransitions walks a mission through its life: refused
// moves are 422 with the reason and change nothing; archived missions are
// read-only until a lead reopens them.
func TestMissionStatusTransitions(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	move := func(role, to string, want int, wantStatus string, reason ...string) {
		t.Helper()
		s := apptest.Step{Name: role + " → " + to, As: role, Path: missionURL(m, "/status"), Form: url.Values{"to": {to}}, Status: want}
		if len(reason) > 0 {
			s.Text = map[string]string{"mission-notice": reason[0]}
		}
		w.Do(t, s)
		if s := w.Value(t, `SELECT status FROM missions WHERE id = $1`, m); s != wantStatus {
			t.Fatalf("%s → %s: status %s, want %s", role, to, s, wantStatus)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	move("lead", "planned", 422, "draft", "at least one test")
	move("lead", "completed", 422, "draft", "“Completed”") // not a next status of draft
	move("lead", "bogus", http.StatusBadRequest, "draft")
	move("red", "planned", http.StatusForbidden, "draft")
	test := w.Test(t, m, apptest.TestOpts{Name: "Run PowerShell"})
	move("lead", "planned", http.StatusSeeOther, "planned")
	move("lead", "draft", http.StatusSeeOther, "draft")
	move("lead", "planned", http.StatusSeeOther, "planned")
	move("lead", "in_progress", http.StatusSeeOther, "in_progress")
	move("lead", "completed", 422, "in_progress", "1 test is not reviewed")
	w.Exec(t, `UPDATE mission_tests SET state = 'reviewed' WHERE id = $1`, test)
	move("lead", "completed", http.StatusSeeOther, "completed")
	move("lead", "archived", http.StatusSeeOther, "archived")

	// Archived: the settings page has no inputs, offers reopening only,
	// and refuses saves and plan changes.
	form := validMission("Archived edit")
	form.Set("version", missionVersion(t, w, m))
	w.Run(t,
		apptest.Step{Name: "archived settings", As: "lead", Path: missionURL(m, "/settings"),
			TestIDs:   []string{"mission-read-only"},
			NoTestIDs: []string{`[data-testid="mission-settings"] input`, `[data-testid="mission-settings"] textarea`},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				var next []string
				doc(t, r).Find(`[data-testid="mission-status-box"] button`).Each(func(_ int, s *goquery.Selection) { next = append(next, s.AttrOr("data-to", "")) })
				if strings.Join(next, ",") != "completed" {
					t.Errorf("archived offers %v", next)
				}
			}},
		apptest.Step{Name: "archived save", As: "lead", Path: missionURL(m, "/settings"), Form: form, Status: http.StatusConflict},
		apptest.Step{Name: "archived category add", As: "lead", Path: missionURL(m, "/categories"),
			Form: url.Values{"name": {"Late"}, "colour": {"#000000"}}, Status: http.StatusConflict, Rows: apptest.Rows{"mission_categories": 0}},
	)
	move("observer", "completed", http.StatusForbidden, "archived")
	move("lead", "completed", http.StatusSeeOther, "completed") // reopen
	move("lead", "in_progress", http.StatusSeeOther, "in_progress")
	if n := w.Count(t, actions("mission.status_changed")); n != 8 {
		t.Errorf("%d status events, want 8", n)
	}
	if s := w.Value(t, `SELECT details->>'from' || '>' || (details->>'to') FROM audit_events WHERE action = 'mission.status_changed' ORDER BY created_at DESC, id LIMIT 1`); s != "completed>in_progress" {
		t.Errorf("last event %s", s)
	}
}

// TestMissionMembers: leads add people found by name or email with a role,
// change roles and remove members; a person is a member once; the last
// lead can be neither demoted nor removed.
func TestMissionMembers(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	path := func(suffix string) string { return missionURL(m, suffix) }
	carol := w.App.User(t, "carol.analyst@example.com", "blueteam")
	gone := w.App.User(t, "carol.gone@example.com", "blueteam")
	w.Ent.User.UpdateOne(gone).SetIsActive(false).ExecX(w.Sys())
	role := func(u uuid.UUID) string {
		return w.Value(t, `SELECT role FROM mission_members WHERE mission_id = $1 AND user_id = $2`, m, u)
	}
	member := func(u uuid.UUID, role string) string {
		return fmt.Sprintf("mission_members WHERE mission_id = '%s' AND user_id = '%s' AND role = '%s'", m, u, role)
	}
	lead := w.User("lead").String()

	t.Run("search", func(t *testing.T) {
		w.Run(t,
			apptest.Step{Name: "only the active carol", As: "lead", Path: path("/members/candidates?q=CAROL"), HX: true,
				Check: func(t *testing.T, r *httptest.ResponseRecorder) {
					var hits []string
					doc(t, r).Find(`[data-testid="member-candidate"]`).Each(func(_ int, s *goquery.Selection) { hits = append(hits, s.AttrOr("data-user-id", "")) })
					if strings.Join(hits, ",") != carol.ID.String() {
						t.Errorf("hits %v: want only the active carol", hits)
					}
				}},
			// Members are not offered; the page without JavaScript shows results.
			apptest.Step{Name: "a member is not offered", As: "lead", Path: path("/members/candidates?q=blue"), HX: true,
				Check: func(t *testing.T, r *httptest.ResponseRecorder) {
					if strings.Contains(r.Body.String(), w.User("blue").String()) {
						t.Error("a member is offered")
					}
				}},
			apptest.Step{Name: "results on the page", As: "lead", Path: path("/members?q=carol"), TestIDs: []string{"member-candidate"}},
		)
	})
	t.Run("add", func(t *testing.T) {
		w.Run(t,
			apptest.Step{Name: "add carol as blue", As: "lead", Path: path("/members"), HX: true,
				Form: url.Values{"user_id": {carol.ID.String()}, "role": {"blue"}, "q": {"carol"}},
				Rows: apptest.Rows{member(carol.ID, "blue"): +1, actions("mission.member_added"): +1},
				TestIDs: []string{`[data-testid="member-row"][data-user-id="` + carol.ID.String() + `"][data-role="blue"]`,
					// The search results come back out of band, without carol.
					`#member-candidates[hx-swap-oob="true"] [data-testid="member-candidates-none"]`},
				NoTestIDs: []string{`#member-candidates[hx-swap-oob="true"] [data-testid="member-candidate"]`}},
			apptest.Step{Name: "second add", As: "lead", Path: path("/members"), HX: true,
				Form: url.Values{"user_id": {carol.ID.String()}, "role": {"red"}}, Status: http.StatusUnprocessableEntity,
				TestIDs: []string{`[data-testid="members-notice"][data-notice="error"]`},
				Rows:    apptest.Rows{member(carol.ID, "blue"): 0, "mission_members": 0}},
			apptest.Step{Name: "inactive user", As: "lead", Path: path("/members"),
				Form: url.Values{"user_id": {gone.ID.String()}, "role": {"red"}}, Status: http.StatusUnprocessableEntity,
				Rows: apptest.Rows{"mission_members": 0}},
			apptest.Step{Name: "unknown role", As: "lead", Path: path("/members"),
				Form: url.Values{"user_id": {carol.ID.String()}, "role": {"owner"}}, Status: http.StatusBadRequest,
				Rows: apptest.Rows{member(carol.ID, "blue"): 0}},
		)
		if role(carol.ID) != "blue" {
			t.Error("not stored as blue")
		}
		if n := w.Count(t, actions("mission.member_added")); n != 1 {
			t.Errorf("%d add events", n)
		}
	})
	t.Run("last lead", func(t *testing.T) {
		// The last lead keeps the role.
		stillLead := apptest.Rows{member(w.User("lead"), "lead"): 0}
		w.Run(t,
			apptest.Step{Name: "demote the last lead", As: "lead", Path: path("/members/" + lead + "/role"), HX: true,
				Form: url.Values{"role": {"red"}}, Status: http.StatusUnprocessableEntity, Rows: stillLead,
				Check: func(t *testing.T, r *httptest.ResponseRecorder) {
					if !strings.Contains(r.Body.String(), "at least one lead") {
						t.Error("no reason given")
					}
				}},
			apptest.Step{Name: "remove the last lead", As: "admin", Path: path("/members/" + lead + "/remove"), Form: url.Values{},
				Status: http.StatusUnprocessableEntity, Rows: stillLead},
			// With a second lead, the first may step down.
			apptest.Step{Name: "promote", As: "lead", Path: path("/members/" + w.User("red").String() + "/role"),
				Form: url.Values{"role": {"lead"}}, Status: http.StatusSeeOther, Rows: apptest.Rows{member(w.User("red"), "lead"): +1}},
			// Now an observer: the list is read-only for them.
			apptest.Step{Name: "step down", As: "lead", Path: path("/members/" + lead + "/role"), HX: true,
				Form: url.Values{"role": {"observer"}}, Rows: apptest.Rows{member(w.User("lead"), "observer"): +1},
				NoTestIDs: []string{`select[name="role"]`}},
			apptest.Step{Name: "former lead removes", As: "lead", Path: path("/members/" + w.User("red").String() + "/remove"),
				Form: url.Values{}, Status: http.StatusForbidden, Rows: apptest.Rows{"mission_members": 0}},
			apptest.Step{Name: "the only lead removes themselves", As: "red", Path: path("/members/" + w.User("red").String() + "/remove"),
				Form: url.Values{}, Status: http.StatusUnprocessableEntity, Rows: apptest.Rows{"mission_members": 0}},
		)
	})
	t.Run("remove", func(t *testing.T) {
		w.Run(t,
			apptest.Step{Name: "remove", As: "red", Path: path("/members/" + carol.ID.String() + "/remove"), Form: url.Values{},
				Status: http.StatusSeeOther, Rows: apptest.Rows{member(carol.ID, "blue"): -1}},
			apptest.Step{Name: "remove twice", As: "red", Path: path("/members/" + carol.ID.String() + "/remove"), Form: url.Values{},
				Status: http.StatusNotFound},
		)
		if w.Count(t, actions("mission.member_removed")) != 1 || w.Count(t, actions("mission.member_changed")) != 2 {
			t.Errorf("events: removed %d changed %d", w.Count(t, actions("mission.member_removed")), w.Count(t, actions("mission.member_changed")))
		}
	})
}

// TestMissionCategories: leads add categories (validated), edit them in
// place, reorder and delete them; positions stay dense; a deleted
// category's tests become uncategorised; colours reach the page only as
// SVG fills.
func TestMissionCategories(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	path := func(suffix string) string { return missionURL(m, suffix) }
	order := func(t *testing.T) string {
		t.Helper()
		rows, err := w.DB.Query(`SELECT name, position FROM mission_categories WHERE mission_id = $1 AND deleted_at IS NULL ORDER BY position`, m)
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
	wantOrder := func(want string) func(t *testing.T, _ *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			if o := order(t); o != want {
				t.Errorf("order %s, want %s", o, want)
			}
		}
	}
	id := func(name string) string {
		return w.Value(t, `SELECT id FROM mission_categories WHERE mission_id = $1 AND name = $2 AND deleted_at IS NULL`, m, name)
	}
	categories := fmt.Sprintf("mission_categories WHERE mission_id = '%s' AND deleted_at IS NULL", m)
	for i, name := range []string{"Workstations", "Servers", "Cloud"} {
		w.Do(t, apptest.Step{Name: "add " + name, As: "lead", Path: path("/categories"), HX: true,
			Form: url.Values{"name": {name}, "colour": {fmt.Sprintf("#A0B0C%d", i)}}, Rows: apptest.Rows{categories: +1}})
	}
	if o := order(t); o != "Workstations,Servers,Cloud" {
		t.Fatalf("order %s", o)
	}
	if c := w.Value(t, `SELECT colour FROM mission_categories WHERE id = $1`, id("Cloud")); c != "#a0b0c2" {
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
			w.Do(t, apptest.Step{Name: fmt.Sprintf("%q %q", tc.name, tc.colour), As: "lead", Path: path("/categories"), HX: true,
				Form: url.Values{"name": {tc.name}, "colour": {tc.colour}}, Status: http.StatusUnprocessableEntity,
				TestIDs: []string{`[data-testid="category-add"] [data-testid="error-` + tc.field + `"]`},
				Rows:    apptest.Rows{"mission_categories": 0},
				Check: func(t *testing.T, r *httptest.ResponseRecorder) {
					if v := doc(t, r).Find(`#category-new-name`).AttrOr("value", ""); v != strings.TrimSpace(tc.name) {
						t.Errorf("name not kept: %q", v)
					}
				}})
		}
		if o := order(t); o != "Workstations,Servers,Cloud" {
			t.Errorf("order %s", o)
		}
		// An edit refused: that row's form comes back open with its errors.
		row := `[data-testid="category-row"][data-category-id="` + id("Servers") + `"]`
		w.Do(t, apptest.Step{Name: "bad edit", As: "lead", Path: path("/categories/" + id("Servers")), HX: true,
			Form: url.Values{"name": {"Servers"}, "colour": {"blue"}}, Status: http.StatusUnprocessableEntity,
			TestIDs: []string{row + ` details.row-menu[open] [data-testid="category-edit"][open]`, row + ` [data-testid="error-colour"]`}})
	})
	t.Run("move", func(t *testing.T) {
		other := w.MissionWith(t, "Other", map[string]string{"lead": "lead"})
		w.Run(t,
			apptest.Step{Name: "up", As: "lead", Path: path("/categories/" + id("Cloud") + "/move"), HX: true,
				Form: url.Values{"direction": {"up"}}, Check: wantOrder("Workstations,Cloud,Servers")},
			apptest.Step{Name: "first up", As: "lead", Path: path("/categories/" + id("Workstations") + "/move"),
				Form: url.Values{"direction": {"up"}}, Status: http.StatusSeeOther},
			apptest.Step{Name: "down", As: "lead", Path: path("/categories/" + id("Workstations") + "/move"),
				Form: url.Values{"direction": {"down"}}, Status: http.StatusSeeOther, Check: wantOrder("Cloud,Workstations,Servers")},
			apptest.Step{Name: "sideways", As: "lead", Path: path("/categories/" + id("Cloud") + "/move"),
				Form: url.Values{"direction": {"sideways"}}, Status: http.StatusBadRequest},
			apptest.Step{Name: "another mission's category", As: "lead", Path: missionURL(other, "/categories/"+id("Cloud")+"/move"),
				Form: url.Values{"direction": {"down"}}, Status: http.StatusNotFound},
		)
	})
	t.Run("edit", func(t *testing.T) {
		w.Do(t, apptest.Step{As: "lead", Path: path("/categories/" + id("Servers")), HX: true,
			Form: url.Values{"name": {"Data centre"}, "colour": {"#00FF00"}},
			Rows: apptest.Rows{fmt.Sprintf("mission_categories WHERE mission_id = '%s' AND position = 2 AND name = 'Data centre' AND colour = '#00ff00'", m): +1}})
	})
	t.Run("page", func(t *testing.T) {
		w.Do(t, apptest.Step{As: "observer", Path: path("/categories"),
			NoTestIDs: []string{"category-add", "category-delete", `[data-testid="mission-tabs"] [data-testid="mission-tab-settings"]`},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				var fills []string
				doc(t, r).Find(`[data-testid="category-swatch"] rect`).Each(func(_ int, s *goquery.Selection) { fills = append(fills, s.AttrOr("fill", "")) })
				if strings.Join(fills, ",") != "#a0b0c2,#a0b0c0,#00ff00" {
					t.Errorf("fills %v", fills)
				}
				if strings.Contains(r.Body.String(), "style=") {
					t.Error("inline style on the page")
				}
			}})
	})
	t.Run("delete", func(t *testing.T) {
		cloud := id("Cloud")
		cid, err := uuid.Parse(cloud)
		if err != nil {
			t.Fatal(err)
		}
		test := w.Test(t, m, apptest.TestOpts{Name: "Enumerate buckets", Category: cid})
		uncategorised := fmt.Sprintf("mission_tests WHERE id = '%s' AND category_id IS NULL", test)
		w.Run(t,
			apptest.Step{Name: "red deletes", As: "red", Path: path("/categories/" + cloud + "/delete"), Form: url.Values{},
				Status: http.StatusForbidden, Rows: apptest.Rows{categories: 0, uncategorised: 0}},
			apptest.Step{Name: "delete", As: "lead", Path: path("/categories/" + cloud + "/delete"), Form: url.Values{}, HX: true,
				Rows: apptest.Rows{uncategorised: +1}, Check: wantOrder("Workstations,Data centre")},
			apptest.Step{Name: "delete twice", As: "lead", Path: path("/categories/" + cloud + "/delete"), Form: url.Values{},
				Status: http.StatusNotFound},
		)
		// 3 adds, 2 moves that changed the order and 1 that did not, 1 edit, 1 delete.
		if n := w.Count(t, actions("mission.plan_changed")); n != 8 {
			t.Errorf("%d plan events, want 8", n)
		}
	})
}

// TestMissionDeleteRestore: a lead deletes a mission (then it is a 404
// everywhere and out of the list); the trash is for trash.manage, who
// restores it.
func TestMissionDeleteRestore(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	path := func(suffix string) string { return missionURL(m, suffix) }
	steps := []apptest.Step{{Name: "delete", As: "lead", Path: path("/delete"), Form: url.Values{},
		Status: http.StatusSeeOther, Location: "/missions", Rows: apptest.Rows{actions("mission.deleted"): +1}}}
	for _, p := range []string{"/settings", "/members", "/categories"} {
		steps = append(steps, apptest.Step{Name: "deleted mission " + p, As: "lead", Path: path(p), Status: http.StatusNotFound})
	}
	w.Run(t, append(steps,
		apptest.Step{Name: "the deleted mission is not listed", As: "lead", Path: "/missions",
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				if strings.Contains(r.Body.String(), m.String()) {
					t.Error("the deleted mission is listed")
				}
			}},
		apptest.Step{Name: "lead opens the trash", As: "lead", Path: "/missions?deleted=1", Status: http.StatusForbidden},
		apptest.Step{Name: "the trash offers the mission", As: "admin", Path: "/missions?deleted=1",
			TestIDs: []string{`[data-testid="mission-row"][data-id="` + m.String() + `"] [data-testid="mission-row-restore"]`}},
		apptest.Step{Name: "restore", As: "admin", Path: path("/restore"), Form: url.Values{},
			Status: http.StatusSeeOther, Location: path(""), Rows: apptest.Rows{actions("mission.restored"): +1}},
		apptest.Step{Name: "restore twice", As: "admin", Path: path("/restore"), Form: url.Values{},
			Status: http.StatusSeeOther, Rows: apptest.Rows{actions("mission.restored"): 0}},
		apptest.Step{Name: "restored mission", As: "lead", Path: path("/members")},
		apptest.Step{Name: "restore a missing mission", As: "admin", Path: missionURL(uuid.New(), "/restore"), Form: url.Values{},
			Status: http.StatusNotFound},
	)...)
	if w.Count(t, actions("mission.deleted")) != 1 || w.Count(t, actions("mission.restored")) != 1 {
		t.Errorf("events: deleted %d restored %d", w.Count(t, actions("mission.deleted")), w.Count(t, actions("mission.restored")))
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
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	w.Test(t, m, apptest.TestOpts{Name: "A", State: missiontest.StateReviewed, Released: true})
	w.Test(t, m, apptest.TestOpts{Name: "B", State: missiontest.StateExecuted})
	w.Test(t, m, apptest.TestOpts{Name: "C"})
	w.MissionWith(t, "Red only", map[string]string{"red": "lead"}, mission.StatusPlanned)
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
		w.Run(t, apptest.Step{Name: tc.role + tc.query, As: tc.role, Path: "/missions" + tc.query,
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				if got := listedMissions(t, r); fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}})
	}
	w.Run(t, apptest.Step{Name: "htmx gets the results only", As: "red", Path: "/missions?q=red", HX: true,
		TestIDs: []string{"#mission-results"}, NoTestIDs: []string{"mission-filters"}})
	t.Run("paging", func(t *testing.T) {
		for i := 0; i < 55; i++ {
			w.MissionWith(t, fmt.Sprintf("Bulk %02d", i), nil)
		}
		w.Run(t,
			apptest.Step{Name: "page 1", As: "admin", Path: "/missions?q=bulk", Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				if n := len(listedMissions(t, r)); n != 50 {
					t.Errorf("page 1: %d rows", n)
				}
			}},
			apptest.Step{Name: "page 2", As: "admin", Path: "/missions?q=bulk&page=2",
				TestIDs: []string{`[data-testid="mission-count"][data-total="55"]`},
				Check: func(t *testing.T, r *httptest.ResponseRecorder) {
					if n := doc(t, r).Find(`[data-testid="mission-row"]`).Length(); n != 5 {
						t.Errorf("page 2: %d rows", n)
					}
				}},
		)
	})
}

// TestListMissionsQueryCount: the list sends the same number of SQL
// statements for 10 missions as for 200 (a full page of 50), each with
// members and tests.
func TestListMissionsQueryCount(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	w.Mission(t, "Operation Violet")
	srv, n := countingServer(t, w.App)
	count := func() int64 {
		r := httptest.NewRecorder()
		before := n.Count()
		srv.ServeHTTP(r, w.Request(apptest.Step{As: "admin", Path: "/missions"}))
		if r.Code != http.StatusOK {
			t.Fatalf("list: %d", r.Code)
		}
		return n.Count() - before
	}
	grow := func(total int) {
		for w.Count(t, "missions") < total {
			m := w.MissionWith(t, "Mission", map[string]string{"lead": "lead", "red": "red"})
			w.Test(t, m, apptest.TestOpts{Name: "T1", State: missiontest.StateExecuted, Released: true})
			w.Test(t, m, apptest.TestOpts{Name: "T2"})
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
