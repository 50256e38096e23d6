package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/factor"
	"violet/internal/paths"
	"violet/internal/signin"
	"violet/views/admin"
)

// Administration → Sign-in: the workflows (internal/signin.Admin) return
// the form to show again when they refuse one; these handlers bind, call,
// render.

func (s *Server) signInAdmin() (*signin.Admin, error) {
	sealer, err := factor.NewSealer(s.Config.SessionKey)
	if err != nil {
		return nil, err
	}
	return signin.NewAdmin(s.Ent, sealer, s.Config.OIDC, s.Config.BaseURL, s.Now), nil
}

// showSignInAdmin renders the page.
func (s *Server) showSignInAdmin(c echo.Context) error {
	return s.renderSignInAdmin(c, http.StatusOK, func(*admin.SignInPage) {})
}

// renderSignInAdmin renders the page with status, as change leaves it (a
// refusal to show).
func (s *Server) renderSignInAdmin(c echo.Context, status int, change func(*admin.SignInPage)) error {
	svc, err := s.signInAdmin()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := svc.Page(ctx)
	if err != nil {
		return err
	}
	change(&p)
	lp := s.layoutProps(c, "signin.title", "nav.admin")
	return s.render(c, status, admin.SignInAdminPage(lp, adminTabs(auth.FromContext(ctx), paths.AdminSignIn), p), nil)
}

// renderSignInProvider renders a provider's form.
func (s *Server) renderSignInProvider(c echo.Context, status int, f admin.SignInProviderForm) error {
	lp := s.layoutProps(c, "signin.title", "nav.admin")
	tabs := adminTabs(auth.FromContext(c.Request().Context()), paths.AdminSignIn)
	return s.render(c, status, admin.SignInProviderPage(lp, tabs, f), nil)
}

// newSignInProvider renders the empty form of ?kind=oidc|saml.
func (s *Server) newSignInProvider(c echo.Context) error {
	svc, err := s.signInAdmin()
	if err != nil {
		return err
	}
	f, err := svc.NewForm(c.Request().Context(), c.QueryParam("kind"))
	if err != nil {
		return err
	}
	return s.renderSignInProvider(c, http.StatusOK, f)
}

// editSignInProvider renders a provider's edit form.
func (s *Server) editSignInProvider(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	svc, err := s.signInAdmin()
	if err != nil {
		return err
	}
	f, err := svc.Form(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderSignInProvider(c, http.StatusOK, f)
}

// saveSignInProvider creates a provider (no :id) or saves one's edit
// form; a refused form comes back with its status (422 invalid, 409
// stale), the input kept but the secret.
func (s *Server) saveSignInProvider(c echo.Context) error {
	var in signin.ProviderInput
	if err := (&echo.DefaultBinder{}).BindBody(c, &in); err != nil {
		return echo.ErrBadRequest
	}
	id := uuid.Nil
	if c.Param("id") != "" {
		var err error
		if id, err = paramID(c); err != nil {
			return err
		}
	}
	svc, err := s.signInAdmin()
	if err != nil {
		return err
	}
	f, err := svc.Save(c.Request().Context(), id, in)
	if f.Errors != nil || f.Saved != nil {
		return s.renderSignInProvider(c, statusOf(err), f)
	}
	return s.afterSignInChange(c, "signin.saved", err)
}

// enableSignInProvider, disableSignInProvider and deleteSignInProvider
// answer a row's buttons.
func (s *Server) enableSignInProvider(c echo.Context) error {
	return s.signInProviderAction(c, "signin.enabled_done", (*signin.Admin).Enable)
}

func (s *Server) disableSignInProvider(c echo.Context) error {
	return s.signInProviderAction(c, "signin.disabled_done", (*signin.Admin).Disable)
}

func (s *Server) deleteSignInProvider(c echo.Context) error {
	return s.signInProviderAction(c, "signin.deleted", (*signin.Admin).Delete)
}

func (s *Server) signInProviderAction(c echo.Context, key string, do func(*signin.Admin, context.Context, uuid.UUID) error) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	svc, err := s.signInAdmin()
	if err != nil {
		return err
	}
	return s.afterSignInChange(c, key, do(svc, c.Request().Context(), id))
}

// setSignInPolicy turns "require single sign-on" on or off; a refusal
// (no provider, no break-glass admin) comes back on the page with 422.
func (s *Server) setSignInPolicy(c echo.Context) error {
	svc, err := s.signInAdmin()
	if err != nil {
		return err
	}
	required := c.FormValue("sso_required") == "1"
	_, err = svc.SetPolicy(c.Request().Context(), required)
	var inv *app.Invalid
	if errors.As(err, &inv) {
		return s.renderSignInAdmin(c, http.StatusUnprocessableEntity, func(p *admin.SignInPage) {
			p.Policy.Required, p.Policy.Errors = required, map[string]string{"": inv.Key}
		})
	}
	if err != nil {
		return err
	}
	if required {
		return s.afterSignInChange(c, "signin.policy.saved_on", nil)
	}
	return s.afterSignInChange(c, "signin.policy.saved_off", nil)
}

// setBreakGlass marks (break_glass=1) or clears an account's break-glass
// flag.
func (s *Server) setBreakGlass(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	svc, err := s.signInAdmin()
	if err != nil {
		return err
	}
	on := c.FormValue("break_glass") == "1"
	key := "signin.break_glass.cleared"
	if on {
		key = "signin.break_glass.marked"
	}
	return s.afterSignInChange(c, key, svc.SetBreakGlass(c.Request().Context(), id, on))
}

// afterSignInChange answers a change: a refusal the page explains comes
// back on it with 422, else a flash and the page.
func (s *Server) afterSignInChange(c echo.Context, key string, err error) error {
	var inv *app.Invalid
	if errors.As(err, &inv) {
		return s.renderSignInAdmin(c, http.StatusUnprocessableEntity, func(p *admin.SignInPage) { p.ErrorKey = inv.Key })
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", key)
	return c.Redirect(http.StatusSeeOther, paths.AdminSignIn)
}
