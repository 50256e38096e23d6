package mission

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mission"
	"violet/ent/missiontest"
)

// A test's state machine:
//
//	pending → running (start) → executed (stop) → reviewed (review)
//	pending/running → skipped or blocked, with a reason
//	reviewed → executed, skipped/blocked → pending (reopen, by a lead)
//
// Every change carries the version the person saw; a save of an older
// version is refused with ErrConflict and changes nothing. The saves run
// with the viewer's context, so the field-level privacy rules apply too.

// ErrState is an action the test's current state does not allow.
type ErrState struct{ From, Action string }

func (e *ErrState) Error() string { return "a " + e.From + " test cannot be " + e.Action }

// ErrNotInProgress refuses starting a test while its mission is not in
// progress (a draft, planned or completed mission): 409 like any refused
// state change. The mission's status is the one the request loaded.
var ErrNotInProgress = &ErrState{From: "pending", Action: "started while the mission is not in progress"}

// IsState reports whether err is a refused state change.
func IsState(err error) bool {
	var s *ErrState
	return errors.As(err, &s)
}

// RedFields are what the red team records about a run.
type RedFields struct {
	Command    string
	SourceHost string
	TargetHost string
	Notes      string
	StartedAt  *time.Time
	EndedAt    *time.Time
}

// BlueFields are what the blue team records about a detection.
type BlueFields struct {
	DetectionLevelID *uuid.UUID
	DetectedAt       *time.Time
	AlertName        string
	LogSource        string
	Notes            string
}

// Changes reports whether saving f would change t's red record, as SaveRed
// saves it (hosts trimmed, times only when given): a step pressed with
// the red fields unchanged records no save.
func (f RedFields) Changes(t *ent.MissionTest) bool {
	return f.Command != t.Command || strings.TrimSpace(f.SourceHost) != t.SourceHost ||
		strings.TrimSpace(f.TargetHost) != t.TargetHost || f.Notes != t.RedNotes ||
		(f.StartedAt != nil && (t.StartedAt == nil || !f.StartedAt.Equal(*t.StartedAt))) ||
		(f.EndedAt != nil && (t.EndedAt == nil || !f.EndedAt.Equal(*t.EndedAt)))
}

// DetectionSkew is how far ahead of the server's clock a detection time
// may be. The times are typed to the minute from another system's clock
// (the SIEM's, the EDR console's), so a few minutes of difference are
// normal; five minutes is the tolerance Kerberos uses for the same reason,
// and it stays well below the smallest offset of a time zone from UTC
// (30 minutes), so a local time typed as UTC east of Greenwich is still
// refused.
const DetectionSkew = 5 * time.Minute

// Refused detection times (422, next to the field).
var (
	ErrDetectedBeforeStart = errors.New("the detection cannot be before the test started")
	ErrDetectedInFuture    = errors.New("the detection cannot be in the future")
)

// CheckDetectedAt applies the rule for a detection time: not before the
// run started (to the minute, as the time is typed), not later than now
// plus DetectionSkew. A test not started yet has no lower bound.
func CheckDetectedAt(at time.Time, startedAt *time.Time, now time.Time) error {
	if startedAt != nil && at.Before(startedAt.Truncate(time.Minute)) {
		return ErrDetectedBeforeStart
	}
	if at.After(now.Add(DetectionSkew)) {
		return ErrDetectedInFuture
	}
	return nil
}

// update applies a change to one test at the version the person saw;
// check, when given, refuses the change from the test as stored.
func update(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int,
	allowed bool, from []missiontest.State, action string, check func(*ent.MissionTest) error,
	set func(*ent.MissionTestUpdateOne)) (int, error) {
	if err := a.check(allowed); err != nil {
		return 0, err
	}
	t, err := client.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).Only(ctx)
	if err != nil {
		return 0, err // not found, or not visible to this viewer
	}
	if t.Version != version {
		return 0, ErrConflict
	}
	if from != nil && !contains(from, t.State) {
		return 0, &ErrState{From: string(t.State), Action: action}
	}
	if check != nil {
		if err := check(t); err != nil {
			return 0, err
		}
	}
	u := client.MissionTest.UpdateOneID(testID).Where(missiontest.Version(version)).AddVersion(1)
	set(u)
	if err := u.Exec(ctx); err != nil {
		if ent.IsNotFound(err) {
			return 0, ErrConflict // saved by someone else in between
		}
		return 0, err
	}
	return version + 1, nil
}

func contains(list []missiontest.State, s missiontest.State) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Start records the start of a run (red), only in a mission in progress
// (ErrNotInProgress).
func Start(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int, now time.Time) (int, error) {
	inProgress := func(*ent.MissionTest) error {
		if a.Mission.Status != mission.StatusInProgress {
			return ErrNotInProgress
		}
		return nil
	}
	return update(ctx, client, a, testID, version, a.CanWriteRed(), []missiontest.State{missiontest.StatePending}, "started", inProgress,
		func(u *ent.MissionTestUpdateOne) {
			u.SetState(missiontest.StateRunning).SetStartedAt(now).SetExecutedByID(a.Viewer.UserID)
		})
}

