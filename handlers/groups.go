package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/permission"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/views/admin"
	"violet/views/components"
)

// Group field limits.
const (
	groupNameMax        = 100
	groupDescriptionMax = 500
)

// groupForm is what the group form may set: not is_system, not permissions.
type groupForm struct {
	Name        string `form:"name"`
	Description string `form:"description"`
}

// listGroups renders every group with its member and permission counts
// (three queries whatever the number of groups).
func (s *Server) listGroups(c echo.Context) error {
	ctx := c.Request().Context()
	gs, err := s.Ent.Group.Query().
		WithUsers(func(q *ent.UserQuery) { q.Select(user.FieldID) }).
		WithPermissions(func(q *ent.PermissionQuery) { q.Select(permission.FieldID) }).
		Order(group.ByName()).
		All(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	rows := make([]admin.GroupRow, 0, len(gs))
	for _, g := range gs {
		rows = append(rows, admin.GroupRow{
			ID: g.ID.String(), Name: g.Name, Description: g.Description, System: g.IsSystem,
			Members: len(g.Edges.Users), Permissions: len(g.Edges.Permissions),
		})
	}
	v := auth.FromContext(ctx)
	lp := s.layoutProps(c, "admin.groups.title", "nav.admin")
	return s.render(c, http.StatusOK, admin.GroupsPage(lp, adminTabs(v, "/admin/groups"), rows), nil)
}

// newGroup renders the empty group form.
func (s *Server) newGroup(c echo.Context) error {
	return s.renderNewGroup(c, http.StatusOK, admin.GroupForm{})
}

// renderNewGroup renders the new group form with status (422 with errors).
func (s *Server) renderNewGroup(c echo.Context, status int, f admin.GroupForm) error {
	v := auth.FromContext(c.Request().Context())
	lp := s.layoutProps(c, "admin.groups.new_title", "nav.admin")
	return s.render(c, status, admin.NewGroupPage(lp, adminTabs(v, "/admin/groups"), f), nil)
}

// checkGroupForm trims and validates a group form; self is the group being
// edited (uuid.Nil for a new one), whose own name is not a duplicate.
// Names are unique among groups that are not deleted, ignoring case, so
// "Admin" cannot pass for "admin".
func (s *Server) checkGroupForm(ctx context.Context, f *groupForm, self uuid.UUID) (components.Errors, error) {
	f.Name = strings.TrimSpace(f.Name)
	f.Description = strings.TrimSpace(f.Description)
	errs := components.Errors{}
	switch {
	case f.Name == "":
		errs["name"] = "form.required"
	case utf8.RuneCountInString(f.Name) > groupNameMax:
		errs["name"] = "admin.groups.name_too_long"
	default:
		taken, err := s.Ent.Group.Query().Where(group.NameEqualFold(f.Name), group.IDNEQ(self)).Exist(ctx)
		if err != nil {
			return nil, fmt.Errorf("check group name: %w", err)
		}
		if taken {
			errs["name"] = "admin.groups.name_taken"
		}
	}
	if utf8.RuneCountInString(f.Description) > groupDescriptionMax {
		errs["description"] = "admin.groups.description_too_long"
	}
	return errs, nil
}

// createGroup creates a group without permissions and opens its page,
// where they are given.
func (s *Server) createGroup(c echo.Context) error {
	var f groupForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	errs, err := s.checkGroupForm(ctx, &f, uuid.Nil)
	if err != nil {
		return err
	}
	view := admin.GroupForm{Name: f.Name, Description: f.Description, Errors: errs}
	if len(errs) > 0 {
		return s.renderNewGroup(c, http.StatusUnprocessableEntity, view)
	}
	var g *ent.Group
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		g, err = tx.Group.Create().SetName(f.Name).SetDescription(f.Description).Save(ctx)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.GroupCreated, TargetType: "group", TargetID: g.ID.String(), TargetLabel: g.Name,
			Details: map[string]any{"description": g.Description},
		})
	})
	if ent.IsConstraintError(err) {
		// Created by someone else since the check.
		view.Errors["name"] = "admin.groups.name_taken"
		return s.renderNewGroup(c, http.StatusUnprocessableEntity, view)
	}
	if err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	s.flash(c, "success", "admin.groups.created")
	return c.Redirect(http.StatusSeeOther, "/admin/groups/"+g.ID.String())
}

// showGroup renders a group's edit page.
func (s *Server) showGroup(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	d, err := s.groupDetail(c.Request().Context(), id)
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
	return s.render(c, status, admin.GroupPage(lp, adminTabs(v, "/admin/groups"), d), nil)
}

