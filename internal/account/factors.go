package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/factor"
	accountview "violet/views/account"
)

// WithFactors gives the service the second factors (internal/factor),
// which the sign-in and the security page need, their secrets sealed under
// a key derived from sessionKey; without them (no key) a user who has an
// authenticator app cannot sign in (errNoFactors).
func (s *Service) WithFactors(sessionKey []byte) *Service {
	if f, err := factor.NewService(s.client, sessionKey, s.now); err == nil {
		s.factors = f
	}
	return s
}

// WithLog gives the service the server's log, for what an administrator
// must see that no page shows (a stored secret the key cannot open);
// without it (nil) slog's default logger is used.
func (s *Service) WithLog(log *slog.Logger) *Service {
	s.log = log
	return s
}

// warnSealed logs, once per attempt and without any secret, that userID's
// app secret cannot be opened: SESSION_KEY changed since it was stored.
func (s *Service) warnSealed(ctx context.Context, userID uuid.UUID) {
	log := s.log
	if log == nil {
		log = slog.Default()
	}
	log.WarnContext(ctx, "second factor: the stored authenticator app secret cannot be opened with this SESSION_KEY; the code counts as wrong, a recovery code still works",
		"user_id", userID.String())
}

// errNoFactors: the service was built without the factors (no session key).
var errNoFactors = errors.New("account: second factors not configured")

func (s *Service) factorService() (*factor.Service, error) {
	if s.factors == nil {
		return nil, errNoFactors
	}
	return s.factors, nil
}

// requiresSecondFactor reports whether one of userID's groups requires a
// second factor (groups.require_second_factor).
func (s *Service) requiresSecondFactor(ctx context.Context, userID uuid.UUID) (bool, error) {
	ok, err := s.client.Group.Query().
		Where(group.HasUsersWith(user.ID(userID)), group.RequireSecondFactor(true)).
		Exist(rule.SystemContext(ctx))
	if err != nil {
		return false, fmt.Errorf("load second factor policy: %w", err)
	}
	return ok, nil
}

// Security returns the security page's factors for the viewer; session is
// the request's session (an enrolment-only session says so; nil for none).
func (s *Service) Security(ctx context.Context, session *auth.SessionRecord) (accountview.Security, error) {
	f, err := s.factorService()
	if err != nil {
		return accountview.Security{}, err
	}
	v := auth.FromContext(ctx)
	st, err := f.Status(ctx, v.UserID)
	if err != nil {
		return accountview.Security{}, err
	}
	required, err := s.requiresSecondFactor(ctx, v.UserID)
	if err != nil {
		return accountview.Security{}, err
	}
	passkeys, err := s.passkeys(ctx, v.UserID)
	if err != nil {
		return accountview.Security{}, err
	}
	identities, linkable, err := s.identities(ctx, v.UserID)
	if err != nil {
		return accountview.Security{}, err
	}
	return accountview.Security{
		Identities: identities, Linkable: linkable,
		TOTP: st.TOTP, Since: st.Since, RecoveryLeft: st.RecoveryLeft, RecoveryTotal: factor.RecoveryCount,
		Required: required, Enrolling: session != nil && auth.IsEnrolMethod(session.Method),
		NoPassword: !PasswordAsked(session), Passkeys: passkeys,
	}, nil
}

// Reauth is what a change of factors asks first: the current password
// and, when the viewer has an app, a current code (an app code or a
// recovery code). Session is the request's session: one signed in through
// an identity provider is not asked a password (PasswordAsked).
type Reauth struct {
	Password string
	Code     string
	Session  *auth.SessionRecord
}

// FreshSignIn bounds how old the sign-in of a provider's session may be
// for it to count as the re-authentication of a first enrolment.
const FreshSignIn = 15 * time.Minute

// PasswordAsked reports whether a change of factors asks session's
// password. A session signed in through an identity provider is not
// asked it: an account the provider made has no password it knows (only
// a reset link gives it one), and the provider has just vouched for the
// person. Such a session re-authenticates with a current code, or, with
// no app yet, its sign-in less than FreshSignIn old.
func PasswordAsked(session *auth.SessionRecord) bool {
	return session == nil || !SSOMethod(session.Method)
}

// freshSignInQuery: session is the first of its chain (no token was
// replaced by it: never rotated) and was issued after $2.
const freshSignInQuery = `SELECT EXISTS (SELECT 1 FROM refresh_tokens rt WHERE rt.id = $1 AND rt.issued_at > $2
	AND NOT EXISTS (SELECT 1 FROM refresh_tokens old WHERE old.replaced_by_id = rt.id))`

