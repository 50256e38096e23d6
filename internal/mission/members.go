package mission

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/user"
	"violet/internal/auth/rule"
)

// Errors of member management; handlers show them next to the form (422).
var (
	// ErrLastLead refuses removing or demoting a mission's only lead: a
	// mission always keeps someone who can manage it.
	ErrLastLead = errors.New("a mission keeps at least one lead")
	// ErrAlreadyMember refuses adding a person twice: one role each.
	ErrAlreadyMember = errors.New("this person is already a member of the mission")
	// ErrBadRole is a role outside lead, red, blue, observer.
	ErrBadRole = errors.New("unknown mission role")
)

// Roles lists the mission roles in the order forms offer them.
func Roles() []string {
	return []string{rule.RoleLead, rule.RoleRed, rule.RoleBlue, rule.RoleObserver}
}

func checkRole(role string) error {
	if missionmember.RoleValidator(missionmember.Role(role)) != nil {
		return ErrBadRole
	}
	return nil
}

// lockMission takes the mission's row lock for the rest of the
// transaction, so that two concurrent member changes cannot both see "one
// other lead left" and remove both. client must be a transaction's.
func lockMission(ctx context.Context, client *ent.Client, id uuid.UUID) error {
	_, err := client.Mission.Query().Where(mission.ID(id)).ForUpdate().Only(rule.SystemContext(ctx))
	if err != nil {
		return fmt.Errorf("lock mission: %w", err)
	}
	return nil
}

// AddMember gives an active user a role on a's mission. Only leads (and
// mission.manage) add members, never on an archived mission; a person is
// a member once. client must be a transaction's (the caller records the
// audit event in it). A user that does not exist or is inactive is not
// found.
func AddMember(ctx context.Context, client *ent.Client, a *Access, userID uuid.UUID, role string) (*ent.MissionMember, error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, err
	}
	if err := checkRole(role); err != nil {
		return nil, err
	}
	if err := lockMission(ctx, client, a.Mission.ID); err != nil {
		return nil, err
	}
	if _, err := client.User.Query().Where(user.ID(userID), user.IsActive(true)).Only(ctx); err != nil {
		return nil, err
	}
	sys := rule.SystemContext(ctx)
	exists, err := client.MissionMember.Query().
		Where(missionmember.MissionID(a.Mission.ID), missionmember.UserID(userID)).Exist(sys)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, ErrAlreadyMember
	}
	return client.MissionMember.Create().SetMissionID(a.Mission.ID).SetUserID(userID).
		SetRole(missionmember.Role(role)).Save(sys)
}

// ChangeRole gives a member another role and returns the member with its
// previous role. The last lead cannot be demoted.
func ChangeRole(ctx context.Context, client *ent.Client, a *Access, userID uuid.UUID, role string) (m *ent.MissionMember, old string, err error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, "", err
	}
	if err := checkRole(role); err != nil {
		return nil, "", err
	}
	m, err = lockedMember(ctx, client, a, userID)
	if err != nil {
		return nil, "", err
	}
	old = string(m.Role)
	if old == role {
		return m, old, nil
	}
	if old == rule.RoleLead {
		if err := keepALead(ctx, client, a); err != nil {
			return nil, "", err
		}
	}
	m, err = client.MissionMember.UpdateOne(m).SetRole(missionmember.Role(role)).Save(rule.SystemContext(ctx))
	return m, old, err
}

// RemoveMember takes a person off the mission; the last lead stays.
func RemoveMember(ctx context.Context, client *ent.Client, a *Access, userID uuid.UUID) (*ent.MissionMember, error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, err
	}
	m, err := lockedMember(ctx, client, a, userID)
	if err != nil {
		return nil, err
	}
	if m.Role == missionmember.RoleLead {
		if err := keepALead(ctx, client, a); err != nil {
			return nil, err
		}
	}
	if err := client.MissionMember.DeleteOne(m).Exec(rule.SystemContext(ctx)); err != nil {
		return nil, err
	}
	return m, nil
}

// lockedMember locks the mission and loads one member (not found when the
// user is not a member).
func lockedMember(ctx context.Context, client *ent.Client, a *Access, userID uuid.UUID) (*ent.MissionMember, error) {
	if err := lockMission(ctx, client, a.Mission.ID); err != nil {
		return nil, err
	}
	return client.MissionMember.Query().
		Where(missionmember.MissionID(a.Mission.ID), missionmember.UserID(userID)).
		Only(rule.SystemContext(ctx))
}

// keepALead returns ErrLastLead unless the mission has another lead than
// the one about to go.
func keepALead(ctx context.Context, client *ent.Client, a *Access) error {
	n, err := client.MissionMember.Query().
		Where(missionmember.MissionID(a.Mission.ID), missionmember.RoleEQ(missionmember.RoleLead)).
		Count(rule.SystemContext(ctx))
	if err != nil {
		return err
	}
	if n <= 1 {
		return ErrLastLead
	}
	return nil
}
