package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/internal/auth"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// The administration tests run in worlds of their own people (a "root"
// admin, managers, targets), since the user list counts everyone.

// groupID returns the id of the group named name.
func groupID(t testing.TB, app *apptest.App, name string) string {
	t.Helper()
	var id string
	if err := app.DB.QueryRow(`SELECT id FROM groups WHERE name = $1`, name).Scan(&id); err != nil {
		t.Fatalf("group %s: %v", name, err)
	}
	return id
}

// userID returns the id of the user with email, deleted or not.
func userID(t testing.TB, app *apptest.App, email string) string {
	t.Helper()
	var id uuid.UUID
	if err := app.DB.QueryRow(`SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return id.String()
}

// userState returns whether the user is active and whether it is deleted.
func userState(t testing.TB, app *apptest.App, email string) (active, deleted bool) {
	t.Helper()
	if err := app.DB.QueryRow(`SELECT is_active, deleted_at IS NOT NULL FROM users WHERE email = $1`, email).
		Scan(&active, &deleted); err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return active, deleted
}

// groupsOf returns the names of the user's groups, sorted.
func groupsOf(t testing.TB, app *apptest.App, email string) []string {
	t.Helper()
	rows, err := app.DB.Query(`SELECT g.name FROM users u JOIN user_groups ug ON ug.user_id = u.id
		JOIN groups g ON g.id = ug.group_id WHERE u.email = $1 ORDER BY g.name`, email)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// auditDetails returns the details of the audit events of action on
// targetID, oldest first.
func auditDetails(t testing.TB, app *apptest.App, action, targetID string) []map[string]any {
	t.Helper()
	rows, err := app.DB.Query(`SELECT COALESCE(details, '{}'::jsonb) FROM audit_events
		WHERE action = $1 AND target_id = $2 ORDER BY created_at, id`, action, targetID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		d := map[string]any{}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// opensHome reports whether cookie still opens the home page, and checks
// that a cookie that does not is sent to the sign-in page.
func opensHome(t testing.TB, app *apptest.App, cookie *http.Cookie) bool {
	t.Helper()
	w := app.GetAs(cookie, "/")
	if w.Code != http.StatusOK && (w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login")) {
		t.Fatalf("GET / = %d to %q, want 200 or a redirect to /login", w.Code, w.Header().Get("Location"))
	}
	return w.Code == http.StatusOK
}

// canLogin reports whether email can sign in with apptest.Password.
func canLogin(app *apptest.App, email string) bool {
	return postLogin(app, email, apptest.Password).Code == http.StatusSeeOther
}

// isFragment reports whether body is a fragment rather than a page.
func isFragment(body string) bool { return !strings.Contains(strings.ToLower(body), "<html") }

// rowEmails returns the emails of the user list's rows, in order.
func rowEmails(t *testing.T, w *httptest.ResponseRecorder) []string {
	t.Helper()
	var out []string
	doc(t, w).Find(`[data-testid="user-row"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("data-email", ""))
	})
	return out
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	w.Person(t, "root", "admin")
	w.App.User(t, "alice@example.com", "redteam")
	w.App.User(t, "bob@example.com", "blueteam")
	w.App.User(t, "carol@example.com", "observer")
	w.Group(t, "helpdesk", auth.UserRead)
	w.Person(t, "desk", "helpdesk")
	w.Exec(t, `UPDATE users SET display_name = 'Robert Tables', is_active = false WHERE email = 'bob@example.com'`)
	w.Exec(t, `UPDATE users SET deleted_at = now() WHERE email = 'carol@example.com'`)

	cases := []struct {
		name   string
		as     string
		query  string
		status int
		want   []string
	}{
		{"everyone not deleted, by email", "root", "", 200,
			[]string{"alice@example.com", "bob@example.com", "desk@example.com", "root@example.com"}},
		{"search by email ignores case", "root", "?q=ALI", 200, []string{"alice@example.com"}},
		{"search by display name", "root", "?q=tables", 200, []string{"bob@example.com"}},
		{"search treats LIKE wildcards as text", "root", "?q=%25", 200, nil},
		{"group filter", "root", "?group=redteam", 200, []string{"alice@example.com"}},
		{"active only", "root", "?status=active", 200,
			[]string{"alice@example.com", "desk@example.com", "root@example.com"}},
		{"deactivated only", "root", "?status=deactivated", 200, []string{"bob@example.com"}},
		{"unknown status means all", "root", "?status=bogus&q=b", 200, []string{"bob@example.com"}},
		{"trash lists the deleted only", "root", "?deleted=1", 200, []string{"carol@example.com"}},
		{"trash with a search", "root", "?deleted=1&q=nobody", 200, nil},
		{"no match is the empty state", "root", "?q=zzz", 200, nil},
		{"user.read reads the list", "desk", "?q=alice", 200, []string{"alice@example.com"}},
		{"the trash needs user.manage", "desk", "?deleted=1", 403, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			step := apptest.Step{As: tc.as, Path: "/admin/users" + tc.query, Status: tc.status}
			if tc.status == 200 && tc.as == "root" {
				step.TestIDs = []string{"admin-tabs"}
			}
			r := w.Do(t, step)
			if tc.status != 200 || r.Code != 200 {
				return
			}
			if got := rowEmails(t, r); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
			d := doc(t, r)
			if empty := d.Find(`[data-testid="users-empty"]`).Length() == 1; empty != (len(tc.want) == 0) {
				t.Errorf("empty state shown = %v with %d rows", empty, len(tc.want))
			}
			if total := d.Find(`[data-testid="user-count"]`).AttrOr("data-total", ""); total != fmt.Sprint(len(tc.want)) {
				t.Errorf("count says %s, want %d", total, len(tc.want))
			}
		})
	}

	t.Run("rows link to the user pages", func(t *testing.T) {
		d := doc(t, w.Do(t, apptest.Step{As: "root", Path: "/admin/users?q=alice"}))
		href, _ := d.Find(`[data-testid="user-link"]`).Attr("href")
		if href != "/admin/users/"+userID(t, w.App, "alice@example.com") {
			t.Errorf("link %q", href)
		}
		if got := testid(doc(t, w.Do(t, apptest.Step{Name: "user page", As: "root", Path: href})), "user-email"); got != "alice@example.com" {
			t.Errorf("user page shows %q", got)
		}
	})

	t.Run("htmx gets only the results, filter kept in the form", func(t *testing.T) {
		r := w.Do(t, apptest.Step{As: "root", Path: "/admin/users?q=alice&status=active", HX: true,
			TestIDs: []string{`#user-results[data-testid="user-results"]`}})
		if r.Code != 200 || !isFragment(r.Body.String()) {
			t.Fatalf("status %d, fragment %v", r.Code, isFragment(r.Body.String()))
		}
		if got := rowEmails(t, r); !slices.Equal(got, []string{"alice@example.com"}) {
			t.Errorf("rows %v", got)
		}
		if !strings.Contains(strings.Join(r.Header().Values("Vary"), ","), "HX-Request") {
			t.Error("no Vary: HX-Request")
		}
		w.Do(t, apptest.Step{Name: "reload", As: "root", Path: "/admin/users?q=alice&status=active&group=redteam",
			TestIDs: []string{`input[name="q"][value="alice"][hx-push-url]`, `select[name="group"] option[selected][value="redteam"]`,
				`select[name="status"] option[selected][value="active"]`}})
	})
}

