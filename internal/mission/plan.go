package mission

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionrule"
	"violet/ent/missionscenario"
	"violet/ent/missiontest"
	"violet/ent/predicate"
	"violet/ent/scenariotemplate"
	"violet/ent/scenariotemplatetest"
	"violet/ent/testtemplate"
	"violet/internal/auth/rule"
	"violet/internal/database"
)

// Instantiate copies scenario templates into the mission's plan, in one
// transaction: for each scenario a mission scenario, and for each of its
// entries a mission test copied from the template with its ATT&CK tags
// denormalised (kind, ID, name, URL and, for techniques, their tactics), so
// that later template edits or catalogue syncs never rewrite the mission.
// All of it or nothing. It returns the new mission scenarios' ids. It
// records no audit event: the plan's workflow (Service.InstantiateScenarios)
// does, in the same transaction.
func Instantiate(ctx context.Context, client *ent.Client, a *Access, scenarioIDs []uuid.UUID) ([]uuid.UUID, error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, err
	}
	sys := rule.SystemContext(ctx)
	var created []uuid.UUID
	err := database.WithTx(sys, client, func(tx *ent.Tx) error {
		var err error
		created, err = instantiate(ctx, tx, a, scenarioIDs)
		return err
	})
	return created, err
}

// instantiate copies the scenarios in tx: the templates are read with
// ctx (the viewer's), the copies written as the system.
func instantiate(ctx context.Context, tx *ent.Tx, a *Access, scenarioIDs []uuid.UUID) ([]uuid.UUID, error) {
	sys := rule.SystemContext(ctx)
	scenarios, err := tx.ScenarioTemplate.Query().Where(scenariotemplate.IDIn(scenarioIDs...)).
		WithEntries(func(q *ent.ScenarioTemplateTestQuery) {
			q.Order(ent.Asc(scenariotemplatetest.FieldPosition))
		}).All(ctx)
	if err != nil {
		return nil, err
	}
	if len(scenarios) != len(uniq(scenarioIDs)) {
		return nil, &ent.NotFoundError{}
	}
	byID := map[uuid.UUID]*ent.ScenarioTemplate{}
	var templateIDs []uuid.UUID
	for _, s := range scenarios {
		byID[s.ID] = s
		for _, e := range s.Edges.Entries {
			templateIDs = append(templateIDs, e.TestTemplateID)
		}
	}
	templates, err := loadTemplates(ctx, tx.Client(), templateIDs)
	if err != nil {
		return nil, err
	}
	scenarioPos, testPos, err := NextPositions(sys, tx, a.Mission.ID)
	if err != nil {
		return nil, err
	}
	var created []uuid.UUID
	for _, id := range scenarioIDs {
		s := byID[id]
		ms, err := tx.MissionScenario.Create().SetMissionID(a.Mission.ID).SetScenarioTemplateID(s.ID).
			SetName(s.Name).SetDescription(s.Description).SetPosition(scenarioPos).Save(sys)
		if err != nil {
			return nil, fmt.Errorf("copy scenario %q: %w", s.Name, err)
		}
		scenarioPos++
		created = append(created, ms.ID)
		for _, e := range s.Edges.Entries {
			t, ok := templates[e.TestTemplateID]
			if !ok {
				continue // deleted since it was placed in the scenario
			}
			if err := copyTest(sys, tx, a.Mission.ID, &ms.ID, t, testPos); err != nil {
				return nil, err
			}
			testPos++
		}
	}
	return created, nil
}

// AddTemplate copies one test template into the mission, outside any
// scenario (or into the given mission scenario), in one transaction. It
// records no audit event: the plan's workflow (Service.AddTemplate) does,
// in the same transaction.
func AddTemplate(ctx context.Context, client *ent.Client, a *Access, templateID uuid.UUID, scenarioID *uuid.UUID) (uuid.UUID, error) {
	if err := a.check(a.CanManage()); err != nil {
		return uuid.Nil, err
	}
	var id uuid.UUID
	err := database.WithTx(rule.SystemContext(ctx), client, func(tx *ent.Tx) error {
		var err error
		id, err = addTemplate(ctx, tx, a, templateID, scenarioID)
		return err
	})
	return id, err
}

