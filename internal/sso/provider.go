// Package sso is Violet's OpenID Connect relying party: the provider
// configured by OIDC_* (discovered lazily), the authorization code flow
// with PKCE, and who gets in (identities, invitations, allowed domains,
// group mapping). Signing in itself, the session and its audit, is
// account.Service.SignInExternal's.
//
// What each check stops: state (in a sealed, single-use cookie, compared in
// constant time) stops login CSRF and a code injected from another
// browser; PKCE stops a stolen code being redeemed without this browser's
// verifier; nonce stops an ID token replayed from another sign-in; the ID
// token's signature, issuer, audience and expiry (go-oidc) stop a token
// forged, from another provider or made for another client; mapping by
// issuer + subject, never by e-mail alone, stops an account taken over
// through a provider that lets people choose their address.
package sso

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"

	"violet/internal/admission"
	"violet/internal/config"
	"violet/internal/paths"
	authview "violet/views/auth"
)

// ErrProviderDown: the provider could not be reached (discovery, or the
// token exchange, failed on the network). The sign-in page says so and
// points back to the password form (503).
var ErrProviderDown = errors.New("the identity provider cannot be reached")

// discoveryTimeout bounds a discovery: a provider that does not answer
// must not hold a sign-in (or anything else) for long.
const discoveryTimeout = 10 * time.Second

// retryAfter is how long a failed discovery is remembered: meanwhile
// sign-ins are told at once that the provider is down, instead of each
// waiting up to discoveryTimeout for the same answer.
const retryAfter = 30 * time.Second

// stateTTL is how long a sign-in attempt may take at the provider.
const stateTTL = 10 * time.Minute

// Provider is the configured OpenID Connect provider. Its discovery runs
// at the first sign-in, not at start-up, so that a provider down when
// Violet starts stops nothing; a failed discovery is tried again at the
// first sign-in retryAfter after it.
type Provider struct {
	cfg      config.OIDC
	state    *State
	loginURL string // absolute, where the provider sends people after signing out
	client   *http.Client
	log      *slog.Logger

	disc atomic.Pointer[discovered] // nil until a discovery succeeds

	// sem holds one discovery at a time; a sign-in waiting for it gives
	// up when its request does. failedAt and failure, the last failed
	// discovery, are read and written only by whoever holds sem.
	sem      chan struct{}
	failedAt time.Time
	failure  error
}

// discovered is what the provider's discovery document gives.
type discovered struct {
	oidc       *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	oauth      oauth2.Config
	endSession string // RP-initiated logout; "" when the provider has none
	issParam   bool   // the provider names itself in its answers (RFC 9207)
}

// State is the state cookie of a sign-in in progress, whichever provider
// it was started with: every provider seals it with the same keys, under
// the same name, so that the one callback URL can tell which provider
// the browser went to (the cookie says) before any provider is chosen.
type State struct {
	codec  *securecookie.SecureCookie
	name   string
	secure bool
}

// NewState returns the state cookie's codec. sessionKey is SESSION_KEY
// (the cookie's keys are derived from it), secure the instance's https
// (Secure cookie, __Host- prefix).
func NewState(sessionKey []byte, secure bool) (*State, error) {
	// A key of its own, so that a state cookie can never be taken for a
	// session cookie or the other way round.
	keys, err := hkdf.Key(sha256.New, sessionKey, nil, "violet oidc state v1", 64)
	if err != nil {
		return nil, fmt.Errorf("derive the state cookie's keys: %w", err)
	}
	codec := securecookie.New(keys[:32], keys[32:]) // signed and encrypted
	codec.MaxAge(int(stateTTL / time.Second))
	name := "violet_oidc"
	if secure {
		name = "__Host-violet_oidc"
	}
	return &State{codec: codec, name: name, secure: secure}, nil
}

// CookieName is the state cookie's name.
func (st *State) CookieName() string { return st.name }

// ProviderOf is the key of the provider the sign-in of the state cookie's
// value was started with; "" when the value does not open.
func (st *State) ProviderOf(value string) string {
	var c stateCookie
	if value == "" || st.codec.Decode(st.name, value, &c) != nil {
		return ""
	}
	return c.Provider
}

func (st *State) cookieOf(value string, maxAge int) *http.Cookie {
	// SameSite=Lax: the provider sends the browser back with a top-level
	// GET, which Lax lets the cookie travel with; Strict would drop it.
	return &http.Cookie{Name: st.name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: st.secure, SameSite: http.SameSiteLaxMode}
}

// ClearCookie is the cookie that ends an attempt's state (single use).
func (st *State) ClearCookie() *http.Cookie { return st.cookieOf("", -1) }

// New returns the provider of cfg, or nil when single sign-on is off.
// sessionKey is SESSION_KEY (the state cookie's keys are derived from
// it), secure the instance's https (Secure cookie, __Host- prefix), base
// its public URL; client makes the calls to the provider (nil: a client
// with a 10-second timeout); log hears of a provider that cannot be
// reached.
func New(cfg config.OIDC, sessionKey []byte, secure bool, base *url.URL, client *http.Client, log *slog.Logger) (*Provider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	st, err := NewState(sessionKey, secure)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: discoveryTimeout}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	login := paths.Login
	if base != nil {
		login = strings.TrimRight(base.String(), "/") + paths.Login
	}
	return &Provider{cfg: cfg, state: st, loginURL: login, client: client, log: log,
		sem: make(chan struct{}, 1)}, nil
}

