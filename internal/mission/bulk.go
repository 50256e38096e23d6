package mission

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/predicate"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/notify"
	"violet/internal/paths"
)

// Bulk actions of the mission overview: a lead selects tests and applies
// one action to all of them in one transaction. Each test is checked on
// its own — against the version the page showed and against the rule of
// the single action (SetAside, Release, checkCategory/fileUnder,
// removeFromPlan) — and a test refused is reported and left unchanged
// while the others are applied. Each applied change leaves the audit
// record of the single action, with "bulk" in its details.
const (
	BulkSkip     = "skip"
	BulkRelease  = "release"
	BulkCategory = "category"
	BulkAssign   = "assign"
	BulkRemove   = "remove"
)

// BulkMax is the most tests one bulk action takes: a mission of a
// two-week engagement plans a few hundred tests, and one transaction
// holding the mission's row stays well under a second at this size.
const BulkMax = 500

// Why a test of a bulk action was left unchanged.
const (
	RefusedStale     = "stale"     // changed by someone else since the page showed it
	RefusedGone      = "gone"      // no longer in the plan (or not visible)
	RefusedState     = "state"     // its state does not allow the action (BulkRefusal.State)
	RefusedUnchanged = "unchanged" // it already is as asked
)

// BulkItem is one selected test with the version the page showed.
type BulkItem struct {
	TestID  uuid.UUID
	Version int
}

// BulkInput is a bulk action as the overview sends it.
type BulkInput struct {
	Action   string
	Items    []BulkItem
	Reason   string     // skip: required
	Category *uuid.UUID // category: nil files the tests under none
	Assignee *uuid.UUID // assign: nil leaves the tests unassigned
}

// BulkRefusal is a test a bulk action left unchanged, and why.
type BulkRefusal struct {
	TestID uuid.UUID
	Name   string // "" when the test is gone
	Reason string // one of the Refused… constants
	State  string // the test's state, for RefusedState
}

// BulkResult is what a bulk action did.
type BulkResult struct {
	Action  string
	Applied int
	Refused []BulkRefusal
}

// IsRedRole reports whether a mission role runs tests (may be assigned
// one): the red team and the leads, as Access.CanWriteRed allows.
func IsRedRole(role string) bool { return role == rule.RoleRed || role == rule.RoleLead }

// checkAssignee refuses an assignee who is not a member of the mission
// with a red role (an *app.Invalid next to the field).
func checkAssignee(sys context.Context, c *ent.Client, a *Access, userID uuid.UUID) error {
	ok, err := c.MissionMember.Query().Where(missionmember.MissionID(a.Mission.ID), missionmember.UserID(userID),
		missionmember.RoleIn(missionmember.RoleRed, missionmember.RoleLead)).Exist(sys)
	if err != nil {
		return fmt.Errorf("find assignee: %w", err)
	}
	if !ok {
		return app.Invalidf("assignee", "queues.bulk.assignee_not_red")
	}
	return nil
}

// checkBulk validates what does not depend on one test: the viewer may
// change the plan (the same rule as the plan's single changes), the
// action, the selection's size, the skip's reason.
func checkBulk(a *Access, in *BulkInput) error {
	if err := a.check(a.CanManage()); err != nil {
		return err
	}
	switch in.Action {
	case BulkSkip:
		reason, err := checkReason(in.Reason)
		if err != nil {
			return err
		}
		in.Reason = reason
	case BulkRelease, BulkCategory, BulkAssign, BulkRemove:
	default:
		return app.Invalidf("action", "queues.bulk.action_invalid")
	}
	switch {
	case len(in.Items) == 0:
		return &app.Invalid{Key: "queues.bulk.none_selected"}
	case len(in.Items) > BulkMax:
		return &app.Invalid{Key: "queues.bulk.too_many"}
	}
	return nil
}

