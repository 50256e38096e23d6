package handlers_test

import (
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"violet/ent"
	"violet/handlers"
	"violet/internal/i18n"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/sqltrace"
	"violet/migrations"
	"violet/static"
)

// The query budgets (docs/ARCHITECTURE.md) are checked by counting, at the
// driver, every statement a request sends: the session load, ent's queries and
// raw SQL alike.

// countingServer is a second server on the app's database (same session
// key, so the app's cookies work) whose connections count statements.
func countingServer(t testing.TB, app *apptest.App) (*handlers.Server, *sqltrace.Counter) {
	t.Helper()
	n := new(sqltrace.Counter)
	connector, err := pq.NewConnector(app.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(n.Wrap(connector))
	t.Cleanup(func() { db.Close() })
	client := ent.NewClient(ent.Driver(entsql.OpenDB("postgres", db)))
	dir, err := migrations.Dir()
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := i18n.New(app.Config.DefaultLocale)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := handlers.New(handlers.Deps{
		Config: app.Config, DB: db, Ent: client, Migrations: dir, Catalog: catalog, Assets: assets,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: apptest.Version, Hasher: app.Hasher, Live: app.Live,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, n
}

// countQueries sends GET path as cookie through srv and returns the status
// and the number of statements it ran.
func countQueries(srv *handlers.Server, n *sqltrace.Counter, cookie *http.Cookie, path string) (int, int64) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.AddCookie(cookie)
	w := httptest.NewRecorder()
	before := n.Count()
	srv.ServeHTTP(w, r)
	return w.Code, n.Count() - before
}
