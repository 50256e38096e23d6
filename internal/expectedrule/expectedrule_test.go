package expectedrule_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/google/uuid"

	"violet/internal/auth/rule"
	"violet/internal/expectedrule"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// tool inserts a defensive tool and returns its id.
func tool(t *testing.T, db *sql.DB, name string, active, deleted bool) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := db.QueryRow(`INSERT INTO defensive_tools (name, kind, active, deleted_at)
		VALUES ($1, 'edr', $2, CASE WHEN $3 THEN now() END) RETURNING id`, name, active, deleted).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCheckAgainstStored: a row may name an active tool, an inactive one
// only when a stored rule names that tool (a crafted form adds no rule to
// a tool out of use), and a deleted one only as a stored rule coming back
// unchanged (editing the rest is not refused for it).
func TestCheckAgainstStored(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	edr := tool(t, db, "Defender", true, false)
	old := tool(t, db, "Old AV", false, false)
	gone := tool(t, db, "Gone", true, true)
	stored := []expectedrule.Rule{{ToolID: edr, Name: "Encoded command"}, {ToolID: old, Name: "Legacy"}, {ToolID: gone, Name: "Vanished"}}

	type row struct{ tool, name string }
	check := func(t *testing.T, stored []expectedrule.Rule, rows ...row) ([]expectedrule.Rule, []string, string) {
		t.Helper()
		var tools, names []string
		for _, r := range rows {
			tools, names = append(tools, r.tool), append(names, r.name)
		}
		rules, e, key, err := expectedrule.Check(ctx, client, stored, tools, names)
		if err != nil {
			t.Fatal(err)
		}
		var errs []string
		for _, r := range e.Rows {
			errs = append(errs, r.Error)
		}
		return rules, errs, key
	}

	t.Run("nothing stored: an inactive or a deleted tool is refused", func(t *testing.T) {
		_, errs, key := check(t, nil, row{edr.String(), "A"}, row{old.String(), "Legacy"}, row{gone.String(), "Vanished"})
		if want := []string{"", "expectedrules.tool_inactive_refused", "expectedrules.tool_unknown"}; !slices.Equal(errs, want) || key != "expectedrules.rows_invalid" {
			t.Errorf("errors %q, key %q; want %q", errs, key, want)
		}
	})

	t.Run("the stored rules come back unchanged", func(t *testing.T) {
		rules, errs, key := check(t, stored, row{edr.String(), "Encoded command"}, row{old.String(), "Legacy"}, row{gone.String(), "Vanished"})
		if key != "" || !expectedrule.Same(rules, stored) {
			t.Errorf("rules %+v, errors %q, key %q", rules, errs, key)
		}
	})

	t.Run("a stored inactive tool may take another rule", func(t *testing.T) {
		rules, errs, key := check(t, stored, row{old.String(), "Legacy"}, row{old.String(), "Legacy 2"})
		if key != "" || len(rules) != 2 {
			t.Errorf("rules %+v, errors %q, key %q", rules, errs, key)
		}
	})

	t.Run("a deleted tool only as stored", func(t *testing.T) {
		_, errs, key := check(t, stored, row{gone.String(), "Vanished"}, row{gone.String(), "Vanished, renamed"}, row{gone.String(), "Other"})
		if want := []string{"", "expectedrules.tool_unknown", "expectedrules.tool_unknown"}; !slices.Equal(errs, want) || key != "expectedrules.rows_invalid" {
			t.Errorf("errors %q, key %q; want %q", errs, key, want)
		}
	})

	t.Run("the editor shows the deleted tool as deleted, the inactive one as inactive", func(t *testing.T) {
		_, e, _, err := expectedrule.Check(ctx, client, stored, []string{gone.String(), old.String()}, []string{"Vanished", "Legacy"})
		if err != nil {
			t.Fatal(err)
		}
		if e.Known(gone.String()) || !e.Known(old.String()) {
			t.Errorf("tools offered %+v", e.Tools)
		}
	})

	t.Run("CheckTemplate reads the template's stored rules", func(t *testing.T) {
		var id uuid.UUID
		if err := db.QueryRow(`INSERT INTO test_templates (name, platforms, expected_rules) VALUES ('T', '[]', $1) RETURNING id`,
			`[{"tool_id":"`+old.String()+`","name":"Legacy"},{"tool_id":"`+gone.String()+`","name":"Vanished"}]`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		tools, names := []string{old.String(), gone.String()}, []string{"Legacy", "Vanished"}
		for _, tc := range []struct{ id, key string }{{id.String(), ""}, {"", "expectedrules.rows_invalid"}, {uuid.NewString(), "expectedrules.rows_invalid"}} {
			_, _, key, err := expectedrule.CheckTemplate(ctx, client, tc.id, tools, names)
			if err != nil || key != tc.key {
				t.Errorf("template %q: key %q, %v; want %q", tc.id, key, err, tc.key)
			}
		}
	})
}
