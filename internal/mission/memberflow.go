package mission

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/identity"
	"violet/internal/live"
	missionviews "violet/views/missions"
)

// Member workflows: each change runs the rule of members.go in one
// transaction with its audit event (target: the mission) and the live
// event of the member list. A refusal the form shows next to the list
// (the last lead, a person already a member, a user gone) is an
// *app.Invalid with its message key, joined with the rule's error.

// AddMember gives an active user a role on a's mission and notifies them.
func (s *Service) AddMember(ctx context.Context, a *Access, userID uuid.UUID, role string) error {
	return s.changeMembers(ctx, a, func(tx *ent.Tx) (audit.Event, error) {
		m, err := AddMember(ctx, tx.Client(), a, userID, role)
		if ent.IsNotFound(err) {
			return audit.Event{}, &app.Invalid{Key: "missions.members.user_missing"}
		}
		if err != nil {
			return audit.Event{}, err
		}
		if err := s.announceMemberAdded(ctx, tx, a, userID, string(m.Role)); err != nil {
			return audit.Event{}, err
		}
		return audit.Event{Action: audit.MissionMemberAdded,
			Details: map[string]any{"user": memberLabel(ctx, tx, userID), "role": string(m.Role)}}, nil
	})
}

// ChangeMemberRole gives a member another role; the last lead keeps it.
func (s *Service) ChangeMemberRole(ctx context.Context, a *Access, userID uuid.UUID, role string) error {
	return s.changeMembers(ctx, a, func(tx *ent.Tx) (audit.Event, error) {
		m, old, err := ChangeRole(ctx, tx.Client(), a, userID, role)
		if err != nil {
			return audit.Event{}, err
		}
		details := map[string]any{"user": memberLabel(ctx, tx, userID), "from": old, "to": string(m.Role)}
		if !IsRedRole(string(m.Role)) {
			if err := unassign(ctx, tx, a, userID, details); err != nil {
				return audit.Event{}, err
			}
		}
		return audit.Event{Action: audit.MissionMemberChanged, Details: details}, nil
	})
}

// RemoveMember takes a person off the mission; the last lead stays.
func (s *Service) RemoveMember(ctx context.Context, a *Access, userID uuid.UUID) error {
	return s.changeMembers(ctx, a, func(tx *ent.Tx) (audit.Event, error) {
		m, err := RemoveMember(ctx, tx.Client(), a, userID)
		if err != nil {
			return audit.Event{}, err
		}
		details := map[string]any{"user": memberLabel(ctx, tx, userID), "role": string(m.Role)}
		if err := unassign(ctx, tx, a, userID, details); err != nil {
			return audit.Event{}, err
		}
		return audit.Event{Action: audit.MissionMemberRemoved, Details: details}, nil
	})
}

// changeMembers runs one member change (run returns its audit event) in
// a transaction with the event and the member list's live event.
func (s *Service) changeMembers(ctx context.Context, a *Access, run func(tx *ent.Tx) (audit.Event, error)) error {
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		e, err := run(tx)
		if err != nil {
			return err
		}
		e.TargetType, e.TargetID, e.TargetLabel = targetMission, a.Mission.ID.String(), a.Mission.Name
		if err := audit.Record(ctx, tx.AuditEvent, e); err != nil {
			return err
		}
		return announce(ctx, tx, a, live.KindMembers)
	})
	switch {
	case errors.Is(err, ErrLastLead):
		return refused(err, "missions.members.last_lead")
	case errors.Is(err, ErrAlreadyMember):
		return refused(err, "missions.members.already")
	}
	return err
}

// unassign clears userID's assignments in a's mission when they leave it
// or the red side: only red members are assigned, and a test assigned to
// someone who no longer runs tests would drop out of every red member's
// queue. The count goes into the member change's audit details, and the
// plan's live event refreshes the open lists.
func unassign(ctx context.Context, tx *ent.Tx, a *Access, userID uuid.UUID, details map[string]any) error {
	sys := rule.SystemContext(ctx) // the member change was allowed: its effect on the plan is too
	n, err := tx.MissionTest.Update().
		Where(missiontest.MissionID(a.Mission.ID), missiontest.AssigneeID(userID)).
		ClearAssigneeID().Save(sys)
	if err != nil {
		return fmt.Errorf("unassign the member's tests: %w", err)
	}
	if n == 0 {
		return nil
	}
	details["unassigned_tests"] = n
	return publishPlan(sys, tx, a)
}

