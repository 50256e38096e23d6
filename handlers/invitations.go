package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/invitation"
	"violet/ent/privacy"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/identity"
	"violet/internal/invite"
	"violet/views/admin"
	authview "violet/views/auth"
	"violet/views/components"
)

// invitationsPageSize is how many invitations the list shows per page.
const invitationsPageSize = 50

// invitationFilter is the list's query string.
type invitationFilter struct {
	Status string `query:"status"`
	Page   int    `query:"page"`
}

// invitationForm is what the create form may set. The groups are checked
// against what the viewer may grant; nothing else is taken from the form.
type invitationForm struct {
	EmailHint   string   `form:"email_hint"`
	GroupIDs    []string `form:"group_ids"`
	ExpiryHours string   `form:"expiry_hours"`
}

// acceptForm is what the acceptance page may set.
type acceptForm struct {
	Email           string `form:"email"`
	DisplayName     string `form:"display_name"`
	Password        string `form:"password"`
	PasswordConfirm string `form:"password_confirm"`
	Locale          string `form:"locale"`
}

// listInvitations shows the invitations, newest first, filtered by status,
// with the form that creates one.
func (s *Server) listInvitations(c echo.Context) error {
	var f invitationFilter
	// A malformed page number is page 1, not an error.
	_ = (&echo.DefaultBinder{}).BindQueryParams(c, &f)
	expiry, err := invite.DefaultExpiryOf(c.Request().Context(), s.Ent)
	if err != nil {
		return err
	}
	form := admin.InvitationForm{ExpiryHours: strconv.Itoa(int(expiry / time.Hour))}
	return s.renderInvitations(c, http.StatusOK, f, form)
}

// renderInvitations renders the list page with the create form as given.
func (s *Server) renderInvitations(c echo.Context, status int, f invitationFilter, form admin.InvitationForm) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	now := s.Now()
	if !slices.Contains(admin.InvitationStatuses(), f.Status) {
		f.Status = "all"
	}
	counts := map[string]int{}
	for _, st := range invite.Statuses() {
		n, err := s.Ent.Invitation.Query().Where(invite.Where(st, now)).Count(ctx)
		if err != nil {
			return err
		}
		counts[string(st)] = n
		counts["all"] += n
	}
	pages := max(1, (counts[f.Status]+invitationsPageSize-1)/invitationsPageSize)
	f.Page = min(max(f.Page, 1), pages)
	q := s.Ent.Invitation.Query()
	if f.Status != "all" {
		q.Where(invite.Where(invite.Status(f.Status), now))
	}
	invs, err := q.Order(ent.Desc(invitation.FieldCreatedAt), ent.Desc(invitation.FieldID)).
		Offset((f.Page - 1) * invitationsPageSize).Limit(invitationsPageSize).
		WithGroups(func(q *ent.GroupQuery) { q.Order(ent.Asc(group.FieldName)) }).
		WithCreatedBy().WithConsumedBy().WithResetUser().
		All(ctx)
	if err != nil {
		return err
	}
	grantable, err := invite.GrantableGroups(ctx, s.Ent, invite.GrantorOf(v))
	if err != nil {
		return err
	}
	page := admin.InvitationsPage{
		Tabs: adminTabs(v, "/admin/invitations"), Status: f.Status, Counts: counts,
		Page: f.Page, Pages: pages, Form: form,
	}
	for _, inv := range invs {
		page.Rows = append(page.Rows, s.invitationRow(c, inv, now))
	}
	for _, g := range grantable {
		page.Groups = append(page.Groups, admin.InvitationGroup{ID: g.ID.String(), Name: g.Name, Description: g.Description})
	}
	lp := s.layoutProps(c, "admin.invitations.title", "nav.admin")
	return s.render(c, status, admin.InvitationsListPage(lp, page), nil)
}

// invitationRow is the list's view of an invitation loaded with its
// groups, inviter, user and reset account.
func (s *Server) invitationRow(c echo.Context, inv *ent.Invitation, now time.Time) admin.InvitationRow {
	r := admin.InvitationRow{
		ID: inv.ID.String(), For: inv.EmailHint, Status: string(invite.StatusOf(inv, now)),
		ExpiresAt: inv.ExpiresAt, CreatedAt: inv.CreatedAt,
	}
	for _, g := range inv.Edges.Groups {
		r.Groups = append(r.Groups, g.Name)
	}
	deleted := i18n.T(c.Request().Context(), "admin.invitations.deleted_account")
	switch {
	case inv.Edges.CreatedBy != nil:
		r.Inviter = inv.Edges.CreatedBy.DisplayName + " <" + inv.Edges.CreatedBy.Email + ">"
	case inv.CreatedByID != nil:
		r.Inviter = deleted
	}
	if inv.ResetUserID != nil {
		r.Reset, r.For = true, deleted
		if u := inv.Edges.ResetUser; u != nil {
			r.For = u.Email
		}
	}
	if u := inv.Edges.ConsumedBy; u != nil && inv.ResetUserID == nil {
		r.UsedBy = u.Email
	}
	return r
}

