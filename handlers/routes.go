package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"violet/internal/auth"
	"violet/static"
)

// access is what a route requires: public, or a permission code. Every
// route declares one; a test walks the table and fails on a route that
// does not (QUALITY.md §1, deny by default).
type access string

// public marks a route anyone may call.
const public access = "public"

// need declares that a route requires a permission.
func need(p auth.Permission) access { return access(p) }

// route is one entry of the route table.
type route struct {
	method  string
	path    string
	access  access
	handler echo.HandlerFunc
}

// routeTable is THE route table: every URL Violet answers, in one place.
func (s *Server) routeTable() []route {
	return []route{
		{http.MethodGet, "/", public, s.showHome},
		{http.MethodGet, "/diag", public, s.showDiag},
		{http.MethodGet, "/api/v1/diag/db", public, s.diagDB},
		{http.MethodGet, "/healthz", public, s.healthz},
		{http.MethodGet, "/readyz", public, s.readyz},
		{http.MethodGet, static.Prefix + "*", public, s.serveAsset},
	}
}

// register installs the middleware and the route table on echo.
func (s *Server) register() {
	e := s.echo
	e.Use(
		s.requestID,
		s.logRequests,
		middleware.RecoverWithConfig(middleware.RecoverConfig{LogErrorFunc: s.logPanic, DisableStackAll: true}),
		s.securityHeaders,
		s.locale,
		s.crossOriginProtection(),
		s.deadline,
	)
	gzip := middleware.Gzip()
	for _, r := range s.routes {
		var mw []echo.MiddlewareFunc
		if r.path == static.Prefix+"*" {
			mw = append(mw, gzip)
		}
		e.Add(r.method, r.path, r.handler, mw...)
		if r.method == http.MethodGet {
			// Probes and link checkers send HEAD; the server drops the body.
			e.Add(http.MethodHead, r.path, r.handler, mw...)
		}
	}
}
