package handlers_test

import (
	"context"
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

	"violet/ent"
	"violet/ent/group"
	"violet/ent/permission"
	"violet/internal/apptest"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/browsertest"
)

// adminFixture is an app with helpers to read the outcome of the
// administration pages straight from the database.
type adminFixture struct {
	t   *testing.T
	app *apptest.App
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	return &adminFixture{t: t, app: apptest.New(t)}
}

func (f *adminFixture) sys() context.Context { return rule.SystemContext(context.Background()) }

// group creates a group holding perms.
func (f *adminFixture) group(name string, perms ...auth.Permission) *ent.Group {
	f.t.Helper()
	codes := make([]string, len(perms))
	for i, p := range perms {
		codes[i] = string(p)
	}
	ids, err := f.app.Ent.Permission.Query().Where(permission.CodeIn(codes...)).IDs(f.sys())
	if err != nil || len(ids) != len(perms) {
		f.t.Fatalf("permissions %v: %d found (%v)", perms, len(ids), err)
	}
	g, err := f.app.Ent.Group.Create().SetName(name).AddPermissionIDs(ids...).Save(f.sys())
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

// groupID returns the id of the group named name.
func (f *adminFixture) groupID(name string) string {
	f.t.Helper()
	id, err := f.app.Ent.Group.Query().Where(group.Name(name)).OnlyID(f.sys())
	if err != nil {
		f.t.Fatalf("group %s: %v", name, err)
	}
	return id.String()
}

// userID returns the id of the user with email, deleted or not.
func (f *adminFixture) userID(email string) string {
	f.t.Helper()
	var id uuid.UUID
	if err := f.app.DB.QueryRow(`SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		f.t.Fatalf("user %s: %v", email, err)
	}
	return id.String()
}

// state returns whether the user is active and whether it is deleted.
func (f *adminFixture) state(email string) (active, deleted bool) {
	f.t.Helper()
	if err := f.app.DB.QueryRow(`SELECT is_active, deleted_at IS NOT NULL FROM users WHERE email = $1`, email).
		Scan(&active, &deleted); err != nil {
		f.t.Fatalf("user %s: %v", email, err)
	}
	return active, deleted
}

// groupsOf returns the names of the user's groups, sorted.
func (f *adminFixture) groupsOf(email string) []string {
	f.t.Helper()
	rows, err := f.app.DB.Query(`SELECT g.name FROM users u JOIN user_groups ug ON ug.user_id = u.id
		JOIN groups g ON g.id = ug.group_id WHERE u.email = $1 ORDER BY g.name`, email)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// liveSessions counts the user's sessions that are not revoked.
func (f *adminFixture) liveSessions(email string) int {
	f.t.Helper()
	var n int
	if err := f.app.DB.QueryRow(`SELECT count(*) FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id
		WHERE u.email = $1 AND rt.revoked_at IS NULL`, email).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// audits returns the details of the audit events of action on targetID,
// oldest first.
func (f *adminFixture) audits(action, targetID string) []map[string]any {
	f.t.Helper()
	rows, err := f.app.DB.Query(`SELECT COALESCE(details, '{}'::jsonb) FROM audit_events
		WHERE action = $1 AND target_id = $2 ORDER BY created_at, id`, action, targetID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			f.t.Fatal(err)
		}
		d := map[string]any{}
		if err := json.Unmarshal(raw, &d); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// auditTotal counts the audit events whose action starts with prefix.
func (f *adminFixture) auditTotal(prefix string) int {
	f.t.Helper()
	var n int
	if err := f.app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action LIKE $1 || '%'`, prefix).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// opensHome reports whether cookie still opens the home page, and checks
// that a cookie that does not is sent to the sign-in page.
func (f *adminFixture) opensHome(cookie *http.Cookie) bool {
	f.t.Helper()
	w := f.app.GetAs(cookie, "/")
	if w.Code != http.StatusOK && (w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login")) {
		f.t.Fatalf("GET / = %d to %q, want 200 or a redirect to /login", w.Code, w.Header().Get("Location"))
	}
	return w.Code == http.StatusOK
}

// follow requests the page w redirected to, as a browser would: with the
// session cookie and the cookies w set (the flash message).
func (f *adminFixture) follow(cookie *http.Cookie, w *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	f.t.Helper()
	r := httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil)
	r.AddCookie(cookie)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	return f.app.Do(r)
}

// canLogin reports whether email can sign in with apptest.Password.
func (f *adminFixture) canLogin(email string) bool {
	return postLogin(f.app, email, apptest.Password).Code == http.StatusSeeOther
}

// htmx are the headers of an htmx partial request.
var htmx = []string{"HX-Request", "true"}

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
	f := newAdminFixture(t)
	app := f.app
	root := app.SignedIn(t, "root@example.com", "admin")
	app.User(t, "alice@example.com", "redteam")
	app.User(t, "bob@example.com", "blueteam")
	app.User(t, "carol@example.com", "observer")
	desk := f.group("helpdesk", auth.UserRead)
	deskCookie := app.SignedIn(t, "desk@example.com", desk.Name)
	if _, err := app.DB.Exec(`UPDATE users SET display_name = 'Robert Tables', is_active = false WHERE email = 'bob@example.com'`); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB.Exec(`UPDATE users SET deleted_at = now() WHERE email = 'carol@example.com'`); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		cookie *http.Cookie
		query  string
		status int
		want   []string
	}{
		{"everyone not deleted, by email", root, "", 200,
			[]string{"alice@example.com", "bob@example.com", "desk@example.com", "root@example.com"}},
		{"search by email ignores case", root, "?q=ALI", 200, []string{"alice@example.com"}},
		{"search by display name", root, "?q=tables", 200, []string{"bob@example.com"}},
		{"search treats LIKE wildcards as text", root, "?q=%25", 200, nil},
		{"group filter", root, "?group=redteam", 200, []string{"alice@example.com"}},
		{"active only", root, "?status=active", 200,
			[]string{"alice@example.com", "desk@example.com", "root@example.com"}},
		{"deactivated only", root, "?status=deactivated", 200, []string{"bob@example.com"}},
		{"unknown status means all", root, "?status=bogus&q=b", 200, []string{"bob@example.com"}},
		{"trash lists the deleted only", root, "?deleted=1", 200, []string{"carol@example.com"}},
		{"trash with a search", root, "?deleted=1&q=nobody", 200, nil},
		{"no match is the empty state", root, "?q=zzz", 200, nil},
		{"user.read reads the list", deskCookie, "?q=alice", 200, []string{"alice@example.com"}},
		{"the trash needs user.manage", deskCookie, "?deleted=1", 403, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := app.GetAs(tc.cookie, "/admin/users"+tc.query)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := rowEmails(t, w); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
			d := doc(t, w)
			if empty := d.Find(`[data-testid="users-empty"]`).Length() == 1; empty != (len(tc.want) == 0) {
				t.Errorf("empty state shown = %v with %d rows", empty, len(tc.want))
			}
			if total := d.Find(`[data-testid="user-count"]`).AttrOr("data-total", ""); total != fmt.Sprint(len(tc.want)) {
				t.Errorf("count says %s, want %d", total, len(tc.want))
			}
			if d.Find(`[data-testid="admin-tabs"]`).Length() == 0 && tc.cookie == root {
				t.Error("no admin tabs on the page")
			}
		})
	}

	t.Run("rows link to the user pages", func(t *testing.T) {
		d := doc(t, app.GetAs(root, "/admin/users?q=alice"))
		href, _ := d.Find(`[data-testid="user-link"]`).Attr("href")
		if href != "/admin/users/"+f.userID("alice@example.com") {
			t.Errorf("link %q", href)
		}
		if w := app.GetAs(root, href); w.Code != 200 || testid(doc(t, w), "user-email") != "alice@example.com" {
			t.Errorf("user page: %d", w.Code)
		}
	})

	t.Run("htmx gets only the results, filter kept in the form", func(t *testing.T) {
		w := app.GetAs(root, "/admin/users?q=alice&status=active", htmx...)
		if w.Code != 200 || !isFragment(w.Body.String()) {
			t.Fatalf("status %d, fragment %v", w.Code, isFragment(w.Body.String()))
		}
		d := doc(t, w)
		if d.Find(`#user-results[data-testid="user-results"]`).Length() != 1 {
			t.Error("the fragment is not the results block")
		}
		if got := rowEmails(t, w); !slices.Equal(got, []string{"alice@example.com"}) {
			t.Errorf("rows %v", got)
		}
		if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "HX-Request") {
			t.Error("no Vary: HX-Request")
		}
		page := doc(t, app.GetAs(root, "/admin/users?q=alice&status=active&group=redteam"))
		if v, _ := page.Find(`input[name="q"]`).Attr("value"); v != "alice" {
			t.Errorf("search box holds %q after reload", v)
		}
		if v, _ := page.Find(`select[name="group"] option[selected]`).Attr("value"); v != "redteam" {
			t.Errorf("group filter holds %q after reload", v)
		}
		if v, _ := page.Find(`select[name="status"] option[selected]`).Attr("value"); v != "active" {
			t.Errorf("status filter holds %q after reload", v)
		}
		if _, ok := page.Find(`input[name="q"]`).Attr("hx-push-url"); !ok {
			t.Error("the search does not push its URL")
		}
	})
}

