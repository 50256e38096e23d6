package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/paths"
	"violet/internal/retest"
	retestviews "violet/views/retest"
)

// retests returns the retest workflow (internal/retest).
func (s *Server) retests() *retest.Service { return retest.NewService(s.Ent, s.Notifier) }

// showRetestForm renders the form creating a retest of the mission.
func (s *Server) showRetestForm(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	f, err := s.retests().Form(c.Request().Context(), a, nil, nil)
	if err != nil {
		return err
	}
	return s.renderRetestForm(c, http.StatusOK, f)
}

func (s *Server) renderRetestForm(c echo.Context, status int, f retestviews.Form) error {
	lp := s.layoutProps(c, "retest.form.page_title", "nav.missions")
	lp.Title = f.MissionName + " · " + lp.Title
	return s.render(c, status, retestviews.FormPage(lp, f), nil)
}

// createRetest creates the retest and opens it; a refused form comes back
// with its errors and the user's choices.
func (s *Server) createRetest(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.ErrBadRequest
	}
	in := retest.Input{Name: form.Get("name"), StartDate: form.Get("start_date"), EndDate: form.Get("end_date"),
		Tests: form["tests"], Members: form["members"]}
	ctx := c.Request().Context()
	m, err := s.retests().Create(ctx, a, in)
	if inv, ok := missionInvalid(err); ok {
		f, err := s.retests().Form(ctx, a, &in, inv.Fields)
		if err != nil {
			return err
		}
		return s.renderRetestForm(c, http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "retest.created")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Mission, m.ID))
}

// showRetestLinks renders the overview's retest links, fetched after the
// mission page has loaded.
func (s *Server) showRetestLinks(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	l, err := retest.Links(c.Request().Context(), s.Ent, a)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, retestviews.LinksFragment(l), nil)
}

// showCompare renders a retest beside the mission it retests.
func (s *Server) showCompare(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	p, err := retest.ComparePage(c.Request().Context(), s.DB, a)
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "retest.compare.title", "nav.missions")
	lp.Title = p.MissionName + " · " + lp.Title
	return s.render(c, http.StatusOK, retestviews.ComparePageView(lp, p), retestviews.ComparisonView(p.Comparison))
}
