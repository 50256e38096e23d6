package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/user"
	"violet/ent/usertotp"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/factor"
	"violet/internal/identity"
)

// ErrPendingExpired: the pending sign-in is older than auth.PendingTTL,
// was already completed, or the password changed since: the password
// must be typed again.
var ErrPendingExpired = errors.New("pending sign-in expired")

// hasSecondFactor reports whether userID has a confirmed factor.
func (s *Service) hasSecondFactor(ctx context.Context, userID uuid.UUID) (bool, error) {
	if s.factors == nil {
		// Without the factors nobody may pass with a password alone if
		// they have set one up: ask the table directly.
		return s.client.UserTOTP.Query().Where(usertotp.UserID(userID), usertotp.ConfirmedAtNotNil()).Exist(rule.SystemContext(ctx))
	}
	return s.factors.Enrolled(ctx, nil, userID)
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
// completes once.
const pendingSpentQuery = `SELECT EXISTS (SELECT 1 FROM audit_events
	WHERE actor_id = $1 AND action = 'login.succeeded' AND details->>'pending' = $2)`

// SignInSecondFactor completes a pending sign-in with an app code or a
// recovery code: the session's method says which. Wrong codes are audited
// (login.second_factor_failed) and throttled with the password failures
// of the same email and address; a pending sign-in expired, already used
// or whose password changed is ErrPendingExpired.
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
	wait, err := s.throttle.RetryAfter(ctx, u.Email, auth.RequestInfoFrom(ctx).IP)
	if err != nil {
		return SignedIn{}, err
	}
	if wait > 0 {
		return SignedIn{}, refuse(&Throttled{Wait: wait}, &app.Invalid{Key: "auth.login.throttled"})
	}

	var out SignedIn
	err = database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		// The user's row is locked first: two requests with one pending
		// sign-in take turns, and the second finds it spent.
		if _, err := tx.User.Query().Where(user.ID(u.ID)).ForUpdate().Only(sys); err != nil {
			return fmt.Errorf("load account: %w", err)
		}
		var spent bool
		if err := scanOne(sys, tx, &spent, pendingSpentQuery, u.ID, in.Pending.NonceHash()); err != nil {
			return err
		}
		if spent {
			return ErrPendingExpired
		}
		used, err := f.Verify(sys, tx, u.ID, in.Code)
		if err != nil {
			return err
		}
		method := auth.MethodPasswordTOTP
		if used.Kind == factor.KindRecovery {
			method = auth.MethodPasswordRecovery
			out.RecoveryUsed, out.RecoveryLeft = true, used.RecoveryLeft
		}
		if in.Replace != uuid.Nil {
			if err := s.sessions.RevokeWith(sys, tx, in.Replace); err != nil {
				return err
			}
		}
		upd := tx.User.UpdateOneID(u.ID).SetLastLoginAt(s.now())
		if zone, ok := identity.FirstZone(u.TimeZone, in.TimeZone); ok {
			upd.SetTimeZone(zone)
		}
		if err := upd.Exec(sys); err != nil {
			return err
		}
		if out.Token, out.Session, err = s.sessions.Create(sys, tx, u.ID, method); err != nil {
			return err
		}
		actor := out.Session.Viewer()
		if used.Kind == factor.KindRecovery {
			if err := audit.Record(sys, tx.AuditEvent, audit.Event{
				Action: audit.FactorRecoveryUsed, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
				Actor: actor, Details: map[string]any{"left": used.RecoveryLeft},
			}); err != nil {
				return err
			}
		}
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.LoginSucceeded, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Actor: actor, Details: map[string]any{"method": method, "pending": in.Pending.NonceHash()},
		})
	})
	if errors.Is(err, factor.ErrWrongCode) {
		if err := audit.Record(sys, s.client.AuditEvent, audit.Event{
			Action: audit.LoginSecondFactorFailed, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		}); err != nil {
			return SignedIn{}, err
		}
		return SignedIn{}, refuse(ErrSignInFailed, app.Invalidf("code", "factors.code_wrong"))
	}
	if err != nil {
		return SignedIn{}, err
	}
	return out, nil
}

// scanOne reads one row of one column through tx.
func scanOne(ctx context.Context, tx *ent.Tx, dst any, query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(dst); err != nil {
			return fmt.Errorf("query: %w", err)
		}
	}
	return rows.Err()
}
