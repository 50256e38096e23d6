// Package invite is Violet's invitation workflow: single-use links that
// create an account with groups chosen in advance, or let an existing user
// choose a new password (a reset).
//
// Tokens are 32 random bytes in base64url; only their SHA-256 (hex) is
// stored, so the database never holds a usable link. A token is returned
// once, by Create, and never stored or logged.
//
// Who may grant what: an inviter may grant a group when the inviter is in the
// admin group, or when the group is not admin and the inviter holds every
// permission of the group. The rule is checked when the invitation is created
// and again when it is accepted, against the inviter's groups and permissions
// at that moment, so taking rights away from an inviter also takes them away
// from the links the inviter handed out. Invitations made by the system (the
// command line, the bootstrap link; created_by NULL) may grant anything.
//
// Acceptance is one transaction that starts with one conditional UPDATE
// claiming the invitation; concurrent acceptances of one link serialise on
// that row and all but one find nothing to claim.
package invite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/invitation"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/ent/setting"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/factor"
	"violet/internal/identity"
	"violet/internal/paths"
	"violet/internal/seed"
	"violet/internal/ssopolicy"
)

// Expiry bounds: the default when the setting is missing, and the longest
// an invitation may stay valid.
const (
	DefaultExpiry = 72 * time.Hour
	MaxExpiry     = 30 * 24 * time.Hour
)

// MaxEmailLen is the longest email address Violet stores.
const MaxEmailLen = identity.MaxEmailLen

// Errors of the workflow. ErrInvalid is the one answer for a link that is
// unknown, expired, used or revoked: callers must not tell them apart.
var (
	ErrInvalid      = errors.New("invitation link not valid")
	ErrNotGrantable = errors.New("the inviter may not grant this access")
	ErrExpiry       = errors.New("invitation expiry out of range")
	ErrUnknownGroup = errors.New("unknown group")
	ErrEmailTaken   = errors.New("an account already uses this email")
	ErrInactiveUser = errors.New("the account is deactivated")
	// ErrEmailUnusable is an invitation whose email address, made before
	// addresses were normalised as they are now, cannot be an account's.
	ErrEmailUnusable = errors.New("the invitation's email address is not usable")
)

// ClashError refuses an account whose address or display name is, or
// reads like, another account's (identity.Check). It is ErrEmailTaken
// when the address is the very same.
type ClashError struct{ Clash identity.Clash }

func (e ClashError) Error() string {
	switch {
	case e.Clash.Email == identity.Same:
		return ErrEmailTaken.Error()
	case e.Clash.Email != identity.None:
		return "the email address looks like another account's"
	default:
		return "the display name looks like another account's"
	}
}

// Is makes a clash on the very same address an ErrEmailTaken.
func (e ClashError) Is(target error) bool {
	return target == ErrEmailTaken && e.Clash.Email == identity.Same
}

// checkIdentity refuses, in tx, an address or name that another account
// has or reads like, after taking the identities' lock so that two
// look-alikes cannot pass at once.
func checkIdentity(ctx context.Context, tx *ent.Tx, email, name string) error {
	if err := identity.Lock(ctx, tx); err != nil {
		return err
	}
	c, err := identity.Check(ctx, tx.User, uuid.Nil, email, name)
	if err != nil {
		return err
	}
	if c.Any() {
		return ClashError{c}
	}
	return nil
}

// Status is where an invitation stands.
type Status string

// The statuses of an invitation.
const (
	Pending  Status = "pending"
	Accepted Status = "accepted"
	Expired  Status = "expired"
	Revoked  Status = "revoked"
)

// Statuses lists every status in the order the admin page shows them.
func Statuses() []Status { return []Status{Pending, Accepted, Expired, Revoked} }

// StatusOf tells where inv stands at now. Acceptance wins over revocation
// (a used link cannot be revoked anyway).
func StatusOf(inv *ent.Invitation, now time.Time) Status {
	switch {
	case inv.ConsumedAt != nil:
		return Accepted
	case inv.RevokedAt != nil:
		return Revoked
	case !now.Before(inv.ExpiresAt):
		return Expired
	default:
		return Pending
	}
}

