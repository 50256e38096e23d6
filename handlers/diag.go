package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/migration"
	"violet/views/diag"
)

// dbCard probes the database for the Database card. An unreachable
// database is a state to show, not an error.
func (s *Server) dbCard(ctx context.Context) diag.DBCardProps {
	r, err := database.Probe(ctx, s.DB)
	if err != nil {
		s.Log.Warn("database probe failed", "id", requestIDFrom(ctx), "err", err)
	}
	return diag.DBCardProps{
		Reachable:     r.Reachable,
		Revision:      r.Revision,
		TableCount:    r.TableCount,
		ServerVersion: r.ServerVersion,
		Latency:       r.Latency,
		CheckedAt:     s.Now().UTC(),
	}
}

// showDiag renders the diagnostics page, or just the Database card for the
// card's own htmx refresh.
func (s *Server) showDiag(c echo.Context) error {
	card := s.dbCard(c.Request().Context())
	return s.render(c, http.StatusOK, diag.Page(s.layoutProps(c, "diag.title", ""), card), diag.DBCard(card))
}

// dbDiagnostics is the JSON contract of GET /api/v1/diag/db.
// When the database is unreachable only "reachable" is sent.
type dbDiagnostics struct {
	Reachable         bool   `json:"reachable"`
	MigrationRevision string `json:"migration_revision"`
	TableCount        int    `json:"table_count"`
}

// diagDB answers 200 with the revision and table count, or 503
// {"reachable":false} within two seconds when the database is unreachable.
func (s *Server) diagDB(c echo.Context) error {
	r, err := database.Probe(c.Request().Context(), s.DB)
	if err != nil {
		s.Log.Warn("database probe failed", "id", requestIDFrom(c.Request().Context()), "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]bool{"reachable": false})
	}
	return c.JSON(http.StatusOK, dbDiagnostics{
		Reachable:         true,
		MigrationRevision: r.Revision,
		TableCount:        r.TableCount,
	})
}

// healthz says the process is alive; it touches nothing else.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the body of /readyz.
type readiness struct {
	Ready      bool   `json:"ready"`
	Draining   bool   `json:"draining,omitempty"`
	Database   string `json:"database"`
	Migrations string `json:"migrations"`
	Evidence   string `json:"evidence"`
}

// readyz says whether this instance should get traffic: not shutting down,
// database reachable, migrations at head, evidence store usable.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), database.ProbeTimeout)
	defer cancel()
	r := readiness{Draining: s.draining.Load(), Database: "ok", Migrations: "ok", Evidence: "ok"}
	if err := s.DB.PingContext(ctx); err != nil {
		r.Database, r.Migrations = "unreachable", "unknown"
	} else if st, err := migration.ReadStatus(ctx, s.DB, s.Migrations); err != nil {
		r.Migrations = "unknown"
	} else if !st.AtHead() {
		r.Migrations = "pending"
	}
	// The store bounds its own check (evidence.CheckTimeout), apart from
	// the database's: a slow database does not make it look unusable.
	if st, ok := s.evidenceStore().(evidence.Checker); ok {
		if err := st.Check(c.Request().Context()); err != nil {
			r.Evidence = "unusable"
			// The cause (missing bucket, refused credentials) is shown
			// nowhere else.
			s.Log.Warn("evidence store unusable", "err", err)
		}
	}
	r.Ready = !r.Draining && r.Database == "ok" && r.Migrations == "ok" && r.Evidence == "ok"
	status := http.StatusOK
	if !r.Ready {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, r)
}
