package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/people"
	"violet/views/admin"
)

// paramID reads the :id of the URL; a malformed id is a missing page.
func paramID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

// people returns the users and groups workflows on this server's database.
func (s *Server) people() *people.Service { return people.NewService(s.Ent, s.Sessions, s.Now) }

// userFilter reads the user list's query string. Unknown values fall back
// to the defaults rather than failing: the URL is often typed or shared.
func userFilter(c echo.Context) admin.UserFilter {
	f := admin.UserFilter{
		Q:       strings.TrimSpace(c.QueryParam("q")),
		Group:   strings.TrimSpace(c.QueryParam("group")),
		Status:  c.QueryParam("status"),
		Deleted: c.QueryParam("deleted") == "1",
		Page:    1,
	}
	for len(f.Q) > 254 { // no address is longer; cut whole characters
		_, size := utf8.DecodeLastRuneInString(f.Q)
		f.Q = f.Q[:len(f.Q)-size]
	}
	switch f.Status {
	case admin.StatusActive, admin.StatusDeactivated:
	default:
		f.Status = admin.StatusAll
	}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		f.Page = p
	}
	return f
}

// listUsers renders the user list, filtered and paged, or the trash
// (people.Service.Users). htmx requests get only the results.
func (s *Server) listUsers(c echo.Context) error {
	l, err := s.people().Users(c.Request().Context(), userFilter(c))
	if err != nil {
		return err
	}
	title := "admin.users.title"
	if l.Filter.Deleted {
		title = "admin.users.trash_title"
	}
	lp := s.layoutProps(c, title, "nav.admin")
	v := auth.FromContext(c.Request().Context())
	return s.render(c, http.StatusOK, admin.UsersPage(lp, adminTabs(v, paths.Users), l), admin.UserResults(l))
}

// showUser renders a user's page (deleted users too, for user.manage).
func (s *Server) showUser(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	d, err := s.people().User(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderUser(c, http.StatusOK, d)
}

// renderUser renders a user's page with status; the title names the user.
func (s *Server) renderUser(c echo.Context, status int, d admin.UserDetail) error {
	v := auth.FromContext(c.Request().Context())
	lp := s.layoutProps(c, "admin.users.user_title", "nav.admin")
	lp.Title = d.DisplayName + " · " + lp.Title
	return s.render(c, status, admin.UserPage(lp, adminTabs(v, paths.Users), d), nil)
}

// userGroupsForm is what the groups form may set: group ids.
type userGroupsForm struct {
	Groups []string `form:"groups"`
}

// updateUserGroups sets a user's groups (people.Service.SetUserGroups).
// htmx gets the groups block back with the outcome; a plain POST is
// redirected to the page, or gets it again with 422 when refused.
func (s *Server) updateUserGroups(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var f userGroupsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	svc := s.people()
	ch, err := svc.SetUserGroups(ctx, id, f.Groups)
	key := people.RefusedKey(err)
	switch {
	case errors.Is(err, people.ErrUnknownGroup):
		return echo.ErrBadRequest
	case err != nil && key == "":
		return err
	}
	partial := isPartial(c.Request())
	if key == "" && !partial {
		s.flash(c, "success", "admin.users.groups_saved")
		return c.Redirect(http.StatusSeeOther, paths.URL(paths.User, id))
	}
	d, err := svc.UserGroupsAfter(ctx, id, f.Groups, ch, err)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if key != "" {
		status = http.StatusUnprocessableEntity
	}
	if partial {
		return s.render(c, status, admin.UserGroupsBlock(d.Groups), nil)
	}
	return s.renderUser(c, status, d)
}

// changeUser runs one state change of the user page. A refusal re-renders
// the page with 422 and why; success redirects to the page with a flash.
func (s *Server) changeUser(c echo.Context, flash string, change func(*people.Service, context.Context, uuid.UUID) error) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	svc := s.people()
	err = change(svc, ctx, id)
	if key := people.RefusedKey(err); key != "" {
		d, err := svc.User(ctx, id)
		if err != nil {
			return err
		}
		d.ErrorKey = key
		return s.renderUser(c, http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", flash)
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.User, id))
}

// deactivateUser stops a user from signing in and ends their sessions.
func (s *Server) deactivateUser(c echo.Context) error {
	return s.changeUser(c, "admin.users.deactivated_done", (*people.Service).Deactivate)
}

// reactivateUser lets a deactivated user sign in again.
func (s *Server) reactivateUser(c echo.Context) error {
	return s.changeUser(c, "admin.users.reactivated_done", (*people.Service).Reactivate)
}

// deleteUser moves a user to the trash and ends their sessions.
func (s *Server) deleteUser(c echo.Context) error {
	return s.changeUser(c, "admin.users.deleted_done", (*people.Service).Delete)
}

// restoreUser takes a user out of the trash.
func (s *Server) restoreUser(c echo.Context) error {
	return s.changeUser(c, "admin.users.restored_done", (*people.Service).Restore)
}

// endUserSessions signs a user out everywhere.
func (s *Server) endUserSessions(c echo.Context) error {
	return s.changeUser(c, "admin.users.sessions_ended_done", (*people.Service).EndSessions)
}
