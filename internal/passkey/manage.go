package passkey

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/webauthncredential"
	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// Rename names the viewer's passkey id; another's is app.ErrNotFound.
func (s *Service) Rename(ctx context.Context, id uuid.UUID, name string) error {
	name, err := checkName(name)
	if err != nil {
		return err
	}
	v := auth.FromContext(ctx)
	n, err := s.client.WebAuthnCredential.Update().
		Where(webauthncredential.ID(id), webauthncredential.UserID(v.UserID)).
		SetName(name).Save(rule.SystemContext(ctx))
	if err != nil {
		return fmt.Errorf("passkey: rename: %w", err)
	}
	if n == 0 {
		return app.ErrNotFound
	}
	return nil
}

// Remove re-authenticates the viewer (as for the app) and removes their
// passkey id, recording factor.passkey_removed. A member of a group that
// requires a second factor cannot remove their last one (a passkey or the
// app counts).
func (s *Service) Remove(ctx context.Context, in account.Reauth, id uuid.UUID) error {
	return s.accounts.Reauthenticated(ctx, in, func(tx *ent.Tx, u *ent.User) error {
		sys := rule.SystemContext(ctx)
		row, err := tx.WebAuthnCredential.Query().
			Where(webauthncredential.ID(id), webauthncredential.UserID(u.ID)).Only(sys)
		if ent.IsNotFound(err) {
			return app.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("passkey: load: %w", err)
		}
		last, err := requiredFactorLeft(ctx, tx.Client(), u.ID)
		if err != nil {
			return err
		}
		if last {
			return &app.Invalid{Key: "passkeys.remove.required"}
		}
		if err := tx.WebAuthnCredential.DeleteOneID(row.ID).Exec(sys); err != nil {
			return fmt.Errorf("passkey: remove: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.FactorPasskeyRemoved, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"passkey": row.ID.String(), "name": row.Name},
		})
	})
}
