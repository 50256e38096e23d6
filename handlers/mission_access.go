package handlers

import (
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/mission"
)

// missionAccess loads the viewer's access to the mission named by the route's
// :id. A mission the viewer may not see is a 404, exactly like a missing one;
// so is a malformed id.
func (s *Server) missionAccess(c echo.Context) (*mission.Access, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return nil, echo.ErrNotFound
	}
	ctx := c.Request().Context()
	return mission.Load(ctx, s.Ent, auth.FromContext(ctx), id)
}
