package account

import (
	"context"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/factor"
)

// SignInExternal starts a session for userID, whom an identity provider
// vouched for (internal/sso decided who gets in): it ends the browser's
// old session replace (uuid.Nil for none), creates the session with
// method (oidc:<key>), sets last_login_at and records login.succeeded
// with the method, in one transaction. An account deactivated or deleted
// meanwhile is app.ErrForbidden: Violet's own state always wins over what
// the provider says.
//
// Violet's second-factor policy applies as to a password (factor.NeedOf):
// someone with an authenticator app gets no session but Pending, the same
// second step as after a password (the session then says
// oidc:<key>+totp); someone whose group requires a factor they have not
// set up gets an enrolment-only session (oidc:<key>:enrol).
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
		need, err := factor.NeedOf(sys, tx.Client(), u.ID)
		if err != nil {
			return err
		}
		switch need {
		case factor.NeedCode:
			p := auth.NewPending(u.ID, u.PasswordHash, s.now())
			p.Method = method
			out.Pending = &p
			return nil // the session, its audit and last_login_at come with the code
		case factor.NeedEnrol:
			method = auth.EnrolMethod(method)
		}
		signed, err := s.StartSession(sys, tx, u, method, replace, nil)
		out.Token, out.Session = signed.Token, signed.Session
		return err
	})
	if err != nil {
		return SignedIn{}, err
	}
	return out, nil
}
