package handlers

import (
	"context"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/attack"
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