func TestListUsersPaging(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	w.Person(t, "root", "admin")
	w.Exec(t, `INSERT INTO users (email, password_hash, display_name, locale, is_active)
		SELECT 'bulk' || lpad(n::text, 3, '0') || '@example.com', 'x', 'Bulk ' || n, 'en', true
		FROM generate_series(1, 60) n`)
	// 61 users: root and 60 bulk ones.
	cases := []struct {
		name  string
		query string
		rows  int
		first string
		count string
		prev  bool
		next  bool
	}{
		{"first page", "", 50, "bulk001@example.com", "1–50 of 61 users", false, true},
		{"second page", "?page=2", 11, "bulk051@example.com", "51–61 of 61 users", true, false},
		{"past the end shows the last page", "?page=9", 11, "bulk051@example.com", "51–61 of 61 users", true, false},
		{"garbage page is the first", "?page=x", 50, "bulk001@example.com", "1–50 of 61 users", false, true},
		{"filters and paging together", "?q=bulk05", 10, "bulk050@example.com", "1–10 of 10 users", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			step := apptest.Step{As: "root", Path: "/admin/users" + tc.query}
			if tc.prev {
				step.TestIDs = append(step.TestIDs, "pager-prev")
			} else {
				step.NoTestIDs = append(step.NoTestIDs, "pager-prev")
			}
			if tc.next {
				step.TestIDs = append(step.TestIDs, "pager-next")
			} else {
				step.NoTestIDs = append(step.NoTestIDs, "pager-next")
			}
			r := w.Do(t, step)
			if r.Code != 200 {
				t.FailNow()
			}
			rows := rowEmails(t, r)
			if len(rows) != tc.rows || rows[0] != tc.first {
				t.Errorf("%d rows from %v, want %d from %s", len(rows), rows[:1], tc.rows, tc.first)
			}
			if got := testid(doc(t, r), "user-count"); got != tc.count {
				t.Errorf("count %q, want %q", got, tc.count)
			}
		})
	}
	t.Run("the next link keeps the filter", func(t *testing.T) {
		d := doc(t, w.Do(t, apptest.Step{As: "root", Path: "/admin/users?q=bulk&status=active"}))
		href, _ := d.Find(`[data-testid="pager-next"]`).Attr("href")
		u, err := url.Parse(href)
		if err != nil || u.Query().Get("q") != "bulk" || u.Query().Get("status") != "active" || u.Query().Get("page") != "2" {
			t.Errorf("next link %q", href)
		}
	})
}

