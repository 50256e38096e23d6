package invite

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/invitation"
	"violet/ent/user"
	"violet/internal/audit"
)

// UnusablePasswordHash is the password hash of an account made through an
// identity provider: a well-formed argon2id PHC string (so a password
// sign-in costs the same work and fails like any wrong password, rather
// than erroring) of a random key no password was hashed into. Only a
// password reset link gives such an account a password.
func UnusablePasswordHash() string {
	salt, key := make([]byte, 16), make([]byte, 32)
	_, _ = rand.Read(salt) // crypto/rand never fails on supported platforms
	_, _ = rand.Read(key)
	return fmt.Sprintf("$argon2id$v=%d$m=19456,t=2,p=1$%s$%s", argon2.Version,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// claimByEmailQuery claims the newest open invitation (not a reset) made
// out to an address, under the same conditions as claimQuery; concurrent
// sign-ins of one person serialise on the row.
const claimByEmailQuery = `UPDATE invitations SET consumed_at = $2, updated_at = $2
WHERE id = (SELECT id FROM invitations
	WHERE email_hint = $1 AND reset_user_id IS NULL AND consumed_at IS NULL AND revoked_at IS NULL AND expires_at > $2
	ORDER BY created_at DESC LIMIT 1 FOR UPDATE)
AND consumed_at IS NULL
RETURNING id, created_by_id`

// AcceptExternal accepts, in the caller's transaction tx, the open
// invitation made out to email for a person an identity provider vouched
// for (provider names it in the audit): the account is made in the
// invitation's groups as Accept makes it, with UnusablePasswordHash, and
// the invitation is recorded as used. No open invitation for the address
// is ErrInvalid. The caller links the identity and starts the session.
// ctx must be a system context: nobody is signed in.
func AcceptExternal(ctx context.Context, tx *ent.Tx, now time.Time, email, displayName, provider string) (*ent.User, error) {
	email, err := identityEmail(email)
	if err != nil {
		return nil, err
	}
	var (
		id        uuid.UUID
		createdBy uuid.NullUUID
	)
	rows, err := tx.QueryContext(ctx, claimByEmailQuery, email, now)
	if err != nil {
		return nil, fmt.Errorf("claim invitation: %w", err)
	}
	found := rows.Next()
	if found {
		err = rows.Scan(&id, &createdBy)
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("claim invitation: %w", err)
	}
	if !found {
		return nil, ErrInvalid
	}
	grantor := System()
	if createdBy.Valid {
		if grantor, err = currentGrantor(ctx, tx, createdBy.UUID); err != nil {
			return nil, err
		}
	}
	groups, err := tx.Group.Query().Where(group.HasInvitationsWith(invitation.ID(id))).
		WithPermissions().Order(ent.Asc(group.FieldName)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read invitation groups: %w", err)
	}
	if !grantor.MayGrantAll(groups) {
		return nil, ErrNotGrantable
	}
	if err := checkIdentity(ctx, tx, email, displayName); err != nil {
		return nil, err
	}
	u, err := tx.User.Create().SetEmail(email).SetDisplayName(displayName).
		SetLocale(user.LocaleEn).SetPasswordHash(UnusablePasswordHash()).AddGroups(groups...).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	if err := tx.Invitation.UpdateOneID(id).SetConsumedByID(u.ID).Exec(ctx); err != nil {
		return nil, fmt.Errorf("record invitation use: %w", err)
	}
	return u, audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.InvitationAccepted, TargetType: "invitation", TargetID: id.String(), TargetLabel: u.Email,
		Details: map[string]any{"groups": names(groups), "provider": provider},
	})
}

// identityEmail is the stored form of an address the provider gave.
func identityEmail(s string) (string, error) {
	e, ok := NormalizeEmail(s)
	if !ok {
		return "", fmt.Errorf("%w: unusable email", ErrInvalid)
	}
	return e, nil
}
