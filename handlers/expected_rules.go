package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/mission"
	"violet/views/expectedrules"
	mtviews "violet/views/missiontest"
	"violet/views/rulepicker"
)

// showExpectedRules renders the editor of the rules a test expects (leads
// and mission managers); ?rules_q= searches its Sigma rules picker (htmx
// gets only the picker's results).
func (s *Server) showExpectedRules(c echo.Context) error {
	a, id, err := s.missionTestRoute(c)
	if err != nil {
		return err
	}
	p, err := mission.ExpectedRulesEdit(c.Request().Context(), s.Ent, a, id,
		c.QueryParam(rulepicker.QueryField), c.QueryParams()[rulepicker.Field])
	if err != nil {
		return err
	}
	return s.renderExpectedRules(c, http.StatusOK, p)
}

// saveExpectedRules saves them and goes back to the test's page; refused
// rules (422) and a change made meanwhile (409) show the editor again with
// the input kept.
func (s *Server) saveExpectedRules(c echo.Context) error {
	a, id, err := s.missionTestRoute(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.ErrBadRequest
	}
	p, err := mission.SaveExpectedRules(c.Request().Context(), s.Ent, a, id, form.Get("seen"),
		form[expectedrules.ToolField], form[expectedrules.NameField], form[rulepicker.Field])
	switch {
	case err == nil:
		s.flash(c, "success", "expectedrules.saved")
		return c.Redirect(http.StatusSeeOther, p.TestURL)
	case p.Action != "" && (errors.Is(err, app.ErrInvalid) || errors.Is(err, mission.ErrConflict)):
		return s.renderExpectedRules(c, statusOf(err), p)
	}
	return err
}

// renderExpectedRules renders the editor page with status.
func (s *Server) renderExpectedRules(c echo.Context, status int, p mtviews.ExpectedEdit) error {
	lp := s.layoutProps(c, "expectedrules.title", "nav.missions")
	lp.Title = p.TestName + " · " + p.MissionName
	return s.render(c, status, mtviews.ExpectedEditPage(lp, p), rulepicker.Results(p.Rules))
}