func TestShowUser(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	w.Person(t, "root", "admin")
	w.Person(t, "alice", "redteam", "observer")
	w.SignIn(t, "alice") // two sessions
	w.Group(t, "helpdesk", auth.UserRead)
	w.Person(t, "desk", "helpdesk")
	alice := w.User("alice").String()

	t.Run("facts, groups and sessions", func(t *testing.T) {
		r := w.Do(t, apptest.Step{As: "root", Path: "/admin/users/" + alice,
			TestIDs: []string{`form[action="/admin/users/` + alice + `/reset-invitation"]`}})
		if r.Code != 200 {
			t.FailNow()
		}
		d := doc(t, r)
		for id, want := range map[string]string{
			"user-email": "alice@example.com", "user-display-name": "alice", "user-language": "English",
			"user-sessions": "2", "user-last-login": "", "user-status": "Active",
		} {
			if got := testid(d, id); want != "" && got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
		var checked []string
		d.Find(`[data-testid="user-groups-form"] input[name="groups"][checked]`).Each(func(_ int, s *goquery.Selection) {
			checked = append(checked, s.AttrOr("value", ""))
		})
		slices.Sort(checked)
		want := []string{groupID(t, w.App, "observer"), groupID(t, w.App, "redteam")}
		slices.Sort(want)
		if !slices.Equal(checked, want) {
			t.Errorf("checked groups %v, want %v", checked, want)
		}
	})
	w.Run(t,
		apptest.Step{Name: "user.read sees the page without the forms", As: "desk", Path: "/admin/users/" + alice,
			NoTestIDs: []string{"user-groups-form", "user-actions", `form[action$="/reset-invitation"]`},
			Text:      map[string]string{"user-groups-list": ""}},
		apptest.Step{Name: "my own page has no deactivate or delete", As: "root", Path: "/admin/users/" + w.User("root").String(),
			NoTestIDs: []string{"user-deactivate", "user-delete"}, Text: map[string]string{"user-self-note": ""}},
		apptest.Step{Name: "missing /admin/users/not-a-uuid", As: "root", Path: "/admin/users/not-a-uuid", Status: 404},
		apptest.Step{Name: "missing /admin/users/<new uuid>", As: "root", Path: "/admin/users/" + uuid.NewString(), Status: 404},
	)
	t.Run("a deleted user is 404 without user.manage and restorable with it", func(t *testing.T) {
		w.Exec(t, `UPDATE users SET deleted_at = now() WHERE id = $1`, alice)
		w.Run(t,
			apptest.Step{Name: "user.read", As: "desk", Path: "/admin/users/" + alice, Status: 404},
			apptest.Step{Name: "user.manage", As: "root", Path: "/admin/users/" + alice,
				TestIDs: []string{"user-restore"}, NoTestIDs: []string{"user-groups-form"}},
		)
	})
}

func TestUpdateUserGroups(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	w.Person(t, "root", "admin")
	// A manager outside the admin group holds observer's permissions and
	// user.manage, and so may grant observer but not redteam or admin.
	w.Group(t, "managers", auth.UserRead, auth.UserManage, auth.MissionRead, auth.TemplateRead, auth.AttackRead)
	w.Person(t, "mgr", "managers")
	ids := map[string]string{}
	for _, g := range []string{"admin", "redteam", "blueteam", "observer", "managers"} {
		ids[g] = groupID(t, w.App, g)
	}
	form := func(groups ...string) url.Values {
		v := url.Values{}
		for _, g := range groups {
			v.Add("groups", ids[g])
		}
		return v
	}

	cases := []struct {
		name    string
		as      string
		start   []string // the target's groups before
		form    url.Values
		partial bool
		status  int
		want    []string // the target's groups after
		added   []string // in the audit event; nil for no event
		removed []string
	}{
		{"admin adds and removes", "root", []string{"observer"}, form("redteam", "blueteam"), false, 303,
			[]string{"blueteam", "redteam"}, []string{"blueteam", "redteam"}, []string{"observer"}},
		{"htmx swaps the block", "root", []string{"observer"}, form("observer", "redteam"), true, 200,
			[]string{"observer", "redteam"}, []string{"redteam"}, []string{}},
		{"admin grants admin", "root", nil, form("admin"), false, 303, []string{"admin"}, []string{"admin"}, []string{}},
		{"nothing to change writes nothing", "root", []string{"observer"}, form("observer"), true, 200,
			[]string{"observer"}, nil, nil},
		{"extra fields are ignored", "root", []string{"observer"},
			url.Values{"groups": {ids["redteam"]}, "is_active": {"false"}, "email": {"x@evil.example"}}, false, 303,
			[]string{"redteam"}, []string{"redteam"}, []string{"observer"}},
		{"an unknown group id is a bad request", "root", []string{"observer"},
			url.Values{"groups": {uuid.NewString()}}, false, 400, []string{"observer"}, nil, nil},
		{"manager grants a group within their permissions", "mgr", nil, form("observer"), false, 303,
			[]string{"observer"}, []string{"observer"}, []string{}},
		{"manager cannot grant admin", "mgr", []string{"observer"}, form("observer", "admin"), false, 403,
			[]string{"observer"}, nil, nil},
		{"manager cannot grant admin with htmx either", "mgr", nil, form("admin"), true, 403, nil, nil, nil},
		{"manager cannot grant a group with more permissions", "mgr", nil, form("redteam"), false, 403, nil, nil, nil},
		{"manager leaves groups they cannot grant as they are", "mgr", []string{"admin", "redteam"}, form("observer"),
			false, 303, []string{"admin", "observer", "redteam"}, []string{"observer"}, []string{}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			email := fmt.Sprintf("target%d@example.com", i)
			id := w.App.User(t, email, tc.start...).ID.String()
			step := apptest.Step{As: tc.as, Path: "/admin/users/" + id + "/groups", Form: tc.form, HX: tc.partial, Status: tc.status}
			switch {
			case tc.status == 303:
				step.Location = "/admin/users/" + id
			case tc.status == 200:
				step.TestIDs = []string{`#user-groups[data-testid="user-groups"]`}
				if tc.added != nil {
					step.Text = map[string]string{"user-groups-saved": ""}
				} else {
					step.Text = map[string]string{"user-groups-unchanged": ""}
				}
			}
			r := w.Do(t, step)
			if r.Code != tc.status {
				t.FailNow()
			}
			if got := groupsOf(t, w.App, email); !slices.Equal(got, tc.want) {
				t.Errorf("groups %v, want %v", got, tc.want)
			}
			events := auditDetails(t, w.App, "user.groups_changed", id)
			switch {
			case tc.added == nil && len(events) != 0:
				t.Errorf("audit events %v, want none", events)
			case tc.added != nil && len(events) != 1:
				t.Errorf("%d audit events, want 1", len(events))
			case tc.added != nil:
				if got := fmt.Sprint(events[0]["added"]); got != fmt.Sprint(tc.added) {
					t.Errorf("audit added %s, want %v", got, tc.added)
				}
				if got := fmt.Sprint(events[0]["removed"]); got != fmt.Sprint(tc.removed) {
					t.Errorf("audit removed %s, want %v", got, tc.removed)
				}
			}
			if tc.status == 200 && !isFragment(r.Body.String()) {
				t.Errorf("htmx answer is not the groups block:\n%s", r.Body)
			}
		})
	}

	t.Run("the manager's page shows admin and redteam disabled", func(t *testing.T) {
		shown := w.App.User(t, "shown@example.com", "admin").ID.String()
		d := doc(t, w.Do(t, apptest.Step{As: "mgr", Path: "/admin/users/" + shown}))
		for g, disabled := range map[string]bool{"admin": true, "redteam": true, "observer": false} {
			_, got := d.Find(`input[name="groups"][value="` + ids[g] + `"]`).Attr("disabled")
			if got != disabled {
				t.Errorf("%s disabled = %v, want %v", g, got, disabled)
			}
		}
	})
}

