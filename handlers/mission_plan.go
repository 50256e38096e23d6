package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/scenariotemplate"
	"violet/ent/testtemplate"
	"violet/internal/mission"
	"violet/views/components"
	"violet/views/missionpage"
)

// planScenariosForm is what "add scenarios" sends: the chosen scenario
// templates, nothing else.
type planScenariosForm struct {
	ScenarioID []string `form:"scenario_id"`
}

// planTemplateForm adds one test template to the plan.
type planTemplateForm struct {
	TemplateID string `form:"template_id"`
}

// planNewTestForm writes a test from scratch.
type planNewTestForm struct {
	Name        string `form:"name"`
	Description string `form:"description"`
}

// planMoveForm moves a test up or down within its scenario.
type planMoveForm struct {
	Direction string `form:"direction"`
}

// planCategoryForm files a test under a category ("" for none).
type planCategoryForm struct {
	CategoryID string `form:"category_id"`
}

// planQuery reads a plan search box.
func planQuery(raw string) string {
	return cutRunes(strings.TrimSpace(raw), missionpage.SearchMax)
}

// planAccess loads the mission for a plan change or search: members who
// do not lead it get 403 (others 404, as for the page), an archived
// mission 409.
func (s *Server) planAccess(c echo.Context) (*mission.Access, error) {
	a, err := s.missionAccess(c)
	if err != nil {
		return nil, err
	}
	switch {
	case !a.CanManage():
		return nil, mission.ErrForbidden
	case a.Archived():
		return nil, mission.ErrReadOnly
	}
	return a, nil
}

