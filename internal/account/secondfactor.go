package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/factor"
)

// ErrPendingExpired: the pending sign-in is older than auth.PendingTTL,
// was already completed, or the password changed since: the password
// must be typed again.
var ErrPendingExpired = errors.New("pending sign-in expired")

// hasSecondFactor reports whether userID has a confirmed factor: an app
// or a passkey (factor.NeedOf, read from the tables: no key needed).
func (s *Service) hasSecondFactor(ctx context.Context, userID uuid.UUID) (bool, error) {
	need, err := factor.NeedOf(ctx, s.client, userID)
	return need == factor.NeedCode, err
}

// SecondFactorInput is the second step of a sign-in: the pending sign-in
// (from its cookie), the code typed, and the session the browser already
// holds (uuid.Nil for none), which a sign-in ends.
type SecondFactorInput struct {
	Pending  auth.Pending
	Code     string
	Replace  uuid.UUID
	TimeZone string
}

// pendingSpentQuery finds the sign-in that completed a pending one: its
// login.succeeded event keeps the nonce's hash, so a pending sign-in
// completes once. Only events younger than a pending sign-in can live
// ($3) are read: a user's whole history is not scanned at each code.
const pendingSpentQuery = `SELECT EXISTS (SELECT 1 FROM audit_events
	WHERE actor_id = $1 AND action = 'login.succeeded' AND details->>'pending' = $2 AND created_at > $3)`

// SignInSecondFactor completes a pending sign-in with an app code or a
// recovery code: the session's method says which, after the first step's
// (password+totp, oidc:<key>+recovery). Wrong codes are audited
// (login.second_factor_failed) and throttled with the password failures
// of the same email and address; a pending sign-in expired, already used
// or whose password changed is ErrPendingExpired.
//
// The throttle is read, and a wrong code recorded, inside the transaction
// that holds the user's row lock: requests of a burst take turns, and each
// sees the failures of those before it (a wrong code commits its audit
// event and nothing else).
func (s *Service) SignInSecondFactor(ctx context.Context, in SecondFactorInput) (SignedIn, error) {
	f, err := s.factorService()
	if err != nil {
		return SignedIn{}, err
	}
	sys := rule.SystemContext(ctx)
	if in.Pending.Expired(s.now()) {
		return SignedIn{}, ErrPendingExpired
	}
	u, err := s.client.User.Get(sys, in.Pending.UserID)
	if ent.IsNotFound(err) {
		return SignedIn{}, ErrPendingExpired
	}
	if err != nil {
		return SignedIn{}, fmt.Errorf("load account: %w", err)
	}
	if !u.IsActive || subtle.ConstantTimeCompare([]byte(auth.PasswordFingerprint(u.PasswordHash)), []byte(in.Pending.PasswordHash)) != 1 {
		return SignedIn{}, ErrPendingExpired
	}
	if strings.TrimSpace(in.Code) == "" {
		return SignedIn{}, app.Invalidf("code", "form.required")
	}
	if len(in.Code) > 64 {
		return SignedIn{}, app.Invalidf("code", "factors.code_wrong")
	}

	var (
		out   SignedIn
		wait  time.Duration
		wrong error // the refusal of a wrong code, committed with its audit event
	)
	err = database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		// The user's row is locked first: two requests with one pending
		// sign-in take turns, and the second finds it spent, or finds the
		// first one's failure in the throttle.
		if _, err := tx.User.Query().Where(user.ID(u.ID)).ForUpdate().Only(sys); err != nil {
			return fmt.Errorf("load account: %w", err)
		}
		var err error
		if wait, err = s.throttle.RetryAfterWith(sys, tx, u.Email, auth.RequestInfoFrom(ctx).IP); err != nil || wait > 0 {
			return err
		}
		var spent bool
		if err := database.QueryValue(sys, tx, &spent, pendingSpentQuery, u.ID, in.Pending.NonceHash(),
			s.now().Add(-auth.PendingTTL-time.Minute)); err != nil {
			return err
		}
		if spent {
			return ErrPendingExpired
		}
		// Single sign-on required since the password was checked: the
		// second step opens no session either. Asked before the code is
		// verified, which spends it (a recovery code, an app code's time
		// step): a refused sign-in leaves the code usable. The password
		// was proven by the first step, so the answer reveals nothing.
		first := in.Pending.Method
		if first == "" {
			first = auth.MethodPassword
		}
		if blocked, err := s.SSOBlocks(sys, tx.Client(), u, first); err != nil || blocked {
			if blocked {
				wrong = SSORefusal()
			}
			return err
		}
		used, err := f.Verify(sys, tx, u.ID, in.Code)
		if errors.Is(err, factor.ErrWrongCode) || errors.Is(err, factor.ErrSealed) {
			wrong = wrongCode(err)
			if errors.Is(err, factor.ErrSealed) {
				s.warnSealed(ctx, u.ID)
			}
			return audit.Record(sys, tx.AuditEvent, audit.Event{
				Action: audit.LoginSecondFactorFailed, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
				Details: sealedDetails(err),
			})
		}
		if err != nil {
			return err
		}
		method := auth.FactorMethod(in.Pending.Method, used.Kind)
		if out, err = s.StartSession(sys, tx, u, method, in.Replace, map[string]any{"pending": in.Pending.NonceHash()},
			func(upd *ent.UserUpdateOne) { firstZone(upd, u, in.TimeZone) }); err != nil {
			return err
		}
		if used.Kind == factor.KindRecovery {
			out.RecoveryUsed, out.RecoveryLeft = true, used.RecoveryLeft
			return audit.Record(sys, tx.AuditEvent, audit.Event{
				Action: audit.FactorRecoveryUsed, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
				Actor: out.Session.Viewer(), Details: map[string]any{"left": used.RecoveryLeft},
			})
		}
		return nil
	})
	switch {
	case err != nil:
		return SignedIn{}, err
	case wait > 0:
		return SignedIn{}, refuse(&Throttled{Wait: wait}, &app.Invalid{Key: "auth.login.throttled"})
	case wrong != nil:
		return SignedIn{}, wrong
	}
	return out, nil
}

// wrongCode is the refusal of a code that did not open: a stored secret
// this instance's key cannot open (the session key changed: ErrSealed)
// counts as a wrong code, and the form says a recovery code still works.
func wrongCode(err error) error {
	key := "factors.code_wrong"
	if errors.Is(err, factor.ErrSealed) {
		key = "factors.code_sealed"
	}
	return refuse(ErrSignInFailed, app.Invalidf("code", key))
}

// sealedDetails say in the audit why a code failed when the stored secret
// could not be opened (no secret in them): what an administrator needs to
// see after a change of SESSION_KEY.
func sealedDetails(err error) map[string]any {
	if errors.Is(err, factor.ErrSealed) {
		return map[string]any{"reason": "secret sealed under another key"}
	}
	return nil
}
