package mission

import (
	"context"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/notify"
)

// TestTarget is the audit target type of a mission test.
const TestTarget = "mission_test"

// TestLink is the page of one test, the link of its notifications.
func TestLink(missionID, testID uuid.UUID) string {
	return "/missions/" + missionID.String() + "/tests/" + testID.String()
}

// Steps runs the steps of a mission's tests (start, stop, saves, release,
// review, set aside, reopen) the same way for every caller — the web
// pages and the demo — so each step leaves its audit record, its live
// event and its notifications, all in the step's own transaction.
type Steps struct {
	client   *ent.Client
	notifier *notify.Notifier
}

// NewSteps returns the steps runner writing through client and notifying
// through notifier.
func NewSteps(client *ent.Client, notifier *notify.Notifier) *Steps {
	return &Steps{client: client, notifier: notifier}
}

// Run runs change (a workflow of this package, given the transaction's
// client) on test t in one transaction, records the audit event action
// in it, and announces the change. t is the test as the actor saw it
// before the step: its name labels the audit record and its executor and
// release decide who is notified of a review.
func (s *Steps) Run(ctx context.Context, a *Access, t *ent.MissionTest, action string,
	change func(client *ent.Client) error) error {
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := change(tx.Client()); err != nil {
			return err
		}
		if action != "" {
			if err := audit.Record(ctx, tx.AuditEvent, TestEvent(a, t, action)); err != nil {
				return err
			}
		}
		return s.announce(ctx, tx, a, t, action)
	})
}

// TestEvent is the audit event of action on test t.
func TestEvent(a *Access, t *ent.MissionTest, action string) audit.Event {
	return audit.Event{
		Action: action, TargetType: TestTarget, TargetID: t.ID.String(), TargetLabel: t.Name,
		Details: map[string]any{"mission_id": a.Mission.ID.String(), "mission": a.Mission.Name},
	}
}

// announce tells the open pages that a test changed (with whether it is
// now released, so blue pages only hear of released tests) and, for the
// steps that concern others, notifies them: a release the blue members,
// an execution the leads, a review the red member who ran the test and
// the blue members. Nobody is notified of their own action.
func (s *Steps) announce(ctx context.Context, tx *ent.Tx, a *Access, t *ent.MissionTest, action string) error {
	if err := live.PublishTest(ctx, tx, t.ID, a.Viewer.UserID); err != nil {
		return err
	}
	var (
		kind     notify.Kind
		titleKey string
		roles    []string
		extra    []uuid.UUID
	)
	switch action {
	case audit.MissionTestReleased:
		kind, titleKey, roles = notify.TestReleased, "notify.title.test_released", []string{"blue"}
	case audit.MissionTestStopped:
		kind, titleKey, roles = notify.TestExecuted, "notify.title.test_executed", []string{"lead"}
	case audit.MissionTestReviewed:
		kind, titleKey, roles = notify.TestReviewed, "notify.title.test_reviewed", []string{"blue"}
		if t.ExecutedByID != nil && *t.ExecutedByID != a.Viewer.UserID {
			extra = append(extra, *t.ExecutedByID)
		}
		if !t.ReleasedToBlue {
			roles = nil // blue members do not know of the test yet
		}
	default:
		return nil
	}
	var recipients []uuid.UUID
	if len(roles) > 0 {
		var err error
		if recipients, err = notify.Members(ctx, tx, a.Mission.ID, a.Viewer.UserID, roles...); err != nil {
			return err
		}
	}
	_, err := s.notifier.Send(ctx, tx, notify.Message{
		Kind: kind, TitleKey: titleKey, TitleArgs: []any{"Test", t.Name, "Mission", a.Mission.Name},
		Link: TestLink(a.Mission.ID, t.ID), MissionID: a.Mission.ID,
	}, append(recipients, extra...)...)
	return err
}
