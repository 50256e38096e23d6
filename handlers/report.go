package handlers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/missionread"
	"violet/internal/paths"
	"violet/views/report"
)

// showMissionReport renders the printable report of a mission: what every
// page of the mission shows, on paper. A blue member's report holds the
// released tests only, like their overview. It runs a fixed number of
// queries whatever the number of tests (missionread.Report).
func (s *Server) showMissionReport(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	r, err := missionread.Report(c.Request().Context(), s.Ent, s.DB, a, s.Now())
	if err != nil {
		return err
	}
	r.Assets, r.PageCSS = s.Assets, reportCSSPath(a.Mission.ID)
	return s.render(c, http.StatusOK, report.Page(r), nil)
}

// showMissionReportCSS serves the report's running header: the mission's
// name in the top margin of every printed page. Chromium prints the
// content of page margin boxes but not string-set, and the CSP forbids an
// inline style, so the name reaches @page through this small stylesheet,
// behind the same access check as the report.
func (s *Server) showMissionReportCSS(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	// It carries the mission's name: not stored, like the report itself.
	c.Response().Header().Set("Cache-Control", "private, no-store")
	css := "@page { @top-left { content: " + cssString(a.Mission.Name) + "; } }\n"
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", []byte(css))
}

// reportCSSPath is the running header stylesheet of a mission.
func reportCSSPath(id uuid.UUID) string { return paths.URL(paths.MissionReportCSS, id) }

// cssString quotes s as a CSS string: quotes, backslashes and control
// characters are written as escapes, so no name can end the string or
// the rule.
func cssString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r < 0x20 || r == 0x7f || r == '<' || r == '>':
			fmt.Fprintf(&b, "\\%x ", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
