package handlers

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"violet/internal/i18n"
	"violet/views/layout"
)

// render writes page, or fragment when the request is an htmx partial
// request (not boosted, not a history restore), which must then get only
// the piece it swaps. It renders into a buffer first so a template error
// still becomes a clean 500 page instead of half a page.
func (s *Server) render(c echo.Context, status int, page, fragment templ.Component) error {
	c.Response().Header().Add("Vary", "HX-Request")
	comp := page
	if fragment != nil && isPartial(c.Request()) {
		comp = fragment
	}
	buf := s.buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.buffers.Put(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// isPartial reports whether htmx asked for a fragment rather than a page.
func isPartial(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" &&
		r.Header.Get("HX-Boosted") != "true" &&
		r.Header.Get("HX-History-Restore-Request") != "true"
}

// layoutProps builds the page frame's properties; title is an i18n key.
func (s *Server) layoutProps(c echo.Context, titleKey, navKey string) layout.Props {
	ctx := c.Request().Context()
	nav := []layout.NavItem{{Key: "nav.home", Href: "/"}}
	for i := range nav {
		nav[i].Current = nav[i].Key == navKey
	}
	return layout.Props{
		Title:   i18n.T(ctx, titleKey),
		Assets:  s.Assets,
		Version: s.Version,
		Nav:     nav,
	}
}
