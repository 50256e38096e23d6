package factor

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/user"
	"violet/ent/usertotp"
	"violet/internal/auth/rule"
)

// Need is what a sign-in of someone still needs once their first step
// (a password, a provider) is done.
type Need int

const (
	// NeedNothing: no factor and none required: a full session.
	NeedNothing Need = iota
	// NeedCode: a confirmed authenticator app: no session before a code.
	NeedCode
	// NeedEnrol: a group requires a factor they have not set up: a
	// session that reaches only the enrolment pages.
	NeedEnrol
)

// NeedOf reads userID's factors and groups' policy through client (a
// transaction's client, tx.Client(), inside one). It is a function, not a
// method of Service: it needs no key, so every sign-in path (the
// password, a reset link, a provider) can apply the same rule.
func NeedOf(ctx context.Context, client *ent.Client, userID uuid.UUID) (Need, error) {
	sys := rule.SystemContext(ctx)
	enrolled, err := client.UserTOTP.Query().Where(usertotp.UserID(userID), usertotp.ConfirmedAtNotNil()).Exist(sys)
	if err != nil {
		return NeedNothing, fmt.Errorf("load factors: %w", err)
	}
	if enrolled {
		return NeedCode, nil
	}
	required, err := client.Group.Query().
		Where(group.HasUsersWith(user.ID(userID)), group.RequireSecondFactor(true)).Exist(sys)
	if err != nil {
		return NeedNothing, fmt.Errorf("load second factor policy: %w", err)
	}
	if required {
		return NeedEnrol, nil
	}
	return NeedNothing, nil
}
