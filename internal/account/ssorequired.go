package account

import (
	"context"
	"errors"
	"strings"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/ssopolicy"
)

// ErrSSORequired: the organisation requires single sign-on (the setting
// sso_required, Administration → Sign-in) and the account is not a
// break-glass one, so a password or a passkey alone does not sign it in.
var ErrSSORequired = errors.New("single sign-on required")

// SSOReason is the reason a refused sign-in's login.failed records.
const SSOReason = "single sign-on required"

// SSOMethod reports whether a session of method was opened through an
// identity provider (oidc:<key>, saml:<key>, with any second step).
func SSOMethod(method string) bool {
	return strings.HasPrefix(method, "oidc:") || strings.HasPrefix(method, "saml:")
}

// SSORequired reads the sso_required setting (false when it is missing,
// true when it is not a JSON boolean: ssopolicy.Required).
func SSORequired(ctx context.Context, client *ent.Client) (bool, error) {
	return ssopolicy.Required(ctx, client)
}

// LockSSOPolicy takes the policy's lock for the rest of tx and reads
// whether the policy is on (ssopolicy.Lock).
func LockSSOPolicy(ctx context.Context, tx *ent.Tx) (bool, error) { return ssopolicy.Lock(ctx, tx) }

// SSORefusal is the answer to a sign-in SSOBlocks stopped: the sign-in
// form (or the passkey script) says to use a provider's button.
func SSORefusal() error {
	return refuse(ErrSSORequired, &app.Invalid{Key: "signin.sso_required"})
}

// SSOBlocks reports whether u may not sign in by method because single
// sign-on is required and u is not a break-glass account; when it blocks,
// it records login.failed (reason "single sign-on required") through
// client (the sign-in's transaction, or the plain client). Callers ask
// only once the credential was verified: asking before would tell anyone
// with an email address whether its account is a break-glass one.
func (s *Service) SSOBlocks(ctx context.Context, client *ent.Client, u *ent.User, method string) (bool, error) {
	if SSOMethod(method) || u.BreakGlass {
		return false, nil
	}
	on, err := SSORequired(ctx, client)
	if err != nil || !on {
		return false, err
	}
	err = audit.Record(rule.SystemContext(ctx), client.AuditEvent, audit.Event{
		Action: audit.LoginFailed, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		Details: map[string]any{"method": method, "reason": SSOReason},
	})
	return err == nil, err
}
