package missionread

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/mission"
	"violet/views/missionpage"
)

// The work queues of the overview (missionpage.Queues), the preset
// filters the home page links to. Each is a condition on a test row, the
// same for the list (workPredicate, in SQL) and for the tabs' counts
// (queueCounts, in Go from the rows read), and the same as the home page's (internal/home):
//
//   - red: waiting to be run — pending or running; for a red member, only
//     those assigned to them or to nobody (the others are a colleague's
//     work), for everyone else (a lead getting ready to complete the
//     mission, the blue team) all of them;
//   - blue: waiting for a detection — released to the blue team, no
//     detection level recorded, and not finished (pending, running or
//     executed: a reviewed, skipped or blocked test waits for nobody);
//   - review: waiting for a lead's review — executed (the review closes an
//     executed test, whatever the blue side recorded);
//   - mine: what waits for the viewer in the role they act in
//     (Access.ActsAs): for the red team, the pending or running tests
//     assigned to them; for the blue team, the blue queue; for a lead,
//     the tests assigned to them still to run and the review queue; for
//     an observer, the tests assigned to them still to run (none, as only
//     red roles are assigned).
//
// A blue member's queues hold released tests only, like everything they
// see (the privacy policy filters the list; the counts repeat its rule).

// queueSQL is queue q's condition on the columns of the test table t (an
// alias), for viewer me acting as role. The viewer's id is written into
// the text as a uuid literal: a uuid.UUID prints as hex digits and
// dashes only.
func queueSQL(q, t string, me uuid.UUID, role string) string {
	toRun, blue, review := ToRunSQL(t), AwaitingBlueSQL(t), AwaitingReviewSQL(t)
	assignedToMe := t + ".assignee_id = '" + me.String() + "'::uuid"
	switch q {
	case missionpage.QueueRed:
		if role == rule.RoleRed {
			return toRun + " AND (" + t + ".assignee_id IS NULL OR " + assignedToMe + ")"
		}
		return toRun
	case missionpage.QueueBlue:
		return blue
	case missionpage.QueueReview:
		return review
	case missionpage.QueueMine:
		switch role {
		case rule.RoleBlue:
			return blue
		case rule.RoleLead:
			return "(" + toRun + " AND " + assignedToMe + ") OR " + review
		}
		return toRun + " AND " + assignedToMe
	}
	return "TRUE"
}

// The queues' conditions on one test row (the table or alias a), the one
// definition behind the overview's queues and the home page's, so both
// always agree. Who the red queue holds (assignment) is each caller's.

// ToRunSQL: waiting for the red team — pending or running.
func ToRunSQL(a string) string { return a + ".state IN ('pending', 'running')" }

// AwaitingBlueSQL: waiting for a detection — released, no detection level
// recorded yet, and still open (a reviewed, skipped or blocked test waits
// for nobody).
func AwaitingBlueSQL(a string) string {
	return a + ".released_to_blue AND " + a + ".detection_level_id IS NULL AND " + a + ".state IN ('pending', 'running', 'executed')"
}

// AwaitingReviewSQL: waiting for a lead — executed, the one state a review
// closes (mission.Review).
func AwaitingReviewSQL(a string) string { return a + ".state = 'executed'" }

// workPredicate is the filter's condition on the queue and the assignee.
func workPredicate(s *entsql.Selector, a *mission.Access, f Filter) *entsql.Predicate {
	var ps []*entsql.Predicate
	if f.Queue != "" {
		ps = append(ps, entsql.ExprP("("+queueSQL(f.Queue, s.TableName(), a.Viewer.UserID, a.ActsAs())+")"))
	}
	switch f.Assignee {
	case "":
	case "none":
		ps = append(ps, entsql.IsNull(s.C(missiontest.FieldAssigneeID)))
	default:
		id, err := uuid.Parse(f.Assignee)
		if err != nil {
			return entsql.False()
		}
		ps = append(ps, entsql.EQ(s.C(missiontest.FieldAssigneeID), id))
	}
	return entsql.And(ps...)
}

// queueCounts sizes every work queue from the tests the viewer may see,
// which the overview has read anyway: inQueue is queueSQL's condition in
// Go (TestQueueCountsMatchTheirLists keeps the two the same).
func queueCounts(all []Test, a *mission.Access) []missionpage.QueueTab {
	me, role := a.Viewer.UserID, a.ActsAs()
	tabs := make([]missionpage.QueueTab, len(missionpage.Queues()))
	for i, q := range missionpage.Queues() {
		tabs[i].Name = q
		for k := range all {
			if inQueue(q, &all[k], me, role) {
				tabs[i].Count++
			}
		}
	}
	return tabs
}