// TestLastAdmin: Violet always keeps an active admin. Taking the last one
// out of the admin group, deactivating or deleting them is refused with a
// message and changes nothing (deactivated and deleted admins do not
// count); with a second active admin the same change goes through.
func TestLastAdmin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		byAdmin bool // the admin acts on themselves; else a manager does
		path    string
		form    func(t *testing.T, app *apptest.App) url.Values
		changed func(t *testing.T, app *apptest.App) bool
		action  string
	}{
		{"taken out of the admin group", true, "/groups",
			func(t *testing.T, app *apptest.App) url.Values {
				return url.Values{"groups": {groupID(t, app, "observer")}}
			},
			func(t *testing.T, app *apptest.App) bool {
				return !slices.Contains(groupsOf(t, app, "root@example.com"), "admin")
			},
			"user.groups_changed"},
		{"deactivated", false, "/deactivate", func(*testing.T, *apptest.App) url.Values { return url.Values{} },
			func(t *testing.T, app *apptest.App) bool { a, _ := userState(t, app, "root@example.com"); return !a }, "user.deactivated"},
		{"deleted", false, "/delete", func(*testing.T, *apptest.App) url.Values { return url.Values{} },
			func(t *testing.T, app *apptest.App) bool { _, d := userState(t, app, "root@example.com"); return d }, "user.deleted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := apptest.NewWorldOf(t, nil)
			w.Group(t, "managers", auth.UserRead, auth.UserManage)
			w.Person(t, "mgr", "managers")
			w.Person(t, "root", "admin")
			actor := "mgr"
			if tc.byAdmin {
				actor = "root"
			}
			w.App.User(t, "off@example.com", "admin")
			w.App.User(t, "gone@example.com", "admin")
			w.Exec(t, `UPDATE users SET is_active = false WHERE email = 'off@example.com';
				UPDATE users SET deleted_at = now() WHERE email = 'gone@example.com'`)
			id := w.User("root").String()
			events := "audit_events WHERE action = " + apptest.Lit(tc.action) + " AND target_id = " + apptest.Lit(id)

			r := w.Do(t, apptest.Step{Name: "the last admin", As: actor, Path: "/admin/users/" + id + tc.path, Form: tc.form(t, w.App),
				Status: http.StatusUnprocessableEntity, Rows: apptest.Rows{events: 0}})
			if r.Code != http.StatusUnprocessableEntity {
				t.FailNow()
			}
			d := doc(t, r)
			if msg := testid(d, "user-action-error") + testid(d, "user-groups-error"); !strings.Contains(msg, "last active administrator") {
				t.Errorf("message %q", msg)
			}
			if tc.changed(t, w.App) || !opensHome(t, w.App, w.Cookie("root")) {
				t.Fatal("the last admin was changed anyway")
			}

			w.App.User(t, "second@example.com", "admin")
			w.Do(t, apptest.Step{Name: "with a second admin", As: actor, Path: "/admin/users/" + id + tc.path, Form: tc.form(t, w.App),
				Status: http.StatusSeeOther, Rows: apptest.Rows{events: +1}})
			if !tc.changed(t, w.App) {
				t.Error("the change was not made")
			}
		})
	}
}

