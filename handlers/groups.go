package handlers

import (
	"errors"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/people"
	"violet/views/admin"
)

// groupForm is what the group form may set: not is_system, not permissions.
type groupForm struct {
	Name                string `form:"name"`
	Description         string `form:"description"`
	RequireSecondFactor bool   `form:"require_second_factor"` // the policy checkbox
}

// input is the form as the workflows take it, trimmed as they keep it.
func (f groupForm) input() people.GroupInput {
	return people.GroupInput{Name: f.Name, Description: f.Description, RequireSecondFactor: f.RequireSecondFactor}.Trimmed()
}

// listGroups renders every group with its member and permission counts.
func (s *Server) listGroups(c echo.Context) error {
	ctx := c.Request().Context()
	rows, err := s.people().Groups(ctx)
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "admin.groups.title", "nav.admin")
	return s.render(c, http.StatusOK, admin.GroupsPage(lp, adminTabs(auth.FromContext(ctx), paths.Groups), rows), nil)
}

// newGroup renders the empty group form.
func (s *Server) newGroup(c echo.Context) error {
	return s.renderNewGroup(c, http.StatusOK, admin.GroupForm{})
}

// renderNewGroup renders the new group form with status (422 with errors).
func (s *Server) renderNewGroup(c echo.Context, status int, f admin.GroupForm) error {
	v := auth.FromContext(c.Request().Context())
	lp := s.layoutProps(c, "admin.groups.new_title", "nav.admin")
	return s.render(c, status, admin.NewGroupPage(lp, adminTabs(v, paths.Groups), f), nil)
}

// createGroup creates a group without permissions and opens its page,
// where they are given; invalid input comes back with 422.
func (s *Server) createGroup(c echo.Context) error {
	var f groupForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := f.input()
	g, err := s.people().CreateGroup(c.Request().Context(), in)
	if errs, ok := invalidErrors(err); ok {
		view := admin.GroupForm{Name: in.Name, Description: in.Description, RequireSecondFactor: in.RequireSecondFactor, Errors: errs}
		return s.renderNewGroup(c, http.StatusUnprocessableEntity, view)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.groups.created")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Group, g.ID))
}

// showGroup renders a group's edit page.
func (s *Server) showGroup(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	d, err := s.people().Group(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderGroup(c, http.StatusOK, d)
}

// renderGroup renders a group's page with status; the title names the group.
func (s *Server) renderGroup(c echo.Context, status int, d admin.GroupDetail) error {
	v := auth.FromContext(c.Request().Context())
	lp := s.layoutProps(c, "admin.groups.group_title", "nav.admin")
	lp.Title = d.Title + " · " + lp.Title
	return s.render(c, status, admin.GroupPage(lp, adminTabs(v, paths.Groups), d), nil)
}

// updateGroup changes a group's name and description; invalid input (a
// system group's new name among it) comes back with 422.
func (s *Server) updateGroup(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var f groupForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	svc := s.people()
	in := f.input()
	err = svc.UpdateGroup(ctx, id, in)
	if errs, ok := invalidErrors(err); ok {
		d, err := svc.Group(ctx, id)
		if err != nil {
			return err
		}
		d.Form.Name, d.Form.Description, d.Form.RequireSecondFactor, d.Form.Errors = in.Name, in.Description, in.RequireSecondFactor, errs
		return s.renderGroup(c, http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.groups.saved")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Group, id))
}

// deleteGroup moves a group to the trash (not a system group).
func (s *Server) deleteGroup(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := s.people().DeleteGroup(c.Request().Context(), id); err != nil {
		return err
	}
	s.flash(c, "success", "admin.groups.deleted")
	return c.Redirect(http.StatusSeeOther, paths.Groups)
}

// permissionsForm is what the permission matrix sends: the codes ticked.
type permissionsForm struct {
	Permissions []string `form:"permissions"`
}

// updateGroupPermissions saves the whole matrix at once: the form for
// browsers without JavaScript. A refusal comes back with 422 and why.
func (s *Server) updateGroupPermissions(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var f permissionsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	svc := s.people()
	err = svc.SetPermissions(ctx, id, f.Permissions)
	if key := people.RefusedKey(err); key != "" {
		d, err := svc.Group(ctx, id)
		if err != nil {
			return err
		}
		d.MatrixError = key
		return s.renderGroup(c, http.StatusUnprocessableEntity, d)
	}
	if errors.Is(err, people.ErrUnknownPermission) {
		return echo.ErrBadRequest
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.groups.permissions_saved")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Group, id))
}

// toggleGroupPermission gives or takes away one permission, as a checkbox
// of the matrix asks with htmx: the code is in the URL, and it is given
// when the form sends it ticked. The row comes back saying whether it was
// saved; a refused change (the admin group keeps everything) comes back
// with 422 and the row as it stays.
func (s *Server) toggleGroupPermission(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	code := c.Param("code")
	if !people.KnownPermission(code) {
		return echo.ErrNotFound
	}
	var f permissionsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	row, err := s.people().TogglePermission(c.Request().Context(), id, code, slices.Contains(f.Permissions, code))
	key := people.RefusedKey(err)
	if err != nil && key == "" {
		return err
	}
	if !isPartial(c.Request()) {
		if key != "" {
			s.flash(c, "error", key)
		} else {
			s.flash(c, "success", "admin.groups.permissions_saved")
		}
		return c.Redirect(http.StatusSeeOther, paths.URL(paths.Group, id))
	}
	status := http.StatusOK
	if key != "" {
		status = http.StatusUnprocessableEntity
	}
	return s.render(c, status, admin.PermissionRowView(row), nil)
}
