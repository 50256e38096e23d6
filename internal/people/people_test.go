package people_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/people"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world is a database with an admin, an operator (user.manage and
// group.manage, outside the admin group) and the people workflows.
type world struct {
	db     *sql.DB
	client *ent.Client
	svc    *people.Service
	users  map[string]uuid.UUID
	groups map[string]uuid.UUID // the system groups
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	w := &world{
		db: db, client: client, users: map[string]uuid.UUID{}, groups: map[string]uuid.UUID{},
		svc: people.NewService(client, auth.NewSessionStore(db, make([]byte, 32), false, time.Now), time.Now),
	}
	for _, g := range client.Group.Query().Where(group.IsSystem(true)).AllX(sys) {
		w.groups[g.Name] = g.ID
	}
	for _, name := range []string{"admin", "operator", "someone"} {
		c := client.User.Create().SetEmail(name + "@example.com").SetDisplayName(name).SetPasswordHash("x")
		if name == "admin" {
			c.AddGroupIDs(w.groups[auth.GroupAdmin])
		}
		w.users[name] = c.SaveX(sys).ID
	}
	return w
}

// as is a viewer's context: the admin has every permission, the operator
// user.manage and group.manage only.
func (w *world) as(name string) context.Context {
	var groups, codes []string
	switch name {
	case "admin":
		groups = []string{auth.GroupAdmin}
		for _, p := range auth.Permissions() {
			codes = append(codes, string(p.Code))
		}
	case "operator":
		codes = []string{string(auth.UserManage), string(auth.GroupManage)}
	}
	v := auth.NewViewer(w.users[name], name+"@example.com", name, "en", uuid.New(), groups, codes)
	return auth.NewContext(context.Background(), v)
}

func (w *world) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUserStateChanges(t *testing.T) {
	w := setup(t)
	ctx := w.as("admin")
	if err := w.svc.Deactivate(ctx, w.users["admin"]); people.RefusedKey(err) != "admin.users.not_yourself" {
		t.Errorf("deactivate oneself: %v", err)
	}
	// The last active admin stays, whoever asks.
	if err := w.svc.Delete(w.as("operator"), w.users["admin"]); people.RefusedKey(err) != "admin.users.last_admin" {
		t.Errorf("delete the last admin: %v", err)
	}
	if _, err := w.db.Exec(`INSERT INTO refresh_tokens (id, jti, token_hash, user_id, issued_at, expires_at, last_seen_at, created_at, updated_at)
		VALUES ($1, $2, md5(random()::text) || md5(random()::text), $3, now(), now() + interval '1 hour', now(), now(), now())`, uuid.New(), uuid.New(), w.users["someone"]); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Deactivate(ctx, w.users["someone"]); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`, w.users["someone"]); n != 0 {
		t.Errorf("%d sessions left after deactivation", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'user.deactivated' AND details->>'sessions_ended' = '1'`); n != 1 {
		t.Errorf("%d deactivation events with one session ended", n)
	}
	// Deactivating again does nothing and records nothing.
	if err := w.svc.Deactivate(ctx, w.users["someone"]); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'user.deactivated'`); n != 1 {
		t.Errorf("%d deactivation events", n)
	}
	if err := w.svc.Delete(ctx, w.users["someone"]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.User(w.as("someone"), w.users["someone"]); !ent.IsNotFound(err) {
		t.Errorf("a deleted user seen without user.manage: %v", err)
	}
	if err := w.svc.Reactivate(ctx, w.users["someone"]); !ent.IsNotFound(err) {
		t.Errorf("reactivate a deleted user: %v", err)
	}
	// Another account took the address meanwhile: the restore is refused.
	taken := w.client.User.Create().SetEmail("someone@example.com").SetDisplayName("Other").SetPasswordHash("x").
		SaveX(rule.SystemContext(context.Background()))
	if err := w.svc.Restore(ctx, w.users["someone"]); people.RefusedKey(err) != "admin.users.email_taken" {
		t.Errorf("restore onto a taken address: %v", err)
	}
	w.client.User.DeleteOneID(taken.ID).ExecX(rule.SystemContext(context.Background()))
	if err := w.svc.Restore(ctx, w.users["someone"]); err != nil {
		t.Fatal(err)
	}
	d, err := w.svc.User(ctx, w.users["someone"])
	if err != nil || d.Deleted() || d.Active {
		t.Errorf("restored user %+v, %v", d, err)
	}
}

func TestSetUserGroups(t *testing.T) {
	w := setup(t)
	admin, red := w.groups[auth.GroupAdmin].String(), w.groups[auth.GroupRedTeam].String()
	if _, err := w.svc.SetUserGroups(w.as("admin"), w.users["someone"], []string{"nope"}); !errors.Is(err, people.ErrUnknownGroup) {
		t.Errorf("unknown group: %v", err)
	}
	// The operator lacks the red team's permissions: not theirs to grant.
	if _, err := w.svc.SetUserGroups(w.as("operator"), w.users["someone"], []string{red}); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("grant a group one may not: %v", err)
	}
	ch, err := w.svc.SetUserGroups(w.as("admin"), w.users["someone"], []string{red, admin})
	if err != nil || len(ch.Added) != 2 || len(ch.Removed) != 0 {
		t.Fatalf("add groups: %+v, %v", ch, err)
	}
	if ch, err := w.svc.SetUserGroups(w.as("admin"), w.users["someone"], []string{red, admin}); err != nil || !ch.Unchanged() {
		t.Errorf("same groups again: %+v, %v", ch, err)
	}
	// The operator's form leaves the groups they may not grant as they are.
	if ch, err := w.svc.SetUserGroups(w.as("operator"), w.users["someone"], nil); err != nil || !ch.Unchanged() {
		t.Errorf("operator's empty form: %+v, %v", ch, err)
	}
	if _, err := w.svc.SetUserGroups(w.as("admin"), w.users["someone"], nil); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.SetUserGroups(w.as("admin"), w.users["admin"], nil)
	if people.RefusedKey(err) != "admin.users.last_admin" {
		t.Fatalf("remove the last admin: %v", err)
	}
	d, err := w.svc.UserGroupsAfter(w.as("admin"), w.users["admin"], []string{red}, people.GroupsChange{}, err)
	if err != nil || d.Groups.ErrorKey != "admin.users.last_admin" {
		t.Fatalf("groups block after the refusal: %+v, %v", d.Groups, err)
	}
	for _, c := range d.Groups.Choices {
		if c.Checked != (c.ID == red) {
			t.Errorf("%s checked %v: the block keeps what the form asked", c.Name, c.Checked)
		}
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'user.groups_changed'`); n != 2 {
		t.Errorf("%d group change events, want 2", n)
	}
}

