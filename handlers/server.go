// Package handlers is Violet's HTTP layer: the one route table, the
// middleware, the error handler and one file of small handlers per
// resource. Handlers bind, call ent or a workflow function, and render.
package handlers

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
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
	"golang.org/x/sync/semaphore"

	"violet/ent"
	"violet/handlers/api"
	"violet/internal/apitoken"
	"violet/internal/attack"
	"violet/internal/auth"
	"violet/internal/config"
	"violet/internal/evidence"
	"violet/internal/i18n"
	"violet/internal/job"
	"violet/internal/live"
	"violet/internal/metrics"
	"violet/internal/mission"
	"violet/internal/notify"
	"violet/internal/signin"
	"violet/internal/sso"
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
	// HTTPClient fetches ATT&CK bundles; nil means attack.DefaultHTTPClient.
	HTTPClient *http.Client
	// Live is the feed of changes for open pages; its Run is the caller's
	// to start and stop (stopping it ends the event streams, which lets a
	// graceful shutdown finish).
	Live *live.Hub
	// Evidence is the blob store of evidence files, built once at
	// start-up from the configuration; nil means the directory
	// Config.EvidenceDir.
	Evidence evidence.Store
	// Decodes is the process's memory budget for image decodes (evidence
	// previews), shared by every upload; nil means a budget of
	// evidence.DefaultDecodeBudget for this server.
	Decodes *evidence.DecodeBudget
	// SSO is the environment's OpenID Connect provider; nil:
	// Config.OIDC's (none without OIDC_ISSUER). Only read to build SignIn.
	SSO *sso.Provider
	// SignIn is every provider people may sign in with: SSO and those set
	// up on Administration → Sign-in; nil: built from SSO.
	SignIn *signin.Registry
	// APILimits is each API token's rate; zero means api.DefaultLimits.
	APILimits api.Limits
}

// Server holds the dependencies and serves Violet's HTTP requests.
type Server struct {
	Deps
	Sessions *auth.SessionStore
	// Jobs runs the recorded jobs (catalogue syncs, library imports):
	// they outlive the request that started them; Wait lets them finish
	// at shutdown.
	Jobs     *job.Runner
	Syncer   *attack.Syncer
	Notifier *notify.Notifier
	// Steps runs the mission tests' steps with their audit and
	// announcements, as the demo does.
	Steps *mission.Steps
	// Metrics is this server's Prometheus registry and collectors,
	// served at /metrics.
	Metrics  *metrics.Metrics
	throttle *auth.Throttle
	flashes  *sessions.CookieStore
	echo     *echo.Echo
	draining atomic.Bool
	buffers  sync.Pool  // *bytes.Buffer for buffered rendering
	zones    i18n.Zones // the viewers' time zones, loaded once each
	routes   []route
	byRoute  routeIndex // the routes' settings, for the middleware

	// The JSON API: its document, its tokens, and each token's rate.
	apiSpec   *api.Spec
	tokens    *apitoken.Service
	apiLimits *api.Limiter

	reports *semaphore.Weighted // reports and large exports built at once (report.go)
}

// New builds the server with its middleware and routes.
func New(d Deps) (*Server, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Evidence == nil {
		d.Evidence = evidence.NewDir(d.Config.EvidenceDir)
	}
	if d.Decodes == nil {
		d.Decodes = evidence.NewDecodeBudget(evidence.DefaultDecodeBudget)
	}
	if d.Config.BodyIdleTimeout == 0 {
		d.Config.BodyIdleTimeout = defaultBodyIdleTimeout
	}
	if d.SignIn == nil {
		env := d.SSO
		if env == nil {
			p, err := sso.New(d.Config.OIDC, d.Config.SessionKey, d.Config.Secure(), d.Config.BaseURL, nil, d.Log)
			if err != nil {
				return nil, err
			}
			env = p
		}
		r, err := signin.New(signin.Deps{Client: d.Ent, Env: env, SessionKey: d.Config.SessionKey,
			Secure: d.Config.Secure(), Base: d.Config.BaseURL, Log: d.Log, SAMLSP: d.Config.SAMLSP})
		if err != nil {
			return nil, err
		}
		d.SignIn = r
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
		Notifier: notify.New(d.Catalog),
		Metrics:  metrics.New(d.DB, slog.NewLogLogger(d.Log.Handler(), slog.LevelError)),
	}
	if d.Live == nil {
		return nil, errors.New("handlers: Deps.Live is required")
	}
	s.Steps = mission.NewSteps(d.Ent, s.Notifier)
	spec, err := api.Load()
	if err != nil {
		return nil, err
	}
	if d.APILimits == (api.Limits{}) {
		d.APILimits = api.DefaultLimits()
	}
	s.apiSpec, s.apiLimits = spec, api.NewLimiter(d.APILimits, d.Now)
	s.tokens = apitoken.NewService(d.Ent, d.DB, d.Now)
	s.Jobs = job.NewRunner(d.Ent, d.DB, s.Notifier, d.Now, d.Log)
	s.Syncer = attack.NewSyncerOn(s.Jobs, d.HTTPClient)
	s.buffers.New = func() any { return new(bytes.Buffer) }
	s.reports = newDocumentBudget()
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	s.echo = e
	s.routes = s.routeTable()
	s.byRoute = indexRoutes(s.routes)
	s.register()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Wait lets running background jobs finish until ctx ends, then cancels
// them (their transactions roll back and they record the interruption).
func (s *Server) Wait(ctx context.Context) { s.Jobs.Wait(ctx) }

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
