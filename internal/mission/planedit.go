package mission

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missioncategory"
	"violet/ent/missiontest"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/live"
)

// Plan changes: a lead (or a holder of mission.manage) reorders the tests
// of a scenario, files a test under a category, removes a test or writes a
// new one from scratch. Each change is one transaction with its audit
// event. The role is checked here, in Go, before anything runs; the writes
// then run as the system, because moving positions and soft deletes are
// bulk changes the mission test privacy policy keeps for the workflows
// (internal/auth/rule/mission.go).

// ErrNoCategory is a category that is not one of the mission's (or was
// deleted): the request named something the page no longer offers
// (invalid input, 422).
var ErrNoCategory = fmt.Errorf("%w: no such category in this mission", app.ErrInvalid)

// Audit target of plan changes.
const targetMission = "mission"

// planChange checks that the viewer may change the plan, then runs fn as
// the system in one transaction, with the mission's row locked so that two
// plan changes at once apply one after the other, and records a
// mission.plan_changed event with details.
func planChange(ctx context.Context, client *ent.Client, a *Access, details map[string]any,
	fn func(sys context.Context, tx *ent.Tx) error) error {
	if err := a.check(a.CanManage()); err != nil {
		return err
	}
	sys := rule.SystemContext(ctx)
	return database.WithTx(sys, client, func(tx *ent.Tx) error {
		if _, _, err := NextPositions(sys, tx, a.Mission.ID); err != nil {
			return err
		}
		if err := fn(sys, tx); err != nil {
			return err
		}
		return recordPlanChange(sys, tx, a, details)
	})
}

// recordPlanChange writes a plan change's audit event and tells the
// mission's open pages.
func recordPlanChange(sys context.Context, tx *ent.Tx, a *Access, details map[string]any) error {
	if err := audit.Record(sys, tx.AuditEvent, planEvent(a, details)); err != nil {
		return err
	}
	return publishPlan(sys, tx, a)
}

// planEvent is the audit event of a plan change with its details.
func planEvent(a *Access, details map[string]any) audit.Event {
	return audit.Event{
		Action: audit.MissionPlanChanged, TargetType: targetMission,
		TargetID: a.Mission.ID.String(), TargetLabel: a.Mission.Name, Details: details,
	}
}

// publishPlan tells the mission's open pages that its plan changed.
func publishPlan(sys context.Context, tx *ent.Tx, a *Access) error {
	return live.Publish(sys, tx, live.Event{Kind: live.KindPlan, MissionID: a.Mission.ID, ActorID: a.Viewer.UserID})
}

// planTest reads one live test of the mission inside a plan change.
func planTest(sys context.Context, tx *ent.Tx, missionID, testID uuid.UUID) (*ent.MissionTest, error) {
	return tx.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(missionID)).Only(sys)
}

// MoveTest moves a test one place up (delta < 0) or down (delta > 0) among
// the tests of its scenario (or among the tests outside any scenario): it
// swaps positions with its neighbour. At either end it changes nothing.
func MoveTest(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, delta int) error {
	if delta == 0 {
		return nil
	}
	details := map[string]any{"change": "move", "test_id": testID.String(), "delta": delta}
	return planChange(ctx, client, a, details, func(sys context.Context, tx *ent.Tx) error {
		t, err := planTest(sys, tx, a.Mission.ID, testID)
		if err != nil {
			return err
		}
		q := tx.MissionTest.Query().Where(missiontest.MissionID(a.Mission.ID))
		if t.MissionScenarioID == nil {
			q.Where(missiontest.MissionScenarioIDIsNil())
		} else {
			q.Where(missiontest.MissionScenarioID(*t.MissionScenarioID))
		}
		// Positions may repeat (old data, concurrent appends): the id
		// breaks ties, so the order on screen and here is the same.
		if delta < 0 {
			q.Where(missiontest.Or(missiontest.PositionLT(t.Position),
				missiontest.And(missiontest.Position(t.Position), missiontest.IDLT(t.ID)))).
				Order(ent.Desc(missiontest.FieldPosition), ent.Desc(missiontest.FieldID))
		} else {
			q.Where(missiontest.Or(missiontest.PositionGT(t.Position),
				missiontest.And(missiontest.Position(t.Position), missiontest.IDGT(t.ID)))).
				Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID))
		}
		n, err := q.First(sys)
		if ent.IsNotFound(err) {
			return nil // already first or last
		}
		if err != nil {
			return fmt.Errorf("find the neighbour: %w", err)
		}
		if t.Position == n.Position {
			// Equal positions: step past the neighbour.
			step := 1
			if delta < 0 {
				step = -1
			}
			return tx.MissionTest.UpdateOneID(t.ID).SetPosition(t.Position + step).Exec(sys)
		}
		pt, pn := t.Position, n.Position
		if err := tx.MissionTest.UpdateOneID(t.ID).SetPosition(pn).Exec(sys); err != nil {
			return fmt.Errorf("move test: %w", err)
		}
		if err := tx.MissionTest.UpdateOneID(n.ID).SetPosition(pt).Exec(sys); err != nil {
			return fmt.Errorf("move neighbour: %w", err)
		}
		return nil
	})
}