func TestListUsersPaging(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	root := f.app.SignedIn(t, "root@example.com", "admin")
	if _, err := f.app.DB.Exec(`INSERT INTO users (email, password_hash, display_name, locale, is_active)
		SELECT 'bulk' || lpad(n::text, 3, '0') || '@example.com', 'x', 'Bulk ' || n, 'en', true
		FROM generate_series(1, 60) n`); err != nil {
		t.Fatal(err)
	}
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
			w := f.app.GetAs(root, "/admin/users"+tc.query)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			rows := rowEmails(t, w)
			if len(rows) != tc.rows || rows[0] != tc.first {
				t.Errorf("%d rows from %v, want %d from %s", len(rows), rows[:1], tc.rows, tc.first)
			}
			d := doc(t, w)
			if got := testid(d, "user-count"); got != tc.count {
				t.Errorf("count %q, want %q", got, tc.count)
			}
			if got := d.Find(`[data-testid="pager-prev"]`).Length() == 1; got != tc.prev {
				t.Errorf("previous link %v", got)
			}
			if got := d.Find(`[data-testid="pager-next"]`).Length() == 1; got != tc.next {
				t.Errorf("next link %v", got)
			}
		})
	}
	t.Run("the next link keeps the filter", func(t *testing.T) {
		d := doc(t, f.app.GetAs(root, "/admin/users?q=bulk&status=active"))
		href, _ := d.Find(`[data-testid="pager-next"]`).Attr("href")
		u, err := url.Parse(href)
		if err != nil || u.Query().Get("q") != "bulk" || u.Query().Get("status") != "active" || u.Query().Get("page") != "2" {
			t.Errorf("next link %q", href)
		}
	})
}

