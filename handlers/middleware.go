package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"violet/internal/i18n"
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
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), requestIDKey{}, id)))
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
		switch path := c.Path(); {
		case res.Status >= 500:
			level = s.Log.Error
		case path == "/healthz" || path == "/readyz" || strings.HasPrefix(path, "/static/"):
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

// securityHeaders sets the headers of QUALITY.md §1 on every response.
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
// handler's back.
func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
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