// addTemplate copies one test template into the mission in tx; a template
// missing or deleted, or a scenario not the mission's, is not found.
func addTemplate(ctx context.Context, tx *ent.Tx, a *Access, templateID uuid.UUID, scenarioID *uuid.UUID) (uuid.UUID, error) {
	templates, err := loadTemplates(ctx, tx.Client(), []uuid.UUID{templateID})
	if err != nil {
		return uuid.Nil, err
	}
	t, ok := templates[templateID]
	if !ok {
		return uuid.Nil, &ent.NotFoundError{}
	}
	sys := rule.SystemContext(ctx)
	_, pos, err := NextPositions(sys, tx, a.Mission.ID)
	if err != nil {
		return uuid.Nil, err
	}
	if scenarioID != nil {
		if ok, err := tx.MissionScenario.Query().Where(missionscenario.ID(*scenarioID),
			missionscenario.MissionID(a.Mission.ID)).Exist(sys); err != nil || !ok {
			return uuid.Nil, &ent.NotFoundError{}
		}
	}
	return copyTestID(sys, tx, a.Mission.ID, scenarioID, t, pos)
}

// AddTemplates copies test templates into the mission outside any
// scenario, in the order given (each once), all of them or none, with the
// plan change recorded (details, plus the new tests' ids) in the same
// transaction. A template missing or deleted is a not-found error and
// nothing is copied.
func AddTemplates(ctx context.Context, client *ent.Client, a *Access, templateIDs []uuid.UUID, details map[string]any) ([]uuid.UUID, error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, err
	}
	ids := uniq(templateIDs)
	templates, err := loadTemplates(ctx, client, ids)
	if err != nil {
		return nil, err
	}
	if len(templates) != len(ids) {
		return nil, &ent.NotFoundError{}
	}
	sys := rule.SystemContext(ctx)
	var created []uuid.UUID
	err = database.WithTx(sys, client, func(tx *ent.Tx) error {
		created = created[:0]
		_, pos, err := NextPositions(sys, tx, a.Mission.ID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			tid, err := copyTestID(sys, tx, a.Mission.ID, nil, templates[id], pos)
			if err != nil {
				return err
			}
			created = append(created, tid)
			pos++
		}
		all := make(map[string]any, len(details)+1)
		for k, v := range details {
			all[k] = v
		}
		tests := make([]string, len(created))
		for i, id := range created {
			tests[i] = id.String()
		}
		all["test_ids"] = tests
		return recordPlanChange(sys, tx, a, all)
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// loadTemplates reads templates with their tags and the catalogue entries
// the tags name (techniques with their tactics, sub-techniques with their
// parent's), in a fixed number of queries.
func loadTemplates(ctx context.Context, client *ent.Client, ids []uuid.UUID) (map[uuid.UUID]*ent.TestTemplate, error) {
	list, err := client.TestTemplate.Query().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, uniq(ids)))).
		WithMitreTags(func(q *ent.TestTemplateMitreTagQuery) {
			q.WithTactic().
				WithTechnique(func(q *ent.MitreTechniqueQuery) { q.WithTactics() }).
				WithSubtechnique(func(q *ent.MitreSubtechniqueQuery) {
					q.WithTechnique(func(q *ent.MitreTechniqueQuery) { q.WithTactics() })
				})
		}).
		// The detection rules expected to fire go with the test.
		WithRules(func(q *ent.DetectionRuleQuery) { q.Select(detectionrule.FieldID) }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	out := make(map[uuid.UUID]*ent.TestTemplate, len(list))
	for _, t := range list {
		out[t.ID] = t
	}
	return out, nil
}

func copyTest(ctx context.Context, tx *ent.Tx, missionID uuid.UUID, scenarioID *uuid.UUID, t *ent.TestTemplate, pos int) error {
	_, err := copyTestID(ctx, tx, missionID, scenarioID, t, pos)
	return err
}

