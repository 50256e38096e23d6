package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/views/home"
)

// showHome renders the home page with its Database card.
func (s *Server) showHome(c echo.Context) error {
	card := s.dbCard(c.Request().Context())
	return s.render(c, http.StatusOK, home.Page(s.layoutProps(c, "home.title", "nav.home"), card), nil)
}
