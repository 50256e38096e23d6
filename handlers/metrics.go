package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"violet/internal/metrics"
	"violet/internal/paths"
)

// metricsPath serves the Prometheus metrics.
const metricsPath = paths.Metrics

// observeRequests times every request into the request-duration histogram,
// labelled by the route template (c.Path()), never the URL: paths carry
// ids and invitation tokens, and a label per id would grow without bound.
// Requests that matched no route share one label. Streaming routes (event
// streams) stay open for minutes by design and are left out: they would
// only stretch the top bucket. It sits outside logRequests, whose c.Error
// has written the final status by the time it looks.
func (s *Server) observeRequests() echo.MiddlewareFunc {
	// The route templates, fixed once the table is built; echo reports a
	// near miss (a 404 under a known prefix) with a template-like path
	// that is not a route, which this folds into metrics.Unmatched.
	known := make(map[string]bool, len(s.routes))
	for _, r := range s.routes {
		known[r.path] = true
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			route := c.Path()
			if s.routeOf(c).stream {
				return next(c)
			}
			if !known[route] {
				route = metrics.Unmatched
			}
			start := time.Now()
			err := next(c)
			s.Metrics.ObserveRequest(c.Request().Method, route, c.Response().Status, time.Since(start))
			return err
		}
	}
}

// metricsAccess guards the routes marked bearer (/metrics): a request
// with "Authorization: Bearer" must carry METRICS_TOKEN (else 401,
// whoever is signed in: a scraper with a stale token should hear so, not
// be sent to a sign-in page);
// without one the route's declared permission applies as on every route.
// The token is compared as a SHA-256 digest in constant time, so neither
// its content nor its length shows in the timing.
func (s *Server) metricsAccess(a access) echo.MiddlewareFunc {
	var want []byte
	if s.Config.MetricsToken != "" {
		sum := sha256.Sum256([]byte(s.Config.MetricsToken))
		want = sum[:]
	}
	byPermission := s.requireAccess(a)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		checked := byPermission(next)
		return func(c echo.Context) error {
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			if h == "" {
				return checked(c)
			}
			scheme, token, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				return checked(c)
			}
			got := sha256.Sum256([]byte(strings.TrimSpace(token)))
			if want == nil || subtle.ConstantTimeCompare(got[:], want) != 1 {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="violet metrics"`)
				return c.String(http.StatusUnauthorized, "invalid metrics token\n")
			}
			return next(c)
		}
	}
}

// showMetrics writes the server's metrics in the Prometheus text format
// (or OpenMetrics when the scraper asks for it).
func (s *Server) showMetrics(c echo.Context) error {
	s.Metrics.Handler().ServeHTTP(c.Response(), c.Request())
	return nil
}
