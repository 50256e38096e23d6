package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/account"
	"violet/internal/auth"
	"violet/internal/paths"
	authview "violet/views/auth"
)

// loginForm is what the sign-in form may set; anything else is ignored.
type loginForm struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
	TimeZone string `form:"tz"` // the browser's, filled by static/js/app.js
}

// showLogin renders the sign-in page; a signed-in viewer goes on.
func (s *Server) showLogin(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if auth.FromContext(c.Request().Context()) != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return s.renderLogin(c, http.StatusOK, authview.LoginForm{Next: next})
}

func (s *Server) renderLogin(c echo.Context, status int, f authview.LoginForm) error {
	buttons, err := s.SignIn.Buttons(c.Request().Context(), f.Next)
	if err != nil {
		// The page needs no database: without it, the password form (and
		// the environment's provider) still show.
		s.Log.WarnContext(c.Request().Context(), "sign-in page: the providers set up by admins cannot be read", "err", err)
	}
	f.SSO = buttons
	return s.render(c, status, authview.LoginPage(s.layoutProps(c, "auth.login.title", ""), f), nil)
}

// login signs in with an email and password (account.Service.SignIn): a
// success sets the new session's cookie and goes on; a refusal shows the
// form again, the email kept, with the status the refusal calls for.
func (s *Server) login(c echo.Context) error {
	var f loginForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	in := account.SignInInput{Email: f.Email, Password: f.Password, TimeZone: f.TimeZone}
	if old := auth.Record(sessionFrom(ctx)); old != nil {
		in.Replace = old.ID
	}
	signed, err := s.myAccount().SignIn(ctx, in)
	view := authview.LoginForm{Email: f.Email, Next: safeNext(f.Next)}
	if errs, ok := invalidErrors(err); ok {
		view.Errors = errs
		return s.renderLogin(c, refusedStatus(c, err), view)
	}
	if err != nil {
		return err
	}
	if signed.Pending != nil { // the second factor comes next, on its own page
		http.SetCookie(c.Response(), auth.NewPendingCodec(s.Config.SessionKey, s.Config.Secure()).Cookie(*signed.Pending))
		return c.Redirect(http.StatusSeeOther, paths.Query(paths.LoginSecondFactor, "next", f.Next))
	}
	s.Sessions.SetCookie(c.Response(), signed.Token, signed.Session.ExpiresAt)
	return c.Redirect(http.StatusSeeOther, view.Next)
}

// logout ends the session in the transaction that records it and clears
// the cookie.
func (s *Server) logout(c echo.Context) error {
	ctx := c.Request().Context()
	// The provider's end-session URL and name: its session ends too
	// (RP-initiated logout).
	var end, provider string
	if rec := auth.Record(sessionFrom(ctx)); rec != nil {
		if err := s.myAccount().SignOut(ctx, rec); err != nil {
			return err
		}
		end, provider = s.SignIn.LogoutURL(ctx, rec.Method)
	}
	s.Sessions.ClearCookie(c.Response())
	s.flash(c, "success", "auth.login.signed_out")
	if end != "" {
		return s.ssoSignedOut(c, end, provider)
	}
	return c.Redirect(http.StatusSeeOther, paths.Login)
}
