// Package admission decides who a person an identity provider vouched for
// is in Violet, whatever the protocol (OpenID Connect or SAML): the user
// linked to the identity (issuer + subject, never the e-mail alone), or a
// new account for an open invitation or an allowed domain; then the
// mapped groups follow the provider's groups. Deactivated or deleted
// accounts stay out whatever the provider says.
package admission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/user"
	"violet/ent/useridentity"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/identity"
	"violet/internal/invite"
	"violet/internal/people"
)

// Claims is what Violet takes from a provider about a person.
type Claims struct {
	Issuer, Subject string
	Email           string // only when the provider says it is verified; "" otherwise
	Name            string
	Groups          []string // values of the groups claim (attribute)
	// HasGroups: the provider sent the groups (even an empty list).
	// Without them (not asked for, or too many groups to fit: Entra ID's
	// overage) Violet cannot tell who left a group, so it changes none.
	HasGroups bool
}

// Rules are a provider's admission rules.
type Rules struct {
	// Method names the provider in sessions, identities and the audit:
	// oidc:<key> or saml:<key>.
	Method string
	// GroupMap maps a value of the groups claim to a Violet group's name.
	GroupMap map[string]string
	// AllowedDomains maps an e-mail domain whose people get an account at
	// their first sign-in to the names of its default groups.
	AllowedDomains map[string][]string
}

// Refusal is a sign-in the provider vouched for (or tried to) that Violet
// refuses (403); Key is the message the page shows.
type Refusal struct {
	Key    string // i18n key of the explanation
	Reason string // what the audit records
}

func (r *Refusal) Error() string { return "single sign-on refused: " + r.Reason }

// The refusals, by what the page tells the person.
const (
	KeyInvalid  = "sso.refused.invalid"  // state, response or token not acceptable: start again
	KeyNoEmail  = "sso.refused.no_email" // no verified e-mail from the provider
	KeyUnknown  = "sso.refused.unknown"  // no invitation, domain not allowed
	KeyExisting = "sso.refused.existing" // an account has the address: its password links it
	KeyInactive = "sso.refused.inactive" // deactivated or deleted in Violet
	// Linking an identity to the signed-in account (Link).
	KeyLinkedElsewhere = "sso.refused.linked_elsewhere" // the identity is another account's
	KeyLinkedAlready   = "sso.refused.linked_already"   // the account has an identity at this provider
	KeyDomain          = "sso.refused.domain"           // the e-mail is outside the provider's allowed domains
	KeyLookalike       = "sso.refused.lookalike"        // the account would look like another
)

// Admit decides who the person c is, in one transaction with its audit:
// the user linked to the identity (issuer + subject), or a new account
// for an open invitation or an allowed domain; then the mapped groups
// follow the groups claim. Whatever the provider says, an account
// deactivated or deleted in Violet stays out: a *Refusal. now is the
// time of the sign-in.
func Admit(ctx context.Context, client *ent.Client, now time.Time, r Rules, c Claims) (uuid.UUID, error) {
	a := admitter{rules: r, now: now}
	sys := rule.SystemContext(ctx)
	var userID uuid.UUID
	err := database.WithTx(sys, client, func(tx *ent.Tx) error {
		ident, err := tx.UserIdentity.Query().
			Where(useridentity.Issuer(c.Issuer), useridentity.Subject(c.Subject)).Only(sys)
		var u *ent.User
		switch {
		case err == nil:
			// Deleted accounts are not found (soft delete): out, like
			// deactivated ones.
			u, err = tx.User.Query().Where(user.ID(ident.UserID), user.IsActive(true)).Only(sys)
			if ent.IsNotFound(err) {
				return &Refusal{KeyInactive, "account deactivated or deleted"}
			}
			if err != nil {
				return err
			}
			upd := tx.UserIdentity.UpdateOne(ident).SetLastLoginAt(now)
			if c.Email != "" {
				upd.SetEmail(c.Email)
			}
			if err := upd.Exec(sys); err != nil {
				return fmt.Errorf("update identity: %w", err)
			}
		case ent.IsNotFound(err):
			if u, err = a.newAccount(sys, tx, c); err != nil {
				return err
			}
			if err := tx.UserIdentity.Create().SetUserID(u.ID).SetProvider(r.Method).
				SetIssuer(c.Issuer).SetSubject(c.Subject).SetEmail(u.Email).SetLastLoginAt(now).Exec(sys); err != nil {
				return fmt.Errorf("link identity: %w", err)
			}
		default:
			return fmt.Errorf("read identity: %w", err)
		}
		userID = u.ID
		if !c.HasGroups {
			return nil // nothing to go by: no group changes
		}
		return a.mapGroups(sys, tx, u, c.Groups)
	})
	return userID, err
}

