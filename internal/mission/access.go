// Package mission holds the workflows of a purple-team mission that span
// several rows or need a rule of their own: who may do what on a mission
// (Access), its status transitions, instantiating scenario templates into
// its test plan, the state machine of a test with its optimistic locking,
// and the mission's figures. The use cases are Service's methods (a
// mission, its members, categories and plan) and Steps' (a test's steps):
// each one transaction with its audit record, live event and
// notifications; the read models of the pages (List, SettingsPage,
// MembersPage, CategoriesPage, TestPage) sit beside them. Handlers call
// these; the ent privacy policies (internal/auth/rule) refuse the same
// things a second time.
package mission

import (
	"context"
	"errors"
	"fmt"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// Errors of the workflows; handlers map them to statuses.
var (
	// ErrForbidden is an action the viewer's role does not allow (403).
	ErrForbidden = errors.New("your role on this mission does not allow this")
	// ErrReadOnly is a change to an archived mission (409).
	ErrReadOnly = errors.New("the mission is archived: it can no longer change")
	// ErrConflict is a save of a version someone else has saved since (409).
	ErrConflict = errors.New("someone else saved this since you opened it")
)

// Access is what a viewer may do on one mission. Load returns it only for a
// mission the viewer may see; any other is "not found", exactly like a missing
// one.
type Access struct {
	Mission *ent.Mission
	Viewer  *auth.Viewer
	Role    string // lead, red, blue, observer; "" for an admin who is not a member
	manage  bool   // mission.manage: everything
}

// Load returns the viewer's access to a mission, or an ent not-found error.
// It is one statement on every mission route: the mission through ent, so
// the privacy policy filters what v may not see, with the viewer's
// membership role joined to it (rule.MissionRole's row, read here without
// a second round trip).
func Load(ctx context.Context, client *ent.Client, v *auth.Viewer, missionID uuid.UUID) (*Access, error) {
	if v == nil {
		return nil, &ent.NotFoundError{}
	}
	var lines []struct {
		ent.Mission
		Role *string `json:"my_role"`
	}
	me := entsql.Table(missionmember.Table).As("me")
	join := func(s *entsql.Selector) string {
		s.LeftJoin(me).OnP(entsql.And(entsql.ColumnsEQ(me.C(missionmember.FieldMissionID), s.C(mission.FieldID)),
			entsql.EQ(me.C(missionmember.FieldUserID), v.UserID)))
		return entsql.As(me.C(missionmember.FieldRole), "my_role")
	}
	err := client.Mission.Query().Where(mission.ID(missionID)).
		Select(mission.Columns...).Aggregate(join).Scan(ctx, &lines)
	switch {
	case err != nil:
		return nil, err
	case len(lines) == 0:
		return nil, &ent.NotFoundError{}
	}
	m := lines[0].Mission
	role := ""
	if lines[0].Role != nil {
		role = *lines[0].Role
	}
	return &Access{Mission: &m, Viewer: v, Role: role, manage: v.Can(auth.MissionManage)}, nil
}

// LoadAll returns the viewer's access to missions already read through
// the viewer's context (so the privacy policy let them through), with
// the viewer's roles read in one statement: a list's Load.
func LoadAll(ctx context.Context, client *ent.Client, v *auth.Viewer, ms []*ent.Mission) ([]*Access, error) {
	if v == nil {
		return nil, &ent.NotFoundError{}
	}
	ids := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	rows, err := client.MissionMember.Query().
		Where(missionmember.UserID(v.UserID), missionmember.MissionIDIn(ids...)).
		All(rule.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("load roles: %w", err)
	}
	roles := make(map[uuid.UUID]string, len(rows))
	for _, r := range rows {
		roles[r.MissionID] = string(r.Role)
	}
	out := make([]*Access, len(ms))
	for i, m := range ms {
		out[i] = &Access{Mission: m, Viewer: v, Role: roles[m.ID], manage: v.Can(auth.MissionManage)}
	}
	return out, nil
}

// ActsAs is the role the viewer acts in on the mission: a lead's with
// mission.manage, their membership's, and an observer's for someone who
// is no member but reads every mission (mission.read_all).
func (a *Access) ActsAs() string {
	switch {
	case a.manage:
		return rule.RoleLead
	case a.Role != "":
		return a.Role
	default:
		return rule.RoleObserver
	}
}

// Archived reports whether the mission is read-only.
func (a *Access) Archived() bool { return a.Mission.Status == mission.StatusArchived }

// CanManage: members, categories, scenarios, the plan, releases, status.
func (a *Access) CanManage() bool { return a.manage || a.Role == rule.RoleLead }

// CanWriteRed: the red side of tests.
func (a *Access) CanWriteRed() bool {
	return a.manage || a.Role == rule.RoleLead || (a.Role == rule.RoleRed && a.Viewer.Can(auth.MissionTestRedWrite))
}

// CanWriteBlue: the blue side of released tests.
func (a *Access) CanWriteBlue() bool {
	return a.manage || a.Role == rule.RoleLead || (a.Role == rule.RoleBlue && a.Viewer.Can(auth.MissionTestBlueWrite))
}

// CanReview: closing a test after both sides recorded it, reopening it.
func (a *Access) CanReview() bool { return a.manage || a.Role == rule.RoleLead }

// SeesUnreleased reports whether the viewer sees tests not yet released to
// the blue team.
func (a *Access) SeesUnreleased() bool { return a.Role != rule.RoleBlue }

// check returns ErrReadOnly for an archived mission and ErrForbidden when
// allowed is false.
func (a *Access) check(allowed bool) error {
	switch {
	case !allowed:
		return ErrForbidden
	case a.Archived():
		return ErrReadOnly
	}
	return nil
}

// ViewerOf builds the viewer a user would be when signed in, outside any
// request (the demo and the benchmark act as their accounts): their groups
// and the permissions those grant.
func ViewerOf(ctx context.Context, client *ent.Client, u *ent.User) (*auth.Viewer, error) {
	groups, err := client.User.QueryGroups(u).WithPermissions().All(rule.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", u.Email, err)
	}
	var names, codes []string
	for _, g := range groups {
		names = append(names, g.Name)
		for _, p := range g.Edges.Permissions {
			codes = append(codes, p.Code)
		}
	}
	return auth.NewViewer(u.ID, u.Email, u.DisplayName, string(u.Locale), uuid.Nil, names, codes), nil
}
