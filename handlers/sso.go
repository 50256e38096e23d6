package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/sso"
	authview "violet/views/auth"
)

// ssoFlow is the sign-in flow of the OpenID Connect provider of key
// (app.ErrNotFound when none is enabled under it).
func (s *Server) ssoFlow(ctx context.Context, key string) (*sso.Service, error) {
	p, err := s.SignIn.OIDC(ctx, key)
	if err != nil {
		return nil, err
	}
	return sso.NewService(p, s.Ent, s.myAccount(), s.Now), nil
}

// startSSO sends the browser to the provider (?provider=key, the
// environment's by default) with a fresh sealed state.
func (s *Server) startSSO(c echo.Context) error {
	ctx := c.Request().Context()
	key := c.QueryParam("provider")
	if key == "" {
		key = s.SignIn.EnvKey()
	}
	flow, err := s.ssoFlow(ctx, key)
	if err != nil {
		return s.ssoProblem(c, err)
	}
	to, cookie, err := flow.Start(ctx, safeNext(c.QueryParam("next")))
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
	in := sso.CallbackInput{State: c.QueryParam("state"), Code: c.QueryParam("code"), Error: c.QueryParam("error"),
		Issuer: c.QueryParam("iss")}
	st := s.SignIn.State()
	if ck, err := c.Cookie(st.CookieName()); err == nil {
		in.Cookie = ck.Value
		c.SetCookie(st.ClearCookie())
	}
	if old := auth.Record(sessionFrom(ctx)); old != nil {
		in.Replace = old.ID
	}
	if v := auth.FromContext(ctx); v != nil {
		in.Current = v.UserID
	}
	// The cookie names the provider the browser went to; without one
	// (none, expired, forged) the environment's provider refuses it, and
	// with no such provider the route is not found.
	key := st.ProviderOf(in.Cookie)
	if key == "" {
		key = s.SignIn.EnvKey()
	}
	flow, err := s.ssoFlow(ctx, key)
	if err != nil {
		return s.ssoProblem(c, err)
	}
	done, err := flow.Callback(ctx, in)
	if err != nil {
		return s.ssoProblem(c, err)
	}
	return s.ssoSignedIn(c, done)
}

// ssoSignedIn ends a provider's sign-in that checked out (OpenID Connect
// or SAML): an identity linked to the signed-in account, an account's
// password asked to link the identity to it, Violet's second step, or
// the session.
func (s *Server) ssoSignedIn(c echo.Context, done sso.Done) error {
	if done.PendingLink != nil { // an account has the e-mail: its password links them
		codec, err := s.linkCodec()
		if err != nil {
			return err
		}
		ck, err := codec.Cookie(*done.PendingLink)
		if err != nil {
			return err
		}
		http.SetCookie(c.Response(), ck)
		return c.Redirect(http.StatusSeeOther, paths.LoginLink)
	}
	if done.Linked { // an identity linked to the signed-in account
		s.flash(c, "success", "identities.linked")
		return c.Redirect(http.StatusSeeOther, safeNext(done.Next))
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
func (s *Server) ssoSignedOut(c echo.Context, to, provider string) error {
	return s.render(c, http.StatusOK, authview.SSOSignedOutPage(s.layoutProps(c, "sso.signed_out.title", ""), provider, to), nil)
}
