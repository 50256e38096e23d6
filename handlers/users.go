package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/refreshtoken"
	"violet/ent/schema"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/identity"
	"violet/internal/invite"
	"violet/views/admin"
)

// refusal is a change refused by a rule (the last admin, oneself): the
// transaction rolls back and the page says why. key is an i18n key.
type refusal struct{ key string }

func (r refusal) Error() string { return "refused: " + r.key }

// refusedKey returns the i18n key of a refusal, "" for other errors.
func refusedKey(err error) string {
	var r refusal
	if errors.As(err, &r) {
		return r.key
	}
	return ""
}

// paramID reads the :id of the URL; a malformed id is a missing page.
func paramID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

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

// listUsers renders the user list, filtered and paged. The trash (deleted
// users) is the one place that reads past the soft delete, and only for
// viewers who may restore. htmx requests get only the results.
func (s *Server) listUsers(c echo.Context) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	f := userFilter(c)
	if f.Deleted && !v.Can(auth.UserManage) {
		return echo.ErrForbidden
	}
	groups, err := s.Ent.Group.Query().Order(group.ByName()).Select(group.FieldName).Strings(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}

	q := s.Ent.User.Query()
	qctx := ctx
	if f.Deleted {
		qctx = schema.SkipSoftDelete(ctx)
		q.Where(user.DeletedAtNotNil())
	} else {
		switch f.Status {
		case admin.StatusActive:
			q.Where(user.IsActive(true))
		case admin.StatusDeactivated:
			q.Where(user.IsActive(false))
		}
	}
	if f.Q != "" {
		q.Where(user.Or(user.EmailContainsFold(f.Q), user.DisplayNameContainsFold(f.Q)))
	}
	if f.Group != "" {
		q.Where(user.HasGroupsWith(group.Name(f.Group), group.DeletedAtIsNil()))
	}
	total, err := q.Clone().Count(qctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	pages := max(1, (total+admin.UsersPageSize-1)/admin.UsersPageSize)
	f.Page = min(f.Page, pages)
	users, err := q.
		Order(user.ByEmail(), user.ByID()).
		Offset((f.Page - 1) * admin.UsersPageSize).
		Limit(admin.UsersPageSize).
		WithGroups(func(gq *ent.GroupQuery) { gq.Order(group.ByName()) }).
		All(qctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}

	l := admin.UserList{Filter: f, Groups: groups, Total: total, Pages: pages, CanTrash: v.Can(auth.UserManage)}
	for _, u := range users {
		r := admin.UserRow{
			ID: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName,
			Active: u.IsActive, Deleted: u.DeletedAt != nil, LastLogin: u.LastLoginAt,
			MixedEmail: identity.EmailMixedScript(u.Email), MixedName: identity.MixedScript(u.DisplayName),
		}
		for _, g := range u.Edges.Groups {
			if g.DeletedAt == nil { // the trash's context also sees deleted groups
				r.Groups = append(r.Groups, g.Name)
			}
		}
		l.Rows = append(l.Rows, r)
	}
	title := "admin.users.title"
	if f.Deleted {
		title = "admin.users.trash_title"
	}
	lp := s.layoutProps(c, title, "nav.admin")
	return s.render(c, http.StatusOK, admin.UsersPage(lp, adminTabs(v, "/admin/users"), l), admin.UserResults(l))
}

// showUser renders a user's page. Viewers with user.manage also reach
// deleted users (from the trash), to restore them; for others a deleted
// user is not found.
func (s *Server) showUser(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	d, err := s.userDetail(c.Request().Context(), id)
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
	return s.render(c, status, admin.UserPage(lp, adminTabs(v, "/admin/users"), d), nil)
}