// SetCategory files a test under one of the mission's categories, or under
// none when categoryID is nil. A category of another mission, or a deleted
// one, is ErrNoCategory.
func SetCategory(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, categoryID *uuid.UUID) error {
	details := map[string]any{"change": "category", "test_id": testID.String()}
	if categoryID != nil {
		details["category_id"] = categoryID.String()
	}
	return planChange(ctx, client, a, details, func(sys context.Context, tx *ent.Tx) error {
		if _, err := planTest(sys, tx, a.Mission.ID, testID); err != nil {
			return err
		}
		if err := checkCategory(sys, tx, a, categoryID); err != nil {
			return err
		}
		return fileUnder(sys, tx, testID, categoryID)
	})
}

// checkCategory refuses a category that is not one of the mission's live
// ones (ErrNoCategory); nil (no category) is always allowed.
func checkCategory(sys context.Context, tx *ent.Tx, a *Access, categoryID *uuid.UUID) error {
	if categoryID == nil {
		return nil
	}
	ok, err := tx.MissionCategory.Query().
		Where(missioncategory.ID(*categoryID), missioncategory.MissionID(a.Mission.ID)).Exist(sys)
	if err != nil {
		return fmt.Errorf("find category: %w", err)
	}
	if !ok {
		return ErrNoCategory
	}
	return nil
}

// fileUnder files a test under a checked category, or under none.
func fileUnder(sys context.Context, tx *ent.Tx, testID uuid.UUID, categoryID *uuid.UUID) error {
	u := tx.MissionTest.UpdateOneID(testID)
	if categoryID == nil {
		u.ClearCategoryID()
	} else {
		u.SetCategoryID(*categoryID)
	}
	return u.Exec(sys)
}

// RemoveTest takes a test out of the plan (soft delete: an admin may
// restore it from the trash, with everything recorded on it).
func RemoveTest(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID) error {
	details := map[string]any{"change": "remove", "test_id": testID.String()}
	return planChange(ctx, client, a, details, func(sys context.Context, tx *ent.Tx) error {
		t, err := planTest(sys, tx, a.Mission.ID, testID)
		if err != nil {
			return err
		}
		details["test"] = t.Name
		return removeFromPlan(sys, tx, testID)
	})
}

// removeFromPlan soft-deletes a test (the single remove and the bulk one).
func removeFromPlan(sys context.Context, tx *ent.Tx, testID uuid.UUID) error {
	return tx.MissionTest.DeleteOneID(testID).Exec(sys)
}

// AddNewTest writes a test from scratch at the end of the plan, outside
// any scenario, and returns its id.
func AddNewTest(ctx context.Context, client *ent.Client, a *Access, name, description string) (uuid.UUID, error) {
	var id uuid.UUID
	details := map[string]any{"change": "add", "test": name}
	err := planChange(ctx, client, a, details, func(sys context.Context, tx *ent.Tx) error {
		_, pos, err := NextPositions(sys, tx, a.Mission.ID)
		if err != nil {
			return err
		}
		t, err := tx.MissionTest.Create().SetMissionID(a.Mission.ID).SetPosition(pos).
			SetName(name).SetDescription(description).Save(sys)
		if err != nil {
			return fmt.Errorf("create test: %w", err)
		}
		id = t.ID
		details["test_id"] = id.String()
		return nil
	})
	return id, err
}
