package people_test

import (
	"testing"

	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/people"
)

// TestLastBreakGlassAdminStays: while single sign-on is required, the
// last active break-glass admin is neither deactivated, deleted nor taken
// out of the admin group (nobody could get in if the provider failed);
// with another one, or with the policy off, they may be.
func TestLastBreakGlassAdminStays(t *testing.T) {
	w := setup(t)
	sys := rule.SystemContext(t.Context())
	keeper := w.client.User.Create().SetEmail("keeper@example.com").SetDisplayName("keeper").SetPasswordHash("x").
		SetBreakGlass(true).AddGroupIDs(w.groups[auth.GroupAdmin]).SaveX(sys)
	if _, err := w.db.Exec(`UPDATE settings SET value = 'true' WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	admin := w.as("admin")
	refusedLast := func(name string, err error) {
		t.Helper()
		if key := people.RefusedKey(err); key != "signin.break_glass.last_user_refused" {
			t.Errorf("%s: %v, want the last break-glass refusal", name, err)
		}
	}
	refusedLast("deactivate", w.svc.Deactivate(admin, keeper.ID))
	refusedLast("delete", w.svc.Delete(admin, keeper.ID))
	_, err := w.svc.SetUserGroups(admin, keeper.ID, nil)
	refusedLast("leave the admin group", err)
	if u := w.client.User.GetX(sys, keeper.ID); !u.IsActive || u.DeletedAt != nil {
		t.Fatalf("keeper changed: %+v", u)
	}
	if n := w.count(t, `SELECT count(*) FROM user_groups WHERE user_id = $1`, keeper.ID); n != 1 {
		t.Fatalf("keeper has %d groups", n)
	}

	// Another break-glass admin: keeper may go.
	w.client.User.UpdateOneID(w.users["admin"]).SetBreakGlass(true).ExecX(sys)
	if err := w.svc.Deactivate(admin, keeper.ID); err != nil {
		t.Fatalf("deactivate with another break-glass admin: %v", err)
	}
	if w.client.User.GetX(sys, keeper.ID).IsActive {
		t.Error("keeper still active")
	}

	// The policy off: the last one may go too.
	if _, err := w.db.Exec(`UPDATE settings SET value = 'false' WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	other := w.client.User.Create().SetEmail("other@example.com").SetDisplayName("other").SetPasswordHash("x").
		SetBreakGlass(true).AddGroupIDs(w.groups[auth.GroupAdmin]).SaveX(sys)
	w.client.User.UpdateOneID(w.users["admin"]).SetBreakGlass(false).ExecX(sys)
	if err := w.svc.Delete(admin, other.ID); err != nil {
		t.Errorf("delete with the policy off: %v", err)
	}
}