// Stop records the end of a run (red).
func Stop(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int, now time.Time) (int, error) {
	return update(ctx, client, a, testID, version, a.CanWriteRed(), []missiontest.State{missiontest.StateRunning}, "stopped", nil,
		func(u *ent.MissionTestUpdateOne) { u.SetState(missiontest.StateExecuted).SetEndedAt(now) })
}

// SaveRed saves the red side's record of a test.
func SaveRed(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int, f RedFields) (int, error) {
	return update(ctx, client, a, testID, version, a.CanWriteRed(), nil, "edited", nil,
		func(u *ent.MissionTestUpdateOne) {
			u.SetCommand(f.Command).SetSourceHost(strings.TrimSpace(f.SourceHost)).
				SetTargetHost(strings.TrimSpace(f.TargetHost)).SetRedNotes(f.Notes)
			if f.StartedAt != nil {
				u.SetStartedAt(*f.StartedAt)
			}
			if f.EndedAt != nil {
				u.SetEndedAt(*f.EndedAt)
			}
		})
}

// Release makes a test visible to the blue team (red or lead).
func Release(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int) (int, error) {
	return update(ctx, client, a, testID, version, a.CanWriteRed(), nil, "released", nil,
		func(u *ent.MissionTestUpdateOne) { u.SetReleasedToBlue(true) })
}

// SaveBlue saves the blue side's single record of a released test, as it
// was before outcomes per tool: it becomes the test's outcome without a
// tool (outcomes.go; removed when f records nothing), from which the
// overall result is derived with the tools' outcomes, at the test's
// version the person saw. A detection time is checked against the run's
// start as stored and against now (see CheckDetectedAt). The test's row
// is locked like every outcome change's.
func SaveBlue(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int, f BlueFields, now time.Time) (int, error) {
	if err := a.check(a.CanWriteBlue()); err != nil {
		return 0, err
	}
	t, err := client.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).
		ForUpdate().Only(ctx)
	if err != nil {
		return 0, err // not found, or not visible to this viewer
	}
	if !t.ReleasedToBlue {
		return 0, ErrNotReleased // leads see unreleased tests; the blue side waits for the release
	}
	if t.Version != version {
		return 0, ErrConflict
	}
	if f.DetectedAt != nil {
		if err := CheckDetectedAt(*f.DetectedAt, t.StartedAt, now); err != nil {
			return 0, err
		}
	}
	o, err := outcomeOf(ctx, client, t.ID, nil)
	if err != nil {
		return 0, err
	}
	if _, err := writeOutcome(ctx, client, a, t.ID, nil, o, f); err != nil {
		return 0, err
	}
	return deriveOverall(ctx, client, t)
}

// Review closes an executed test (lead).
func Review(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int, now time.Time) (int, error) {
	return update(ctx, client, a, testID, version, a.CanReview(), []missiontest.State{missiontest.StateExecuted}, "reviewed", nil,
		func(u *ent.MissionTestUpdateOne) {
			u.SetState(missiontest.StateReviewed).SetReviewedByID(a.Viewer.UserID).SetReviewedAt(now)
		})
}

// SetAside marks a test skipped or blocked, with the reason (red or lead).
func SetAside(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int, to missiontest.State, reason string) (int, error) {
	if to != missiontest.StateSkipped && to != missiontest.StateBlocked {
		return 0, &ErrState{From: "test", Action: string(to)}
	}
	return update(ctx, client, a, testID, version, a.CanWriteRed(),
		[]missiontest.State{missiontest.StatePending, missiontest.StateRunning}, string(to), nil,
		func(u *ent.MissionTestUpdateOne) { u.SetState(to).SetStateReason(strings.TrimSpace(reason)) })
}

// Reopen takes a reviewed test back to executed, and a skipped or blocked
// one back to pending (lead).
func Reopen(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, version int) (int, error) {
	t, err := client.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).Only(ctx)
	if err != nil {
		return 0, err
	}
	to := missiontest.StateExecuted
	if t.State == missiontest.StateSkipped || t.State == missiontest.StateBlocked {
		to = missiontest.StatePending
	}
	return update(ctx, client, a, testID, version, a.CanReview(),
		[]missiontest.State{missiontest.StateReviewed, missiontest.StateSkipped, missiontest.StateBlocked}, "reopened", nil,
		func(u *ent.MissionTestUpdateOne) {
			u.SetState(to).SetStateReason("")
			if to == missiontest.StateExecuted {
				u.ClearReviewedByID().ClearReviewedAt()
			}
		})
}