// Where returns the predicate selecting the invitations in status s at now,
// consistent with StatusOf.
func Where(s Status, now time.Time) predicate.Invitation {
	switch s {
	case Accepted:
		return invitation.ConsumedAtNotNil()
	case Revoked:
		return invitation.And(invitation.ConsumedAtIsNil(), invitation.RevokedAtNotNil())
	case Expired:
		return invitation.And(invitation.ConsumedAtIsNil(), invitation.RevokedAtIsNil(), invitation.ExpiresAtLTE(now))
	default:
		return invitation.And(invitation.ConsumedAtIsNil(), invitation.RevokedAtIsNil(), invitation.ExpiresAtGT(now))
	}
}

// NewToken returns a fresh token and the hash to store for it.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is what the database keeps of a token: its SHA-256, in hex.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// URL is the link that opens an invitation on the instance at base.
func URL(base *url.URL, token string) string {
	return strings.TrimRight(base.String(), "/") + paths.URL(paths.Invitation, token)
}

// NormalizeEmail returns the stored form of an email address
// (identity.Email) and whether it is a usable one; "" when it is not.
func NormalizeEmail(s string) (string, bool) {
	e, err := identity.Email(s)
	return e, err == nil
}

// Grantor is what an inviter may grant: everything (the system, an
// admin), or the groups whose permissions it all holds.
type Grantor struct {
	system bool
	admin  bool
	perms  map[string]bool
}

// System is the grantor of invitations made by Violet itself.
func System() Grantor { return Grantor{system: true} }

// GrantorOf is the grantor of a signed-in viewer, whose permissions were
// read from the database for this request.
func GrantorOf(v *auth.Viewer) Grantor {
	if v == nil {
		return Grantor{}
	}
	g := Grantor{admin: v.IsAdmin(), perms: map[string]bool{}}
	for _, p := range v.Permissions() {
		g.perms[string(p)] = true
	}
	return g
}

// MayGrant reports whether g may grant grp, whose permissions must have
// been loaded (WithPermissions).
func (g Grantor) MayGrant(grp *ent.Group) bool {
	if g.system || g.admin {
		return true
	}
	if grp.Name == auth.GroupAdmin {
		return false
	}
	for _, p := range grp.Edges.Permissions {
		if !g.perms[p.Code] {
			return false
		}
	}
	return true
}

// MayGrantAll reports whether g may grant every one of groups.
func (g Grantor) MayGrantAll(groups []*ent.Group) bool {
	for _, grp := range groups {
		if !g.MayGrant(grp) {
			return false
		}
	}
	return true
}

// currentGrantor reads what a user may grant now: an account that is
// deactivated or deleted grants nothing.
func currentGrantor(ctx context.Context, tx *ent.Tx, userID uuid.UUID) (Grantor, error) {
	u, err := tx.User.Query().Where(user.ID(userID), user.IsActive(true)).
		WithGroups(func(q *ent.GroupQuery) { q.WithPermissions() }).Only(ctx)
	if ent.IsNotFound(err) {
		return Grantor{}, nil
	}
	if err != nil {
		return Grantor{}, fmt.Errorf("read inviter: %w", err)
	}
	g := Grantor{perms: map[string]bool{}}
	for _, grp := range u.Edges.Groups {
		if grp.Name == auth.GroupAdmin {
			g.admin = true
		}
		for _, p := range grp.Edges.Permissions {
			g.perms[p.Code] = true
		}
	}
	return g, nil
}