func copyTestID(ctx context.Context, tx *ent.Tx, missionID uuid.UUID, scenarioID *uuid.UUID, t *ent.TestTemplate, pos int) (uuid.UUID, error) {
	mt, err := tx.MissionTest.Create().SetMissionID(missionID).SetNillableMissionScenarioID(scenarioID).
		SetTestTemplateID(t.ID).SetPosition(pos).SetName(t.Name).SetDescription(t.Description).
		SetObjective(t.Objective).SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).
		SetCleanup(t.Cleanup).SetExpectedDetection(t.ExpectedDetection).SetPlatforms(t.Platforms).
		SetOpsecLevel(missiontest.OpsecLevel(t.OpsecLevel)).AddRules(t.Edges.Rules...).
		// The free rule names per tool go with the test too, as they are.
		SetExpectedRules(expectedRulesOf(t)).Save(ctx)
	if err != nil {
		return uuid.Nil, fmt.Errorf("copy test %q: %w", t.Name, err)
	}
	tags := make([]*ent.MissionTestMitreTagCreate, 0, len(t.Edges.MitreTags))
	for _, g := range t.Edges.MitreTags {
		c := tx.MissionTestMitreTag.Create().SetMissionTestID(mt.ID)
		switch {
		case g.Edges.Tactic != nil:
			e := g.Edges.Tactic
			c.SetKind("tactic").SetExternalID(e.ExternalID).SetName(e.Name).SetURL(e.URL)
		case g.Edges.Technique != nil:
			e := g.Edges.Technique
			c.SetKind("technique").SetExternalID(e.ExternalID).SetName(e.Name).SetURL(e.URL).SetTactics(TacticsOf(e))
		case g.Edges.Subtechnique != nil:
			e := g.Edges.Subtechnique
			c.SetKind("subtechnique").SetExternalID(e.ExternalID).SetName(e.Name).SetURL(e.URL)
			if e.Edges.Technique != nil {
				c.SetTactics(TacticsOf(e.Edges.Technique))
			}
		default:
			continue
		}
		tags = append(tags, c)
	}
	if len(tags) > 0 {
		if err := tx.MissionTestMitreTag.CreateBulk(tags...).Exec(ctx); err != nil {
			return uuid.Nil, fmt.Errorf("copy the tags of %q: %w", t.Name, err)
		}
	}
	return mt.ID, nil
}

// expectedRulesOf is a template's free expected rules as a mission test
// stores them: never nil (a JSON null is not the column's empty list).
func expectedRulesOf(t *ent.TestTemplate) []map[string]string {
	if t.ExpectedRules == nil {
		return []map[string]string{}
	}
	return t.ExpectedRules
}

// TacticsOf lists a technique's tactics for a test's denormalised tag,
// in the matrix's order: every copy of a tag (plans, imports) uses it, so
// the same technique is stored the same way whoever tagged the test.
func TacticsOf(t *ent.MitreTechnique) []map[string]string {
	out := []map[string]string{}
	tactics := slices.Clone(t.Edges.Tactics)
	slices.SortFunc(tactics, func(a, b *ent.MitreTactic) int { return a.Position - b.Position })
	for _, tac := range tactics {
		out = append(out, map[string]string{"id": tac.ExternalID, "shortname": tac.Shortname, "name": tac.Name})
	}
	return out
}

// NextPositions returns the next free scenario and test positions of a
// mission, after locking the mission's row so two plan changes at once
// never take the same place.
func NextPositions(ctx context.Context, tx *ent.Tx, missionID uuid.UUID) (int, int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT
		(SELECT coalesce(max(position) + 1, 0) FROM mission_scenarios WHERE mission_id = m.id AND deleted_at IS NULL),
		(SELECT coalesce(max(position) + 1, 0) FROM mission_tests WHERE mission_id = m.id AND deleted_at IS NULL)
		FROM missions m WHERE m.id = $1 FOR UPDATE`, missionID)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, 0, &ent.NotFoundError{}
	}
	var s, t int
	err = rows.Scan(&s, &t)
	return s, t, err
}

func uniq(ids []uuid.UUID) []uuid.UUID {
	seen := map[uuid.UUID]bool{}
	var out []uuid.UUID
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
