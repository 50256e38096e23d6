// Package sqltrace counts, and on demand records, the statements a
// database/sql pool sends to PostgreSQL. The query budgets (a page's query
// count does not grow with its data; docs/ARCHITECTURE.md) are checked with
// it, and the benchmark program replays what it records as a page's SQL floor.
//
// It wraps a driver.Connector: every statement is seen at the driver, so
// the session load, ent's queries and raw SQL are counted alike. BEGIN and
// COMMIT are not counted.
package sqltrace

import (
	"context"
	"database/sql/driver"
	"slices"
	"sync"
	"sync/atomic"
)

// Statement is one recorded statement with the arguments it was sent with
// (as the driver received them, after conversion).
type Statement struct {
	Query string
	Args  []any
	Exec  bool // sent as an exec (no rows read back)
}

// Counter counts statements on the connections of the connectors it wraps.
type Counter struct {
	n         atomic.Int64
	recording atomic.Bool
	mu        sync.Mutex
	recorded  []Statement
}

// Count returns the number of statements sent so far.
func (c *Counter) Count() int64 { return c.n.Load() }

// Record starts recording every statement (from every connection) and
// returns the function that stops and returns what was recorded. Meant for
// one request served alone.
func (c *Counter) Record() (stop func() []Statement) {
	c.mu.Lock()
	c.recorded = nil
	c.mu.Unlock()
	c.recording.Store(true)
	return func() []Statement {
		c.recording.Store(false)
		c.mu.Lock()
		defer c.mu.Unlock()
		out := c.recorded
		c.recorded = nil
		return out
	}
}

func (c *Counter) saw(q string, args []driver.NamedValue, exec bool) {
	c.n.Add(1)
	if !c.recording.Load() {
		return
	}
	st := Statement{Query: q, Exec: exec, Args: make([]any, len(args))}
	for i, a := range args {
		if b, ok := a.Value.([]byte); ok {
			a.Value = slices.Clone(b)
		}
		st.Args[i] = a.Value
	}
	c.mu.Lock()
	c.recorded = append(c.recorded, st)
	c.mu.Unlock()
}

// Wrap returns a connector whose connections report to c.
func (c *Counter) Wrap(next driver.Connector) driver.Connector {
	return connector{Connector: next, c: c}
}

type connector struct {
	driver.Connector
	c *Counter
}

func (k connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := k.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: dc, c: k.c}, nil
}

// conn forwards to lib/pq's connection, which implements every optional
// interface used here; keeping QueryerContext and ExecerContext means
// database/sql sends statements exactly as it would unwrapped (no extra
// prepare).
type conn struct {
	driver.Conn
	c *Counter
}

func (c *conn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.c.saw(q, args, false)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *conn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.c.saw(q, args, true)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *conn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &stmt{Stmt: st, q: q, c: c.c}, nil
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// Ping forwards to the driver's: without it database/sql's PingContext
// only takes a pooled connection and reports success even when the server
// is gone (readiness would say the database is fine).
func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

type stmt struct {
	driver.Stmt
	q string
	c *Counter
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.saw(s.q, args, true)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.saw(s.q, args, false)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}
