package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/auth/rule"
	"violet/internal/identity"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestCheck compares with the accounts that are not deleted, leaving out
// the one being changed.
func TestCheck(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	admin, err := client.User.Create().SetEmail("admin@example.com").SetDisplayName("Admin").SetPasswordHash("x").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := client.User.Create().SetEmail("gone@example.com").SetDisplayName("Gone").SetPasswordHash("x").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.User.DeleteOne(gone).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, email, display string
		except               uuid.UUID
		want                 identity.Clash
	}{
		{"nothing in common", "eve@example.com", "Eve", uuid.Nil, identity.Clash{}},
		{"same address", "admin@example.com", "Eve", uuid.Nil, identity.Clash{Email: identity.Same}},
		{"look-alike address", "\u0430dmin@example.com", "", uuid.Nil, identity.Clash{Email: identity.LookAlike}},
		{"look-alike domain", "admin@xn--exmple-4nf.com", "", uuid.Nil, identity.Clash{Email: identity.LookAlike}},
		{"look-alike name", "", "\u0410DMIN", uuid.Nil, identity.Clash{Name: identity.LookAlike}},
		{"both", "adrnin@example.com", "admin", uuid.Nil, identity.Clash{Email: identity.LookAlike, Name: identity.LookAlike}},
		{"the account itself", "admin@example.com", "Admin", admin.ID, identity.Clash{}},
		{"a deleted account", "gone@example.com", "Gone", uuid.Nil, identity.Clash{}},
	} {
		got, err := identity.Check(ctx, client.User, tc.except, tc.email, tc.display)
		if err != nil || got != tc.want {
			t.Errorf("%s: Check = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

// TestLockSerialisesChecks: a transaction holding the lock makes the next
// one wait until it ends, so the second one's Check sees the account the
// first one wrote.
func TestLockSerialisesChecks(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	first, err := client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	if err := identity.Lock(ctx, first); err != nil {
		t.Fatal(err)
	}

	got := make(chan identity.Clash, 1)
	go func() {
		second, err := client.Tx(ctx)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		defer second.Rollback()
		if err := identity.Lock(ctx, second); err != nil {
			t.Error(err)
			close(got)
			return
		}
		c, err := identity.Check(ctx, second.User, uuid.Nil, "", "Zed")
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	select {
	case c := <-got:
		t.Fatalf("the second transaction did not wait for the lock (clash %+v)", c)
	case <-time.After(300 * time.Millisecond):
	}
	if err := first.User.Create().SetEmail("zed@example.com").SetDisplayName("ZED").SetPasswordHash("x").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c.Name != identity.LookAlike {
			t.Errorf("after the first committed, the second's Check = %+v: it does not see the new account", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second transaction never got the lock")
	}
}
