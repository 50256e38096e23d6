package mission_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"violet/internal/audit"
	msn "violet/internal/mission"
)

// bulkTests plans the scenario (four tests) and returns their ids and
// versions in plan order.
func bulkTests(t *testing.T, w *world) ([]uuid.UUID, []int) {
	t.Helper()
	if _, err := msn.Instantiate(w.as("lead"), w.client, w.access(t, "lead"), []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	rows, err := w.db.Query(`SELECT id, version FROM mission_tests WHERE mission_id = $1 ORDER BY position`, w.mission)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	var versions []int
	for rows.Next() {
		var id uuid.UUID
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		ids, versions = append(ids, id), append(versions, v)
	}
	return ids, versions
}

func items(ids []uuid.UUID, versions []int) []msn.BulkItem {
	out := make([]msn.BulkItem, len(ids))
	for i := range ids {
		out[i] = msn.BulkItem{TestID: ids[i], Version: versions[i]}
	}
	return out
}

// TestBulkSkip: a stale test is reported and a reviewed one refused by the
// single skip's rule, the others are skipped in the same transaction,
// each with its own audit record marked bulk.
func TestBulkSkip(t *testing.T) {
	w := setup(t)
	ids, versions := bulkTests(t, w)
	w.inProgress(t)
	steps := msn.NewSteps(w.client, notifier(t))
	lead, lctx := w.access(t, "lead"), w.as("lead")
	// Someone else saved test 0 since the page showed it; test 1 is
	// reviewed.
	if _, err := w.db.Exec(`UPDATE mission_tests SET version = version + 1 WHERE id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(`UPDATE mission_tests SET state = 'reviewed' WHERE id = $1`, ids[1]); err != nil {
		t.Fatal(err)
	}

	if _, err := steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkSkip, Items: items(ids, versions), Reason: "  "}); invalidKeys(t, err)["reason"] != "form.required" {
		t.Errorf("skip without a reason: %v", err)
	}
	if _, err := steps.Bulk(w.as("red"), w.access(t, "red"), msn.BulkInput{Action: msn.BulkSkip, Items: items(ids, versions), Reason: "x"}); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("red bulk-skips: %v, want forbidden", err)
	}
	tooMany := make([]msn.BulkItem, msn.BulkMax+1)
	if _, err := steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkSkip, Items: tooMany, Reason: "x"}); invalidKeys(t, err)[""] != "queues.bulk.too_many" {
		t.Errorf("%d tests: %v", len(tooMany), err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1`, audit.MissionTestSetAside); n != 0 {
		t.Fatalf("refused bulk actions left %d audit events", n)
	}

	res, err := steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkSkip, Items: items(ids, versions), Reason: " out of scope "})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 2 || len(res.Refused) != 2 {
		t.Fatalf("applied %d, refused %+v", res.Applied, res.Refused)
	}
	if r := res.Refused[0]; r.TestID != ids[0] || r.Reason != msn.RefusedStale || r.Name == "" {
		t.Errorf("stale test: %+v", r)
	}
	if r := res.Refused[1]; r.TestID != ids[1] || r.Reason != msn.RefusedState || r.State != "reviewed" {
		t.Errorf("reviewed test: %+v", r)
	}
	if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE mission_id = $1 AND state = 'skipped' AND state_reason = 'out of scope'`, w.mission); n != 2 {
		t.Errorf("%d tests skipped with the reason, want 2", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1 AND details->>'bulk' = 'true'
		AND target_id = ANY($2)`, audit.MissionTestSetAside, []string{ids[2].String(), ids[3].String()}); n != 2 {
		t.Errorf("%d bulk audit records, want one per skipped test", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1`, audit.MissionTestSetAside); n != 2 {
		t.Errorf("%d set-aside records in all, want 2", n)
	}
	if n := w.count(t, `SELECT count(*) FROM live_events WHERE kind = 'test'`); n != 2 {
		t.Errorf("%d live events, want one per skipped test", n)
	}
}

// TestBulkAssignReleaseRemove: the assignee must be a member with a red
// role; release leaves released tests unchanged; remove soft-deletes.
func TestBulkAssignReleaseRemove(t *testing.T) {
	w := setup(t)
	ids, versions := bulkTests(t, w)
	steps := msn.NewSteps(w.client, notifier(t))
	lead, lctx := w.access(t, "lead"), w.as("lead")

	for _, role := range []string{"blue", "observer", "outsider"} {
		u := w.users[role]
		_, err := steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkAssign, Items: items(ids, versions), Assignee: &u})
		if invalidKeys(t, err)["assignee"] != "queues.bulk.assignee_not_red" {
			t.Errorf("assign to %s: %v", role, err)
		}
	}
	red := w.users["red"]
	res, err := steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkAssign, Items: items(ids[:2], versions[:2]), Assignee: &red})
	if err != nil || res.Applied != 2 {
		t.Fatalf("assign to red: %+v, %v", res, err)
	}
	if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE assignee_id = $1`, red); n != 2 {
		t.Errorf("%d tests assigned to red, want 2", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1 AND details->>'change' = 'assign' AND details->>'bulk' = 'true'`, audit.MissionPlanChanged); n != 2 {
		t.Errorf("%d assign records, want 2", n)
	}
	// Nobody: the assignment is cleared.
	res, err = steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkAssign, Items: items(ids[:1], versions[:1])})
	if err != nil || res.Applied != 1 {
		t.Fatalf("unassign: %+v, %v", res, err)
	}

	if _, err := w.db.Exec(`UPDATE mission_tests SET released_to_blue = true WHERE id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	res, err = steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkRelease, Items: items(ids, versions)})
	if err != nil || res.Applied != 3 || len(res.Refused) != 1 || res.Refused[0].Reason != msn.RefusedUnchanged {
		t.Fatalf("release: %+v, %v", res, err)
	}
	// One notification for the blue member, naming the count, not one per
	// test; one live event per released test.
	if n := w.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'test.released'`, w.users["blue"]); n != 1 {
		t.Errorf("blue has %d release notifications, want 1 for the 3 tests", n)
	}
	if n := w.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND title = '3 tests were released to the blue team (' || (SELECT name FROM missions WHERE id = $2) || ')'`,
		w.users["blue"], w.mission); n != 1 {
		t.Errorf("the release notification does not name the count")
	}
	if n := w.count(t, `SELECT count(*) FROM live_events WHERE kind = 'test' AND released`); n != 3 {
		t.Errorf("%d live events of released tests, want 3", n)
	}
	// The release bumped the versions: the page's are stale now.
	res, err = steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkRemove, Items: items(ids, versions)})
	if err != nil || res.Applied != 1 || len(res.Refused) != 3 || res.Refused[0].Reason != msn.RefusedStale {
		t.Fatalf("remove with stale versions: %+v, %v", res, err)
	}
	if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE mission_id = $1 AND deleted_at IS NOT NULL`, w.mission); n != 1 {
		t.Errorf("%d tests removed, want 1", n)
	}
}

// TestLeavingTheRedSideUnassigns: a member moved off the red side, or
// removed, keeps no assigned tests (they would drop out of every red
// member's queue), and the member change's audit record counts them.
func TestLeavingTheRedSideUnassigns(t *testing.T) {
	w := setup(t)
	ids, versions := bulkTests(t, w)
	steps := msn.NewSteps(w.client, notifier(t))
	s := msn.NewService(w.client, notifier(t))
	lead, lctx := w.access(t, "lead"), w.as("lead")
	red := w.users["red"]
	if res, err := steps.Bulk(lctx, lead, msn.BulkInput{Action: msn.BulkAssign, Items: items(ids[:2], versions[:2]), Assignee: &red}); err != nil || res.Applied != 2 {
		t.Fatalf("assign to red: %+v, %v", res, err)
	}
	if err := s.ChangeMemberRole(lctx, lead, red, "lead"); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE assignee_id = $1`, red); n != 2 {
		t.Fatalf("a lead keeps their assignments: %d, want 2", n)
	}
	if err := s.ChangeMemberRole(lctx, lead, red, "blue"); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE assignee_id = $1`, red); n != 0 {
		t.Errorf("%d tests still assigned to a blue member", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1 AND details->>'to' = 'blue' AND details->>'unassigned_tests' = '2'`,
		audit.MissionMemberChanged); n != 1 {
		t.Errorf("the role change's audit record does not count the 2 unassigned tests")
	}
}
