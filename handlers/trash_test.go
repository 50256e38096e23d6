package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/internal/apptest"
)

// trashFixture is an app with an admin, a red team operator, a user with
// no groups, one deleted item of each kind the trash lists (deleted an
// hour apart, the mission last) and one live item of each kind.
type trashFixture struct {
	t                *testing.T
	app              *apptest.App
	admin, red, none *http.Cookie
	ids              map[string]uuid.UUID // by name
	base             time.Time
}

func newTrashFixture(t *testing.T) *trashFixture {
	t.Helper()
	app := apptest.New(t)
	f := &trashFixture{t: t, app: app, ids: map[string]uuid.UUID{}, base: time.Now().Add(-time.Minute).UTC().Truncate(time.Second)}
	f.admin = app.SignedIn(t, "admin@example.com", "admin")
	f.red = app.SignedIn(t, "red@example.com", "redteam")
	f.none = app.SignedIn(t, "none@example.com")
	f.item("mission", "Lost Mission", f.base.Add(-1*time.Hour))
	f.item("test", "Old Template", f.base.Add(-2*time.Hour))
	f.item("scenario", "Gone Scenario", f.base.Add(-3*time.Hour))
	f.item("user", "Deleted Dora", f.base.Add(-4*time.Hour))
	f.item("mission", "Live Mission", time.Time{})
	f.item("test", "Live Template", time.Time{})
	f.item("scenario", "Live Scenario", time.Time{})
	f.item("user", "Live Lucy", time.Time{})
	return f
}

