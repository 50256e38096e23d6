package people

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/apitoken"
	"violet/ent/group"
	"violet/ent/refreshtoken"
	"violet/ent/schema"
	"violet/ent/user"
	"violet/ent/usertotp"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/factor"
	"violet/internal/identity"
	"violet/internal/invite"
	"violet/internal/ssopolicy"
	"violet/views/admin"
)

// Users returns the user list, filtered and paged (a page past the end
// shows the last one). The trash (deleted users) is the one place that
// reads past the soft delete, and only for viewers who may restore.
func (s *Service) Users(ctx context.Context, f admin.UserFilter) (admin.UserList, error) {
	v := auth.FromContext(ctx)
	if f.Deleted && !v.Can(auth.UserManage) {
		return admin.UserList{}, fmt.Errorf("%w: the trash needs user.manage", app.ErrForbidden)
	}
	groups, err := s.client.Group.Query().Order(group.ByName()).Select(group.FieldName).Strings(ctx)
	if err != nil {
		return admin.UserList{}, fmt.Errorf("list groups: %w", err)
	}

	q := s.client.User.Query()
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
		return admin.UserList{}, fmt.Errorf("count users: %w", err)
	}
	pages := max(1, (total+admin.UsersPageSize-1)/admin.UsersPageSize)
	f.Page = min(max(f.Page, 1), pages)
	users, err := q.
		Order(user.ByEmail(), user.ByID()).
		Offset((f.Page - 1) * admin.UsersPageSize).
		Limit(admin.UsersPageSize).
		WithGroups(func(gq *ent.GroupQuery) { gq.Order(group.ByName()) }).
		All(qctx)
	if err != nil {
		return admin.UserList{}, fmt.Errorf("list users: %w", err)
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
	return l, nil
}

// User returns what a user's page shows. Viewers with user.manage also
// reach deleted users (from the trash), to restore them; for others a
// deleted user is not found.
func (s *Service) User(ctx context.Context, id uuid.UUID) (admin.UserDetail, error) {
	v := auth.FromContext(ctx)
	uctx := ctx
	if v.Can(auth.UserManage) {
		uctx = schema.SkipSoftDelete(ctx)
	}
	u, err := s.client.User.Get(uctx, id)
	if err != nil {
		return admin.UserDetail{}, fmt.Errorf("load user: %w", err)
	}
	member, err := u.QueryGroups().IDs(ctx)
	if err != nil {
		return admin.UserDetail{}, fmt.Errorf("load groups of user: %w", err)
	}
	all, err := grantableGroups(ctx, s.client)
	if err != nil {
		return admin.UserDetail{}, err
	}
	sessions, err := s.client.RefreshToken.Query().
		Where(refreshtoken.UserID(id), refreshtoken.RevokedAtIsNil(), refreshtoken.ExpiresAtGT(s.now())).
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
	if d.CanManage {
		// The factor rows are system-only: read for a user manager.
		if d.TOTP, err = s.client.UserTOTP.Query().Where(usertotp.UserID(id), usertotp.ConfirmedAtNotNil()).
			Exist(rule.SystemContext(ctx)); err != nil {
			return admin.UserDetail{}, fmt.Errorf("load factors: %w", err)
		}
	}
	d.Groups = admin.UserGroups{
		UserID: d.ID, Choices: groupChoices(v, all, checked),
		Editable: d.CanManage && !d.Deleted(),
	}
	return d, nil
}

// grantableGroups loads every group with its permissions, which decide
// who may grant it (invite.Grantor.MayGrant).
func grantableGroups(ctx context.Context, client *ent.Client) ([]*ent.Group, error) {
	gs, err := client.Group.Query().WithPermissions().Order(group.ByName()).All(ctx)
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

// GroupsChange is what SetUserGroups did: the names of the groups added
// and removed.
type GroupsChange struct {
	Added, Removed []string
}

// Unchanged reports whether the form asked for nothing new.
func (c GroupsChange) Unchanged() bool { return len(c.Added)+len(c.Removed) == 0 }

// parseGroups reads the ids the groups form sent; one that is not a group
// is ErrUnknownGroup.
func parseGroups(all []*ent.Group, raw []string) (map[uuid.UUID]bool, error) {
	known := make(map[uuid.UUID]bool, len(all))
	for _, g := range all {
		known[g.ID] = true
	}
	wanted := map[uuid.UUID]bool{}
	for _, r := range raw {
		gid, err := uuid.Parse(r)
		if err != nil || !known[gid] {
			return nil, fmt.Errorf("%w: %q", ErrUnknownGroup, r)
		}
		wanted[gid] = true
	}
	return wanted, nil
}

// SetUserGroups gives user id exactly the groups whose ids are in groups,
// among those the viewer may grant. Groups the viewer may not grant (the
// invitations' rule, so nobody gives more than they have) keep their
// current state whatever the form says (their disabled boxes are not
// sent); asking to add one is app.ErrForbidden. Taking the last active
// admin out of the admin group is refused ("admin.users.last_admin").
func (s *Service) SetUserGroups(ctx context.Context, id uuid.UUID, groups []string) (GroupsChange, error) {
	all, err := grantableGroups(ctx, s.client)
	if err != nil {
		return GroupsChange{}, err
	}
	wanted, err := parseGroups(all, groups)
	if err != nil {
		return GroupsChange{}, err
	}
	grantor := invite.GrantorOf(auth.FromContext(ctx))
	var ch GroupsChange
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		ch, err = setUserGroups(ctx, tx, grantor, all, id, wanted)
		return err
	})
	return ch, err
}

