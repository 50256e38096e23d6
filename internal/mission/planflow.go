package mission

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/scenariotemplate"
	"violet/ent/scenariotemplatetest"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/internal/app"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/textrule"
)

// Plan workflows that copy from the library: each checks the role, copies
// in one transaction and records the plan change (audit event and live
// event) in it. A template or scenario deleted since the search is an
// *app.Invalid with the message the plan shows, and nothing is copied.

// InstantiateScenarios copies the chosen scenario templates into the
// plan, all of them or none, and returns the new mission scenarios' ids.
func (s *Service) InstantiateScenarios(ctx context.Context, a *Access, ids []uuid.UUID) ([]uuid.UUID, error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, &app.Invalid{Key: "missions.plan.choose_scenario"}
	}
	sys := rule.SystemContext(ctx)
	var created []uuid.UUID
	err := database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		var err error
		if created, err = instantiate(ctx, tx, a, ids); ent.IsNotFound(err) {
			return &app.Invalid{Key: "missions.plan.scenario_gone"}
		} else if err != nil {
			return fmt.Errorf("instantiate scenarios: %w", err)
		}
		return recordPlanChange(sys, tx, a, map[string]any{"change": "instantiate",
			"scenario_templates": idStrings(ids), "mission_scenarios": idStrings(created)})
	})
	return created, err
}

// AddTemplate copies one test template into the plan, outside any
// scenario, and returns the new test's id.
func (s *Service) AddTemplate(ctx context.Context, a *Access, templateID uuid.UUID) (uuid.UUID, error) {
	if err := a.check(a.CanManage()); err != nil {
		return uuid.Nil, err
	}
	sys := rule.SystemContext(ctx)
	var id uuid.UUID
	err := database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		var err error
		if id, err = addTemplate(ctx, tx, a, templateID, nil); ent.IsNotFound(err) {
			return &app.Invalid{Key: "missions.plan.template_gone"}
		} else if err != nil {
			return fmt.Errorf("add template: %w", err)
		}
		return recordPlanChange(sys, tx, a, map[string]any{"change": "add_template",
			"test_template_id": templateID.String(), "test_id": id.String()})
	})
	return id, err
}

// NewTestInput is a test written from scratch.
type NewTestInput struct{ Name, Description string }

// Limits of a test written from scratch: its columns'.
var (
	testNameMax        = textrule.For(schema.MissionTest{}, "name").Max
	testDescriptionMax = textrule.For(schema.MissionTest{}, "description").Max
)

// Normalize trims the name and description.
func (in NewTestInput) Normalize() NewTestInput {
	return NewTestInput{Name: strings.TrimSpace(in.Name), Description: strings.TrimSpace(in.Description)}
}

// AddTest writes a test from scratch at the end of the plan (AddNewTest)
// and returns its id; invalid input is an *app.Invalid.
func (s *Service) AddTest(ctx context.Context, a *Access, in NewTestInput) (uuid.UUID, error) {
	if err := a.check(a.CanManage()); err != nil {
		return uuid.Nil, err
	}
	in = in.Normalize()
	errs := &app.Invalid{}
	switch {
	case in.Name == "":
		errs.Add("name", "form.required")
	case len(in.Name) > testNameMax:
		errs.Add("name", "missions.plan.name_too_long")
	}
	if utf8.RuneCountInString(in.Description) > testDescriptionMax {
		errs.Add("description", "missions.plan.description_too_long")
	}
	if err := errs.Err(); err != nil {
		return uuid.Nil, err
	}
	id, err := AddNewTest(ctx, s.client, a, in.Name, in.Description)
	if err != nil {
		return uuid.Nil, fmt.Errorf("add test: %w", err)
	}
	return id, nil
}

// idStrings formats ids for an audit event's details.
func idStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// Candidate is what a plan search offers: a scenario template with its
// number of tests, or a test template with its ATT&CK tags.
type Candidate struct {
	ID    uuid.UUID
	Name  string
	Tests int
	Tags  []Tag
}

