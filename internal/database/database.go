// Package database opens Violet's PostgreSQL connection pool and ent client
// and reports on the database's health for diagnostics and readiness.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"violet/ent"
	_ "violet/ent/runtime" // registers schema hooks and interceptors (soft delete)
)

// DefaultConnectTimeout bounds how long opening one connection may take when
// the URL does not say, so an unreachable database fails fast instead of
// hanging requests.
const DefaultConnectTimeout = "2"

// Option tunes the pool Open returns.
type Option func(*options)

type options struct {
	cache int
	wrap  []func(driver.Connector) driver.Connector
}

// WithStatementCache sets how many prepared statements each connection
// keeps (DefaultStatementCache when not given); 0 turns the cache off.
func WithStatementCache(n int) Option { return func(o *options) { o.cache = n } }

// WithConnector wraps the driver's connector outside the statement cache:
// the benchmark program counts and records statements that way, on an
// otherwise identical pool.
func WithConnector(wrap func(driver.Connector) driver.Connector) Option {
	return func(o *options) { o.wrap = append(o.wrap, wrap) }
}

// Open returns a connection pool and an ent client over it. Nothing is
// dialled yet; once serving, the pool reconnects by itself after an outage.
func Open(rawURL string, maxConns int, opts ...Option) (*sql.DB, *ent.Client, error) {
	o := options{cache: DefaultStatementCache}
	for _, opt := range opts {
		opt(&o)
	}
	dsn, err := withConnectTimeout(rawURL)
	if err != nil {
		return nil, nil, err
	}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	var c driver.Connector = contextConnector{connector}
	if o.cache > 0 {
		c = statementCache{Connector: c, size: o.cache}
	}
	for _, w := range o.wrap {
		c = w(c)
	}
	db := sql.OpenDB(c)
	if maxConns < 2 {
		maxConns = 2
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	// Idle connections are recycled so that after a database restart stale
	// ones are not kept around long.
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	client := ent.NewClient(ent.Driver(entsql.OpenDB("postgres", db)))
	return db, client, nil
}

// contextConnector makes opening a connection give up when the caller's
// context ends. lib/pq honours the context while dialling but not during the
// start-up handshake, so a server that accepts connections and never
// answers would otherwise hold a request for the whole connect_timeout.
type contextConnector struct{ driver.Connector }

// Connect implements driver.Connector.
func (c contextConnector) Connect(ctx context.Context) (driver.Conn, error) {
	type result struct {
		conn driver.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := c.Connector.Connect(ctx)
		done <- result{conn, err}
	}()
	select {
	case r := <-done:
		return r.conn, r.err
	case <-ctx.Done():
		// The handshake goes on until connect_timeout; close whatever it
		// yields.
		go func() {
			if r := <-done; r.err == nil && r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func withConnectTimeout(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", DefaultConnectTimeout)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// WithTx runs fn inside a transaction on client, committing when fn returns
// nil and rolling back otherwise (also on panic).
func WithTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) (err error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if v := recover(); v != nil {
			_ = tx.Rollback()
			panic(v)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			err = fmt.Errorf("%w (rollback: %v)", err, rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// QueryValue reads the one value of a one-row, one-column query through
// tx (a count, an EXISTS) into dst; sql.ErrNoRows when there is no row.
func QueryValue(ctx context.Context, tx *ent.Tx, dst any, query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("query: %w", err)
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dst); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return rows.Close()
}