func TestShowUser(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	app := f.app
	root := app.SignedIn(t, "root@example.com", "admin")
	app.User(t, "alice@example.com", "redteam", "observer")
	app.Login(t, "alice@example.com", apptest.Password)
	app.Login(t, "alice@example.com", apptest.Password)
	desk := f.group("helpdesk", auth.UserRead)
	deskCookie := app.SignedIn(t, "desk@example.com", desk.Name)
	alice := f.userID("alice@example.com")

	t.Run("facts, groups and sessions", func(t *testing.T) {
		w := app.GetAs(root, "/admin/users/"+alice)
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		d := doc(t, w)
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
		want := []string{f.groupID("observer"), f.groupID("redteam")}
		slices.Sort(want)
		if !slices.Equal(checked, want) {
			t.Errorf("checked groups %v, want %v", checked, want)
		}
		if d.Find(`form[action="/admin/users/`+alice+`/reset-invitation"]`).Length() != 1 {
			t.Error("no reset invitation form")
		}
	})
	t.Run("user.read sees the page without the forms", func(t *testing.T) {
		w := app.GetAs(deskCookie, "/admin/users/"+alice)
		d := doc(t, w)
		if w.Code != 200 || d.Find(`[data-testid="user-groups-form"]`).Length() != 0 ||
			d.Find(`[data-testid="user-actions"]`).Length() != 0 || d.Find(`form[action$="/reset-invitation"]`).Length() != 0 {
			t.Errorf("status %d, or change forms shown without user.manage", w.Code)
		}
		if testid(d, "user-groups-list") == "" {
			t.Error("groups not listed")
		}
	})
	t.Run("my own page has no deactivate or delete", func(t *testing.T) {
		d := doc(t, app.GetAs(root, "/admin/users/"+f.userID("root@example.com")))
		if d.Find(`[data-testid="user-deactivate"], [data-testid="user-delete"]`).Length() != 0 || testid(d, "user-self-note") == "" {
			t.Error("own page offers deactivate or delete")
		}
	})
	for _, path := range []string{"/admin/users/not-a-uuid", "/admin/users/" + uuid.NewString()} {
		t.Run("missing "+path, func(t *testing.T) {
			if w := app.GetAs(root, path); w.Code != 404 {
				t.Errorf("status %d, want 404", w.Code)
			}
		})
	}
	t.Run("a deleted user is 404 without user.manage and restorable with it", func(t *testing.T) {
		if _, err := app.DB.Exec(`UPDATE users SET deleted_at = now() WHERE id = $1`, alice); err != nil {
			t.Fatal(err)
		}
		if w := app.GetAs(deskCookie, "/admin/users/"+alice); w.Code != 404 {
			t.Errorf("user.read: %d, want 404", w.Code)
		}
		d := doc(t, app.GetAs(root, "/admin/users/"+alice))
		if d.Find(`[data-testid="user-restore"]`).Length() != 1 || d.Find(`[data-testid="user-groups-form"]`).Length() != 0 {
			t.Error("deleted user's page: want restore and no groups form")
		}
	})
}