func TestGroups(t *testing.T) {
	w := setup(t)
	ctx := w.as("admin")
	if _, err := w.svc.CreateGroup(ctx, people.GroupInput{Name: " ", Description: "x"}); people.RefusedKey(err) != "" || !errors.Is(err, app.ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
	g, err := w.svc.CreateGroup(ctx, people.GroupInput{Name: " Testers ", Description: "They test"})
	if err != nil || g.Name != "Testers" {
		t.Fatalf("create: %+v, %v", g, err)
	}
	var inv *app.Invalid
	if _, err := w.svc.CreateGroup(ctx, people.GroupInput{Name: "TESTERS"}); !errors.As(err, &inv) || inv.Fields["name"] != "admin.groups.name_taken" {
		t.Errorf("a name taken but for case: %v", err)
	}
	if err := w.svc.UpdateGroup(ctx, w.groups[auth.GroupAdmin], people.GroupInput{Name: "root"}); !errors.As(err, &inv) || inv.Fields["name"] != "admin.groups.system_rename" {
		t.Errorf("rename a system group: %v", err)
	}
	if err := w.svc.UpdateGroup(ctx, g.ID, people.GroupInput{Name: "Testers", Description: "They test hard"}); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'group.updated' AND details ? 'description' AND NOT details ? 'name'`); n != 1 {
		t.Errorf("%d update events holding only the description", n)
	}

	if err := w.svc.SetPermissions(ctx, g.ID, []string{"no.such"}); !errors.Is(err, people.ErrUnknownPermission) {
		t.Errorf("unknown permission: %v", err)
	}
	if err := w.svc.SetPermissions(w.as("operator"), g.ID, []string{string(auth.AuditRead)}); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("give a permission one lacks: %v", err)
	}
	if err := w.svc.SetPermissions(ctx, g.ID, []string{string(auth.AuditRead), string(auth.MissionRead)}); err != nil {
		t.Fatal(err)
	}
	row, err := w.svc.TogglePermission(ctx, g.ID, string(auth.AuditRead), false)
	if err != nil || row.Granted || row.Note != "saved" || !row.Editable {
		t.Errorf("toggle off: %+v, %v", row, err)
	}
	row, err = w.svc.TogglePermission(ctx, w.groups[auth.GroupAdmin], string(auth.AuditRead), false)
	if people.RefusedKey(err) != "admin.groups.admin_keeps_all" || !row.Granted || row.Note != "failed" {
		t.Errorf("take from the admin group: %+v, %v", row, err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action IN ('group.permission_added', 'group.permission_removed')`); n != 3 {
		t.Errorf("%d permission events, want 3", n)
	}

	if err := w.svc.DeleteGroup(ctx, w.groups[auth.GroupRedTeam]); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("delete a system group: %v", err)
	}
	if err := w.svc.DeleteGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Group(ctx, g.ID); !ent.IsNotFound(err) {
		t.Errorf("a deleted group: %v", err)
	}
	if _, err := w.client.Group.Get(schema.SkipSoftDelete(rule.SystemContext(context.Background())), g.ID); err != nil {
		t.Errorf("the group is in the trash: %v", err)
	}
}
