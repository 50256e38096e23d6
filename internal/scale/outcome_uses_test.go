package scale_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"violet/internal/scale"
)

// TestLevelUsedByAnOutcomeIsInUse: a level only an outcome per tool names
// (not the test's overall result) counts as a use and cannot be deleted.
func TestLevelUsedByAnOutcomeIsInUse(t *testing.T) {
	w := setup(t)
	logged := w.level(t, "Logged")
	mission, test := uuid.New(), uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO missions (id, name) VALUES ($1, 'M')`, []any{mission}},
		{`INSERT INTO mission_tests (id, mission_id, name, platforms) VALUES ($1, $2, 'T', '[]')`, []any{test, mission}},
		{`INSERT INTO defensive_tools (name, kind) VALUES ('EDR', 'edr')`, nil},
		{`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id)
			SELECT $1, id, $2 FROM defensive_tools`, []any{test, logged}},
	} {
		if _, err := w.db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	l, err := w.svc.List(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Rows {
		if r.ID == logged && r.Uses != 1 {
			t.Errorf("Logged: %d uses, want 1", r.Uses)
		}
	}
	if err := w.svc.Delete(w.ctx, logged); !errors.Is(err, scale.ErrInUse) {
		t.Errorf("deleting a level an outcome uses: %v", err)
	}
}
