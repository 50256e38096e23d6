package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/timeline"
	tlviews "violet/views/timeline"
)

// showMissionTimeline renders the execution timeline (internal/timeline).
func (s *Server) showMissionTimeline(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	p, err := timeline.Load(c.Request().Context(), s.Ent, s.DB, a, timeline.FilterOf(c.QueryParams()), s.Now())
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "timeline.title", "nav.missions")
	lp.Title = p.Name + " · " + lp.Title
	return s.render(c, http.StatusOK, tlviews.TimelinePage(lp, p), tlviews.Timeline(p))
}
