package handlers

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/apitoken"
	"violet/internal/auth"
	"violet/internal/paths"
	accountview "violet/views/account"
	"violet/views/apitokens"
)

// apiTokenWorkflows returns the API token and service account workflows.
func (s *Server) apiTokenWorkflows() *apitoken.Service {
	return apitoken.NewService(s.Ent, s.DB, s.Now)
}

// apiTokenForm is the tokens block's create form.
type apiTokenForm struct {
	Name    string   `form:"name"`
	Scopes  []string `form:"scopes"`
	Expires string   `form:"expires"`
}

// serviceAccountForm is the new service account form.
type serviceAccountForm struct {
	DisplayName string   `form:"display_name"`
	Email       string   `form:"email"`
	GroupIDs    []string `form:"group_ids"`
}

// createAPIToken makes one of the viewer's own tokens.
func (s *Server) createAPIToken(c echo.Context) error { return s.makeAPIToken(c, uuid.Nil) }

// createServiceAccountToken makes a token for a service account.
func (s *Server) createServiceAccountToken(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	return s.makeAPIToken(c, id)
}

// makeAPIToken makes a token for owner (uuid.Nil: the viewer) and shows
// it once, in the block (htmx) or the page the block sits on; a refused
// form comes back with 422, its errors and its input.
func (s *Server) makeAPIToken(c echo.Context, owner uuid.UUID) error {
	var f apiTokenForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := apitoken.Input{Name: f.Name, Scopes: f.Scopes, ExpiresIn: f.Expires}
	b, err := s.apiTokenWorkflows().MakeToken(c.Request().Context(), owner, in)
	status := http.StatusOK
	if _, ok := invalidErrors(err); ok {
		status = http.StatusUnprocessableEntity
	} else if err != nil {
		return err
	}
	if isPartial(c.Request()) {
		return s.render(c, status, apitokens.TokensBlock(b), nil)
	}
	if owner == uuid.Nil {
		return s.renderAccount(c, status, func(p *accountview.Page) { p.APITokens = b })
	}
	p, err := s.apiTokenWorkflows().ServiceAccount(c.Request().Context(), owner)
	if err != nil {
		return err
	}
	p.Tokens = b
	return s.renderServiceAccount(c, status, p)
}

// revokeAPIToken revokes one of the viewer's own tokens.
func (s *Server) revokeAPIToken(c echo.Context) error {
	return s.revokeToken(c, uuid.Nil, c.Param("id"), paths.Account)
}

// revokeServiceAccountToken revokes a service account's token.
func (s *Server) revokeServiceAccountToken(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	return s.revokeToken(c, id, c.Param("token"), paths.URL(paths.ServiceAccount, id))
}

// revokeToken revokes a token of owner: htmx gets the block back, a plain
// POST a flash and the page.
func (s *Server) revokeToken(c echo.Context, owner uuid.UUID, rawToken, back string) error {
	tokenID, err := uuid.Parse(rawToken)
	if err != nil {
		return echo.ErrNotFound
	}
	b, err := s.apiTokenWorkflows().RevokeToken(c.Request().Context(), owner, tokenID)
	if err != nil {
		return err
	}
	if isPartial(c.Request()) {
		return s.render(c, http.StatusOK, apitokens.TokensBlock(b), nil)
	}
	s.flash(c, "success", "apitoken.revoked")
	return c.Redirect(http.StatusSeeOther, back+"#api-tokens")
}

// listServiceAccounts renders the service accounts and the new account form.
func (s *Server) listServiceAccounts(c echo.Context) error {
	p, err := s.apiTokenWorkflows().ServiceAccounts(c.Request().Context())
	if err != nil {
		return err
	}
	return s.renderServiceAccounts(c, http.StatusOK, p)
}

func (s *Server) renderServiceAccounts(c echo.Context, status int, p apitokens.AccountsPage) error {
	v := auth.FromContext(c.Request().Context())
	lp := s.layoutProps(c, "apitoken.accounts.title", "nav.admin")
	return s.render(c, status, apitokens.ServiceAccountsPage(lp, adminTabs(v, paths.Users), p), nil)
}

// createServiceAccount makes a service account and opens its page, where
// its first token is made; a refused form comes back with 422.
func (s *Server) createServiceAccount(c echo.Context) error {
	var f serviceAccountForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := apitoken.AccountInput{DisplayName: f.DisplayName, Email: f.Email, GroupIDs: f.GroupIDs}
	id, p, err := s.apiTokenWorkflows().NewServiceAccount(c.Request().Context(), in)
	if _, ok := invalidErrors(err); ok {
		return s.renderServiceAccounts(c, http.StatusUnprocessableEntity, p)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "apitoken.accounts.created")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.ServiceAccount, id))
}

// showServiceAccount renders a service account's page with its tokens.
func (s *Server) showServiceAccount(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	p, err := s.apiTokenWorkflows().ServiceAccount(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderServiceAccount(c, http.StatusOK, p)
}

func (s *Server) renderServiceAccount(c echo.Context, status int, p apitokens.AccountPage) error {
	v := auth.FromContext(c.Request().Context())
	lp := s.layoutProps(c, "apitoken.accounts.title", "nav.admin")
	lp.Title = p.Account.DisplayName + " · " + lp.Title
	return s.render(c, status, apitokens.ServiceAccountPage(lp, adminTabs(v, paths.Users), p), nil)
}