// GrantableGroups returns the groups g may grant, by name.
func GrantableGroups(ctx context.Context, client *ent.Client, g Grantor) ([]*ent.Group, error) {
	groups, err := client.Group.Query().WithPermissions().Order(ent.Asc(group.FieldName)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	return slices.DeleteFunc(groups, func(grp *ent.Group) bool { return !g.MayGrant(grp) }), nil
}

// DefaultExpiryOf reads the invitation.default_expiry_hours setting,
// DefaultExpiry when it is missing or unusable.
func DefaultExpiryOf(ctx context.Context, client *ent.Client) (time.Duration, error) {
	s, err := client.Setting.Query().Where(setting.Key(seed.SettingInvitationExpiryHours)).Only(ctx)
	if ent.IsNotFound(err) {
		return DefaultExpiry, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read invitation expiry setting: %w", err)
	}
	var hours int
	if json.Unmarshal(s.Value, &hours) != nil || hours <= 0 || time.Duration(hours)*time.Hour > MaxExpiry {
		return DefaultExpiry, nil
	}
	return time.Duration(hours) * time.Hour, nil
}

// Params describe an invitation to create.
type Params struct {
	// Inviter is the signed-in viewer creating it; nil for the system
	// (the command line, the bootstrap link), which may grant anything.
	Inviter   *auth.Viewer
	EmailHint string // normalised by NormalizeEmail; "" for none
	GroupIDs  []uuid.UUID
	// Expiry is how long the link stays valid; 0 means the setting's
	// default. More than MaxExpiry is refused.
	Expiry time.Duration
	// ResetUserID makes a password reset for that user instead of a new
	// account; GroupIDs must then be empty.
	ResetUserID uuid.UUID
}

// Create writes an invitation with its groups and its audit event in one
// transaction, after checking that the inviter may grant what it gives,
// and returns it with its token. The token is shown to the inviter once
// and kept nowhere. ctx decides the privacy rules: the request's context
// for a viewer, rule.SystemContext for the system.
func Create(ctx context.Context, client *ent.Client, now time.Time, p Params) (*ent.Invitation, string, error) {
	expiry := p.Expiry
	if expiry == 0 {
		var err error
		if expiry, err = DefaultExpiryOf(ctx, client); err != nil {
			return nil, "", err
		}
	}
	if expiry <= 0 || expiry > MaxExpiry {
		return nil, "", ErrExpiry
	}
	grantor := System()
	if p.Inviter != nil {
		grantor = GrantorOf(p.Inviter)
	}
	reset := p.ResetUserID != uuid.Nil
	if reset && len(p.GroupIDs) > 0 {
		return nil, "", errors.New("a password reset grants no groups")
	}
	token, hash := NewToken()
	var inv *ent.Invitation
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		var groups []*ent.Group
		if len(p.GroupIDs) > 0 {
			var err error
			groups, err = tx.Group.Query().Where(group.IDIn(p.GroupIDs...)).WithPermissions().
				Order(ent.Asc(group.FieldName)).All(ctx)
			if err != nil {
				return fmt.Errorf("read groups: %w", err)
			}
		}
		if len(groups) != len(uniq(p.GroupIDs)) {
			return ErrUnknownGroup
		}
		if !grantor.MayGrantAll(groups) {
			return ErrNotGrantable
		}
		label := p.EmailHint
		create := tx.Invitation.Create().SetTokenHash(hash).SetExpiresAt(now.Add(expiry)).AddGroups(groups...)
		if p.Inviter != nil {
			create.SetCreatedByID(p.Inviter.UserID)
		}
		details := map[string]any{"groups": names(groups), "expires_at": now.Add(expiry).UTC().Format(time.RFC3339)}
		switch {
		case reset:
			u, err := tx.User.Query().Where(user.ID(p.ResetUserID)).
				WithGroups(func(q *ent.GroupQuery) { q.WithPermissions() }).Only(ctx)
			if err != nil {
				return err // not found: the caller's 404
			}
			if !u.IsActive {
				return ErrInactiveUser
			}
			// A service account has no password to reset: it acts only
			// through API tokens (internal/apitoken).
			if u.ServiceAccount {
				return ErrNotGrantable
			}
			// Resetting someone's password is signing in as them: only
			// for an inviter who could have given them all their access.
			if !grantor.MayGrantAll(u.Edges.Groups) {
				return ErrNotGrantable
			}
			// One valid reset link per user: older ones stop working.
			older, err := tx.Invitation.Update().
				Where(invitation.ResetUserID(u.ID), Where(Pending, now)).
				SetRevokedAt(now).Save(ctx)
			if err != nil {
				return fmt.Errorf("revoke older reset links: %w", err)
			}
			details["older_links_revoked"] = older
			create.SetResetUserID(u.ID)
			label = u.Email
			details["reset"] = true
		case p.EmailHint != "":
			if err := checkIdentity(ctx, tx, p.EmailHint, ""); err != nil {
				return err
			}
			create.SetEmailHint(p.EmailHint)
		}
		var err error
		if inv, err = create.Save(ctx); err != nil {
			return fmt.Errorf("create invitation: %w", err)
		}
		inv.Edges.Groups = groups
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.InvitationCreated, TargetType: "invitation", TargetID: inv.ID.String(),
			TargetLabel: label, Details: details,
		})
	})
	if err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

