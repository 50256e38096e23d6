package rule

import (
	"context"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/intercept"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/privacy"
	"violet/internal/auth"
)

// The policies below are the shapes shared by Violet's entities. Each one
// starts with DenyIfNoViewer (where a viewer is needed) and ends in
// privacy.AlwaysDenyRule(): what is not allowed is refused. Work of the
// system itself runs under SystemContext, which every policy allows.

// ReferencePolicy is the policy of shared reference data (the ATT&CK
// catalogue, the library, the detection scale, settings): any signed-in
// viewer reads it, and changes need one of the write permissions.
func ReferencePolicy(write ...auth.Permission) privacy.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{DenyIfNoViewer(), AllowIfViewer(), privacy.AlwaysDenyRule()},
		Mutation: append(append(privacy.MutationPolicy{DenyIfNoViewer()},
			anyPermission(write)...), privacy.AlwaysDenyRule()),
	}
}

// PermissionPolicy is the policy of rows that only holders of one of the
// permissions read and change (the jobs of an administration page).
func PermissionPolicy(perms ...auth.Permission) privacy.Policy {
	return privacy.Policy{
		Query:    append(append(privacy.QueryPolicy{DenyIfNoViewer()}, anyPermissionQuery(perms)...), privacy.AlwaysDenyRule()),
		Mutation: append(append(privacy.MutationPolicy{DenyIfNoViewer()}, anyPermission(perms)...), privacy.AlwaysDenyRule()),
	}
}

// SystemOnlyPolicy is the policy of rows that no viewer reads or writes
// through ent: Violet's own machinery does, under SystemContext or in SQL.
func SystemOnlyPolicy() privacy.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

func anyPermission(perms []auth.Permission) privacy.MutationPolicy {
	out := make(privacy.MutationPolicy, 0, len(perms))
	for _, p := range perms {
		out = append(out, AllowIfPermission(p))
	}
	return out
}

func anyPermissionQuery(perms []auth.Permission) privacy.QueryPolicy {
	out := make(privacy.QueryPolicy, 0, len(perms))
	for _, p := range perms {
		out = append(out, AllowIfPermission(p))
	}
	return out
}

// AppendOnly allows creating rows, with or without a viewer (a failed
// sign-in is recorded by nobody), and refuses every update and delete:
// the audit log is append-only.
func AppendOnly() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if m.Op().Is(ent.OpCreate) {
			return privacy.Allow
		}
		return privacy.Denyf("%s is append-only", m.Type())
	})
}

// AllowCreate allows creating rows for any signed-in viewer or none: the
// row is made by a workflow that checked its own rules (a notification
// sent to someone else).
func AllowCreate() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if m.Op().Is(ent.OpCreate) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// wherer is what both a query and a mutation of any entity offer: a
// storage-level predicate.
type wherer interface {
	WhereP(...func(*sql.Selector))
}

// FilterOwnRows narrows queries, updates and deletes to the viewer's own
// rows (column holds the owner's user id): notifications, sessions.
func FilterOwnRows(column string) privacy.QueryMutationRule {
	return filterRule(func(v *auth.Viewer, s *sql.Selector) {
		s.Where(sql.EQ(s.C(column), v.UserID))
	})
}

// FilterMemberMissions narrows queries of a mission's children (members,
// categories, scenarios) to the missions the viewer is a member of.
func FilterMemberMissions(column string) privacy.QueryRule {
	return filterQuery(func(v *auth.Viewer, s *sql.Selector) {
		s.Where(sql.In(s.C(column), memberMissions(v.UserID)))
	})
}

// FilterVisibleTestRows narrows queries of a mission test's children
// (evidence, ATT&CK tags) to the tests the viewer may see, by the same
// rule as FilterVisibleTests: blue members see released tests only.
func FilterVisibleTestRows(column string) privacy.QueryRule {
	return filterQuery(func(v *auth.Viewer, s *sql.Selector) {
		s.Where(sql.In(s.C(column), sql.Select(missiontest.FieldID).From(sql.Table(missiontest.Table)).
			Where(visibleTests(v.UserID, missiontest.FieldMissionID, missiontest.FieldReleasedToBlue))))
	})
}

// filterRule applies f to queries and to updates and deletes, and allows
// them; a create has no rows to narrow and is left to the next rule.
func filterRule(f func(*auth.Viewer, *sql.Selector)) privacy.QueryMutationRule {
	return filter{query: filterQuery(f), f: f}
}

type filter struct {
	query privacy.QueryRule
	f     func(*auth.Viewer, *sql.Selector)
}

func (r filter) EvalQuery(ctx context.Context, q ent.Query) error { return r.query.EvalQuery(ctx, q) }

