package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/refreshtoken"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/identity"
	"violet/views/account"
	"violet/views/components"
)

// profileForm is what the profile form may set: the viewer's own name and
// language, nothing else of their account.
type profileForm struct {
	DisplayName string `form:"display_name"`
	Locale      string `form:"locale"`
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

// currentSession is the id of the request's session as it stands after
// the middleware saved it: a token rotated on this very request has a new
// id, which the viewer (built before the rotation) does not know yet.
func currentSession(ctx context.Context) uuid.UUID {
	if rec := auth.Record(sessionFrom(ctx)); rec != nil {
		return rec.ID
	}
	return auth.FromContext(ctx).SessionID
}

// showAccount renders "My account".
func (s *Server) showAccount(c echo.Context) error {
	p, err := s.accountPage(c.Request().Context())
	if err != nil {
		return err
	}
	return s.renderAccount(c, http.StatusOK, p)
}

func (s *Server) renderAccount(c echo.Context, status int, p account.Page) error {
	return s.render(c, status, account.AccountPage(s.layoutProps(c, "account.title", ""), p), nil)
}

// accountPage loads what the account page shows, read through the
// request's context so the privacy policies apply.
func (s *Server) accountPage(ctx context.Context) (account.Page, error) {
	v := auth.FromContext(ctx)
	u, err := s.Ent.User.Get(ctx, v.UserID)
	if err != nil {
		return account.Page{}, fmt.Errorf("load account: %w", err)
	}
	rows, err := s.mySessions(ctx)
	if err != nil {
		return account.Page{}, err
	}
	return account.Page{
		Email:    u.Email,
		Profile:  account.ProfileForm{DisplayName: u.DisplayName, Locale: string(u.Locale)},
		Sessions: account.Sessions{Rows: rows},
	}, nil
}

// mySessionsQuery lists a user's live sessions, most recently used first,
// each with the time its chain of rotated tokens began (when the user
// signed in), not the time of its last rotation.
const mySessionsQuery = `
WITH RECURSIVE live AS (
	SELECT id, user_agent, ip, last_seen_at FROM refresh_tokens
	WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
), chain(head, id, issued_at) AS (
	SELECT l.id, rt.id, rt.issued_at FROM live l JOIN refresh_tokens rt ON rt.id = l.id
	UNION
	SELECT chain.head, rt.id, rt.issued_at FROM refresh_tokens rt JOIN chain ON rt.replaced_by_id = chain.id
	WHERE rt.user_id = $1
)
SELECT l.id, l.user_agent, l.ip, (SELECT min(c.issued_at) FROM chain c WHERE c.head = l.id), l.last_seen_at
FROM live l
ORDER BY l.last_seen_at DESC, l.id`

// mySessions returns the viewer's live sessions, the current one marked.
func (s *Server) mySessions(ctx context.Context) ([]account.Session, error) {
	v := auth.FromContext(ctx)
	current := currentSession(ctx)
	rows, err := s.DB.QueryContext(ctx, mySessionsQuery, v.UserID, s.Now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []account.Session
	for rows.Next() {
		var (
			r  account.Session
			id uuid.UUID
		)
		if err := rows.Scan(&id, &r.UserAgent, &r.IP, &r.SignedInAt, &r.LastSeenAt); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		r.ID, r.Current = id.String(), id == current
		r.Browser, r.OS = account.Device(r.UserAgent)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// updateProfile saves the viewer's display name and language. The new
// language applies from the page the redirect lands on.
func (s *Server) updateProfile(c echo.Context) error {
	var f profileForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	errs := components.Errors{}
	name, err := identity.DisplayName(f.DisplayName)
	if err != nil {
		errs["display_name"] = nameErrorKey(err)
	}
	if !slices.Contains(i18n.Supported(), f.Locale) {
		errs["locale"] = "account.profile.locale_invalid"
	}
	refuse := func(errs components.Errors) error {
		p, err := s.accountPage(ctx)
		if err != nil {
			return err
		}
		p.Profile = account.ProfileForm{DisplayName: f.DisplayName, Locale: f.Locale, Errors: errs}
		return s.renderAccount(c, http.StatusUnprocessableEntity, p)
	}
	if len(errs) > 0 {
		return refuse(errs)
	}
	changed, err := s.saveProfile(ctx, name, f.Locale)
	if errors.Is(err, errNameLookAlike) {
		return refuse(components.Errors{"display_name": "identity.name.look_alike"})
	}
	if err != nil {
		return err
	}
	if changed {
		s.flash(c, "success", "account.profile.saved")
	} else {
		s.flash(c, "success", "account.profile.unchanged")
	}
	return c.Redirect(http.StatusSeeOther, "/account")
}

// updateLanguage is the user menu's language switch: it saves the
// language and goes back to the page it was used on (on this site only).
func (s *Server) updateLanguage(c echo.Context) error {
	var f languageForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	if !slices.Contains(i18n.Supported(), f.Locale) {
		return echo.ErrBadRequest
	}
	if _, err := s.saveProfile(c.Request().Context(), "", f.Locale); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, safeNext(f.Next))
}

// errNameLookAlike refuses a display name that another account has or
// reads like (identity.Check).
var errNameLookAlike = errors.New("the name looks like another account's")

// saveProfile changes the viewer's own display name (unless name is "";
// normalised by identity.DisplayName) and language, with its audit event,
// in one transaction, through the request's context: the privacy policy
// lets viewers change these fields of their own row only. A new name that
// another account has or reads like is errNameLookAlike. It reports
// whether anything changed.
func (s *Server) saveProfile(ctx context.Context, name, locale string) (bool, error) {
	v := auth.FromContext(ctx)
	changed := false
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if name != "" {
			// Taken before the row lock, in the order account creation
			// takes it; the language switch alone does not wait for it.
			if err := identity.Lock(ctx, tx); err != nil {
				return err
			}
		}
		u, err := tx.User.Query().Where(user.ID(v.UserID)).ForUpdate().Only(ctx)
		if err != nil {
			return fmt.Errorf("load account: %w", err)
		}
		upd := tx.User.UpdateOneID(u.ID)
		details := map[string]any{}
		if name != "" && name != u.DisplayName {
			// Compared only when the name changes: an account whose name
			// already reads like another's (made before this check) can
			// still change its language.
			clash, err := identity.Check(ctx, tx.User, u.ID, "", name)
			if err != nil {
				return err
			}
			if clash.Any() {
				return errNameLookAlike
			}
			upd.SetDisplayName(name)
			details["display_name"] = map[string]any{"from": u.DisplayName, "to": name}
		}
		if locale != string(u.Locale) {
			upd.SetLocale(user.Locale(locale))
			details["locale"] = map[string]any{"from": string(u.Locale), "to": locale}
		}
		if len(details) == 0 {
			return nil
		}
		if err := upd.Exec(ctx); err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		changed = true
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.AccountUpdated, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: details,
		})
	})
	return changed, err
}

