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

// TestScaleChangeDerivesResultsAgain: a test whose EDR logged and whose
// SIEM alerted holds Alerted overall; once Logged scores above Alerted,
// the overall result is Logged (with the EDR's alert) and the test's
// version moved, so an open form is refused as stale; moving Alerted above
// Logged again at equal scores gives Alerted back. A test with one outcome
// is not written.
func TestScaleChangeDerivesResultsAgain(t *testing.T) {
	w := setup(t)
	logged, alerted := w.level(t, "Logged"), w.level(t, "Alerted")
	mission, test, single := uuid.New(), uuid.New(), uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO missions (id, name) VALUES ($1, 'M')`, []any{mission}},
		{`INSERT INTO mission_tests (id, mission_id, name, platforms, detection_level_id, alert_name)
			VALUES ($1, $2, 'T', '[]', $3, 'SIEM rule'), ($4, $2, 'U', '[]', $5, 'EDR only')`,
			[]any{test, mission, alerted, single, logged}},
		{`INSERT INTO defensive_tools (name, kind) VALUES ('EDR', 'edr'), ('SIEM', 'siem')`, nil},
		{`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id, alert_name)
			SELECT $1, id, CASE name WHEN 'EDR' THEN $2::uuid ELSE $3::uuid END,
				CASE name WHEN 'EDR' THEN 'EDR telemetry' ELSE 'SIEM rule' END FROM defensive_tools`, []any{test, logged, alerted}},
		{`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id, alert_name)
			SELECT $1, id, $2, 'EDR only' FROM defensive_tools WHERE name = 'EDR'`, []any{single, logged}},
	} {
		if _, err := w.db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	overall := func(id uuid.UUID) (level uuid.UUID, alert string, version int) {
		t.Helper()
		if err := w.db.QueryRow(`SELECT detection_level_id, alert_name, version FROM mission_tests WHERE id = $1`, id).
			Scan(&level, &alert, &version); err != nil {
			t.Fatal(err)
		}
		return level, alert, version
	}
	f, err := w.svc.Form(w.ctx, logged)
	if err != nil {
		t.Fatal(err)
	}
	in := scale.Input{Name: f.Name, Description: f.Description, Score: "90", Colour: f.Colour, CountsAsDetected: f.CountsAsDetected}
	if err := w.svc.Update(w.ctx, logged, in); err != nil {
		t.Fatal(err)
	}
	if level, alert, version := overall(test); level != logged || alert != "EDR telemetry" || version != 2 {
		t.Errorf("after Logged scores 90: level %v (Logged %v), alert %q, version %d", level, logged, alert, version)
	}
	if _, _, version := overall(single); version != 1 {
		t.Errorf("the test with one outcome was written again: version %d", version)
	}
	// At equal scores the scale's order decides: Alerted moved above
	// Logged is best again.
	in.Score = "75"
	if err := w.svc.Update(w.ctx, logged, in); err != nil {
		t.Fatal(err)
	}
	var first uuid.UUID
	if err := w.db.QueryRow(`SELECT id FROM detection_levels WHERE id IN ($1, $2) ORDER BY position LIMIT 1`, logged, alerted).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if level, _, _ := overall(test); level != first {
		t.Errorf("at equal scores: level %v, want the first in the scale's order %v", level, first)
	}
	if err := w.svc.Move(w.ctx, logged, first != logged); err != nil {
		t.Fatal(err)
	}
	if level, _, _ := overall(test); level != logged {
		t.Errorf("after moving Logged first at equal scores: level %v, want Logged", level)
	}
}
