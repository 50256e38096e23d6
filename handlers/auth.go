package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/schema"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/identity"
	"violet/internal/textrule"
	authview "violet/views/auth"
	"violet/views/components"
)

// loginForm is what the sign-in form may set; anything else is ignored.
type loginForm struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
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
	return s.render(c, status, authview.LoginPage(s.layoutProps(c, "auth.login.title", ""), f), nil)
}

// login checks an email and password. Unknown emails, wrong passwords and
// deactivated accounts get the same answer after the same work (a hash is
// always verified); failures are throttled per email and per address from
// the audit log; a success starts a new session (never the cookie's old
// one) in the transaction that records it.
func (s *Server) login(c echo.Context) error {
	var f loginForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	email := identity.LoginEmail(f.Email)
	view := authview.LoginForm{Email: f.Email, Next: safeNext(f.Next), Errors: components.Errors{}}
	if len(f.Password) > auth.MaxPasswordBytes {
		view.Errors["password"] = "auth.login.password_too_long"
		return s.renderLogin(c, http.StatusBadRequest, view)
	}
	if email == "" {
		view.Errors["email"] = "form.required"
	}
	if f.Password == "" {
		view.Errors["password"] = "form.required"
	}
	if len(view.Errors) > 0 {
		return s.renderLogin(c, http.StatusUnprocessableEntity, view)
	}
	// An email longer than any account's cannot sign in, but it is still a
	// failed attempt: it is throttled, costs a hash and is audited like any
	// other (under its cut form, which is what the throttle counts), and
	// the form says what is wrong.
	tooLong := false
	if limit := textrule.For(schema.User{}, "email"); limit.Len(email) > limit.Max {
		tooLong = true
		email = audit.Label(email)
		view.Errors["email"] = "auth.login.email_too_long"
	}

	wait, err := s.throttle.RetryAfter(ctx, email, auth.RequestInfoFrom(ctx).IP)
	if err != nil {
		return err
	}
	if wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.5)))
		view.Errors[""] = "auth.login.throttled"
		return s.renderLogin(c, http.StatusTooManyRequests, view)
	}

	sys := rule.SystemContext(ctx)
	var (
		u          *ent.User
		ok, rehash bool
	)
	if !tooLong {
		u, err = s.Ent.User.Query().Where(user.Email(email)).Only(sys)
	}
	switch {
	case tooLong || ent.IsNotFound(err):
		err = s.Hasher.VerifyDummy(ctx, f.Password)
	case err == nil:
		ok, rehash, err = s.Hasher.Verify(ctx, f.Password, u.PasswordHash)
		ok = ok && u.IsActive
	}
	if errors.Is(err, auth.ErrHasherBusy) {
		c.Response().Header().Set("Retry-After", "1")
		view.Errors[""] = "auth.login.busy"
		return s.renderLogin(c, http.StatusServiceUnavailable, view)
	}
	if err != nil {
		return err
	}
	if !ok {
		if err := audit.Record(sys, s.Ent.AuditEvent, audit.Event{
			Action: audit.LoginFailed, TargetType: "user", TargetLabel: email,
		}); err != nil {
			return err
		}
		if tooLong {
			return s.renderLogin(c, http.StatusUnprocessableEntity, view)
		}
		view.Errors[""] = "auth.login.failed"
		return s.renderLogin(c, http.StatusUnauthorized, view)
	}

	var newHash string
	if rehash {
		if newHash, err = s.Hasher.Hash(ctx, f.Password); err != nil {
			return err
		}
	}
	var (
		token string
		rec   *auth.SessionRecord
	)
	err = database.WithTx(sys, s.Ent, func(tx *ent.Tx) error {
		if old := auth.Record(sessionFrom(ctx)); old != nil {
			if err := s.Sessions.RevokeWith(sys, tx, old.ID); err != nil {
				return err
			}
		}
		upd := tx.User.UpdateOneID(u.ID).SetLastLoginAt(s.Now())
		if newHash != "" {
			upd.SetPasswordHash(newHash)
		}
		if err := upd.Exec(sys); err != nil {
			return err
		}
		if token, rec, err = s.Sessions.Create(sys, tx, u.ID); err != nil {
			return err
		}
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.LoginSucceeded, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Actor: rec.Viewer(),
		})
	})
	if err != nil {
		return err
	}
	s.Sessions.SetCookie(c.Response(), token, rec.ExpiresAt)
	return c.Redirect(http.StatusSeeOther, view.Next)
}

// logout ends the session in the transaction that records it and clears
// the cookie.
func (s *Server) logout(c echo.Context) error {
	ctx := c.Request().Context()
	if rec := auth.Record(sessionFrom(ctx)); rec != nil {
		err := database.WithTx(rule.SystemContext(ctx), s.Ent, func(tx *ent.Tx) error {
			if err := s.Sessions.RevokeWith(ctx, tx, rec.ID); err != nil {
				return err
			}
			return audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.Logout, TargetType: "session", TargetID: rec.ID.String(), TargetLabel: rec.Email,
			})
		})
		if err != nil {
			return err
		}
	}
	s.Sessions.ClearCookie(c.Response())
	s.flash(c, "success", "auth.login.signed_out")
	return c.Redirect(http.StatusSeeOther, "/login")
}