// withReauth checks in, then runs change in a transaction; the code is
// checked (and spent) in that transaction, so a refused change spends
// nothing. Failures count for the login throttle and are audited like
// sign-in failures; their form errors name the field ("password",
// "code"). The throttle is read after the user's row is locked and a
// failure is committed with its audit event before the lock is released:
// a burst of attempts takes turns, each seeing the failures before it.
func (s *Service) withReauth(ctx context.Context, in Reauth, change func(tx *ent.Tx, u *ent.User, enrolled bool) error) error {
	f, err := s.factorService()
	if err != nil {
		return err
	}
	v := auth.FromContext(ctx)
	if len(in.Password) > auth.MaxPasswordBytes {
		return refuse(ErrOversized, app.Invalidf("password", "factors.reauth.password_too_long"))
	}
	enrolled, err := f.Enrolled(ctx, nil, v.UserID)
	if err != nil {
		return err
	}
	askPassword := PasswordAsked(in.Session)
	inv := &app.Invalid{}
	if askPassword && in.Password == "" {
		inv.Add("password", "form.required")
	}
	if enrolled && strings.TrimSpace(in.Code) == "" {
		inv.Add("code", "form.required")
	}
	if err := inv.Err(); err != nil {
		return err
	}
	var (
		wait   time.Duration
		failed error // a refusal committed with its audit event
	)
	fail := func(tx *ent.Tx, u *ent.User, action string, refusal error) error {
		failed = refusal
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: action, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"via": "factor_change"},
		})
	}
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		u, err := tx.User.Query().Where(user.ID(v.UserID)).ForUpdate().Only(rule.SystemContext(ctx))
		if err != nil {
			return fmt.Errorf("load account: %w", err)
		}
		if wait, err = s.throttle.RetryAfterWith(ctx, tx, v.Email, auth.RequestInfoFrom(ctx).IP); err != nil || wait > 0 {
			return err
		}
		if enrolled, err = f.Enrolled(ctx, tx, u.ID); err != nil {
			return err
		}
		if askPassword {
			ok, _, err := s.hasher.Verify(ctx, in.Password, u.PasswordHash)
			if errors.Is(err, auth.ErrHasherBusy) {
				return refuse(err, &app.Invalid{Key: "factors.reauth.busy"})
			}
			if err != nil {
				return err
			}
			if !ok {
				return fail(tx, u, audit.LoginFailed, app.Invalidf("password", "factors.reauth.password_wrong"))
			}
		} else if !enrolled {
			var fresh bool
			if err := database.QueryValue(ctx, tx, &fresh, freshSignInQuery, in.Session.ID, s.now().Add(-FreshSignIn)); err != nil {
				return err
			}
			if !fresh {
				return &app.Invalid{Key: "factors.reauth.sign_in_again"}
			}
		}
		if enrolled {
			used, err := f.Verify(ctx, tx, u.ID, in.Code)
			if errors.Is(err, factor.ErrWrongCode) || errors.Is(err, factor.ErrSealed) {
				if errors.Is(err, factor.ErrSealed) {
					s.warnSealed(ctx, u.ID)
					return fail(tx, u, audit.LoginSecondFactorFailed, app.Invalidf("code", "factors.code_sealed"))
				}
				return fail(tx, u, audit.LoginSecondFactorFailed, app.Invalidf("code", "factors.code_wrong"))
			}
			if err != nil {
				return err
			}
			if used.Kind == factor.KindRecovery {
				if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
					Action: audit.FactorRecoveryUsed, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
					Details: map[string]any{"left": used.RecoveryLeft, "via": "factor_change"},
				}); err != nil {
					return err
				}
			}
		}
		return change(tx, u, enrolled)
	})
	switch {
	case err != nil:
		return err
	case wait > 0:
		return refuse(&Throttled{Wait: wait}, &app.Invalid{Key: "factors.reauth.throttled"})
	}
	return failed
}

// Enrolment is an authenticator app being set up, as the enrolment page
// shows it.
func enrolmentView(e factor.Enrolment) accountview.Enrolment {
	return accountview.Enrolment{Secret: e.Secret, Token: e.Token, QRViewBox: e.QR.ViewBox(), QRPath: e.QR.Path}
}

// StartEnrolment re-authenticates the viewer and starts setting up an
// authenticator app (replacing theirs, if they have one, once confirmed).
func (s *Service) StartEnrolment(ctx context.Context, in Reauth) (accountview.Enrolment, error) {
	var u *ent.User
	if err := s.withReauth(ctx, in, func(_ *ent.Tx, who *ent.User, _ bool) error {
		u = who
		return nil
	}); err != nil {
		return accountview.Enrolment{}, err
	}
	e, err := s.factors.Begin(u.ID, u.Email)
	if err != nil {
		return accountview.Enrolment{}, err
	}
	return enrolmentView(e), nil
}

// ResumeEnrolment is the enrolment of token again, for its form shown
// with an error; an expired or foreign token is refused as a whole
// ("factors.enrol.expired").
func (s *Service) ResumeEnrolment(ctx context.Context, token string) (accountview.Enrolment, error) {
	f, err := s.factorService()
	if err != nil {
		return accountview.Enrolment{}, err
	}
	v := auth.FromContext(ctx)
	e, err := f.Resume(v.UserID, v.Email, token)
	if errors.Is(err, factor.ErrEnrolmentExpired) {
		return accountview.Enrolment{}, &app.Invalid{Key: "factors.enrol.expired"}
	}
	if err != nil {
		return accountview.Enrolment{}, err
	}
	return enrolmentView(e), nil
}

