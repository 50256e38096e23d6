package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
)

// PasswordInput is what the password form may set.
type PasswordInput struct {
	Current string
	New     string
	Confirm string
}

// check applies the cheap checks of the password form, before any
// hashing. A password over the size limit is refused before any work, as
// at sign-in (ErrOversized).
func (in PasswordInput) check(email string) error {
	inv := &app.Invalid{}
	for field, pw := range map[string]string{
		"current_password": in.Current, "new_password": in.New, "new_password_confirm": in.Confirm,
	} {
		if len(pw) > auth.MaxPasswordBytes {
			inv.Add(field, "account.password.too_long")
		}
	}
	if inv.Err() != nil {
		return refuse(ErrOversized, inv)
	}
	if in.Current == "" {
		inv.Add("current_password", "form.required")
	}
	switch err := auth.CheckPassword(in.New, email); {
	case in.New == "":
		inv.Add("new_password", "form.required")
	case errors.Is(err, auth.ErrPasswordTooShort):
		inv.Add("new_password", "account.password.too_short")
	case errors.Is(err, auth.ErrPasswordIsEmail):
		inv.Add("new_password", "account.password.is_email")
	case err != nil:
		inv.Add("new_password", "account.password.too_long")
	}
	switch {
	case in.Confirm == "":
		inv.Add("new_password_confirm", "form.required")
	case in.Confirm != in.New:
		inv.Add("new_password_confirm", "account.password.mismatch")
	}
	return inv.Err()
}

// ChangePassword replaces the viewer's password after checking the
// current one, and ends every other session of theirs in the same
// transaction (someone who knew the old password may be signed in
// elsewhere); current, this request's session, stays. A wrong current
// password counts as a failed sign-in for the login throttle, so a stolen
// session cannot be used to guess the password at leisure.
func (s *Service) ChangePassword(ctx context.Context, in PasswordInput, current uuid.UUID) error {
	v := auth.FromContext(ctx)
	if err := in.check(v.Email); err != nil {
		return err
	}
	wait, err := s.throttle.RetryAfter(ctx, v.Email, auth.RequestInfoFrom(ctx).IP)
	if err != nil {
		return err
	}
	if wait > 0 {
		return refuse(&Throttled{Wait: wait}, &app.Invalid{Key: "account.password.throttled"})
	}
	u, err := s.client.User.Get(ctx, v.UserID)
	if err != nil {
		return fmt.Errorf("load account: %w", err)
	}
	ok, _, err := s.hasher.Verify(ctx, in.Current, u.PasswordHash)
	var hash string
	if err == nil && ok {
		hash, err = s.hasher.Hash(ctx, in.New)
	}
	if errors.Is(err, auth.ErrHasherBusy) {
		return refuse(err, &app.Invalid{Key: "account.password.busy"})
	}
	if err != nil {
		return err
	}
	if !ok {
		if err := audit.Record(ctx, s.client.AuditEvent, audit.Event{
			Action: audit.LoginFailed, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"via": "password_change"},
		}); err != nil {
			return err
		}
		return app.Invalidf("current_password", "account.password.current_wrong")
	}

	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
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
}
