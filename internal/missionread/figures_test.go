package missionread_test

import (
	"reflect"
	"testing"

	"violet/internal/mission"
	"violet/internal/missionread"
	"violet/views/missionpage"
)

// TestOverviewFiguresAreTheQueries: the overview computes its figures from
// the rows it lists (mission.FiguresOf); they equal the three queries'
// (mission.ComputeFigures, still behind the figures partial and the
// report) for every kind of viewer, with and without a filter: levels
// that count as detected or not, times out of order or missing, an even
// and an odd number of timed detections, a tag with several tactics, the
// same tactic twice on one test and under two names.
func TestOverviewFiguresAreTheQueries(t *testing.T) {
	w := setup(t)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`UPDATE mission_tests SET detection_level_id = (SELECT id FROM detection_levels WHERE NOT counts_as_detected ORDER BY score LIMIT 1)
		WHERE id = $1`, w.tests[1])
	exec(`UPDATE mission_tests SET detection_level_id = $2, detected_at = started_at + interval '47 minutes 3.4 seconds' WHERE id = $1`, w.tests[4], w.level)
	exec(`UPDATE mission_tests SET detection_level_id = $2, detected_at = started_at - interval '1 minute' WHERE id = $1`, w.tests[5], w.level)
	exec(`UPDATE mission_tests SET detection_level_id = $2, started_at = NULL WHERE id = $1`, w.tests[6], w.level)
	exec(`UPDATE mission_tests SET detection_level_id = $2, detected_at = started_at + interval '3 hours' WHERE id = $1`, w.tests[7], w.level)
	exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, tactics) VALUES
		($1, 'technique', 'T1021', 'Remote Services', '[{"id": "TA0008", "name": "Lateral Movement"}, {"id": "TA0002", "name": "Execution"}]'),
		($2, 'tactic', 'TA0002', 'Execution (old name)', NULL)`, w.tests[4], w.tests[7])
	for _, role := range []string{"lead", "blue", "adminblue"} {
		ctx, a := w.access(t, role)
		want, err := mission.ComputeFigures(ctx, w.db, w.mission, !a.SeesUnreleased())
		if err != nil {
			t.Fatal(err)
		}
		if want.TimedDetections < 2 || len(want.PerTactic) < 4 {
			t.Fatalf("%s: the data does not exercise the figures: %+v", role, want)
		}
		for _, f := range []missionpage.Filter{{}, {Q: "test 1"}, {State: "pending"}, {Q: "nothing matches"}} {
			p, err := missionread.Overview(ctx, w.client, w.db, a, f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Figures, want) {
				t.Errorf("%s %+v:\n got %+v\nwant %+v", role, f, p.Figures, want)
			}
		}
	}
}