// item inserts an item of kind named name, deleted at deleted (live when
// zero). A user's email is their first name in lower case at example.com.
func (f *trashFixture) item(kind, name string, deleted time.Time) uuid.UUID {
	f.t.Helper()
	id := uuid.New()
	var at any
	if !deleted.IsZero() {
		at = deleted
	}
	var err error
	switch kind {
	case "mission":
		_, err = f.app.DB.Exec(`INSERT INTO missions (id, name, deleted_at) VALUES ($1, $2, $3)`, id, name, at)
	case "test":
		_, err = f.app.DB.Exec(`INSERT INTO test_templates (id, name, platforms, deleted_at) VALUES ($1, $2, '[]', $3)`, id, name, at)
	case "scenario":
		_, err = f.app.DB.Exec(`INSERT INTO scenario_templates (id, name, deleted_at) VALUES ($1, $2, $3)`, id, name, at)
	case "user":
		email := strings.ToLower(strings.Fields(name)[len(strings.Fields(name))-1]) + "-" + id.String()[:8] + "@example.com"
		_, err = f.app.DB.Exec(`INSERT INTO users (id, email, password_hash, display_name, deleted_at) VALUES ($1, $2, 'x', $3, $4)`,
			id, email, name, at)
	default:
		f.t.Fatalf("unknown kind %q", kind)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	f.ids[name] = id
	return id
}

// deleted reports whether the named item is in the trash, from the
// database.
func (f *trashFixture) deleted(kind, name string) bool {
	f.t.Helper()
	table := map[string]string{"mission": "missions", "test": "test_templates", "scenario": "scenario_templates", "user": "users"}[kind]
	var deleted bool
	if err := f.app.DB.QueryRow(`SELECT deleted_at IS NOT NULL FROM `+table+` WHERE id = $1`, f.ids[name]).Scan(&deleted); err != nil {
		f.t.Fatal(err)
	}
	return deleted
}

// trashRows returns the rows of a trash page as "kind:name" in order.
func trashRows(d *goquery.Document) []string {
	var rows []string
	d.Find(`[data-testid="trash-row"]`).Each(func(_ int, s *goquery.Selection) {
		name := strings.TrimSpace(s.Find(`[data-testid="trash-row-name"] a`).Text())
		if name == "" {
			name = strings.TrimSpace(s.Find(`[data-testid="trash-row-name"]`).Text())
		}
		rows = append(rows, s.AttrOr("data-type", "")+":"+name)
	})
	return rows
}

// trashCounts returns the counts per kind as "mission=1 test=0 …".
func trashCounts(d *goquery.Document) string {
	var out []string
	d.Find(`[data-testid="trash-count"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("data-type", "")+"="+s.AttrOr("data-count", ""))
	})
	return strings.Join(out, " ")
}

// TestListTrash: the trash lists the deleted items of every kind, newest
// deletion first, never a live one; the type filter and the search narrow
// it (the counts follow the search); htmx gets only the results; only
// trash.manage opens it.
func TestListTrash(t *testing.T) {
	t.Parallel()
	f := newTrashFixture(t)
	all := []string{"mission:Lost Mission", "test:Old Template", "scenario:Gone Scenario", "user:Deleted Dora"}
	tests := []struct {
		name   string
		cookie *http.Cookie
		query  string
		hx     bool
		status int
		rows   []string
		counts string
	}{
		{"every kind, newest deletion first", f.admin, "", false, 200, all, "mission=1 test=1 scenario=1 user=1"},
		{"type filter", f.admin, "?type=test", false, 200, []string{"test:Old Template"}, "mission=1 test=1 scenario=1 user=1"},
		{"type filter: users", f.admin, "?type=user", false, 200, []string{"user:Deleted Dora"}, "mission=1 test=1 scenario=1 user=1"},
		{"unknown type ignored", f.admin, "?type=group", false, 200, all, "mission=1 test=1 scenario=1 user=1"},
		{"search by name, any case", f.admin, "?q=GONE", false, 200, []string{"scenario:Gone Scenario"}, "mission=0 test=0 scenario=1 user=0"},
		{"search a user by email", f.admin, "?q=dora-", false, 200, []string{"user:Deleted Dora"}, "mission=0 test=0 scenario=0 user=1"},
		{"search and type", f.admin, "?q=o&type=mission", false, 200, []string{"mission:Lost Mission"}, "mission=1 test=1 scenario=1 user=1"},
		{"search matching a live item only", f.admin, "?q=live", false, 200, nil, "mission=0 test=0 scenario=0 user=0"},
		{"a wildcard is searched literally", f.admin, "?q=" + url.QueryEscape("%"), false, 200, nil, "mission=0 test=0 scenario=0 user=0"},
		{"page beyond the last shows the last", f.admin, "?page=9", false, 200, all, "mission=1 test=1 scenario=1 user=1"},
		{"htmx search gets the results", f.admin, "?q=lost", true, 200, []string{"mission:Lost Mission"}, "mission=1 test=0 scenario=0 user=0"},
		{"red team forbidden", f.red, "", false, 403, nil, ""},
		{"no groups forbidden", f.none, "", false, 403, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.hx {
				header = hxRequest
			}
			w := f.app.GetAs(tc.cookie, "/admin/trash"+tc.query, header...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status != 200 {
				if strings.Contains(w.Body.String(), "Lost Mission") {
					t.Error("a refused viewer sees the trash")
				}
				return
			}
			d := doc(t, w)
			if got := trashRows(d); strings.Join(got, "|") != strings.Join(tc.rows, "|") {
				t.Errorf("rows %q, want %q", got, tc.rows)
			}
			if got := trashCounts(d); got != tc.counts {
				t.Errorf("counts %q, want %q", got, tc.counts)
			}
			if len(tc.rows) == 0 && d.Find(`[data-testid="trash-empty"]`).Length() != 1 {
				t.Error("no empty state")
			}
			if partial := d.Find(`[data-testid="trash-filters"]`).Length() == 0; partial != tc.hx {
				t.Errorf("partial %v, want %v", partial, tc.hx)
			}
			if !tc.hx && d.Find(`[data-testid="admin-tabs"] a[href="/admin/trash"][aria-current="page"]`).Length() != 1 {
				t.Error("the admin tabs do not mark the trash")
			}
		})
	}

	t.Run("each row restores through its kind's route", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.admin, "/admin/trash"))
		want := map[string]string{
			"mission":  "/missions/" + f.ids["Lost Mission"].String() + "/restore",
			"test":     "/library/tests/" + f.ids["Old Template"].String() + "/restore",
			"scenario": "/library/scenarios/" + f.ids["Gone Scenario"].String() + "/restore",
			"user":     "/admin/users/" + f.ids["Deleted Dora"].String() + "/restore",
		}
		for kind, action := range want {
			form := d.Find(`[data-testid="trash-row"][data-type="` + kind + `"] form`)
			if form.AttrOr("action", "") != action || form.AttrOr("method", "") != "post" {
				t.Errorf("%s: form %s %q, want post %q", kind, form.AttrOr("method", ""), form.AttrOr("action", ""), action)
			}
		}
		if got := d.Find(`[data-testid="trash-row-deleted"]`).First().AttrOr("datetime", ""); got != f.base.Add(-time.Hour).Format(time.RFC3339) {
			t.Errorf("deleted time %q, want %q", got, f.base.Add(-time.Hour).Format(time.RFC3339))
		}
	})

	t.Run("only trash.manage gets the trash tab", func(t *testing.T) {
		w := f.app.GetAs(f.admin, "/admin/users")
		if doc(t, w).Find(`[data-testid="admin-tabs"] a[href="/admin/trash"]`).Length() != 1 {
			t.Error("the admin has no trash tab")
		}
		w = f.app.GetAs(f.red, "/")
		if strings.Contains(w.Body.String(), `href="/admin/trash"`) {
			t.Error("the red team is shown the trash")
		}
	})
}

// TestTrashRestore: the Restore button of each row posts to the kind's
// restore route, which brings the item back (in the database) and takes it
// off the trash; once everything is restored the trash says it is empty.
func TestTrashRestore(t *testing.T) {
	t.Parallel()
	f := newTrashFixture(t)
	tests := []struct{ kind, name string }{
		{"test", "Old Template"},
		{"scenario", "Gone Scenario"},
		{"mission", "Lost Mission"},
		{"user", "Deleted Dora"},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			d := doc(t, f.app.GetAs(f.admin, "/admin/trash"))
			action := d.Find(`[data-testid="trash-row"][data-id="`+f.ids[tc.name].String()+`"] form`).AttrOr("action", "")
			if action == "" {
				t.Fatalf("%s is not in the trash", tc.name)
			}
			if w := f.app.PostAs(f.red, action, url.Values{}); w.Code != http.StatusForbidden || !f.deleted(tc.kind, tc.name) {
				t.Errorf("red team restore: %d, deleted %v", w.Code, f.deleted(tc.kind, tc.name))
			}
			w := f.app.PostAs(f.admin, action, url.Values{})
			if w.Code != http.StatusSeeOther {
				t.Fatalf("restore: %d\n%s", w.Code, w.Body)
			}
			if f.deleted(tc.kind, tc.name) {
				t.Error("still deleted in the database")
			}
			d = doc(t, f.app.GetAs(f.admin, "/admin/trash"))
			if d.Find(`[data-testid="trash-row"][data-id="`+f.ids[tc.name].String()+`"]`).Length() != 0 {
				t.Error("still in the trash")
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.admin, "/admin/trash"))
		if d.Find(`[data-testid="trash-row"]`).Length() != 0 || d.Find(`[data-testid="trash-empty"]`).Length() != 1 {
			t.Errorf("rows %q, want the empty state", trashRows(d))
		}
		if got := trashCounts(d); got != "mission=0 test=0 scenario=0 user=0" {
			t.Errorf("counts %q", got)
		}
	})
}

// TestTrashQueryCount: the trash sends as many SQL statements for 64
// deleted items as for 4, page and htmx partial alike, and pages them by
// 50.
func TestTrashQueryCount(t *testing.T) {
	t.Parallel()
	f := newTrashFixture(t)
	srv, n := countingServer(t, f.app)
	probes := []struct {
		path string
		hx   bool
	}{{"/admin/trash", false}, {"/admin/trash?type=test", false}, {"/admin/trash?q=e&page=2", true}}
	count := func(path string, hx bool) (int64, *goquery.Document) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.AddCookie(f.admin)
		if hx {
			r.Header.Set("HX-Request", "true")
		}
		w := httptest.NewRecorder()
		before := n.Count()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
		return n.Count() - before, doc(t, w)
	}
	small := make([]int64, len(probes))
	for i, p := range probes {
		small[i], _ = count(p.path, p.hx)
	}
	kinds := []string{"mission", "test", "scenario", "user"}
	for i := range 60 {
		f.item(kinds[i%4], fmt.Sprintf("Seeded %02d", i), f.base.Add(-time.Duration(i+5)*time.Hour))
	}
	for i, p := range probes {
		big, d := count(p.path, p.hx)
		if big != small[i] {
			t.Errorf("%s: %d statements with 64 deleted items, %d with 4", p.path, big, small[i])
		}
		if i == 0 {
			if rows := d.Find(`[data-testid="trash-row"]`).Length(); rows != 50 {
				t.Errorf("first page: %d rows, want 50", rows)
			}
			if d.Find(`[data-testid="trash-pager"] a[rel="next"]`).AttrOr("href", "") != "/admin/trash?page=2" {
				t.Error("no link to the next page")
			}
		}
	}
	_, d := count("/admin/trash?page=2", false)
	if got := trashRows(d); len(got) != 14 || got[len(got)-1] != "user:Seeded 59" {
		t.Errorf("second page: %d rows ending %q, want 14 ending with the oldest", len(got), got)
	}
}

// TestTrashNarrowed: a viewer holding trash.manage without user.manage nor
// mission.read_all sees in the trash only what its restore routes let them
// restore: no users, and only the deleted missions they are a member of —
// which they can restore from the page.
func TestTrashNarrowed(t *testing.T) {
	t.Parallel()
	f := newTrashFixture(t)
	if _, err := f.app.DB.Exec(`INSERT INTO groups (name) VALUES ('janitors')`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.DB.Exec(`INSERT INTO group_permissions (group_id, permission_id)
		SELECT g.id, p.id FROM groups g, permissions p
		WHERE g.name = 'janitors' AND p.code IN ('trash.manage', 'mission.read', 'template.read')`); err != nil {
		t.Fatal(err)
	}
	jan := f.app.User(t, "jan@example.com", "janitors")
	cookie := f.app.Login(t, "jan@example.com", apptest.Password)
	team := f.item("mission", "Team Mission", f.base.Add(-30*time.Minute))
	if _, err := f.app.DB.Exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'lead')`, team, jan.ID); err != nil {
		t.Fatal(err)
	}
	mine := []string{"mission:Team Mission", "test:Old Template", "scenario:Gone Scenario"}
	tests := []struct {
		name   string
		query  string
		rows   []string
		counts string
	}{
		{"own missions, no users", "", mine, "mission=1 test=1 scenario=1"},
		{"the user type is not offered", "?type=user", mine, "mission=1 test=1 scenario=1"},
		{"nor found by a search", "?q=dora", nil, "mission=0 test=0 scenario=0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.app.GetAs(cookie, "/admin/trash"+tc.query)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			d := doc(t, w)
			if got := trashRows(d); strings.Join(got, "|") != strings.Join(tc.rows, "|") {
				t.Errorf("rows %q, want %q", got, tc.rows)
			}
			if got := trashCounts(d); got != tc.counts {
				t.Errorf("counts %q, want %q", got, tc.counts)
			}
			if d.Find(`#trash-type option[value="user"]`).Length() != 0 {
				t.Error("the type filter offers users")
			}
		})
	}
	t.Run("restores their mission from the page", func(t *testing.T) {
		d := doc(t, f.app.GetAs(cookie, "/admin/trash"))
		action := d.Find(`[data-testid="trash-row"][data-id="`+team.String()+`"] form`).AttrOr("action", "")
		if w := f.app.PostAs(cookie, action, url.Values{}); w.Code != http.StatusSeeOther {
			t.Fatalf("restore %q: %d", action, w.Code)
		}
		if f.deleted("mission", "Team Mission") {
			t.Error("still deleted in the database")
		}
	})
}