// Link links the identity of c to the account userID, which signed in
// otherwise and re-authenticated before the provider vouched for c: the
// way an account made before single sign-on (by an invitation, with a
// password) comes to sign in through its organisation's provider. An
// identity already linked to another account, or a second identity at
// the same provider, is a *Refusal; linking the same identity again
// changes nothing. No group changes here: the group map applies at the
// next sign-in through the provider. In one transaction with its audit.
func Link(ctx context.Context, client *ent.Client, now time.Time, r Rules, c Claims, userID uuid.UUID) error {
	if ref := r.MayLink(c); ref != nil {
		return ref
	}
	sys := rule.SystemContext(ctx)
	err := database.WithTx(sys, client, func(tx *ent.Tx) error {
		u, err := tx.User.Query().Where(user.ID(userID), user.IsActive(true)).ForUpdate().Only(sys)
		if ent.IsNotFound(err) {
			return &Refusal{KeyInactive, "account deactivated or deleted"}
		}
		if err != nil {
			return fmt.Errorf("read account: %w", err)
		}
		ident, err := tx.UserIdentity.Query().
			Where(useridentity.Issuer(c.Issuer), useridentity.Subject(c.Subject)).Only(sys)
		switch {
		case err == nil && ident.UserID == u.ID:
			return nil // linked before
		case err == nil:
			return &Refusal{KeyLinkedElsewhere, "identity linked to another account"}
		case !ent.IsNotFound(err):
			return fmt.Errorf("read identity: %w", err)
		}
		n, err := tx.UserIdentity.Query().Where(useridentity.UserID(u.ID), useridentity.Provider(r.Method)).Count(sys)
		if err != nil {
			return fmt.Errorf("read identities: %w", err)
		}
		if n > 0 {
			return &Refusal{KeyLinkedAlready, "the account has an identity at this provider"}
		}
		if err := tx.UserIdentity.Create().SetUserID(u.ID).SetProvider(r.Method).SetIssuer(c.Issuer).
			SetSubject(c.Subject).SetEmail(c.Email).Exec(sys); err != nil {
			return fmt.Errorf("link identity: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.UserIdentityLinked, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"method": r.Method, "email": c.Email},
		})
	})
	if ent.IsConstraintError(err) {
		// Linked to another account at the same moment (the unique
		// issuer + subject index).
		return &Refusal{KeyLinkedElsewhere, "identity linked to another account"}
	}
	return err
}

// MayLink refuses an identity that may not be linked to an existing
// account: one without a verified e-mail, or, when the provider has
// allowed domains, one whose e-mail is in none of them. An identity the
// organisation never vouched for (a personal one at a shared issuer)
// then cannot come to sign an account in.
func (r Rules) MayLink(c Claims) *Refusal {
	if c.Email == "" {
		return &Refusal{KeyNoEmail, "no verified e-mail"}
	}
	if len(r.AllowedDomains) > 0 {
		_, domain, _ := strings.Cut(c.Email, "@")
		if _, ok := r.AllowedDomains[strings.ToLower(domain)]; !ok {
			return &Refusal{KeyDomain, "the e-mail's domain is not one of the provider's"}
		}
	}
	return nil
}

// admitter is one admission: the provider's rules and the time.
type admitter struct {
	rules Rules
	now   time.Time
}

