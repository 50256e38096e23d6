package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"violet/internal/migration"
)

// ProbeTimeout bounds a health probe: diagnostics must answer within two
// seconds even when the database hangs.
const ProbeTimeout = 1500 * time.Millisecond

// Report is what the Database card and /api/v1/diag/db show.
type Report struct {
	Reachable     bool
	Revision      string // latest applied migration version
	TableCount    int    // application tables in the public schema
	ServerVersion string
	Latency       time.Duration
}

// Probe asks the database for its migration revision, table count and
// version within ProbeTimeout. Any failure reports it unreachable; the error
// says why, for the logs.
func Probe(ctx context.Context, db *sql.DB) (Report, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	start := time.Now()
	var r Report
	// A pooled connection may have been cut by a database restart; one
	// retry on a fresh connection keeps the first request after recovery
	// from reporting an outage that is already over.
	err := probeOnce(ctx, db, &r)
	if err != nil && ctx.Err() == nil {
		err = probeOnce(ctx, db, &r)
	}
	if err != nil {
		return Report{}, fmt.Errorf("probe database: %w", err)
	}
	r.Reachable = true
	r.Latency = time.Since(start)
	return r, nil
}

func probeOnce(ctx context.Context, db *sql.DB, r *Report) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = conn.QueryRowContext(ctx, `SELECT count(*), current_setting('server_version')
		FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`).Scan(&r.TableCount, &r.ServerVersion)
	if err != nil {
		// Discard the connection rather than returning it to the pool.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return err
	}
	r.Revision, err = migration.CurrentRevision(ctx, conn)
	return err
}
