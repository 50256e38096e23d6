package invite_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/group"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/invite"
	"violet/internal/testkit/testdb"
)

// formsWorld is a database with an admin (in the admin group, as the
// viewer of ctx) and an inviter holding only user.invite.
type formsWorld struct {
	client   *ent.Client
	accepter *invite.Accepter
	now      time.Time
	admin    context.Context
	inviter  context.Context
	groups   map[string]string // group id by name
}

func setupForms(t *testing.T) *formsWorld {
	t.Helper()
	db, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	w := &formsWorld{client: client, now: time.Now(), groups: map[string]string{}}
	for _, g := range client.Group.Query().AllX(sys) {
		w.groups[g.Name] = g.ID.String()
	}
	viewer := func(email string, groups []string, codes ...auth.Permission) context.Context {
		q := client.User.Create().SetEmail(email).SetDisplayName(strings.Split(email, "@")[0]).SetPasswordHash("x")
		for _, g := range groups {
			q.AddGroups(client.Group.Query().Where(group.Name(g)).OnlyX(sys))
		}
		u := q.SaveX(sys)
		s := make([]string, len(codes))
		for i, c := range codes {
			s[i] = string(c)
		}
		return auth.NewContext(context.Background(), auth.NewViewer(u.ID, email, u.DisplayName, "en", uuid.New(), groups, s))
	}
	var all []auth.Permission
	for _, p := range auth.Permissions() {
		all = append(all, p.Code)
	}
	w.admin = viewer("admin@example.com", []string{auth.GroupAdmin}, all...)
	w.inviter = viewer("inviter@example.com", nil, auth.UserInvite)
	hasher, err := auth.NewHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 2, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.accepter = &invite.Accepter{Client: client, Sessions: auth.NewSessionStore(db, make([]byte, 32), false, time.Now),
		Hasher: hasher, Now: time.Now}
	return w
}

func fieldOf(t *testing.T, err error) map[string]string {
	t.Helper()
	var inv *app.Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("err %v, want *app.Invalid", err)
	}
	out := map[string]string{}
	for f, k := range inv.Fields {
		out[f] = k
	}
	if inv.Key != "" {
		out[""] = inv.Key
	}
	return out
}

func TestInviteChecksTheForm(t *testing.T) {
	w := setupForms(t)
	for _, tc := range []struct {
		name       string
		r          invite.Request
		field, key string
	}{
		{"bad email", invite.Request{EmailHint: "not an email", ExpiryHours: "72"}, "email_hint", "identity.email.invalid"},
		{"expiry missing", invite.Request{ExpiryHours: " "}, "expiry_hours", "form.required"},
		{"expiry zero", invite.Request{ExpiryHours: "0"}, "expiry_hours", "admin.invitations.expiry_invalid"},
		{"expiry too long", invite.Request{ExpiryHours: "721"}, "expiry_hours", "admin.invitations.expiry_too_long"},
		{"group not an id", invite.Request{ExpiryHours: "72", GroupIDs: []string{"x"}}, "group_ids", "admin.invitations.group_unknown"},
		{"group unknown", invite.Request{ExpiryHours: "72", GroupIDs: []string{uuid.NewString()}}, "group_ids", "admin.invitations.group_unknown"},
		{"email of an account", invite.Request{EmailHint: "Admin@Example.com", ExpiryHours: "72"}, "email_hint", "admin.invitations.email_taken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := invite.Invite(w.admin, w.client, w.now, tc.r)
			if got := fieldOf(t, err); got[tc.field] != tc.key || len(got) != 1 {
				t.Errorf("errors %v, want %s: %s", got, tc.field, tc.key)
			}
		})
	}
	if n := w.client.Invitation.Query().CountX(rule.SystemContext(w.admin)); n != 0 {
		t.Errorf("refused forms made %d invitations", n)
	}
	_, _, err := invite.Invite(w.inviter, w.client, w.now, invite.Request{ExpiryHours: "72", GroupIDs: []string{w.groups["redteam"]}})
	if !errors.Is(err, app.ErrForbidden) || !errors.Is(err, invite.ErrNotGrantable) {
		t.Errorf("a group beyond the inviter's permissions: %v", err)
	}
	if _, _, err := invite.Invite(context.Background(), w.client, w.now, invite.Request{ExpiryHours: "72"}); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("nobody signed in: %v", err)
	}

	inv, token, err := invite.Invite(w.admin, w.client, w.now, invite.Request{
		EmailHint: " New@Example.com ", ExpiryHours: "48", GroupIDs: []string{w.groups["redteam"]}})
	if err != nil || token == "" {
		t.Fatal(err)
	}
	if inv.EmailHint != "new@example.com" || len(inv.Edges.Groups) != 1 || !inv.ExpiresAt.Equal(w.now.Add(48*time.Hour)) {
		t.Errorf("invitation %+v", inv)
	}
	page, err := invite.List(w.admin, w.client, w.now, invite.ListQuery{Status: "bogus", Page: 3}, invite.Request{}.Form())
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != "all" || page.Page != 1 || page.Counts["pending"] != 1 || len(page.Rows) != 1 ||
		page.Rows[0].For != "new@example.com" || !strings.Contains(page.Rows[0].Inviter, "admin@example.com") {
		t.Errorf("list %+v", page)
	}
	if len(page.Groups) == 0 {
		t.Error("the admin may grant no group")
	}
}