// createInvitation creates an invitation and shows its link, once: only
// its hash is kept, so the answer is the page itself rather than a
// redirect to something that could show it again.
func (s *Server) createInvitation(c echo.Context) error {
	var f invitationForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	view := admin.InvitationForm{EmailHint: f.EmailHint, ExpiryHours: f.ExpiryHours,
		GroupIDs: map[string]bool{}, Errors: components.Errors{}}
	email := ""
	if strings.TrimSpace(f.EmailHint) != "" {
		var err error
		if email, err = identity.Email(f.EmailHint); err != nil {
			view.Errors["email_hint"] = emailErrorKey(err)
		}
	}
	hours, err := strconv.Atoi(strings.TrimSpace(f.ExpiryHours))
	switch {
	case strings.TrimSpace(f.ExpiryHours) == "":
		view.Errors["expiry_hours"] = "form.required"
	case err != nil || hours < 1:
		view.Errors["expiry_hours"] = "admin.invitations.expiry_invalid"
	case time.Duration(hours)*time.Hour > invite.MaxExpiry:
		view.Errors["expiry_hours"] = "admin.invitations.expiry_too_long"
	}
	var ids []uuid.UUID
	for _, raw := range f.GroupIDs {
		view.GroupIDs[raw] = true
		id, err := uuid.Parse(raw)
		if err != nil {
			view.Errors["group_ids"] = "admin.invitations.group_unknown"
			continue
		}
		ids = append(ids, id)
	}
	if len(view.Errors) > 0 {
		return s.renderInvitations(c, http.StatusUnprocessableEntity, invitationFilter{}, view)
	}
	inv, token, err := invite.Create(ctx, s.Ent, s.Now(), invite.Params{
		Inviter: v, EmailHint: email, GroupIDs: ids, Expiry: time.Duration(hours) * time.Hour,
	})
	switch {
	case errors.Is(err, invite.ErrNotGrantable), errors.Is(err, privacy.Deny):
		return echo.ErrForbidden
	case errors.Is(err, invite.ErrUnknownGroup):
		view.Errors["group_ids"] = "admin.invitations.group_unknown"
	case errors.Is(err, invite.ErrEmailTaken):
		view.Errors["email_hint"] = "admin.invitations.email_taken"
	case errors.As(err, new(invite.ClashError)):
		view.Errors["email_hint"] = "identity.email.look_alike"
	case errors.Is(err, invite.ErrExpiry):
		view.Errors["expiry_hours"] = "admin.invitations.expiry_too_long"
	case err != nil:
		return err
	}
	if len(view.Errors) > 0 {
		return s.renderInvitations(c, http.StatusUnprocessableEntity, invitationFilter{}, view)
	}
	link := admin.InvitationLink{
		Tabs: adminTabs(v, "/admin/invitations"), URL: invite.URL(s.Config.BaseURL, token),
		For: email, ExpiresAt: inv.ExpiresAt, BackHref: "/admin/invitations",
	}
	for _, g := range inv.Edges.Groups {
		link.Groups = append(link.Groups, g.Name)
	}
	lp := s.layoutProps(c, "admin.invitations.created_title", "nav.admin")
	return s.render(c, http.StatusOK, admin.InvitationLinkPage(lp, link), nil)
}

// revokeInvitation ends a pending invitation. htmx gets the row back to
// swap in place; a plain form post is redirected to the list.
func (s *Server) revokeInvitation(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	inv, changed, err := invite.Revoke(c.Request().Context(), s.Ent, id, s.Now())
	if err != nil {
		return err
	}
	if !isPartial(c.Request()) {
		if changed {
			s.flash(c, "success", "admin.invitations.revoked")
		}
		return c.Redirect(http.StatusSeeOther, "/admin/invitations")
	}
	row := admin.InvitationRowView(s.invitationRow(c, inv, s.Now()))
	return s.render(c, http.StatusOK, row, row)
}