// ConfirmEnrolment stores the app of token once code matches it, with new
// recovery codes (returned to be shown once), in one transaction with its
// audit event. A session signed in only to enrol (auth.MethodPasswordEnrol)
// becomes a password+totp session in the same transaction: current is the
// request's session. A wrong code comes back with the enrolment to show
// again; an expired one without.
func (s *Service) ConfirmEnrolment(ctx context.Context, token, code string, current uuid.UUID) ([]string, accountview.Enrolment, error) {
	f, err := s.factorService()
	if err != nil {
		return nil, accountview.Enrolment{}, err
	}
	v := auth.FromContext(ctx)
	again, err := s.ResumeEnrolment(ctx, token)
	if err != nil {
		return nil, accountview.Enrolment{}, err
	}
	if strings.TrimSpace(code) == "" {
		return nil, again, app.Invalidf("code", "form.required")
	}
	var codes []string
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		// The user's row first: two confirmations take turns, and the
		// second finds its token voided by the first (factor.Confirm).
		if _, err := tx.User.Query().Where(user.ID(v.UserID)).ForUpdate().Only(rule.SystemContext(ctx)); err != nil {
			return fmt.Errorf("load account: %w", err)
		}
		replaced, err := f.Enrolled(ctx, tx, v.UserID)
		if err != nil {
			return err
		}
		if codes, err = f.Confirm(ctx, tx, v.UserID, token, code); err != nil {
			return err
		}
		ended, err := s.FactorAdded(ctx, tx, current, factor.KindTOTP)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.FactorTOTPEnrolled, TargetType: "user", TargetID: v.UserID.String(), TargetLabel: v.Email,
			Details: map[string]any{"replaced": replaced, "recovery_codes": len(codes), "sessions_ended": ended},
		})
	})
	switch {
	case errors.Is(err, factor.ErrWrongCode):
		return nil, again, app.Invalidf("code", "factors.code_wrong")
	case errors.Is(err, factor.ErrEnrolmentExpired):
		return nil, accountview.Enrolment{}, &app.Invalid{Key: "factors.enrol.expired"}
	case err != nil:
		return nil, accountview.Enrolment{}, err
	}
	return codes, accountview.Enrolment{}, nil
}

// RemoveTOTP re-authenticates the viewer and removes their app and
// recovery codes; refused while one of their groups requires a second
// factor and they have no passkey (it would be their last).
// It returns no codes (the shape of RegenerateRecovery, for the handler).
func (s *Service) RemoveTOTP(ctx context.Context, in Reauth) ([]string, error) {
	return nil, s.withReauth(ctx, in, func(tx *ent.Tx, u *ent.User, enrolled bool) error {
		if !enrolled {
			return app.ErrNotFound
		}
		required, err := s.requiresSecondFactor(ctx, u.ID)
		if err != nil {
			return err
		}
		// A passkey left is a factor left: the app is then not the last.
		_, passkeys, err := factor.Factors(ctx, tx.Client(), u.ID)
		if err != nil {
			return err
		}
		if required && passkeys == 0 {
			return &app.Invalid{Key: "factors.remove.required"}
		}
		if err := s.factors.Remove(ctx, tx, u.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.FactorTOTPRemoved, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		})
	})
}

// RegenerateRecovery re-authenticates the viewer and replaces their
// recovery codes, returned to be shown once.
func (s *Service) RegenerateRecovery(ctx context.Context, in Reauth) ([]string, error) {
	var codes []string
	err := s.withReauth(ctx, in, func(tx *ent.Tx, u *ent.User, enrolled bool) error {
		if !enrolled {
			return app.ErrNotFound
		}
		var err error
		if codes, err = s.factors.Regenerate(ctx, tx, u.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.FactorRecoveryRegenerated, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"recovery_codes": len(codes)},
		})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// FactorAdded finishes, in tx, the addition of a factor of kind (the app,
// a passkey) by the viewer in session current: an enrolment-only session
// (password:enrol, oidc:<key>:enrol) becomes a full one of its first step
// with that factor, and the viewer's other sessions end — whoever held
// one (a password that leaked, a browser left signed in) must now sign in
// with the new factor. It returns how many sessions ended, audited as
// session.ended when any did.
func (s *Service) FactorAdded(ctx context.Context, tx *ent.Tx, current uuid.UUID, kind string) (int, error) {
	v := auth.FromContext(ctx)
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET method = left(method, -length($2::text)) || $3
		WHERE id = $1 AND right(method, length($2::text)) = $2`,
		current, auth.EnrolSuffix, "+"+kind); err != nil {
		return 0, fmt.Errorf("upgrade session: %w", err)
	}
	ended, err := s.endOtherSessions(ctx, tx, current)
	if err != nil || ended == 0 {
		return ended, err
	}
	return ended, audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.SessionEnded, TargetType: "user", TargetID: v.UserID.String(), TargetLabel: v.Email,
		Details: map[string]any{"sessions_ended": ended, "others": true, "via": "factor_enrolled"},
	})
}
