package retest

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/defensivetool"
	entmission "violet/ent/mission"
	"violet/ent/missioncategory"
	"violet/ent/missionmember"
	"violet/ent/missionscenario"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/predicate"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/mission"
	"violet/internal/notify"
)

// targetMission is the audit target type of a mission (as
// internal/mission records them).
const targetMission = "mission"

// batch bounds a bulk insert's rows, far below PostgreSQL's 65,535
// parameters (a test has about twenty columns).
const batch = 500

// Create makes the retest of a's mission in one transaction: a planned
// mission linked to the original (retest_of_id) with its labels, its active
// defensive tools in scope, the viewer as lead and the chosen members in
// their roles there; the categories and scenarios the chosen tests use;
// and each chosen test copied as pending — its definition, template,
// expected rules (free names and Sigma rules) and ATT&CK tags, never its
// results — linked to the test it runs again. The retest is recorded on
// both missions, the chosen members are notified as membership notifies
// them, and the original's open pages learn of it. A refused input is an
// *app.Invalid with a message key per field.
func (s *Service) Create(ctx context.Context, a *mission.Access, in Input) (*ent.Mission, error) {
	if err := allowed(a); err != nil {
		return nil, err
	}
	c, err := check(in)
	if err != nil {
		return nil, err
	}
	v := a.Viewer
	orig := a.Mission
	// The copies are written as the system: the retest was allowed as a
	// whole (allowed, and the mission itself is created with the viewer's
	// context, so the ent policy checks mission.create again) and the
	// viewer leads the new mission.
	sys := rule.SystemContext(ctx)
	var m *ent.Mission
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		pl, err := readPlan(ctx, tx, orig.ID, c.tests)
		if err != nil {
			return err
		}
		members, err := chosenMembers(ctx, tx, orig.ID, c.members, v.UserID)
		if err != nil {
			return err
		}
		// Only the active tools are copied: the retest is a new scope, and an
		// inactive tool stays in the scopes that had it but is never newly
		// added (as mission.Service.Update; FOR SHARE for the same reason).
		tools, err := tx.DefensiveTool.Query().
			Where(defensivetool.HasMissionsWith(entmission.ID(orig.ID)), defensivetool.Active(true)).
			ForShare().IDs(ctx)
		if err != nil {
			return fmt.Errorf("read the tools in scope: %w", err)
		}
		create := tx.Mission.Create().SetName(c.name).SetDescription(orig.Description).SetScope(orig.Scope).
			SetNillableStartDate(c.start).SetNillableEndDate(c.end).SetStatus(entmission.StatusPlanned).
			SetCreatedByID(v.UserID).SetRetestOfID(orig.ID).AddToolIDs(tools...)
		if len(orig.Labels) > 0 {
			create.SetLabels(orig.Labels)
		}
		if m, err = create.Save(ctx); err != nil {
			return fmt.Errorf("create the retest: %w", err)
		}
		if err := addMembers(sys, tx, m.ID, v.UserID, members); err != nil {
			return err
		}
		if err := copyTests(sys, tx, m.ID, pl); err != nil {
			return err
		}
		if err := s.record(ctx, tx, a, m, len(pl.tests), members); err != nil {
			return err
		}
		return live.Publish(ctx, tx, live.Event{Kind: live.KindMission, MissionID: orig.ID, ActorID: v.UserID})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// chosenMembers reads the original's members among ids, the viewer left
// out (they lead the retest); an id that is not a member whose account
// still exists is refused.
func chosenMembers(ctx context.Context, tx *ent.Tx, missionID uuid.UUID, ids []uuid.UUID, me uuid.UUID) ([]*ent.MissionMember, error) {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id uuid.UUID) bool { return id == me })
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := tx.MissionMember.Query().
		Where(missionmember.MissionID(missionID), predicate.MissionMember(database.In(missionmember.FieldUserID, ids))).
		WithUser().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the members to take along: %w", err)
	}
	list = memberOrder(list)
	if len(list) != len(ids) {
		return nil, app.Invalidf("members", "retest.form.members_unknown")
	}
	return list, nil
}

// addMembers makes the viewer the retest's lead and gives each chosen
// member their role on the original.
func addMembers(ctx context.Context, tx *ent.Tx, missionID, lead uuid.UUID, members []*ent.MissionMember) error {
	creates := []*ent.MissionMemberCreate{tx.MissionMember.Create().SetMissionID(missionID).SetUserID(lead).SetRole(missionmember.RoleLead)}
	for _, mm := range members {
		creates = append(creates, tx.MissionMember.Create().SetMissionID(missionID).SetUserID(mm.UserID).SetRole(mm.Role))
	}
	if err := tx.MissionMember.CreateBulk(creates...).Exec(ctx); err != nil {
		return fmt.Errorf("add the retest's members: %w", err)
	}
	return nil
}