// createResetInvitation makes a password reset link for a user and shows
// it once. Only an inviter who could grant all of the user's groups may
// make one: using it is signing in as that user.
func (s *Server) createResetInvitation(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	inv, token, err := invite.Create(ctx, s.Ent, s.Now(), invite.Params{Inviter: v, ResetUserID: id})
	switch {
	case errors.Is(err, invite.ErrNotGrantable), errors.Is(err, privacy.Deny):
		return echo.ErrForbidden
	case errors.Is(err, invite.ErrInactiveUser):
		s.flash(c, "error", "admin.invitations.reset_inactive")
		return c.Redirect(http.StatusSeeOther, "/admin/users/"+id.String())
	case err != nil:
		return err
	}
	u, err := s.Ent.User.Get(ctx, id)
	if err != nil {
		return err
	}
	link := admin.InvitationLink{
		Tabs: adminTabs(v, "/admin/users"), URL: invite.URL(s.Config.BaseURL, token), Reset: true,
		For: u.Email, ExpiresAt: inv.ExpiresAt, BackHref: "/admin/users/" + id.String(),
	}
	lp := s.layoutProps(c, "admin.invitations.reset_created_title", "nav.admin")
	return s.render(c, http.StatusOK, admin.InvitationLinkPage(lp, link), nil)
}

// showInvitation is the acceptance page of a valid link, and the one
// generic 410 page for any other.
func (s *Server) showInvitation(c echo.Context) error {
	ctx := c.Request().Context()
	open, err := invite.Lookup(rule.SystemContext(ctx), s.Ent, c.Param("token"), s.Now())
	if errors.Is(err, invite.ErrInvalid) {
		return s.invitationInvalid(c)
	}
	if err != nil {
		return err
	}
	return s.renderAccept(c, http.StatusOK, authview.AcceptForm{
		EmailHint: open.EmailHint, ResetEmail: open.ResetEmail, Locale: i18n.Lang(ctx),
	})
}

func (s *Server) renderAccept(c echo.Context, status int, f authview.AcceptForm) error {
	title := "invitations.accept.title"
	if f.Reset() {
		title = "invitations.accept.reset_title"
	}
	return s.render(c, status, authview.AcceptPage(s.layoutProps(c, title, ""), f), nil)
}

// invitationInvalid answers for a link that is unknown, expired, used or
// revoked, always the same way, so that a link tells nothing about itself.
func (s *Server) invitationInvalid(c echo.Context) error {
	lp := s.layoutProps(c, "invitations.invalid.title", "")
	return s.render(c, http.StatusGone, authview.InvitationInvalidPage(lp), nil)
}

