package library_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/auth/rule"
	"violet/internal/library"
	"violet/internal/testkit/testdb"
)

// scenarioFixture makes templates A, B, C and an empty scenario.
func scenarioFixture(t *testing.T) (*sql.DB, *ent.Client, uuid.UUID, map[string]uuid.UUID) {
	t.Helper()
	db, client, _ := testdb.Open(t)
	tpl := map[string]uuid.UUID{}
	for _, name := range []string{"A", "B", "C"} {
		id := uuid.New()
		if _, err := db.Exec(`INSERT INTO test_templates (id, name, platforms) VALUES ($1, $2, '[]')`, id, name); err != nil {
			t.Fatal(err)
		}
		tpl[name] = id
	}
	s := uuid.New()
	if _, err := db.Exec(`INSERT INTO scenario_templates (id, name) VALUES ($1, 'S')`, s); err != nil {
		t.Fatal(err)
	}
	return db, client, s, tpl
}

// order returns the scenario's tests as "A,B,A" and checks positions are
// dense from 0.
func order(t *testing.T, db *sql.DB, s uuid.UUID) string {
	t.Helper()
	rows, err := db.Query(`SELECT t.name, e.position FROM scenario_template_tests e
		JOIN test_templates t ON t.id = e.test_template_id WHERE e.scenario_template_id = $1 ORDER BY e.position`, s)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for i := 0; rows.Next(); i++ {
		var name string
		var pos int
		if err := rows.Scan(&name, &pos); err != nil {
			t.Fatal(err)
		}
		if pos != i {
			t.Errorf("position %d at index %d: not dense", pos, i)
		}
		names = append(names, name)
	}
	return strings.Join(names, ",")
}

func entries(t *testing.T, db *sql.DB, s uuid.UUID) []uuid.UUID {
	t.Helper()
	rows, err := db.Query(`SELECT id FROM scenario_template_tests WHERE scenario_template_id = $1 ORDER BY position`, s)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

func TestScenarioOrdering(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, s, tpl := scenarioFixture(t)
	v, err := library.AddTests(ctx, client, s, 1, []uuid.UUID{tpl["A"], tpl["B"], tpl["A"], tpl["C"]})
	if err != nil || v != 2 {
		t.Fatalf("add: v=%d %v", v, err)
	}
	if got := order(t, db, s); got != "A,B,A,C" {
		t.Fatalf("order %s", got)
	}
	steps := []struct {
		name string
		do   func(v int, e []uuid.UUID) (int, error)
		want string
	}{
		{"move the last up", func(v int, e []uuid.UUID) (int, error) { return library.MoveTest(ctx, client, s, v, e[3], -1) }, "A,B,C,A"},
		{"move the first up does nothing", func(v int, e []uuid.UUID) (int, error) { return library.MoveTest(ctx, client, s, v, e[0], -1) }, "A,B,C,A"},
		{"move the first down", func(v int, e []uuid.UUID) (int, error) { return library.MoveTest(ctx, client, s, v, e[0], 1) }, "B,A,C,A"},
		{"remove the second", func(v int, e []uuid.UUID) (int, error) { return library.RemoveTest(ctx, client, s, v, e[1]) }, "B,C,A"},
		{"reorder by drag", func(v int, e []uuid.UUID) (int, error) {
			return library.ReorderTests(ctx, client, s, v, []uuid.UUID{e[2], e[0], e[1]})
		}, "A,B,C"},
		{"append without a version", func(v int, e []uuid.UUID) (int, error) {
			return library.AddTests(ctx, client, s, 0, []uuid.UUID{tpl["B"]})
		}, "A,B,C,B"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			next, err := st.do(v, entries(t, db, s))
			if err != nil || next != v+1 {
				t.Fatalf("v %d→%d: %v", v, next, err)
			}
			v = next
			if got := order(t, db, s); got != st.want {
				t.Errorf("order %s, want %s", got, st.want)
			}
		})
	}
	t.Run("a stale version is refused and changes nothing", func(t *testing.T) {
		before := order(t, db, s)
		e := entries(t, db, s)
		for name, do := range map[string]func() (int, error){
			"move":    func() (int, error) { return library.MoveTest(ctx, client, s, v-1, e[1], -1) },
			"remove":  func() (int, error) { return library.RemoveTest(ctx, client, s, v-1, e[1]) },
			"reorder": func() (int, error) { return library.ReorderTests(ctx, client, s, v-1, e) },
			"add":     func() (int, error) { return library.AddTests(ctx, client, s, v-1, []uuid.UUID{tpl["C"]}) },
		} {
			if _, err := do(); !errors.Is(err, library.ErrStale) {
				t.Errorf("%s with an old version: %v, want ErrStale", name, err)
			}
		}
		if order(t, db, s) != before {
			t.Error("a refused change changed the order")
		}
	})
	t.Run("a reorder that does not hold every entry once is refused", func(t *testing.T) {
		e := entries(t, db, s)
		if _, err := library.ReorderTests(ctx, client, s, v, []uuid.UUID{e[0], e[0], e[1], e[2]}); !errors.Is(err, library.ErrStale) {
			t.Errorf("duplicate ids: %v", err)
		}
		if _, err := library.ReorderTests(ctx, client, s, v, e[:2]); !errors.Is(err, library.ErrStale) {
			t.Errorf("missing ids: %v", err)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		copyID, err := library.DuplicateScenario(ctx, client, s, "S (copy)", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := order(t, db, copyID), order(t, db, s); got != want {
			t.Errorf("copy %s, original %s", got, want)
		}
	})
}

// TestScenarioConcurrentEdits: two people editing one scenario at once —
// the order stays dense and unique, and of two edits made to the same
// version exactly one wins, the other gets ErrStale.
func TestScenarioConcurrentEdits(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, s, tpl := scenarioFixture(t)
	v, err := library.AddTests(ctx, client, s, 1, []uuid.UUID{tpl["A"], tpl["B"], tpl["C"], tpl["A"], tpl["B"], tpl["C"]})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("same version: one wins", func(t *testing.T) {
		e := entries(t, db, s)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					_, errs[i] = library.MoveTest(ctx, client, s, v, e[i%len(e)], 1)
				} else {
					_, errs[i] = library.RemoveTest(ctx, client, s, v, e[i%len(e)])
				}
			}()
		}
		wg.Wait()
		won, stale := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, library.ErrStale):
				stale++
			default:
				t.Errorf("unexpected error %v", err)
			}
		}
		if won != 1 || stale != 7 {
			t.Errorf("%d applied, %d stale; want exactly one applied", won, stale)
		}
		order(t, db, s) // checks density
	})
	t.Run("many appends without versions all land, densely", func(t *testing.T) {
		before := len(entries(t, db, s))
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := library.AddTests(ctx, client, s, 0, []uuid.UUID{tpl["A"], tpl["B"]}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := len(entries(t, db, s)); n != before+20 {
			t.Errorf("%d entries, want %d", n, before+20)
		}
		got := order(t, db, s)
		if strings.Count(got, ",")+1 != before+20 {
			t.Errorf("order %s", got)
		}
	})
	t.Run("unknown scenario", func(t *testing.T) {
		if _, err := library.AddTests(ctx, client, uuid.New(), 0, nil); !errors.Is(err, library.ErrNoScenario) {
			t.Errorf("%v", err)
		}
	})
}
