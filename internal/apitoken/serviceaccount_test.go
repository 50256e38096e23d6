package apitoken_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"violet/ent/group"
	"violet/internal/account"
	"violet/internal/apitoken"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/invite"
)

func (w *world) groupID(t *testing.T, name string) string {
	t.Helper()
	return w.client.Group.Query().Where(group.Name(name)).OnlyIDX(rule.SystemContext(context.Background())).String()
}

// TestCreateServiceAccount: a user manager makes a service account in the
// groups they may grant; the form's rules; the audit event.
func TestCreateServiceAccount(t *testing.T) {
	t.Parallel()
	w := setup(t)
	blue, admin := w.groupID(t, auth.GroupBlueTeam), w.groupID(t, auth.GroupAdmin)
	in := apitoken.AccountInput{DisplayName: " CI  pipeline ", Email: "CI-Pipeline@Automation.example", GroupIDs: []string{blue}}
	u, err := w.svc.CreateServiceAccount(w.as(t, "admin"), in)
	if err != nil {
		t.Fatal(err)
	}
	if !u.ServiceAccount || u.Email != "ci-pipeline@automation.example" || u.DisplayName != "CI pipeline" || !u.IsActive {
		t.Errorf("account %+v", u)
	}
	if n := w.count(t, `SELECT count(*) FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = $1 AND g.name = 'blueteam'`, u.ID); n != 1 {
		t.Error("not in the blue team")
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'user.service_account_created' AND target_id = $1 AND actor_id = $2`,
		u.ID.String(), w.users["admin"]); n != 1 {
		t.Errorf("%d audit events", n)
	}
	// It gets tokens from a user manager who may grant its groups, not
	// from one with user.manage alone.
	if _, err := w.svc.CreateFor(w.as(t, "admin"), u.ID, apitoken.Input{Name: "x", Scopes: []string{"read"}, ExpiresIn: "7d"}); err != nil {
		t.Errorf("a token for the new account: %v", err)
	}
	if _, err := w.svc.CreateFor(w.as(t, "operator"), u.ID, apitoken.Input{Name: "y", Scopes: []string{"read"}, ExpiresIn: "7d"}); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("a token for the new account by an operator who may not grant its group: %v", err)
	}

	for name, tc := range map[string]struct {
		who  string
		in   apitoken.AccountInput
		want map[string]string
	}{
		"taken address": {"admin", apitoken.AccountInput{DisplayName: "Other", Email: "ci-pipeline@automation.example", GroupIDs: []string{blue}},
			map[string]string{"email": apitoken.KeyEmailTaken}},
		"look-alike name": {"admin", apitoken.AccountInput{DisplayName: "ci pipeline", Email: "other@automation.example", GroupIDs: []string{blue}},
			map[string]string{"display_name": "identity.name.look_alike"}},
		"empty": {"admin", apitoken.AccountInput{}, map[string]string{"display_name": "form.required", "email": "form.required", "group_ids": apitoken.KeyGroupRequired}},
		"bad address": {"admin", apitoken.AccountInput{DisplayName: "Bot", Email: "not an address", GroupIDs: []string{blue}},
			map[string]string{"email": "identity.email.invalid"}},
		"unknown group": {"admin", apitoken.AccountInput{DisplayName: "Bot", Email: "bot@automation.example", GroupIDs: []string{"00000000-0000-0000-0000-000000000001"}},
			map[string]string{"group_ids": apitoken.KeyGroupUnknown}},
		"junk group": {"admin", apitoken.AccountInput{DisplayName: "Bot", Email: "bot@automation.example", GroupIDs: []string{"junk"}},
			map[string]string{"group_ids": apitoken.KeyGroupUnknown}},
		// The operator holds user.manage only: no group whose rights they lack.
		"admin group by an operator": {"operator", apitoken.AccountInput{DisplayName: "Bot", Email: "bot@automation.example", GroupIDs: []string{admin}},
			map[string]string{"group_ids": apitoken.KeyGroupRefused}},
	} {
		_, err := w.svc.CreateServiceAccount(w.as(t, tc.who), tc.in)
		var bad *app.Invalid
		if !errors.As(err, &bad) {
			t.Errorf("%s: %v, want *app.Invalid", name, err)
			continue
		}
		for f, key := range tc.want {
			if bad.Fields[f] != key {
				t.Errorf("%s: %s = %q, want %q (all: %v)", name, f, bad.Fields[f], key, bad.Fields)
			}
		}
	}
	if _, err := w.svc.CreateServiceAccount(w.as(t, "red"), in); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("without user.manage: %v", err)
	}
	if n := w.count(t, `SELECT count(*) FROM users WHERE service_account`); n != 2 {
		t.Errorf("%d service accounts, want 2 (ci from setup and the new one)", n)
	}
}

// TestServiceAccountCannotSignIn: the password sign-in refuses a service
// account even when its hash matches, and it gets no reset link.
func TestServiceAccountCannotSignIn(t *testing.T) {
	t.Parallel()
	w := setup(t)
	const password = "a perfectly good passphrase"
	hasher, err := auth.NewHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(context.Background(), password)
	if err != nil {
		t.Fatal(err)
	}
	sys := rule.SystemContext(context.Background())
	w.client.User.UpdateOneID(w.users["ci"]).SetPasswordHash(hash).ExecX(sys)
	w.client.User.UpdateOneID(w.users["red"]).SetPasswordHash(hash).ExecX(sys)
	sessions := auth.NewSessionStore(w.db, make([]byte, 32), false, time.Now)
	acc := account.NewService(w.client, w.db, sessions, hasher, auth.NewThrottle(w.db, time.Minute, 30, 100, time.Now), time.Now)
	if _, err := acc.SignIn(context.Background(), account.SignInInput{Email: "red@example.com", Password: password}); err != nil {
		t.Fatalf("a person with the same password: %v", err)
	}
	if _, err := acc.SignIn(context.Background(), account.SignInInput{Email: "ci@example.com", Password: password}); !errors.Is(err, account.ErrSignInFailed) {
		t.Errorf("a service account signing in: %v, want ErrSignInFailed", err)
	}
	if n := w.count(t, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1`, w.users["ci"]); n != 0 {
		t.Errorf("%d sessions for the service account", n)
	}
	if _, _, err := invite.Reset(w.as(t, "admin"), w.client, time.Now(), w.users["ci"]); !errors.Is(err, invite.ErrNotGrantable) {
		t.Errorf("a reset link for a service account: %v", err)
	}
	if _, _, err := invite.Reset(w.as(t, "admin"), w.client, time.Now(), w.users["red"]); err != nil {
		t.Errorf("a reset link for a person: %v", err)
	}
}
