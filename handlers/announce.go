package handlers

import (
	"context"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/attack"
	"violet/internal/audit"
	"violet/internal/live"
	"violet/internal/mission"
	"violet/internal/notify"
	"violet/views/missions"
)

// Announcements: what a change tells the people concerned, written in the
// change's own transaction so it is delivered exactly when the change
// commits — live events for the open pages (internal/live) and
// notifications for the people it concerns (internal/notify). Nobody is
// notified of their own action.

// announceMission tells the mission's open pages that it changed.
func (s *Server) announceMission(ctx context.Context, tx *ent.Tx, a *mission.Access, kind live.Kind) error {
	return live.Publish(ctx, tx, live.Event{Kind: kind, MissionID: a.Mission.ID, ActorID: a.Viewer.UserID})
}

// announceMissionStatus tells the open pages and notifies every other
// member of the mission's new status.
func (s *Server) announceMissionStatus(ctx context.Context, tx *ent.Tx, a *mission.Access, to string) error {
	if err := s.announceMission(ctx, tx, a, live.KindMission); err != nil {
		return err
	}
	members, err := notify.Members(ctx, tx, a.Mission.ID, a.Viewer.UserID)
	if err != nil {
		return err
	}
	_, err = s.Notifier.Send(ctx, tx, notify.Message{
		Kind: notify.MissionStatus, TitleKey: "notify.title.status_changed",
		TitleArgs: []any{"Mission", a.Mission.Name,
			"Status", notify.Localized(func(ctx context.Context) string { return missions.StatusLabel(ctx, to) })},
		Link: "/missions/" + a.Mission.ID.String(), MissionID: a.Mission.ID,
	}, members...)
	return err
}

// announceMemberAdded notifies the person added to the mission.
func (s *Server) announceMemberAdded(ctx context.Context, tx *ent.Tx, a *mission.Access, userID uuid.UUID, role string) error {
	if userID == a.Viewer.UserID {
		return nil
	}
	_, err := s.Notifier.Send(ctx, tx, notify.Message{
		Kind: notify.MemberAdded, TitleKey: "notify.title.member_added",
		TitleArgs: []any{"Mission", a.Mission.Name,
			"Role", notify.Localized(func(ctx context.Context) string { return missions.RoleLabel(ctx, role) })},
		Link: "/missions/" + a.Mission.ID.String(), MissionID: a.Mission.ID,
	}, userID)
	return err
}

// announceTestChange tells the open pages that a test changed (with
// whether it is now released, so blue pages only hear of released tests)
// and, for the steps that concern others, notifies them: a release the
// blue members, an execution the leads, a review the red member who ran
// the test and the blue members.
func (s *Server) announceTestChange(ctx context.Context, tx *ent.Tx, a *mission.Access, t *ent.MissionTest, action string) error {
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
	_, err := s.Notifier.Send(ctx, tx, notify.Message{
		Kind: kind, TitleKey: titleKey, TitleArgs: []any{"Test", t.Name, "Mission", a.Mission.Name},
		Link: missionTestURL(a.Mission.ID, t.ID), MissionID: a.Mission.ID,
	}, append(recipients, extra...)...)
	return err
}

// announceSyncFinished notifies the person who started an ATT&CK sync
// that it ended (counts is nil when it failed); command-line syncs have
// nobody to tell.
func (s *Server) announceSyncFinished(ctx context.Context, tx *ent.Tx, job *ent.AttackSync, counts *attack.Counts) error {
	if job.StartedByID == nil {
		return nil
	}
	m := notify.Message{Kind: notify.SyncFinished, TitleKey: "notify.title.sync_failed",
		Link: "/admin/attack-sync/" + job.ID.String()}
	if counts != nil {
		m.TitleKey, m.TitleArgs = "notify.title.sync_succeeded", []any{"Added", counts.Added, "Updated", counts.Updated}
	}
	_, err := s.Notifier.Send(ctx, tx, m, *job.StartedByID)
	return err
}