// UserGroupsAfter returns the groups block of user id after SetUserGroups
// returned ch and err: saved, unchanged, or refused with the boxes the
// viewer may change kept as the form sent them and why it was refused.
func (s *Service) UserGroupsAfter(ctx context.Context, id uuid.UUID, groups []string, ch GroupsChange, err error) (admin.UserDetail, error) {
	d, derr := s.User(ctx, id)
	if derr != nil {
		return d, derr
	}
	switch key := RefusedKey(err); {
	case key != "":
		// Keep what the viewer asked for on screen, with why it was refused.
		wanted := map[uuid.UUID]bool{}
		for _, r := range groups {
			if gid, err := uuid.Parse(r); err == nil {
				wanted[gid] = true
			}
		}
		for i, c := range d.Groups.Choices {
			if c.Grantable {
				d.Groups.Choices[i].Checked = wanted[uuid.MustParse(c.ID)]
			}
		}
		d.Groups.ErrorKey = key
	case ch.Unchanged():
		d.Groups.Unchanged = true
	default:
		d.Groups.Saved = true
	}
	return d, nil
}

// setUserGroups gives user id exactly the wanted groups among those the
// grantor may grant, in tx with its audit event, and returns the names
// added and removed. The admin group stays locked until tx ends, so the
// last-admin check cannot race another change.
func setUserGroups(ctx context.Context, tx *ent.Tx, grantor invite.Grantor, all []*ent.Group, id uuid.UUID, wanted map[uuid.UUID]bool) (GroupsChange, error) {
	var ch GroupsChange
	adminGroup, err := lockAdminGroup(ctx, tx)
	if err != nil {
		return ch, err
	}
	u, err := tx.User.Get(ctx, id)
	if err != nil {
		return ch, err
	}
	current, err := u.QueryGroups().IDs(ctx)
	if err != nil {
		return ch, err
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
				return GroupsChange{}, fmt.Errorf("%w: may not grant group %s", app.ErrForbidden, g.Name)
			}
			want = has[g.ID]
		}
		switch {
		case want && !has[g.ID]:
			addIDs, ch.Added = append(addIDs, g.ID), append(ch.Added, g.Name)
		case !want && has[g.ID]:
			removeIDs, ch.Removed = append(removeIDs, g.ID), append(ch.Removed, g.Name)
		}
	}
	if len(addIDs)+len(removeIDs) == 0 {
		return GroupsChange{}, nil
	}
	if slices.Contains(removeIDs, adminGroup.ID) && u.IsActive {
		if err := refuseLastAdmin(ctx, tx, adminGroup); err != nil {
			return GroupsChange{}, err
		}
		if err := guardLastBreakGlass(ctx, tx, u, adminGroup); err != nil {
			return GroupsChange{}, err
		}
	}
	if err := tx.User.UpdateOneID(id).AddGroupIDs(addIDs...).RemoveGroupIDs(removeIDs...).Exec(ctx); err != nil {
		return GroupsChange{}, fmt.Errorf("change groups: %w", err)
	}
	err = audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.UserGroupsChanged, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		Details: map[string]any{"added": nonNil(ch.Added), "removed": nonNil(ch.Removed)},
	})
	return ch, err
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
		return refused("admin.users.last_admin")
	}
	return nil
}

// guardLastAdmin refuses to take u away from the active admins (by
// deactivation or deletion) when u is the last of them.
func guardLastAdmin(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) error {
	if !u.IsActive || u.DeletedAt != nil {
		return nil
	}
	isAdmin, err := tx.User.Query().Where(user.ID(u.ID), user.HasGroupsWith(group.ID(adminGroup.ID))).Exist(ctx)
	if err != nil {
		return fmt.Errorf("read admin membership: %w", err)
	}
	if !isAdmin {
		return nil
	}
	return refuseLastAdmin(ctx, tx, adminGroup)
}

