package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"violet/ent"
	"violet/internal/account"
	"violet/internal/admission"
	"violet/internal/app"
	"violet/internal/audit"
)

// Service runs the sign-in flow of one provider.
type Service struct {
	p        *Provider
	client   *ent.Client
	accounts *account.Service
	now      func() time.Time
}

// NewService returns the flow of p (nil when single sign-on is off:
// every step is then app.ErrNotFound) on client; accounts starts the
// sessions; now is the clock (nil: time.Now).
func NewService(p *Provider, client *ent.Client, accounts *account.Service, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{p: p, client: client, accounts: accounts, now: now}
}

// Start begins a sign-in: the provider's authorization URL (code flow,
// PKCE S256, a fresh state and nonce) and the sealed cookie that keeps
// them, and next (the page to go on to, already checked as local), for
// the callback. A provider that cannot be discovered is ErrProviderDown.
func (s *Service) Start(ctx context.Context, next string) (string, *http.Cookie, error) {
	return s.start(ctx, next, uuid.Nil)
}

// StartLink begins the linking of an identity at the provider to the
// account userID, signed in and re-authenticated (account.Service's
// StartLink): the callback links the identity instead of signing in, in
// a browser still signed in as userID only; next is where it goes on to.
func (s *Service) StartLink(ctx context.Context, userID uuid.UUID, next string) (string, *http.Cookie, error) {
	if userID == uuid.Nil {
		return "", nil, app.ErrForbidden
	}
	return s.start(ctx, next, userID)
}

func (s *Service) start(ctx context.Context, next string, link uuid.UUID) (string, *http.Cookie, error) {
	if s.p == nil {
		return "", nil, app.ErrNotFound // single sign-on is off
	}
	d, err := s.p.discover(ctx, s.now())
	if err != nil {
		return "", nil, err
	}
	st := stateCookie{Provider: s.p.cfg.Key, State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(),
		Next: next, Link: link}
	value, err := s.p.state.codec.Encode(s.p.state.name, st)
	if err != nil {
		return "", nil, fmt.Errorf("seal the sign-in state: %w", err)
	}
	to := d.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	return to, s.p.state.cookieOf(value, int(stateTTL/time.Second)), nil
}

// CallbackInput is what the provider sent the browser back with, the
// state cookie's value, the browser's current session (uuid.Nil for
// none), which a sign-in ends, and its user (uuid.Nil for none), whom a
// linking must be for.
type CallbackInput struct {
	State, Code, Error string
	Issuer             string // iss of the answer (RFC 9207), when the provider sends it
	Cookie             string
	Replace            uuid.UUID
	Current            uuid.UUID
}

// Callback finishes a sign-in: the state checked against the cookie's,
// the code exchanged with the PKCE verifier, the ID token verified and its
// nonce checked, then who gets in decided (admit) and the session started.
// A refusal is a *Refusal, recorded as login.failed with the provider
// once the state checked out (before, only logged); a provider that
// cannot be reached is ErrProviderDown.
func (s *Service) Callback(ctx context.Context, in CallbackInput) (Done, error) {
	if s.p == nil {
		return Done{}, app.ErrNotFound
	}
	return s.callback(ctx, in)
}

// Done is a finished sign-in: the session, and the page to go on to as
// Start was given it; or, Linked, an identity linked to the signed-in
// account (StartLink), with no new session; or a PendingLink.
type Done struct {
	account.SignedIn
	Next   string
	Linked bool
	// PendingLink: an account has the identity's e-mail but no link to
	// it; its password is asked next (no session yet).
	PendingLink *admission.PendingLink
}

func (s *Service) callback(ctx context.Context, in CallbackInput) (Done, error) {
	var st stateCookie
	if in.Cookie == "" || s.p.state.codec.Decode(s.p.state.name, in.Cookie, &st) != nil {
		return Done{}, s.reject(ctx, "state missing or expired")
	}
	if st.Provider != s.p.cfg.Key {
		// The code goes only to the provider the browser was sent to: a
		// code from one provider never reaches another's token endpoint
		// (mix-up).
		return Done{}, s.reject(ctx, "state of another provider")
	}
	if in.State == "" || subtle.ConstantTimeCompare([]byte(in.State), []byte(st.State)) != 1 {
		return Done{}, s.reject(ctx, "state mismatch")
	}
	d, err := s.p.discover(ctx, s.now())
	if err != nil {
		return Done{}, err
	}
	if in.Issuer != "" && in.Issuer != s.p.cfg.Issuer || in.Issuer == "" && d.issParam {
		// RFC 9207: the provider names itself in its answer; an answer
		// naming another, or none from a provider that always names
		// itself, is a mix-up (a code meant for another provider).
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "iss not the provider's"}, "")
	}
	if in.Error != "" || in.Code == "" {
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "provider error: " + audit.Label(in.Error)}, "")
	}
	hc := oidc.ClientContext(ctx, s.p.client)
	tok, err := d.oauth.Exchange(hc, in.Code, oauth2.VerifierOption(st.Verifier))
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		// The provider answered no: a code used before, expired, or not
		// this client's.
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "code refused: " + re.ErrorCode}, "")
	case err != nil:
		s.p.log.Warn("single sign-on: the identity provider cannot be reached", "issuer", s.p.cfg.Issuer, "err", err)
		return Done{}, fmt.Errorf("%w: token exchange: %w", ErrProviderDown, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "no ID token"}, "")
	}
	idt, err := d.verifier.Verify(hc, raw)
	if err != nil {
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "ID token not valid: " + tokenProblem(err)}, "")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "nonce mismatch"}, "")
	}
	c, err := s.claims(hc, d, idt, tok)
	if err != nil {
		return Done{}, err
	}
	if st.Link != uuid.Nil && in.Current != st.Link {
		// Only in the browser of the account that asked: a linking
		// started by one account cannot end in another's session.
		return Done{}, s.refuse(ctx, &admission.Refusal{Key: admission.KeyInvalid, Reason: "linking started by another account"}, Label(c))
	}
	return Finish(ctx, Vouched{Accounts: s.accounts, Client: s.client, Now: s.now(), Rules: s.p.rules(), Claims: c,
		Link: st.Link, Next: st.Next, Replace: in.Replace, Refuse: s.refuse})
}