// plan is what the retest copies of the original: the chosen tests in
// plan order, their tags and Sigma rules by test, and the original's
// categories and scenarios by id.
type plan struct {
	tests      []*ent.MissionTest
	tags       map[uuid.UUID][]*ent.MissionTestMitreTag
	rules      map[uuid.UUID][]uuid.UUID
	categories map[uuid.UUID]*ent.MissionCategory
	scenarios  map[uuid.UUID]*ent.MissionScenario
}

// readPlan reads the chosen tests of the original and what goes with
// them in five statements, the list of ids as one array parameter
// (database.In); a test that is not the original's is refused.
func readPlan(ctx context.Context, tx *ent.Tx, missionID uuid.UUID, ids []uuid.UUID) (plan, error) {
	pl := plan{tags: map[uuid.UUID][]*ent.MissionTestMitreTag{}, rules: map[uuid.UUID][]uuid.UUID{},
		categories: map[uuid.UUID]*ent.MissionCategory{}, scenarios: map[uuid.UUID]*ent.MissionScenario{}}
	var err error
	pl.tests, err = tx.MissionTest.Query().Where(testsIn(missionID, ids)...).
		Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID)).All(ctx)
	if err != nil {
		return pl, fmt.Errorf("read the tests to retest: %w", err)
	}
	if len(pl.tests) != len(ids) {
		return pl, app.Invalidf("tests", "retest.form.tests_unknown")
	}
	tags, err := tx.MissionTestMitreTag.Query().
		Where(predicate.MissionTestMitreTag(database.In(missiontestmitretag.FieldMissionTestID, ids))).
		Order(ent.Asc(missiontestmitretag.FieldCreatedAt), ent.Asc(missiontestmitretag.FieldID)).All(ctx)
	if err != nil {
		return pl, fmt.Errorf("read the tests' tags: %w", err)
	}
	for _, g := range tags {
		pl.tags[g.MissionTestID] = append(pl.tags[g.MissionTestID], g)
	}
	// The rules expected of the tests that the catalogue still holds (as
	// the plan copies a template's).
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = id.String()
	}
	rows, err := tx.QueryContext(ctx, `SELECT mr.mission_test_id, mr.detection_rule_id FROM mission_test_rules mr
		JOIN detection_rules r ON r.id = mr.detection_rule_id AND r.deleted_at IS NULL
		WHERE mr.mission_test_id = ANY($1::uuid[])`, pq.Array(list))
	if err != nil {
		return pl, fmt.Errorf("read the tests' rules: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var test, rule uuid.UUID
		if err := rows.Scan(&test, &rule); err != nil {
			return pl, fmt.Errorf("read the tests' rules: %w", err)
		}
		pl.rules[test] = append(pl.rules[test], rule)
	}
	if err := rows.Err(); err != nil {
		return pl, fmt.Errorf("read the tests' rules: %w", err)
	}
	cats, err := tx.MissionCategory.Query().Where(missioncategory.MissionID(missionID)).All(ctx)
	if err != nil {
		return pl, fmt.Errorf("read the categories: %w", err)
	}
	for _, c := range cats {
		pl.categories[c.ID] = c
	}
	scenarios, err := tx.MissionScenario.Query().Where(missionscenario.MissionID(missionID)).All(ctx)
	if err != nil {
		return pl, fmt.Errorf("read the scenarios: %w", err)
	}
	for _, sc := range scenarios {
		pl.scenarios[sc.ID] = sc
	}
	return pl, nil
}