// newAccount makes the account of a new identity, only for an open
// invitation made out to its verified e-mail or for an allowed domain.
//
// An existing account with the same address is never linked: a provider
// that lets people set their own address (many do) would otherwise hand
// anyone the account of whoever they claim to be. Its owner links such an
// account, signed in with the password, on the security page (Link).
func (a admitter) newAccount(ctx context.Context, tx *ent.Tx, c Claims) (*ent.User, error) {
	if c.Email == "" {
		return nil, &Refusal{KeyNoEmail, "no verified e-mail"}
	}
	email, err := identity.Email(c.Email)
	if err != nil {
		return nil, &Refusal{KeyNoEmail, "e-mail not usable"}
	}
	if err := identity.Lock(ctx, tx); err != nil {
		return nil, err
	}
	name := displayName(c, email)
	clash, err := identity.Check(ctx, tx.User, uuid.Nil, email, name)
	if err != nil {
		return nil, err
	}
	switch {
	case clash.Email == identity.Same:
		return nil, &Refusal{KeyExisting, "an account has this e-mail"}
	case clash.Email != identity.None:
		// An address that only looks like an account's: no account to
		// link (its password would be asked for nothing), no new one.
		return nil, &Refusal{KeyLookalike, "an account has an e-mail that looks like this one"}
	}
	if clash.Name != identity.None {
		name = email // the address is the account's own: no look-alike
	}
	u, err := invite.AcceptExternal(ctx, tx, a.now, email, name, a.rules.Method)
	var ce invite.ClashError
	switch {
	case err == nil:
		return u, nil
	case errors.As(err, &ce):
		return nil, &Refusal{KeyLookalike, "the account would look like another"}
	case errors.Is(err, invite.ErrNotGrantable):
		return nil, &Refusal{KeyUnknown, "the invitation's groups are no longer its inviter's to grant"}
	case !errors.Is(err, invite.ErrInvalid):
		return nil, err
	}
	_, domain, _ := strings.Cut(email, "@")
	names, ok := a.rules.AllowedDomains[strings.ToLower(domain)]
	if !ok {
		return nil, &Refusal{KeyUnknown, "no invitation and the domain is not allowed"}
	}
	groups, err := tx.Group.Query().Where(group.NameIn(names...)).Order(ent.Asc(group.FieldName)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read default groups: %w", err)
	}
	u, err = tx.User.Create().SetEmail(email).SetDisplayName(name).SetLocale(user.LocaleEn).
		SetPasswordHash(invite.UnusablePasswordHash()).AddGroups(groups...).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.UserCreated, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		Details: map[string]any{"method": a.rules.Method, "domain": domain, "groups": groupNames(groups)},
	})
}

// displayName is the provider's name for the person when it is a usable
// display name, else their address.
func displayName(c Claims, email string) string {
	if n, err := identity.DisplayName(c.Name); err == nil {
		return n
	}
	return email
}

// mapGroups makes u a member of each Violet group of the group map
// exactly when the groups claim holds one of the values mapped to it;
// groups the map does not name are never touched. Its caller calls it
// only when the claim was sent: an empty claim takes every mapped group
// away, a missing one changes nothing. The last active admin keeps the
// admin group whatever the claim says (Violet must keep an admin), which
// the audit records as kept. Changes are audited.
func (a admitter) mapGroups(ctx context.Context, tx *ent.Tx, u *ent.User, claim []string) error {
	if len(a.rules.GroupMap) == 0 {
		return nil
	}
	want := map[string]bool{}
	for value, name := range a.rules.GroupMap {
		want[name] = want[name] || slices.Contains(claim, value)
	}
	mapped, err := tx.Group.Query().Where(group.NameIn(keys(want)...)).All(ctx)
	if err != nil {
		return fmt.Errorf("read mapped groups: %w", err)
	}
	have, err := tx.User.QueryGroups(u).IDs(ctx)
	if err != nil {
		return fmt.Errorf("read groups: %w", err)
	}
	var add, remove []*ent.Group
	for _, g := range mapped {
		member := slices.Contains(have, g.ID)
		switch {
		case want[g.Name] && !member:
			add = append(add, g)
		case !want[g.Name] && member:
			remove = append(remove, g)
		}
	}
	var kept []*ent.Group
	if i := slices.IndexFunc(remove, func(g *ent.Group) bool { return g.IsSystem && g.Name == auth.GroupAdmin }); i >= 0 {
		err := people.GuardLastAdmin(ctx, tx, u)
		var last *app.Invalid
		switch {
		case errors.As(err, &last):
			kept = []*ent.Group{remove[i]}
			remove = slices.Delete(remove, i, i+1)
		case err != nil:
			return err
		}
	}
	if len(add) == 0 && len(remove) == 0 && len(kept) == 0 {
		return nil
	}
	if err := tx.User.UpdateOne(u).AddGroups(add...).RemoveGroups(remove...).Exec(ctx); err != nil {
		return fmt.Errorf("change groups: %w", err)
	}
	return audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.UserGroupsChanged, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
		Details: map[string]any{"method": a.rules.Method, "added": groupNames(add), "removed": groupNames(remove),
			"kept_last_admin": groupNames(kept)},
	})
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func groupNames(groups []*ent.Group) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.Name
	}
	slices.Sort(out)
	return out
}

// Refuse records a refused sign-in through the provider of method (its
// state or request checked out: it answers a sign-in this browser
// started) as login.failed, and returns the refusal. label is the e-mail
// (or subject) the provider gave, "" before its answer was verified.
func Refuse(ctx context.Context, client *ent.Client, method string, r *Refusal, label string) error {
	if err := audit.Record(rule.SystemContext(ctx), client.AuditEvent, audit.Event{
		Action: audit.LoginFailed, TargetType: "user", TargetLabel: label,
		Details: map[string]any{"method": method, "reason": r.Reason},
	}); err != nil {
		return err
	}
	return r
}