func TestDeactivateUser(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	w.Person(t, "root", "admin")
	w.Person(t, "victim", "redteam")
	victim, other := w.Cookie("victim"), w.SignIn(t, "victim")
	id := w.User("victim").String()
	sessions := "refresh_tokens WHERE user_id = " + apptest.Lit(id) + " AND revoked_at IS NULL"

	r := w.Do(t, apptest.Step{Name: "deactivate", As: "root", Path: "/admin/users/" + id + "/deactivate", Form: url.Values{},
		Status: http.StatusSeeOther, Location: "/admin/users/" + id, Rows: apptest.Rows{sessions: -2}})
	if r.Code != http.StatusSeeOther {
		t.FailNow()
	}
	if active, _ := userState(t, w.App, "victim@example.com"); active {
		t.Fatal("still active")
	}
	if opensHome(t, w.App, victim) || opensHome(t, w.App, other) {
		t.Error("a session of the deactivated user still opens /")
	}
	if canLogin(w.App, "victim@example.com") {
		t.Error("a deactivated user can sign in")
	}
	events := auditDetails(t, w.App, "user.deactivated", id)
	if len(events) != 1 || events[0]["sessions_ended"] != float64(2) {
		t.Errorf("audit %v, want one event with 2 sessions ended", events)
	}
	d := doc(t, w.Follow("root", r))
	if !strings.Contains(testid(d, "flash-success"), "deactivated") || d.Find(`[data-testid="user-reactivate"]`).Length() != 1 {
		t.Error("the page shows no flash or no reactivate button")
	}

	w.Run(t, apptest.Step{Name: "deactivating again changes nothing", As: "root", Path: "/admin/users/" + id + "/deactivate",
		Form: url.Values{}, Status: http.StatusSeeOther, Rows: apptest.Rows{actions("user.deactivated"): 0}})
	t.Run("reactivate", func(t *testing.T) {
		w.Do(t, apptest.Step{As: "root", Path: "/admin/users/" + id + "/reactivate", Form: url.Values{},
			Status: http.StatusSeeOther, Rows: apptest.Rows{actions("user.reactivated"): +1}})
		if active, _ := userState(t, w.App, "victim@example.com"); !active {
			t.Fatal("not active")
		}
		if opensHome(t, w.App, victim) {
			t.Error("an ended session came back with the reactivation")
		}
		if !canLogin(w.App, "victim@example.com") {
			t.Error("a reactivated user cannot sign in")
		}
	})
	t.Run("not yourself", func(t *testing.T) {
		me := w.User("root").String()
		w.Do(t, apptest.Step{As: "root", Path: "/admin/users/" + me + "/deactivate", Form: url.Values{},
			Status: http.StatusUnprocessableEntity, Text: map[string]string{"user-action-error": "your own account"},
			Rows: apptest.Rows{"users WHERE id = " + apptest.Lit(me) + " AND is_active": 0, actions("user.deactivated"): 0}})
		if !opensHome(t, w.App, w.Cookie("root")) {
			t.Error("deactivated oneself")
		}
	})
}

