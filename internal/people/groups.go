package people

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/permission"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/views/admin"
)

// Group field limits.
const (
	groupNameMax        = 100
	groupDescriptionMax = 500
)

// Groups returns every group with its member and permission counts
// (three queries whatever the number of groups).
func (s *Service) Groups(ctx context.Context) ([]admin.GroupRow, error) {
	gs, err := s.client.Group.Query().
		WithUsers(func(q *ent.UserQuery) { q.Select(user.FieldID) }).
		WithPermissions(func(q *ent.PermissionQuery) { q.Select(permission.FieldID) }).
		Order(group.ByName()).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	rows := make([]admin.GroupRow, 0, len(gs))
	for _, g := range gs {
		rows = append(rows, admin.GroupRow{
			ID: g.ID.String(), Name: g.Name, Description: g.Description, System: g.IsSystem,
			Members: len(g.Edges.Users), Permissions: len(g.Edges.Permissions),
		})
	}
	return rows, nil
}

// GroupInput is what the group form may set: not is_system, not
// permissions.
type GroupInput struct {
	Name        string
	Description string
	// RequireSecondFactor: members must sign in with a second factor
	// (those without one are sent to set it up at their next sign-in).
	RequireSecondFactor bool
}

// Trimmed returns the input as the workflows keep it, without the spaces
// around it: what a form shown again with errors holds.
func (in GroupInput) Trimmed() GroupInput {
	return GroupInput{Name: strings.TrimSpace(in.Name), Description: strings.TrimSpace(in.Description),
		RequireSecondFactor: in.RequireSecondFactor}
}

// checkGroup validates a trimmed group input; self is the group being
// edited (uuid.Nil for a new one), whose own name is not a duplicate.
// Names are unique among groups that are not deleted, ignoring case, so
// "Admin" cannot pass for "admin".
func checkGroup(ctx context.Context, client *ent.Client, in GroupInput, self uuid.UUID) (*app.Invalid, error) {
	inv := &app.Invalid{}
	switch {
	case in.Name == "":
		inv.Add("name", "form.required")
	case utf8.RuneCountInString(in.Name) > groupNameMax:
		inv.Add("name", "admin.groups.name_too_long")
	default:
		taken, err := client.Group.Query().Where(group.NameEqualFold(in.Name), group.IDNEQ(self)).Exist(ctx)
		if err != nil {
			return nil, fmt.Errorf("check group name: %w", err)
		}
		if taken {
			inv.Add("name", "admin.groups.name_taken")
		}
	}
	if utf8.RuneCountInString(in.Description) > groupDescriptionMax {
		inv.Add("description", "admin.groups.description_too_long")
	}
	return inv, nil
}

// CreateGroup creates a group without permissions (they are given on its
// page), with its audit event. A name taken meanwhile by someone else is
// refused like one taken before.
func (s *Service) CreateGroup(ctx context.Context, in GroupInput) (*ent.Group, error) {
	in = in.Trimmed()
	inv, err := checkGroup(ctx, s.client, in, uuid.Nil)
	if err != nil {
		return nil, err
	}
	if err := inv.Err(); err != nil {
		return nil, err
	}
	var g *ent.Group
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		g, err = tx.Group.Create().SetName(in.Name).SetDescription(in.Description).
			SetRequireSecondFactor(in.RequireSecondFactor).Save(ctx)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.GroupCreated, TargetType: "group", TargetID: g.ID.String(), TargetLabel: g.Name,
			Details: map[string]any{"description": g.Description, "require_second_factor": g.RequireSecondFactor},
		})
	})
	if ent.IsConstraintError(err) {
		// Created by someone else since the check.
		return nil, app.Invalidf("name", "admin.groups.name_taken")
	}
	if err != nil {
		return nil, fmt.Errorf("create group: %w", err)
	}
	return g, nil
}

// Group returns a group's page: the group, its permissions and its
// members.
func (s *Service) Group(ctx context.Context, id uuid.UUID) (admin.GroupDetail, error) {
	g, err := s.client.Group.Query().Where(group.ID(id)).
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
		Form:       admin.GroupForm{ID: g.ID.String(), Name: g.Name, Description: g.Description, System: g.IsSystem, RequireSecondFactor: g.RequireSecondFactor},
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

// UpdateGroup changes a group's name and description, with an audit event
// of what changed (none when nothing did). System groups keep their name:
// a different one is refused next to the field.
func (s *Service) UpdateGroup(ctx context.Context, id uuid.UUID, in GroupInput) error {
	g, err := s.client.Group.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("load group: %w", err)
	}
	in = in.Trimmed()
	inv, err := checkGroup(ctx, s.client, in, id)
	if err != nil {
		return err
	}
	if g.IsSystem && in.Name != g.Name {
		inv.Add("name", "admin.groups.system_rename")
	}
	if err := inv.Err(); err != nil {
		return err
	}
	changes := map[string]any{}
	if in.Name != g.Name {
		changes["name"] = map[string]string{"from": g.Name, "to": in.Name}
	}
	if in.Description != g.Description {
		changes["description"] = map[string]string{"from": g.Description, "to": in.Description}
	}
	if in.RequireSecondFactor != g.RequireSecondFactor {
		changes["require_second_factor"] = map[string]bool{"from": g.RequireSecondFactor, "to": in.RequireSecondFactor}
	}
	if len(changes) == 0 {
		return nil
	}
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := tx.Group.UpdateOneID(id).SetName(in.Name).SetDescription(in.Description).
			SetRequireSecondFactor(in.RequireSecondFactor).Exec(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.GroupUpdated, TargetType: "group", TargetID: id.String(), TargetLabel: in.Name,
			Details: changes,
		})
	})
	if ent.IsConstraintError(err) {
		return app.Invalidf("name", "admin.groups.name_taken")
	}
	if err != nil {
		return fmt.Errorf("update group: %w", err)
	}
	return nil
}

