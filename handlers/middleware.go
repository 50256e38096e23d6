package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/paths"
)

type requestIDKey struct{}

// requestIDFrom returns the id the requestID middleware gave the request.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID gives every request a random id, sent back as X-Request-Id,
// written in every log line and shown on error pages. An id sent by the
// client is ignored: it would let anyone write into our logs.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		req := c.Request()
		ctx := context.WithValue(req.Context(), requestIDKey{}, id)
		ctx = auth.WithRequestInfo(ctx, auth.RequestInfo{IP: c.RealIP(), UserAgent: req.UserAgent(), RequestID: id})
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// logRequests writes one line per request. It logs the route template, never
// the raw URL, so tokens in paths (invitation links) never reach the logs.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Let the error handler write the response now, so the status
			// logged is the one sent.
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		level := s.Log.Info
		switch {
		case res.Status >= 500:
			level = s.Log.Error
		case s.routeOf(c).quiet:
			level = s.Log.Debug
		}
		level("request",
			"id", requestIDFrom(req.Context()),
			"method", req.Method,
			"route", c.Path(),
			"status", res.Status,
			"bytes", res.Size,
			"took", time.Since(start).Round(time.Microsecond),
			"ip", c.RealIP(),
		)
		return nil
	}
}

// logPanic logs a recovered panic with its stack; the error then reaches
// the error handler, which shows the generic 500 page.
func (s *Server) logPanic(c echo.Context, err error, stack []byte) error {
	s.Log.Error("panic", "id", requestIDFrom(c.Request().Context()), "err", err, "stack", string(stack))
	return err
}

// contentSecurityPolicy allows nothing inline and nothing from elsewhere.
const contentSecurityPolicy = "default-src 'self'; object-src 'none'; base-uri 'none'; " +
	"frame-ancestors 'none'; form-action 'self'"

// securityHeaders sets the security headers on every response: no
// inline or foreign content, no sniffing, no framing, no referrer.
// Dynamic responses are not cached; static assets override that.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	secure := s.Config.Secure()
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Cache-Control", "no-store")
		if secure {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// crossOriginProtection refuses cross-origin state-changing requests with
// the standard library's Sec-Fetch-Site/Origin check (403), so no form
// needs a CSRF token. BASE_URL's origin is trusted for deployments where a
// proxy rewrites the Host header.
func (s *Server) crossOriginProtection() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	if u := s.Config.BaseURL; u != nil {
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			s.Log.Warn("BASE_URL is not a usable origin for cross-origin protection", "err", err)
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.routeOf(c).crossSite {
				// The SAML ACS (route.crossSite): checked by its cookie,
				// RelayState and signed assertion instead.
				return next(c)
			}
			if err := cop.Check(c.Request()); err != nil {
				return echo.NewHTTPError(http.StatusForbidden).SetInternal(err)
			}
			return next(c)
		}
	}
}

// deadline bounds every request (REQUEST_TIMEOUT) so that nothing waits on
// a stuck database forever. It only sets the context deadline; unlike
// echo's Timeout middleware it never writes a response behind the
// handler's back. Streaming routes (events) are long on purpose and bound
// themselves.
func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.routeOf(c).stream {
			return next(c)
		}
		req := c.Request()
		ctx, cancel := context.WithTimeout(req.Context(), s.Config.RequestTimeout)
		defer cancel()
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// locale picks the request's language (the user's choice once there are
// users, else Accept-Language, else the instance default) and puts it in
// the request context for views and handlers.
func (s *Server) locale(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		loc := s.Catalog.Pick("", req.Header.Get("Accept-Language"))
		h := c.Response().Header()
		h.Set("Content-Language", loc.Lang())
		h.Add("Vary", "Accept-Language")
		c.SetRequest(req.WithContext(i18n.NewContext(req.Context(), loc)))
		return next(c)
	}
}

type sessionKey struct{}

// sessionFrom returns the request's session (nil on routes that skip
// sessions).
func sessionFrom(ctx context.Context) *sessions.Session {
	sess, _ := ctx.Value(sessionKey{}).(*sessions.Session)
	return sess
}

// authenticate loads the session of the request's cookie and, when it is
// valid, puts the viewer (with the permissions read from the database just
// now), the viewer's language and time zone in the request context. It
// also rotates the session token or records activity when due. A missing,
// expired, revoked or tampered cookie leaves the request anonymous. Routes
// marked sessionless (assets, probes) skip all of it.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.routeOf(c).noSession {
			return next(c)
		}
		req := c.Request()
		sess, err := s.Sessions.Get(req, s.Sessions.Name())
		if err != nil {
			return fmt.Errorf("load session: %w", err)
		}
		ctx := context.WithValue(req.Context(), sessionKey{}, sess)
		if rec := auth.Record(sess); rec != nil {
			v := rec.Viewer()
			ctx = auth.NewContext(ctx, v)
			loc := s.Catalog.Pick(v.Locale, req.Header.Get("Accept-Language"))
			ctx = i18n.NewContext(ctx, loc)
			// Times are shown and entered in the viewer's zone; one not
			// chosen yet, or no longer known, is UTC.
			ctx = i18n.WithZone(ctx, s.zones.Of(v.TimeZone))
			c.Response().Header().Set("Content-Language", loc.Lang())
			if err := sess.Save(req.WithContext(ctx), c.Response()); err != nil {
				s.Log.Warn("refresh session", "id", requestIDFrom(ctx), "err", err)
			}
			if cur := auth.Record(sess); cur != nil && cur.ID != rec.ID {
				// The token was rotated on this request: the viewer names
				// the live session.
				ctx = auth.NewContext(ctx, cur.Viewer())
			}
		}
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// requireAccess enforces a route's declared access: anonymous visitors are
// sent to the sign-in page (htmx requests get 401 with HX-Redirect, since a
// redirect would be swapped into the page), signed-in viewers without the
// permission get 403. A write refused with 403, here or by the handler
// (a role on the mission, a privacy rule), is audited once.
func (s *Server) requireAccess(a access) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if a == public {
			return next
		}
		return func(c echo.Context) error {
			v := auth.FromContext(c.Request().Context())
			var err error
			switch {
			case v == nil:
				return s.toLogin(c)
			case s.mustEnrol(c):
				return s.toEnrolment(c)
			case a == signedIn || v.Can(auth.Permission(a)):
				err = next(c)
			default:
				err = echo.ErrForbidden
			}
			if err != nil && statusOf(err) == http.StatusForbidden && isWrite(c.Request().Method) {
				s.auditRefusal(c, err)
			}
			return err
		}
	}
}

