package apptest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestWorldPeople: everyone is signed in, in their groups, under their
// name; the world's builders make what they say.
func TestWorldPeople(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	groups := map[string]string{"lead": "redteam", "red": "redteam", "blue": "blueteam", "observer": "observer",
		"outsider": "redteam", "admin": "admin", "none": ""}
	for _, name := range apptest.Everyone {
		got := w.Value(t, `SELECT COALESCE(string_agg(g.name, ','), '') FROM users u
			LEFT JOIN user_groups ug ON ug.user_id = u.id LEFT JOIN groups g ON g.id = ug.group_id
			WHERE u.id = $1`, w.User(name))
		if got != groups[name] {
			t.Errorf("%s: groups %q, want %q", name, got, groups[name])
		}
		if email := w.Value(t, `SELECT email FROM users WHERE id = $1`, w.User(name)); email != name+"@example.com" {
			t.Errorf("%s: email %q", name, email)
		}
		// Each cookie is a live session: the account page opens.
		if r := w.GetAs(w.Cookie(name), paths.Account); r.Code != http.StatusOK {
			t.Errorf("%s: account page %d", name, r.Code)
		}
	}
	if w.Cookie("") != nil {
		t.Error("the anonymous cookie is not nil")
	}
	if n := w.Count(t, "users"); n != len(apptest.Everyone) {
		t.Errorf("%d users", n)
	}

	m := w.Mission(t, "Operation Violet", mission.StatusInProgress)
	if s := w.Value(t, `SELECT status::text FROM missions WHERE id = $1`, m); s != "in_progress" {
		t.Errorf("status %s", s)
	}
	var members []string
	for _, p := range apptest.Everyone {
		if w.Count(t, "mission_members WHERE mission_id = $1 AND user_id = $2", m, w.User(p)) == 1 {
			members = append(members, p+"="+w.Value(t, `SELECT role::text FROM mission_members WHERE mission_id = $1 AND user_id = $2`, m, w.User(p)))
		}
	}
	if got := strings.Join(members, " "); got != "lead=lead red=red blue=blue observer=observer" {
		t.Errorf("members %s", got)
	}
	if s := w.Value(t, `SELECT status::text FROM missions WHERE id = $1`, w.Mission(t, "Draft")); s != "draft" {
		t.Errorf("default status %s", s)
	}
	solo := w.MissionWith(t, "Solo", map[string]string{"red": "lead"})
	if n := w.Count(t, "mission_members WHERE mission_id = $1", solo); n != 1 {
		t.Errorf("%d members on a mission with one", n)
	}

	level := w.Level(t, "Logged")
	id := w.Test(t, m, apptest.TestOpts{Name: "Run PowerShell", State: missiontest.StateReviewed, Released: true,
		Technique: "T1059.001", TechniqueName: "PowerShell", Level: level})
	mt := w.Ent.MissionTest.GetX(w.Sys(), id)
	if mt.Name != "Run PowerShell" || !mt.ReleasedToBlue || mt.ExecutedByID == nil || *mt.ExecutedByID != w.User("red") ||
		mt.ReviewedByID == nil || *mt.ReviewedByID != w.User("lead") || mt.EndedAt == nil || *mt.DetectionLevelID != level {
		t.Errorf("test %+v", mt)
	}
	if n := w.Count(t, "mission_test_mitre_tags WHERE mission_test_id = $1 AND external_id = 'T1059.001'", id); n != 1 {
		t.Errorf("%d tags", n)
	}
	if mt := w.Ent.MissionTest.GetX(w.Sys(), w.Test(t, m, apptest.TestOpts{})); mt.Name != "Test" || mt.State != missiontest.StatePending {
		t.Errorf("default test %+v", mt)
	}
	tpl := w.Template(t, "Dump LSASS")
	if name := w.Value(t, `SELECT name FROM test_templates WHERE id = $1`, tpl); name != "Dump LSASS" {
		t.Errorf("template %q", name)
	}

	// More people, and a group of one permission.
	w.Group(t, "settings-admins", auth.SettingsManage)
	w.Person(t, "settings", "settings-admins")
	w.Do(t, apptest.Step{As: "settings", Path: "/admin/detection-levels", TestIDs: []string{"detection-levels"}})
	w.Do(t, apptest.Step{As: "settings", Path: paths.Users, Status: http.StatusForbidden})
	other := w.SignIn(t, "red")
	if other.Value == w.Cookie("red").Value {
		t.Error("SignIn gave the same session")
	}
}

