package handlers

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"violet/internal/apitoken"
	"violet/internal/auth"
	"violet/internal/config"
	"violet/internal/i18n"
	"violet/internal/live"
	"violet/internal/testkit/testdb"
	"violet/migrations"
	"violet/static"
)

// newTestServer builds a Server directly (apptest imports this package, so
// the internal tests cannot use it).
func newTestServer(t *testing.T, logTo io.Writer) *Server {
	t.Helper()
	db, client, _ := testdb.Open(t)
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := migrations.Dir()
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://localhost:8080")
	s, err := New(Deps{
		Config: config.Config{BaseURL: base, RequestTimeout: 5 * time.Second, EvidenceDir: t.TempDir(), DefaultLocale: "en"},
		DB:     db, Ent: client, Migrations: dir, Catalog: catalog, Assets: assets,
		Log:     slog.New(slog.NewTextHandler(logTo, nil)),
		Version: "test",
		// Not running: these tests only walk the route table.
		Live: live.NewHub(db, "", slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// undeclared lists the routes echo serves that the route table does not
// declare with an access rule, and declared rules that name no permission.
func undeclared(s *Server) []string {
	declared := map[string]access{}
	for _, r := range s.routes {
		declared[r.method+" "+r.path] = r.access
	}
	known := map[access]bool{public: true, signedIn: true}
	for _, p := range auth.Permissions() {
		known[need(p.Code)] = true
	}
	// The API's routes need a token with one of the scopes they name.
	for _, r := range s.routes {
		if r.api != nil && len(r.api.Scopes) > 0 && !slices.ContainsFunc(r.api.Scopes, func(sc string) bool {
			return !slices.Contains(apitoken.Scopes(), sc)
		}) {
			known[r.access] = true
		}
	}
	var bad []string
	for _, r := range s.echo.Routes() {
		key := r.Method + " " + r.Path
		a, ok := declared[key]
		if !ok && r.Method == http.MethodHead {
			// register adds HEAD for every GET route, with the same access.
			a, ok = declared[http.MethodGet+" "+r.Path]
		}
		switch {
		case !ok:
			bad = append(bad, key+": not in the route table")
		case !known[a]:
			bad = append(bad, fmt.Sprintf("%s: access %q is neither public nor a permission code", key, a))
		}
	}
	return bad
}

// TestEveryRouteDeclaresAccess is deny by default: a route with no declared
// permission fails the suite.
func TestEveryRouteDeclaresAccess(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, io.Discard)
	if bad := undeclared(s); len(bad) > 0 {
		t.Fatalf("routes without a declared access rule:\n%s", strings.Join(bad, "\n"))
	}
	t.Run("the check catches a route added behind the table's back", func(t *testing.T) {
		s := newTestServer(t, io.Discard)
		s.echo.GET("/sneaky", func(c echo.Context) error { return nil })
		if bad := undeclared(s); len(bad) != 1 || !strings.Contains(bad[0], "/sneaky") {
			t.Fatalf("undeclared = %v, want the /sneaky route reported", bad)
		}
	})
}

// TestInternalErrorsStayInternal: a panic or an SQL error gives the generic
// page with a request id, and the details go only to the log.
func TestInternalErrorsStayInternal(t *testing.T) {
	t.Parallel()
	var log strings.Builder
	s := newTestServer(t, &log)
	s.echo.GET("/boom", func(c echo.Context) error { panic("secret panic detail /etc/violet") })
	s.echo.GET("/sql", func(c echo.Context) error {
		_, err := s.DB.ExecContext(c.Request().Context(), `SELECT * FROM secret_table_that_does_not_exist`)
		return err
	})
	s.echo.GET("/wrapped", func(c echo.Context) error {
		return fmt.Errorf("load thing: %w", errors.New("password=hunter2 at /srv/violet"))
	})
	for _, path := range []string{"/boom", "/sql", "/wrapped"} {
		t.Run(path, func(t *testing.T) {
			log.Reset()
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500", w.Code)
			}
			body := w.Body.String()
			for _, secret := range []string{"secret", "hunter2", "/etc/violet", "/srv/violet", "goroutine", "pq:"} {
				if strings.Contains(body, secret) {
					t.Errorf("page leaks %q", secret)
				}
			}
			rid := w.Header().Get("X-Request-Id")
			if rid == "" || !strings.Contains(body, rid) {
				t.Errorf("page does not show request id %q", rid)
			}
			if !strings.Contains(body, "Something went wrong") {
				t.Error("not the generic error page")
			}
			if !strings.Contains(log.String(), rid) || !strings.Contains(log.String(), "level=ERROR") {
				t.Errorf("the log lacks the error with its request id:\n%s", log.String())
			}
		})
	}
}

// TestLogsNameRoutesNotURLs: tokens in URLs (invitation links) must never
// reach the logs, so requests are logged by route template.
func TestLogsNameRoutesNotURLs(t *testing.T) {
	t.Parallel()
	var log strings.Builder
	s := newTestServer(t, &log)
	s.echo.GET("/invitations/:token", func(c echo.Context) error { return c.NoContent(http.StatusGone) })
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/invitations/SECRET-TOKEN-123?x=SECRET-QUERY", nil))
	if strings.Contains(log.String(), "SECRET") {
		t.Errorf("log contains the raw URL:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "route=/invitations/:token") {
		t.Errorf("log lacks the route template:\n%s", log.String())
	}
}