func (r filter) EvalMutation(ctx context.Context, m ent.Mutation) error {
	v := auth.FromContext(ctx)
	if v == nil {
		return privacy.Denyf("no viewer in context")
	}
	if m.Op().Is(ent.OpCreate) {
		return privacy.Skip
	}
	w, ok := m.(wherer)
	if !ok {
		return privacy.Denyf("cannot filter %T", m)
	}
	w.WhereP(func(s *sql.Selector) { r.f(v, s) })
	return privacy.Allow
}

// AllowMissionRoles allows changes to a mission's children to the
// viewer's roles on that mission: a create when the row's mission (its
// column, or its test's mission when viaTest) is one where the viewer
// holds one of roles, and updates and deletes narrowed to such rows. The
// workflows check the finer rules (which role writes which field).
func AllowMissionRoles(column string, viaTest bool, roles ...string) privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v := auth.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer in context")
		}
		if !m.Op().Is(ent.OpCreate) {
			w, ok := m.(wherer)
			if !ok {
				return privacy.Denyf("cannot filter %T", m)
			}
			w.WhereP(func(s *sql.Selector) {
				missions := roleMissions(v.UserID, roles)
				if viaTest {
					missions = sql.Select(missiontest.FieldID).From(sql.Table(missiontest.Table)).
						Where(sql.In(missiontest.FieldMissionID, missions))
				}
				s.Where(sql.In(s.C(column), missions))
			})
			return privacy.Allow
		}
		value, _ := m.Field(column)
		id, ok := value.(uuid.UUID)
		c, hasClient := m.(interface{ Client() *ent.Client })
		if !ok || !hasClient {
			return privacy.Denyf("%s needs its %s", m.Type(), column)
		}
		missionID := id
		if viaTest {
			t, err := c.Client().MissionTest.Get(SystemContext(ctx), id)
			if err != nil {
				return err
			}
			missionID = t.MissionID
		}
		role, err := MissionRole(ctx, c.Client(), missionID, v.UserID)
		if err != nil {
			return err
		}
		for _, r := range roles {
			if role == r {
				return privacy.Allow
			}
		}
		return privacy.Skip
	})
}

// roleMissions selects the missions where userID holds one of roles.
func roleMissions(userID uuid.UUID, roles []string) *sql.Selector {
	vals := make([]any, len(roles))
	for i, r := range roles {
		vals[i] = r
	}
	return sql.Select(missionmember.FieldMissionID).From(sql.Table(missionmember.Table)).
		Where(sql.And(sql.EQ(missionmember.FieldUserID, userID), sql.In(missionmember.FieldRole, vals...)))
}

// filterQuery applies f to a query and allows it.
func filterQuery(f func(*auth.Viewer, *sql.Selector)) privacy.QueryRule {
	return privacy.QueryRuleFunc(func(ctx context.Context, q ent.Query) error {
		v := auth.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer in context")
		}
		iq, err := intercept.NewQuery(q)
		if err != nil {
			return privacy.Denyf("cannot filter %T: %v", q, err)
		}
		iq.WhereP(func(s *sql.Selector) { f(v, s) })
		return privacy.Allow
	})
}

// memberMissions selects the ids of the missions userID is a member of.
func memberMissions(userID uuid.UUID) *sql.Selector {
	return sql.Select(missionmember.FieldMissionID).From(sql.Table(missionmember.Table)).
		Where(sql.EQ(missionmember.FieldUserID, userID))
}

// visibleTests is the condition on a mission test row (its mission and
// released columns) that the viewer may see it: every test of a mission
// they are lead, red or observer on, and the released ones of a mission
// they are blue on.
func visibleTests(userID uuid.UUID, missionCol, releasedCol string) *sql.Predicate {
	members := func(blue bool) *sql.Selector {
		role := sql.NEQ(missionmember.FieldRole, RoleBlue)
		if blue {
			role = sql.EQ(missionmember.FieldRole, RoleBlue)
		}
		return sql.Select(missionmember.FieldMissionID).From(sql.Table(missionmember.Table)).
			Where(sql.And(sql.EQ(missionmember.FieldUserID, userID), role))
	}
	return sql.Or(
		sql.In(missionCol, members(false)),
		sql.And(sql.EQ(releasedCol, true), sql.In(missionCol, members(true))),
	)
}

// FilterTestHistory narrows audit queries to the history of the mission
// tests the viewer may see (the test page's history), for viewers
// without audit.read.
func FilterTestHistory() privacy.QueryRule {
	return filterQuery(func(v *auth.Viewer, s *sql.Selector) {
		s.Where(sql.And(
			sql.EQ(s.C("target_type"), "mission_test"),
			sql.In(s.C("target_id"), sql.Select("CAST(id AS text)").From(sql.Table(missiontest.Table)).
				Where(visibleTests(v.UserID, missiontest.FieldMissionID, missiontest.FieldReleasedToBlue))),
		))
	})
}
