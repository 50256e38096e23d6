package samlsp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/samlassertion"
	"violet/internal/account"
	"violet/internal/admission"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/identity"
	"violet/internal/sso"
)

// entraGroupsLink is the claim Entra ID sends instead of the groups when a
// person has too many for the token (its "overage").
const entraGroupsLink = "http://schemas.microsoft.com/claims/groups.link"

// KeyTransient is the refusal of a transient NameID (a page text of its
// own: the identity provider's setup is at fault, not the person).
const KeyTransient = "saml.refused.transient"

// Done is a finished sign-in, as OpenID Connect's: the session (or the
// pending second step), and the page to go on to as Start was given it.
type Done = sso.Done

// Service runs the sign-in flow of one SAML provider.
type Service struct {
	p        *Provider
	client   *ent.Client
	accounts *account.Service
	now      func() time.Time
}

// NewService returns the flow of p on client; accounts starts the
// sessions; now is the clock (nil: time.Now).
func NewService(p *Provider, client *ent.Client, accounts *account.Service, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{p: p, client: client, accounts: accounts, now: now}
}

// CookieName is the request cookie's name.
func (s *Service) CookieName() string { return s.p.sp.cookie }

// ClearCookie is the cookie that ends an attempt: the ACS spends it
// whatever the outcome (single use).
func (s *Service) ClearCookie() *http.Cookie { return s.p.sp.cookieOf("", -1) }

// Start begins a sign-in: the identity provider's URL with an
// AuthnRequest (HTTP-Redirect binding, signed when Violet has a key) and
// a fresh RelayState, and the sealed cookie that keeps the request's ID,
// the RelayState, the provider and next (already checked as local) for
// the ACS. Metadata that cannot be read is sso.ErrProviderDown.
func (s *Service) Start(ctx context.Context, next string) (string, *http.Cookie, error) {
	return s.start(ctx, next, uuid.Nil)
}

// StartLink begins the linking of an identity at the identity provider
// to the account userID, signed in and re-authenticated
// (account.Service.StartLink): the ACS links the identity instead of
// signing in; next is where it goes on to.
func (s *Service) StartLink(ctx context.Context, userID uuid.UUID, next string) (string, *http.Cookie, error) {
	if userID == uuid.Nil {
		return "", nil, app.ErrForbidden
	}
	return s.start(ctx, next, userID)
}

func (s *Service) start(ctx context.Context, next string, link uuid.UUID) (string, *http.Cookie, error) {
	m, err := s.p.idp(ctx, s.now())
	if err != nil {
		return "", nil, err
	}
	sp := s.p.serviceProvider(m)
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return "", nil, fmt.Errorf("make the SAML request: %w", err)
	}
	st := requestCookie{Key: s.p.cfg.Key, RequestID: req.ID, RelayState: random(), Next: next, Link: link}
	to, err := req.Redirect(st.RelayState, sp)
	if err != nil {
		return "", nil, fmt.Errorf("make the SAML request: %w", err)
	}
	value, err := s.p.sp.codec.Encode(s.p.sp.cookie, st)
	if err != nil {
		return "", nil, fmt.Errorf("seal the SAML request: %w", err)
	}
	return to.String(), s.p.sp.cookieOf(value, int(requestTTL/time.Second)), nil
}

// ACSInput is what the identity provider posted (SAMLResponse, base64,
// and RelayState), the request cookie's value and the browser's current
// session (uuid.Nil for none), which a sign-in ends.
type ACSInput struct {
	SAMLResponse, RelayState string
	Cookie                   string
	Replace                  uuid.UUID
	// Current is the browser's signed-in user (uuid.Nil for none, or
	// unknown: on https the session cookie, SameSite=Lax, does not travel
	// with the identity provider's cross-site POST).
	Current uuid.UUID
}

// ACS finishes a sign-in: the cookie and the RelayState checked, the
// response validated by crewjam (signature against the metadata's
// certificates, InResponseTo the cookie's request ID and nothing else,
// issuer, audience, destination and recipient, validity window), the
// assertion recorded as used, then who gets in decided and the session
// started. A refusal is an *admission.Refusal, recorded as login.failed
// with the provider once the cookie checked out (before, only logged).
func (s *Service) ACS(ctx context.Context, in ACSInput) (Done, error) {
	return s.acs(ctx, in)
}

