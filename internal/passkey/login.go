package passkey

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/user"
	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
)

// BeginLogin starts a sign-in with a passkey alone: the options for
// navigator.credentials.get (no credentials listed: the browser offers
// the site's passkeys, and the one chosen names its user) and the
// ceremony's cookie.
func (s *Service) BeginLogin() ([]byte, *http.Cookie, error) {
	opts, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	ck, err := s.begin(kindLogin, sd, uuid.Nil, "", "")
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(opts)
	return body, ck, err
}

// BeginSecondFactor starts the second step of the pending sign-in p with
// one of its user's passkeys (those listed in the options). A pending
// sign-in expired, of an account gone or whose password changed is
// account.ErrPendingExpired; a user without passkeys is app.ErrNotFound.
func (s *Service) BeginSecondFactor(ctx context.Context, p auth.Pending) ([]byte, *http.Cookie, error) {
	u, rows, err := s.pendingUser(ctx, s.client, p)
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, &app.Invalid{Key: "passkeys.signin.none"}
	}
	opts, sd, err := s.wa.BeginLogin(adapter(u, rows), webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin second step: %w", err)
	}
	ck, err := s.begin(kindSecond, sd, u.ID, "", p.NonceHash())
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(opts)
	return body, ck, err
}

// pendingUser is the user of the pending sign-in p with their passkeys,
// checked as account.SignInSecondFactor checks it.
func (s *Service) pendingUser(ctx context.Context, client *ent.Client, p auth.Pending) (*ent.User, []*ent.WebAuthnCredential, error) {
	if p.UserID == uuid.Nil || p.Expired(s.now()) {
		return nil, nil, account.ErrPendingExpired
	}
	u, rows, err := loadUser(ctx, client, p.UserID)
	if err != nil {
		return nil, nil, err
	}
	if u == nil || subtle.ConstantTimeCompare([]byte(auth.PasswordFingerprint(u.PasswordHash)), []byte(p.PasswordHash)) != 1 {
		return nil, nil, account.ErrPendingExpired
	}
	return u, rows, nil
}

// LoginInput is the answer of the browser to a sign-in ceremony: the
// ceremony's cookie, the PublicKeyCredential as JSON, the session the
// browser already holds (uuid.Nil for none), which a sign-in ends, and
// for a second step, the pending sign-in.
type LoginInput struct {
	Cookie  string
	Body    io.Reader
	Replace uuid.UUID
	Pending auth.Pending
}

// FinishLogin completes a sign-in with a passkey alone: the credential's
// user handle names the user (active, not deleted), the signature and the
// user verification are checked, and the sign counter must go up (CounterOK;
// a refusal is audited with the reason "sign counter"). The session's
// method is "passkey": with user verification a passkey is two factors,
// so no second step follows and a group's policy is satisfied.
// Failures are audited (login.failed) and throttled per address.
func (s *Service) FinishLogin(ctx context.Context, in LoginInput) (account.SignedIn, error) {
	c, err := s.open(in.Cookie, kindLogin)
	if err != nil {
		return account.SignedIn{}, ErrCeremony
	}
	return s.finish(ctx, c, in, false)
}

// FinishSecondFactor completes the pending sign-in in.Pending with one of
// its user's passkeys: the session's method is the first step's followed
// by "+passkey". Failures are audited as a wrong code
// (login.second_factor_failed) and throttled with the password failures.
func (s *Service) FinishSecondFactor(ctx context.Context, in LoginInput) (account.SignedIn, error) {
	c, err := s.open(in.Cookie, kindSecond)
	if err != nil || c.U != in.Pending.UserID || c.P != in.Pending.NonceHash() {
		return account.SignedIn{}, ErrCeremony
	}
	if _, _, err := s.pendingUser(ctx, s.client, in.Pending); err != nil {
		return account.SignedIn{}, err
	}
	return s.finish(ctx, c, in, true)
}