// TestAsWorld: a world around an app built elsewhere starts empty and
// takes people; Lit quotes a literal for a Rows key.
func TestAsWorld(t *testing.T) {
	t.Parallel()
	w := apptest.AsWorld(apptest.New(t))
	if n := w.Count(t, "users"); n != 0 {
		t.Errorf("%d users", n)
	}
	w.Person(t, "o'brien", "observer")
	if n := w.Count(t, "users WHERE email = "+apptest.Lit("o'brien@example.com")); n != 1 {
		t.Errorf("%d users named with a quote", n)
	}
	w.Do(t, apptest.Step{As: "o'brien", Path: paths.Account})
}

// TestWorldOf: a world of a few people has those only.
func TestWorldOf(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"admin", "red"})
	if n := w.Count(t, "users"); n != 2 {
		t.Errorf("%d users, want 2", n)
	}
	m := w.Mission(t, "M")
	if n := w.Count(t, "mission_members WHERE mission_id = $1", m); n != 1 {
		t.Errorf("%d members, want red only", n)
	}
	if empty := apptest.NewWorldOf(t, nil); empty.Count(t, "users") != 0 {
		t.Error("an empty world has users")
	}
}

// TestSteps: a step sends its request as its person and checks status,
// Location, testids, texts and row changes; Run names subtests by the
// steps' descriptions.
func TestSteps(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	cats := paths.URL(paths.MissionCategories, m)
	add := func(name string) url.Values { return url.Values{"name": {name}, "colour": {"#112233"}} }
	plan := "audit_events WHERE action = 'mission.plan_changed'"

	w.Run(t,
		apptest.Step{Name: "lead adds a category", As: "lead", Path: cats, Form: add("Servers"),
			Status: http.StatusSeeOther, Location: cats, Rows: apptest.Rows{"mission_categories": +1, plan: +1},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				// Following the redirect shows the list with the new row.
				if page := w.Follow("lead", r); page.Code != http.StatusOK || apptest.Doc(t, page).Find(apptest.Selector("category-row")).Length() != 1 {
					t.Errorf("followed: %d", page.Code)
				}
			}},
		apptest.Step{Name: "htmx gets the list", As: "lead", Path: cats, Form: add("Cloud"), HX: true,
			Some: []string{"category-row"}, TestIDs: []string{`[data-testid="category-row"][data-position="1"]`}, NoTestIDs: []string{".site-header"},
			Rows: apptest.Rows{"mission_categories": +1, plan: +1}},
		apptest.Step{Name: "red is refused: nothing changes but the refusal is audited", As: "red", Path: cats, Form: add("Red's"),
			Status: http.StatusForbidden, Rows: apptest.Rows{"mission_categories": 0, plan: 0,
				"audit_events WHERE action = 'access.denied'": +1}},
		apptest.Step{Name: "anonymous goes to the sign-in page", Path: cats, Status: http.StatusSeeOther},
		apptest.Step{Name: "a refused form says why", As: "lead", Path: cats, Form: add(""), HX: true,
			Status: http.StatusUnprocessableEntity, TestIDs: []string{"error-name"}, Text: map[string]string{"error-name": ""},
			Rows: apptest.Rows{"mission_categories": 0}},
		apptest.Step{Name: "observer reads", As: "observer", Path: cats,
			Some: []string{"category-row"}, NoTestIDs: []string{"category-add"},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				if n := apptest.Doc(t, r).Find(apptest.Selector("category-row")).Length(); n != 2 {
					t.Errorf("%d rows, want 2", n)
				}
			}},
	)

	// Misses are reported, each with the step's description.
	tb := &recorder{TB: t}
	w.Do(tb, apptest.Step{Name: "wrong on every count", As: "red", Path: cats, Form: add("Again"),
		Status: http.StatusSeeOther, Location: cats, TestIDs: []string{"category-row"}, NoTestIDs: []string{"error-page"},
		Text: map[string]string{"error-page": "Nope"}, Rows: apptest.Rows{"mission_categories": +1}})
	wantMisses := []string{"status 403, want 303", `Location "", want`, "0 category-row in the answer, want exactly one", "want none",
		"error-page says", "mission_categories changed by +0, want +1"}
	if len(tb.errors) != len(wantMisses) {
		t.Errorf("%d misses reported, want %d:\n%s", len(tb.errors), len(wantMisses), strings.Join(tb.errors, "\n"))
	}
	for _, want := range wantMisses {
		if !slices.ContainsFunc(tb.errors, func(e string) bool {
			return strings.HasPrefix(e, "wrong on every count: ") && strings.Contains(e, want)
		}) {
			t.Errorf("no miss saying %q in:\n%s", want, strings.Join(tb.errors, "\n"))
		}
	}
	if d := (apptest.Step{As: "red", Path: "/x", Form: url.Values{}}).Describe(); d != "red POST /x" {
		t.Errorf("description %q", d)
	}
	if d := (apptest.Step{Path: "/x"}).Describe(); d != "anonymous GET /x" {
		t.Errorf("description %q", d)
	}
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
