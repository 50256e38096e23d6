// Package apptest builds the real Violet HTTP server for tests: the real
// router and middleware on a real PostgreSQL database from testdb, with the
// same wiring as `violet serve`.
package apptest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"violet/handlers/api"

	"violet/ent"
	"violet/ent/group"
	"violet/handlers"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/i18n"
	"violet/internal/live"
	"violet/internal/paths"
	"violet/internal/testkit/testdb"
	"violet/migrations"
	"violet/static"
)

// Version is the version string test servers report.
const Version = "v0.0.0-test"

// App is a server under test with direct access to its database.
type App struct {
	*handlers.Server
	DB     *sql.DB
	Ent    *ent.Client
	Config config.Config
}

// Option changes how New builds the app.
type Option func(*options)

type options struct {
	dbURL  string
	log    io.Writer
	now    func() time.Time
	config func(*config.Config)
	hash   *auth.Hasher
	// prodHash leaves the hasher to handlers.New, as `violet serve` does.
	prodHash bool
	http     *http.Client
	store    evidence.Store
	limits   api.Limits
}

// WithAPILimits sets each API token's rate (default api.DefaultLimits).
func WithAPILimits(l api.Limits) Option { return func(o *options) { o.limits = l } }

// WithEvidence gives the app its evidence store (default: the directory
// Config.EvidenceDir).
func WithEvidence(store evidence.Store) Option { return func(o *options) { o.store = store } }

// WithHTTPClient gives the app the client it downloads ATT&CK bundles with
// (short timeouts for tests).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.http = c } }

func (o options) hasher(def *auth.Hasher) *auth.Hasher {
	if o.prodHash {
		return nil
	}
	if o.hash != nil {
		return o.hash
	}
	return def
}

// WithHasher replaces the (deliberately cheap) test password hasher.
func WithHasher(h *auth.Hasher) Option { return func(o *options) { o.hash = h } }

// WithProductionHasher lets the server build its own hasher, as `violet
// serve` does: argon2id with the production parameters and one hash per
// CPU at a time.
func WithProductionHasher() Option { return func(o *options) { o.prodHash = true } }

// WithConfig changes the configuration before the server is built.
func WithConfig(change func(*config.Config)) Option { return func(o *options) { o.config = change } }

// Patient gives requests two minutes instead of the usual ten seconds:
// for tests of work at scale (a 1,000-test report, a 1,800-template
// export) that assert what the page holds, not how fast it comes. Under
// -race on a busy 2-core machine such a page can take longer than ten
// seconds, and a 503 would say nothing about what they test.
func Patient() Option {
	return WithConfig(func(c *config.Config) { c.RequestTimeout = 2 * time.Minute })
}

// WithDatabaseURL serves from the database at u instead of a fresh one
// (for outage tests: a stopped cluster, a closed port, a black hole).
func WithDatabaseURL(u string) Option { return func(o *options) { o.dbURL = u } }

// WithLog sends the server's log to w (default: discarded).
func WithLog(w io.Writer) Option { return func(o *options) { o.log = w } }

// WithNow fixes the server's clock.
func WithNow(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Config returns a configuration like the one `make run` produces.
func Config(t testing.TB, dbURL string) config.Config {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	base, _ := url.Parse("http://localhost:8080")
	return config.Config{
		DatabaseURL:     dbURL,
		ListenAddr:      "127.0.0.1:0",
		BaseURL:         base,
		SessionKey:      key,
		EvidenceDir:     t.TempDir(),
		DefaultLocale:   "en",
		LogLevel:        slog.LevelDebug,
		LogFormat:       "text",
		MigrateOnStart:  false,
		RequestTimeout:  10 * time.Second,
		ShutdownTimeout: 5 * time.Second,
		DBMaxConns:      10,
	}
}

// New builds the app on a fresh migrated database unless an option says
// otherwise.
func New(t testing.TB, opts ...Option) *App {
	t.Helper()
	o := options{log: io.Discard}
	for _, opt := range opts {
		opt(&o)
	}
	if o.dbURL == "" {
		o.dbURL = testdb.URL(t)
	}
	cfg := Config(t, o.dbURL)
	if o.config != nil {
		o.config(&cfg)
	}
	db, client, err := database.Open(cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	dir, err := migrations.Dir()
	if err != nil {
		t.Fatal(err)
	}
	// Cheap password hashing keeps tests fast; production parameters are
	// exercised by the auth package's own tests.
	hasher, err := auth.NewHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 4, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := i18n.New(cfg.DefaultLocale)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hub := StartHub(t, db, cfg.DatabaseURL, log)
	srv, err := handlers.New(handlers.Deps{
		Config: cfg, DB: db, Ent: client, Migrations: dir, Catalog: catalog, Assets: assets,
		Log: log, Version: Version, Now: o.now, Hasher: o.hasher(hasher), HTTPClient: o.http, Live: hub,
		Evidence: o.store, APILimits: o.limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &App{Server: srv, DB: db, Ent: client, Config: cfg}
}

// StartHub runs a live events hub on the database until the test ends. On
// a database that does not answer it gives up quietly after a few seconds
// (outage tests): the pages work without live updates.
func StartHub(t testing.TB, db *sql.DB, dbURL string, log *slog.Logger) *live.Hub {
	t.Helper()
	hub := live.NewHub(db, dbURL, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hub.Run(ctx); err != nil && ctx.Err() == nil {
			log.Warn("live events hub", "err", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	ping, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	if db.PingContext(ping) != nil {
		return hub // an outage test: the hub keeps trying in the background
	}
	select {
	case <-hub.Started():
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return hub
}

// Do sends r through the app's router and returns the recorded response.
func (a *App) Do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

// Get requests path with the given header pairs ("Name", "value", …).
func (a *App) Get(path string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return a.Do(r)
}

// Password is the password of every user made by User.
const Password = "correct horse battery staple"

// User creates an active user with Password, in the given groups (by name),
// as the system would.
func (a *App) User(t testing.TB, email string, groups ...string) *ent.User {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	hash, err := a.Hasher.Hash(ctx, Password)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := a.Ent.Group.Query().Where(group.NameIn(groups...)).IDs(ctx)
	if err != nil || len(ids) != len(groups) {
		t.Fatalf("groups %v: found %d: %v", groups, len(ids), err)
	}
	u, err := a.Ent.User.Create().SetEmail(email).SetDisplayName(strings.Split(email, "@")[0]).
		SetPasswordHash(hash).AddGroupIDs(ids...).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Login signs in through POST /login and returns the session cookie.
func (a *App) Login(t testing.TB, email, password string) *http.Cookie {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	r := httptest.NewRequest(http.MethodPost, paths.Login, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := a.Do(r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login as %s: status %d\n%s", email, w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == a.Sessions.Name() && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login as %s: no session cookie", email)
	return nil
}

// SignedIn creates a user in groups and returns a session cookie for them.
func (a *App) SignedIn(t testing.TB, email string, groups ...string) *http.Cookie {
	t.Helper()
	a.User(t, email, groups...)
	return a.Login(t, email, Password)
}

// GetAs requests path with the session cookie (nil for anonymous) and
// header pairs.
func (a *App) GetAs(cookie *http.Cookie, path string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return a.Do(r)
}

// PostAs submits a form to path with the session cookie (nil for
// anonymous), as a same-origin browser would.
func (a *App) PostAs(cookie *http.Cookie, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return a.Do(r)
}