// passwordErrors applies the cheap checks of the password form, before any
// hashing. The status is 400 for a password over the size limit (refused
// before any work, as at sign-in), else 422.
func passwordErrors(f passwordForm, email string) (components.Errors, int) {
	errs := components.Errors{}
	for field, pw := range map[string]string{
		"current_password": f.Current, "new_password": f.New, "new_password_confirm": f.Confirm,
	} {
		if len(pw) > auth.MaxPasswordBytes {
			errs[field] = "account.password.too_long"
		}
	}
	if len(errs) > 0 {
		return errs, http.StatusBadRequest
	}
	if f.Current == "" {
		errs["current_password"] = "form.required"
	}
	switch err := auth.CheckPassword(f.New, email); {
	case f.New == "":
		errs["new_password"] = "form.required"
	case errors.Is(err, auth.ErrPasswordTooShort):
		errs["new_password"] = "account.password.too_short"
	case errors.Is(err, auth.ErrPasswordIsEmail):
		errs["new_password"] = "account.password.is_email"
	case err != nil:
		errs["new_password"] = "account.password.too_long"
	}
	switch {
	case f.Confirm == "":
		errs["new_password_confirm"] = "form.required"
	case f.Confirm != f.New:
		errs["new_password_confirm"] = "account.password.mismatch"
	}
	return errs, http.StatusUnprocessableEntity
}

// changePassword replaces the viewer's password after checking the
// current one, and ends every other session of theirs in the same
// transaction (someone who knew the old password may be signed in
// elsewhere); this session stays. A wrong current password counts as a
// failed sign-in for the login throttle, so a stolen session cannot be
// used to guess the password at leisure.
func (s *Server) changePassword(c echo.Context) error {
	var f passwordForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	refuse := func(status int, errs components.Errors) error {
		p, err := s.accountPage(ctx)
		if err != nil {
			return err
		}
		p.Password.Errors = errs
		return s.renderAccount(c, status, p)
	}
	if errs, status := passwordErrors(f, v.Email); len(errs) > 0 {
		return refuse(status, errs)
	}

	wait, err := s.throttle.RetryAfter(ctx, v.Email, auth.RequestInfoFrom(ctx).IP)
	if err != nil {
		return err
	}
	if wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.5)))
		return refuse(http.StatusTooManyRequests, components.Errors{"": "account.password.throttled"})
	}
	u, err := s.Ent.User.Get(ctx, v.UserID)
	if err != nil {
		return fmt.Errorf("load account: %w", err)
	}
	ok, _, err := s.Hasher.Verify(ctx, f.Current, u.PasswordHash)
	var hash string
	if err == nil && ok {
		hash, err = s.Hasher.Hash(ctx, f.New)
	}
	if errors.Is(err, auth.ErrHasherBusy) {
		c.Response().Header().Set("Retry-After", "1")
		return refuse(http.StatusServiceUnavailable, components.Errors{"": "account.password.busy"})
	}
	if err != nil {
		return err
	}
	if !ok {
		if err := audit.Record(ctx, s.Ent.AuditEvent, audit.Event{
			Action: audit.LoginFailed, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"via": "password_change"},
		}); err != nil {
			return err
		}
		return refuse(http.StatusUnprocessableEntity, components.Errors{"current_password": "account.password.current_wrong"})
	}

	current := currentSession(ctx)
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := tx.User.UpdateOneID(u.ID).SetPasswordHash(hash).Exec(ctx); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		n, err := s.endOtherSessions(ctx, tx, current)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.PasswordChanged, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"sessions_ended": n},
		})
	})
	if err != nil {
		return err
	}
	s.flash(c, "success", "account.password.changed")
	return c.Redirect(http.StatusSeeOther, "/account")
}