// DeleteGroup moves a group to the trash. Its members lose what it
// granted at their next request. System groups cannot be deleted
// (app.ErrForbidden).
func (s *Service) DeleteGroup(ctx context.Context, id uuid.UUID) error {
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		g, err := tx.Group.Get(ctx, id)
		if err != nil {
			return err
		}
		if g.IsSystem {
			return fmt.Errorf("%w: a system group cannot be deleted", app.ErrForbidden)
		}
		if err := tx.Group.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete group: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.GroupDeleted, TargetType: "group", TargetID: g.ID.String(), TargetLabel: g.Name,
		})
	})
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

// KnownPermission reports whether code is one of the codes in auth.
func KnownPermission(code string) bool {
	for _, p := range auth.Permissions() {
		if string(p.Code) == code {
			return true
		}
	}
	return false
}

// SetPermissions makes group id hold exactly the permissions codes among
// those the viewer may change: the whole matrix at once, the form for
// browsers without JavaScript. A code that is not a permission is
// ErrUnknownPermission.
func (s *Service) SetPermissions(ctx context.Context, id uuid.UUID, codes []string) error {
	want := map[string]bool{}
	for _, code := range codes {
		if !KnownPermission(code) {
			return fmt.Errorf("%w: %q", ErrUnknownPermission, code)
		}
		want[code] = true
	}
	v := auth.FromContext(ctx)
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		g, err := tx.Group.Get(ctx, id)
		if err != nil {
			return err
		}
		return setGroupPermissions(ctx, tx, v, g, want)
	})
}

// TogglePermission gives group id the permission code (granted) or takes
// it away, as a checkbox of the matrix asks; every other code keeps its
// state. It returns the matrix row as it stands after the change, noted
// saved, or failed with the refusal (the admin group keeps everything)
// returned as well. An unknown code is app.ErrNotFound: it is the URL's.
func (s *Service) TogglePermission(ctx context.Context, id uuid.UUID, code string, granted bool) (admin.PermissionRow, error) {
	if !KnownPermission(code) {
		return admin.PermissionRow{}, fmt.Errorf("%w: permission %q", app.ErrNotFound, code)
	}
	v := auth.FromContext(ctx)
	var g *ent.Group
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		var err error
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
		return setGroupPermissions(ctx, tx, v, g, want)
	})
	key := RefusedKey(err)
	if err != nil && key == "" {
		return admin.PermissionRow{}, err
	}
	has, herr := s.client.Permission.Query().Where(permission.Code(code), permission.HasGroupsWith(group.ID(id))).Exist(ctx)
	if herr != nil {
		return admin.PermissionRow{}, fmt.Errorf("read permission of group: %w", herr)
	}
	row := admin.PermissionRow{
		GroupID: id.String(), Code: code, Granted: has,
		Editable: mayChangePermission(v, g, auth.Permission(code)), Note: admin.NoteSaved,
	}
	if key != "" {
		row.Note, row.ErrorKey = admin.NoteFailed, key
	}
	return row, err
}

// setGroupPermissions makes g hold exactly want among the codes v may
// change, recording one audit event per permission given or taken. Codes v
// may not change keep their state; asking to give one is app.ErrForbidden,
// asking to take one from the admin group is refused.
func setGroupPermissions(ctx context.Context, tx *ent.Tx, v *auth.Viewer, g *ent.Group, want map[string]bool) error {
	held, err := tx.Permission.Query().Where(permission.HasGroupsWith(group.ID(g.ID))).All(ctx)
	if err != nil {
		return fmt.Errorf("load permissions of group: %w", err)
	}
	has := map[string]bool{}
	for _, p := range held {
		has[p.Code] = true
	}
	var added, removed []string
	for _, p := range auth.Permissions() {
		code := string(p.Code)
		if want[code] == has[code] {
			continue
		}
		if !mayChangePermission(v, g, p.Code) {
			if isAdminGroup(g) && !want[code] {
				return refused("admin.groups.admin_keeps_all")
			}
			return fmt.Errorf("%w: may not change permission %s", app.ErrForbidden, code)
		}
		if want[code] {
			added = append(added, code)
		} else {
			removed = append(removed, code)
		}
	}
	if len(added)+len(removed) == 0 {
		return nil
	}
	ids := map[string]uuid.UUID{}
	all, err := tx.Permission.Query().Where(permission.CodeIn(append(slices.Clone(added), removed...)...)).All(ctx)
	if err != nil {
		return fmt.Errorf("load permissions: %w", err)
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
		return fmt.Errorf("change permissions of group: %w", err)
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
				return err
			}
		}
	}
	return nil
}
