package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/sso"
	authview "violet/views/auth"
)

func (s *Server) ssoFlow() *sso.Service { return sso.NewService(s.SSO, s.Ent, s.myAccount(), s.Now) }

// startSSO sends the browser to the provider with a fresh sealed state.
func (s *Server) startSSO(c echo.Context) error {
	to, cookie, err := s.ssoFlow().Start(c.Request().Context(), safeNext(c.QueryParam("next")))
	if err != nil {
		return s.ssoProblem(c, err)
	}
	c.SetCookie(cookie)
	return c.Redirect(http.StatusFound, to)
}

// ssoCallback finishes the sign-in the provider sends the browser back
// with; the state cookie is spent whatever the outcome (single use).
func (s *Server) ssoCallback(c echo.Context) error {
	ctx := c.Request().Context()
	in := sso.CallbackInput{State: c.QueryParam("state"), Code: c.QueryParam("code"), Error: c.QueryParam("error")}
	if ck, err := c.Cookie(s.SSO.CookieName()); err == nil && s.SSO != nil {
		in.Cookie = ck.Value
		c.SetCookie(s.SSO.ClearCookie())
	}
	if old := auth.Record(sessionFrom(ctx)); old != nil {
		in.Replace = old.ID
	}
	done, err := s.ssoFlow().Callback(ctx, in)
	if err != nil {
		return s.ssoProblem(c, err)
	}
	if done.Pending != nil { // Violet's second step, as after a password
		http.SetCookie(c.Response(), auth.NewPendingCodec(s.Config.SessionKey, s.Config.Secure()).Cookie(*done.Pending))
		return c.Redirect(http.StatusSeeOther, paths.Query(paths.LoginSecondFactor, "next", safeNext(done.Next)))
	}
	s.Sessions.SetCookie(c.Response(), done.Token, done.Session.ExpiresAt)
	return c.Redirect(http.StatusSeeOther, safeNext(done.Next))
}

// ssoProblem renders a refusal (403) or a provider down (503), with the
// way back to the password form; other errors go to the error handler.
func (s *Server) ssoProblem(c echo.Context, err error) error {
	status, p, ok := sso.ProblemOf(err)
	if !ok {
		return err
	}
	return s.render(c, status, authview.SSOProblemPage(s.layoutProps(c, p.TitleKey, ""), p), nil)
}

// ssoSignedOut goes on from a sign-out to the provider's end-session URL
// through a page whose link app.js follows: CSP's form-action 'self'
// stops a sign-out form's redirect to another site.
func (s *Server) ssoSignedOut(c echo.Context, to string) error {
	return s.render(c, http.StatusOK, authview.SSOSignedOutPage(s.layoutProps(c, "sso.signed_out.title", ""), s.SSO.Name(), to), nil)
}