// copyTests copies the plan's tests (in plan order) into the retest with
// the categories and scenarios they use, in their order.
func copyTests(ctx context.Context, tx *ent.Tx, missionID uuid.UUID, pl plan) error {
	tests := pl.tests
	var cats []*ent.MissionCategory
	var scenarios []*ent.MissionScenario
	for _, t := range tests {
		if t.CategoryID != nil {
			if c := pl.categories[*t.CategoryID]; c != nil && !slices.Contains(cats, c) {
				cats = append(cats, c)
			}
		}
		if t.MissionScenarioID != nil {
			if sc := pl.scenarios[*t.MissionScenarioID]; sc != nil && !slices.Contains(scenarios, sc) {
				scenarios = append(scenarios, sc)
			}
		}
	}
	slices.SortStableFunc(cats, func(x, y *ent.MissionCategory) int { return x.Position - y.Position })
	slices.SortStableFunc(scenarios, func(x, y *ent.MissionScenario) int { return x.Position - y.Position })
	// One bulk insert per batch each; CreateBulk returns the rows in the
	// order of their builders.
	catOf, scenarioOf := map[uuid.UUID]uuid.UUID{}, map[uuid.UUID]uuid.UUID{}
	for from := 0; from < len(cats); from += batch {
		part := cats[from:min(len(cats), from+batch)]
		creates := make([]*ent.MissionCategoryCreate, len(part))
		for i, c := range part {
			creates[i] = tx.MissionCategory.Create().SetMissionID(missionID).SetName(c.Name).SetColour(c.Colour).SetPosition(from + i)
		}
		made, err := tx.MissionCategory.CreateBulk(creates...).Save(ctx)
		if err != nil {
			return fmt.Errorf("copy the categories: %w", err)
		}
		for i, c := range part {
			catOf[c.ID] = made[i].ID
		}
	}
	for from := 0; from < len(scenarios); from += batch {
		part := scenarios[from:min(len(scenarios), from+batch)]
		creates := make([]*ent.MissionScenarioCreate, len(part))
		for i, sc := range part {
			creates[i] = tx.MissionScenario.Create().SetMissionID(missionID).SetNillableScenarioTemplateID(sc.ScenarioTemplateID).
				SetName(sc.Name).SetDescription(sc.Description).SetPosition(from + i)
		}
		made, err := tx.MissionScenario.CreateBulk(creates...).Save(ctx)
		if err != nil {
			return fmt.Errorf("copy the scenarios: %w", err)
		}
		for i, sc := range part {
			scenarioOf[sc.ID] = made[i].ID
		}
	}
	for from := 0; from < len(tests); from += batch {
		part := tests[from:min(len(tests), from+batch)]
		creates := make([]*ent.MissionTestCreate, len(part))
		for i, t := range part {
			cr := tx.MissionTest.Create().SetMissionID(missionID).SetPosition(from + i).
				SetName(t.Name).SetDescription(t.Description).SetObjective(t.Objective).SetProcedure(t.Procedure).
				SetPrerequisites(t.Prerequisites).SetCleanup(t.Cleanup).SetExpectedDetection(t.ExpectedDetection).
				SetPlatforms(t.Platforms).SetOpsecLevel(t.OpsecLevel).SetNillableTestTemplateID(t.TestTemplateID).
				SetRetestOfID(t.ID)
			if t.ExpectedRules != nil {
				cr.SetExpectedRules(t.ExpectedRules)
			}
			if t.CategoryID != nil {
				if id, ok := catOf[*t.CategoryID]; ok {
					cr.SetCategoryID(id)
				}
			}
			if t.MissionScenarioID != nil {
				if id, ok := scenarioOf[*t.MissionScenarioID]; ok {
					cr.SetMissionScenarioID(id)
				}
			}
			cr.AddRuleIDs(pl.rules[t.ID]...)
			creates[i] = cr
		}
		made, err := tx.MissionTest.CreateBulk(creates...).Save(ctx)
		if err != nil {
			return fmt.Errorf("copy the tests: %w", err)
		}
		var tags []*ent.MissionTestMitreTagCreate
		for i, t := range part {
			for _, g := range pl.tags[t.ID] {
				tags = append(tags, tx.MissionTestMitreTag.Create().SetMissionTestID(made[i].ID).SetKind(g.Kind).
					SetExternalID(g.ExternalID).SetName(g.Name).SetURL(g.URL).SetTactics(g.Tactics))
			}
		}
		for f := 0; f < len(tags); f += batch {
			if err := tx.MissionTestMitreTag.CreateBulk(tags[f:min(len(tags), f+batch)]...).Exec(ctx); err != nil {
				return fmt.Errorf("copy the tests' tags: %w", err)
			}
		}
	}
	return nil
}

// record writes the retest's audit events (its creation, and on the
// original that it was retested) and notifies the members taken along,
// as membership notifies them.
func (s *Service) record(ctx context.Context, tx *ent.Tx, a *mission.Access, m *ent.Mission, tests int, members []*ent.MissionMember) error {
	names := make([]string, 0, len(members))
	for _, mm := range members {
		names = append(names, mm.Edges.User.DisplayName+" ("+string(mm.Role)+")")
	}
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.MissionCreated, TargetType: targetMission, TargetID: m.ID.String(), TargetLabel: m.Name,
		Details: map[string]any{"retest_of": a.Mission.Name, "retest_of_id": a.Mission.ID.String(), "tests": tests, "members": names},
	}); err != nil {
		return err
	}
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.MissionUpdated, TargetType: targetMission, TargetID: a.Mission.ID.String(), TargetLabel: a.Mission.Name,
		Details: map[string]any{"retested_as": m.Name, "retest_id": m.ID.String(), "tests": tests},
	}); err != nil {
		return err
	}
	byRole := map[missionmember.Role][]uuid.UUID{}
	var roles []missionmember.Role
	for _, mm := range members {
		if _, ok := byRole[mm.Role]; !ok {
			roles = append(roles, mm.Role)
		}
		byRole[mm.Role] = append(byRole[mm.Role], mm.UserID)
	}
	for _, role := range roles {
		if _, err := s.notifier.Send(ctx, tx, notify.Message{
			Kind: notify.MemberAdded, TitleKey: "notify.title.member_added",
			TitleArgs: []any{"Mission", m.Name, "Role", notify.Key(roleKey(string(role)))},
			Link:      mission.Link(m.ID), MissionID: m.ID,
		}, byRole[role]...); err != nil {
			return err
		}
	}
	return nil
}