func TestDeleteAndRestoreUser(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	w.Person(t, "root", "admin")
	w.Person(t, "victim", "observer")
	id := w.User("victim").String()
	deleted := "users WHERE id = " + apptest.Lit(id) + " AND deleted_at IS NOT NULL"

	w.Do(t, apptest.Step{Name: "delete", As: "root", Path: "/admin/users/" + id + "/delete", Form: url.Values{},
		Status: http.StatusSeeOther, Rows: apptest.Rows{deleted: +1}})
	if active, deleted := userState(t, w.App, "victim@example.com"); !deleted || !active {
		t.Fatalf("active %v deleted %v: want a soft delete that leaves the active flag", active, deleted)
	}
	if opensHome(t, w.App, w.Cookie("victim")) || canLogin(w.App, "victim@example.com") {
		t.Error("a deleted user still gets in")
	}
	if events := auditDetails(t, w.App, "user.deleted", id); len(events) != 1 || events[0]["sessions_ended"] != float64(1) {
		t.Errorf("audit %v", events)
	}
	if got := rowEmails(t, w.GetAs(w.Cookie("root"), "/admin/users")); slices.Contains(got, "victim@example.com") {
		t.Error("deleted user in the list")
	}
	trash := w.Do(t, apptest.Step{Name: "the trash", As: "root", Path: "/admin/users?deleted=1",
		TestIDs: []string{`form[action="/admin/users/` + id + `/restore"] [data-testid="user-row-restore"]`}})
	if got := rowEmails(t, trash); !slices.Equal(got, []string{"victim@example.com"}) {
		t.Errorf("trash %v", got)
	}
	for _, action := range []string{"/groups", "/deactivate", "/end-sessions", "/delete"} {
		w.Do(t, apptest.Step{Name: action + " on a deleted user", As: "root", Path: "/admin/users/" + id + action,
			Form: url.Values{}, Status: http.StatusNotFound})
	}

	t.Run("restore", func(t *testing.T) {
		w.Run(t,
			apptest.Step{Name: "restore", As: "root", Path: "/admin/users/" + id + "/restore", Form: url.Values{},
				Status: http.StatusSeeOther, Rows: apptest.Rows{deleted: -1, actions("user.restored"): +1}},
			apptest.Step{Name: "restoring a user not in the trash", As: "root", Path: "/admin/users/" + id + "/restore",
				Form: url.Values{}, Status: http.StatusNotFound},
		)
		if !canLogin(w.App, "victim@example.com") {
			t.Error("restored user cannot sign in")
		}
	})
	t.Run("restore refused when the email is taken again", func(t *testing.T) {
		w.Do(t, apptest.Step{Name: "delete", As: "root", Path: "/admin/users/" + id + "/delete", Form: url.Values{},
			Status: http.StatusSeeOther})
		w.App.User(t, "victim@example.com", "observer") // invited again
		w.Do(t, apptest.Step{Name: "restore over another account", As: "root", Path: "/admin/users/" + id + "/restore",
			Form: url.Values{}, Status: http.StatusUnprocessableEntity, Text: map[string]string{"user-action-error": "Another account"},
			Rows: apptest.Rows{deleted: 0}})
	})
	t.Run("not yourself", func(t *testing.T) {
		me := w.User("root").String()
		w.Do(t, apptest.Step{As: "root", Path: "/admin/users/" + me + "/delete", Form: url.Values{},
			Status: http.StatusUnprocessableEntity,
			Rows:   apptest.Rows{"users WHERE id = " + apptest.Lit(me) + " AND deleted_at IS NULL": 0, actions("user.deleted"): 0}})
	})
}

