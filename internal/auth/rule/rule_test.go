package rule_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent/group"
	"violet/ent/privacy"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func viewer(id uuid.UUID, perms ...auth.Permission) context.Context {
	codes := make([]string, len(perms))
	for i, p := range perms {
		codes[i] = string(p)
	}
	return auth.NewContext(context.Background(), auth.NewViewer(id, "v@example.com", "V", "en", uuid.New(), nil, codes))
}

// TestPrivacyPolicies: the ent policies of users, groups, permissions and
// invitations refuse what the route table would also refuse, so a handler
// that forgets a check still cannot read or write past them.
func TestPrivacyPolicies(t *testing.T) {
	_, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	alice := client.User.Create().SetEmail("alice@example.com").SetDisplayName("Alice").SetPasswordHash("x").SaveX(sys)
	bob := client.User.Create().SetEmail("bob@example.com").SetDisplayName("Bob").SetPasswordHash("x").SaveX(sys)
	observers := client.Group.Query().Where(group.Name("observer")).OnlyX(sys)
	admins := client.Group.Query().Where(group.Name("admin")).OnlyX(sys)

	anonymous := context.Background()
	plain := viewer(alice.ID)
	manager := viewer(bob.ID, auth.UserManage, auth.GroupManage, auth.UserInvite)

	cases := []struct {
		name    string
		ctx     context.Context
		op      func(ctx context.Context) error
		allowed bool
	}{
		{"anonymous reads users", anonymous, func(ctx context.Context) error { _, err := client.User.Query().All(ctx); return err }, false},
		{"anonymous reads groups", anonymous, func(ctx context.Context) error { _, err := client.Group.Query().All(ctx); return err }, false},
		{"anonymous reads permissions", anonymous, func(ctx context.Context) error { _, err := client.Permission.Query().All(ctx); return err }, false},
		{"anonymous creates a user", anonymous, func(ctx context.Context) error {
			return client.User.Create().SetEmail("x@example.com").SetDisplayName("X").SetPasswordHash("x").Exec(ctx)
		}, false},
		{"signed-in reads users", plain, func(ctx context.Context) error { _, err := client.User.Query().All(ctx); return err }, true},
		{"signed-in reads groups", plain, func(ctx context.Context) error { _, err := client.Group.Query().All(ctx); return err }, true},
		{"signed-in reads invitations", plain, func(ctx context.Context) error { _, err := client.Invitation.Query().All(ctx); return err }, false},
		{"signed-in creates a user", plain, func(ctx context.Context) error {
			return client.User.Create().SetEmail("y@example.com").SetDisplayName("Y").SetPasswordHash("x").Exec(ctx)
		}, false},
		{"signed-in renames a group", plain, func(ctx context.Context) error {
			return client.Group.UpdateOne(observers).SetDescription("mine now").Exec(ctx)
		}, false},
		{"signed-in changes own name", plain, func(ctx context.Context) error {
			return client.User.UpdateOneID(alice.ID).SetDisplayName("Alice B").Exec(ctx)
		}, true},
		{"signed-in changes own password and language", plain, func(ctx context.Context) error {
			return client.User.UpdateOneID(alice.ID).SetPasswordHash("y").SetLocale("fr").Exec(ctx)
		}, true},
		{"signed-in changes own email", plain, func(ctx context.Context) error {
			return client.User.UpdateOneID(alice.ID).SetEmail("new@example.com").Exec(ctx)
		}, false},
		{"signed-in reactivates or deactivates self", plain, func(ctx context.Context) error {
			return client.User.UpdateOneID(alice.ID).SetIsActive(false).Exec(ctx)
		}, false},
		{"signed-in joins the admin group", plain, func(ctx context.Context) error {
			return client.User.UpdateOneID(alice.ID).AddGroupIDs(admins.ID).Exec(ctx)
		}, false},
		{"signed-in renames someone else", plain, func(ctx context.Context) error {
			return client.User.UpdateOneID(bob.ID).SetDisplayName("Bobby").Exec(ctx)
		}, false},
		{"signed-in changes permissions", plain, func(ctx context.Context) error {
			return client.Permission.Update().SetDescription("x").Exec(ctx)
		}, false},
		{"user.manage changes someone's groups", manager, func(ctx context.Context) error {
			return client.User.UpdateOneID(alice.ID).AddGroupIDs(observers.ID).Exec(ctx)
		}, true},
		{"group.manage edits a group", manager, func(ctx context.Context) error {
			return client.Group.UpdateOne(observers).SetDescription("Readers").Exec(ctx)
		}, true},
		{"user.invite creates an invitation", manager, func(ctx context.Context) error {
			return client.Invitation.Create().SetTokenHash("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").
				SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx)
		}, true},
		{"even a manager cannot change permission codes", manager, func(ctx context.Context) error {
			return client.Permission.Update().SetDescription("x").Exec(ctx)
		}, false},
		{"the system does what it must", sys, func(ctx context.Context) error {
			return client.Permission.Update().Where().SetDescription("synced").Exec(ctx)
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op(tc.ctx)
			switch {
			case tc.allowed && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.allowed && !errors.Is(err, privacy.Deny):
				t.Errorf("err = %v, want a privacy denial", err)
			}
		})
	}
	// What was refused left no trace.
	if n := client.User.Query().CountX(sys); n != 2 {
		t.Errorf("%d users, want the 2 made by the system", n)
	}
	if got := client.User.GetX(sys, alice.ID); got.Email != "alice@example.com" || !got.IsActive {
		t.Errorf("alice changed by refused operations: %+v", got)
	}
}
