package account

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/useridentity"
	"violet/internal/admission"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/factor"
	accountview "violet/views/account"
)

// Providers lists the identity providers people may sign in with (the
// environment's and those set up by admins: signin.Registry).
type Providers interface {
	Linkable(ctx context.Context) ([]accountview.LinkOption, error)
}

// WithProviders returns s listing p's providers on the security page, to
// link an identity at.
func (s *Service) WithProviders(p Providers) *Service {
	s.providers = p
	return s
}

// identities are userID's identities at identity providers, oldest first,
// each named by its provider (its method when the provider is gone), and
// the providers where userID has none yet.
func (s *Service) identities(ctx context.Context, userID uuid.UUID) ([]accountview.Identity, []accountview.LinkOption, error) {
	rows, err := s.client.UserIdentity.Query().Where(useridentity.UserID(userID)).
		Order(ent.Asc(useridentity.FieldCreatedAt)).All(rule.SystemContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("load identities: %w", err)
	}
	var offered []accountview.LinkOption
	if s.providers != nil {
		if offered, err = s.providers.Linkable(ctx); err != nil {
			return nil, nil, err
		}
	}
	names := map[string]string{}
	for _, o := range offered {
		names[o.Method] = o.Name
	}
	linked := map[string]bool{}
	out := make([]accountview.Identity, 0, len(rows))
	for _, r := range rows {
		name := names[r.Provider]
		if name == "" {
			name = r.Provider
		}
		linked[r.Provider] = true
		out = append(out, accountview.Identity{ID: r.ID.String(), Provider: name, Email: r.Email,
			Added: r.CreatedAt, LastUsed: r.LastLoginAt})
	}
	var linkable []accountview.LinkOption
	for _, o := range offered {
		if !linked[o.Method] {
			linkable = append(linkable, o)
		}
	}
	return out, linkable, nil
}

// StartLink checks that the viewer may link an identity at the provider
// of key (offered, none there yet) and re-authenticates them (withReauth:
// the password, or a code, as every change of factors); the provider's
// sign-in follows (sso.Service.StartLink), whose callback links the
// identity it vouches for. Form errors name "provider", "password" and
// "code".
func (s *Service) StartLink(ctx context.Context, in Reauth, key string) (accountview.LinkOption, error) {
	v := auth.FromContext(ctx)
	_, linkable, err := s.identities(ctx, v.UserID)
	if err != nil {
		return accountview.LinkOption{}, err
	}
	var opt accountview.LinkOption
	for _, o := range linkable {
		if o.Key == key {
			opt = o
		}
	}
	if opt.Key == "" {
		return opt, app.Invalidf("provider", "identities.provider_unknown")
	}
	return opt, s.withReauth(ctx, in, func(*ent.Tx, *ent.User, bool) error { return nil })
}

// Unlink removes the viewer's identity id after re-authentication: the
// provider no longer signs the account in (a later sign-in through it
// is a stranger's, admitted only by an invitation or an allowed domain).
func (s *Service) Unlink(ctx context.Context, in Reauth, id uuid.UUID) error {
	return s.withReauth(ctx, in, func(tx *ent.Tx, u *ent.User, _ bool) error {
		sys := rule.SystemContext(ctx)
		ident, err := tx.UserIdentity.Query().Where(useridentity.ID(id), useridentity.UserID(u.ID)).Only(sys)
		if ent.IsNotFound(err) {
			return app.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read identity: %w", err)
		}
		if err := tx.UserIdentity.DeleteOne(ident).Exec(sys); err != nil {
			return fmt.Errorf("unlink identity: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.UserIdentityUnlinked, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"method": ident.Provider, "email": ident.Email},
		})
	})
}

// LinkInput is the password form of a pending link: the identity the
// provider vouched for (sealed in the browser), the password of the
// account that has its e-mail, and the browser's session (uuid.Nil for
// none), which the sign-in ends.
type LinkInput struct {
	Pending  admission.PendingLink
	Password string
	Replace  uuid.UUID
}

// SignInLinking finishes a sign-in through a provider that found an
// account with the identity's e-mail but no link: the account's password
// (checked, throttled and audited as at sign-in; form errors name
// "password") links the identity to it (admission.Link), then the
// provider's sign-in goes on as any other (SignInExternal). An account
// with a second factor is not linked yet: it gets the pending second step
// (SignedIn.Pending, its UserID the account's), and the link waits for it
// (CompleteLink), so that a password alone never changes what signs the
// account in. A refused link is a *admission.Refusal.
func (s *Service) SignInLinking(ctx context.Context, in LinkInput) (SignedIn, error) {
	u, _, err := s.verifyPassword(ctx, in.Pending.Email, in.Password)
	if err != nil {
		return SignedIn{}, err
	}
	need, err := factor.NeedOf(rule.SystemContext(ctx), s.client, u.ID)
	if err != nil {
		return SignedIn{}, err
	}
	if need == factor.NeedCode {
		return s.SignInExternal(ctx, u.ID, in.Pending.Method, in.Replace)
	}
	// Rules: the method only; the provider's allowed domains were checked
	// before the identity was sealed (admission.Rules.MayLink).
	if err := admission.Link(ctx, s.client, s.now(), admission.Rules{Method: in.Pending.Method},
		in.Pending.Claims(), u.ID); err != nil {
		return SignedIn{}, err
	}
	return s.SignInExternal(ctx, u.ID, in.Pending.Method, in.Replace)
}

// CompleteLink links the identity of p, whose account's password was
// checked (p.Verified, by SignInLinking), once that account's second step
// opened session: only a session of that account, signed in through p's
// provider. Anything else links nothing (app.ErrForbidden).
func (s *Service) CompleteLink(ctx context.Context, p admission.PendingLink, session *auth.SessionRecord) error {
	if session == nil || p.Verified == uuid.Nil || session.UserID != p.Verified ||
		auth.BaseMethod(session.Method) != p.Method {
		return app.ErrForbidden
	}
	return admission.Link(ctx, s.client, s.now(), admission.Rules{Method: p.Method}, p.Claims(), p.Verified)
}
