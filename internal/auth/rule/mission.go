package rule

import (
	"context"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/privacy"
	"violet/internal/auth"
)

// Mission membership roles.
const (
	RoleLead     = "lead"
	RoleRed      = "red"
	RoleBlue     = "blue"
	RoleObserver = "observer"
)

// FilterVisibleMissions narrows a mission query to the missions the viewer
// is a member of (a viewer with mission.read_all was allowed before).
func FilterVisibleMissions() privacy.MissionQueryRuleFunc {
	return func(ctx context.Context, q *ent.MissionQuery) error {
		v := auth.FromContext(ctx)
		q.Where(func(s *sql.Selector) {
			s.Where(sql.In(s.C("id"), sql.Select("mission_id").From(sql.Table(missionmember.Table)).
				Where(sql.EQ("user_id", v.UserID))))
		})
		return privacy.Allow
	}
}

// FilterVisibleTests narrows a mission test query to the tests the viewer may
// see: every test of a mission they are lead, red or observer on, and only the
// released ones of a mission they are blue on (unreleased tests are invisible
// to blue members).
func FilterVisibleTests() privacy.MissionTestQueryRuleFunc {
	return func(ctx context.Context, q *ent.MissionTestQuery) error {
		v := auth.FromContext(ctx)
		q.Where(func(s *sql.Selector) {
			members := func(blue bool) *sql.Selector {
				role := sql.NEQ("role", RoleBlue)
				if blue {
					role = sql.EQ("role", RoleBlue)
				}
				return sql.Select("mission_id").From(sql.Table(missionmember.Table)).
					Where(sql.And(sql.EQ("user_id", v.UserID), role))
			}
			s.Where(sql.Or(
				sql.In(s.C(missiontest.FieldMissionID), members(false)),
				sql.And(sql.EQ(s.C(missiontest.FieldReleasedToBlue), true), sql.In(s.C(missiontest.FieldMissionID), members(true))),
			))
		})
		return privacy.Allow
	}
}

// MissionRole returns the viewer's role on a mission, "" for none.
func MissionRole(ctx context.Context, client *ent.Client, missionID, userID uuid.UUID) (string, error) {
	m, err := client.MissionMember.Query().
		Where(missionmember.MissionID(missionID), missionmember.UserID(userID)).
		Only(SystemContext(ctx))
	if ent.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(m.Role), nil
}

// Field groups of a mission test, by who may write them.
func redFields() map[string]bool {
	return map[string]bool{
		missiontest.FieldState: true, missiontest.FieldStateReason: true, missiontest.FieldExecutedByID: true,
		missiontest.FieldStartedAt: true, missiontest.FieldEndedAt: true, missiontest.FieldCommand: true,
		missiontest.FieldSourceHost: true, missiontest.FieldTargetHost: true, missiontest.FieldRedNotes: true,
	}
}

func blueFields() map[string]bool {
	return map[string]bool{
		missiontest.FieldDetectionLevelID: true, missiontest.FieldDetectedAt: true, missiontest.FieldAlertName: true,
		missiontest.FieldLogSource: true, missiontest.FieldBlueNotes: true,
	}
}

// bookkeeping fields go with any allowed save.
func bookkeeping(f string) bool {
	return f == missiontest.FieldVersion || f == missiontest.FieldUpdatedAt
}

// MissionTestWrite is the field-level rule of mission tests: a save of one
// test is allowed when every field it changes is one the viewer's role on that
// test's mission may write — red members (and leads) the red fields, blue
// members the blue fields and only on released tests, observers and
// non-members nothing. Leads and holders of mission.manage write everything.
// Creating tests is for leads; bulk changes are for the workflows, which check
// roles themselves and run as the system.
func MissionTestWrite() privacy.MissionTestMutationRuleFunc {
	return func(ctx context.Context, m *ent.MissionTestMutation) error {
		v := auth.FromContext(ctx)
		if v.Can(auth.MissionManage) {
			return privacy.Allow
		}
		var missionID uuid.UUID
		switch {
		case m.Op().Is(ent.OpCreate):
			id, ok := m.MissionID()
			if !ok {
				return privacy.Denyf("a mission test needs its mission")
			}
			missionID = id
		case m.Op().Is(ent.OpUpdateOne):
			id, err := m.OldMissionID(ctx)
			if err != nil {
				return privacy.Denyf("mission test: %v", err)
			}
			missionID = id
		default:
			return privacy.Denyf("bulk changes to mission tests are the system's")
		}
		role, err := MissionRole(ctx, m.Client(), missionID, v.UserID)
		if err != nil {
			return err
		}
		if role == RoleLead {
			return privacy.Allow
		}
		if m.Op().Is(ent.OpCreate) || changesEdgeWithoutField(m) {
			return privacy.Denyf("only leads change the test plan")
		}
		var allowed map[string]bool
		switch {
		case role == RoleRed && v.Can(auth.MissionTestRedWrite):
			allowed = redFields()
		case role == RoleBlue && v.Can(auth.MissionTestBlueWrite):
			released, err := m.OldReleasedToBlue(ctx)
			if err != nil || !released {
				return privacy.Denyf("this test is not released to the blue team")
			}
			allowed = blueFields()
		default:
			return privacy.Denyf("your role on this mission does not write tests")
		}
		for _, f := range append(m.Fields(), m.ClearedFields()...) {
			// The red side releases a test to blue; only a lead takes it back.
			if f == missiontest.FieldReleasedToBlue && role == RoleRed {
				if v, ok := m.ReleasedToBlue(); ok && v {
					continue
				}
			}
			if !allowed[f] && !bookkeeping(f) {
				return privacy.Denyf("your role on this mission does not write %s", f)
			}
		}
		return privacy.Allow
	}
}

// MissionWrite allows changes to a mission's own row to its leads (and to
// holders of mission.manage, allowed before); creating one needs
// mission.create.
func MissionWrite() privacy.MissionMutationRuleFunc {
	return func(ctx context.Context, m *ent.MissionMutation) error {
		v := auth.FromContext(ctx)
		switch {
		case m.Op().Is(ent.OpCreate):
			if v.Can(auth.MissionCreate) {
				return privacy.Allow
			}
			return privacy.Denyf("creating missions needs mission.create")
		case m.Op().Is(ent.OpUpdateOne):
			id, ok := m.ID()
			if !ok {
				return privacy.Skip
			}
			role, err := MissionRole(ctx, m.Client(), id, v.UserID)
			if err != nil {
				return err
			}
			if role == RoleLead {
				return privacy.Allow
			}
		}
		return privacy.Skip
	}
}

// changesEdgeWithoutField reports a change to the test's tags or evidence
// through the test itself; edges bound to a field (executed_by_id,
// detection_level_id…) are judged by their field.
func changesEdgeWithoutField(m *ent.MissionTestMutation) bool {
	for _, e := range append(append(m.AddedEdges(), m.RemovedEdges()...), m.ClearedEdges()...) {
		if e == missiontest.EdgeMitreTags || e == missiontest.EdgeEvidence {
			return true
		}
	}
	return false
}