// mustEnrol: a session signed in only to set up the second factor its
// group requires (its method says so: no query) reaches only the routes
// open to it (duringEnrolment); toEnrolment sends it to the enrolment
// page: 303 for a page, 403 for a write, HX-Redirect for htmx.
func (s *Server) mustEnrol(c echo.Context) bool {
	rec := auth.Record(sessionFrom(c.Request().Context()))
	if rec == nil || !auth.IsEnrolMethod(rec.Method) {
		return false
	}
	r := s.routeOf(c)
	return !r.enrol || (r.enrolClosedBy != "" && c.QueryParams().Has(r.enrolClosedBy))
}

func (s *Server) toEnrolment(c echo.Context) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", paths.AccountSecurity)
	} else if !isWrite(c.Request().Method) && !s.routeOf(c).stream {
		// An event stream is no page to send elsewhere: refused.
		return c.Redirect(http.StatusSeeOther, paths.AccountSecurity)
	}
	return echo.ErrForbidden
}

// isWrite reports a method that asks for a change. Refused reads are not
// audited: following a stale link is not an attempt to change anything,
// and every such page view would fill the log.
func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// refusalTarget names the deepest object a route names, which is what a
// refused write was aimed at: an evidence file, a mission test, else what
// the route's :id is by its prefix.
func refusalTarget(c echo.Context) (kind, id string) {
	if id = c.Param("ev"); id != "" {
		return "evidence_file", id
	}
	if id = c.Param("test"); id != "" {
		return "mission_test", id
	}
	if id = c.Param("id"); id == "" {
		return "", ""
	}
	route := c.Path()
	for _, k := range [...][2]string{
		{paths.Missions + "/", "mission"},
		{paths.Users + "/", "user"},
		{paths.Groups + "/", "group"},
		{paths.Invitations + "/", "invitation"},
		{paths.DetectionLevels + "/", "detection_level"},
		{paths.Tools + "/", "defensive_tool"},
		{paths.Templates + "/", "test_template"},
		{paths.Scenarios + "/", "scenario_template"},
		{paths.AccountEndSession, "session"},
		{paths.Notifications + "/", "notification"},
	} {
		if strings.HasPrefix(route, k[0]) {
			return k[1], id
		}
	}
	return "", id
}

// auditRefusal records a refused write with the viewer, the route
// template (never the raw URL), the method and the route's parameters.
// The refused change wrote nothing, so the event stands alone in its own
// statement. A client that went away does not stop the record, but the
// record is bounded like a request, so a database outage cannot hold the
// answer. Failing to audit does not change the answer (403).
func (s *Server) auditRefusal(c echo.Context, refusal error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), s.Config.RequestTimeout)
	defer cancel()
	route := c.Path()
	params := map[string]string{}
	for _, name := range c.ParamNames() {
		params[name] = c.Param(name)
	}
	kind, id := refusalTarget(c)
	r := audit.Refusal{Route: route, Method: c.Request().Method, Params: params, TargetType: kind, TargetID: id}
	if err := audit.RecordRefusal(ctx, s.Ent.AuditEvent, r); err != nil {
		s.Log.Error("audit a refused write", "id", requestIDFrom(ctx), "route", route, "refusal", refusal, "err", err)
	}
}

// toLogin sends an anonymous visitor to the sign-in page, remembering the
// page they asked for when it was one they could come back to.
func (s *Server) toLogin(c echo.Context) error {
	req := c.Request()
	back := ""
	switch {
	case req.Header.Get("HX-Request") == "true":
		if u, err := url.Parse(req.Header.Get("HX-Current-URL")); err == nil {
			back = u.RequestURI()
		}
	case req.Method == http.MethodGet:
		back = req.URL.RequestURI()
	}
	target := paths.Login
	if back = safeNext(back); back != paths.Home {
		target += "?next=" + url.QueryEscape(back)
	}
	if req.Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// safeNext returns next when it is a path on this site, "/" otherwise, so
// that the sign-in page cannot be used to send people elsewhere.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, paths.Login) {
		return paths.Home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return paths.Home
	}
	return next
}

// Request body limits: forms are small (2 MB, every route's default);
// the routes that take uploads of bundles and archives set 100 MB in the
// route table, and the evidence upload route the largest the settings
// allow (its handler narrows it to evidence.max_upload_bytes, plus the
// form, before reading a byte).
const (
	formBodyLimit   = 2 << 20
	uploadBodyLimit = 100 << 20
)

// bodyLimit refuses a body over the route's limit with 413: at once when
// Content-Length says so, else when reading passes the limit (the error
// handler maps http.MaxBytesError to 413). A request that matched no
// route has the form limit.
func (s *Server) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		limit := s.routeOf(c).bodyLimit()
		if req.ContentLength > limit {
			return echo.ErrStatusRequestEntityTooLarge
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		return next(c)
	}
}
