package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/paths"
	"violet/views/admin"
)

// listAuditEvents renders the audit log (audit.List), newest first,
// filtered and paged. A filter that cannot be used answers 422 with the
// reason next to the field and the rest of the filter applied. htmx
// requests get only the results.
func (s *Server) listAuditEvents(c echo.Context) error {
	ctx := c.Request().Context()
	page, _ := strconv.Atoi(c.QueryParam("page")) // a malformed page is the first
	l, err := audit.List(ctx, s.Ent, audit.Query{Actor: c.QueryParam("actor"), Action: c.QueryParam("action"),
		From: c.QueryParam("from"), To: c.QueryParam("to"), Page: page})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(l.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	lp := s.layoutProps(c, "audit.title", "nav.admin")
	return s.render(c, status, admin.AuditPage(lp, adminTabs(auth.FromContext(ctx), paths.Audit), l), admin.AuditResults(l))
}