func (s *Service) finish(ctx context.Context, c ceremony, in LoginInput, second bool) (account.SignedIn, error) {
	sd, err := c.session()
	if err != nil {
		return account.SignedIn{}, ErrCeremony
	}
	sys := rule.SystemContext(ctx)
	if spent, err := s.spent(sys, s.db, audit.LoginSucceeded, c); err != nil || spent {
		if err == nil {
			err = ErrCeremony
		}
		return account.SignedIn{}, err
	}
	ip := auth.RequestInfoFrom(ctx).IP
	parsed, perr := protocol.ParseCredentialRequestResponseBody(io.LimitReader(in.Body, 64<<10))
	var (
		out     account.SignedIn
		wait    time.Duration
		refusal error // committed with its audit event
	)
	err = database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		// Who signs in: the ceremony's user for a second step, else the
		// credential's user handle (the user's id). Their row is locked:
		// two answers of one ceremony take turns, the second finds it
		// spent, and each sees the failures before it.
		userID := c.U
		if !second && perr == nil && len(parsed.Response.UserHandle) == 16 {
			userID, _ = uuid.FromBytes(parsed.Response.UserHandle)
		}
		var u *ent.User
		if userID != uuid.Nil {
			found, err := tx.User.Query().Where(user.ID(userID)).ForUpdate().Only(sys)
			if err != nil && !ent.IsNotFound(err) {
				return fmt.Errorf("passkey: load account: %w", err)
			}
			u = found
		}
		if second && u == nil {
			return account.ErrPendingExpired
		}
		var err error
		if second {
			wait, err = s.throttle.RetryAfterWith(sys, tx, u.Email, ip)
		} else {
			wait, err = s.throttle.RetryAfterIPWith(sys, tx, ip)
		}
		if err != nil || wait > 0 {
			return err
		}
		fail := func(reason string) error {
			refusal = ErrSignInFailed
			e := audit.Event{Action: audit.LoginFailed, TargetType: "user", TargetLabel: "passkey",
				Details: map[string]any{"method": Method, "reason": reason}}
			if second {
				e.Action = audit.LoginSecondFactorFailed
				refusal = &app.Invalid{Key: "passkeys.signin.failed"}
			}
			if u != nil {
				e.TargetID, e.TargetLabel = u.ID.String(), u.Email
			}
			return audit.Record(sys, tx.AuditEvent, e)
		}
		if perr != nil {
			return fail("malformed answer")
		}
		if u == nil || !u.IsActive || u.DeletedAt != nil {
			return fail("unknown or inactive account")
		}
		if spent, err := s.spent(sys, tx, audit.LoginSucceeded, c); err != nil || spent {
			if err == nil {
				err = ErrCeremony
			}
			return err
		}
		method := Method
		if second {
			method = auth.FactorMethod(in.Pending.Method, Kind)
		}
		// Under "require single sign-on", a passkey opens no session for
		// an account that is not break-glass. Asked once who signs in is
		// proven, before anything is written (the sign counter): for a
		// second step the password proved it, so before the passkey is
		// checked; for a passkey alone, only after its signature, or the
		// answer would tell anyone naming a user handle whether that
		// account is break-glass.
		ssoBlocks := func() (bool, error) {
			blocked, err := s.accounts.SSOBlocks(sys, tx.Client(), u, method)
			if blocked {
				refusal = account.SSORefusal()
			}
			return blocked, err
		}
		if second {
			spent, err := s.accounts.PendingSpent(sys, tx, in.Pending)
			if err != nil {
				return err
			}
			if spent {
				return account.ErrPendingExpired
			}
			if blocked, err := ssoBlocks(); err != nil || blocked {
				return err
			}
		}
		_, rows, err := loadUser(sys, tx.Client(), u.ID)
		if err != nil {
			return err
		}
		w := adapter(u, rows)
		var cred *webauthn.Credential
		if second {
			cred, err = s.wa.ValidateLogin(w, sd, parsed)
		} else {
			_, cred, err = s.wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return w, nil }, sd, parsed)
		}
		if err != nil {
			return fail("not verified")
		}
		var row *ent.WebAuthnCredential
		for _, r := range rows {
			if sameBytes(r.CredentialID, cred.ID) {
				row = r
			}
		}
		if row == nil {
			return fail("unknown passkey")
		}
		if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
			return fail("user not verified")
		}
		got := parsed.Response.AuthenticatorData.Counter
		if !CounterOK(row.SignCount, got) {
			return fail("sign counter")
		}
		if !second {
			if blocked, err := ssoBlocks(); err != nil || blocked {
				return err
			}
		}
		if err := tx.WebAuthnCredential.UpdateOneID(row.ID).SetSignCount(int64(got)).SetLastUsedAt(s.now()).
			SetBackupState(parsed.Response.AuthenticatorData.Flags.HasBackupState()).Exec(sys); err != nil {
			return fmt.Errorf("passkey: record use: %w", err)
		}
		details := map[string]any{"ceremony": c.spentHash(), "passkey": row.ID.String()}
		if second {
			details["pending"] = in.Pending.NonceHash()
		}
		out, err = s.accounts.StartSession(sys, tx, u, method, in.Replace, details)
		return err
	})
	switch {
	case err != nil:
		return account.SignedIn{}, err
	case wait > 0:
		return account.SignedIn{}, errors.Join(&account.Throttled{Wait: wait}, &app.Invalid{Key: "auth.login.throttled"})
	case refusal != nil:
		return account.SignedIn{}, refusal
	}
	return out, nil
}