// isAdminGroup reports whether g is the built-in admin group, which keeps
// every permission.
func isAdminGroup(g *ent.Group) bool { return g.IsSystem && g.Name == auth.GroupAdmin }

// mayChangePermission reports whether v may give p to g or take it away:
// never on the admin group; outside the admin group, only permissions v
// holds, so that group.manage cannot hand out more than its holder has.
func mayChangePermission(v *auth.Viewer, g *ent.Group, p auth.Permission) bool {
	return !isAdminGroup(g) && (v.IsAdmin() || v.Can(p))
}

// knownPermission reports whether code is one of the codes in auth.
func knownPermission(code string) bool {
	for _, p := range auth.Permissions() {
		if string(p.Code) == code {
			return true
		}
	}
	return false
}

// groupDetail loads a group's page: the group, its permissions and its
// members.
func (s *Server) groupDetail(ctx context.Context, id uuid.UUID) (admin.GroupDetail, error) {
	g, err := s.Ent.Group.Query().Where(group.ID(id)).
		WithPermissions().
		WithUsers(func(q *ent.UserQuery) { q.Order(user.ByEmail()) }).
		Only(ctx)
	if err != nil {
		return admin.GroupDetail{}, fmt.Errorf("load group: %w", err)
	}
	v := auth.FromContext(ctx)
	granted := map[string]bool{}
	for _, p := range g.Edges.Permissions {
		granted[p.Code] = true
	}
	d := admin.GroupDetail{
		Title:      g.Name,
		Form:       admin.GroupForm{ID: g.ID.String(), Name: g.Name, Description: g.Description, System: g.IsSystem},
		AdminGroup: isAdminGroup(g),
	}
	for _, p := range auth.Permissions() {
		d.Permissions = append(d.Permissions, admin.PermissionRow{
			GroupID: d.Form.ID, Code: string(p.Code), Granted: granted[string(p.Code)],
			Editable: mayChangePermission(v, g, p.Code),
		})
	}
	for _, u := range g.Edges.Users {
		d.Members = append(d.Members, admin.GroupMember{
			ID: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName, Active: u.IsActive,
		})
	}
	return d, nil
}

// updateGroup changes a group's name and description. System groups keep
// their name: a different one is refused next to the field.
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
	d, err := s.groupDetail(ctx, id)
	if err != nil {
		return err
	}
	errs, err := s.checkGroupForm(ctx, &f, id)
	if err != nil {
		return err
	}
	if d.Form.System && f.Name != d.Form.Name {
		errs["name"] = "admin.groups.system_rename"
	}
	if len(errs) > 0 {
		d.Form.Name, d.Form.Description, d.Form.Errors = f.Name, f.Description, errs
		return s.renderGroup(c, http.StatusUnprocessableEntity, d)
	}
	changes := map[string]any{}
	if f.Name != d.Form.Name {
		changes["name"] = map[string]string{"from": d.Form.Name, "to": f.Name}
	}
	if f.Description != d.Form.Description {
		changes["description"] = map[string]string{"from": d.Form.Description, "to": f.Description}
	}
	if len(changes) > 0 {
		err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
			if err := tx.Group.UpdateOneID(id).SetName(f.Name).SetDescription(f.Description).Exec(ctx); err != nil {
				return err
			}
			return audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.GroupUpdated, TargetType: "group", TargetID: id.String(), TargetLabel: f.Name,
				Details: changes,
			})
		})
		if ent.IsConstraintError(err) {
			d.Form.Name, d.Form.Description = f.Name, f.Description
			d.Form.Errors = components.Errors{"name": "admin.groups.name_taken"}
			return s.renderGroup(c, http.StatusUnprocessableEntity, d)
		}
		if err != nil {
			return fmt.Errorf("update group: %w", err)
		}
	}
	s.flash(c, "success", "admin.groups.saved")
	return c.Redirect(http.StatusSeeOther, "/admin/groups/"+id.String())
}

// deleteGroup moves a group to the trash. Its members lose what it granted
// at their next request. System groups cannot be deleted.
func (s *Server) deleteGroup(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		g, err := tx.Group.Get(ctx, id)
		if err != nil {
			return err
		}
		if g.IsSystem {
			return echo.ErrForbidden
		}
		if err := tx.Group.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete group: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.GroupDeleted, TargetType: "group", TargetID: g.ID.String(), TargetLabel: g.Name,
		})
	})
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.groups.deleted")
	return c.Redirect(http.StatusSeeOther, "/admin/groups")
}

// permissionsForm is what the permission matrix sends: the codes ticked.
type permissionsForm struct {
	Permissions []string `form:"permissions"`
}

