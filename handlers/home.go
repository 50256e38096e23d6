package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	homeread "violet/internal/home"
	"violet/views/home"
)

// showHome renders the home page: the viewer's queues, missions and recent
// activity (and, for administrators, the Database card and jobs).
func (s *Server) showHome(c echo.Context) error {
	p, err := homeread.Load(c.Request().Context(), s.Ent, s.DB, s.Now())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, home.Page(s.layoutProps(c, "home.title", "nav.home"), p), nil)
}