// memberLabel names a user in an audit event: their email, or their id.
func memberLabel(ctx context.Context, tx *ent.Tx, id uuid.UUID) string {
	if u, err := tx.User.Get(ctx, id); err == nil {
		return u.Email
	}
	return id.String()
}

// MemberQuery is the member search as typed, trimmed and cut to the
// longest email.
func MemberQuery(q string) string { return cutRunes(strings.TrimSpace(q), 254) }

// MembersPage is a's mission's members page: the members with their users
// (two queries), by name, to any member (and mission.read_all). For the
// viewers who manage the mission, q (the member search, MemberQuery)
// also finds the people they may add, so that ?q= shows results without
// JavaScript.
func MembersPage(ctx context.Context, client *ent.Client, a *Access, q string) (missionviews.MembersDetail, error) {
	id := a.Mission.ID.String()
	d := missionviews.MembersDetail{
		ID: id, Name: a.Mission.Name, CanManage: a.CanManage(),
		Members:    missionviews.Members{MissionID: id, CanManage: a.CanManage() && !a.Archived()},
		Candidates: missionviews.Candidates{MissionID: id},
	}
	members, err := client.MissionMember.Query().Where(missionmember.MissionID(a.Mission.ID)).
		WithUser().All(ctx)
	if err != nil {
		return d, fmt.Errorf("load members: %w", err)
	}
	for _, m := range members {
		row := missionviews.Member{UserID: m.UserID.String(), Role: string(m.Role), Self: m.UserID == a.Viewer.UserID}
		if u := m.Edges.User; u != nil {
			row.Name, row.Email = u.DisplayName, u.Email
			row.MixedName, row.MixedEmail = identity.MixedScript(u.DisplayName), identity.EmailMixedScript(u.Email)
		}
		d.Members.Rows = append(d.Members.Rows, row)
	}
	slices.SortFunc(d.Members.Rows, func(x, y missionviews.Member) int {
		return cmp.Or(cmp.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)), cmp.Compare(x.Email, y.Email))
	})
	if q = MemberQuery(q); q != "" && d.Members.CanManage {
		if d.Candidates, err = candidates(ctx, client, a, q); err != nil {
			return d, err
		}
	}
	return d, nil
}

// MemberCandidates is the member search as you type: active users, not
// members yet, whose name or email holds q (one query). Only for the
// viewers who manage the mission, never on an archived one.
func MemberCandidates(ctx context.Context, client *ent.Client, a *Access, q string) (missionviews.Candidates, error) {
	if err := a.check(a.CanManage()); err != nil {
		return missionviews.Candidates{}, err
	}
	return candidates(ctx, client, a, MemberQuery(q))
}

func candidates(ctx context.Context, client *ent.Client, a *Access, q string) (missionviews.Candidates, error) {
	out := missionviews.Candidates{MissionID: a.Mission.ID.String(), Query: q}
	if q == "" {
		return out, nil
	}
	users, err := client.User.Query().
		Where(user.IsActive(true), user.Or(user.DisplayNameContainsFold(q), user.EmailContainsFold(q)),
			user.Not(user.HasMembershipsWith(missionmember.MissionID(a.Mission.ID)))).
		Order(user.ByDisplayName(), user.ByEmail()).
		Limit(missionviews.CandidateLimit + 1).
		All(ctx)
	if err != nil {
		return out, fmt.Errorf("search users: %w", err)
	}
	if len(users) > missionviews.CandidateLimit {
		users, out.More = users[:missionviews.CandidateLimit], true
	}
	for _, u := range users {
		out.Hits = append(out.Hits, missionviews.Candidate{ID: u.ID.String(), Name: u.DisplayName, Email: u.Email,
			MixedName: identity.MixedScript(u.DisplayName), MixedEmail: identity.EmailMixedScript(u.Email)})
	}
	return out, nil
}