// userDetail loads what a user's page shows.
func (s *Server) userDetail(ctx context.Context, id uuid.UUID) (admin.UserDetail, error) {
	v := auth.FromContext(ctx)
	uctx := ctx
	if v.Can(auth.UserManage) {
		uctx = schema.SkipSoftDelete(ctx)
	}
	u, err := s.Ent.User.Get(uctx, id)
	if err != nil {
		return admin.UserDetail{}, fmt.Errorf("load user: %w", err)
	}
	member, err := u.QueryGroups().IDs(ctx)
	if err != nil {
		return admin.UserDetail{}, fmt.Errorf("load groups of user: %w", err)
	}
	all, err := s.grantableGroups(ctx)
	if err != nil {
		return admin.UserDetail{}, err
	}
	sessions, err := s.Ent.RefreshToken.Query().
		Where(refreshtoken.UserID(id), refreshtoken.RevokedAtIsNil(), refreshtoken.ExpiresAtGT(s.Now())).
		Count(ctx)
	if err != nil {
		return admin.UserDetail{}, fmt.Errorf("count sessions: %w", err)
	}
	checked := map[uuid.UUID]bool{}
	for _, g := range member {
		checked[g] = true
	}
	d := admin.UserDetail{
		ID: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName, Locale: string(u.Locale),
		MixedEmail: identity.EmailMixedScript(u.Email), MixedName: identity.MixedScript(u.DisplayName),
		Active: u.IsActive, DeletedAt: u.DeletedAt, CreatedAt: u.CreatedAt, LastLogin: u.LastLoginAt,
		Sessions: sessions, Self: u.ID == v.UserID, CanManage: v.Can(auth.UserManage),
	}
	d.Groups = admin.UserGroups{
		UserID: d.ID, Choices: groupChoices(v, all, checked),
		Editable: d.CanManage && !d.Deleted(),
	}
	return d, nil
}

// grantableGroups loads every group with its permissions, which decide
// who may grant it (invite.Grantor.MayGrant).
func (s *Server) grantableGroups(ctx context.Context) ([]*ent.Group, error) {
	gs, err := s.Ent.Group.Query().WithPermissions().Order(group.ByName()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	return gs, nil
}

// groupChoices builds the checkboxes of a user's groups form. Who may
// grant what is the invitations' rule (invite.Grantor): admin group members
// anything; others neither admin nor a group holding a permission they lack.
func groupChoices(v *auth.Viewer, all []*ent.Group, checked map[uuid.UUID]bool) []admin.GroupChoice {
	grantor := invite.GrantorOf(v)
	out := make([]admin.GroupChoice, 0, len(all))
	for _, g := range all {
		out = append(out, admin.GroupChoice{
			ID: g.ID.String(), Name: g.Name, Description: g.Description,
			Checked: checked[g.ID], Grantable: grantor.MayGrant(g),
		})
	}
	return out
}

// userGroupsForm is what the groups form may set: group ids.
type userGroupsForm struct {
	Groups []string `form:"groups"`
}

// updateUserGroups sets a user's groups. Groups the viewer may not grant
// (the invitations' rule, so nobody gives more than they have) keep their
// current state whatever the form says (their disabled boxes
// are not sent); asking to add one is refused with 403. Taking the last
// active admin out of the admin group is refused. htmx gets the groups
// block back with the outcome; a plain POST is redirected to the page.
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
	v := auth.FromContext(ctx)
	all, err := s.grantableGroups(ctx)
	if err != nil {
		return err
	}
	grantor := invite.GrantorOf(v)
	byID := make(map[uuid.UUID]*ent.Group, len(all))
	for _, g := range all {
		byID[g.ID] = g
	}
	wanted := map[uuid.UUID]bool{}
	for _, raw := range f.Groups {
		gid, err := uuid.Parse(raw)
		if err != nil || byID[gid] == nil {
			return echo.ErrBadRequest
		}
		wanted[gid] = true
	}

	var added, removed []string
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		added, removed, err = setUserGroups(ctx, tx, grantor, all, id, wanted)
		return err
	})
	key := refusedKey(err)
	if err != nil && key == "" {
		return err
	}

	partial := isPartial(c.Request())
	if key == "" && !partial {
		s.flash(c, "success", "admin.users.groups_saved")
		return c.Redirect(http.StatusSeeOther, "/admin/users/"+id.String())
	}
	d, err := s.userDetail(ctx, id)
	if err != nil {
		return err
	}
	status := http.StatusOK
	switch {
	case key != "":
		// Keep what the viewer asked for on screen, with why it was refused.
		status = http.StatusUnprocessableEntity
		for i, ch := range d.Groups.Choices {
			if ch.Grantable {
				d.Groups.Choices[i].Checked = wanted[uuid.MustParse(ch.ID)]
			}
		}
		d.Groups.ErrorKey = key
	case len(added)+len(removed) == 0:
		d.Groups.Unchanged = true
	default:
		d.Groups.Saved = true
	}
	if partial {
		return s.render(c, status, admin.UserGroupsBlock(d.Groups), nil)
	}
	return s.renderUser(c, status, d)
}

