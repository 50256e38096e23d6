package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/admission"
	"violet/internal/app"
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
	in := sso.CallbackInput{State: c.QueryParam("state"), Code: c.QueryParam("code"), Error: c.QueryParam("error")}
	st := s.SignIn.State()
	if ck, err := c.Cookie(st.CookieName()); err == nil {
		in.Cookie = ck.Value
		c.SetCookie(st.ClearCookie())
	}
	if old := auth.Record(sessionFrom(ctx)); old != nil {
		in.Replace = old.ID
	}
	// The cookie names the provider the browser went to; without one
	// (none, expired, forged) the environment's provider refuses it.
	key := st.ProviderOf(in.Cookie)
	if key == "" {
		key = s.SignIn.EnvKey()
	}
	flow, err := s.ssoFlow(ctx, key)
	if errors.Is(err, app.ErrNotFound) {
		err = &admission.Refusal{Key: admission.KeyInvalid, Reason: "no sign-in in progress"}
	}
	if err != nil {
		return s.ssoProblem(c, err)
	}
	done, err := flow.Callback(ctx, in)
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
func (s *Server) ssoSignedOut(c echo.Context, to, provider string) error {
	return s.render(c, http.StatusOK, authview.SSOSignedOutPage(s.layoutProps(c, "sso.signed_out.title", ""), provider, to), nil)
}