// Vouched is an identity a provider vouched for, its answer checked
// (OpenID Connect or SAML), and what Finish needs to go on.
type Vouched struct {
	Accounts *account.Service
	Client   *ent.Client
	Now      time.Time
	Rules    admission.Rules
	Claims   admission.Claims
	Link     uuid.UUID // the account to link the identity to; uuid.Nil for a sign-in
	Next     string
	Replace  uuid.UUID // the browser's session, which a sign-in ends
	// Refuse records a refusal (login.failed with the provider) and
	// returns it.
	Refuse func(ctx context.Context, r *admission.Refusal, label string) error
}

// Finish is the end of every provider's sign-in once its answer checked
// out: a linking links the identity to its account; a sign-in admits the
// person (admission.Admit) and starts the session (SignInExternal), or,
// for an account that has the identity's e-mail but no link, asks its
// password (PendingLink) unless the identity may not be linked at all.
func Finish(ctx context.Context, v Vouched) (Done, error) {
	var ref *admission.Refusal
	if v.Link != uuid.Nil {
		err := admission.Link(ctx, v.Client, v.Now, v.Rules, v.Claims, v.Link)
		if errors.As(err, &ref) {
			return Done{}, v.Refuse(ctx, ref, Label(v.Claims))
		}
		return Done{Next: v.Next, Linked: err == nil}, err
	}
	userID, err := admission.Admit(ctx, v.Client, v.Now, v.Rules, v.Claims)
	if errors.As(err, &ref) && ref.Key == admission.KeyExisting {
		// An account has the identity's e-mail: its password links the
		// two (account.Service.SignInLinking), never the e-mail alone.
		if no := v.Rules.MayLink(v.Claims); no != nil {
			return Done{}, v.Refuse(ctx, no, Label(v.Claims))
		}
		c := v.Claims
		return Done{Next: v.Next, PendingLink: &admission.PendingLink{Method: v.Rules.Method, Issuer: c.Issuer,
			Subject: c.Subject, Email: c.Email, Name: c.Name, Next: v.Next, At: v.Now}}, nil
	}
	if errors.As(err, &ref) {
		return Done{}, v.Refuse(ctx, ref, Label(v.Claims))
	}
	if err != nil {
		return Done{}, err
	}
	signed, err := v.Accounts.SignInExternal(ctx, userID, v.Rules.Method, v.Replace)
	if err != nil {
		return Done{}, err
	}
	return Done{SignedIn: signed, Next: v.Next}, nil
}

// Label names the person of c in the audit: the e-mail, else the subject.
func Label(c admission.Claims) string {
	if c.Email != "" {
		return c.Email
	}
	return c.Subject
}

// reject refuses a callback whose state does not check out, without an
// audit row: anyone can send such a callback, as often as they like, and
// the audit log must not be theirs to fill. It is logged at debug level.
func (s *Service) reject(ctx context.Context, reason string) error {
	s.p.log.DebugContext(ctx, "single sign-on: callback refused before its state checked out", "reason", reason)
	return &admission.Refusal{Key: admission.KeyInvalid, Reason: reason}
}

// refuse records a refused sign-in as login.failed with the provider
// (admission.Refuse) and returns the refusal.
func (s *Service) refuse(ctx context.Context, r *admission.Refusal, label string) error {
	return admission.Refuse(ctx, s.client, s.p.Method(), r, label)
}

// tokenProblem names what was wrong with an ID token, for the audit,
// without the token itself.
func tokenProblem(err error) string {
	var exp *oidc.TokenExpiredError
	if errors.As(err, &exp) {
		return "expired"
	}
	return err.Error()
}

// random is 32 random bytes in base64url: a state or a nonce.
func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}
