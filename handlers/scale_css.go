package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	detection "violet/internal/scale"
)

// etagMatches reports whether an If-None-Match header names tag (weak
// comparison, as RFC 9110 asks for If-None-Match), or is "*".
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}

// showScaleCSS serves the detection scale's colours as a stylesheet
// (scale.Service.Stylesheet): the CSP forbids inline styles, so this is
// how colours chosen by an admin reach the page. Browsers revalidate it on
// every use (no-cache) and get a 304 while the scale is unchanged.
func (s *Server) showScaleCSS(c echo.Context) error {
	ctx := c.Request().Context()
	levels := detection.NewService(s.Ent, s.DB)
	tag, err := levels.Version(ctx)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("ETag", tag)
	h.Set("Cache-Control", "no-cache")
	if etagMatches(c.Request().Header.Get("If-None-Match"), tag) {
		return c.NoContent(http.StatusNotModified)
	}
	css, err := levels.Stylesheet(ctx)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", css)
}
