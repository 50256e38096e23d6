package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/invite"
	"violet/internal/paths"
	"violet/views/admin"
	authview "violet/views/auth"
)

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
	TimeZone        string `form:"tz"` // the browser's, filled by static/js/app.js
}

// listInvitations shows the invitations, newest first, filtered by status,
// with the form that creates one.
func (s *Server) listInvitations(c echo.Context) error {
	var f invitationFilter
	// A malformed page number is page 1, not an error.
	_ = (&echo.DefaultBinder{}).BindQueryParams(c, &f)
	form, err := invite.NewForm(c.Request().Context(), s.Ent)
	if err != nil {
		return err
	}
	return s.renderInvitations(c, http.StatusOK, f, form)
}

// renderInvitations renders the list page with the create form as given.
func (s *Server) renderInvitations(c echo.Context, status int, f invitationFilter, form admin.InvitationForm) error {
	ctx := c.Request().Context()
	page, err := invite.List(ctx, s.Ent, s.Now(), invite.ListQuery{Status: f.Status, Page: f.Page}, form)
	if err != nil {
		return err
	}
	page.Tabs = adminTabs(auth.FromContext(ctx), paths.Invitations)
	lp := s.layoutProps(c, "admin.invitations.title", "nav.admin")
	return s.render(c, status, admin.InvitationsListPage(lp, page), nil)
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
	r := invite.Request(f)
	inv, token, err := invite.Invite(ctx, s.Ent, s.Now(), r)
	if errs, ok := invalidErrors(err); ok {
		view := r.Form()
		view.Errors = errs
		return s.renderInvitations(c, http.StatusUnprocessableEntity, invitationFilter{}, view)
	}
	if err != nil {
		return err
	}
	link := admin.InvitationLink{
		Tabs: adminTabs(auth.FromContext(ctx), paths.Invitations), URL: invite.URL(s.Config.BaseURL, token),
		For: inv.EmailHint, ExpiresAt: inv.ExpiresAt, BackHref: paths.Invitations,
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
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	inv, changed, err := invite.Revoke(ctx, s.Ent, id, s.Now())
	if err != nil {
		return err
	}
	if !isPartial(c.Request()) {
		if changed {
			s.flash(c, "success", "admin.invitations.revoked")
		}
		return c.Redirect(http.StatusSeeOther, paths.Invitations)
	}
	row := admin.InvitationRowView(invite.Row(ctx, inv, s.Now()))
	return s.render(c, http.StatusOK, row, row)
}

// createResetInvitation makes a password reset link for a user and shows
// it once (invite.Reset).
func (s *Server) createResetInvitation(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	inv, token, err := invite.Reset(ctx, s.Ent, s.Now(), id)
	if errors.Is(err, invite.ErrInactiveUser) {
		s.flash(c, "error", "admin.invitations.reset_inactive")
		return c.Redirect(http.StatusSeeOther, paths.URL(paths.User, id))
	}
	if err != nil {
		return err
	}
	link := admin.InvitationLink{
		Tabs: adminTabs(auth.FromContext(ctx), paths.Users), URL: invite.URL(s.Config.BaseURL, token), Reset: true,
		For: inv.Edges.ResetUser.Email, ExpiresAt: inv.ExpiresAt, BackHref: paths.URL(paths.User, id),
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
// of a reset) and signs the invitee in (invite.Accepter.Submit, which uses
// the invitation up in one transaction). A refused answer comes back with
// the input kept.
func (s *Server) acceptInvitation(c echo.Context) error {
	var f acceptForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	token := c.Param("token")
	open, err := invite.Lookup(rule.SystemContext(ctx), s.Ent, token, s.Now())
	if errors.Is(err, invite.ErrInvalid) {
		return s.invitationInvalid(c)
	}
	if err != nil {
		return err
	}
	ans := invite.Answer{Email: f.Email, DisplayName: f.DisplayName, Password: f.Password,
		PasswordConfirm: f.PasswordConfirm, Locale: f.Locale, TimeZone: f.TimeZone}
	if rec := auth.Record(sessionFrom(ctx)); rec != nil {
		ans.PreviousSession = rec.ID
	}
	accepter := invite.Accepter{Client: s.Ent, Sessions: s.Sessions, Hasher: s.Hasher, Now: s.Now}
	res, err := accepter.Submit(ctx, token, open, ans)
	if errs, ok := invalidErrors(err); ok {
		status := http.StatusUnprocessableEntity
		switch {
		case errors.Is(err, invite.ErrPasswordTooLong):
			status = http.StatusBadRequest
		case errors.Is(err, auth.ErrHasherBusy):
			c.Response().Header().Set("Retry-After", "1")
			status = http.StatusServiceUnavailable
		}
		return s.renderAccept(c, status, authview.AcceptForm{
			EmailHint: open.EmailHint, ResetEmail: open.ResetEmail,
			Email: f.Email, DisplayName: f.DisplayName, Locale: f.Locale, Errors: errs,
		})
	}
	switch {
	case errors.Is(err, invite.ErrInvalid):
		return s.invitationInvalid(c)
	case errors.Is(err, invite.ErrNotGrantable):
		lp := s.layoutProps(c, "invitations.refused.title", "")
		return s.render(c, http.StatusForbidden, authview.InvitationRefusedPage(lp), nil)
	case err != nil:
		return err
	}
	if res.SSORequired { // the password is set; single sign-on opens the session
		s.flash(c, "success", "invitations.accept.sso_ready")
		return c.Redirect(http.StatusSeeOther, paths.Login)
	}
	if res.Session == nil { // an authenticator app: the password, then a code
		s.flash(c, "success", "factors.reset.sign_in")
		return c.Redirect(http.StatusSeeOther, paths.Login)
	}
	s.Sessions.SetCookie(c.Response(), res.Token, res.Session.ExpiresAt)
	if res.Reset {
		s.flash(c, "success", "invitations.accept.password_set")
	} else {
		s.flash(c, "success", "invitations.accept.welcome")
	}
	return c.Redirect(http.StatusSeeOther, paths.Home)
}
