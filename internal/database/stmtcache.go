package database

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// DefaultStatementCache is how many prepared statements each connection keeps:
// round trips matter most (docs/ARCHITECTURE.md, "Performance budgets").
const DefaultStatementCache = 128

// lib/pq sends a statement with parameters as two round trips: Parse and
// Describe, then Bind and Execute. A statement prepared once on the
// connection needs only the second, and PostgreSQL skips parsing it again.
// statementCache keeps, per connection, the most recently used statements
// prepared (least recently used ones are closed), so every parameterised
// statement after the first on a connection costs one round trip.
// Statements without parameters already take lib/pq's one-round-trip
// simple protocol and are passed through.
type statementCache struct {
	driver.Connector
	size int
}

func (c statementCache) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &cachingConn{Conn: conn, size: c.size, lru: list.New(), byQuery: map[string]*list.Element{}}, nil
}

// cachingConn is one connection with its statements. database/sql never
// uses a connection from two goroutines at once, so it needs no lock.
type cachingConn struct {
	driver.Conn
	size    int
	lru     *list.List // of *cached, most recent first
	byQuery map[string]*list.Element
}

type cached struct {
	query string
	stmt  driver.Stmt
}

// prepared returns the statement for q, preparing it (and closing the
// least recently used one beyond the cache's size) when it is new.
func (c *cachingConn) prepared(ctx context.Context, q string) (driver.Stmt, error) {
	if el, ok := c.byQuery[q]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*cached).stmt, nil
	}
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.byQuery[q] = c.lru.PushFront(&cached{query: q, stmt: st})
	for c.lru.Len() > c.size {
		c.drop(c.lru.Back())
	}
	return st, nil
}

func (c *cachingConn) drop(el *list.Element) {
	e := el.Value.(*cached)
	c.lru.Remove(el)
	delete(c.byQuery, e.query)
	_ = e.stmt.Close()
}

// forget drops q's statement after an error that may mean the server no
// longer holds it as prepared (a schema change under a cached plan, a
// DISCARD): the next use prepares it again.
func (c *cachingConn) forget(q string, err error) {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return
	}
	switch pe.Code {
	case "0A000", // feature_not_supported: cached plan must not change result type
		"26000": // invalid_sql_statement_name: the statement is gone
		if el, ok := c.byQuery[q]; ok {
			c.drop(el)
		}
	}
}

func (c *cachingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
	}
	st, err := c.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.forget(q, err)
	}
	return rows, err
}

func (c *cachingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
	}
	st, err := c.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
	if err != nil {
		c.forget(q, err)
	}
	return res, err
}

func (c *cachingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *cachingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// Ping forwards to the driver's: without it database/sql's PingContext
// only takes a pooled connection and reports success even when the server
// is gone (readiness would say the database is fine).
func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// Close closes the connection; its prepared statements go with it on the
// server.
func (c *cachingConn) Close() error { return c.Conn.Close() }
