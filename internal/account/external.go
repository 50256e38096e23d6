package account

import (
	"context"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/database"
)

// SignInExternal starts a session for userID, whom an identity provider
// vouched for (internal/sso decided who gets in): it ends the browser's
// old session replace (uuid.Nil for none), creates the session with
// method (oidc:<key>), sets last_login_at and records login.succeeded
// with the method, in one transaction. An account deactivated or deleted
// meanwhile is app.ErrForbidden: Violet's own state always wins over what
// the provider says.
func (s *Service) SignInExternal(ctx context.Context, userID uuid.UUID, method string, replace uuid.UUID) (SignedIn, error) {
	sys := rule.SystemContext(ctx)
	var out SignedIn
	err := database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		u, err := tx.User.Query().Where(user.ID(userID), user.IsActive(true)).Only(sys)
		if ent.IsNotFound(err) {
			return app.ErrForbidden
		}
		if err != nil {
			return err
		}
		if replace != uuid.Nil {
			if err := s.sessions.RevokeWith(sys, tx, replace); err != nil {
				return err
			}
		}
		if err := tx.User.UpdateOneID(u.ID).SetLastLoginAt(s.now()).Exec(sys); err != nil {
			return err
		}
		if out.Token, out.Session, err = s.sessions.Create(sys, tx, u.ID, method); err != nil {
			return err
		}
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.LoginSucceeded, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"method": method}, Actor: out.Session.Viewer(),
		})
	})
	if err != nil {
		return SignedIn{}, err
	}
	return out, nil
}