// Revoke ends a pending invitation with its audit event. It reports
// whether anything changed: revoking a link that is already revoked, used
// or expired does nothing, so a double submit records one event.
func Revoke(ctx context.Context, client *ent.Client, id uuid.UUID, now time.Time) (*ent.Invitation, bool, error) {
	var changed bool
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		n, err := tx.Invitation.Update().Where(invitation.ID(id), Where(Pending, now)).
			SetRevokedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("revoke invitation: %w", err)
		}
		if n == 0 {
			return nil
		}
		changed = true
		inv, err := tx.Invitation.Get(ctx, id)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.InvitationRevoked, TargetType: "invitation", TargetID: id.String(),
			TargetLabel: inv.EmailHint,
		})
	})
	if err != nil {
		return nil, false, err
	}
	inv, err := client.Invitation.Query().Where(invitation.ID(id)).
		WithGroups(func(q *ent.GroupQuery) { q.Order(ent.Asc(group.FieldName)) }).
		WithCreatedBy().WithResetUser().Only(ctx)
	return inv, changed, err
}

// Open is a valid invitation as its acceptance page needs it.
type Open struct {
	EmailHint string
	// ResetEmail is the account whose password a reset link replaces; ""
	// for an invitation to a new account.
	ResetEmail string
}

// Lookup returns the invitation of token when it can still be accepted,
// ErrInvalid otherwise. It runs as the system (nobody is signed in); the
// acceptance itself decides again, in its transaction.
func Lookup(ctx context.Context, client *ent.Client, token string, now time.Time) (*Open, error) {
	inv, err := client.Invitation.Query().
		Where(invitation.TokenHash(HashToken(token)), Where(Pending, now)).
		WithResetUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("read invitation: %w", err)
	}
	o := &Open{EmailHint: inv.EmailHint}
	if inv.ResetUserID != nil {
		u := inv.Edges.ResetUser
		if u == nil || !u.IsActive {
			return nil, ErrInvalid
		}
		o.ResetEmail = u.Email
	}
	return o, nil
}

// Acceptance is what the invitee chose on the acceptance page. For a
// reset only PasswordHash counts.
type Acceptance struct {
	Email        string // used when the invitation has no email hint
	DisplayName  string
	Locale       string
	TimeZone     string // the browser's zone, stored while the account has none (identity.FirstZone)
	PasswordHash string
	// PreviousSession is the session the browser had, ended so that the
	// browser holds only the new account's session; uuid.Nil for none.
	PreviousSession uuid.UUID
}

// Result is a successful acceptance: the account and its new session.
type Result struct {
	UserID uuid.UUID
	Email  string
	Reset  bool
	Token  string // for the session cookie
	// Session is nil when the account has an authenticator app: the
	// password is set, and they sign in with it and a code.
	Session *auth.SessionRecord
	// SSORequired: the organisation requires single sign-on and the
	// account is not break-glass: the password is set (for the day the
	// policy is lifted or the account made break-glass) but no session
	// opened; they sign in through a provider.
	SSORequired bool
}

// claimQuery marks an invitation used if, and only if, it can still be
// used. Concurrent acceptances of one link wait for the first one's
// transaction on the row lock and then find consumed_at set.
const claimQuery = `UPDATE invitations SET consumed_at = $2, updated_at = $2
WHERE token_hash = $1 AND consumed_at IS NULL AND revoked_at IS NULL AND expires_at > $2
RETURNING id, email_hint, created_by_id, reset_user_id`

