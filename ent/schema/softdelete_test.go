package schema_test

// These tests drive SoftDeleteMixin through the generated client on a real
// database: what a delete does to queries, edges, eager loading and the
// partial unique indexes, and how SkipSoftDelete switches it off.

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/schema"
	"violet/ent/user"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func newUser(t *testing.T, client *ent.Client, email string, groups ...*ent.Group) *ent.User {
	t.Helper()
	u, err := client.User.Create().
		SetEmail(email).
		SetPasswordHash("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA").
		SetDisplayName("User " + email).
		AddGroups(groups...).
		Save(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func newGroup(t *testing.T, client *ent.Client, name string) *ent.Group {
	t.Helper()
	g, err := client.Group.Create().SetName(name).Save(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatalf("create group %s: %v", name, err)
	}
	return g
}

// deletedAt reads a row's deleted_at with plain SQL; ok is false when the
// row is not in the table at all.
func deletedAt(t *testing.T, db *sql.DB, table string, id uuid.UUID) (at sql.NullTime, ok bool) {
	t.Helper()
	err := db.QueryRow(`SELECT deleted_at FROM `+table+` WHERE id = $1`, id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return at, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return at, true
}

func ids[T any](items []T, id func(T) uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(items))
	for _, it := range items {
		out = append(out, id(it))
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out
}

func sorted(in ...uuid.UUID) []uuid.UUID {
	return ids(in, func(u uuid.UUID) uuid.UUID { return u })
}

func userID(u *ent.User) uuid.UUID { return u.ID }

// wantUniqueViolation asserts err is ent's constraint error over a unique
// violation of the named index.
func wantUniqueViolation(t *testing.T, err error, index string) {
	t.Helper()
	if err == nil {
		t.Fatalf("create succeeded, want %s to refuse it", index)
	}
	if !ent.IsConstraintError(err) {
		t.Errorf("error %v (%T) is not an ent constraint error", err, err)
	}
	var pqe *pq.Error
	if !errors.As(err, &pqe) {
		t.Fatalf("error %v does not wrap a *pq.Error", err)
	}
	if pqe.Code != "23505" || pqe.Constraint != index {
		t.Fatalf("code %s constraint %q, want 23505 %q", pqe.Code, pqe.Constraint, index)
	}
}

func TestDeletedUserIsHidden(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	g := newGroup(t, client, "hidden-test")
	alice := newUser(t, client, "alice@example.com", g)
	bob := newUser(t, client, "bob@example.com", g)

	before := time.Now()
	if err := client.User.DeleteOneID(alice.ID).Exec(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}

	t.Run("query", func(t *testing.T) {
		if _, err := client.User.Get(ctx, alice.ID); !ent.IsNotFound(err) {
			t.Errorf("Get deleted user: err %v, want not found", err)
		}
		all, err := client.User.Query().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(all, userID); !slices.Equal(got, sorted(bob.ID)) {
			t.Errorf("Query().All() ids %v, want only bob %v", got, bob.ID)
		}
		n, err := client.User.Query().Where(user.Email("alice@example.com")).Count(ctx)
		if err != nil || n != 0 {
			t.Errorf("count by email = %d, %v; want 0", n, err)
		}
	})
	t.Run("edge traversal", func(t *testing.T) {
		got, err := g.QueryUsers().IDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sorted(got...), sorted(bob.ID)) {
			t.Errorf("group.QueryUsers() = %v, want only bob %v", got, bob.ID)
		}
		got, err = client.Group.Query().Where(group.ID(g.ID)).QueryUsers().IDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sorted(got...), sorted(bob.ID)) {
			t.Errorf("Group.Query().QueryUsers() = %v, want only bob %v", got, bob.ID)
		}
	})
	t.Run("eager loading", func(t *testing.T) {
		loaded, err := client.Group.Query().Where(group.ID(g.ID)).WithUsers().Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(loaded.Edges.Users, userID); !slices.Equal(got, sorted(bob.ID)) {
			t.Errorf("WithUsers loaded %v, want only bob %v", got, bob.ID)
		}
	})
	t.Run("row kept with deleted_at (plain SQL)", func(t *testing.T) {
		at, ok := deletedAt(t, db, "users", alice.ID)
		if !ok {
			t.Fatal("deleted user's row is gone")
		}
		if !at.Valid {
			t.Fatal("deleted_at is NULL")
		}
		if at.Time.Before(before.Add(-time.Second)) || at.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("deleted_at %v, want about %v", at.Time, before)
		}
		if at, _ := deletedAt(t, db, "users", bob.ID); at.Valid {
			t.Errorf("bob's deleted_at is %v, want NULL", at.Time)
		}
	})
	t.Run("visible with SkipSoftDelete", func(t *testing.T) {
		sctx := schema.SkipSoftDelete(ctx)
		u, err := client.User.Get(sctx, alice.ID)
		if err != nil {
			t.Fatalf("Get with SkipSoftDelete: %v", err)
		}
		if u.DeletedAt == nil {
			t.Error("DeletedAt is nil on the deleted user")
		}
		got, err := g.QueryUsers().IDs(sctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sorted(got...), sorted(alice.ID, bob.ID)) {
			t.Errorf("QueryUsers with SkipSoftDelete = %v, want alice and bob", got)
		}
		loaded, err := client.Group.Query().Where(group.ID(g.ID)).WithUsers().Only(sctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(loaded.Edges.Users, userID); !slices.Equal(got, sorted(alice.ID, bob.ID)) {
			t.Errorf("WithUsers with SkipSoftDelete = %v, want alice and bob", got)
		}
		n, err := client.User.Query().Where(user.DeletedAtNotNil()).Count(sctx)
		if err != nil || n != 1 {
			t.Errorf("deleted users with SkipSoftDelete = %d, %v; want 1", n, err)
		}
	})
}

func TestDeletedUserEmailReusable(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	const email = "reuse@example.com"
	first := newUser(t, client, email)

	_, err := client.User.Create().SetEmail(email).SetPasswordHash("x").SetDisplayName("Twin").Save(ctx)
	wantUniqueViolation(t, err, "uq_users_email_active")

	if err := client.User.DeleteOne(first).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	second := newUser(t, client, email)
	if second.ID == first.ID {
		t.Fatal("new user has the deleted user's id")
	}
	got, err := client.User.Query().Where(user.Email(email)).Only(ctx)
	if err != nil {
		t.Fatalf("query by email: %v", err)
	}
	if got.ID != second.ID {
		t.Errorf("query by email found %v, want the new user %v", got.ID, second.ID)
	}

	_, err = client.User.Create().SetEmail(email).SetPasswordHash("x").SetDisplayName("Twin").Save(ctx)
	wantUniqueViolation(t, err, "uq_users_email_active")

	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM users WHERE email = $1`, email).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Errorf("%d rows with the email, want 2 (one deleted, one active)", rows)
	}
}

func TestDeletedGroupNameReusable(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	const name = "operators"
	first := newGroup(t, client, name)

	_, err := client.Group.Create().SetName(name).Save(ctx)
	wantUniqueViolation(t, err, "uq_groups_name_active")

	if err := client.Group.DeleteOneID(first.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Group.Get(ctx, first.ID); !ent.IsNotFound(err) {
		t.Errorf("Get deleted group: err %v, want not found", err)
	}
	second := newGroup(t, client, name)
	got, err := client.Group.Query().Where(group.Name(name)).Only(ctx)
	if err != nil {
		t.Fatalf("query by name: %v", err)
	}
	if got.ID != second.ID {
		t.Errorf("query by name found %v, want the new group %v", got.ID, second.ID)
	}

	_, err = client.Group.Create().SetName(name).Save(ctx)
	wantUniqueViolation(t, err, "uq_groups_name_active")

	if at, ok := deletedAt(t, db, "groups", first.ID); !ok || !at.Valid {
		t.Errorf("deleted group row: present %v, deleted_at %v; want present with deleted_at set", ok, at)
	}
}

func TestDeleteAlreadyDeleted(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	u := newUser(t, client, "twice@example.com")
	if err := client.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := deletedAt(t, db, "users", u.ID)
	if !first.Valid {
		t.Fatal("deleted_at not set by the first delete")
	}

	t.Run("delete one reports not found", func(t *testing.T) {
		err := client.User.DeleteOneID(u.ID).Exec(ctx)
		if !ent.IsNotFound(err) {
			t.Fatalf("second DeleteOneID: err %v, want not found", err)
		}
	})
	t.Run("delete one of a missing id reports not found too", func(t *testing.T) {
		err := client.User.DeleteOneID(uuid.New()).Exec(ctx)
		if !ent.IsNotFound(err) {
			t.Fatalf("DeleteOneID(unknown): err %v, want not found", err)
		}
	})
	t.Run("bulk delete affects 0 rows", func(t *testing.T) {
		n, err := client.User.Delete().Where(user.ID(u.ID)).Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("bulk delete of a deleted row affected %d rows, want 0", n)
		}
	})
	t.Run("deleted_at keeps the first deletion time", func(t *testing.T) {
		again, ok := deletedAt(t, db, "users", u.ID)
		if !ok || !again.Time.Equal(first.Time) {
			t.Fatalf("deleted_at %v (present %v), want the first deletion's %v", again.Time, ok, first.Time)
		}
	})
}

func TestHardDeleteWithSkipSoftDelete(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	sctx := schema.SkipSoftDelete(ctx)

	t.Run("active row", func(t *testing.T) {
		u := newUser(t, client, "hard@example.com")
		if err := client.User.DeleteOneID(u.ID).Exec(sctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := deletedAt(t, db, "users", u.ID); ok {
			t.Fatal("row still in the table after a hard delete")
		}
	})
	t.Run("soft-deleted row", func(t *testing.T) {
		u := newUser(t, client, "trash@example.com")
		if err := client.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := deletedAt(t, db, "users", u.ID); !ok {
			t.Fatal("soft delete removed the row")
		}
		n, err := client.User.Delete().Where(user.ID(u.ID)).Exec(sctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("hard bulk delete affected %d rows, want 1", n)
		}
		if _, ok := deletedAt(t, db, "users", u.ID); ok {
			t.Fatal("row still in the table after a hard delete")
		}
	})
}

func TestBulkDeleteIsSoft(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	var doomed []uuid.UUID
	for _, email := range []string{"b1@example.com", "b2@example.com", "b3@example.com"} {
		doomed = append(doomed, newUser(t, client, email).ID)
	}
	keeper := newUser(t, client, "keeper@example.com")

	n, err := client.User.Delete().Where(user.IDIn(doomed...)).Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("bulk delete affected %d rows, want 3", n)
	}
	all, err := client.User.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all, userID); !slices.Equal(got, sorted(keeper.ID)) {
		t.Errorf("users after bulk delete %v, want only %v", got, keeper.ID)
	}
	var total, deleted int
	if err := db.QueryRow(`SELECT count(*), count(deleted_at) FROM users`).Scan(&total, &deleted); err != nil {
		t.Fatal(err)
	}
	if total != 4 || deleted != 3 {
		t.Errorf("table holds %d rows, %d with deleted_at; want 4 and 3", total, deleted)
	}
	n, err = client.User.Delete().Where(user.IDIn(doomed...)).Exec(ctx)
	if err != nil || n != 0 {
		t.Errorf("second bulk delete affected %d rows (%v), want 0", n, err)
	}
}
