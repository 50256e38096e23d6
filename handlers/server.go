// Package handlers is Violet's HTTP layer: the one route table, the
// middleware, the error handler and one file of small handlers per
// resource. Handlers bind, call ent or a workflow function, and render.
package handlers

import (
	"bytes"
	"database/sql"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"ariga.io/atlas/sql/migrate"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/config"
	"violet/internal/i18n"
	"violet/static"
)

// Deps is everything the HTTP layer needs, built once by cmd/violet.
type Deps struct {
	Config     config.Config
	DB         *sql.DB
	Ent        *ent.Client
	Migrations migrate.Dir // the embedded directory, to tell whether the database is at head
	Catalog    *i18n.Catalog
	Assets     *static.Assets
	Log        *slog.Logger
	Version    string
	Now        func() time.Time // nil means time.Now
	// Hasher checks passwords; nil means argon2id with OWASP's parameters
	// and one hash per CPU at a time.
	Hasher *auth.Hasher
}

// Server holds the dependencies and serves Violet's HTTP requests.
type Server struct {
	Deps
	Sessions *auth.SessionStore
	throttle *auth.Throttle
	flashes  *sessions.CookieStore
	echo     *echo.Echo
	draining atomic.Bool
	buffers  sync.Pool // *bytes.Buffer for buffered rendering
	routes   []route
}

// New builds the server with its middleware and routes.
func New(d Deps) (*Server, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Hasher == nil {
		h, err := auth.NewHasher(auth.DefaultArgon2Params(), runtime.NumCPU(), 2*time.Second)
		if err != nil {
			return nil, err
		}
		d.Hasher = h
	}
	s := &Server{
		Deps:     d,
		Sessions: auth.NewSessionStore(d.DB, d.Config.SessionKey, d.Config.Secure(), d.Now),
		throttle: auth.DefaultThrottle(d.DB, d.Now),
		flashes:  newFlashStore(d.Config.SessionKey, d.Config.Secure()),
	}
	s.buffers.New = func() any { return new(bytes.Buffer) }
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	s.echo = e
	s.routes = s.routeTable()
	s.register()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Drain turns readiness off so load balancers stop sending new requests
// while in-flight ones finish (SIGTERM).
func (s *Server) Drain() { s.draining.Store(true) }

// ipExtractor trusts X-Forwarded-For only from the configured proxies and
// otherwise uses the connection's address.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{
		echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false),
	}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{
			IP:   net.IP(p.Addr().AsSlice()),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
