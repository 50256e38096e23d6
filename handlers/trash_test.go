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

	"violet/internal/auth"
	"violet/internal/testkit/apptest"
)

// trashTables are the tables of the kinds the trash lists.
var trashTables = map[string]string{"mission": "missions", "test": "test_templates", "scenario": "scenario_templates",
	"tool": "defensive_tools", "user": "users"}

// trashItem inserts an item of kind named name, deleted at deleted (live
// when zero). A user's email is their last name in lower case, a dash and
// the start of their id, at example.com.
func trashItem(t testing.TB, w *apptest.World, kind, name string, deleted time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	var at any
	if !deleted.IsZero() {
		at = deleted
	}
	switch kind {
	case "mission":
		w.Exec(t, `INSERT INTO missions (id, name, deleted_at) VALUES ($1, $2, $3)`, id, name, at)
	case "test":
		w.Exec(t, `INSERT INTO test_templates (id, name, platforms, deleted_at) VALUES ($1, $2, '[]', $3)`, id, name, at)
	case "scenario":
		w.Exec(t, `INSERT INTO scenario_templates (id, name, deleted_at) VALUES ($1, $2, $3)`, id, name, at)
	case "tool":
		w.Exec(t, `INSERT INTO defensive_tools (id, name, deleted_at) VALUES ($1, $2, $3)`, id, name, at)
	case "user":
		email := strings.ToLower(strings.Fields(name)[len(strings.Fields(name))-1]) + "-" + id.String()[:8] + "@example.com"
		w.Exec(t, `INSERT INTO users (id, email, password_hash, display_name, deleted_at) VALUES ($1, $2, 'x', $3, $4)`,
			id, email, name, at)
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	return id
}

// seedTrash puts in the world one deleted item of each kind the trash
// lists (deleted an hour apart, the mission last, the base minus an hour)
// and one live item of each kind; it returns their ids by name and the
// base.
func seedTrash(t testing.TB, w *apptest.World) (map[string]uuid.UUID, time.Time) {
	t.Helper()
	base := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	ids := map[string]uuid.UUID{}
	for _, it := range []struct {
		kind, name string
		ago        time.Duration
	}{
		{"mission", "Lost Mission", 1}, {"test", "Old Template", 2}, {"scenario", "Gone Scenario", 3}, {"user", "Deleted Dora", 4},
		{"tool", "Retired Tool", 5},
		{"mission", "Live Mission", 0}, {"test", "Live Template", 0}, {"scenario", "Live Scenario", 0}, {"user", "Live Lucy", 0},
		{"tool", "Live Tool", 0},
	} {
		var at time.Time
		if it.ago > 0 {
			at = base.Add(-it.ago * time.Hour)
		}
		ids[it.name] = trashItem(t, w, it.kind, it.name, at)
	}
	return ids, base
}

// trashLive is the Rows key counting the item of kind with id when it is
// out of the trash.
func trashLive(kind string, id uuid.UUID) string {
	return trashTables[kind] + " WHERE id = '" + id.String() + "' AND deleted_at IS NULL"
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
	w := apptest.NewWorld(t)
	ids, base := seedTrash(t, w)
	all := []string{"mission:Lost Mission", "test:Old Template", "scenario:Gone Scenario", "user:Deleted Dora", "tool:Retired Tool"}
	tests := []struct {
		name   string
		as     string
		query  string
		hx     bool
		status int
		rows   []string
		counts string
	}{
		{"every kind, newest deletion first", "admin", "", false, 200, all, "mission=1 test=1 scenario=1 tool=1 user=1"},
		{"type filter", "admin", "?type=test", false, 200, []string{"test:Old Template"}, "mission=1 test=1 scenario=1 tool=1 user=1"},
		{"type filter: users", "admin", "?type=user", false, 200, []string{"user:Deleted Dora"}, "mission=1 test=1 scenario=1 tool=1 user=1"},
		{"type filter: tools", "admin", "?type=tool", false, 200, []string{"tool:Retired Tool"}, "mission=1 test=1 scenario=1 tool=1 user=1"},
		{"unknown type ignored", "admin", "?type=group", false, 200, all, "mission=1 test=1 scenario=1 tool=1 user=1"},
		{"search by name, any case", "admin", "?q=GONE", false, 200, []string{"scenario:Gone Scenario"}, "mission=0 test=0 scenario=1 tool=0 user=0"},
		{"search a user by email", "admin", "?q=dora-", false, 200, []string{"user:Deleted Dora"}, "mission=0 test=0 scenario=0 tool=0 user=1"},
		{"search and type", "admin", "?q=o&type=mission", false, 200, []string{"mission:Lost Mission"}, "mission=1 test=1 scenario=1 tool=1 user=1"},
		{"search matching a live item only", "admin", "?q=live", false, 200, nil, "mission=0 test=0 scenario=0 tool=0 user=0"},
		{"a wildcard is searched literally", "admin", "?q=" + url.QueryEscape("%"), false, 200, nil, "mission=0 test=0 scenario=0 tool=0 user=0"},
		{"page beyond the last shows the last", "admin", "?page=9", false, 200, all, "mission=1 test=1 scenario=1 tool=1 user=1"},
		{"htmx search gets the results", "admin", "?q=lost", true, 200, []string{"mission:Lost Mission"}, "mission=1 test=0 scenario=0 tool=0 user=0"},
		{"red team forbidden", "red", "", false, 403, nil, ""},
		{"no groups forbidden", "none", "", false, 403, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := apptest.Step{As: tc.as, Path: "/admin/trash" + tc.query, HX: tc.hx, Status: tc.status}
			if tc.status == 200 && !tc.hx {
				step.TestIDs = []string{`[data-testid="admin-tabs"] a[href="/admin/trash"][aria-current="page"]`}
			}
			r := w.Do(t, step)
			if r.Code != tc.status {
				return
			}
			if tc.status != 200 {
				if strings.Contains(r.Body.String(), "Lost Mission") {
					t.Error("a refused viewer sees the trash")
				}
				return
			}
			d := doc(t, r)
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
		})
	}

	t.Run("each row restores through its kind's route", func(t *testing.T) {
		d := doc(t, w.Do(t, apptest.Step{As: "admin", Path: "/admin/trash"}))
		want := map[string]string{
			"mission":  "/missions/" + ids["Lost Mission"].String() + "/restore",
			"test":     "/library/tests/" + ids["Old Template"].String() + "/restore",
			"scenario": "/library/scenarios/" + ids["Gone Scenario"].String() + "/restore",
			"user":     "/admin/users/" + ids["Deleted Dora"].String() + "/restore",
			"tool":     "/admin/tools/" + ids["Retired Tool"].String() + "/restore",
		}
		for kind, action := range want {
			form := d.Find(`[data-testid="trash-row"][data-type="` + kind + `"] form`)
			if form.AttrOr("action", "") != action || form.AttrOr("method", "") != "post" {
				t.Errorf("%s: form %s %q, want post %q", kind, form.AttrOr("method", ""), form.AttrOr("action", ""), action)
			}
		}
		if got := d.Find(`[data-testid="trash-row-deleted"]`).First().AttrOr("datetime", ""); got != base.Add(-time.Hour).Format(time.RFC3339) {
			t.Errorf("deleted time %q, want %q", got, base.Add(-time.Hour).Format(time.RFC3339))
		}
	})

	t.Run("only trash.manage gets the trash tab", func(t *testing.T) {
		w.Do(t, apptest.Step{As: "admin", Path: "/admin/users", TestIDs: []string{`[data-testid="admin-tabs"] a[href="/admin/trash"]`}})
		if r := w.GetAs(w.Cookie("red"), "/"); strings.Contains(r.Body.String(), `href="/admin/trash"`) {
			t.Error("the red team is shown the trash")
		}
	})
}