// Accept uses the invitation of token in one transaction: it claims the
// invitation, checks again that its inviter may grant its groups, creates
// the account with them (or, for a reset, sets the new password and ends
// every session of the account), records the audit event and starts a
// session. Any failure rolls everything back and leaves the invitation
// unused. ctx must be a system context: nobody is signed in.
func Accept(ctx context.Context, client *ent.Client, sessions *auth.SessionStore, now time.Time, token string, a Acceptance) (*Result, error) {
	var res *Result
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		var (
			id        uuid.UUID
			hint      string
			createdBy uuid.NullUUID
			resetUser uuid.NullUUID
		)
		rows, err := tx.QueryContext(ctx, claimQuery, HashToken(token), now)
		if err != nil {
			return fmt.Errorf("claim invitation: %w", err)
		}
		found := rows.Next()
		if found {
			err = rows.Scan(&id, &hint, &createdBy, &resetUser)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return fmt.Errorf("claim invitation: %w", err)
		}
		if !found {
			return ErrInvalid
		}
		grantor := System()
		if createdBy.Valid {
			if grantor, err = currentGrantor(ctx, tx, createdBy.UUID); err != nil {
				return err
			}
		}
		if a.PreviousSession != uuid.Nil {
			if err := sessions.RevokeWith(ctx, tx, a.PreviousSession); err != nil {
				return err
			}
		}
		if resetUser.Valid {
			res, err = acceptReset(ctx, tx, sessions, grantor, id, resetUser.UUID, a)
		} else {
			res, err = acceptNew(ctx, tx, sessions, grantor, id, hint, a)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// acceptNew creates the invited account, in the invitation's groups.
func acceptNew(ctx context.Context, tx *ent.Tx, sessions *auth.SessionStore, grantor Grantor, id uuid.UUID, hint string, a Acceptance) (*Result, error) {
	groups, err := tx.Group.Query().Where(group.HasInvitationsWith(invitation.ID(id))).
		WithPermissions().Order(ent.Asc(group.FieldName)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read invitation groups: %w", err)
	}
	if !grantor.MayGrantAll(groups) {
		return nil, ErrNotGrantable
	}
	// The address and name are normalised again here, whoever the caller:
	// a hint written before addresses were normalised as they are now
	// may not be usable, and then no account is made from it.
	given := a.Email
	if hint != "" {
		given = hint
	}
	email, err := identity.Email(given)
	switch {
	case err != nil && hint != "":
		return nil, fmt.Errorf("%w: %w", ErrEmailUnusable, err)
	case err != nil:
		return nil, fmt.Errorf("email: %w", err)
	}
	name, err := identity.DisplayName(a.DisplayName)
	if err != nil {
		return nil, fmt.Errorf("display name: %w", err)
	}
	if err := checkIdentity(ctx, tx, email, name); err != nil {
		return nil, err
	}
	create := tx.User.Create().SetEmail(email).SetDisplayName(name).
		SetLocale(user.Locale(a.Locale)).SetPasswordHash(a.PasswordHash).AddGroups(groups...)
	if zone, ok := identity.FirstZone("", a.TimeZone); ok {
		create.SetTimeZone(zone)
	}
	u, err := create.Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, ErrEmailTaken // taken a moment ago by another transaction
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	return finish(ctx, tx, sessions, id, u, false, map[string]any{"groups": names(groups)})
}

// acceptReset sets a new password on the account of a reset invitation
// and ends all its sessions.
func acceptReset(ctx context.Context, tx *ent.Tx, sessions *auth.SessionStore, grantor Grantor, id, userID uuid.UUID, a Acceptance) (*Result, error) {
	u, err := tx.User.Query().Where(user.ID(userID), user.IsActive(true), user.ServiceAccount(false)).
		WithGroups(func(q *ent.GroupQuery) { q.WithPermissions() }).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrInvalid // deleted or deactivated since, or a service account: the link is worthless
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	if !grantor.MayGrantAll(u.Edges.Groups) {
		return nil, ErrNotGrantable
	}
	upd := tx.User.UpdateOneID(u.ID).SetPasswordHash(a.PasswordHash)
	if zone, ok := identity.FirstZone(u.TimeZone, a.TimeZone); ok {
		upd.SetTimeZone(zone)
	}
	if err := upd.Exec(ctx); err != nil {
		return nil, fmt.Errorf("set password: %w", err)
	}
	ended, err := sessions.RevokeUser(ctx, tx, u.ID, uuid.Nil)
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.PasswordChanged, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		Details: map[string]any{"by": "reset invitation", "sessions_ended": ended},
	}); err != nil {
		return nil, err
	}
	return finish(ctx, tx, sessions, id, u, true, map[string]any{"reset": true})
}

