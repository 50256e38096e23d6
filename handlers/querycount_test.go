package handlers_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"violet/ent"
	"violet/handlers"
	"violet/internal/apptest"
	"violet/internal/i18n"
	"violet/migrations"
	"violet/static"
)

// The query budgets (QUALITY.md §4) are checked by counting, at the driver,
// every statement a request sends: the session load, ent's queries and raw
// SQL alike.

// countingConnector counts the statements sent to PostgreSQL (queries and
// execs, prepared or not; BEGIN and COMMIT are not counted).
type countingConnector struct {
	driver.Connector
	n *atomic.Int64
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: c.n}, nil
}

type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, n: c.n}, nil
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

type countingStmt struct {
	driver.Stmt
	n *atomic.Int64
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.n.Add(1)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.n.Add(1)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

// countingServer is a second server on the app's database (same session
// key, so the app's cookies work) whose connections count statements.
func countingServer(t testing.TB, app *apptest.App) (*handlers.Server, *atomic.Int64) {
	t.Helper()
	n := new(atomic.Int64)
	connector, err := pq.NewConnector(app.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(countingConnector{Connector: connector, n: n})
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
func countQueries(srv *handlers.Server, n *atomic.Int64, cookie *http.Cookie, path string) (int, int64) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.AddCookie(cookie)
	w := httptest.NewRecorder()
	before := n.Load()
	srv.ServeHTTP(w, r)
	return w.Code, n.Load() - before
}
