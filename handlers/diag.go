package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/health"
	"violet/views/diag"
)

// dbCard probes the database for the Database card. An unreachable
// database is a state to show, not an error.
func (s *Server) dbCard(ctx context.Context) diag.DBCardProps {
	card, err := health.Card(ctx, s.DB, s.Now)
	if err != nil {
		s.Log.Warn("database probe failed", "id", requestIDFrom(ctx), "err", err)
	}
	return card
}

// showDiag renders the diagnostics page, or just the Database card for the
// card's own htmx refresh.
func (s *Server) showDiag(c echo.Context) error {
	card := s.dbCard(c.Request().Context())
	return s.render(c, http.StatusOK, diag.Page(s.layoutProps(c, "diag.title", ""), card), diag.DBCard(card))
}

// diagDB answers 200 with the revision and table count, or 503
// {"reachable":false} within two seconds when the database is unreachable.
func (s *Server) diagDB(c echo.Context) error {
	r, err := health.DB(c.Request().Context(), s.DB)
	if err != nil {
		s.Log.Warn("database probe failed", "id", requestIDFrom(c.Request().Context()), "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]bool{"reachable": false})
	}
	return c.JSON(http.StatusOK, r)
}

// healthz says the process is alive; it touches nothing else.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether this instance should get traffic (health.Ready):
// 200 when ready, 503 otherwise.
func (s *Server) readyz(c echo.Context) error {
	r := health.Ready(c.Request().Context(), health.Deps{DB: s.DB, Migrations: s.Migrations,
		Evidence: s.evidenceStore(), Draining: s.draining.Load()})
	if r.EvidenceErr != nil {
		// The cause (missing bucket, refused credentials) is shown
		// nowhere else.
		s.Log.Warn("evidence store unusable", "err", r.EvidenceErr)
	}
	if !r.Ready {
		return c.JSON(http.StatusServiceUnavailable, r)
	}
	return c.JSON(http.StatusOK, r)
}
