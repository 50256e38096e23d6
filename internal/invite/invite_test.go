package invite_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/invitation"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/invite"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestStatusOfMatchesWhere: the status shown for a row and the filter that
// selects it agree, at the edges too (expiring exactly now).
func TestStatusOfMatchesWhere(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	mk := func(name string, change func(*ent.InvitationCreate)) uuid.UUID {
		_, hash := invite.NewToken()
		c := client.Invitation.Create().SetTokenHash(hash).SetEmailHint(name + "@example.com").SetExpiresAt(now.Add(time.Hour))
		change(c)
		inv, err := c.Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return inv.ID
	}
	want := map[uuid.UUID]invite.Status{
		mk("pending", func(*ent.InvitationCreate) {}):                                        invite.Pending,
		mk("expiring-now", func(c *ent.InvitationCreate) { c.SetExpiresAt(now) }):            invite.Expired,
		mk("expired", func(c *ent.InvitationCreate) { c.SetExpiresAt(now.Add(-time.Hour)) }): invite.Expired,
		mk("revoked", func(c *ent.InvitationCreate) { c.SetRevokedAt(now) }):                 invite.Revoked,
		mk("revoked-expired", func(c *ent.InvitationCreate) {
			c.SetRevokedAt(now.Add(-2 * time.Hour)).SetExpiresAt(now.Add(-time.Hour))
		}): invite.Revoked,
		mk("accepted", func(c *ent.InvitationCreate) { c.SetConsumedAt(now) }): invite.Accepted,
		mk("accepted-expired", func(c *ent.InvitationCreate) {
			c.SetConsumedAt(now.Add(-2 * time.Hour)).SetExpiresAt(now.Add(-time.Hour))
		}): invite.Accepted,
	}
	all, err := client.Invitation.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range all {
		if got := invite.StatusOf(inv, now); got != want[inv.ID] {
			t.Errorf("%s: StatusOf = %s, want %s", inv.EmailHint, got, want[inv.ID])
		}
	}
	for _, s := range invite.Statuses() {
		ids, err := client.Invitation.Query().Where(invite.Where(s, now)).IDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, w := range want {
			if w == s {
				n++
			}
		}
		if len(ids) != n {
			t.Errorf("Where(%s) selects %d rows, want %d", s, len(ids), n)
		}
		for _, id := range ids {
			if want[id] != s {
				t.Errorf("Where(%s) selects a %s invitation", s, want[id])
			}
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	long := ""
	for len(long) < 250 {
		long += "a"
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"  Ada@Example.COM ", "ada@example.com", true},
		{"ada@example.com", "ada@example.com", true},
		{"", "", false},
		{"not an email", "", false},
		{"Ada <ada@example.com>", "", false},
		{"ada@", "", false},
		{long + "@example.com", "", false},
		{"ad\u200ba@example.com", "", false},
	} {
		got, ok := invite.NormalizeEmail(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestMayGrant is the grant rule (Grantor.MayGrant) on its own.
func TestMayGrant(t *testing.T) {
	group := func(name string, codes ...string) *ent.Group {
		g := &ent.Group{Name: name}
		for _, c := range codes {
			g.Edges.Permissions = append(g.Edges.Permissions, &ent.Permission{Code: c})
		}
		return g
	}
	viewer := func(groups []string, codes ...string) *auth.Viewer {
		return auth.NewViewer(uuid.New(), "v@example.com", "V", "en", uuid.New(), groups, codes)
	}
	inviter := invite.GrantorOf(viewer([]string{"inviters"}, "user.invite", "mission.read", "library.read"))
	admin := invite.GrantorOf(viewer([]string{"admin"}))
	for _, tc := range []struct {
		name    string
		grantor invite.Grantor
		group   *ent.Group
		want    bool
	}{
		{"inviter, group within its permissions", inviter, group("readers", "mission.read"), true},
		{"inviter, group without permissions", inviter, group("empty"), true},
		{"inviter, group with one permission more", inviter, group("writers", "mission.read", "library.write"), false},
		{"inviter, admin", inviter, group(auth.GroupAdmin), false},
		{"admin, admin", admin, group(auth.GroupAdmin, "user.manage"), true},
		{"admin, anything", admin, group("writers", "library.write"), true},
		{"system, admin", invite.System(), group(auth.GroupAdmin), true},
		{"nobody, empty group", invite.GrantorOf(nil), group("empty"), true},
		{"nobody, readers", invite.GrantorOf(nil), group("readers", "mission.read"), false},
	} {
		if got := tc.grantor.MayGrant(tc.group); got != tc.want {
			t.Errorf("%s: MayGrant = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBootstrap: one usable bootstrap link at a time while there are no
// users; none once there are, including soft-deleted ones.
func TestBootstrap(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	now := time.Now()
	first, err := invite.Bootstrap(ctx, client, now)
	if err != nil || first == "" {
		t.Fatalf("first bootstrap: %q, %v", first, err)
	}
	second, err := invite.Bootstrap(ctx, client, now)
	if err != nil || second == "" || second == first {
		t.Fatalf("second bootstrap: %q, %v", second, err)
	}
	if _, err := invite.Lookup(ctx, client, first, now); err != invite.ErrInvalid {
		t.Errorf("the replaced link: %v, want ErrInvalid", err)
	}
	if _, err := invite.Lookup(ctx, client, second, now); err != nil {
		t.Errorf("the newest link: %v", err)
	}
	inv, err := client.Invitation.Query().Where(invitation.TokenHash(invite.HashToken(second))).WithGroups().Only(ctx)
	if err != nil || len(inv.Edges.Groups) != 1 || inv.Edges.Groups[0].Name != auth.GroupAdmin || inv.CreatedByID != nil {
		t.Fatalf("bootstrap invitation %+v, %v: want a system invitation into admin", inv, err)
	}
	u, err := client.User.Create().SetEmail("gone@example.com").SetDisplayName("Gone").SetPasswordHash("x").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.User.DeleteOne(u).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if token, err := invite.Bootstrap(ctx, client, now); err != nil || token != "" {
		t.Errorf("bootstrap with a (deleted) user: %q, %v; want nothing", token, err)
	}
	if _, err := invite.Lookup(ctx, client, second, now); err != nil {
		t.Errorf("a start with users touched the last link: %v", err)
	}
}

func TestURL(t *testing.T) {
	for _, base := range []string{"https://violet.example.com", "https://violet.example.com/"} {
		u, _ := url.Parse(base)
		if got := invite.URL(u, "tok"); got != "https://violet.example.com/invitations/tok" {
			t.Errorf("URL(%s) = %s", base, got)
		}
	}
}