func (s *Service) acs(ctx context.Context, in ACSInput) (Done, error) {
	var st requestCookie
	if in.Cookie == "" || s.p.sp.codec.Decode(s.p.sp.cookie, in.Cookie, &st) != nil {
		// No cookie: an unsolicited (IdP-initiated) response, one from
		// another browser, or an attempt that took too long.
		return Done{}, s.reject(ctx, "request cookie missing or expired")
	}
	if st.Key != s.p.cfg.Key || st.RequestID == "" {
		return Done{}, s.reject(ctx, "request started with another provider")
	}
	if in.RelayState == "" || subtle.ConstantTimeCompare([]byte(in.RelayState), []byte(st.RelayState)) != 1 {
		return Done{}, s.reject(ctx, "RelayState mismatch")
	}
	// The request is spent on the server, before anything else is read:
	// a cookie and RelayState kept from a sign-in started on purpose get
	// one answer, not ten minutes of tries (nor audit rows at will).
	if err := s.spend(ctx, st.RequestID); err != nil {
		return Done{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(in.SAMLResponse)
	if err != nil || len(raw) == 0 {
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "response not base64"}, "")
	}
	m, err := s.p.idp(ctx, s.now())
	if err != nil {
		return Done{}, err
	}
	sp := s.p.serviceProvider(m)
	// The replay check is crewjam's last step, once everything else
	// checked out: the assertion's ID goes into saml_assertions, shared by
	// every instance.
	sp.ReplayCache = replayCache{ctx: ctx, client: s.client, provider: s.p.Method(), now: s.now}
	// A signed Response whose assertion is not itself signed is accepted:
	// the Response's signature covers the assertion inside it, which the
	// Web SSO profile allows (saml-profiles §4.1.3.5) and many providers
	// do. An assertion signed nowhere (neither itself nor the Response) is
	// refused by crewjam (signatureRequired for the HTTP-POST binding); a
	// signature present but not valid, on either, is refused too.
	a, err := sp.ParseXMLResponse(raw, []string{st.RequestID}, s.p.acs)
	if err != nil {
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "response not valid: " + responseProblem(err)}, "")
	}
	c, ref := s.claims(m, a)
	if ref != nil {
		return Done{}, s.refuse(ctx, ref, c.Subject)
	}
	if st.Link != uuid.Nil && in.Current != uuid.Nil && in.Current != st.Link {
		// A linking (StartLink): the request cookie, sealed and set in
		// the browser that re-authenticated, single use and spent on the
		// server, binds it to its account (a cookie cannot be moved into
		// another browser). Where the session travels with the POST
		// (plain http on one site) it must be that account's too; on
		// https it does not (SameSite=Lax against a cross-site POST), and
		// the cookie alone binds it.
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "linking started by another account"}, sso.Label(c))
	}
	return sso.Finish(ctx, sso.Vouched{Accounts: s.accounts, Client: s.client, Now: s.now(), Rules: s.p.rules(), Claims: c,
		Link: st.Link, Next: st.Next, Replace: in.Replace, Refuse: s.refuse})
}

// claims is who the assertion a says the person is. Issuer is the
// identity provider's entity ID and Subject the NameID: the identity is
// bound to them, never to the e-mail. A transient NameID is refused: it
// names the person for this sign-in only.
//
// SAML has no "verified" flag for an e-mail: the address the identity
// provider asserts (the EmailAttribute, or the NameID when it is an
// address) counts as verified, as the provider is the organisation's own
// directory an admin chose to trust. It is still used only to match an
// invitation or an allowed domain for a new identity, and to find the
// account whose password then links it (never the e-mail alone).
func (s *Service) claims(m *saml.EntityDescriptor, a *saml.Assertion) (admission.Claims, *admission.Refusal) {
	c := admission.Claims{Issuer: m.EntityID}
	if a.Subject == nil || a.Subject.NameID == nil || strings.TrimSpace(a.Subject.NameID.Value) == "" {
		return c, &admission.Refusal{Key: admission.KeyInvalid, Reason: "no NameID"}
	}
	id := a.Subject.NameID
	c.Subject = id.Value
	if id.Format == string(saml.TransientNameIDFormat) {
		return c, &admission.Refusal{Key: KeyTransient, Reason: "transient NameID"}
	}
	// An attribute is found by its Name; its FriendlyName, a mere label,
	// is looked at only when no attribute has that Name.
	attr := func(name string) ([]string, bool) {
		if name == "" {
			return nil, false
		}
		for _, friendly := range []bool{false, true} {
			var out []string
			found := false
			for _, st := range a.AttributeStatements {
				for _, at := range st.Attributes {
					if !friendly && at.Name != name || friendly && at.FriendlyName != name {
						continue
					}
					found = true
					for _, v := range at.Values {
						if v.Value != "" {
							out = append(out, v.Value)
						}
					}
				}
			}
			if found {
				return out, true
			}
		}
		return nil, false
	}
	if s.p.cfg.EmailAttribute != "" {
		if v, _ := attr(s.p.cfg.EmailAttribute); len(v) > 0 {
			c.Email = v[0]
		}
	} else if e, err := identity.Email(id.Value); err == nil {
		c.Email = e
	}
	if v, _ := attr(s.p.cfg.NameAttribute); len(v) > 0 {
		c.Name = v[0]
	}
	c.Groups, c.HasGroups = attr(s.p.cfg.GroupsAttribute)
	if !c.HasGroups && s.p.cfg.GroupsAttribute != "" {
		// Identity providers leave the attribute out of the assertion of
		// someone in no group (crewjam's samlidp, Keycloak's and ADFS's
		// mappers): absent means none, so that leaving the last group at
		// the provider takes the mapped groups away. Except Entra ID's
		// overage: too many groups to send, a link to them instead, where
		// Violet cannot tell who left a group and changes none.
		if _, overage := attr(entraGroupsLink); !overage {
			c.HasGroups = true
		}
	}
	if c.HasGroups && c.Groups == nil {
		c.Groups = []string{} // none: every mapped group goes
	}
	return c, nil
}

