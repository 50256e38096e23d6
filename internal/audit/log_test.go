package audit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
	"violet/views/admin"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestList: filters by actor, action and days (the last one included),
// reports dates it cannot use without failing, tells who acted, and is
// refused without audit.read.
func TestList(t *testing.T) {
	db, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	u := client.User.Create().SetEmail("auditor@example.com").SetDisplayName("Auditor").SetPasswordHash("x").SaveX(sys)
	viewer := auth.NewViewer(u.ID, u.Email, "Auditor", "en", uuid.New(), nil, []string{string(auth.AuditRead)})
	ctx := auth.NewContext(context.Background(), viewer)
	// Events are written as Record would, on chosen days (UPDATE is
	// refused: the log is append-only).
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO audit_events (created_at, actor_id, actor_label, action, target_type, target_id, details)
		VALUES ('2026-01-10 12:00Z', $1, $2, 'setting.changed', 'setting', 'a', '{"new": 1}')`, u.ID, u.Email)
	exec(`INSERT INTO audit_events (created_at, action, target_type, target_id)
		VALUES ('2026-01-11 12:00Z', 'invitation.created', 'invitation', 'b')`)
	exec(`INSERT INTO audit_events (created_at, action, target_type, target_id, target_label, ip, request_id)
		VALUES ('2026-01-12 12:00Z', 'login.failed', 'user', 'c', 'who@example.com', '192.0.2.1', 'r1')`)

	list := func(q audit.Query) admin.AuditList {
		t.Helper()
		l, err := audit.List(ctx, client, q)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	targets := func(l admin.AuditList) (s string) {
		for _, r := range l.Rows {
			s += r.TargetID
		}
		return s
	}
	l := list(audit.Query{})
	if targets(l) != "cba" || l.Total != 3 || l.Filter.Page != 1 {
		t.Fatalf("all: %s, total %d", targets(l), l.Total)
	}
	kinds := map[string]string{}
	for _, r := range l.Rows {
		kinds[r.TargetID] = r.ActorKind
	}
	if kinds["a"] != admin.ActorUser || kinds["b"] != admin.ActorSystem || kinds["c"] != admin.ActorAnonymous {
		t.Errorf("actor kinds %v", kinds)
	}
	if d := l.Rows[2].Details; len(d) != 1 || d[0].Key != "new" || d[0].Kind != admin.DetailText || d[0].Text != "1" {
		t.Errorf("details %+v, want the one field new = 1", d)
	}
	for _, tc := range []struct {
		name   string
		q      audit.Query
		want   string
		errors map[string]string
	}{
		{"actor", audit.Query{Actor: " AUDITOR@ "}, "a", nil},
		{"action", audit.Query{Action: audit.InvitationCreated}, "b", nil},
		{"unknown action is any", audit.Query{Action: "nope"}, "cba", nil},
		{"one day, included", audit.Query{From: "2026-01-11", To: "2026-01-11"}, "b", nil},
		{"bad date not applied", audit.Query{From: "11/01/2026", To: "2026-01-11"}, "ba", map[string]string{"from": "audit.filter.date_invalid"}},
		{"range backwards", audit.Query{From: "2026-01-12", To: "2026-01-10"}, "c", map[string]string{"to": "audit.filter.range_invalid"}},
		{"page beyond the last", audit.Query{Page: 7}, "cba", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := list(tc.q)
			if got := targets(l); got != tc.want {
				t.Errorf("rows %s, want %s", got, tc.want)
			}
			if len(l.Errors) != len(tc.errors) {
				t.Errorf("errors %v, want %v", l.Errors, tc.errors)
			}
			for f, k := range tc.errors {
				if l.Errors[f] != k {
					t.Errorf("error on %s: %q, want %q", f, l.Errors[f], k)
				}
			}
		})
	}
	nobody := auth.NewContext(context.Background(), auth.NewViewer(u.ID, u.Email, "Auditor", "en", uuid.New(), nil, nil))
	if _, err := audit.List(nobody, client, audit.Query{}); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("without audit.read: %v", err)
	}
}