func TestEndUserSessions(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	w.Person(t, "root", "admin")
	w.Person(t, "busy", "redteam")
	first, second := w.Cookie("busy"), w.SignIn(t, "busy")
	w.Person(t, "calm", "redteam")
	id := w.User("busy").String()

	w.Do(t, apptest.Step{Name: "end sessions", As: "root", Path: "/admin/users/" + id + "/end-sessions", Form: url.Values{},
		Status: http.StatusSeeOther})
	if opensHome(t, w.App, first) || opensHome(t, w.App, second) {
		t.Error("an ended session still opens /")
	}
	if !opensHome(t, w.App, w.Cookie("calm")) || !opensHome(t, w.App, w.Cookie("root")) {
		t.Error("other users' sessions were ended too")
	}
	if active, _ := userState(t, w.App, "busy@example.com"); !active || !canLogin(w.App, "busy@example.com") {
		t.Error("ending sessions must not lock the user out")
	}
	if events := auditDetails(t, w.App, "user.sessions_ended", id); len(events) != 1 || events[0]["sessions_ended"] != float64(2) {
		t.Errorf("audit %v", events)
	}
}

// TestUserChangesNeedUserManage: viewers without user.manage get 403 on
// every change route, and nothing changes.
func TestUserChangesNeedUserManage(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"red", "observer"})
	w.Group(t, "helpdesk", auth.UserRead)
	w.Person(t, "desk", "helpdesk")
	w.Person(t, "target", "blueteam")
	trashed := w.App.User(t, "trashed@example.com", "blueteam").ID.String()
	w.Exec(t, `UPDATE users SET deleted_at = now() WHERE email = 'trashed@example.com'`)
	id := w.User("target").String()
	routes := []struct {
		path string
		form url.Values
	}{
		{"/admin/users/" + id + "/groups", url.Values{"groups": {groupID(t, w.App, "admin")}}},
		{"/admin/users/" + id + "/deactivate", url.Values{}},
		{"/admin/users/" + id + "/delete", url.Values{}},
		{"/admin/users/" + id + "/end-sessions", url.Values{}},
		{"/admin/users/" + trashed + "/restore", url.Values{}},
		{"/admin/users/" + trashed + "/reactivate", url.Values{}},
	}
	// Nothing changes: no user.* audit event, the target's groups and
	// state, the deleted user still deleted.
	nothing := apptest.Rows{"audit_events WHERE action LIKE 'user.%'": 0, "user_groups": 0,
		"users WHERE is_active AND deleted_at IS NULL": 0, "users WHERE deleted_at IS NOT NULL": 0}
	for _, viewer := range []string{"red", "observer", "desk"} {
		for _, r := range routes {
			t.Run(viewer+" "+r.path[strings.LastIndex(r.path, "/"):], func(t *testing.T) {
				for _, hx := range []bool{false, true} {
					w.Do(t, apptest.Step{As: viewer, Path: r.path, Form: r.form, HX: hx, Status: http.StatusForbidden, Rows: nothing})
				}
			})
		}
		want := http.StatusForbidden
		if viewer == "desk" {
			want = http.StatusOK
		}
		w.Run(t, apptest.Step{Name: viewer + " reads the list only with user.read", As: viewer, Path: "/admin/users", Status: want})
	}
	if active, deleted := userState(t, w.App, "target@example.com"); !active || deleted || !opensHome(t, w.App, w.Cookie("target")) {
		t.Error("the target was changed")
	}
	if got := groupsOf(t, w.App, "target@example.com"); !slices.Equal(got, []string{"blueteam"}) {
		t.Errorf("the target's groups changed: %v", got)
	}
	if _, deleted := userState(t, w.App, "trashed@example.com"); !deleted {
		t.Error("the deleted user was restored")
	}
	if n := w.Count(t, "audit_events WHERE action LIKE 'user.%'"); n != 0 {
		t.Errorf("%d user.* audit events, want none", n)
	}
}