func TestUpdateUserGroups(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	app := f.app
	root := app.SignedIn(t, "root@example.com", "admin")
	// A manager outside the admin group holds observer's permissions and
	// user.manage, and so may grant observer but not redteam or admin.
	mgr := f.group("managers", auth.UserRead, auth.UserManage, auth.MissionRead, auth.TemplateRead, auth.AttackRead)
	manager := app.SignedIn(t, "mgr@example.com", mgr.Name)
	ids := map[string]string{}
	for _, g := range []string{"admin", "redteam", "blueteam", "observer", "managers"} {
		ids[g] = f.groupID(g)
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
		cookie  *http.Cookie
		start   []string // the target's groups before
		form    url.Values
		partial bool
		status  int
		want    []string // the target's groups after
		added   []string // in the audit event; nil for no event
		removed []string
	}{
		{"admin adds and removes", root, []string{"observer"}, form("redteam", "blueteam"), false, 303,
			[]string{"blueteam", "redteam"}, []string{"blueteam", "redteam"}, []string{"observer"}},
		{"htmx swaps the block", root, []string{"observer"}, form("observer", "redteam"), true, 200,
			[]string{"observer", "redteam"}, []string{"redteam"}, []string{}},
		{"admin grants admin", root, nil, form("admin"), false, 303, []string{"admin"}, []string{"admin"}, []string{}},
		{"nothing to change writes nothing", root, []string{"observer"}, form("observer"), true, 200,
			[]string{"observer"}, nil, nil},
		{"extra fields are ignored", root, []string{"observer"},
			url.Values{"groups": {ids["redteam"]}, "is_active": {"false"}, "email": {"x@evil.example"}}, false, 303,
			[]string{"redteam"}, []string{"redteam"}, []string{"observer"}},
		{"an unknown group id is a bad request", root, []string{"observer"},
			url.Values{"groups": {uuid.NewString()}}, false, 400, []string{"observer"}, nil, nil},
		{"manager grants a group within their permissions", manager, nil, form("observer"), false, 303,
			[]string{"observer"}, []string{"observer"}, []string{}},
		{"manager cannot grant admin", manager, []string{"observer"}, form("observer", "admin"), false, 403,
			[]string{"observer"}, nil, nil},
		{"manager cannot grant admin with htmx either", manager, nil, form("admin"), true, 403, nil, nil, nil},
		{"manager cannot grant a group with more permissions", manager, nil, form("redteam"), false, 403, nil, nil, nil},
		{"manager leaves groups they cannot grant as they are", manager, []string{"admin", "redteam"}, form("observer"),
			false, 303, []string{"admin", "observer", "redteam"}, []string{"observer"}, []string{}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			email := fmt.Sprintf("target%d@example.com", i)
			app.User(t, email, tc.start...)
			id := f.userID(email)
			var header []string
			if tc.partial {
				header = htmx
			}
			w := app.PostAs(tc.cookie, "/admin/users/"+id+"/groups", tc.form, header...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			if got := f.groupsOf(email); !slices.Equal(got, tc.want) {
				t.Errorf("groups %v, want %v", got, tc.want)
			}
			events := f.audits("user.groups_changed", id)
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
			switch {
			case tc.status == 303:
				if loc := w.Header().Get("Location"); loc != "/admin/users/"+id {
					t.Errorf("redirect to %q", loc)
				}
			case tc.status == 200:
				body := w.Body.String()
				d := doc(t, w)
				if !isFragment(body) || d.Find(`#user-groups[data-testid="user-groups"]`).Length() != 1 {
					t.Errorf("htmx answer is not the groups block:\n%s", body)
				}
				if tc.added != nil && testid(d, "user-groups-saved") == "" {
					t.Error("no saved note")
				}
				if tc.added == nil && testid(d, "user-groups-unchanged") == "" {
					t.Error("no unchanged note")
				}
			}
		})
	}

	t.Run("the manager's page shows admin and redteam disabled", func(t *testing.T) {
		app.User(t, "shown@example.com", "admin")
		d := doc(t, app.GetAs(manager, "/admin/users/"+f.userID("shown@example.com")))
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
		form    func(f *adminFixture) url.Values
		changed func(f *adminFixture) bool
		action  string
	}{
		{"taken out of the admin group", true, "/groups",
			func(f *adminFixture) url.Values { return url.Values{"groups": {f.groupID("observer")}} },
			func(f *adminFixture) bool { return !slices.Contains(f.groupsOf("root@example.com"), "admin") },
			"user.groups_changed"},
		{"deactivated", false, "/deactivate", func(*adminFixture) url.Values { return nil },
			func(f *adminFixture) bool { a, _ := f.state("root@example.com"); return !a }, "user.deactivated"},
		{"deleted", false, "/delete", func(*adminFixture) url.Values { return nil },
			func(f *adminFixture) bool { _, d := f.state("root@example.com"); return d }, "user.deleted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newAdminFixture(t)
			app := f.app
			mgr := f.group("managers", auth.UserRead, auth.UserManage)
			actor := app.SignedIn(t, "mgr@example.com", mgr.Name)
			root := app.SignedIn(t, "root@example.com", "admin")
			if tc.byAdmin {
				actor = root
			}
			app.User(t, "off@example.com", "admin")
			app.User(t, "gone@example.com", "admin")
			if _, err := app.DB.Exec(`UPDATE users SET is_active = false WHERE email = 'off@example.com';
				UPDATE users SET deleted_at = now() WHERE email = 'gone@example.com'`); err != nil {
				t.Fatal(err)
			}
			id := f.userID("root@example.com")

			w := app.PostAs(actor, "/admin/users/"+id+tc.path, tc.form(f))
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422\n%s", w.Code, w.Body)
			}
			d := doc(t, w)
			msg := testid(d, "user-action-error") + testid(d, "user-groups-error")
			if !strings.Contains(msg, "last active administrator") {
				t.Errorf("message %q", msg)
			}
			if tc.changed(f) || len(f.audits(tc.action, id)) != 0 || !f.opensHome(root) {
				t.Fatal("the last admin was changed anyway")
			}

			app.User(t, "second@example.com", "admin")
			if w := app.PostAs(actor, "/admin/users/"+id+tc.path, tc.form(f)); w.Code != http.StatusSeeOther {
				t.Fatalf("with a second admin: %d, want 303\n%s", w.Code, w.Body)
			}
			if !tc.changed(f) || len(f.audits(tc.action, id)) != 1 {
				t.Error("the change was not made or not audited")
			}
		})
	}
}