// acceptInvitation creates the invited account (or sets the new password
// of a reset) and signs the invitee in, in one transaction that uses the
// invitation up. Nobody is signed in as whom it acts yet, so it runs as
// the system; the invitation's own rules decide.
func (s *Server) acceptInvitation(c echo.Context) error {
	var f acceptForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	sys := rule.SystemContext(ctx)
	token := c.Param("token")
	open, err := invite.Lookup(sys, s.Ent, token, s.Now())
	if errors.Is(err, invite.ErrInvalid) {
		return s.invitationInvalid(c)
	}
	if err != nil {
		return err
	}
	view := authview.AcceptForm{
		EmailHint: open.EmailHint, ResetEmail: open.ResetEmail,
		Email: f.Email, DisplayName: f.DisplayName, Locale: f.Locale, Errors: components.Errors{},
	}
	if len(f.Password) > auth.MaxPasswordBytes || len(f.PasswordConfirm) > auth.MaxPasswordBytes {
		view.Errors["password"] = "invitations.accept.password_too_long"
		return s.renderAccept(c, http.StatusBadRequest, view)
	}
	reset := open.ResetEmail != ""
	email := open.ResetEmail
	name := ""
	if !reset {
		var err error
		if open.EmailHint != "" {
			// A hint made before addresses were normalised as they are
			// now may not make an account; the invitee cannot change it.
			if email, err = identity.Email(open.EmailHint); err != nil {
				view.Errors[""] = "identity.email.hint_unusable"
			}
		} else if email, err = identity.Email(f.Email); err != nil {
			view.Errors["email"] = emailErrorKey(err)
		}
		if name, err = identity.DisplayName(f.DisplayName); err != nil {
			view.Errors["display_name"] = nameErrorKey(err)
		}
		if !slices.Contains(i18n.Supported(), f.Locale) {
			view.Errors["locale"] = "invitations.accept.locale_invalid"
		}
	}
	switch err := auth.CheckPassword(f.Password, email); {
	case f.Password == "":
		view.Errors["password"] = "form.required"
	case errors.Is(err, auth.ErrPasswordTooShort):
		view.Errors["password"] = "invitations.accept.password_too_short"
	case errors.Is(err, auth.ErrPasswordIsEmail):
		view.Errors["password"] = "invitations.accept.password_is_email"
	case err != nil:
		view.Errors["password"] = "invitations.accept.password_too_long"
	}
	if !view.Errors.Has("password") && f.PasswordConfirm != f.Password {
		view.Errors["password_confirm"] = "invitations.accept.password_mismatch"
	}
	if len(view.Errors) > 0 {
		return s.renderAccept(c, http.StatusUnprocessableEntity, view)
	}

	hash, err := s.Hasher.Hash(ctx, f.Password)
	if errors.Is(err, auth.ErrHasherBusy) {
		c.Response().Header().Set("Retry-After", "1")
		view.Errors[""] = "invitations.accept.busy"
		return s.renderAccept(c, http.StatusServiceUnavailable, view)
	}
	if err != nil {
		return err
	}
	a := invite.Acceptance{Email: email, DisplayName: name, Locale: f.Locale, PasswordHash: hash}
	if rec := auth.Record(sessionFrom(ctx)); rec != nil {
		a.PreviousSession = rec.ID
	}
	res, err := invite.Accept(sys, s.Ent, s.Sessions, s.Now(), token, a)
	var clash invite.ClashError
	switch {
	case errors.Is(err, invite.ErrInvalid):
		return s.invitationInvalid(c)
	case errors.Is(err, invite.ErrNotGrantable):
		lp := s.layoutProps(c, "invitations.refused.title", "")
		return s.render(c, http.StatusForbidden, authview.InvitationRefusedPage(lp), nil)
	case errors.Is(err, invite.ErrEmailUnusable):
		view.Errors[""] = "identity.email.hint_unusable"
		return s.renderAccept(c, http.StatusUnprocessableEntity, view)
	case errors.As(err, &clash), errors.Is(err, invite.ErrEmailTaken):
		// Every field that clashes says so, the input kept. A bare
		// ErrEmailTaken is an address taken by a transaction that ended
		// a moment ago.
		if clash == (invite.ClashError{}) {
			clash.Clash.Email = identity.Same
		}
		hint := open.EmailHint != "" // the invitee cannot change the address
		switch {
		case clash.Clash.Email == identity.Same && hint:
			view.Errors[""] = "invitations.accept.email_taken_hint"
		case clash.Clash.Email == identity.Same:
			view.Errors["email"] = "invitations.accept.email_taken"
		case clash.Clash.Email == identity.LookAlike && hint:
			view.Errors[""] = "identity.email.look_alike_hint"
		case clash.Clash.Email == identity.LookAlike:
			view.Errors["email"] = "identity.email.look_alike"
		}
		if clash.Clash.Name != identity.None {
			view.Errors["display_name"] = "identity.name.look_alike"
		}
		return s.renderAccept(c, http.StatusUnprocessableEntity, view)
	case err != nil:
		return err
	}
	s.Sessions.SetCookie(c.Response(), res.Token, res.Session.ExpiresAt)
	if res.Reset {
		s.flash(c, "success", "invitations.accept.password_set")
	} else {
		s.flash(c, "success", "invitations.accept.welcome")
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

// emailErrorKey is the message of an address identity.Email refused.
func emailErrorKey(err error) string {
	switch {
	case errors.Is(err, identity.ErrEmpty):
		return "form.required"
	case errors.Is(err, identity.ErrTooLong):
		return "identity.email.too_long"
	case errors.Is(err, identity.ErrInvisible):
		return "identity.email.invisible"
	case errors.Is(err, identity.ErrCharacter):
		return "identity.email.character"
	default:
		return "identity.email.invalid"
	}
}

// nameErrorKey is the message of a display name identity.DisplayName
// refused.
func nameErrorKey(err error) string {
	switch {
	case errors.Is(err, identity.ErrEmpty):
		return "form.required"
	case errors.Is(err, identity.ErrTooLong):
		return "identity.name.too_long"
	case errors.Is(err, identity.ErrInvisible):
		return "identity.name.invisible"
	default:
		return "identity.name.character"
	}
}
