package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/testkit/apptest"
	"violet/views/admin"
)

// permsOf returns the permission codes of the group with id groupID,
// sorted.
func permsOf(t testing.TB, app *apptest.App, groupID string) []string {
	t.Helper()
	rows, err := app.DB.Query(`SELECT p.code FROM group_permissions gp JOIN permissions p ON p.id = gp.permission_id
		WHERE gp.group_id = $1 ORDER BY p.code`, groupID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// groupState returns a group's name and description and whether it is
// deleted.
func groupState(t testing.TB, app *apptest.App, id string) (name, description string, deleted bool) {
	t.Helper()
	if err := app.DB.QueryRow(`SELECT name, description, deleted_at IS NOT NULL FROM groups WHERE id = $1`, id).
		Scan(&name, &description, &deleted); err != nil {
		t.Fatalf("group %s: %v", id, err)
	}
	return name, description, deleted
}

func allCodes() []string {
	var out []string
	for _, p := range auth.Permissions() {
		out = append(out, string(p.Code))
	}
	slices.Sort(out)
	return out
}

func TestListGroups(t *testing.T) {
	t.Parallel()
	f := apptest.NewWorldOf(t, nil)
	app := f.App
	root := app.SignedIn(t, "root@example.com", "admin")
	app.User(t, "a@example.com", "redteam")
	app.User(t, "b@example.com", "redteam", "observer")
	app.User(t, "gone@example.com", "redteam")
	if _, err := app.DB.Exec(`UPDATE users SET deleted_at = now() WHERE email = 'gone@example.com'`); err != nil {
		t.Fatal(err)
	}
	f.Group(t, "auditors", auth.AuditRead, auth.UserRead)
	old := f.Group(t, "old", auth.AuditRead)
	if _, err := app.DB.Exec(`UPDATE groups SET deleted_at = now() WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}

	w := app.GetAs(root, "/admin/groups")
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	d := doc(t, w)
	type row struct {
		members, perms string
		system         bool
	}
	got := map[string]row{}
	d.Find(`[data-testid="group-row"]`).Each(func(_ int, s *goquery.Selection) {
		got[s.AttrOr("data-name", "")] = row{
			strings.TrimSpace(s.Find(`[data-testid="group-members"]`).Text()),
			strings.TrimSpace(s.Find(`[data-testid="group-permissions"]`).Text()),
			s.Find(`[data-testid="group-system"]`).Length() == 1,
		}
	})
	want := map[string]row{
		"admin":    {"1", fmt.Sprint(len(auth.Permissions())), true},
		"redteam":  {"2", "7", true},
		"blueteam": {"0", "5", true},
		"observer": {"1", "3", true},
		"auditors": {"0", "2", false},
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got[name], w)
		}
	}
	if _, ok := got["old"]; ok || len(got) != len(want) {
		t.Errorf("rows %v: the deleted group is listed or one is missing", got)
	}
	if href, _ := d.Find(`[data-testid="group-row"][data-name="auditors"] a`).Attr("href"); href != "/admin/groups/"+groupID(t, f.App, "auditors") {
		t.Errorf("link %q", href)
	}
}

func TestCreateGroup(t *testing.T) {
	t.Parallel()
	f := apptest.NewWorldOf(t, nil)
	app := f.App
	root := app.SignedIn(t, "root@example.com", "admin")
	gone := f.Group(t, "reused", auth.AuditRead)
	if _, err := app.DB.Exec(`UPDATE groups SET deleted_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	if w := app.GetAs(root, "/admin/groups/new"); w.Code != 200 || doc(t, w).Find(`[data-testid="group-form"]`).Length() != 1 {
		t.Fatalf("new group page: %d", w.Code)
	}
	cases := []struct {
		name, groupName, description string
		status                       int
		field                        string // the field with an error
		stored                       string // the name stored, "" for none
	}{
		{"valid", "  purple  ", "Both sides", 303, "", "purple"},
		{"a deleted group's name is free", "reused", "", 303, "", "reused"},
		{"name required", "   ", "kept description", 422, "name", ""},
		{"duplicate name", "redteam", "", 422, "name", ""},
		{"duplicate ignoring case", "RedTeam", "", 422, "name", ""},
		{"name too long", strings.Repeat("n", 101), "", 422, "name", ""},
		{"description too long", "verbose", strings.Repeat("d", 501), 422, "description", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Count(t, "audit_events WHERE action LIKE $1 || '%'", "group.created")
			w := app.PostAs(root, "/admin/groups", url.Values{
				"name": {tc.groupName}, "description": {tc.description}, "is_system": {"true"},
			})
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			if tc.status == 303 {
				var id string
				var system bool
				if err := app.DB.QueryRow(`SELECT id, is_system FROM groups WHERE name = $1 AND deleted_at IS NULL`, tc.stored).
					Scan(&id, &system); err != nil {
					t.Fatalf("group not stored: %v", err)
				}
				if system {
					t.Error("is_system was taken from the form")
				}
				if loc := w.Header().Get("Location"); loc != "/admin/groups/"+id {
					t.Errorf("redirect to %q", loc)
				}
				if events := auditDetails(t, f.App, "group.created", id); len(events) != 1 {
					t.Errorf("%d group.created events", len(events))
				}
				if perms := permsOf(t, f.App, id); len(perms) != 0 {
					t.Errorf("a new group holds %v", perms)
				}
				return
			}
			d := doc(t, w)
			if testid(d, "error-"+tc.field) == "" || testid(d, "error-summary") == "" {
				t.Errorf("no error next to %s or no summary", tc.field)
			}
			if v, _ := d.Find(`input[name="description"]`).Attr("value"); v != strings.TrimSpace(tc.description) {
				t.Errorf("description not kept: %q", v)
			}
			if f.Count(t, "audit_events WHERE action LIKE $1 || '%'", "group.created") != before {
				t.Error("a refused group was audited")
			}
		})
	}
	var n int
	if err := app.DB.QueryRow(`SELECT count(*) FROM groups WHERE deleted_at IS NULL`).Scan(&n); err != nil || n != 6 {
		t.Errorf("%d groups, want the 4 system ones + 2 (%v)", n, err)
	}
}

func TestUpdateGroup(t *testing.T) {
	t.Parallel()
	f := apptest.NewWorldOf(t, nil)
	app := f.App
	root := app.SignedIn(t, "root@example.com", "admin")
	custom := f.Group(t, "purple", auth.AuditRead).String()
	red := groupID(t, f.App, "redteam")
	cases := []struct {
		name              string
		id                string
		form              url.Values
		status            int
		field             string
		wantName, wantDsc string
		audited           bool
	}{
		{"rename a custom group", custom, url.Values{"name": {"violet"}, "description": {"new"}}, 303, "", "violet", "new", true},
		{"same values change nothing", custom, url.Values{"name": {"violet"}, "description": {"new"}}, 303, "", "violet", "new", false},
		{"duplicate name", custom, url.Values{"name": {"Observer"}, "description": {"x"}}, 422, "name", "violet", "new", false},
		{"empty name", custom, url.Values{"name": {""}}, 422, "name", "violet", "new", false},
		{"a system group cannot be renamed", red, url.Values{"name": {"redders"}, "description": {"x"}}, 422, "name",
			"redteam", "Red-team operators: plan missions, run tests, keep the library", false},
		{"a system group's description can change", red, url.Values{"name": {"redteam"}, "description": {"Attackers"}}, 303, "",
			"redteam", "Attackers", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(auditDetails(t, f.App, "group.updated", tc.id))
			w := app.PostAs(root, "/admin/groups/"+tc.id, tc.form)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			if tc.field != "" && testid(doc(t, w), "error-"+tc.field) == "" {
				t.Errorf("no error next to %s", tc.field)
			}
			name, dsc, _ := groupState(t, f.App, tc.id)
			if name != tc.wantName || dsc != tc.wantDsc {
				t.Errorf("stored %q %q, want %q %q", name, dsc, tc.wantName, tc.wantDsc)
			}
			if got := len(auditDetails(t, f.App, "group.updated", tc.id)) - before; got != map[bool]int{true: 1, false: 0}[tc.audited] {
				t.Errorf("%d new group.updated events", got)
			}
		})
	}
	t.Run("the system group's name field is read-only", func(t *testing.T) {
		d := doc(t, app.GetAs(root, "/admin/groups/"+red))
		if _, ok := d.Find(`input[name="name"]`).Attr("readonly"); !ok {
			t.Error("name field is editable")
		}
		if d.Find(`[data-testid="group-delete"]`).Length() != 0 {
			t.Error("a system group offers deletion")
		}
	})
	t.Run("a missing group", func(t *testing.T) {
		if w := app.PostAs(root, "/admin/groups/"+uuid.NewString(), url.Values{"name": {"x"}}); w.Code != 404 {
			t.Errorf("status %d", w.Code)
		}
	})
}

func TestDeleteGroup(t *testing.T) {
	t.Parallel()
	f := apptest.NewWorldOf(t, nil)
	app := f.App
	root := app.SignedIn(t, "root@example.com", "admin")
	desk := f.Group(t, "helpdesk", auth.UserRead)
	member := app.SignedIn(t, "desk@example.com", "helpdesk")
	id := desk.String()
	if w := app.GetAs(member, "/admin/users"); w.Code != 200 {
		t.Fatalf("before: member reads users: %d", w.Code)
	}

	w := app.PostAs(root, "/admin/groups/"+id+"/delete", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/groups" {
		t.Fatalf("delete: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if _, _, deleted := groupState(t, f.App, id); !deleted {
		t.Fatal("not deleted")
	}
	if len(auditDetails(t, f.App, "group.deleted", id)) != 1 {
		t.Error("no group.deleted event")
	}
	if w := app.GetAs(member, "/admin/users"); w.Code != 403 {
		t.Errorf("after: member still reads users: %d", w.Code)
	}
	if w := app.GetAs(root, "/admin/groups/"+id); w.Code != 404 {
		t.Errorf("deleted group page: %d", w.Code)
	}
	if w := app.PostAs(root, "/admin/groups/"+id+"/delete", nil); w.Code != 404 {
		t.Errorf("deleting again: %d", w.Code)
	}

	for _, system := range []string{"admin", "redteam", "blueteam", "observer"} {
		t.Run("system group "+system, func(t *testing.T) {
			gid := groupID(t, f.App, system)
			if w := app.PostAs(root, "/admin/groups/"+gid+"/delete", nil); w.Code != 403 {
				t.Errorf("status %d, want 403", w.Code)
			}
			if _, _, deleted := groupState(t, f.App, gid); deleted || len(auditDetails(t, f.App, "group.deleted", gid)) != 0 {
				t.Error("a system group was deleted")
			}
		})
	}
}

func TestToggleGroupPermission(t *testing.T) {
	t.Parallel()
	f := apptest.NewWorldOf(t, nil)
	app := f.App
	root := app.SignedIn(t, "root@example.com", "admin")
	// A group manager outside the admin group holds only these.
	f.Group(t, "groupmanagers", auth.GroupManage, auth.UserRead, auth.AuditRead)
	manager := app.SignedIn(t, "gm@example.com", "groupmanagers")
	purple := f.Group(t, "purple", auth.MissionRead).String()
	adminID := groupID(t, f.App, "admin")

	post := func(cookie *http.Cookie, gid, code string, on, partial bool) (int, string) {
		form := url.Values{}
		if on {
			form.Set("permissions", code)
		}
		var header []string
		if partial {
			header = hxRequest
		}
		w := app.PostAs(cookie, "/admin/groups/"+gid+"/permissions/"+code, form, header...)
		return w.Code, w.Body.String()
	}
	cases := []struct {
		name    string
		cookie  *http.Cookie
		group   string
		code    string
		on      bool
		partial bool
		status  int
		note    string // perm-saved or perm-failed in the swapped row
		want    []string
		action  string // the audit event expected, "" for none
	}{
		{"add", root, purple, "audit.read", true, true, 200, "perm-saved",
			[]string{"audit.read", "mission.read"}, "group.permission_added"},
		{"add again changes nothing", root, purple, "audit.read", true, true, 200, "perm-saved",
			[]string{"audit.read", "mission.read"}, ""},
		{"remove", root, purple, "mission.read", false, true, 200, "perm-saved",
			[]string{"audit.read"}, "group.permission_removed"},
		{"without htmx it redirects", root, purple, "template.read", true, false, 303, "",
			[]string{"audit.read", "template.read"}, "group.permission_added"},
		{"the admin group keeps every permission", root, adminID, "user.manage", false, true, 422, "perm-failed",
			allCodes(), ""},
		{"a manager gives what they hold", manager, purple, "user.read", true, true, 200, "perm-saved",
			[]string{"audit.read", "template.read", "user.read"}, "group.permission_added"},
		{"a manager cannot give what they lack", manager, purple, "user.manage", true, true, 403, "",
			[]string{"audit.read", "template.read", "user.read"}, ""},
		{"a manager cannot take what they lack either", manager, purple, "template.read", false, true, 403, "",
			[]string{"audit.read", "template.read", "user.read"}, ""},
		{"an unknown code", root, purple, "nuclear.launch", true, true, 404, "",
			[]string{"audit.read", "template.read", "user.read"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Count(t, "audit_events WHERE action LIKE $1 || '%'", "group.permission_")
			status, body := post(tc.cookie, tc.group, tc.code, tc.on, tc.partial)
			if status != tc.status {
				t.Fatalf("status %d, want %d\n%s", status, tc.status, body)
			}
			if got := permsOf(t, f.App, tc.group); !slices.Equal(got, tc.want) {
				t.Errorf("permissions %v, want %v", got, tc.want)
			}
			after := f.Count(t, "audit_events WHERE action LIKE $1 || '%'", "group.permission_")
			switch {
			case tc.action == "" && after != before:
				t.Errorf("%d audit events for no change", after-before)
			case tc.action != "":
				events := auditDetails(t, f.App, tc.action, tc.group)
				if after != before+1 || len(events) == 0 || events[len(events)-1]["permission"] != tc.code {
					t.Errorf("audit: %d new events, last %v", after-before, events)
				}
			}
			if tc.note == "" {
				return
			}
			if !isFragment(body) {
				t.Fatal("htmx got a whole page")
			}
			d, err := goquery.NewDocumentFromReader(strings.NewReader("<table>" + body + "</table>"))
			if err != nil {
				t.Fatal(err)
			}
			row := d.Find(`tr[data-testid="perm-row-` + tc.code + `"]`)
			if row.Length() != 1 || row.Find(`[data-testid="`+tc.note+`"]`).Length() != 1 {
				t.Errorf("the answer is not the row with %s:\n%s", tc.note, body)
			}
			if granted := row.AttrOr("data-granted", ""); granted != fmt.Sprint(slices.Contains(tc.want, tc.code)) {
				t.Errorf("row says granted=%s", granted)
			}
		})
	}
}

func TestSaveGroupPermissions(t *testing.T) {
	t.Parallel()
	f := apptest.NewWorldOf(t, nil)
	app := f.App
	root := app.SignedIn(t, "root@example.com", "admin")
	purple := f.Group(t, "purple", auth.MissionRead, auth.AttackRead).String()
	adminID := groupID(t, f.App, "admin")
	cases := []struct {
		name    string
		group   string
		codes   []string
		status  int
		want    []string
		added   int
		removed int
	}{
		{"set exactly the ticked ones", purple, []string{"attack.read", "audit.read", "template.read"}, 303,
			[]string{"attack.read", "audit.read", "template.read"}, 2, 1},
		{"untick all", purple, nil, 303, nil, 0, 3},
		{"an unknown code is a bad request", purple, []string{"audit.read", "nuclear.launch"}, 400, nil, 0, 0},
		{"the admin group keeps everything", adminID, []string{"audit.read"}, 422, allCodes(), 0, 0},
		{"the admin group with everything is fine", adminID, allCodes(), 303, allCodes(), 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addedBefore, removedBefore := len(auditDetails(t, f.App, "group.permission_added", tc.group)), len(auditDetails(t, f.App, "group.permission_removed", tc.group))
			w := app.PostAs(root, "/admin/groups/"+tc.group+"/permissions", url.Values{"permissions": tc.codes})
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			if got := permsOf(t, f.App, tc.group); !slices.Equal(got, tc.want) {
				t.Errorf("permissions %v, want %v", got, tc.want)
			}
			if a := len(auditDetails(t, f.App, "group.permission_added", tc.group)) - addedBefore; a != tc.added {
				t.Errorf("%d added events, want %d", a, tc.added)
			}
			if r := len(auditDetails(t, f.App, "group.permission_removed", tc.group)) - removedBefore; r != tc.removed {
				t.Errorf("%d removed events, want %d", r, tc.removed)
			}
			if tc.status == 422 && testid(doc(t, w), "group-matrix-error") == "" {
				t.Error("no error on the matrix")
			}
		})
	}
}

func TestGroupPage(t *testing.T) {
	t.Parallel()
	f := apptest.NewWorldOf(t, nil)
	app := f.App
	root := app.SignedIn(t, "root@example.com", "admin")
	app.User(t, "b@example.com", "redteam")
	app.User(t, "a@example.com", "redteam")
	app.User(t, "gone@example.com", "redteam")
	if _, err := app.DB.Exec(`UPDATE users SET deleted_at = now() WHERE email = 'gone@example.com'`); err != nil {
		t.Fatal(err)
	}
	red := groupID(t, f.App, "redteam")
	d := doc(t, app.GetAs(root, "/admin/groups/"+red))
	var members []string
	d.Find(`[data-testid="group-member"]`).Each(func(_ int, s *goquery.Selection) {
		members = append(members, s.AttrOr("data-email", ""))
		if href, _ := s.Find("a").Attr("href"); !strings.HasPrefix(href, "/admin/users/") {
			t.Errorf("member link %q", href)
		}
	})
	if !slices.Equal(members, []string{"a@example.com", "b@example.com"}) {
		t.Errorf("members %v", members)
	}
	if n := d.Find(`tr[data-testid^="perm-row-"]`).Length(); n != len(auth.Permissions()) {
		t.Errorf("%d matrix rows, want one per permission (%d)", n, len(auth.Permissions()))
	}
	var granted []string
	d.Find(`input[name="permissions"][checked]`).Each(func(_ int, s *goquery.Selection) {
		granted = append(granted, s.AttrOr("value", ""))
	})
	slices.Sort(granted)
	if !slices.Equal(granted, permsOf(t, f.App, red)) {
		t.Errorf("ticked %v, want %v", granted, permsOf(t, f.App, red))
	}
	if hx, _ := d.Find(`tr[data-testid="perm-row-audit.read"] input`).Attr("hx-post"); hx != "/admin/groups/"+red+"/permissions/audit.read" {
		t.Errorf("hx-post %q", hx)
	}
	t.Run("the admin group's boxes are all ticked and disabled", func(t *testing.T) {
		d := doc(t, app.GetAs(root, "/admin/groups/"+groupID(t, f.App, "admin")))
		if n := d.Find(`input[name="permissions"][checked][disabled]`).Length(); n != len(auth.Permissions()) {
			t.Errorf("%d ticked and disabled", n)
		}
		if d.Find(`[data-testid="group-permissions-submit"]`).Length() != 0 {
			t.Error("save all offered on the admin group")
		}
	})
	t.Run("in French", func(t *testing.T) {
		if _, err := app.DB.Exec(`UPDATE users SET locale = 'fr' WHERE email = 'root@example.com'`); err != nil {
			t.Fatal(err)
		}
		defer app.DB.Exec(`UPDATE users SET locale = 'en' WHERE email = 'root@example.com'`) //nolint:errcheck
		for _, path := range []string{"/admin/groups", "/admin/groups/new", "/admin/groups/" + red} {
			body := app.GetAs(root, path).Body.String()
			if !strings.Contains(body, "Groupe") || strings.Contains(body, "admin.groups.") || strings.Contains(body, "admin.permissions.") {
				t.Errorf("%s: not in French or shows a message id", path)
			}
		}
	})
}

// TestPermissionsHaveDescriptions fails when a permission code is added
// without its description in every language.
func TestPermissionsHaveDescriptions(t *testing.T) {
	t.Parallel()
	for _, lang := range i18n.Supported() {
		keys, err := i18n.Keys(lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range auth.Permissions() {
			if !keys[admin.PermissionKey(string(p.Code))] {
				t.Errorf("%s: no %s for %s", lang, admin.PermissionKey(string(p.Code)), p.Code)
			}
		}
	}
}

// TestGroupChangesNeedGroupManage: viewers without group.manage get 403 on
// every group route, and nothing changes.
func TestGroupChangesNeedGroupManage(t *testing.T) {
	t.Parallel()
	f := apptest.NewWorldOf(t, nil)
	app := f.App
	f.Group(t, "usermanagers", auth.UserRead, auth.UserManage)
	viewers := map[string]*http.Cookie{
		"redteam":     app.SignedIn(t, "red@example.com", "redteam"),
		"observer":    app.SignedIn(t, "obs@example.com", "observer"),
		"user.manage": app.SignedIn(t, "um@example.com", "usermanagers"),
		"blueteam":    app.SignedIn(t, "blue@example.com", "blueteam"),
	}
	purple := f.Group(t, "purple", auth.MissionRead).String()
	red := groupID(t, f.App, "redteam")
	gets := []string{"/admin/groups", "/admin/groups/new", "/admin/groups/" + purple}
	posts := []struct {
		path string
		form url.Values
	}{
		{"/admin/groups", url.Values{"name": {"sneaky"}}},
		{"/admin/groups/" + purple, url.Values{"name": {"renamed"}}},
		{"/admin/groups/" + purple + "/delete", nil},
		{"/admin/groups/" + purple + "/permissions", url.Values{"permissions": {"user.manage"}}},
		{"/admin/groups/" + red + "/permissions/user.manage", url.Values{"permissions": {"user.manage"}}},
	}
	for name, cookie := range viewers {
		for _, path := range gets {
			t.Run(name+" GET "+path, func(t *testing.T) {
				if w := app.GetAs(cookie, path); w.Code != 403 {
					t.Errorf("status %d, want 403", w.Code)
				}
			})
		}
		for _, p := range posts {
			t.Run(name+" POST "+p.path, func(t *testing.T) {
				for _, header := range [][]string{nil, hxRequest} {
					if w := app.PostAs(cookie, p.path, p.form, header...); w.Code != 403 {
						t.Errorf("status %d, want 403", w.Code)
					}
				}
			})
		}
	}
	if name, _, deleted := groupState(t, f.App, purple); name != "purple" || deleted {
		t.Error("the group was changed")
	}
	if got := permsOf(t, f.App, purple); !slices.Equal(got, []string{"mission.read"}) {
		t.Errorf("purple holds %v", got)
	}
	if slices.Contains(permsOf(t, f.App, red), "user.manage") {
		t.Error("redteam got user.manage")
	}
	var n int
	if err := app.DB.QueryRow(`SELECT count(*) FROM groups WHERE name = 'sneaky'`).Scan(&n); err != nil || n != 0 {
		t.Error("a group was created")
	}
	if n := f.Count(t, "audit_events WHERE action LIKE $1 || '%'", "group."); n != 0 {
		t.Errorf("%d group.* audit events", n)
	}
}