// Bulk applies one action to the selected tests of a's mission in one
// transaction (see the constants above). Input the action cannot run
// with (an unknown action, no selection, more than BulkMax tests, a
// missing reason, a category or assignee the mission does not have) is
// an *app.Invalid and changes nothing; a viewer who may not change the
// plan gets ErrForbidden, an archived mission ErrReadOnly.
func (s *Steps) Bulk(ctx context.Context, a *Access, in BulkInput) (BulkResult, error) {
	res := BulkResult{Action: in.Action}
	if err := checkBulk(a, &in); err != nil {
		return res, err
	}
	sys := rule.SystemContext(ctx)
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		res.Applied, res.Refused = 0, nil
		// The mission's row, locked as for every plan change, so that bulk
		// and single plan changes apply one after the other.
		if _, _, err := NextPositions(sys, tx, a.Mission.ID); err != nil {
			return err
		}
		switch in.Action {
		case BulkCategory:
			if err := checkCategory(sys, tx, a, in.Category); errors.Is(err, ErrNoCategory) {
				return app.Invalidf("category", "queues.bulk.category_gone")
			} else if err != nil {
				return err
			}
		case BulkAssign:
			if in.Assignee != nil {
				if err := checkAssignee(sys, tx.Client(), a, *in.Assignee); err != nil {
					return err
				}
			}
		}
		ids := make([]uuid.UUID, len(in.Items))
		for i, it := range in.Items {
			ids[i] = it.TestID
		}
		// As the viewer sees them: a test they may not see is gone.
		// Locked until the end: a single step committing between this read
		// and a write below would otherwise go unseen by the version check
		// (plan changes do not bump a test's version).
		list, err := tx.MissionTest.Query().Where(missiontest.MissionID(a.Mission.ID),
			predicate.MissionTest(database.In(missiontest.FieldID, ids))).ForUpdate().All(ctx)
		if err != nil {
			return fmt.Errorf("load selected tests: %w", err)
		}
		tests := make(map[uuid.UUID]*ent.MissionTest, len(list))
		for _, t := range list {
			tests[t.ID] = t
		}
		seen := make(map[uuid.UUID]bool, len(in.Items))
		plan := false
		var stepped []*ent.MissionTest // tests changed by a step, announced at the end
		for _, it := range in.Items {
			if seen[it.TestID] {
				continue
			}
			seen[it.TestID] = true
			t := tests[it.TestID]
			switch {
			case t == nil:
				res.Refused = append(res.Refused, BulkRefusal{TestID: it.TestID, Reason: RefusedGone})
				continue
			case t.Version != it.Version:
				res.Refused = append(res.Refused, BulkRefusal{TestID: t.ID, Name: t.Name, Reason: RefusedStale})
				continue
			}
			refusal, planned, err := s.bulkOne(ctx, sys, tx, a, in, t)
			if err != nil {
				return err
			}
			if refusal != "" {
				res.Refused = append(res.Refused, BulkRefusal{TestID: t.ID, Name: t.Name, Reason: refusal, State: string(t.State)})
				continue
			}
			res.Applied++
			plan = plan || planned
			if !planned {
				stepped = append(stepped, t)
			}
		}
		if plan {
			if err := publishPlan(sys, tx, a); err != nil {
				return err
			}
		}
		return s.announceBulk(ctx, tx, a, in.Action, stepped)
	})
	if err != nil {
		return BulkResult{Action: in.Action}, err
	}
	return res, nil
}