func TestResetAndSubmit(t *testing.T) {
	w := setupForms(t)
	sys := rule.SystemContext(context.Background())
	red := w.client.User.Create().SetEmail("red@example.com").SetDisplayName("Red").SetPasswordHash("x").
		AddGroups(w.client.Group.Query().Where(group.Name("redteam")).OnlyX(sys)).SaveX(sys)
	if _, _, err := invite.Reset(w.inviter, w.client, w.now, red.ID); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("a reset by an inviter who could not grant redteam: %v", err)
	}
	inv, token, err := invite.Reset(w.admin, w.client, w.now, red.ID)
	if err != nil || inv.Edges.ResetUser == nil || inv.Edges.ResetUser.Email != "red@example.com" {
		t.Fatalf("reset %+v, %v", inv, err)
	}
	open, err := invite.Lookup(sys, w.client, token, w.now)
	if err != nil {
		t.Fatal(err)
	}
	ans := invite.Answer{Password: "red@example.com", PasswordConfirm: "red@example.com"}
	if got := fieldOf(t, mustFail(w.accepter.Submit(context.Background(), token, open, ans))); got["password"] != "invitations.accept.password_is_email" {
		t.Errorf("password is the email: %v", got)
	}
	ans = invite.Answer{Password: strings.Repeat("a", auth.MaxPasswordBytes+1)}
	if err := mustFail(w.accepter.Submit(context.Background(), token, open, ans)); !errors.Is(err, invite.ErrPasswordTooLong) {
		t.Errorf("a password too long: %v", err)
	}
	ans = invite.Answer{Password: "a brand new passphrase", PasswordConfirm: "a brand new passphrase"}
	res, err := w.accepter.Submit(context.Background(), token, open, ans)
	if err != nil || !res.Reset || res.UserID != red.ID {
		t.Fatalf("reset accepted: %+v, %v", res, err)
	}
	if n := w.client.AuditEvent.Query().Where(auditevent.Action(audit.InvitationAccepted)).CountX(sys); n != 1 {
		t.Errorf("%d invitation.accepted events, want 1", n)
	}
	if _, err := w.accepter.Submit(context.Background(), token, open, ans); !errors.Is(err, invite.ErrInvalid) {
		t.Errorf("the link used twice: %v", err)
	}

	_, token, err = invite.Invite(w.admin, w.client, w.now, invite.Request{ExpiryHours: "72", GroupIDs: []string{w.groups["observer"]}})
	if err != nil {
		t.Fatal(err)
	}
	if open, err = invite.Lookup(sys, w.client, token, w.now); err != nil {
		t.Fatal(err)
	}
	ans = invite.Answer{Email: "bad", DisplayName: "", Locale: "de", Password: "short", PasswordConfirm: "short"}
	got := fieldOf(t, mustFail(w.accepter.Submit(context.Background(), token, open, ans)))
	for f, k := range map[string]string{"email": "identity.email.invalid", "display_name": "form.required",
		"locale": "invitations.accept.locale_invalid", "password": "invitations.accept.password_too_short"} {
		if got[f] != k {
			t.Errorf("%s: %q, want %q", f, got[f], k)
		}
	}
	ans = invite.Answer{Email: "RED@example.com", DisplayName: "Another Red", Locale: "fr",
		Password: "a long enough passphrase", PasswordConfirm: "a long enough passphrase"}
	if got := fieldOf(t, mustFail(w.accepter.Submit(context.Background(), token, open, ans))); got["email"] != "invitations.accept.email_taken" {
		t.Errorf("an address taken: %v", got)
	}
	ans.Email = "observer@example.com"
	res, err = w.accepter.Submit(context.Background(), token, open, ans)
	if err != nil || res.Reset {
		t.Fatalf("accepted: %+v, %v", res, err)
	}
	u := w.client.User.Query().Where(user.ID(res.UserID)).WithGroups().OnlyX(sys)
	if u.Email != "observer@example.com" || len(u.Edges.Groups) != 1 || u.Edges.Groups[0].Name != "observer" || u.Locale != "fr" {
		t.Errorf("account %+v", u)
	}
}

// mustFail returns the error of a call that returned a result too.
func mustFail(_ *invite.Result, err error) error { return err }
