package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/account"
	"violet/internal/auth"
	"violet/internal/paths"
	accountview "violet/views/account"
)

// profileForm is what the profile form may set: the viewer's own name,
// language and time zone, nothing else of their account.
type profileForm struct {
	DisplayName string `form:"display_name"`
	Locale      string `form:"locale"`
	TimeZone    string `form:"time_zone"`
}

// passwordForm is what the password form may set.
type passwordForm struct {
	Current string `form:"current_password"`
	New     string `form:"new_password"`
	Confirm string `form:"new_password_confirm"`
}

// languageForm is the user menu's language switch: the language and the
// page to go back to.
type languageForm struct {
	Locale string `form:"locale"`
	Next   string `form:"next"`
}

// myAccount returns the account and sign-in workflows on this server.
func (s *Server) myAccount() *account.Service {
	return account.NewService(s.Ent, s.DB, s.Sessions, s.Hasher, s.throttle, s.Now).WithFactors(s.Config.SessionKey).WithLog(s.Log).WithProviders(s.SignIn)
}

// currentSession is the id of the request's session as it stands after
// the middleware saved it: a token rotated on this very request has a new
// id, which the viewer (built before the rotation) does not know yet.
func currentSession(ctx context.Context) uuid.UUID {
	if rec := auth.Record(sessionFrom(ctx)); rec != nil {
		return rec.ID
	}
	return auth.FromContext(ctx).SessionID
}

// refusedStatus is the status of a refused sign-in or account change
// (see package account), with the Retry-After header it calls for.
func refusedStatus(c echo.Context, err error) int {
	var th *account.Throttled
	switch {
	case errors.As(err, &th):
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(th.Wait.Seconds()+0.5)))
		return http.StatusTooManyRequests
	case errors.Is(err, auth.ErrHasherBusy):
		c.Response().Header().Set("Retry-After", "1")
		return http.StatusServiceUnavailable
	case errors.Is(err, account.ErrOversized):
		return http.StatusBadRequest
	case errors.Is(err, account.ErrSignInFailed):
		return http.StatusUnauthorized
	}
	return http.StatusUnprocessableEntity
}

// showAccount renders "My account".
func (s *Server) showAccount(c echo.Context) error {
	return s.renderAccount(c, http.StatusOK, func(*accountview.Page) {})
}

// renderAccount renders the account page with status, as change leaves it
// (a form shown again with its errors).
func (s *Server) renderAccount(c echo.Context, status int, change func(*accountview.Page)) error {
	ctx := c.Request().Context()
	p, err := s.myAccount().Page(ctx, currentSession(ctx))
	if err != nil {
		return err
	}
	if p.APITokens, err = s.apiTokenWorkflows().Block(ctx, uuid.Nil); err != nil {
		return err
	}
	change(&p)
	return s.render(c, status, accountview.AccountPage(s.layoutProps(c, "account.title", ""), p), nil)
}

// updateProfile saves the viewer's display name and language. The new
// language applies from the page the redirect lands on.
func (s *Server) updateProfile(c echo.Context) error {
	var f profileForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	changed, err := s.myAccount().UpdateProfile(c.Request().Context(), account.ProfileInput{DisplayName: f.DisplayName, Locale: f.Locale, TimeZone: f.TimeZone})
	if errs, ok := invalidErrors(err); ok {
		return s.renderAccount(c, http.StatusUnprocessableEntity, func(p *accountview.Page) {
			p.Profile = accountview.ProfileForm{DisplayName: f.DisplayName, Locale: f.Locale, TimeZone: f.TimeZone, Errors: errs}
		})
	}
	if err != nil {
		return err
	}
	if changed {
		s.flash(c, "success", "account.profile.saved")
	} else {
		s.flash(c, "success", "account.profile.unchanged")
	}
	return c.Redirect(http.StatusSeeOther, paths.Account)
}

// updateLanguage is the user menu's language switch: it saves the
// language and goes back to the page it was used on (on this site only).
func (s *Server) updateLanguage(c echo.Context) error {
	var f languageForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	err := s.myAccount().SetLanguage(c.Request().Context(), f.Locale)
	if _, ok := invalidErrors(err); ok {
		return echo.ErrBadRequest
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, safeNext(f.Next))
}

// changePassword replaces the viewer's password and ends their other
// sessions (account.Service.ChangePassword); this session stays.
func (s *Server) changePassword(c echo.Context) error {
	var f passwordForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	in := account.PasswordInput{Current: f.Current, New: f.New, Confirm: f.Confirm}
	err := s.myAccount().ChangePassword(ctx, in, currentSession(ctx))
	if errs, ok := invalidErrors(err); ok {
		return s.renderAccount(c, refusedStatus(c, err), func(p *accountview.Page) { p.Password.Errors = errs })
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "account.password.changed")
	return c.Redirect(http.StatusSeeOther, paths.Account)
}

// endSession ends one of the viewer's own sessions; another user's session
// is not found. Ending the current one signs the viewer out. htmx gets the
// sessions block back; a plain POST is redirected to the account page.
func (s *Server) endSession(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	ended, err := s.myAccount().EndSession(ctx, id, currentSession(ctx))
	if err != nil {
		return err
	}
	if ended.Current {
		s.Sessions.ClearCookie(c.Response())
		s.flash(c, "success", "auth.login.signed_out")
		if c.Request().Header.Get("HX-Request") == "true" {
			c.Response().Header().Set("HX-Redirect", paths.Login)
			return c.NoContent(http.StatusNoContent)
		}
		return c.Redirect(http.StatusSeeOther, paths.Login)
	}
	notice := "account.sessions.ended"
	if !ended.Ended {
		notice = "account.sessions.already_ended"
	}
	return s.afterSessionChange(c, notice)
}

// endOthers ends every session of the viewer except this one.
func (s *Server) endOthers(c echo.Context) error {
	ctx := c.Request().Context()
	n, err := s.myAccount().EndOthers(ctx, currentSession(ctx))
	if err != nil {
		return err
	}
	notice := "account.sessions.others_ended"
	if n == 0 {
		notice = "account.sessions.no_others"
	}
	return s.afterSessionChange(c, notice)
}

// afterSessionChange answers a session action: the sessions block with
// what was done for htmx, else a flash and the account page.
func (s *Server) afterSessionChange(c echo.Context, notice string) error {
	if !isPartial(c.Request()) {
		s.flash(c, "success", notice)
		return c.Redirect(http.StatusSeeOther, paths.Account)
	}
	ctx := c.Request().Context()
	rows, err := s.myAccount().Sessions(ctx, currentSession(ctx))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, accountview.SessionsBlock(accountview.Sessions{Rows: rows, Notice: notice}), nil)
}
