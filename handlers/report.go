package handlers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"

	"github.com/a-h/templ"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"golang.org/x/sync/semaphore"

	"violet/internal/missionread"
	"violet/internal/paths"
	"violet/views/report"
)

// showMissionReport renders the printable report of a mission: what every
// page of the mission shows, on paper. A blue member's report holds the
// released tests only, like their overview. It runs a fixed number of
// queries whatever the number of tests (missionread.Report).
//
// The report of a large mission is megabytes of HTML: it is rendered
// straight to the response through a small buffer (reportBuffer) rather
// than whole into memory as s.render does, so a request holds its view
// model and a few kilobytes of output, never the page. Every statement
// runs before the first byte is sent, so a failure to read the mission is
// still an error page with its status. A failure once the page has
// started (the client gone, a view failing) can no longer change the
// status: the report ends with a visible marker saying it is incomplete
// (report.Truncated), and the error is logged by handleError.
func (s *Server) showMissionReport(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	release, err := s.holdDocument(ctx)
	if err != nil {
		return err
	}
	defer release()
	r, err := missionread.Report(ctx, s.Ent, s.DB, a, s.Now())
	if err != nil {
		return err
	}
	r.Assets, r.PageCSS = s.Assets, reportCSSPath(a.Mission.ID)
	res := c.Response()
	res.Header().Add("Vary", "HX-Request")
	res.Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	res.WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	return streamReport(ctx, res, report.Page(r))
}

// streamReport renders page to w through a buffer of reportBuffer bytes.
// When the page fails half-way, what was rendered is sent followed by the
// marker saying the report is incomplete (report.Truncated), and the
// error returned; the marker is best effort, the connection may be what
// failed.
func streamReport(ctx context.Context, w io.Writer, page templ.Component) error {
	bw := bufio.NewWriterSize(w, reportBuffer)
	if err := page.Render(ctx, bw); err != nil {
		_ = report.Truncated().Render(context.WithoutCancel(ctx), bw)
		_ = bw.Flush()
		return fmt.Errorf("render the report: %w", err)
	}
	return bw.Flush()
}

// newDocumentBudget bounds the reports and large exports built at once:
// four per core. Each holds its mission's model (a few megabytes for
// 1,000 tests) while it is read and written; beyond a few per core they
// only share the same processors, slower, and their models add up (the
// report's memory budget, docs/ARCHITECTURE.md "Performance budgets").
func newDocumentBudget() *semaphore.Weighted {
	return semaphore.NewWeighted(int64(4 * max(1, runtime.GOMAXPROCS(0))))
}

// holdDocument waits for a place in the document budget, until the
// request's deadline (then 503: the server is busy) or its client leaves.
// It returns the function that gives the place back. A reader who stalls
// keeps their place until the connection's write fails.
func (s *Server) holdDocument(ctx context.Context) (func(), error) {
	if err := s.reports.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("wait for a report's turn: %w", err)
	}
	return func() { s.reports.Release(1) }, nil
}

// reportBuffer is the report's output buffer: large enough that the
// response is written in a few hundred writes of this size, small enough
// that concurrent reports hold little memory.
const reportBuffer = 32 << 10

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
