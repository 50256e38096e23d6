package handlers

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"violet/handlers/api"

	"github.com/labstack/echo/v4"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/privacy"
	"violet/internal/app"
	"violet/internal/mission"
	"violet/views/errorpage"
)

// handleError is the one HTTP error handler. It maps an error to a status,
// logs what is internal, and shows the user a generic page (or, for htmx
// requests, a toast; for the JSON API, a JSON body) with the request id and
// nothing internal: no SQL, no paths, no stack.
func (s *Server) handleError(err error, c echo.Context) {
	status := statusOf(err)
	if c.Response().Committed {
		// Too late to change the response; the log is all there is.
		s.Log.Error("error after the response was sent", "id", requestIDFrom(c.Request().Context()),
			"route", c.Path(), "err", err)
		return
	}
	// The request's context may already be cancelled (deadline spent,
	// middleware unwound); the error page must still render, with the
	// request's values (language, request id).
	req := c.Request()
	req = req.WithContext(context.WithoutCancel(req.Context()))
	c.SetRequest(req)
	rid := requestIDFrom(req.Context())
	switch {
	case status == statusClientClosed:
		s.Log.Debug("client went away", "id", rid, "route", c.Path())
		return
	case status >= 500:
		s.Log.Error("request failed", "id", rid, "route", c.Path(), "status", status, "err", err)
	default:
		s.Log.Debug("request refused", "id", rid, "route", c.Path(), "status", status, "err", err)
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "5")
	}
	var werr error
	switch {
	case req.Method == http.MethodHead:
		werr = c.NoContent(status)
	case strings.HasPrefix(c.Path(), "/api/") || strings.HasPrefix(req.URL.Path, "/api/"):
		werr = s.writeProblem(c, status, err, rid)
	default:
		p := errorProps(status, rid)
		var bad *badTextError
		if errors.As(err, &bad) {
			bad.props(&p)
		}
		if req.Header.Get("HX-Request") == "true" {
			// Keep the page as it is and append a toast to the live region.
			h := c.Response().Header()
			h.Set("HX-Retarget", "#toasts")
			h.Set("HX-Reswap", "beforeend")
			werr = s.render(c, status, errorpage.Toast(p), nil)
		} else {
			werr = s.render(c, status, errorpage.Page(s.layoutProps(c, p.TitleKey, ""), p), nil)
		}
	}
	if werr != nil {
		s.Log.Error("write error response", "id", rid, "err", werr)
	}
}

// statusClientClosed is nginx's 499: the client closed the connection
// before the answer; nobody reads the response and nothing is wrong.
const statusClientClosed = 499

// statusOf maps an error to the HTTP status the user gets.
func statusOf(err error) int {
	var (
		he  *echo.HTTPError
		bad *badTextError
	)
	var apiBad *api.BadRequest
	switch {
	case errors.As(err, &bad):
		return bad.status
	case errors.As(err, &apiBad):
		return apiBad.Status
	case errors.Is(err, api.ErrPrecondition):
		return http.StatusPreconditionFailed
	case errors.As(err, &he):
		return he.Code
	case errors.Is(err, context.Canceled):
		return statusClientClosed
	case errors.As(err, new(*http.MaxBytesError)):
		return http.StatusRequestEntityTooLarge
	case ent.IsNotFound(err):
		return http.StatusNotFound
	case errors.Is(err, app.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, privacy.Deny), errors.Is(err, mission.ErrForbidden), errors.Is(err, app.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, mission.ErrReadOnly), errors.Is(err, mission.ErrConflict), mission.IsState(err),
		errors.Is(err, app.ErrConflict), errors.Is(err, app.ErrBusy):
		return http.StatusConflict
	case mission.IsTransition(err), errors.Is(err, app.ErrInvalid):
		return http.StatusUnprocessableEntity
	case isUnavailable(err):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// isUnavailable reports errors that mean "the database cannot be reached
// right now" rather than a bug: refused or timed-out connections, a server
// shutting down, a request deadline spent waiting for it.
func isUnavailable(err error) bool {
	var (
		opErr *net.OpError
		pqErr *pq.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.As(err, &opErr):
		return true
	case errors.As(err, &pqErr):
		// Class 57: operator intervention (admin shutdown, crash shutdown,
		// cannot connect now); class 08: connection exception.
		return strings.HasPrefix(string(pqErr.Code), "57") || strings.HasPrefix(string(pqErr.Code), "08")
	}
	return false
}

// errorProps picks the title and message for a status.
func errorProps(status int, rid string) errorpage.Props {
	p := errorpage.Props{Status: status, RequestID: rid}
	switch status {
	case http.StatusBadRequest:
		p.TitleKey, p.MessageKey = "error.bad_request_title", "error.bad_request"
	case http.StatusUnauthorized, http.StatusForbidden:
		p.TitleKey, p.MessageKey = "error.forbidden_title", "error.forbidden"
	case http.StatusNotFound:
		p.TitleKey, p.MessageKey = "error.not_found_title", "error.not_found"
	case http.StatusMethodNotAllowed:
		p.TitleKey, p.MessageKey = "error.method_not_allowed_title", "error.method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		p.TitleKey, p.MessageKey = "error.too_large_title", "error.too_large"
	case http.StatusTooManyRequests:
		p.TitleKey, p.MessageKey = "error.too_many_title", "error.too_many"
	case http.StatusServiceUnavailable:
		p.TitleKey, p.MessageKey = "error.unavailable_title", "error.unavailable"
	default:
		if status < 500 {
			p.TitleKey, p.MessageKey = "error.bad_request_title", "error.bad_request"
		} else {
			p.TitleKey, p.MessageKey = "error.internal_title", "error.internal"
		}
	}
	return p
}