// inQueue reports whether test t is in queue q for viewer me acting as
// role, as queueSQL says.
func inQueue(q string, t *Test, me uuid.UUID, role string) bool {
	st := t.State
	toRun := st == missiontest.StatePending || st == missiontest.StateRunning
	blue := t.ReleasedToBlue && t.DetectionLevelID == nil && (toRun || st == missiontest.StateExecuted)
	review := st == missiontest.StateExecuted
	mine := t.AssigneeID != nil && *t.AssigneeID == me
	switch q {
	case missionpage.QueueRed:
		return toRun && (role != rule.RoleRed || t.AssigneeID == nil || mine)
	case missionpage.QueueBlue:
		return blue
	case missionpage.QueueReview:
		return review
	case missionpage.QueueMine:
		switch role {
		case rule.RoleBlue:
			return blue
		case rule.RoleLead:
			return toRun && mine || review
		}
		return toRun && mine
	}
	return true
}

// overviewLists reads, in one statement, the lists the overview shows
// beside its tests: the members tests may be assigned to (a red role),
// the mission's categories in their order and the names of the defensive
// tools in its scope (deleted ones hidden, as the soft delete hides them
// elsewhere) with the detection scale's levels their outcomes name (the
// figures per tool, tools.go; none without a tool in scope).
func overviewLists(ctx context.Context, db *sql.DB, a *mission.Access) ([]missionpage.Option, []*ent.MissionCategory, toolScope, error) {
	const query = `SELECT
		(SELECT coalesce(json_agg(json_build_object('id', u.id, 'name', u.display_name) ORDER BY u.display_name, u.id), '[]')
			FROM mission_members mm JOIN users u ON u.id = mm.user_id
			WHERE mm.mission_id = $1 AND mm.role IN ('red', 'lead') AND u.deleted_at IS NULL),
		(SELECT coalesce(json_agg(json_build_object('id', c.id, 'name', c.name, 'colour', c.colour) ORDER BY c.position, c.name), '[]')
			FROM mission_categories c WHERE c.mission_id = $1 AND c.deleted_at IS NULL),
		(SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name, 'kind', t.kind) ORDER BY t.name, t.id), '[]')
			FROM mission_tools mt JOIN defensive_tools t ON t.id = mt.defensive_tool_id
			WHERE mt.mission_id = $1 AND t.deleted_at IS NULL),
		` + scopeLevelsSQL
	var members, categories, toolNames, levels []byte
	var scope toolScope
	if err := db.QueryRowContext(ctx, query, a.Mission.ID).Scan(&members, &categories, &toolNames, &levels); err != nil {
		return nil, nil, scope, fmt.Errorf("members, categories and tools: %w", err)
	}
	var list []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(members, &list); err != nil {
		return nil, nil, scope, fmt.Errorf("red members: %w", err)
	}
	opts := make([]missionpage.Option, len(list))
	for i, m := range list {
		opts[i] = missionpage.Option{Value: m.ID, Label: m.Name}
	}
	var cats []*ent.MissionCategory
	if err := json.Unmarshal(categories, &cats); err != nil {
		return nil, nil, scope, fmt.Errorf("categories: %w", err)
	}
	if err := scope.decode(toolNames, levels); err != nil {
		return nil, nil, scope, err
	}
	return opts, cats, scope, nil
}

// BulkSummary is what the overview says of a bulk action: the number of
// tests changed and each test left unchanged with the message key of its
// reason.
func BulkSummary(r mission.BulkResult) *missionpage.BulkSummary {
	out := &missionpage.BulkSummary{Action: r.Action, Applied: r.Applied}
	for _, x := range r.Refused {
		out.Refused = append(out.Refused, missionpage.BulkRefusal{Name: x.Name, Key: refusalKey(x.Reason), State: x.State})
	}
	return out
}

// refusalKey is the message of a reason a bulk action left a test
// unchanged.
func refusalKey(reason string) string {
	switch reason {
	case mission.RefusedStale:
		return "queues.bulk.refused_stale"
	case mission.RefusedGone:
		return "queues.bulk.refused_gone"
	case mission.RefusedState:
		return "queues.bulk.refused_state"
	}
	return "queues.bulk.refused_unchanged"
}
