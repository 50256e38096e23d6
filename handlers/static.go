package handlers

import "github.com/labstack/echo/v4"

// serveAsset serves an embedded static file; unknown names get the usual
// 404 page.
func (s *Server) serveAsset(c echo.Context) error {
	if !s.Assets.Serve(c.Response(), c.Request()) {
		return echo.ErrNotFound
	}
	return nil
}