// planTestID reads the :test route parameter.
func planTestID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("test"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

// planScenarioCandidates finds scenario templates whose name holds q, with
// their number of tests (two queries).
func (s *Server) planScenarioCandidates(ctx context.Context, q string) (missionpage.Candidates, error) {
	out := missionpage.Candidates{Kind: "scenarios", Query: q}
	if q == "" {
		return out, nil
	}
	list, err := s.Ent.ScenarioTemplate.Query().Where(scenariotemplate.NameContainsFold(q)).
		Order(scenariotemplate.ByName(), scenariotemplate.ByID()).
		Limit(missionpage.CandidateLimit + 1).All(ctx)
	if err != nil {
		return out, fmt.Errorf("search scenarios: %w", err)
	}
	if len(list) > missionpage.CandidateLimit {
		list, out.More = list[:missionpage.CandidateLimit], true
	}
	counts, err := s.scenarioTestCounts(ctx, list)
	if err != nil {
		return out, err
	}
	for _, sc := range list {
		out.Hits = append(out.Hits, missionpage.Candidate{ID: sc.ID.String(), Name: sc.Name, Tests: counts[sc.ID]})
	}
	return out, nil
}

// planTemplateCandidates finds test templates whose name holds q, with
// their ATT&CK tags (five queries).
func (s *Server) planTemplateCandidates(ctx context.Context, q string) (missionpage.Candidates, error) {
	out := missionpage.Candidates{Kind: "tests", Query: q}
	if q == "" {
		return out, nil
	}
	tq := s.Ent.TestTemplate.Query().Where(testtemplate.NameContainsFold(q)).
		Order(testtemplate.ByName(), testtemplate.ByID()).
		Limit(missionpage.CandidateLimit + 1)
	withScenarioTagEntries(tq)
	list, err := tq.Select(testtemplate.FieldName).All(ctx)
	if err != nil {
		return out, fmt.Errorf("search templates: %w", err)
	}
	if len(list) > missionpage.CandidateLimit {
		list, out.More = list[:missionpage.CandidateLimit], true
	}
	for _, t := range list {
		h := missionpage.Candidate{ID: t.ID.String(), Name: t.Name}
		for _, e := range scenarioTagEntries(t.Edges.MitreTags) {
			h.Tags = append(h.Tags, missionpage.Tag{Kind: string(e.Kind), ExternalID: e.ExternalID, Name: e.Name})
		}
		out.Hits = append(out.Hits, h)
	}
	return out, nil
}

// searchPlanScenarios answers the scenario search as you type with the
// results only; without htmx it is the page with them.
func (s *Server) searchPlanScenarios(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	q := planQuery(c.QueryParam("sq"))
	if !isPartial(c.Request()) {
		return c.Redirect(http.StatusSeeOther, "/missions/"+a.Mission.ID.String()+"?"+url.Values{"plan": {"1"}, "sq": {q}}.Encode())
	}
	res, err := s.planScenarioCandidates(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, missionpage.ScenarioResults(a.Mission.ID.String(), res), nil)
}

// searchPlanTemplates answers the test template search as you type.
func (s *Server) searchPlanTemplates(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	q := planQuery(c.QueryParam("tq"))
	if !isPartial(c.Request()) {
		return c.Redirect(http.StatusSeeOther, "/missions/"+a.Mission.ID.String()+"?"+url.Values{"plan": {"1"}, "tq": {q}}.Encode())
	}
	res, err := s.planTemplateCandidates(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, missionpage.TemplateResults(a.Mission.ID.String(), res), nil)
}

// planURL is the page with the plan editor open.
func planURL(a *mission.Access) string { return "/missions/" + a.Mission.ID.String() + "?plan=1" }

// renderPlanRefused renders the page with the plan editor open and a
// notice, with status (422: the request named something that is gone).
func (s *Server) renderPlanRefused(c echo.Context, a *mission.Access, status int, key string, form missionpage.NewTestForm) error {
	p, err := s.overviewPage(c.Request().Context(), a, missionpage.Filter{Group: missionpage.GroupScenario, Plan: true})
	if err != nil {
		return err
	}
	p.NoticeKey, p.NoticeError, p.NewTest = key, key != "", form
	return s.renderOverview(c, status, p)
}

// instantiateScenarios copies the chosen scenario templates into the plan,
// all of them or none (one transaction). A scenario deleted since the
// search is refused with 422 and nothing is copied.
func (s *Server) instantiateScenarios(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	var f planScenariosForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ids := make([]uuid.UUID, 0, len(f.ScenarioID))
	for _, raw := range f.ScenarioID {
		id, err := uuid.Parse(raw)
		if err != nil {
			return echo.ErrBadRequest
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return s.renderPlanRefused(c, a, http.StatusUnprocessableEntity, "missions.plan.choose_scenario", missionpage.NewTestForm{})
	}
	ctx := c.Request().Context()
	created, err := mission.Instantiate(ctx, s.Ent, a, ids)
	if ent.IsNotFound(err) {
		return s.renderPlanRefused(c, a, http.StatusUnprocessableEntity, "missions.plan.scenario_gone", missionpage.NewTestForm{})
	}
	if err != nil {
		return fmt.Errorf("instantiate scenarios: %w", err)
	}
	details := map[string]any{"change": "instantiate", "scenario_templates": uuidStrings(ids), "mission_scenarios": uuidStrings(created)}
	if err := mission.RecordPlanChange(ctx, s.Ent, a, details); err != nil {
		return err
	}
	s.flash(c, "success", "missions.plan.instantiated")
	return c.Redirect(http.StatusSeeOther, planURL(a))
}

// addPlanTemplate copies one test template into the plan, outside any
// scenario.
func (s *Server) addPlanTemplate(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	var f planTemplateForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	tid, err := uuid.Parse(f.TemplateID)
	if err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	id, err := mission.AddTemplate(ctx, s.Ent, a, tid, nil)
	if ent.IsNotFound(err) {
		return s.renderPlanRefused(c, a, http.StatusUnprocessableEntity, "missions.plan.template_gone", missionpage.NewTestForm{})
	}
	if err != nil {
		return fmt.Errorf("add template: %w", err)
	}
	details := map[string]any{"change": "add_template", "test_template_id": tid.String(), "test_id": id.String()}
	if err := mission.RecordPlanChange(ctx, s.Ent, a, details); err != nil {
		return err
	}
	s.flash(c, "success", "missions.plan.test_added")
	return c.Redirect(http.StatusSeeOther, planURL(a))
}

// checkPlanTest trims and validates a new test's name and description.
func checkPlanTest(f *planNewTestForm) components.Errors {
	f.Name = strings.TrimSpace(f.Name)
	f.Description = strings.TrimSpace(f.Description)
	errs := components.Errors{}
	switch {
	case f.Name == "":
		errs["name"] = "form.required"
	case len(f.Name) > missionpage.TestNameMax:
		errs["name"] = "missions.plan.name_too_long"
	}
	if utf8.RuneCountInString(f.Description) > missionpage.TestDescriptionMax {
		errs["description"] = "missions.plan.description_too_long"
	}
	return errs
}

// addPlanTest writes a test from scratch at the end of the plan.
func (s *Server) addPlanTest(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	var f planNewTestForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	if errs := checkPlanTest(&f); len(errs) > 0 {
		return s.renderPlanRefused(c, a, http.StatusUnprocessableEntity, "",
			missionpage.NewTestForm{Name: f.Name, Description: f.Description, Errors: errs})
	}
	if _, err := mission.AddNewTest(c.Request().Context(), s.Ent, a, f.Name, f.Description); err != nil {
		return fmt.Errorf("add test: %w", err)
	}
	s.flash(c, "success", "missions.plan.test_added")
	return c.Redirect(http.StatusSeeOther, planURL(a))
}

// changePlanTest runs one change to a test of the plan. htmx gets the test
// list back (with the filters of the page it was sent from); a plain form
// is redirected to the plan (303).
func (s *Server) changePlanTest(c echo.Context, saved string, run func(ctx context.Context, a *mission.Access, testID uuid.UUID) error) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	testID, err := planTestID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := run(ctx, a, testID); err != nil {
		return err
	}
	if !isPartial(c.Request()) {
		s.flash(c, "success", saved)
		return c.Redirect(http.StatusSeeOther, planURL(a)+"#test-"+testID.String())
	}
	f := missionpage.Filter{Group: missionpage.GroupScenario}
	if u, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil && u.Path == "/missions/"+a.Mission.ID.String() {
		f = overviewFilter(u.Query())
	}
	f.Plan = true
	p, err := s.overviewPage(ctx, a, f)
	if err != nil {
		return err
	}
	p.NoticeKey = saved
	return s.renderOverview(c, http.StatusOK, p)
}

// movePlanTest moves a test one place up or down within its scenario.
func (s *Server) movePlanTest(c echo.Context) error {
	return s.changePlanTest(c, "missions.plan.moved", func(ctx context.Context, a *mission.Access, id uuid.UUID) error {
		var f planMoveForm
		if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
			return echo.ErrBadRequest
		}
		delta := 0
		switch f.Direction {
		case "up":
			delta = -1
		case "down":
			delta = 1
		default:
			return echo.ErrBadRequest
		}
		return mission.MoveTest(ctx, s.Ent, a, id, delta)
	})
}

// setPlanTestCategory files a test under one of the mission's categories
// or under none.
func (s *Server) setPlanTestCategory(c echo.Context) error {
	return s.changePlanTest(c, "missions.plan.categorised", func(ctx context.Context, a *mission.Access, id uuid.UUID) error {
		var f planCategoryForm
		if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
			return echo.ErrBadRequest
		}
		var cat *uuid.UUID
		if raw := strings.TrimSpace(f.CategoryID); raw != "" {
			cid, err := uuid.Parse(raw)
			if err != nil {
				return echo.ErrBadRequest
			}
			cat = &cid
		}
		err := mission.SetCategory(ctx, s.Ent, a, id, cat)
		if errors.Is(err, mission.ErrNoCategory) {
			return echo.NewHTTPError(http.StatusUnprocessableEntity)
		}
		return err
	})
}

// removePlanTest takes a test out of the plan (soft delete).
func (s *Server) removePlanTest(c echo.Context) error {
	return s.changePlanTest(c, "missions.plan.removed", func(ctx context.Context, a *mission.Access, id uuid.UUID) error {
		return mission.RemoveTest(ctx, s.Ent, a, id)
	})
}

// uuidStrings formats ids for an audit event's details.
func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
