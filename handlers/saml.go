package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/samlsp"
)

// samlFlow is the sign-in flow of the SAML provider of key
// (app.ErrNotFound when none is enabled under it).
func (s *Server) samlFlow(ctx context.Context, key string) (*samlsp.Service, error) {
	p, err := s.SignIn.SAML(ctx, key)
	if err != nil {
		return nil, err
	}
	return samlsp.NewService(p, s.Ent, s.myAccount(), s.Now), nil
}

// samlMetadata serves Violet's service provider metadata for the
// provider of key: its entity ID is this URL.
func (s *Server) samlMetadata(c echo.Context) error {
	p, err := s.SignIn.SAML(c.Request().Context(), c.Param("key"))
	if err != nil {
		return s.ssoProblem(c, err)
	}
	md, err := p.Metadata()
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, samlsp.MetadataType, md)
}

// startSAML sends the browser to the identity provider with an
// AuthnRequest, its ID kept in a sealed cookie.
func (s *Server) startSAML(c echo.Context) error {
	ctx := c.Request().Context()
	flow, err := s.samlFlow(ctx, c.Param("key"))
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

// samlACS finishes the sign-in the identity provider posts back; the
// request cookie is spent whatever the outcome (single use).
func (s *Server) samlACS(c echo.Context) error {
	ctx := c.Request().Context()
	flow, err := s.samlFlow(ctx, c.Param("key"))
	if err != nil {
		return s.ssoProblem(c, err)
	}
	in := samlsp.ACSInput{SAMLResponse: c.FormValue("SAMLResponse"), RelayState: c.FormValue("RelayState")}
	if ck, err := c.Cookie(flow.CookieName()); err == nil {
		in.Cookie = ck.Value
		c.SetCookie(flow.ClearCookie())
	}
	if old := auth.Record(sessionFrom(ctx)); old != nil {
		in.Replace = old.ID
	}
	if v := auth.FromContext(ctx); v != nil {
		in.Current = v.UserID
	}
	done, err := flow.ACS(ctx, in)
	if err != nil {
		return s.ssoProblem(c, err)
	}
	return s.ssoSignedIn(c, done)
}