// setUserGroups gives user id exactly the wanted groups among those the
// grantor may grant, in tx with its audit event, and returns the names
// added and removed. The admin group stays locked until tx ends, so the
// last-admin check cannot race another change.
func setUserGroups(ctx context.Context, tx *ent.Tx, grantor invite.Grantor, all []*ent.Group, id uuid.UUID, wanted map[uuid.UUID]bool) (added, removed []string, err error) {
	adminGroup, err := lockAdminGroup(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	u, err := tx.User.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	current, err := u.QueryGroups().IDs(ctx)
	if err != nil {
		return nil, nil, err
	}
	has := map[uuid.UUID]bool{}
	for _, gid := range current {
		has[gid] = true
	}
	var addIDs, removeIDs []uuid.UUID
	for _, g := range all {
		want := wanted[g.ID]
		if !grantor.MayGrant(g) {
			if want && !has[g.ID] {
				return nil, nil, echo.ErrForbidden
			}
			want = has[g.ID]
		}
		switch {
		case want && !has[g.ID]:
			addIDs, added = append(addIDs, g.ID), append(added, g.Name)
		case !want && has[g.ID]:
			removeIDs, removed = append(removeIDs, g.ID), append(removed, g.Name)
		}
	}
	if len(addIDs)+len(removeIDs) == 0 {
		return nil, nil, nil
	}
	if slices.Contains(removeIDs, adminGroup.ID) && u.IsActive {
		if err := refuseLastAdmin(ctx, tx, adminGroup); err != nil {
			return nil, nil, err
		}
	}
	if err := tx.User.UpdateOneID(id).AddGroupIDs(addIDs...).RemoveGroupIDs(removeIDs...).Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("change groups: %w", err)
	}
	err = audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.UserGroupsChanged, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		Details: map[string]any{"added": nonNil(added), "removed": nonNil(removed)},
	})
	return added, removed, err
}

// nonNil keeps an empty list a JSON array in the audit details.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// lockAdminGroup returns the admin group, locked for the rest of tx, so
// that changes that could leave Violet without an active admin (two
// admins deactivating each other at once) run one after the other.
func lockAdminGroup(ctx context.Context, tx *ent.Tx) (*ent.Group, error) {
	g, err := tx.Group.Query().Where(group.Name(auth.GroupAdmin), group.IsSystem(true)).ForUpdate().Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock the admin group: %w", err)
	}
	return g, nil
}

// refuseLastAdmin refuses a change that takes away an active admin when
// there is only one left. Call it with the admin group locked.
func refuseLastAdmin(ctx context.Context, tx *ent.Tx, adminGroup *ent.Group) error {
	n, err := tx.User.Query().Where(user.IsActive(true), user.HasGroupsWith(group.ID(adminGroup.ID))).Count(ctx)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if n <= 1 {
		return refusal{"admin.users.last_admin"}
	}
	return nil
}

// guardLastAdmin refuses to take u away from the active admins (by
// deactivation or deletion) when u is the last of them.
func guardLastAdmin(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) error {
	if !u.IsActive || u.DeletedAt != nil {
		return nil
	}
	admin, err := tx.User.Query().Where(user.ID(u.ID), user.HasGroupsWith(group.ID(adminGroup.ID))).Exist(ctx)
	if err != nil {
		return fmt.Errorf("read admin membership: %w", err)
	}
	if !admin {
		return nil
	}
	return refuseLastAdmin(ctx, tx, adminGroup)
}

// userChange is one state change of the user page: apply runs in the
// transaction with the admin group locked and returns the audit action to
// record ("" when there was nothing to do) and its details.
type userChange struct {
	inTrash bool   // acts on a deleted user (restore)
	flash   string // i18n key of the success message
	apply   func(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) (string, map[string]any, error)
}

// changeUser runs a userChange: one transaction holding the change, the
// sessions it ends and its audit event. A refusal re-renders the page with
// 422 and changes nothing; success redirects to the page with a flash.
func (s *Server) changeUser(c echo.Context, ch userChange) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		adminGroup, err := lockAdminGroup(ctx, tx)
		if err != nil {
			return err
		}
		q := tx.User.Query().Where(user.ID(id))
		uctx := ctx
		if ch.inTrash {
			uctx = schema.SkipSoftDelete(ctx)
			q.Where(user.DeletedAtNotNil())
		}
		u, err := q.Only(uctx)
		if err != nil {
			return err
		}
		action, details, err := ch.apply(ctx, tx, u, adminGroup)
		if err != nil || action == "" {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: action, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email, Details: details,
		})
	})
	if key := refusedKey(err); key != "" {
		d, err := s.userDetail(ctx, id)
		if err != nil {
			return err
		}
		d.ErrorKey = key
		return s.renderUser(c, http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", ch.flash)
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+id.String())
}

