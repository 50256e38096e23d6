package mission

import (
	"context"
	"errors"
	"fmt"

	"violet/ent"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/predicate"
	"violet/internal/auth/rule"
)

// Status transitions of a mission: draft → planned → in_progress →
// completed → archived, plus reopening a completed mission (back to
// in_progress) and an archived one (back to completed). Only leads and
// holders of mission.manage move a mission.

// ErrTransition is a status change the rules refuse, with the reason.
type ErrTransition struct{ Reason string }

func (e *ErrTransition) Error() string { return e.Reason }

// Next lists the statuses a mission may move to from status.
func Next(status mission.Status) []mission.Status {
	switch status {
	case mission.StatusDraft:
		return []mission.Status{mission.StatusPlanned}
	case mission.StatusPlanned:
		return []mission.Status{mission.StatusDraft, mission.StatusInProgress}
	case mission.StatusInProgress:
		return []mission.Status{mission.StatusCompleted}
	case mission.StatusCompleted:
		return []mission.Status{mission.StatusInProgress, mission.StatusArchived}
	case mission.StatusArchived:
		return []mission.Status{mission.StatusCompleted}
	}
	return nil
}

// Transition moves the mission to status to, when the rules allow it:
//   - planned needs at least one test and a lead;
//   - in_progress needs a red member or lead to run the tests;
//   - completed needs every test finished (reviewed, skipped or blocked);
//   - archived, reopening and back-to-draft need nothing more.
func Transition(ctx context.Context, client *ent.Client, a *Access, to mission.Status) error {
	if !a.CanManage() {
		return ErrForbidden
	}
	from := a.Mission.Status
	allowed := false
	for _, s := range Next(from) {
		allowed = allowed || s == to
	}
	if !allowed {
		return &ErrTransition{Reason: fmt.Sprintf("a %s mission cannot become %s", from, to)}
	}
	sys := rule.SystemContext(ctx)
	tests := client.MissionTest.Query().Where(missiontest.MissionID(a.Mission.ID))
	switch to {
	case mission.StatusPlanned:
		if n, err := tests.Clone().Count(sys); err != nil {
			return err
		} else if n == 0 {
			return &ErrTransition{Reason: "plan at least one test first"}
		}
		if n, err := client.MissionMember.Query().Where(missionmemberIs(a, "lead")...).Count(sys); err != nil {
			return err
		} else if n == 0 {
			return &ErrTransition{Reason: "give the mission a lead first"}
		}
	case mission.StatusInProgress:
		if from == mission.StatusPlanned {
			if n, err := client.MissionMember.Query().Where(missionmemberIs(a, "red", "lead")...).Count(sys); err != nil {
				return err
			} else if n == 0 {
				return &ErrTransition{Reason: "add a red team member first"}
			}
		}
	case mission.StatusCompleted:
		if from == mission.StatusInProgress {
			open, err := tests.Clone().Where(missiontest.StateNotIn(missiontest.StateReviewed, missiontest.StateSkipped,
				missiontest.StateBlocked)).Count(sys)
			if err != nil {
				return err
			}
			if open > 0 {
				return &ErrTransition{Reason: fmt.Sprintf("%d test(s) are not reviewed, skipped or blocked yet", open)}
			}
		}
	}
	n, err := client.Mission.Update().Where(mission.ID(a.Mission.ID), mission.StatusEQ(from)).
		SetStatus(to).AddVersion(1).Save(sys)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrConflict
	}
	a.Mission.Status = to
	return nil
}

// IsTransition reports whether err is a refused transition.
func IsTransition(err error) bool {
	var t *ErrTransition
	return errors.As(err, &t)
}

func missionmemberIs(a *Access, roles ...string) []predicate.MissionMember {
	rs := make([]missionmember.Role, len(roles))
	for i, r := range roles {
		rs[i] = missionmember.Role(r)
	}
	return []predicate.MissionMember{missionmember.MissionID(a.Mission.ID), missionmember.RoleIn(rs...)}
}
