package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/account"
	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/people"
	accountview "violet/views/account"
	authview "violet/views/auth"
)

// showSecondFactor asks for the code of a pending sign-in (the cookie of
// auth.PendingCodec); without a live one, the password comes first.
func (s *Server) showSecondFactor(c echo.Context) error {
	if p, ok := auth.NewPendingCodec(s.Config.SessionKey, s.Config.Secure()).Read(c.Request()); !ok || p.Expired(s.Now()) {
		return c.Redirect(http.StatusSeeOther, paths.Login)
	}
	return s.render(c, http.StatusOK, authview.SecondFactorPage(s.layoutProps(c, "factors.signin.title", ""),
		authview.SecondFactorForm{Next: safeNext(c.QueryParam("next"))}), nil)
}

// secondFactor completes a pending sign-in (account.Service.SignInSecondFactor);
// one completed with a recovery code goes to the security page, which
// says how many are left.
func (s *Server) secondFactor(c echo.Context) error {
	ctx, codec := c.Request().Context(), auth.NewPendingCodec(s.Config.SessionKey, s.Config.Secure())
	in := account.SecondFactorInput{Code: c.FormValue("code"), TimeZone: c.FormValue("tz")}
	if old := auth.Record(sessionFrom(ctx)); old != nil {
		in.Replace = old.ID
	}
	p, ok := codec.Read(c.Request())
	in.Pending = p
	signed, err := s.myAccount().SignInSecondFactor(ctx, in)
	if !ok || errors.Is(err, account.ErrPendingExpired) {
		http.SetCookie(c.Response(), codec.Clear())
		s.flash(c, "error", "factors.signin.expired")
		return c.Redirect(http.StatusSeeOther, paths.Login)
	}
	f := authview.SecondFactorForm{Next: safeNext(c.FormValue("next"))}
	if f.Errors, ok = invalidErrors(err); ok {
		return s.render(c, refusedStatus(c, err), authview.SecondFactorPage(s.layoutProps(c, "factors.signin.title", ""), f), nil)
	} else if err != nil {
		return err
	}
	http.SetCookie(c.Response(), codec.Clear())
	s.Sessions.SetCookie(c.Response(), signed.Token, signed.Session.ExpiresAt)
	if err := s.completeLink(c, signed.Session); err != nil {
		return err
	}
	if signed.RecoveryUsed {
		s.flash(c, "error", "factors.signin.recovery_used")
		f.Next = paths.AccountSecurity
	}
	return c.Redirect(http.StatusSeeOther, f.Next)
}

// showSecurity renders the security page; renderSecurity with status,
// change setting a form's errors.
func (s *Server) showSecurity(c echo.Context) error {
	return s.renderSecurity(c, http.StatusOK, func(*accountview.Security) {})
}

func (s *Server) renderSecurity(c echo.Context, status int, change func(*accountview.Security)) error {
	p, err := s.myAccount().Security(c.Request().Context(), auth.Record(sessionFrom(c.Request().Context())))
	if err != nil {
		return err
	}
	change(&p)
	return s.render(c, status, accountview.SecurityPage(s.layoutProps(c, "factors.title", ""), p), nil)
}

// startEnrolment re-authenticates and shows the new app's QR code;
// confirmEnrolment stores it once a first code matches and shows the
// recovery codes, once. Neither page is cached: they hold secrets.
func (s *Server) startEnrolment(c echo.Context) error {
	e, err := s.myAccount().StartEnrolment(c.Request().Context(), reauthOf(c, accountview.PrefixStart))
	if errs, ok := invalidErrors(err); ok {
		return s.renderSecurity(c, refusedStatus(c, err), func(p *accountview.Security) { p.Start.Errors = errs })
	} else if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return s.render(c, http.StatusOK, accountview.EnrolPage(s.layoutProps(c, "factors.enrol.title", ""), e), nil)
}

func (s *Server) confirmEnrolment(c echo.Context) error {
	ctx := c.Request().Context()
	codes, e, err := s.myAccount().ConfirmEnrolment(ctx, c.FormValue("token"), c.FormValue("code"), currentSession(ctx))
	errs, ok := invalidErrors(err)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	switch {
	case ok && e.Token != "":
		e.Errors = errs
		return s.render(c, http.StatusUnprocessableEntity, accountview.EnrolPage(s.layoutProps(c, "factors.enrol.title", ""), e), nil)
	case ok:
		return s.renderSecurity(c, http.StatusUnprocessableEntity, func(p *accountview.Security) { p.Start.Errors = errs })
	case err != nil:
		return err
	}
	return s.render(c, http.StatusOK, accountview.RecoveryCodesPage(s.layoutProps(c, "factors.recovery.title", ""),
		accountview.RecoveryCodes{Codes: codes, Enrolled: true}), nil)
}

func reauthOf(c echo.Context, prefix string) account.Reauth {
	return account.Reauth{Password: c.FormValue(prefix + "password"), Code: c.FormValue(prefix + "code"),
		Session: auth.Record(sessionFrom(c.Request().Context()))}
}

// factorChange is a re-authenticated change of the security page, its
// form's fields named with prefix (removing the app, new recovery codes):
// new codes are shown once; else the page comes back with a flash.
func (s *Server) factorChange(prefix string, change func(*account.Service, context.Context, account.Reauth) ([]string, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		codes, err := change(s.myAccount(), c.Request().Context(), reauthOf(c, prefix))
		if errs, ok := invalidErrors(err); ok {
			return s.renderSecurity(c, refusedStatus(c, err), func(p *accountview.Security) { p.Form(prefix).Errors = errs })
		} else if err != nil {
			return err
		}
		if codes == nil {
			s.flash(c, "success", "factors.remove.done")
			return c.Redirect(http.StatusSeeOther, paths.AccountSecurity)
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return s.render(c, http.StatusOK, accountview.RecoveryCodesPage(s.layoutProps(c, "factors.recovery.title", ""), accountview.RecoveryCodes{Codes: codes}), nil)
	}
}

// removeUserTOTP is an administrator's recovery for someone who lost
// their app and recovery codes (people.Service.RemoveTOTP).
func (s *Server) removeUserTOTP(c echo.Context) error {
	return s.changeUser(c, "factors.admin.removed", (*people.Service).RemoveTOTP)
}
