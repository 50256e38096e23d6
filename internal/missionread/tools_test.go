package missionread_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/missionread"
	"violet/views/missionpage"
	"violet/views/scale"
	"violet/views/toolfig"
)

// toolWorld adds to the world two tools in scope (Alpha, Beta), one out
// of it (Gamma) and their outcomes: Alpha detects the executed test 2 in
// 5 minutes, the unreleased reviewed test 3 in 20 and the running test 1
// in 1; Beta records a level that does not count as detected on test 2;
// Gamma detects test 8 but is not in scope.
func toolWorld(t *testing.T) (w *world, alpha, beta uuid.UUID, nodet uuid.UUID) {
	t.Helper()
	w = setup(t)
	id := func(q string, args ...any) uuid.UUID {
		t.Helper()
		var v uuid.UUID
		if err := w.db.QueryRow(q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	alpha = id(`INSERT INTO defensive_tools (name, kind) VALUES ('Alpha EDR', 'edr') RETURNING id`)
	beta = id(`INSERT INTO defensive_tools (name, kind) VALUES ('Beta SIEM', 'siem') RETURNING id`)
	gamma := id(`INSERT INTO defensive_tools (name, kind) VALUES ('Gamma', 'other') RETURNING id`)
	nodet = id(`SELECT id FROM detection_levels WHERE NOT counts_as_detected ORDER BY score LIMIT 1`)
	exec(`INSERT INTO mission_tools (mission_id, defensive_tool_id) VALUES ($1, $2), ($1, $3)`, w.mission, alpha, beta)
	out := func(test int, tool, level uuid.UUID, minutes int) {
		exec(`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id, detected_at)
			VALUES ($1, $2, $3, '2026-11-20T10:00:00Z'::timestamptz + make_interval(mins => $4))`, w.tests[test], tool, level, minutes)
	}
	out(2, alpha, w.level, 5)
	out(3, alpha, w.level, 20)
	out(1, alpha, w.level, 1)
	out(2, beta, nodet, 2)
	out(8, gamma, w.level, 3)
	return w, alpha, beta, nodet
}

// TestToolFigures: per tool in scope, the rate over the executed or
// reviewed tests plus those it has an outcome for, per tactic, the median
// time to detect and the matrix; a blue viewer (and a reader of every
// mission who is blue here) counts the released tests only; a tool out of
// scope is not counted; the list's filter changes nothing.
func TestToolFigures(t *testing.T) {
	w, alpha, beta, nodet := toolWorld(t)
	for _, tc := range []struct {
		role                       string
		aTests, aWith, aDet, aRate int
		aMedian                    time.Duration
		bTests, rows, tacticTests  int
	}{
		// Executed or reviewed: 2, 3, 8, 9; Alpha's outcome adds 1.
		{"lead", 5, 3, 3, 60, 5 * time.Minute, 4, 5, 5},
		// Released: 1, 2, 8 of those.
		{"blue", 3, 2, 2, 67, 3 * time.Minute, 2, 3, 3},
		{"adminblue", 3, 2, 2, 67, 3 * time.Minute, 2, 3, 3},
	} {
		t.Run(tc.role, func(t *testing.T) {
			ctx, a := w.access(t, tc.role)
			for _, f := range []missionpage.Filter{{}, {Q: "nothing matches"}} {
				p, err := missionread.Overview(ctx, w.client, w.db, a, f)
				if err != nil {
					t.Fatal(err)
				}
				tf := p.ToolFigures
				if len(tf.Tools) != 2 || tf.Tools[0].ID != alpha.String() || tf.Tools[1].ID != beta.String() {
					t.Fatalf("tools %+v, want Alpha and Beta only", tf.Tools)
				}
				at, bt := tf.Tools[0], tf.Tools[1]
				if at.Kind != "edr" || at.Tests != tc.aTests || at.WithOutcome != tc.aWith || at.Detected != tc.aDet ||
					at.Rate() != tc.aRate || at.Median != tc.aMedian || at.Timed != tc.aDet {
					t.Errorf("Alpha %+v, want tests %d with %d detected %d rate %d median %v", at, tc.aTests, tc.aWith,
						tc.aDet, tc.aRate, tc.aMedian)
				}
				if bt.Tests != tc.bTests || bt.WithOutcome != 1 || bt.Detected != 0 || bt.Rate() != 0 || bt.Timed != 0 {
					t.Errorf("Beta %+v: saw nothing it detected, want rate 0 over %d tests", bt, tc.bTests)
				}
				var exec *toolfig.Tactic
				for i := range at.PerTactic {
					if at.PerTactic[i].ID == "TA0002" {
						exec = &at.PerTactic[i]
					}
				}
				if len(at.PerTactic) != 3 || exec == nil || exec.Name != "Execution" || exec.Tests != tc.tacticTests || exec.Detected != tc.aDet {
					t.Errorf("Alpha per tactic %+v", at.PerTactic)
				}
				if len(tf.Rows) != tc.rows {
					t.Fatalf("matrix %d rows, want %d", len(tf.Rows), tc.rows)
				}
				var row2 *toolfig.Row
				for i := range tf.Rows {
					if tf.Rows[i].Name == "Test 02 Été" {
						row2 = &tf.Rows[i]
					}
				}
				if row2 == nil || row2.URL == "" || len(row2.Cells) != 2 ||
					row2.Cells[0].Class != scale.Class(w.level) || !row2.Cells[0].Detected || row2.Cells[0].Level == "" ||
					row2.Cells[1].Class != scale.Class(nodet) || row2.Cells[1].Detected {
					t.Errorf("matrix row of test 2: %+v", row2)
				}
				for _, r := range tf.Rows {
					if r.Name == "Test 08 Été" && (r.Cells[0].Level != "" || r.Cells[1].Level != "") {
						t.Errorf("test 8: an outcome of a tool out of scope shown: %+v", r)
					}
				}
			}
		})
	}
}