// Tag is an ATT&CK tag of a test template: its kind (tactic, technique,
// subtechnique), ATT&CK ID and name.
type Tag struct{ Kind, ExternalID, Name string }

// SearchScenarios finds up to limit scenario templates whose name holds
// q, by name, with their number of tests (two queries); more reports that
// there are others.
func SearchScenarios(ctx context.Context, client *ent.Client, q string, limit int) (hits []Candidate, more bool, err error) {
	if q == "" {
		return nil, false, nil
	}
	list, err := client.ScenarioTemplate.Query().Where(scenariotemplate.NameContainsFold(q)).
		Order(scenariotemplate.ByName(), scenariotemplate.ByID()).
		Limit(limit + 1).All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("search scenarios: %w", err)
	}
	if len(list) > limit {
		list, more = list[:limit], true
	}
	counts := map[uuid.UUID]int{}
	if len(list) > 0 {
		ids := make([]uuid.UUID, len(list))
		for i, sc := range list {
			ids[i] = sc.ID
		}
		var rows []struct {
			ScenarioTemplateID uuid.UUID `json:"scenario_template_id"`
			Count              int       `json:"count"`
		}
		err := client.ScenarioTemplateTest.Query().
			Where(predicate.ScenarioTemplateTest(database.In(scenariotemplatetest.FieldScenarioTemplateID, ids))).
			GroupBy(scenariotemplatetest.FieldScenarioTemplateID).Aggregate(ent.Count()).Scan(ctx, &rows)
		if err != nil {
			return nil, false, fmt.Errorf("count scenario tests: %w", err)
		}
		for _, r := range rows {
			counts[r.ScenarioTemplateID] = r.Count
		}
	}
	for _, sc := range list {
		hits = append(hits, Candidate{ID: sc.ID, Name: sc.Name, Tests: counts[sc.ID]})
	}
	return hits, more, nil
}

// SearchTemplates finds up to limit test templates whose name holds q, by
// name, with their ATT&CK tags by ID (five queries); more reports that
// there are others.
func SearchTemplates(ctx context.Context, client *ent.Client, q string, limit int) (hits []Candidate, more bool, err error) {
	if q == "" {
		return nil, false, nil
	}
	list, err := client.TestTemplate.Query().Where(testtemplate.NameContainsFold(q)).
		Order(testtemplate.ByName(), testtemplate.ByID()).
		Limit(limit + 1).
		WithMitreTags(func(tq *ent.TestTemplateMitreTagQuery) {
			tq.WithTactic(func(q *ent.MitreTacticQuery) { q.Select(mitretactic.FieldExternalID, mitretactic.FieldName) })
			tq.WithTechnique(func(q *ent.MitreTechniqueQuery) {
				q.Select(mitretechnique.FieldExternalID, mitretechnique.FieldName)
			})
			tq.WithSubtechnique(func(q *ent.MitreSubtechniqueQuery) {
				q.Select(mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName)
			})
		}).
		Select(testtemplate.FieldName).All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("search templates: %w", err)
	}
	if len(list) > limit {
		list, more = list[:limit], true
	}
	for _, t := range list {
		h := Candidate{ID: t.ID, Name: t.Name}
		for _, tag := range t.Edges.MitreTags {
			switch e := tag.Edges; {
			case e.Tactic != nil:
				h.Tags = append(h.Tags, Tag{Kind: "tactic", ExternalID: e.Tactic.ExternalID, Name: e.Tactic.Name})
			case e.Technique != nil:
				h.Tags = append(h.Tags, Tag{Kind: "technique", ExternalID: e.Technique.ExternalID, Name: e.Technique.Name})
			case e.Subtechnique != nil:
				h.Tags = append(h.Tags, Tag{Kind: "subtechnique", ExternalID: e.Subtechnique.ExternalID, Name: e.Subtechnique.Name})
			}
		}
		slices.SortFunc(h.Tags, func(a, b Tag) int { return cmp.Compare(a.ExternalID, b.ExternalID) })
		hits = append(hits, h)
	}
	return hits, more, nil
}