// bulkOne applies the action to one test, read at the version the page
// showed, by the single action's rule. It returns why the test was left
// unchanged ("" when applied) and whether the change is a plan change
// (announced once for the whole action).
func (s *Steps) bulkOne(ctx, sys context.Context, tx *ent.Tx, a *Access, in BulkInput, t *ent.MissionTest) (string, bool, error) {
	c := tx.Client()
	switch in.Action {
	case BulkSkip:
		_, err := SetAside(ctx, c, a, t.ID, t.Version, missiontest.StateSkipped, in.Reason)
		if refusal, ok := refusalOf(err); ok {
			return refusal, false, nil
		} else if err != nil {
			return "", false, err
		}
		return "", false, s.recordBulk(ctx, tx, a, t, audit.MissionTestSetAside)
	case BulkRelease:
		if t.ReleasedToBlue {
			return RefusedUnchanged, false, nil
		}
		_, err := Release(ctx, c, a, t.ID, t.Version)
		if refusal, ok := refusalOf(err); ok {
			return refusal, false, nil
		} else if err != nil {
			return "", false, err
		}
		return "", false, s.recordBulk(ctx, tx, a, t, audit.MissionTestReleased)
	case BulkCategory:
		if sameID(t.CategoryID, in.Category) {
			return RefusedUnchanged, false, nil
		}
		if err := fileUnder(sys, tx, t.ID, in.Category); err != nil {
			return "", false, err
		}
		details := bulkPlanDetails("category", t)
		if in.Category != nil {
			details["category_id"] = in.Category.String()
		}
		return "", true, audit.Record(sys, tx.AuditEvent, planEvent(a, details))
	case BulkAssign:
		if sameID(t.AssigneeID, in.Assignee) {
			return RefusedUnchanged, false, nil
		}
		u := tx.MissionTest.UpdateOneID(t.ID)
		details := bulkPlanDetails("assign", t)
		if in.Assignee == nil {
			u.ClearAssigneeID()
		} else {
			u.SetAssigneeID(*in.Assignee)
			details["assignee_id"] = in.Assignee.String()
		}
		// As the system, like every plan change: the role was checked.
		if err := u.Exec(sys); err != nil {
			return "", false, fmt.Errorf("assign test: %w", err)
		}
		return "", true, audit.Record(sys, tx.AuditEvent, planEvent(a, details))
	case BulkRemove:
		if err := removeFromPlan(sys, tx, t.ID); err != nil {
			return "", false, err
		}
		return "", true, audit.Record(sys, tx.AuditEvent, planEvent(a, bulkPlanDetails("remove", t)))
	}
	return "", false, fmt.Errorf("bulk action %q", in.Action)
}

// refusalOf turns a single action's refusal of one test into the reason
// reported for it; other errors fail the whole bulk action.
func refusalOf(err error) (string, bool) {
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, ErrConflict):
		return RefusedStale, true
	case IsState(err):
		return RefusedState, true
	case ent.IsNotFound(err):
		return RefusedGone, true
	}
	return "", false
}

// recordBulk writes a test step's audit record, marked as bulk; the
// step is announced with the others at the end (announceBulk).
func (s *Steps) recordBulk(ctx context.Context, tx *ent.Tx, a *Access, t *ent.MissionTest, action string) error {
	ev := TestEvent(a, t, action)
	ev.Details["bulk"] = true
	return audit.Record(ctx, tx.AuditEvent, ev)
}

// announceBulk announces the tests a bulk step changed, once the changes
// are written: their live events in one statement (publishing takes the
// instance's publish lock until commit, so it comes last, not per test),
// then the notifications. One test is notified as the single step does;
// several released tests make one notification per blue member instead
// of one per test.
func (s *Steps) announceBulk(ctx context.Context, tx *ent.Tx, a *Access, action string, tests []*ent.MissionTest) error {
	if len(tests) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(tests))
	for i, t := range tests {
		ids[i] = t.ID
	}
	if err := live.PublishTests(ctx, tx, ids, a.Viewer.UserID); err != nil {
		return err
	}
	step := audit.MissionTestSetAside
	if action == BulkRelease {
		step = audit.MissionTestReleased
	}
	if len(tests) == 1 || step != audit.MissionTestReleased {
		for _, t := range tests {
			if err := s.notifyStep(ctx, tx, a, t, step); err != nil {
				return err
			}
		}
		return nil
	}
	recipients, err := notify.Members(ctx, tx, a.Mission.ID, a.Viewer.UserID, "blue")
	if err != nil {
		return err
	}
	_, err = s.notifier.Send(ctx, tx, notify.Message{
		Kind: notify.TestReleased, TitleKey: "notify.title.tests_released",
		TitleArgs: []any{"Count", len(tests), "Mission", a.Mission.Name},
		Link:      paths.Query(paths.URL(paths.Mission, a.Mission.ID), "queue", "blue"), MissionID: a.Mission.ID,
	}, recipients...)
	return err
}

// bulkPlanDetails are the details of one test's plan change in a bulk
// action, as the single change writes them plus "bulk".
func bulkPlanDetails(change string, t *ent.MissionTest) map[string]any {
	return map[string]any{"change": change, "test_id": t.ID.String(), "test": t.Name, "bulk": true}
}

func sameID(a, b *uuid.UUID) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
