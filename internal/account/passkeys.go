package account

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/webauthncredential"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	accountview "violet/views/account"
)

// Reauthenticated runs change after the re-authentication of a change of
// factors (withReauth: the password and, with an app, a code; throttled
// and audited like a sign-in), in the transaction that checked it. The
// passkey workflows (internal/passkey) ask it before adding or removing
// one.
func (s *Service) Reauthenticated(ctx context.Context, in Reauth, change func(tx *ent.Tx, u *ent.User) error) error {
	return s.withReauth(ctx, in, func(tx *ent.Tx, u *ent.User, _ bool) error { return change(tx, u) })
}

// StartSession is the end of every sign-in, once its checks are made in
// tx (a password, a second step, a provider, a passkey): it ends the
// browser's old session replace (uuid.Nil for none), sets last_login_at
// (with update's changes to the account: a rehashed password, a first
// time zone), creates the session of method and records login.succeeded
// with the method (none for a password alone) and details, all in tx.
func (s *Service) StartSession(ctx context.Context, tx *ent.Tx, u *ent.User, method string, replace uuid.UUID,
	details map[string]any, update ...func(*ent.UserUpdateOne)) (SignedIn, error) {
	var out SignedIn
	if replace != uuid.Nil {
		if err := s.sessions.RevokeWith(ctx, tx, replace); err != nil {
			return SignedIn{}, err
		}
	}
	upd := tx.User.UpdateOneID(u.ID).SetLastLoginAt(s.now())
	for _, f := range update {
		f(upd)
	}
	if err := upd.Exec(ctx); err != nil {
		return SignedIn{}, fmt.Errorf("record sign-in: %w", err)
	}
	var err error
	if out.Token, out.Session, err = s.sessions.Create(ctx, tx, u.ID, method); err != nil {
		return SignedIn{}, err
	}
	d := methodDetails(method)
	for k, v := range details {
		if d == nil {
			d = map[string]any{}
		}
		d[k] = v
	}
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.LoginSucceeded, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		Actor: out.Session.Viewer(), Details: d,
	}); err != nil {
		return SignedIn{}, err
	}
	return out, nil
}

// PendingSpent reports, in tx, whether the pending sign-in p was already
// completed (its login.succeeded keeps the nonce's hash).
func (s *Service) PendingSpent(ctx context.Context, tx *ent.Tx, p auth.Pending) (bool, error) {
	var spent bool
	err := database.QueryValue(ctx, tx, &spent, pendingSpentQuery, p.UserID, p.NonceHash(), s.now().Add(-auth.PendingTTL-time.Minute))
	return spent, err
}

// passkeys are userID's passkeys as the security page lists them, oldest
// first (registered through internal/passkey).
func (s *Service) passkeys(ctx context.Context, userID uuid.UUID) ([]accountview.Passkey, error) {
	rows, err := s.client.WebAuthnCredential.Query().Where(webauthncredential.UserID(userID)).
		Order(ent.Asc(webauthncredential.FieldCreatedAt)).All(rule.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("load passkeys: %w", err)
	}
	out := make([]accountview.Passkey, 0, len(rows))
	for _, r := range rows {
		out = append(out, accountview.Passkey{ID: r.ID.String(), Name: r.Name, Added: r.CreatedAt, LastUsed: r.LastUsedAt,
			Synced: r.BackupState, Syncable: r.BackupEligible})
	}
	return out, nil
}