// guardLastBreakGlass refuses to take u away from the active break-glass
// admins (deactivation, deletion, leaving the admin group) while single
// sign-on is required and u is the last of them: if the provider failed,
// nobody could get in to fix it. The policy's lock (ssopolicy.Lock) makes
// it take turns with the break-glass and policy changes of
// Administration → Sign-in. Call it with the admin group locked.
func guardLastBreakGlass(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) error {
	if !u.IsActive || !u.BreakGlass || u.DeletedAt != nil {
		return nil
	}
	on, err := ssopolicy.Lock(ctx, tx)
	if err != nil || !on {
		return err
	}
	others, err := tx.User.Query().Where(user.IDNEQ(u.ID), user.IsActive(true), user.BreakGlass(true),
		user.HasGroupsWith(group.ID(adminGroup.ID))).Exist(ctx)
	if err != nil {
		return fmt.Errorf("count break-glass admins: %w", err)
	}
	isAdmin, err := tx.User.Query().Where(user.ID(u.ID), user.HasGroupsWith(group.ID(adminGroup.ID))).Exist(ctx)
	if err != nil {
		return fmt.Errorf("read admin membership: %w", err)
	}
	if isAdmin && !others {
		return refused("signin.break_glass.last_user_refused")
	}
	return nil
}

// GuardLastAdmin is guardLastAdmin and guardLastBreakGlass for workflows
// outside this package that take the admin group away (single sign-on's
// group mapping): it locks the admin group for the rest of tx and refuses
// (*app.Invalid) when u is the last active admin, or the last break-glass
// admin while single sign-on is required.
func GuardLastAdmin(ctx context.Context, tx *ent.Tx, u *ent.User) error {
	g, err := lockAdminGroup(ctx, tx)
	if err != nil {
		return err
	}
	if err := guardLastAdmin(ctx, tx, u, g); err != nil {
		return err
	}
	return guardLastBreakGlass(ctx, tx, u, g)
}

// change is the part of a user state change that differs: it runs in
// the transaction with the admin group locked and returns the audit
// action to record ("" when there was nothing to do) and its details.
type change func(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) (string, map[string]any, error)

// changeUser runs a change of user id: one transaction holding the change,
// the sessions it ends and its audit event. inTrash acts on a deleted user
// (restore). A refusal changes nothing.
func (s *Service) changeUser(ctx context.Context, id uuid.UUID, inTrash bool, apply change) error {
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		adminGroup, err := lockAdminGroup(ctx, tx)
		if err != nil {
			return err
		}
		q := tx.User.Query().Where(user.ID(id))
		uctx := ctx
		if inTrash {
			uctx = schema.SkipSoftDelete(ctx)
			q.Where(user.DeletedAtNotNil())
		}
		u, err := q.Only(uctx)
		if err != nil {
			return err
		}
		action, details, err := apply(ctx, tx, u, adminGroup)
		if err != nil || action == "" {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: action, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email, Details: details,
		})
	})
}

// Deactivate stops a user from signing in and ends their sessions at
// once. Nobody deactivates themselves, nor the last active admin.
func (s *Service) Deactivate(ctx context.Context, id uuid.UUID) error {
	v := auth.FromContext(ctx)
	return s.changeUser(ctx, id, false, func(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) (string, map[string]any, error) {
		if u.ID == v.UserID {
			return "", nil, refused("admin.users.not_yourself")
		}
		if !u.IsActive {
			return "", nil, nil
		}
		if err := guardLastAdmin(ctx, tx, u, adminGroup); err != nil {
			return "", nil, err
		}
		if err := guardLastBreakGlass(ctx, tx, u, adminGroup); err != nil {
			return "", nil, err
		}
		if err := tx.User.UpdateOneID(u.ID).SetIsActive(false).Exec(ctx); err != nil {
			return "", nil, fmt.Errorf("deactivate user: %w", err)
		}
		n, err := s.sessions.RevokeUser(ctx, tx, u.ID, uuid.Nil)
		if err != nil {
			return "", nil, err
		}
		tokens, err := s.revokeTokens(ctx, tx, u.ID)
		if err != nil {
			return "", nil, err
		}
		return audit.UserDeactivated, map[string]any{"sessions_ended": n, "api_tokens_revoked": tokens}, nil
	})
}

// revokeTokens revokes the user's API tokens: an account taken away keeps
// no way in, and bringing it back (reactivate, restore) does not bring
// its tokens back; new ones are made.
func (s *Service) revokeTokens(ctx context.Context, tx *ent.Tx, userID uuid.UUID) (int, error) {
	n, err := tx.APIToken.Update().Where(apitoken.UserID(userID), apitoken.RevokedAtIsNil()).
		SetRevokedAt(s.now()).Save(rule.SystemContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("revoke API tokens: %w", err)
	}
	return n, nil
}

