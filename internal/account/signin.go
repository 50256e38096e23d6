package account

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/schema"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/identity"
	"violet/internal/textrule"
)

// SignInInput is what the sign-in form sends, and the session the
// browser already holds (uuid.Nil for none), which a sign-in ends.
type SignInInput struct {
	Email    string
	Password string
	Replace  uuid.UUID
	// TimeZone is the browser's zone (an IANA name the form's script
	// reads): it becomes the account's zone on a sign-in while the account
	// has none, never over one already chosen; a name that is not a zone
	// is ignored.
	TimeZone string
}

// SignedIn is a new session: the token for the cookie and its record;
// or, for someone with a second factor, no session yet but Pending, the
// sign-in that waits for their code (SignInSecondFactor).
type SignedIn struct {
	Token   string
	Session *auth.SessionRecord
	Pending *auth.Pending
	// RecoveryUsed: a recovery code completed the sign-in, RecoveryLeft
	// remain (the next page says so).
	RecoveryUsed bool
	RecoveryLeft int
}

// verifyPassword is the password check of a sign-in: the account of
// email when password is its password and it is active. Unknown emails,
// wrong passwords and deactivated accounts get the same answer
// (ErrSignInFailed) after the same work (a hash is always verified);
// failures are throttled per email and per address from the audit log,
// and recorded. rehash: the hash's parameters are out of date.
func (s *Service) verifyPassword(ctx context.Context, emailIn, password string) (*ent.User, bool, error) {
	email := identity.LoginEmail(emailIn)
	if len(password) > auth.MaxPasswordBytes {
		return nil, false, refuse(ErrOversized, app.Invalidf("password", "auth.login.password_too_long"))
	}
	inv := &app.Invalid{}
	if email == "" {
		inv.Add("email", "form.required")
	}
	if password == "" {
		inv.Add("password", "form.required")
	}
	if err := inv.Err(); err != nil {
		return nil, false, err
	}
	// An email longer than any account's cannot sign in, but it is still a
	// failed attempt: it is throttled, costs a hash and is audited like any
	// other (under its cut form, which is what the throttle counts), and
	// the form says what is wrong.
	tooLong := false
	if limit := textrule.For(schema.User{}, "email"); limit.Len(email) > limit.Max {
		tooLong = true
		email = audit.Label(email)
		inv.Add("email", "auth.login.email_too_long")
	}

	wait, err := s.throttle.RetryAfter(ctx, email, auth.RequestInfoFrom(ctx).IP)
	if err != nil {
		return nil, false, err
	}
	if wait > 0 {
		inv.Key = "auth.login.throttled"
		return nil, false, refuse(&Throttled{Wait: wait}, inv)
	}

	sys := rule.SystemContext(ctx)
	var (
		u          *ent.User
		ok, rehash bool
	)
	if !tooLong {
		u, err = s.client.User.Query().Where(user.Email(email)).Only(sys)
	}
	switch {
	case tooLong || ent.IsNotFound(err):
		err = s.hasher.VerifyDummy(ctx, password)
	case err == nil:
		ok, rehash, err = s.hasher.Verify(ctx, password, u.PasswordHash)
		// A service account never signs in, whatever its hash holds: it
		// acts only through API tokens (internal/apitoken).
		ok = ok && u.IsActive && !u.ServiceAccount
	}
	if errors.Is(err, auth.ErrHasherBusy) {
		inv.Key = "auth.login.busy"
		return nil, false, refuse(err, inv)
	}
	if err != nil {
		return nil, false, err
	}
	if !ok {
		if err := audit.Record(sys, s.client.AuditEvent, audit.Event{
			Action: audit.LoginFailed, TargetType: "user", TargetLabel: email,
		}); err != nil {
			return nil, false, err
		}
		if tooLong {
			return nil, false, inv
		}
		inv.Key = "auth.login.failed"
		return nil, false, refuse(ErrSignInFailed, inv)
	}
	return u, rehash, nil
}

// SignIn checks an email and password (verifyPassword); a success starts
// a new session (never the browser's old one, which it ends) in the
// transaction that records it.
func (s *Service) SignIn(ctx context.Context, in SignInInput) (SignedIn, error) {
	u, rehash, err := s.verifyPassword(ctx, in.Email, in.Password)
	if err != nil {
		return SignedIn{}, err
	}

	// The password was right: only now may the answer tell that this
	// account must use single sign-on (a wrong one got the usual answer).
	if blocked, err := s.SSOBlocks(ctx, s.client, u, auth.MethodPassword); err != nil || blocked {
		if err != nil {
			return SignedIn{}, err
		}
		return SignedIn{}, SSORefusal()
	}

	// Someone with an authenticator app has no session until their code
	// comes: they get a pending sign-in, bound to the password hash just
	// verified (a rehash waits for a later sign-in, or it would void it).
	method := auth.MethodPassword
	enrolled, err := s.hasSecondFactor(ctx, u.ID)
	if err != nil {
		return SignedIn{}, err
	}
	if enrolled {
		p := auth.NewPending(u.ID, u.PasswordHash, s.now())
		return SignedIn{Pending: &p}, nil
	}
	required, err := s.requiresSecondFactor(ctx, u.ID)
	if err != nil {
		return SignedIn{}, err
	}
	if required {
		// Their group requires a factor they have not set up: a session
		// that reaches only the enrolment pages (handlers: requireAccess).
		method = auth.MethodPasswordEnrol
	}
	var newHash string
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return SignedIn{}, err
		}
	}
	var out SignedIn
	sys := rule.SystemContext(ctx)
	err = database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		out, err = s.StartSession(sys, tx, u, method, in.Replace, nil, func(upd *ent.UserUpdateOne) {
			if newHash != "" {
				upd.SetPasswordHash(newHash)
			}
			firstZone(upd, u, in.TimeZone)
		})
		return err
	})
	if err != nil {
		return SignedIn{}, err
	}
	return out, nil
}

// SignOut ends the session rec in the transaction that records it.
func (s *Service) SignOut(ctx context.Context, rec *auth.SessionRecord) error {
	return database.WithTx(rule.SystemContext(ctx), s.client, func(tx *ent.Tx) error {
		if err := s.sessions.RevokeWith(ctx, tx, rec.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.Logout, TargetType: "session", TargetID: rec.ID.String(), TargetLabel: rec.Email,
		})
	})
}

// methodDetails are a password sign-in's audit details: the method when it
// is not the password alone (password:enrol), nothing otherwise.
// firstZone makes zone (the browser's) the account's time zone while it
// has none (identity.FirstZone).
func firstZone(upd *ent.UserUpdateOne, u *ent.User, zone string) {
	if z, ok := identity.FirstZone(u.TimeZone, zone); ok {
		upd.SetTimeZone(z)
	}
}

func methodDetails(method string) map[string]any {
	if method == auth.MethodPassword {
		return nil
	}
	return map[string]any{"method": method}
}
