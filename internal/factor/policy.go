package factor

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/user"
	"violet/ent/usertotp"
	"violet/ent/webauthncredential"
	"violet/internal/auth/rule"
)

// Need is what a sign-in of someone still needs once their first step
// (a password, a provider) is done.
type Need int

const (
	// NeedNothing: no factor and none required: a full session.
	NeedNothing Need = iota
	// NeedCode: a confirmed authenticator app or a passkey: no session
	// before the second step.
	NeedCode
	// NeedEnrol: a group requires a factor they have not set up: a
	// session that reaches only the enrolment pages.
	NeedEnrol
)

// NeedOf reads userID's factors and groups' policy through client (a
// transaction's client, tx.Client(), inside one). It is a function, not a
// method of Service: it needs no key, so every sign-in path (the
// password, a reset link, a provider) can apply the same rule. A passkey
// counts as a factor like the app: someone with one gets the second step
// (where the passkey, or the app, completes it) and is not asked to enrol.
func NeedOf(ctx context.Context, client *ent.Client, userID uuid.UUID) (Need, error) {
	totp, passkeys, err := Factors(ctx, client, userID)
	if err != nil {
		return NeedNothing, err
	}
	if totp || passkeys > 0 {
		return NeedCode, nil
	}
	required, err := Required(ctx, client, userID)
	if err != nil {
		return NeedNothing, err
	}
	if required {
		return NeedEnrol, nil
	}
	return NeedNothing, nil
}

// Factors reads userID's confirmed factors through client: whether they
// have an authenticator app, and how many passkeys.
func Factors(ctx context.Context, client *ent.Client, userID uuid.UUID) (totp bool, passkeys int, err error) {
	sys := rule.SystemContext(ctx)
	if totp, err = client.UserTOTP.Query().Where(usertotp.UserID(userID), usertotp.ConfirmedAtNotNil()).Exist(sys); err != nil {
		return false, 0, fmt.Errorf("load factors: %w", err)
	}
	if passkeys, err = client.WebAuthnCredential.Query().Where(webauthncredential.UserID(userID)).Count(sys); err != nil {
		return false, 0, fmt.Errorf("load factors: %w", err)
	}
	return totp, passkeys, nil
}

// Required reports whether one of userID's groups requires a second
// factor (groups.require_second_factor).
func Required(ctx context.Context, client *ent.Client, userID uuid.UUID) (bool, error) {
	required, err := client.Group.Query().
		Where(group.HasUsersWith(user.ID(userID)), group.RequireSecondFactor(true)).Exist(rule.SystemContext(ctx))
	if err != nil {
		return false, fmt.Errorf("load second factor policy: %w", err)
	}
	return required, nil
}
