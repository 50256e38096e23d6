package mission_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/internal/audit"
	"violet/internal/i18n"
	msn "violet/internal/mission"
	"violet/internal/notify"
)

// TestStepsRun: a step commits with its audit record, its live event and
// the notification of those it concerns (a stop: the lead); a refused
// step leaves none of them.
func TestStepsRun(t *testing.T) {
	w := setup(t)
	if _, err := msn.Instantiate(w.as("lead"), w.client, w.access(t, "lead"), []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	steps := msn.NewSteps(w.client, notify.New(catalog))
	w.inProgress(t)
	red, rctx := w.access(t, "red"), w.as("red")
	mt, err := w.client.MissionTest.Query().Order(ent.Asc(missiontest.FieldPosition)).First(rctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	traces := func() [3]int {
		return [3]int{
			w.count(t, `SELECT count(*) FROM audit_events WHERE target_type = 'mission_test' AND target_id = $1`, mt.ID.String()),
			w.count(t, `SELECT count(*) FROM live_events WHERE kind = 'test' AND test_id = $1`, mt.ID),
			w.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1`, w.users["lead"]),
		}
	}

	// Stopping a pending test is refused: everything rolls back.
	err = steps.Run(rctx, red, mt, audit.MissionTestStopped, func(c *ent.Client) error {
		_, err := msn.Stop(rctx, c, red, mt.ID, mt.Version, now)
		return err
	})
	if !msn.IsState(err) {
		t.Fatalf("stopping a pending test: %v", err)
	}
	if got := traces(); got != [3]int{} {
		t.Errorf("a refused step left audit, live, notifications %v", got)
	}

	v := mt.Version
	for _, s := range []struct {
		action string
		run    func(c *ent.Client) (int, error)
	}{
		{audit.MissionTestStarted, func(c *ent.Client) (int, error) { return msn.Start(rctx, c, red, mt.ID, v, now) }},
		{audit.MissionTestStopped, func(c *ent.Client) (int, error) { return msn.Stop(rctx, c, red, mt.ID, v, now.Add(time.Minute)) }},
	} {
		if err := steps.Run(rctx, red, mt, s.action, func(c *ent.Client) (err error) {
			v, err = s.run(c)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", s.action, err)
		}
	}
	// Two steps audited and announced; only the stop concerns the lead.
	if got := traces(); got != [3]int{2, 2, 1} {
		t.Errorf("audit, live, lead's notifications %v, want [2 2 1]", got)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1 AND actor_id = $2 AND details->>'mission_id' = $3`,
		audit.MissionTestStopped, w.users["red"], w.mission.String()); n != 1 {
		t.Errorf("%d stop records by red in the mission", n)
	}
	if n := w.count(t, `SELECT count(*) FROM notifications WHERE user_id <> $1`, w.users["lead"]); n != 0 {
		t.Errorf("%d notifications to others than the lead", n)
	}
}

// TestSaveBlueKeepsTheShownDetectionTime: the blue form sends the stored
// detection time back as it showed it (a wall time in the viewer's zone,
// to the minute). Saving another field keeps the stored instant, even in
// the hour repeated when clocks go back, where the wall time names two
// instants and reading it again could pick the other one.
func TestSaveBlueKeepsTheShownDetectionTime(t *testing.T) {
	w := setup(t)
	if _, err := msn.Instantiate(w.as("lead"), w.client, w.access(t, "lead"), []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	w.inProgress(t)
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	steps := msn.NewSteps(w.client, notify.New(catalog))
	mt, err := w.client.MissionTest.Query().Order(ent.Asc(missiontest.FieldPosition)).First(w.as("lead"))
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	// 01:30 UTC on 2026-10-25 is the second 02:30 in Paris (CET).
	second := time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)
	var level string
	if err := w.db.QueryRow(`SELECT id FROM detection_levels ORDER BY position LIMIT 1`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(`UPDATE mission_tests SET state = 'executed', released_to_blue = true,
		started_at = $2, ended_at = $2, detected_at = $3, detection_level_id = $4 WHERE id = $1`,
		mt.ID, second.Add(-time.Hour), second, level); err != nil {
		t.Fatal(err)
	}
	bctx := i18n.WithZone(w.as("blue"), paris)
	shown := i18n.LocalInput(bctx, second)
	if shown != "2026-10-25T02:30" {
		t.Fatalf("shown as %q", shown)
	}
	if _, err := steps.SaveBlue(bctx, w.access(t, "blue"), mt.ID, mt.Version,
		msn.BlueInput{Level: level, DetectedAt: shown, AlertName: "Renamed alert"}); err != nil {
		t.Fatal(err)
	}
	got, err := w.client.MissionTest.Get(w.as("lead"), mt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AlertName != "Renamed alert" || got.DetectedAt == nil || !got.DetectedAt.Equal(second) {
		t.Errorf("after saving the alert name: detected at %v, alert %q; want %v kept", got.DetectedAt, got.AlertName, second)
	}
}