func TestDeactivateUser(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	app := f.app
	root := app.SignedIn(t, "root@example.com", "admin")
	victim := app.SignedIn(t, "victim@example.com", "redteam")
	other := app.Login(t, "victim@example.com", apptest.Password)
	id := f.userID("victim@example.com")

	w := app.PostAs(root, "/admin/users/"+id+"/deactivate", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/users/"+id {
		t.Fatalf("deactivate: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if active, _ := f.state("victim@example.com"); active {
		t.Fatal("still active")
	}
	if f.liveSessions("victim@example.com") != 0 {
		t.Error("sessions not revoked in the database")
	}
	if f.opensHome(victim) || f.opensHome(other) {
		t.Error("a session of the deactivated user still opens /")
	}
	if f.canLogin("victim@example.com") {
		t.Error("a deactivated user can sign in")
	}
	events := f.audits("user.deactivated", id)
	if len(events) != 1 || events[0]["sessions_ended"] != float64(2) {
		t.Errorf("audit %v, want one event with 2 sessions ended", events)
	}
	d := doc(t, f.follow(root, w))
	if !strings.Contains(testid(d, "flash-success"), "deactivated") || d.Find(`[data-testid="user-reactivate"]`).Length() != 1 {
		t.Error("the page shows no flash or no reactivate button")
	}

	t.Run("deactivating again changes nothing", func(t *testing.T) {
		if w := app.PostAs(root, "/admin/users/"+id+"/deactivate", nil); w.Code != http.StatusSeeOther {
			t.Fatalf("status %d", w.Code)
		}
		if n := len(f.audits("user.deactivated", id)); n != 1 {
			t.Errorf("%d events, want still 1", n)
		}
	})
	t.Run("reactivate", func(t *testing.T) {
		if w := app.PostAs(root, "/admin/users/"+id+"/reactivate", nil); w.Code != http.StatusSeeOther {
			t.Fatalf("status %d", w.Code)
		}
		if active, _ := f.state("victim@example.com"); !active {
			t.Fatal("not active")
		}
		if f.opensHome(victim) {
			t.Error("an ended session came back with the reactivation")
		}
		if !f.canLogin("victim@example.com") {
			t.Error("a reactivated user cannot sign in")
		}
		if n := len(f.audits("user.reactivated", id)); n != 1 {
			t.Errorf("%d user.reactivated events", n)
		}
	})
	t.Run("not yourself", func(t *testing.T) {
		me := f.userID("root@example.com")
		w := app.PostAs(root, "/admin/users/"+me+"/deactivate", nil)
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(testid(doc(t, w), "user-action-error"), "your own account") {
			t.Fatalf("status %d", w.Code)
		}
		if active, _ := f.state("root@example.com"); !active || !f.opensHome(root) || len(f.audits("user.deactivated", me)) != 0 {
			t.Error("deactivated oneself")
		}
	})
}

func TestDeleteAndRestoreUser(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	app := f.app
	root := app.SignedIn(t, "root@example.com", "admin")
	victim := app.SignedIn(t, "victim@example.com", "observer")
	id := f.userID("victim@example.com")

	w := app.PostAs(root, "/admin/users/"+id+"/delete", nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", w.Code)
	}
	if active, deleted := f.state("victim@example.com"); !deleted || !active {
		t.Fatalf("active %v deleted %v: want a soft delete that leaves the active flag", active, deleted)
	}
	if f.opensHome(victim) || f.canLogin("victim@example.com") {
		t.Error("a deleted user still gets in")
	}
	if events := f.audits("user.deleted", id); len(events) != 1 || events[0]["sessions_ended"] != float64(1) {
		t.Errorf("audit %v", events)
	}
	if got := rowEmails(t, app.GetAs(root, "/admin/users")); slices.Contains(got, "victim@example.com") {
		t.Error("deleted user in the list")
	}
	trash := app.GetAs(root, "/admin/users?deleted=1")
	if got := rowEmails(t, trash); !slices.Equal(got, []string{"victim@example.com"}) {
		t.Errorf("trash %v", got)
	}
	if doc(t, trash).Find(`form[action="/admin/users/`+id+`/restore"] [data-testid="user-row-restore"]`).Length() != 1 {
		t.Error("the trash offers no restore button")
	}
	for _, action := range []string{"/groups", "/deactivate", "/end-sessions", "/delete"} {
		if w := app.PostAs(root, "/admin/users/"+id+action, nil); w.Code != http.StatusNotFound {
			t.Errorf("%s on a deleted user: %d, want 404", action, w.Code)
		}
	}

	t.Run("restore", func(t *testing.T) {
		if w := app.PostAs(root, "/admin/users/"+id+"/restore", nil); w.Code != http.StatusSeeOther {
			t.Fatalf("restore: %d", w.Code)
		}
		if _, deleted := f.state("victim@example.com"); deleted {
			t.Fatal("still deleted")
		}
		if !f.canLogin("victim@example.com") || len(f.audits("user.restored", id)) != 1 {
			t.Error("restored user cannot sign in, or no audit event")
		}
		if w := app.PostAs(root, "/admin/users/"+id+"/restore", nil); w.Code != http.StatusNotFound {
			t.Errorf("restoring a user not in the trash: %d, want 404", w.Code)
		}
	})
	t.Run("restore refused when the email is taken again", func(t *testing.T) {
		if w := app.PostAs(root, "/admin/users/"+id+"/delete", nil); w.Code != http.StatusSeeOther {
			t.Fatalf("delete: %d", w.Code)
		}
		app.User(t, "victim@example.com", "observer") // invited again
		w := app.PostAs(root, "/admin/users/"+id+"/restore", nil)
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(testid(doc(t, w), "user-action-error"), "Another account") {
			t.Fatalf("status %d", w.Code)
		}
		var deleted bool
		if err := app.DB.QueryRow(`SELECT deleted_at IS NOT NULL FROM users WHERE id = $1`, id).Scan(&deleted); err != nil || !deleted {
			t.Error("restored over another account")
		}
	})
	t.Run("not yourself", func(t *testing.T) {
		me := f.userID("root@example.com")
		if w := app.PostAs(root, "/admin/users/"+me+"/delete", nil); w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", w.Code)
		}
		if _, deleted := f.state("root@example.com"); deleted || len(f.audits("user.deleted", me)) != 0 {
			t.Error("deleted oneself")
		}
	})
}