// setGroupPermissions makes g hold exactly want among the codes v may
// change, recording one audit event per permission given or taken. Codes v
// may not change keep their state; asking to give one is refused with 403.
// It returns the codes added and removed.
func setGroupPermissions(ctx context.Context, tx *ent.Tx, v *auth.Viewer, g *ent.Group, want map[string]bool) (added, removed []string, err error) {
	held, err := tx.Permission.Query().Where(permission.HasGroupsWith(group.ID(g.ID))).All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load permissions of group: %w", err)
	}
	has := map[string]bool{}
	for _, p := range held {
		has[p.Code] = true
	}
	for _, p := range auth.Permissions() {
		code := string(p.Code)
		if want[code] == has[code] {
			continue
		}
		if !mayChangePermission(v, g, p.Code) {
			if isAdminGroup(g) && !want[code] {
				return nil, nil, refusal{"admin.groups.admin_keeps_all"}
			}
			return nil, nil, echo.ErrForbidden
		}
		if want[code] {
			added = append(added, code)
		} else {
			removed = append(removed, code)
		}
	}
	if len(added)+len(removed) == 0 {
		return nil, nil, nil
	}
	ids := map[string]uuid.UUID{}
	all, err := tx.Permission.Query().Where(permission.CodeIn(append(slices.Clone(added), removed...)...)).All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load permissions: %w", err)
	}
	for _, p := range all {
		ids[p.Code] = p.ID
	}
	upd := tx.Group.UpdateOneID(g.ID)
	for _, code := range added {
		upd.AddPermissionIDs(ids[code])
	}
	for _, code := range removed {
		upd.RemovePermissionIDs(ids[code])
	}
	if err := upd.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("change permissions of group: %w", err)
	}
	for _, list := range []struct {
		action string
		codes  []string
	}{{audit.GroupPermissionAdded, added}, {audit.GroupPermissionGone, removed}} {
		for _, code := range list.codes {
			if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: list.action, TargetType: "group", TargetID: g.ID.String(), TargetLabel: g.Name,
				Details: map[string]any{"permission": code},
			}); err != nil {
				return nil, nil, err
			}
		}
	}
	return added, removed, nil
}

// updateGroupPermissions saves the whole matrix at once: the form for
// browsers without JavaScript.
func (s *Server) updateGroupPermissions(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var f permissionsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	want := map[string]bool{}
	for _, code := range f.Permissions {
		if !knownPermission(code) {
			return echo.ErrBadRequest
		}
		want[code] = true
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		g, err := tx.Group.Get(ctx, id)
		if err != nil {
			return err
		}
		_, _, err = setGroupPermissions(ctx, tx, v, g, want)
		return err
	})
	if key := refusedKey(err); key != "" {
		d, err := s.groupDetail(ctx, id)
		if err != nil {
			return err
		}
		d.MatrixError = key
		return s.renderGroup(c, http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.groups.permissions_saved")
	return c.Redirect(http.StatusSeeOther, "/admin/groups/"+id.String())
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
	if !knownPermission(code) {
		return echo.ErrNotFound
	}
	var f permissionsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	granted := slices.Contains(f.Permissions, code)
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	var g *ent.Group
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if g, err = tx.Group.Get(ctx, id); err != nil {
			return err
		}
		// Only this code changes; every other keeps its state.
		held, err := tx.Permission.Query().Where(permission.HasGroupsWith(group.ID(id))).Select(permission.FieldCode).Strings(ctx)
		if err != nil {
			return fmt.Errorf("load permissions of group: %w", err)
		}
		want := map[string]bool{}
		for _, h := range held {
			want[h] = true
		}
		if want[code] == granted {
			return nil
		}
		want[code] = granted
		_, _, err = setGroupPermissions(ctx, tx, v, g, want)
		return err
	})
	key := refusedKey(err)
	if err != nil && key == "" {
		return err
	}
	if !isPartial(c.Request()) {
		if key != "" {
			s.flash(c, "error", key)
		} else {
			s.flash(c, "success", "admin.groups.permissions_saved")
		}
		return c.Redirect(http.StatusSeeOther, "/admin/groups/"+id.String())
	}
	has, err := s.Ent.Permission.Query().Where(permission.Code(code), permission.HasGroupsWith(group.ID(id))).Exist(ctx)
	if err != nil {
		return fmt.Errorf("read permission of group: %w", err)
	}
	row := admin.PermissionRow{
		GroupID: id.String(), Code: code, Granted: has,
		Editable: mayChangePermission(v, g, auth.Permission(code)), Note: admin.NoteSaved,
	}
	status := http.StatusOK
	if key != "" {
		row.Note, row.ErrorKey, status = admin.NoteFailed, key, http.StatusUnprocessableEntity
	}
	return s.render(c, status, admin.PermissionRowView(row), nil)
}
