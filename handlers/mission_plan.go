package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/internal/mission"
	"violet/internal/paths"
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

// planAccess loads the mission for a plan search (or a navigator import):
// members who do not lead it get 403 (others 404, as for the page), an
// archived mission 409.
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

// planCandidates runs a plan search (mission.SearchScenarios or
// SearchTemplates) and shows its hits.
func (s *Server) planCandidates(ctx context.Context, kind, q string,
	search func(context.Context, *ent.Client, string, int) ([]mission.Candidate, bool, error)) (missionpage.Candidates, error) {
	hits, more, err := search(ctx, s.Ent, q, missionpage.CandidateLimit)
	out := missionpage.Candidates{Kind: kind, Query: q, More: more}
	for _, h := range hits {
		hit := missionpage.Candidate{ID: h.ID.String(), Name: h.Name, Tests: h.Tests}
		for _, t := range h.Tags {
			hit.Tags = append(hit.Tags, missionpage.Tag{Kind: t.Kind, ExternalID: t.ExternalID, Name: t.Name})
		}
		out.Hits = append(out.Hits, hit)
	}
	return out, err
}

// planScenarioCandidates finds scenario templates whose name holds q.
func (s *Server) planScenarioCandidates(ctx context.Context, q string) (missionpage.Candidates, error) {
	return s.planCandidates(ctx, "scenarios", q, mission.SearchScenarios)
}

// planTemplateCandidates finds test templates whose name holds q.
func (s *Server) planTemplateCandidates(ctx context.Context, q string) (missionpage.Candidates, error) {
	return s.planCandidates(ctx, "tests", q, mission.SearchTemplates)
}

// searchPlan answers a plan search as you type (its query parameter,
// param) with the results only; without htmx it is the page with them.
func (s *Server) searchPlan(c echo.Context, param, q string,
	search func(context.Context, string) (missionpage.Candidates, error),
	results func(string, missionpage.Candidates) templ.Component) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	if q = planQuery(q); !isPartial(c.Request()) {
		return c.Redirect(http.StatusSeeOther, paths.URL(paths.Mission, a.Mission.ID)+"?"+url.Values{"plan": {"1"}, param: {q}}.Encode())
	}
	res, err := search(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, results(a.Mission.ID.String(), res), nil)
}

// searchPlanScenarios answers the scenario search.
func (s *Server) searchPlanScenarios(c echo.Context) error {
	return s.searchPlan(c, "sq", c.QueryParam("sq"), s.planScenarioCandidates, missionpage.ScenarioResults)
}

// searchPlanTemplates answers the test template search.
func (s *Server) searchPlanTemplates(c echo.Context) error {
	return s.searchPlan(c, "tq", c.QueryParam("tq"), s.planTemplateCandidates, missionpage.TemplateResults)
}

// planURL is the page with the plan editor open.
func planURL(a *mission.Access) string { return paths.URL(paths.Mission, a.Mission.ID) + "?plan=1" }

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

// addToPlan answers a plan addition (err, its workflow's outcome): the
// plan with a flash, or the plan with the refusal's notice and the new
// test's form as sent with its errors (422).
func (s *Server) addToPlan(c echo.Context, a *mission.Access, saved string, form missionpage.NewTestForm, err error) error {
	if inv, ok := missionInvalid(err); ok {
		form.Errors = inv.Fields
		return s.renderPlanRefused(c, a, http.StatusUnprocessableEntity, inv.Key, form)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", saved)
	return c.Redirect(http.StatusSeeOther, planURL(a))
}

// instantiateScenarios copies the chosen scenario templates into the plan,
// all of them or none. A scenario deleted since the search is refused
// with 422 and nothing is copied.
func (s *Server) instantiateScenarios(c echo.Context) error {
	a, err := s.missionAccess(c)
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
	_, err = s.missions().InstantiateScenarios(c.Request().Context(), a, ids)
	return s.addToPlan(c, a, "missions.plan.instantiated", missionpage.NewTestForm{}, err)
}

// addPlanTemplate copies one test template into the plan, outside any
// scenario.
func (s *Server) addPlanTemplate(c echo.Context) error {
	a, err := s.missionAccess(c)
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
	_, err = s.missions().AddTemplate(c.Request().Context(), a, tid)
	return s.addToPlan(c, a, "missions.plan.test_added", missionpage.NewTestForm{}, err)
}

// addPlanTest writes a test from scratch at the end of the plan; a
// refused one comes back with the input kept.
func (s *Server) addPlanTest(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	var f planNewTestForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := mission.NewTestInput{Name: f.Name, Description: f.Description}.Normalize()
	_, err = s.missions().AddTest(c.Request().Context(), a, in)
	return s.addToPlan(c, a, "missions.plan.test_added", missionpage.NewTestForm{Name: in.Name, Description: in.Description}, err)
}

// changePlanTest runs one change to a test of the plan (run, a workflow
// of internal/mission). htmx gets the test list back (with the filters
// of the page it was sent from); a plain form is redirected to the plan
// (303).
func (s *Server) changePlanTest(c echo.Context, saved string, run func(ctx context.Context, a *mission.Access, testID uuid.UUID) error) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	testID, err := uuid.Parse(c.Param("test"))
	if err != nil {
		return echo.ErrNotFound
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
	if u, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil && u.Path == paths.URL(paths.Mission, a.Mission.ID) {
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
		delta, ok := map[string]int{"up": -1, "down": 1}[f.Direction]
		if !ok {
			return echo.ErrBadRequest
		}
		return mission.MoveTest(ctx, s.Ent, a, id, delta)
	})
}

// setPlanTestCategory files a test under one of the mission's categories
// or under none; a category that is not the mission's is 422.
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
		return mission.SetCategory(ctx, s.Ent, a, id, cat)
	})
}

// removePlanTest takes a test out of the plan (soft delete).
func (s *Server) removePlanTest(c echo.Context) error {
	return s.changePlanTest(c, "missions.plan.removed", func(ctx context.Context, a *mission.Access, id uuid.UUID) error {
		return mission.RemoveTest(ctx, s.Ent, a, id)
	})
}