// reject refuses a response whose cookie or RelayState does not check
// out, without an audit row: anyone can post to the ACS, as often as they
// like, and the audit log must not be theirs to fill. Logged at debug
// level.
func (s *Service) reject(ctx context.Context, reason string) error {
	s.p.sp.log.DebugContext(ctx, "single sign-on: SAML response refused before its request checked out",
		"provider", s.p.cfg.Key, "reason", reason)
	return &admission.Refusal{Key: admission.KeyInvalid, Reason: reason}
}

// refuse records a refused sign-in as login.failed with the provider
// (admission.Refuse) and returns the refusal.
func (s *Service) refuse(ctx context.Context, r *admission.Refusal, label string) error {
	return admission.Refuse(ctx, s.client, s.p.Method(), r, label)
}

// responseProblem names what was wrong with a response, for the audit:
// crewjam's kind of failure, never the response or its values.
func responseProblem(err error) string {
	// An assertion signed nowhere: crewjam's error for it is not
	// exported, only its text.
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil && ire.PrivateErr.Error() == "signature element not present" {
		return "not signed"
	}
	kinds := []struct {
		err  error
		name string
	}{
		{saml.ErrAssertionReplayed, "assertion already used"},
		{saml.ErrInvalidSignature, "signature not valid"},
		{saml.ErrUntrustedCertificate, "signed with a certificate not in the metadata"},
		{saml.ErrCertificateNotValidNow, "signing certificate expired"},
		{saml.ErrAudienceMismatch, "made for another service provider (audience)"},
		{saml.ErrDestinationMismatch, "sent to another endpoint (destination or recipient)"},
		{saml.ErrRequestIDMismatch, "answers another request (InResponseTo)"},
		{saml.ErrIssuerMismatch, "issued by another identity provider"},
		{saml.ErrExpired, "expired"},
		{saml.ErrNotYetValid, "not yet valid"},
		{saml.ErrDecryptionFailed, "cannot be decrypted"},
		{saml.ErrUnsupported, "not supported"},
		{saml.ErrMissingElement, "incomplete"},
		{saml.ErrMalformedMessage, "malformed"},
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	var status saml.ErrBadStatus
	if errors.As(err, &status) {
		return "identity provider answered " + audit.Label(status.Status)
	}
	return "refused"
}

// replayCache records accepted assertions in saml_assertions: a unique
// (provider, assertion ID) row, kept until the assertion expires, so the
// same assertion posted again, to any instance, is refused. It is made per
// request, for crewjam's interface has no context.
type replayCache struct {
	ctx      context.Context
	client   *ent.Client
	provider string
	now      func() time.Time
}

// Consume records assertionID until expiresAt, the end of the
// assertion's validity as crewjam computes it (its NotOnOrAfter or its
// subject confirmation's, skew included), after deleting the rows of
// assertions expired by now: a few rows at most, as each lives minutes.
func (r replayCache) Consume(assertionID string, expiresAt time.Time) error {
	sys := rule.SystemContext(r.ctx)
	if _, err := r.client.SAMLAssertion.Delete().Where(samlassertion.ExpiresAtLT(r.now())).Exec(sys); err != nil {
		return fmt.Errorf("delete expired SAML assertions: %w", err)
	}
	err := r.client.SAMLAssertion.Create().SetProvider(r.provider).SetAssertionID(assertionID).
		SetExpiresAt(expiresAt).Exec(sys)
	switch {
	case ent.IsConstraintError(err):
		return saml.ErrAssertionReplayed
	case ent.IsValidationError(err):
		return fmt.Errorf("%w: assertion ID not usable", saml.ErrMalformedMessage)
	}
	return err
}

// spend records the request of an ACS post as answered, in
// saml_assertions beside the assertions (as "request:<ID>", an ID no
// assertion has, until the request would have expired): a second post of
// the same request, to any instance, is rejected without an audit row.
func (s *Service) spend(ctx context.Context, requestID string) error {
	err := s.client.SAMLAssertion.Create().SetProvider(s.p.Method()).SetAssertionID("request:" + requestID).
		SetExpiresAt(s.now().Add(requestTTL)).Exec(rule.SystemContext(ctx))
	switch {
	case ent.IsConstraintError(err), ent.IsValidationError(err):
		return s.reject(ctx, "request already answered")
	case err != nil:
		return fmt.Errorf("spend the SAML request: %w", err)
	}
	return nil
}

// random is 32 random bytes in base64url: a RelayState.
func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}
