package handlers

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/mission"
)

// accessKey is where the request keeps the viewer's access to the route's
// mission once loaded, so the role is checked and the mission read once
// per request.
const accessKey = "violet.mission_access"

// missionAccess loads the viewer's access to the mission named by the route's
// :id. A mission the viewer may not see is a 404, exactly like a missing one;
// so is a malformed id.
func (s *Server) missionAccess(c echo.Context) (*mission.Access, error) {
	if a, ok := c.Get(accessKey).(*mission.Access); ok {
		return a, nil
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return nil, echo.ErrNotFound
	}
	ctx := c.Request().Context()
	a, err := mission.Load(ctx, s.Ent, auth.FromContext(ctx), id)
	if err != nil {
		return nil, err
	}
	c.Set(accessKey, a)
	return a, nil
}

// reloadMissionAccess reads the viewer's access again, after a change
// that may have changed their own role.
func (s *Server) reloadMissionAccess(c echo.Context) (*mission.Access, error) {
	c.Set(accessKey, nil)
	return s.missionAccess(c)
}

// requireMissionRole refuses a mission route to a viewer whose role on
// the mission is not one the route table declares for it (403; a mission
// they may not see is a 404), before the handler reads any input: an
// observer pressing a lead's button is told no, not that the form was
// malformed. The workflow behind the route still applies its finer rules
// (blue only on released tests, the uploader's own evidence…).
func (s *Server) requireMissionRole(roles []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			a, err := s.missionAccess(c)
			if err != nil {
				return err
			}
			if !slices.Contains(roles, a.ActsAs()) {
				return mission.ErrForbidden
			}
			return next(c)
		}
	}
}

// missions returns the mission workflows on this server's database and
// notifier.
func (s *Server) missions() *mission.Service { return mission.NewService(s.Ent, s.Notifier) }

// steps returns the test steps on this server's clock.
func (s *Server) steps() *mission.Steps { return s.Steps.WithClock(s.Now) }

// missionInvalid returns the field errors of a workflow's refused input
// (*app.Invalid), which the page shows next to the fields with the input
// kept.
func missionInvalid(err error) (*app.Invalid, bool) {
	var inv *app.Invalid
	return inv, errors.As(err, &inv)
}

// missionFormVersion reads the version a form sends: the one the page was
// rendered with, so anything but a positive number is a bad request,
// never a change without a check.
func missionFormVersion(raw string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || v < 1 {
		return 0, echo.ErrBadRequest
	}
	return v, nil
}
