// Package health tells how this instance is: the database as the
// Database card (home and diagnostics pages) and /api/v1/diag/db show it
// (database.Probe), and the readiness behind /readyz (database reachable,
// migrations at head, evidence store usable).
package health

import (
	"context"
	"database/sql"
	"time"

	"ariga.io/atlas/sql/migrate"

	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/migration"
	"violet/views/diag"
)

// Card probes the database for the Database card, checked at now() once
// the probe answered. An
// unreachable database is a state to show; the error says why, for the
// log.
func Card(ctx context.Context, db *sql.DB, now func() time.Time) (diag.DBCardProps, error) {
	r, err := database.Probe(ctx, db)
	return diag.DBCardProps{
		Reachable:     r.Reachable,
		Revision:      r.Revision,
		TableCount:    r.TableCount,
		ServerVersion: r.ServerVersion,
		Latency:       r.Latency,
		CheckedAt:     now().UTC(),
	}, err
}

// DBReport is the JSON contract of GET /api/v1/diag/db when the database
// is reachable (unreachable, only "reachable" is sent).
type DBReport struct {
	Reachable         bool   `json:"reachable"`
	MigrationRevision string `json:"migration_revision"`
	TableCount        int    `json:"table_count"`
}

// DB probes the database for /api/v1/diag/db, within
// database.ProbeTimeout; an error means it is unreachable.
func DB(ctx context.Context, db *sql.DB) (DBReport, error) {
	r, err := database.Probe(ctx, db)
	if err != nil {
		return DBReport{}, err
	}
	return DBReport{Reachable: true, MigrationRevision: r.Revision, TableCount: r.TableCount}, nil
}

// Readiness is the body of /readyz.
type Readiness struct {
	Ready      bool   `json:"ready"`
	Draining   bool   `json:"draining,omitempty"`
	Database   string `json:"database"`
	Migrations string `json:"migrations"`
	Evidence   string `json:"evidence"`
	// EvidenceErr says why the evidence store is unusable (a missing
	// bucket, refused credentials), for the log: it is shown nowhere else.
	EvidenceErr error `json:"-"`
}

// Deps are what readiness looks at.
type Deps struct {
	DB         *sql.DB
	Migrations migrate.Dir // the embedded directory
	Evidence   evidence.Store
	Draining   bool // the instance is shutting down
}

// Ready says whether this instance should get traffic: not shutting down,
// database reachable (within database.ProbeTimeout), migrations at head,
// evidence store usable.
func Ready(ctx context.Context, d Deps) Readiness {
	r := Readiness{Draining: d.Draining, Database: "ok", Migrations: "ok", Evidence: "ok"}
	dbCtx, cancel := context.WithTimeout(ctx, database.ProbeTimeout)
	defer cancel()
	if err := d.DB.PingContext(dbCtx); err != nil {
		r.Database, r.Migrations = "unreachable", "unknown"
	} else if st, err := migration.ReadStatus(dbCtx, d.DB, d.Migrations); err != nil {
		r.Migrations = "unknown"
	} else if !st.AtHead() {
		r.Migrations = "pending"
	}
	// The store bounds its own check (evidence.CheckTimeout), apart from
	// the database's: a slow database does not make it look unusable.
	if st, ok := d.Evidence.(evidence.Checker); ok {
		if err := st.Check(ctx); err != nil {
			r.Evidence, r.EvidenceErr = "unusable", err
		}
	}
	r.Ready = !r.Draining && r.Database == "ok" && r.Migrations == "ok" && r.Evidence == "ok"
	return r
}