// revokeUserSessions revokes every session of u in tx and returns how many.
func (s *Server) revokeUserSessions(ctx context.Context, tx *ent.Tx, u *ent.User) (int64, error) {
	return s.Sessions.RevokeUser(ctx, tx, u.ID, uuid.Nil)
}

// deactivateUser stops a user from signing in and ends their sessions at
// once. Nobody deactivates themselves, nor the last active admin.
func (s *Server) deactivateUser(c echo.Context) error {
	v := auth.FromContext(c.Request().Context())
	return s.changeUser(c, userChange{flash: "admin.users.deactivated_done",
		apply: func(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) (string, map[string]any, error) {
			if u.ID == v.UserID {
				return "", nil, refusal{"admin.users.not_yourself"}
			}
			if !u.IsActive {
				return "", nil, nil
			}
			if err := guardLastAdmin(ctx, tx, u, adminGroup); err != nil {
				return "", nil, err
			}
			if err := tx.User.UpdateOneID(u.ID).SetIsActive(false).Exec(ctx); err != nil {
				return "", nil, fmt.Errorf("deactivate user: %w", err)
			}
			n, err := s.revokeUserSessions(ctx, tx, u)
			if err != nil {
				return "", nil, err
			}
			return audit.UserDeactivated, map[string]any{"sessions_ended": n}, nil
		}})
}

// reactivateUser lets a deactivated user sign in again.
func (s *Server) reactivateUser(c echo.Context) error {
	return s.changeUser(c, userChange{flash: "admin.users.reactivated_done",
		apply: func(ctx context.Context, tx *ent.Tx, u *ent.User, _ *ent.Group) (string, map[string]any, error) {
			if u.IsActive {
				return "", nil, nil
			}
			if err := tx.User.UpdateOneID(u.ID).SetIsActive(true).Exec(ctx); err != nil {
				return "", nil, fmt.Errorf("reactivate user: %w", err)
			}
			return audit.UserReactivated, nil, nil
		}})
}

// deleteUser moves a user to the trash (soft delete) and ends their
// sessions. Nobody deletes themselves, nor the last active admin.
func (s *Server) deleteUser(c echo.Context) error {
	v := auth.FromContext(c.Request().Context())
	return s.changeUser(c, userChange{flash: "admin.users.deleted_done",
		apply: func(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) (string, map[string]any, error) {
			if u.ID == v.UserID {
				return "", nil, refusal{"admin.users.not_yourself"}
			}
			if err := guardLastAdmin(ctx, tx, u, adminGroup); err != nil {
				return "", nil, err
			}
			if err := tx.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
				return "", nil, fmt.Errorf("delete user: %w", err)
			}
			n, err := s.revokeUserSessions(ctx, tx, u)
			if err != nil {
				return "", nil, err
			}
			return audit.UserDeleted, map[string]any{"sessions_ended": n}, nil
		}})
}

// restoreUser takes a user out of the trash, unless their email address
// or name now belongs to another account, or reads like it: restoring is
// bringing an account back as if it were new (identity.Check).
func (s *Server) restoreUser(c echo.Context) error {
	return s.changeUser(c, userChange{inTrash: true, flash: "admin.users.restored_done",
		apply: func(ctx context.Context, tx *ent.Tx, u *ent.User, _ *ent.Group) (string, map[string]any, error) {
			if err := identity.Lock(ctx, tx); err != nil {
				return "", nil, err
			}
			clash, err := identity.Check(ctx, tx.User, u.ID, u.Email, u.DisplayName)
			switch {
			case err != nil:
				return "", nil, err
			case clash.Email == identity.Same:
				return "", nil, refusal{"admin.users.email_taken"}
			case clash.Email == identity.LookAlike:
				return "", nil, refusal{"identity.restore.email_look_alike"}
			case clash.Name != identity.None:
				return "", nil, refusal{"identity.restore.name_look_alike"}
			}
			if err := tx.User.UpdateOneID(u.ID).ClearDeletedAt().Exec(schema.SkipSoftDelete(ctx)); err != nil {
				return "", nil, fmt.Errorf("restore user: %w", err)
			}
			return audit.UserRestored, nil, nil
		}})
}

// endUserSessions signs a user out everywhere.
func (s *Server) endUserSessions(c echo.Context) error {
	return s.changeUser(c, userChange{flash: "admin.users.sessions_ended_done",
		apply: func(ctx context.Context, tx *ent.Tx, u *ent.User, _ *ent.Group) (string, map[string]any, error) {
			n, err := s.revokeUserSessions(ctx, tx, u)
			if err != nil {
				return "", nil, err
			}
			return audit.UserSessionsEnded, map[string]any{"sessions_ended": n}, nil
		}})
}