// finish records who used the invitation, starts the account's session and
// writes the audit event, with the new account as its actor. The second
// factor's policy applies as at a sign-in (factor.NeedOf): someone with an
// authenticator app gets no session (a reset link proves the mailbox, not
// the app: they sign in with the new password and a code); someone whose
// group requires a factor they have not set up gets an enrolment-only one.
// Under "require single sign-on" an account that is not break-glass gets
// none either: they sign in through the provider (Result.SSORequired).
func finish(ctx context.Context, tx *ent.Tx, sessions *auth.SessionStore, id uuid.UUID, u *ent.User, reset bool, details map[string]any) (*Result, error) {
	if err := tx.Invitation.UpdateOneID(id).SetConsumedByID(u.ID).Exec(ctx); err != nil {
		return nil, fmt.Errorf("record invitation use: %w", err)
	}
	need, err := factor.NeedOf(ctx, tx.Client(), u.ID)
	if err != nil {
		return nil, err
	}
	res := &Result{UserID: u.ID, Email: u.Email, Reset: reset}
	// A password session would be the one way around "require single
	// sign-on" (account.SSOBlocks refuses it at the sign-in form).
	if !u.BreakGlass {
		if res.SSORequired, err = ssopolicy.Required(ctx, tx.Client()); err != nil {
			return nil, err
		}
	}
	// Without a session the account is still the actor (never whoever
	// the browser was signed in as).
	actor := auth.NewViewer(u.ID, u.Email, u.DisplayName, string(u.Locale), uuid.Nil, nil, nil)
	if need != factor.NeedCode && !res.SSORequired {
		method := auth.MethodPassword
		if need == factor.NeedEnrol {
			method = auth.MethodPasswordEnrol
		}
		if res.Token, res.Session, err = sessions.Create(ctx, tx, u.ID, method); err != nil {
			return nil, err
		}
		actor = res.Session.Viewer()
	}
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.InvitationAccepted, TargetType: "invitation", TargetID: id.String(), TargetLabel: u.Email,
		Details: details, Actor: actor,
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// bootstrapLock serialises bootstrap links of instances starting together
// ("violet-b").
const bootstrapLock int64 = 0x76696f6c65742d62

// Bootstrap makes the first administrator's invitation while the database
// has no users: it revokes the earlier bootstrap links (system-made, not
// resets, unused) so that only the newest one works, and returns its
// token. With users present it does nothing and returns "". ctx must be a
// system context.
func Bootstrap(ctx context.Context, client *ent.Client, now time.Time) (string, error) {
	var token string
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, bootstrapLock); err != nil {
			return fmt.Errorf("bootstrap lock: %w", err)
		}
		// Deleted accounts count: a database that had users is not new,
		// and `violet invite --admin` is there for recovering one.
		hasUsers, err := tx.User.Query().Exist(schema.SkipSoftDelete(ctx))
		if err != nil || hasUsers {
			return err
		}
		admin, err := tx.Group.Query().Where(group.Name(auth.GroupAdmin), group.IsSystem(true)).Only(ctx)
		if err != nil {
			return fmt.Errorf("read the admin group: %w", err)
		}
		old, err := tx.Invitation.Query().Where(invitation.CreatedByIDIsNil(), invitation.ResetUserIDIsNil(),
			invitation.ConsumedAtIsNil(), invitation.RevokedAtIsNil()).IDs(ctx)
		if err != nil {
			return fmt.Errorf("read bootstrap links: %w", err)
		}
		for _, id := range old {
			if err := tx.Invitation.UpdateOneID(id).SetRevokedAt(now).Exec(ctx); err != nil {
				return fmt.Errorf("revoke bootstrap link: %w", err)
			}
			if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.InvitationRevoked, TargetType: "invitation", TargetID: id.String(),
				Details: map[string]any{"reason": "replaced by a new bootstrap link"},
			}); err != nil {
				return err
			}
		}
		expiry, err := DefaultExpiryOf(ctx, tx.Client())
		if err != nil {
			return err
		}
		var hash string
		token, hash = NewToken()
		inv, err := tx.Invitation.Create().SetTokenHash(hash).SetExpiresAt(now.Add(expiry)).AddGroups(admin).Save(ctx)
		if err != nil {
			return fmt.Errorf("create bootstrap link: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.InvitationCreated, TargetType: "invitation", TargetID: inv.ID.String(),
			Details: map[string]any{"groups": []string{auth.GroupAdmin}, "bootstrap": true,
				"expires_at": now.Add(expiry).UTC().Format(time.RFC3339)},
		})
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

func names(groups []*ent.Group) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.Name
	}
	return out
}

func uniq(ids []uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out)
}
