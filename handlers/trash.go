package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/trash"
	"violet/views/admin"
)

// listTrash renders the trash (trash.List): every soft-deleted item the
// viewer may restore, newest deletion first. The Restore buttons post to
// each kind's own restore route, which checks again and redirects to the
// restored item. htmx requests get only the results.
func (s *Server) listTrash(c echo.Context) error {
	ctx := c.Request().Context()
	page, _ := strconv.Atoi(c.QueryParam("page")) // a malformed page is the first
	l, err := trash.List(ctx, s.DB, trash.Query{Q: c.QueryParam("q"), Type: c.QueryParam("type"), Page: page})
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "trash.title", "nav.admin")
	return s.render(c, http.StatusOK, admin.TrashPage(lp, adminTabs(auth.FromContext(ctx), paths.Trash), l), admin.TrashResults(l))
}
