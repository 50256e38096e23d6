package handlers

import (
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/gaps"
	"violet/internal/mission"
	"violet/internal/missionread"
	gapviews "violet/views/gaps"
	"violet/views/missionpage"
)

// overviewFilter reads the mission page's query string
// (missionread.FilterOf).
func overviewFilter(q url.Values) missionpage.Filter { return missionread.FilterOf(q) }

// showMission renders a mission's overview page: header, figures, progress
// and its tests grouped and filtered. Leads get the plan editor with
// ?plan=1. htmx requests (filters, grouping) get only the test list. The
// page runs a fixed number of queries whatever the number of tests.
func (s *Server) showMission(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	p, err := s.overviewPage(c.Request().Context(), a, overviewFilter(c.QueryParams()))
	if err != nil {
		return err
	}
	if p.Filter.Plan && p.Editable {
		ctx := c.Request().Context()
		if p.Scenarios, err = s.planScenarioCandidates(ctx, planQuery(c.QueryParam("sq"))); err != nil {
			return err
		}
		if p.Templates, err = s.planTemplateCandidates(ctx, planQuery(c.QueryParam("tq"))); err != nil {
			return err
		}
	}
	return s.renderOverview(c, http.StatusOK, p)
}

// renderOverview renders the page, or for htmx the test list only.
func (s *Server) renderOverview(c echo.Context, status int, p missionpage.Page) error {
	fragment := missionpage.ListUpdate(p)
	if isPartial(c.Request()) {
		// No page frame, so no layoutProps: pending flash messages stay
		// for the next page.
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "missions.page.title", "nav.missions")
	lp.Title = p.Name + " · " + lp.Title
	lp.Live = s.liveURL(uuid.MustParse(p.ID))
	return s.render(c, status, missionpage.MissionPage(lp, p), fragment)
}

// overviewPage loads what the mission page shows (missionread.Overview).
func (s *Server) overviewPage(ctx context.Context, a *mission.Access, f missionpage.Filter) (missionpage.Page, error) {
	return missionread.Overview(ctx, s.Ent, s.DB, a, f)
}

// showMissionFigures renders the mission's figures alone, for the live
// updates of an open mission page (three queries).
func (s *Server) showMissionFigures(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	p, err := missionread.Figures(c.Request().Context(), s.DB, a)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, missionpage.Figures(p), nil)
}

// showMissionGaps renders the mission's gaps (internal/gaps).
func (s *Server) showMissionGaps(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	p, err := gaps.Of(c.Request().Context(), s.Ent, a)
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "gaps.page_title", "nav.missions")
	lp.Title = p.MissionName + " · " + lp.Title
	return s.render(c, http.StatusOK, gapviews.GapsPage(lp, p), gapviews.Gaps(p))
}