// TestTrashRestore: the Restore button of each row posts to the kind's
// restore route, which brings the item back (in the database) and takes it
// off the trash; once everything is restored the trash says it is empty.
func TestTrashRestore(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	ids, _ := seedTrash(t, w)
	tests := []struct{ kind, name string }{
		{"test", "Old Template"},
		{"scenario", "Gone Scenario"},
		{"mission", "Lost Mission"},
		{"user", "Deleted Dora"},
		{"tool", "Retired Tool"},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			row := `[data-testid="trash-row"][data-id="` + ids[tc.name].String() + `"]`
			d := doc(t, w.Do(t, apptest.Step{As: "admin", Path: "/admin/trash", TestIDs: []string{row}}))
			action := d.Find(row+` form`).AttrOr("action", "")
			if action == "" {
				t.Fatalf("%s is not in the trash", tc.name)
			}
			live := trashLive(tc.kind, ids[tc.name])
			w.Do(t, apptest.Step{Name: "red team restore", As: "red", Path: action, Form: url.Values{},
				Status: http.StatusForbidden, Rows: apptest.Rows{live: 0}})
			w.Do(t, apptest.Step{Name: "restore", As: "admin", Path: action, Form: url.Values{},
				Status: http.StatusSeeOther, Rows: apptest.Rows{live: +1}})
			w.Do(t, apptest.Step{Name: "off the trash", As: "admin", Path: "/admin/trash", NoTestIDs: []string{row}})
		})
	}
	t.Run("empty", func(t *testing.T) {
		d := doc(t, w.Do(t, apptest.Step{As: "admin", Path: "/admin/trash", NoTestIDs: []string{"trash-row"}}))
		if d.Find(`[data-testid="trash-empty"]`).Length() != 1 {
			t.Errorf("rows %q, want the empty state", trashRows(d))
		}
		if got := trashCounts(d); got != "mission=0 test=0 scenario=0 tool=0 user=0" {
			t.Errorf("counts %q", got)
		}
	})
}