func TestEndUserSessions(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	app := f.app
	root := app.SignedIn(t, "root@example.com", "admin")
	first := app.SignedIn(t, "busy@example.com", "redteam")
	second := app.Login(t, "busy@example.com", apptest.Password)
	bystander := app.SignedIn(t, "calm@example.com", "redteam")
	id := f.userID("busy@example.com")

	if w := app.PostAs(root, "/admin/users/"+id+"/end-sessions", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("status %d", w.Code)
	}
	if f.opensHome(first) || f.opensHome(second) {
		t.Error("an ended session still opens /")
	}
	if !f.opensHome(bystander) || !f.opensHome(root) {
		t.Error("other users' sessions were ended too")
	}
	if active, _ := f.state("busy@example.com"); !active || !f.canLogin("busy@example.com") {
		t.Error("ending sessions must not lock the user out")
	}
	if events := f.audits("user.sessions_ended", id); len(events) != 1 || events[0]["sessions_ended"] != float64(2) {
		t.Errorf("audit %v", events)
	}
}

// TestUserChangesNeedUserManage: viewers without user.manage get 403 on
// every change route, and nothing changes.
func TestUserChangesNeedUserManage(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	app := f.app
	desk := f.group("helpdesk", auth.UserRead)
	viewers := map[string]*http.Cookie{
		"redteam":  app.SignedIn(t, "red@example.com", "redteam"),
		"observer": app.SignedIn(t, "obs@example.com", "observer"),
		"helpdesk": app.SignedIn(t, "desk@example.com", desk.Name),
	}
	target := app.SignedIn(t, "target@example.com", "blueteam")
	app.User(t, "trashed@example.com", "blueteam")
	if _, err := app.DB.Exec(`UPDATE users SET deleted_at = now() WHERE email = 'trashed@example.com'`); err != nil {
		t.Fatal(err)
	}
	id, trashed := f.userID("target@example.com"), f.userID("trashed@example.com")
	routes := []struct {
		path string
		form url.Values
	}{
		{"/admin/users/" + id + "/groups", url.Values{"groups": {f.groupID("admin")}}},
		{"/admin/users/" + id + "/deactivate", nil},
		{"/admin/users/" + id + "/delete", nil},
		{"/admin/users/" + id + "/end-sessions", nil},
		{"/admin/users/" + trashed + "/restore", nil},
		{"/admin/users/" + trashed + "/reactivate", nil},
	}
	for name, cookie := range viewers {
		for _, r := range routes {
			t.Run(name+" "+r.path[strings.LastIndex(r.path, "/"):], func(t *testing.T) {
				for _, header := range [][]string{nil, htmx} {
					if w := app.PostAs(cookie, r.path, r.form, header...); w.Code != http.StatusForbidden {
						t.Errorf("status %d, want 403", w.Code)
					}
				}
			})
		}
		t.Run(name+" reads the list only with user.read", func(t *testing.T) {
			want := http.StatusForbidden
			if name == "helpdesk" {
				want = http.StatusOK
			}
			if w := app.GetAs(cookie, "/admin/users"); w.Code != want {
				t.Errorf("status %d, want %d", w.Code, want)
			}
		})
	}
	if active, deleted := f.state("target@example.com"); !active || deleted || !f.opensHome(target) {
		t.Error("the target was changed")
	}
	if got := f.groupsOf("target@example.com"); !slices.Equal(got, []string{"blueteam"}) {
		t.Errorf("the target's groups changed: %v", got)
	}
	if _, deleted := f.state("trashed@example.com"); !deleted {
		t.Error("the deleted user was restored")
	}
	if n := f.auditTotal("user."); n != 0 {
		t.Errorf("%d user.* audit events, want none", n)
	}
}