// endOtherSessions ends, in tx, every session of the viewer but keep and
// returns how many were live (expired ones are revoked too, uncounted).
func (s *Server) endOtherSessions(ctx context.Context, tx *ent.Tx, keep uuid.UUID) (int, error) {
	v := auth.FromContext(ctx)
	n, err := tx.RefreshToken.Query().
		Where(refreshtoken.UserID(v.UserID), refreshtoken.IDNEQ(keep),
			refreshtoken.RevokedAtIsNil(), refreshtoken.ExpiresAtGT(s.Now())).
		Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	if _, err := s.Sessions.RevokeUser(ctx, tx, v.UserID, keep); err != nil {
		return 0, err
	}
	return n, nil
}

// liveTailQuery follows a session's chain of rotated tokens to its live
// end: the page may show a token that was rotated since.
const liveTailQuery = `
WITH RECURSIVE chain(id) AS (
	SELECT $1::uuid
	UNION SELECT rt.replaced_by_id FROM refresh_tokens rt JOIN chain ON rt.id = chain.id
	WHERE rt.replaced_by_id IS NOT NULL
)
SELECT rt.id FROM refresh_tokens rt JOIN chain ON rt.id = chain.id
WHERE rt.revoked_at IS NULL AND rt.expires_at > $2`

// liveTail returns the live token of the session that id began or passed
// through, uuid.Nil when the session has ended.
func (s *Server) liveTail(ctx context.Context, tx *ent.Tx, id uuid.UUID) (uuid.UUID, error) {
	rows, err := tx.QueryContext(ctx, liveTailQuery, id, s.Now())
	if err != nil {
		return uuid.Nil, fmt.Errorf("follow session: %w", err)
	}
	defer rows.Close()
	tail := uuid.Nil
	if rows.Next() {
		if err := rows.Scan(&tail); err != nil {
			return uuid.Nil, fmt.Errorf("follow session: %w", err)
		}
	}
	return tail, rows.Err()
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
	v := auth.FromContext(ctx)
	current := currentSession(ctx)
	var ended, endedCurrent bool
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		rt, err := tx.RefreshToken.Query().Where(refreshtoken.ID(id), refreshtoken.UserID(v.UserID)).Only(ctx)
		if err != nil {
			return fmt.Errorf("load session: %w", err)
		}
		tail, err := s.liveTail(ctx, tx, rt.ID)
		if err != nil || tail == uuid.Nil {
			return err // already ended: nothing to do
		}
		if err := s.Sessions.RevokeWith(ctx, tx, tail); err != nil {
			return err
		}
		ended, endedCurrent = true, tail == current
		browser, system := account.Device(rt.UserAgent)
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.SessionEnded, TargetType: "session", TargetID: tail.String(), TargetLabel: v.Email,
			Details: map[string]any{"current": endedCurrent, "ip": rt.IP, "browser": browser, "os": system},
		})
	})
	if err != nil {
		return err
	}
	if endedCurrent {
		s.Sessions.ClearCookie(c.Response())
		s.flash(c, "success", "auth.login.signed_out")
		if c.Request().Header.Get("HX-Request") == "true" {
			c.Response().Header().Set("HX-Redirect", "/login")
			return c.NoContent(http.StatusNoContent)
		}
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	notice := "account.sessions.ended"
	if !ended {
		notice = "account.sessions.already_ended"
	}
	return s.afterSessionChange(c, notice)
}

// endOthers ends every session of the viewer except this one.
func (s *Server) endOthers(c echo.Context) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	n := 0
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		var err error
		if n, err = s.endOtherSessions(ctx, tx, currentSession(ctx)); err != nil || n == 0 {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.SessionEnded, TargetType: "user", TargetID: v.UserID.String(), TargetLabel: v.Email,
			Details: map[string]any{"sessions_ended": n, "others": true},
		})
	})
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
		return c.Redirect(http.StatusSeeOther, "/account")
	}
	rows, err := s.mySessions(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, account.SessionsBlock(account.Sessions{Rows: rows, Notice: notice}), nil)
}
