package trash_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/testkit/testdb"
	"violet/internal/trash"
	"violet/views/admin"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// as is a context whose viewer holds codes.
func as(id uuid.UUID, codes ...auth.Permission) context.Context {
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = string(c)
	}
	return auth.NewContext(context.Background(), auth.NewViewer(id, "v@example.com", "V", "en", uuid.New(), nil, s))
}

func rows(l admin.TrashList) string {
	var out []string
	for _, r := range l.Rows {
		out = append(out, r.Type+":"+r.Name)
	}
	return strings.Join(out, " ")
}

// TestList: newest deletion first, never a live item; users only with
// user.manage, missions only to their members without mission.read_all;
// the search's wildcards are literal; the page is clamped.
func TestList(t *testing.T) {
	db, _, _ := testdb.Open(t)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	base := time.Now().Add(-time.Minute).UTC()
	member := uuid.New()
	exec(`INSERT INTO users (id, email, password_hash, display_name) VALUES ($1, 'member@example.com', 'x', 'Member')`, member)
	mine, theirs := uuid.New(), uuid.New()
	exec(`INSERT INTO missions (id, name, deleted_at) VALUES ($1, 'My 50% mission', $2), ($3, 'Their mission', $4), ($5, 'Live mission', NULL)`,
		mine, base.Add(-time.Hour), theirs, base.Add(-2*time.Hour), uuid.New())
	exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'lead')`, mine, member)
	exec(`INSERT INTO test_templates (id, name, platforms, deleted_at) VALUES ($1, 'Old template', '[]', $2)`, uuid.New(), base.Add(-3*time.Hour))
	exec(`INSERT INTO scenario_templates (id, name, deleted_at) VALUES ($1, 'Gone scenario', $2)`, uuid.New(), base.Add(-4*time.Hour))
	exec(`INSERT INTO users (id, email, password_hash, display_name, deleted_at) VALUES ($1, 'dora@example.com', 'x', 'Deleted Dora', $2)`,
		uuid.New(), base.Add(-5*time.Hour))
	exec(`INSERT INTO defensive_tools (id, name, vendor, kind, deleted_at) VALUES ($1, 'Old EDR', 'Acme', 'edr', $2), ($3, 'Live SIEM', '', 'siem', NULL)`,
		uuid.New(), base.Add(-6*time.Hour), uuid.New())

	list := func(ctx context.Context, q trash.Query) admin.TrashList {
		t.Helper()
		l, err := trash.List(ctx, db, q)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	all := as(uuid.New(), auth.TrashManage, auth.MissionReadAll, auth.UserManage)
	l := list(all, trash.Query{})
	if got := rows(l); got != "mission:My 50% mission mission:Their mission test:Old template scenario:Gone scenario user:Deleted Dora tool:Old EDR" {
		t.Errorf("everything: %s", got)
	}
	if l.Total != 6 || l.Pages != 1 || len(l.Types) != 5 {
		t.Errorf("total %d, pages %d, types %v", l.Total, l.Pages, l.Types)
	}

	narrow := as(member, auth.TrashManage)
	l = list(narrow, trash.Query{Type: "user", Page: 9})
	if got := rows(l); got != "mission:My 50% mission test:Old template scenario:Gone scenario tool:Old EDR" {
		t.Errorf("without user.manage nor mission.read_all: %s", got)
	}
	if l.Filter.Type != "" || l.Filter.Page != 1 || len(l.Types) != 4 {
		t.Errorf("filter %+v, types %v: want the user type dropped and page 1", l.Filter, l.Types)
	}

	l = list(all, trash.Query{Q: " 50% ", Type: "mission"})
	if got := rows(l); got != "mission:My 50% mission" || l.Filter.Q != "50%" {
		t.Errorf("search for 50%%: %s (q %q)", got, l.Filter.Q)
	}
	l = list(all, trash.Query{Q: "o", Type: "test"})
	if got := rows(l); got != "test:Old template" || l.Total != 1 {
		t.Errorf("type filter: %s, total %d", got, l.Total)
	}
	l = list(all, trash.Query{Type: "tool"})
	if got := rows(l); got != "tool:Old EDR" || l.Rows[0].Detail != "Acme" {
		t.Errorf("deleted tools, the vendor as detail: %s %+v", got, l.Rows)
	}
	for _, c := range l.Counts {
		if c.Type == "scenario" && c.Count != 1 {
			t.Errorf("the counts ignore the type filter: %+v", l.Counts)
		}
	}

	if _, err := trash.List(as(member), db, trash.Query{}); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("without trash.manage: %v", err)
	}
}
