package mission_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/database"
	msn "violet/internal/mission"
)

// inTx runs fn in a transaction, as the handlers do.
func inTx(t *testing.T, w *world, ctx context.Context, fn func(c *ent.Client) error) error {
	t.Helper()
	return database.WithTx(ctx, w.client, func(tx *ent.Tx) error { return fn(tx.Client()) })
}

func TestMemberRules(t *testing.T) {
	w := setup(t)
	lead := w.access(t, "lead")
	ctx := w.as("lead")
	role := func(who string) string {
		var r string
		_ = w.db.QueryRow(`SELECT role FROM mission_members WHERE mission_id = $1 AND user_id = $2`, w.mission, w.users[who]).Scan(&r)
		return r
	}
	cases := []struct {
		name string
		run  func(c *ent.Client) error
		want error
	}{
		{"demote the last lead", func(c *ent.Client) error {
			_, _, err := msn.ChangeRole(ctx, c, lead, w.users["lead"], "red")
			return err
		}, msn.ErrLastLead},
		{"remove the last lead", func(c *ent.Client) error {
			_, err := msn.RemoveMember(ctx, c, lead, w.users["lead"])
			return err
		}, msn.ErrLastLead},
		{"add a member twice", func(c *ent.Client) error {
			_, err := msn.AddMember(ctx, c, lead, w.users["red"], "blue")
			return err
		}, msn.ErrAlreadyMember},
		{"unknown role", func(c *ent.Client) error {
			_, err := msn.AddMember(ctx, c, lead, w.users["outsider"], "owner")
			return err
		}, msn.ErrBadRole},
		{"red manages members", func(c *ent.Client) error {
			_, err := msn.AddMember(w.as("red"), c, w.access(t, "red"), w.users["outsider"], "red")
			return err
		}, msn.ErrForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := inTx(t, w, ctx, tc.run); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
	if role("lead") != "lead" || role("outsider") != "" {
		t.Fatalf("refused changes changed roles: lead %q outsider %q", role("lead"), role("outsider"))
	}
	if err := inTx(t, w, ctx, func(c *ent.Client) error {
		_, err := msn.AddMember(ctx, c, lead, uuid.New(), "red")
		return err
	}); !ent.IsNotFound(err) {
		t.Errorf("unknown user: %v", err)
	}

	// Two leads stepping down at once: the row lock lets one through.
	if err := inTx(t, w, ctx, func(c *ent.Client) error {
		_, _, err := msn.ChangeRole(ctx, c, lead, w.users["red"], "lead")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, who := range []string{"lead", "red"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = inTx(t, w, ctx, func(c *ent.Client) error {
				_, _, err := msn.ChangeRole(ctx, c, lead, w.users[who], "observer")
				return err
			})
		}()
	}
	wg.Wait()
	if leads := w.count(t, `SELECT count(*) FROM mission_members WHERE mission_id = $1 AND role = 'lead'`, w.mission); leads != 1 {
		t.Errorf("%d leads left (errors %v)", leads, errs)
	}
	if !errors.Is(errs[0], msn.ErrLastLead) && !errors.Is(errs[1], msn.ErrLastLead) {
		t.Errorf("no step-down refused: %v", errs)
	}
}

func TestCategoryOrder(t *testing.T) {
	w := setup(t)
	lead := w.access(t, "lead")
	ctx := w.as("lead")
	ids := map[string]uuid.UUID{}
	for _, name := range []string{"A", "B", "C", "D"} {
		if err := inTx(t, w, ctx, func(c *ent.Client) error {
			cat, err := msn.AddCategory(ctx, c, lead, name, "#123456")
			if err == nil {
				ids[name] = cat.ID
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	order := func() string {
		rows, err := w.db.Query(`SELECT name, position FROM mission_categories WHERE mission_id = $1 AND deleted_at IS NULL ORDER BY position`, w.mission)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for i := 0; rows.Next(); i++ {
			var name string
			var pos int
			_ = rows.Scan(&name, &pos)
			if pos != i {
				t.Errorf("%s at position %d, index %d", name, pos, i)
			}
			out = append(out, name)
		}
		return strings.Join(out, "")
	}
	steps := []struct {
		name string
		run  func(c *ent.Client) error
		want string
	}{
		{"D up", func(c *ent.Client) error { return msn.MoveCategory(ctx, c, lead, ids["D"], -1) }, "ABDC"},
		{"A up stays", func(c *ent.Client) error { return msn.MoveCategory(ctx, c, lead, ids["A"], -1) }, "ABDC"},
		{"C down stays", func(c *ent.Client) error { return msn.MoveCategory(ctx, c, lead, ids["C"], 1) }, "ABDC"},
		{"A down", func(c *ent.Client) error { return msn.MoveCategory(ctx, c, lead, ids["A"], 1) }, "BADC"},
		{"delete A", func(c *ent.Client) error { _, err := msn.DeleteCategory(ctx, c, lead, ids["A"]); return err }, "BDC"},
		{"append E", func(c *ent.Client) error { _, err := msn.AddCategory(ctx, c, lead, "E", "#000000"); return err }, "BDCE"},
	}
	for _, s := range steps {
		if err := inTx(t, w, ctx, s.run); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := order(); got != s.want {
			t.Errorf("%s: %s, want %s", s.name, got, s.want)
		}
	}
	if err := inTx(t, w, ctx, func(c *ent.Client) error { return msn.MoveCategory(ctx, c, lead, ids["A"], 1) }); !ent.IsNotFound(err) {
		t.Errorf("move a deleted category: %v", err)
	}
	if err := inTx(t, w, w.as("observer"), func(c *ent.Client) error {
		return msn.MoveCategory(w.as("observer"), c, w.access(t, "observer"), ids["B"], 1)
	}); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("observer moves: %v", err)
	}
}