// TestUserPagesInFrench: the pages speak the viewer's language.
func TestUserPagesInFrench(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	w.Person(t, "root", "admin")
	w.Exec(t, `UPDATE users SET locale = 'fr'`)
	for _, path := range []string{"/admin/users", "/admin/users?deleted=1", "/admin/users/" + w.User("root").String()} {
		r := w.GetAs(w.Cookie("root"), path)
		body := r.Body.String()
		if r.Code != 200 || !strings.Contains(body, "Utilisateurs") && !strings.Contains(body, "Compte") {
			t.Errorf("%s: %d, not in French", path, r.Code)
		}
		if strings.Contains(body, "admin.users.") || strings.Contains(body, "admin.nav.") {
			t.Errorf("%s shows a message id", path)
		}
	}
}

// TestBrowserUserAndGroupAdmin drives the administration pages in a real
// Chromium under the CSP: search as you type pushes its URL, the groups
// form saves in place, deactivation asks for confirmation, and the
// permission matrix saves each box as it is ticked.
func TestBrowserUserAndGroupAdmin(t *testing.T) {
	app, base := browsertest.Server(t)
	app.User(t, "root@example.com", "admin")
	app.User(t, "alice@example.com", "observer")
	app.User(t, "bob@example.com", "blueteam")
	purple := apptest.AsWorld(app).Group(t, "purple", auth.MissionRead).String()
	alice := userID(t, app, "alice@example.com")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	rows := func(n int) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll('[data-testid="user-row"]').length === %d`, n))
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "root@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-table"]`)),
		browsertest.Loaded(),
		rows(3),
		chromedp.SendKeys(chromedp.CSS(`#user-q`), "ali"),
		rows(1),
	); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(loc, "q=ali") {
		t.Errorf("location after searching %q (%v): the search did not push its URL", loc, err)
	}
	browsertest.Screenshot(t, ctx, "users-search")

	// The groups form saves in place.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="user-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-groups-form"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="user-group-redteam"] input`)),
		chromedp.Click(chromedp.CSS(`[data-testid="user-groups-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-groups-saved"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if got := groupsOf(t, app, "alice@example.com"); !slices.Equal(got, []string{"observer", "redteam"}) {
		t.Errorf("alice's groups %v", got)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/admin/users/"+alice) {
		t.Errorf("the groups form navigated to %q", loc)
	}

	// Deactivation asks first (hx-confirm), then shows the page again.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.asked = 0; window.confirm = function () { window.asked++; return true; }`),
		chromedp.Click(chromedp.CSS(`[data-testid="user-deactivate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-reactivate"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if asked, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.asked || 0`)); err != nil || asked != 1 {
		t.Errorf("confirmation asked %d times (%v), want 1", asked, err)
	}
	if active, _ := userState(t, app, "alice@example.com"); active {
		t.Error("alice is still active")
	}
	browsertest.Screenshot(t, ctx, "user-page")

	// The permission matrix saves each box.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/groups/"+purple),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="group-matrix"]`)),
		chromedp.Click(chromedp.CSS(`#perm-audit-read-input`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-testid="perm-row-audit.read"] [data-testid="perm-saved"]`)),
		chromedp.Click(chromedp.CSS(`#perm-mission-read-input`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-testid="perm-row-mission.read"] [data-testid="perm-saved"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if got := permsOf(t, app, purple); !slices.Equal(got, []string{"audit.read"}) {
		t.Errorf("purple holds %v, want [audit.read]", got)
	}
	browsertest.Screenshot(t, ctx, "group-page")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