// TestUserPagesInFrench: the pages speak the viewer's language.
func TestUserPagesInFrench(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	root := f.app.SignedIn(t, "root@example.com", "admin")
	if _, err := f.app.DB.Exec(`UPDATE users SET locale = 'fr'`); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/admin/users", "/admin/users?deleted=1", "/admin/users/" + f.userID("root@example.com")} {
		w := f.app.GetAs(root, path)
		body := w.Body.String()
		if w.Code != 200 || !strings.Contains(body, "Utilisateurs") && !strings.Contains(body, "Compte") {
			t.Errorf("%s: %d, not in French", path, w.Code)
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
	f := &adminFixture{t: t, app: app}
	app.User(t, "root@example.com", "admin")
	app.User(t, "alice@example.com", "observer")
	app.User(t, "bob@example.com", "blueteam")
	purple := f.group("purple", auth.MissionRead).ID.String()
	alice := f.userID("alice@example.com")
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
	if got := f.groupsOf("alice@example.com"); !slices.Equal(got, []string{"observer", "redteam"}) {
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
	if active, _ := f.state("alice@example.com"); active {
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
	if got := f.permsOf(purple); !slices.Equal(got, []string{"audit.read"}) {
		t.Errorf("purple holds %v, want [audit.read]", got)
	}
	browsertest.Screenshot(t, ctx, "group-page")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
