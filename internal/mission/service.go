package mission

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/live"
	"violet/internal/notify"
	"violet/internal/paths"
	missionviews "violet/views/missions"
)

// Service runs the use cases of a mission — create, edit, status, delete,
// restore, members, categories, plan — each as one method that opens its
// own transaction, checks the viewer's role once (the viewer is the
// context's, as the ent privacy rules expect), and writes the change with
// its audit record, its live event and its notifications in that same
// transaction (docs/ARCHITECTURE.md, "A workflow"). The steps of a test
// are Steps'. The package functions these methods call (Transition,
// AddMember, AddCategory…) are the rules alone, on a transaction's client.
type Service struct {
	client   *ent.Client
	notifier *notify.Notifier
}

// NewService returns the workflows writing through client and notifying
// through notifier.
func NewService(client *ent.Client, notifier *notify.Notifier) *Service {
	return &Service{client: client, notifier: notifier}
}

// Link is the page of a mission, the link of its notifications.
func Link(missionID uuid.UUID) string { return paths.URL(paths.Mission, missionID) }

// missionEvent is the audit event of action on a's mission.
func missionEvent(a *Access, action string, details map[string]any) audit.Event {
	return audit.Event{Action: action, TargetType: targetMission, TargetID: a.Mission.ID.String(),
		TargetLabel: a.Mission.Name, Details: details}
}

// refused joins a rule's error with the message key a form shows for it
// (422): errors.Is still finds the rule's error.
func refused(err error, key string) error {
	return errors.Join(&app.Invalid{Key: key}, err)
}

// Announcements: what a change tells the people concerned, written in the
// change's own transaction so it is delivered exactly when the change
// commits — live events for the open pages (internal/live) and
// notifications for the people it concerns (internal/notify). Nobody is
// notified of their own action.

// announce tells the mission's open pages that it changed.
func announce(ctx context.Context, tx *ent.Tx, a *Access, kind live.Kind) error {
	return live.Publish(ctx, tx, live.Event{Kind: kind, MissionID: a.Mission.ID, ActorID: a.Viewer.UserID})
}

// announceStatus tells the open pages and notifies every other member of
// the mission's new status.
func (s *Service) announceStatus(ctx context.Context, tx *ent.Tx, a *Access, to string) error {
	if err := announce(ctx, tx, a, live.KindMission); err != nil {
		return err
	}
	members, err := notify.Members(ctx, tx, a.Mission.ID, a.Viewer.UserID)
	if err != nil {
		return err
	}
	_, err = s.notifier.Send(ctx, tx, notify.Message{
		Kind: notify.MissionStatus, TitleKey: "notify.title.status_changed",
		TitleArgs: []any{"Mission", a.Mission.Name,
			"Status", notify.Key(missionviews.StatusKey(to))},
		Link: Link(a.Mission.ID), MissionID: a.Mission.ID,
	}, members...)
	return err
}

// announceMemberAdded notifies the person added to the mission.
func (s *Service) announceMemberAdded(ctx context.Context, tx *ent.Tx, a *Access, userID uuid.UUID, role string) error {
	if userID == a.Viewer.UserID {
		return nil
	}
	_, err := s.notifier.Send(ctx, tx, notify.Message{
		Kind: notify.MemberAdded, TitleKey: "notify.title.member_added",
		TitleArgs: []any{"Mission", a.Mission.Name,
			"Role", notify.Key(missionviews.RoleKey(role))},
		Link: Link(a.Mission.ID), MissionID: a.Mission.ID,
	}, userID)
	return err
}