// Reactivate lets a deactivated user sign in again.
func (s *Service) Reactivate(ctx context.Context, id uuid.UUID) error {
	return s.changeUser(ctx, id, false, func(ctx context.Context, tx *ent.Tx, u *ent.User, _ *ent.Group) (string, map[string]any, error) {
		if u.IsActive {
			return "", nil, nil
		}
		if err := tx.User.UpdateOneID(u.ID).SetIsActive(true).Exec(ctx); err != nil {
			return "", nil, fmt.Errorf("reactivate user: %w", err)
		}
		return audit.UserReactivated, nil, nil
	})
}

// Delete moves a user to the trash (soft delete) and ends their sessions.
// Nobody deletes themselves, nor the last active admin.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	v := auth.FromContext(ctx)
	return s.changeUser(ctx, id, false, func(ctx context.Context, tx *ent.Tx, u *ent.User, adminGroup *ent.Group) (string, map[string]any, error) {
		if u.ID == v.UserID {
			return "", nil, refused("admin.users.not_yourself")
		}
		if err := guardLastAdmin(ctx, tx, u, adminGroup); err != nil {
			return "", nil, err
		}
		if err := guardLastBreakGlass(ctx, tx, u, adminGroup); err != nil {
			return "", nil, err
		}
		if err := tx.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
			return "", nil, fmt.Errorf("delete user: %w", err)
		}
		n, err := s.sessions.RevokeUser(ctx, tx, u.ID, uuid.Nil)
		if err != nil {
			return "", nil, err
		}
		tokens, err := s.revokeTokens(ctx, tx, u.ID)
		if err != nil {
			return "", nil, err
		}
		return audit.UserDeleted, map[string]any{"sessions_ended": n, "api_tokens_revoked": tokens}, nil
	})
}

// Restore takes a user out of the trash, unless their email address or
// name now belongs to another account, or reads like it: restoring is
// bringing an account back as if it were new (identity.Check).
func (s *Service) Restore(ctx context.Context, id uuid.UUID) error {
	return s.changeUser(ctx, id, true, func(ctx context.Context, tx *ent.Tx, u *ent.User, _ *ent.Group) (string, map[string]any, error) {
		if err := identity.Lock(ctx, tx); err != nil {
			return "", nil, err
		}
		clash, err := identity.Check(ctx, tx.User, u.ID, u.Email, u.DisplayName)
		switch {
		case err != nil:
			return "", nil, err
		case clash.Email == identity.Same:
			return "", nil, refused("admin.users.email_taken")
		case clash.Email == identity.LookAlike:
			return "", nil, refused("identity.restore.email_look_alike")
		case clash.Name != identity.None:
			return "", nil, refused("identity.restore.name_look_alike")
		}
		if err := tx.User.UpdateOneID(u.ID).ClearDeletedAt().Exec(schema.SkipSoftDelete(ctx)); err != nil {
			return "", nil, fmt.Errorf("restore user: %w", err)
		}
		return audit.UserRestored, nil, nil
	})
}

// RemoveTOTP is an administrator's recovery for someone who lost their
// authenticator app and their recovery codes: both are deleted and the
// user's sessions end (they sign in again with their password, and enrol
// again where a group requires it). Audited factor.totp_removed with the
// administrator as actor. Nobody removes their own this way (the security
// page asks a code); a user without an app is left as is.
func (s *Service) RemoveTOTP(ctx context.Context, id uuid.UUID) error {
	v := auth.FromContext(ctx)
	return s.changeUser(ctx, id, false, func(ctx context.Context, tx *ent.Tx, u *ent.User, _ *ent.Group) (string, map[string]any, error) {
		if u.ID == v.UserID {
			return "", nil, refused("factors.admin.not_yourself")
		}
		has, err := tx.UserTOTP.Query().Where(usertotp.UserID(u.ID)).Exist(rule.SystemContext(ctx))
		if err != nil || !has {
			return "", nil, err
		}
		if err := factor.Remove(ctx, tx, u.ID); err != nil {
			return "", nil, err
		}
		n, err := s.sessions.RevokeUser(ctx, tx, u.ID, uuid.Nil)
		if err != nil {
			return "", nil, err
		}
		return audit.FactorTOTPRemoved, map[string]any{"by": "admin", "sessions_ended": n}, nil
	})
}

// EndSessions signs a user out everywhere.
func (s *Service) EndSessions(ctx context.Context, id uuid.UUID) error {
	return s.changeUser(ctx, id, false, func(ctx context.Context, tx *ent.Tx, u *ent.User, _ *ent.Group) (string, map[string]any, error) {
		n, err := s.sessions.RevokeUser(ctx, tx, u.ID, uuid.Nil)
		if err != nil {
			return "", nil, err
		}
		return audit.UserSessionsEnded, map[string]any{"sessions_ended": n}, nil
	})
}