// TestTrashQueryCount: the trash sends as many SQL statements for 65
// deleted items as for 5, page and htmx partial alike, and pages them by
// 50.
func TestTrashQueryCount(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	_, base := seedTrash(t, w)
	srv, n := countingServer(t, w.App)
	probes := []struct {
		path string
		hx   bool
	}{{"/admin/trash", false}, {"/admin/trash?type=test", false}, {"/admin/trash?q=e&page=2", true}}
	count := func(path string, hx bool) (int64, *goquery.Document) {
		r := w.Request(apptest.Step{As: "admin", Path: path, HX: hx})
		resp := httptest.NewRecorder()
		before := n.Count()
		srv.ServeHTTP(resp, r)
		if resp.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.Code)
		}
		return n.Count() - before, doc(t, resp)
	}
	small := make([]int64, len(probes))
	for i, p := range probes {
		small[i], _ = count(p.path, p.hx)
	}
	kinds := []string{"mission", "test", "scenario", "user"}
	for i := range 60 {
		trashItem(t, w, kinds[i%4], fmt.Sprintf("Seeded %02d", i), base.Add(-time.Duration(i+5)*time.Hour))
	}
	for i, p := range probes {
		big, d := count(p.path, p.hx)
		if big != small[i] {
			t.Errorf("%s: %d statements with 65 deleted items, %d with 5", p.path, big, small[i])
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
	if got := trashRows(d); len(got) != 15 || got[len(got)-1] != "user:Seeded 59" {
		t.Errorf("second page: %d rows ending %q, want 15 ending with the oldest", len(got), got)
	}
}

// TestTrashNarrowed: a viewer holding trash.manage without user.manage nor
// mission.read_all sees in the trash only what its restore routes let them
// restore: no users, and only the deleted missions they are a member of —
// which they can restore from the page.
func TestTrashNarrowed(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	_, base := seedTrash(t, w)
	w.Group(t, "janitors", auth.TrashManage, auth.MissionRead, auth.TemplateRead)
	w.Person(t, "jan", "janitors")
	team := trashItem(t, w, "mission", "Team Mission", base.Add(-30*time.Minute))
	w.Member(t, team, "jan", "lead")
	mine := []string{"mission:Team Mission", "test:Old Template", "scenario:Gone Scenario", "tool:Retired Tool"}
	tests := []struct {
		name   string
		query  string
		rows   []string
		counts string
	}{
		{"own missions, no users", "", mine, "mission=1 test=1 scenario=1 tool=1"},
		{"the user type is not offered", "?type=user", mine, "mission=1 test=1 scenario=1 tool=1"},
		{"nor found by a search", "?q=dora", nil, "mission=0 test=0 scenario=0 tool=0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := w.Do(t, apptest.Step{As: "jan", Path: "/admin/trash" + tc.query, NoTestIDs: []string{`#trash-type option[value="user"]`}})
			d := doc(t, r)
			if got := trashRows(d); strings.Join(got, "|") != strings.Join(tc.rows, "|") {
				t.Errorf("rows %q, want %q", got, tc.rows)
			}
			if got := trashCounts(d); got != tc.counts {
				t.Errorf("counts %q, want %q", got, tc.counts)
			}
		})
	}
	t.Run("restores their mission from the page", func(t *testing.T) {
		d := doc(t, w.Do(t, apptest.Step{As: "jan", Path: "/admin/trash"}))
		action := d.Find(`[data-testid="trash-row"][data-id="`+team.String()+`"] form`).AttrOr("action", "")
		w.Do(t, apptest.Step{Name: "restore " + action, As: "jan", Path: action, Form: url.Values{},
			Status: http.StatusSeeOther, Rows: apptest.Rows{trashLive("mission", team): +1}})
	})
}
