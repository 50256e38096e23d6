package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/account"
	"violet/internal/admission"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/sso"
	accountview "violet/views/account"
	authview "violet/views/auth"
)

// linkIdentity re-authenticates the viewer (account.Service.StartLink)
// and sends them to the chosen provider's sign-in, whose callback links
// the identity it vouches for to their account.
func (s *Server) linkIdentity(c echo.Context) error {
	ctx := c.Request().Context()
	opt, err := s.myAccount().StartLink(ctx, reauthOf(c, accountview.PrefixLink), c.FormValue(accountview.PrefixLink+"provider"))
	if errs, ok := invalidErrors(err); ok {
		return s.renderSecurity(c, refusedStatus(c, err), func(p *accountview.Security) { p.Link.Errors = errs })
	} else if err != nil {
		return err
	}
	var linker interface {
		StartLink(context.Context, uuid.UUID, string) (string, *http.Cookie, error)
	}
	if opt.Kind == "saml" {
		linker, err = s.samlFlow(ctx, opt.Key)
	} else {
		linker, err = s.ssoFlow(ctx, opt.Key)
	}
	if err != nil {
		return s.ssoProblem(c, err)
	}
	to, cookie, err := linker.StartLink(ctx, auth.FromContext(ctx).UserID, paths.AccountSecurity)
	if err != nil {
		return s.ssoProblem(c, err)
	}
	c.SetCookie(cookie)
	return c.Redirect(http.StatusSeeOther, to)
}

// unlinkIdentity removes one of the viewer's identities after
// re-authentication; a refusal comes back next to its form.
func (s *Server) unlinkIdentity(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	err = s.myAccount().Unlink(c.Request().Context(), reauthOf(c, accountview.IdentityPrefix(id.String())), id)
	if errs, ok := invalidErrors(err); ok {
		return s.renderSecurity(c, refusedStatus(c, err), func(p *accountview.Security) {
			p.IdentityErrors, p.IdentityFailed = errs, id.String()
		})
	} else if err != nil {
		return err
	}
	s.flash(c, "success", "identities.unlinked")
	return c.Redirect(http.StatusSeeOther, paths.AccountSecurity)
}

// linkCodec seals the identity waiting for an account's password.
func (s *Server) linkCodec() (*admission.PendingCodec, error) {
	return admission.NewPendingCodec(s.Config.SessionKey, s.Config.Secure())
}

// showLink asks the password of the account with the e-mail of the
// identity waiting in the browser; without one, the sign-in page.
func (s *Server) showLink(c echo.Context) error {
	codec, err := s.linkCodec()
	if err != nil {
		return err
	}
	p, ok := codec.Read(c.Request(), s.Now())
	if !ok {
		return c.Redirect(http.StatusSeeOther, paths.Login)
	}
	return s.render(c, http.StatusOK, authview.LinkPage(s.layoutProps(c, "identities.pending.title", ""),
		authview.LinkForm{Email: p.Email}), nil)
}

// link checks the password (account.Service.SignInLinking), links the
// identity and signs in as the provider's sign-in would have.
func (s *Server) link(c echo.Context) error {
	ctx := c.Request().Context()
	codec, err := s.linkCodec()
	if err != nil {
		return err
	}
	p, ok := codec.Read(c.Request(), s.Now())
	if !ok {
		http.SetCookie(c.Response(), codec.Clear())
		s.flash(c, "error", "identities.pending.expired")
		return c.Redirect(http.StatusSeeOther, paths.Login)
	}
	in := account.LinkInput{Pending: p, Password: c.FormValue("password")}
	if old := auth.Record(sessionFrom(ctx)); old != nil {
		in.Replace = old.ID
	}
	done, err := s.myAccount().SignInLinking(ctx, in)
	if errs, ok := invalidErrors(err); ok {
		return s.render(c, refusedStatus(c, err), authview.LinkPage(s.layoutProps(c, "identities.pending.title", ""),
			authview.LinkForm{Email: p.Email, Errors: errs}), nil)
	}
	http.SetCookie(c.Response(), codec.Clear())
	if err != nil {
		return s.ssoProblem(c, err)
	}
	if done.Pending != nil {
		// The account's second step comes first; the link waits for it
		// in the cookie, now naming the account whose password was right.
		p.Verified = done.Pending.UserID
		ck, err := codec.Cookie(p)
		if err != nil {
			return err
		}
		http.SetCookie(c.Response(), ck)
	}
	return s.ssoSignedIn(c, sso.Done{SignedIn: done, Next: p.Next})
}

// completeLink links the identity waiting for the second step that just
// opened session (account.Service.CompleteLink), when there is one; the
// sign-in stands whatever becomes of the link, which a flash reports.
func (s *Server) completeLink(c echo.Context, session *auth.SessionRecord) error {
	codec, err := s.linkCodec()
	if err != nil {
		return err
	}
	p, ok := codec.Read(c.Request(), s.Now())
	if !ok || p.Verified == uuid.Nil {
		return nil
	}
	http.SetCookie(c.Response(), codec.Clear())
	err = s.myAccount().CompleteLink(c.Request().Context(), p, session)
	var ref *admission.Refusal
	switch {
	case err == nil:
		s.flash(c, "success", "identities.linked")
	case errors.As(err, &ref):
		s.flash(c, "error", ref.Key)
	case !errors.Is(err, app.ErrForbidden):
		return err
	}
	return nil
}