// Key is the provider's short name (OIDC_KEY).
func (p *Provider) Key() string { return p.cfg.Key }

// Name is the label of its sign-in button (OIDC_NAME).
func (p *Provider) Name() string { return p.cfg.Name }

// Method is how its sessions are signed in: oidc:<key>.
func (p *Provider) Method() string { return "oidc:" + p.cfg.Key }

// rules are the provider's admission rules.
func (p *Provider) rules() admission.Rules {
	return admission.Rules{Method: p.Method(), GroupMap: p.cfg.GroupMap, AllowedDomains: p.cfg.AllowedDomains}
}

// discover returns the discovered provider, running the discovery when
// no earlier one succeeded. One discovery runs at a time: the others wait
// for it, or give up with their request (ctx). A failed discovery is
// remembered until retryAfter after now, the clock's time: sign-ins
// meanwhile fail at once, without queueing behind a provider that does
// not answer.
func (p *Provider) discover(ctx context.Context, now time.Time) (*discovered, error) {
	if d := p.disc.Load(); d != nil {
		return d, nil
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for the discovery: %w", ErrProviderDown, ctx.Err())
	}
	defer func() { <-p.sem }()
	if d := p.disc.Load(); d != nil { // found while this one waited
		return d, nil
	}
	if p.failure != nil && now.Before(p.failedAt.Add(retryAfter)) {
		return nil, p.failure
	}
	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	op, err := oidc.NewProvider(oidc.ClientContext(dctx, p.client), p.cfg.Issuer)
	if err != nil {
		err = fmt.Errorf("%w: discovery: %w", ErrProviderDown, err)
		// A request that went away says nothing about the provider: only
		// the provider's own failure (or its timeout) is remembered.
		if ctx.Err() == nil {
			p.log.Warn("single sign-on: the identity provider cannot be reached", "issuer", p.cfg.Issuer, "err", err)
			p.failedAt, p.failure = now, err
		}
		return nil, err
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
		IssParam   bool   `json:"authorization_response_iss_parameter_supported"`
	}
	_ = op.Claims(&extra) // absent: no RP-initiated logout
	if u, err := url.Parse(extra.EndSession); extra.EndSession != "" && (err != nil || !config.SecureURL(u)) {
		// Signing out would send the browser there with our client id:
		// only to an absolute https URL (http on loopback), never to
		// javascript: or a relative or cleartext address.
		p.log.Warn("single sign-on: the provider's end_session_endpoint is not an https URL: signing out stays in Violet",
			"issuer", p.cfg.Issuer)
		extra.EndSession = ""
	}
	d := &discovered{
		oidc: op,
		// go-oidc checks the signature (keys from the provider's JWKS),
		// the issuer, the audience (our client id) and the expiry with no
		// leeway; it allows a 5-minute leeway on nbf only. That is the
		// clock skew Violet accepts.
		verifier: op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}),
		oauth: oauth2.Config{
			ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
			Endpoint: op.Endpoint(), RedirectURL: p.cfg.RedirectURL, Scopes: p.cfg.Scopes,
		},
		endSession: extra.EndSession,
		issParam:   extra.IssParam,
	}
	p.disc.Store(d)
	p.failure = nil
	return d, nil
}

// LogoutURL is where a browser whose session was signed in with method
// goes after its Violet session ended: the provider's end-session
// endpoint, to end the provider's session too, coming back to the
// sign-in page. "" when the session was not this provider's, or the
// provider has no such endpoint (or was never discovered).
func (p *Provider) LogoutURL(method string) string {
	if p == nil || method != p.Method() {
		return ""
	}
	d := p.disc.Load() // never waits for a discovery in progress
	if d == nil || d.endSession == "" {
		return ""
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("client_id", p.cfg.ClientID)
	q.Set("post_logout_redirect_uri", p.loginURL)
	u.RawQuery = q.Encode()
	return u.String()
}

// stateCookie is what the browser keeps of one sign-in attempt, sealed.
type stateCookie struct {
	Provider string // the key of the provider it went to
	State    string
	Nonce    string
	Verifier string
	Next     string
	Link     uuid.UUID // the account an identity is being linked to; uuid.Nil for a sign-in
}

// Buttons are the sign-in page's provider buttons, keeping next; none
// when single sign-on is off (p nil).
func (p *Provider) Buttons(next string) []authview.SSOButton {
	if p == nil {
		return nil
	}
	return []authview.SSOButton{{Name: p.cfg.Name, URL: paths.Query(paths.OIDCStart, "provider", p.cfg.Key, "next", next)}}
}

// ProblemOf is the page of a sign-in that failed with err: a refusal
// (403) or a provider that cannot be reached (503); ok is false for any
// other error, which is the error handler's.
func ProblemOf(err error) (status int, page authview.SSOProblem, ok bool) {
	var ref *admission.Refusal
	switch {
	case errors.As(err, &ref):
		return http.StatusForbidden, authview.SSOProblem{TitleKey: "sso.refused.title", MessageKey: ref.Key}, true
	case errors.Is(err, ErrProviderDown):
		return http.StatusServiceUnavailable, authview.SSOProblem{TitleKey: "sso.down.title", MessageKey: "sso.down.message"}, true
	}
	return 0, authview.SSOProblem{}, false
}
