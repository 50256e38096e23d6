// Package samlsp is Violet's SAML 2.0 service provider: one Provider per
// identity provider an admin set up (config.SAML), built on crewjam/saml's
// ServiceProvider (its validation only: Violet has its own sessions, so
// none of crewjam's samlsp middleware is used). Who gets in is
// internal/admission's, as for OpenID Connect; the session is
// account.Service.SignInExternal's.
//
// What each check stops: the request ID kept in a sealed, single-use
// cookie and required as the response's InResponseTo stops unsolicited
// (IdP-initiated) responses and a response injected into another
// browser's sign-in (login CSRF), with the RelayState compared in
// constant time; the signature (on the assertion, or on the whole
// response) checked against the certificates of the IdP's metadata stops
// a forged or altered assertion; the audience (this provider's entity ID)
// stops an assertion made for another service provider; the destination
// and recipient (the ACS URL) stop one sent to another endpoint; the
// validity window (NotBefore, NotOnOrAfter, 3 minutes of clock skew)
// stops an old one; the saml_assertions table stops the same assertion
// accepted twice, on any instance; binding the identity to the NameID
// (issuer + subject), never to an e-mail alone, and refusing transient
// NameIDs stops an account taken through an address or a one-time id.
package samlsp

import (
	"context"
	"crypto/hkdf"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crewjam/saml"
	crewsp "github.com/crewjam/saml/samlsp"
	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	dsig "github.com/russellhaering/goxmldsig"

	"violet/internal/admission"
	"violet/internal/config"
	"violet/internal/paths"
	"violet/internal/sso"
)

// fetchTimeout bounds the fetch of an identity provider's metadata: one
// that does not answer must not hold a sign-in for long.
const fetchTimeout = 10 * time.Second

// retryAfter is how long a failed fetch is remembered: meanwhile sign-ins
// are told at once that the provider is down, instead of each waiting up
// to fetchTimeout for the same answer.
const retryAfter = 30 * time.Second

// requestTTL is how long a sign-in may take at the identity provider.
const requestTTL = 10 * time.Minute

// MetadataType is the media type of SAML metadata (RFC 7580 §3 names
// application/samlmetadata+xml).
const MetadataType = "application/samlmetadata+xml"

// SP is Violet's identity as a SAML service provider, the same for every
// identity provider: its public URL, its cookie, and its optional key pair
// (SAML_SP_CERT_FILE, SAML_SP_KEY_FILE). Built once at start-up by NewSP.
type SP struct {
	base   *url.URL
	secure bool
	codec  *securecookie.SecureCookie
	cookie string
	key    *rsa.PrivateKey   // nil: requests unsigned, no encrypted assertions
	cert   *x509.Certificate // with key
	client *http.Client
	log    *slog.Logger
}

// SPConfig is what NewSP builds the service provider from.
type SPConfig struct {
	Base       *url.URL // BASE_URL: entity IDs and ACS URLs are made of it
	Secure     bool     // https: Secure cookies, SameSite=None
	SessionKey []byte   // SESSION_KEY: the request cookie's keys derive from it
	Files      config.SAMLSP
	// HTTPClient fetches identity providers' metadata; nil: a client with
	// a 10-second timeout. Redirects are followed only to https (http on
	// loopback).
	HTTPClient *http.Client
	Log        *slog.Logger
}

// NewSP returns the service provider of c, reading its key pair when the
// files are set (a PEM certificate and its RSA private key).
func NewSP(c SPConfig) (SP, error) {
	// A key of its own, so that the request cookie can never be taken for
	// another of Violet's sealed cookies or the other way round.
	keys, err := hkdf.Key(sha256.New, c.SessionKey, nil, "violet saml request v1", 64)
	if err != nil {
		return SP{}, fmt.Errorf("derive the SAML request cookie's keys: %w", err)
	}
	codec := securecookie.New(keys[:32], keys[32:]) // signed and encrypted
	codec.MaxAge(int(requestTTL / time.Second))
	sp := SP{base: c.Base, secure: c.Secure, codec: codec, cookie: "violet_saml", log: c.Log}
	if c.Secure {
		sp.cookie = "__Host-violet_saml"
	}
	if sp.log == nil {
		sp.log = slog.New(slog.DiscardHandler)
	}
	base := c.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: fetchTimeout}
	}
	client := *base
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		// Metadata carries the keys assertions are checked with: never
		// from a cleartext address, even by a redirect.
		if len(via) >= 5 || !config.SecureURL(r.URL) {
			return errors.New("redirect to a non-https address, or too many redirects")
		}
		return nil
	}
	sp.client = &client
	if c.Files.CertFile != "" || c.Files.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(c.Files.CertFile, c.Files.KeyFile)
		if err != nil {
			return SP{}, fmt.Errorf("SAML_SP_CERT_FILE, SAML_SP_KEY_FILE: %w", err)
		}
		key, ok := pair.PrivateKey.(*rsa.PrivateKey)
		if !ok {
			// XML encryption (key transport) needs RSA, and one key
			// both signs and decrypts.
			return SP{}, errors.New("SAML_SP_KEY_FILE: the key must be an RSA key")
		}
		if sp.cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return SP{}, fmt.Errorf("SAML_SP_CERT_FILE: %w", err)
		}
		sp.key = key
	}
	return sp, nil
}

// Provider is Violet as the service provider of one SAML identity
// provider. The identity provider's metadata is parsed at once when it was
// pasted (MetadataXML), else fetched from MetadataURL at the first
// sign-in, so that a provider down when Violet starts stops nothing; a
// failed fetch is tried again at the first sign-in retryAfter after it.
type Provider struct {
	cfg      config.SAML
	sp       SP
	entityID url.URL // the metadata URL, BASE_URL/saml/<key>/metadata
	acs      url.URL // BASE_URL/saml/<key>/acs

	meta atomic.Pointer[fetched] // nil until fetched

	// sem holds one fetch at a time; failedAt and failure, the last failed
	// fetch, are read and written only by whoever holds sem.
	sem      chan struct{}
	failedAt time.Time
	failure  error
}

// New returns the service provider of cfg. Pasted metadata that does not
// parse, or a metadata URL that is not https (http only on loopback), is
// an error: the row cannot be used.
func New(cfg config.SAML, sp SP) (*Provider, error) {
	if sp.codec == nil {
		return nil, errors.New("SAML: the service provider was not built with NewSP")
	}
	if sp.base == nil {
		return nil, errors.New("SAML: BASE_URL is not set, and the service provider's entity ID and ACS URL are made of it")
	}
	if cfg.Key == "" {
		return nil, errors.New("SAML: the provider has no key")
	}
	base := strings.TrimRight(sp.base.String(), "/")
	entity, err := url.Parse(base + paths.URL(paths.SAMLMetadata, cfg.Key))
	if err != nil {
		return nil, fmt.Errorf("SAML provider %s: entity ID: %w", cfg.Key, err)
	}
	acs, err := url.Parse(base + paths.URL(paths.SAMLACS, cfg.Key))
	if err != nil {
		return nil, fmt.Errorf("SAML provider %s: ACS URL: %w", cfg.Key, err)
	}
	p := &Provider{cfg: cfg, sp: sp, entityID: *entity, acs: *acs, sem: make(chan struct{}, 1)}
	switch {
	case cfg.MetadataXML != "":
		m, err := parseMetadata([]byte(cfg.MetadataXML))
		if err != nil {
			return nil, fmt.Errorf("SAML provider %s: the identity provider's metadata: %w", cfg.Key, err)
		}
		p.meta.Store(&fetched{m: m})
	case cfg.MetadataURL != "":
		u, err := url.Parse(cfg.MetadataURL)
		if err != nil || !config.SecureURL(u) {
			return nil, fmt.Errorf("SAML provider %s: the metadata URL must be an absolute https:// URL (http:// only on loopback)", cfg.Key)
		}
	default:
		return nil, fmt.Errorf("SAML provider %s: neither a metadata URL nor metadata", cfg.Key)
	}
	return p, nil
}

// parseMetadata reads an identity provider's metadata and checks that
// Violet can use it: a single sign-on service with the HTTP-Redirect
// binding at an https address (http on loopback), where Start sends the
// browser.
func parseMetadata(data []byte) (*saml.EntityDescriptor, error) {
	if len(data) > maxMetadata {
		return nil, fmt.Errorf("larger than %d bytes", maxMetadata)
	}
	m, err := crewsp.ParseMetadata(data)
	if err != nil {
		return nil, err
	}
	if len(m.IDPSSODescriptors) == 0 {
		return nil, errors.New("no IDPSSODescriptor: this is not an identity provider's metadata")
	}
	sp := saml.ServiceProvider{IDPMetadata: m}
	loc := sp.GetSSOBindingLocation(saml.HTTPRedirectBinding)
	if loc == "" {
		return nil, errors.New("no single sign-on service with the HTTP-Redirect binding")
	}
	if u, err := url.Parse(loc); err != nil || !config.SecureURL(u) {
		return nil, errors.New("the single sign-on service is not at an https:// address")
	}
	return m, nil
}

// Key is the provider's short name.
func (p *Provider) Key() string { return p.cfg.Key }

// Name is the label of its sign-in button.
func (p *Provider) Name() string { return p.cfg.Name }

// Method is how its sessions are signed in: saml:<key>.
func (p *Provider) Method() string { return "saml:" + p.cfg.Key }

// EntityID is Violet's entity ID at this identity provider: the URL of
// its metadata.
func (p *Provider) EntityID() string { return p.entityID.String() }

// ACSURL is where the identity provider posts the browser back to.
func (p *Provider) ACSURL() string { return p.acs.String() }

// rules are the provider's admission rules.
func (p *Provider) rules() admission.Rules {
	return admission.Rules{Method: p.Method(), GroupMap: p.cfg.GroupMap, AllowedDomains: p.cfg.AllowedDomains}
}

// serviceProvider is crewjam's service provider for the identity
// provider's metadata m (nil for the metadata of Violet's side only).
func (p *Provider) serviceProvider(m *saml.EntityDescriptor) *saml.ServiceProvider {
	sp := &saml.ServiceProvider{
		EntityID:    p.entityID.String(),
		MetadataURL: p.entityID,
		AcsURL:      p.acs,
		IDPMetadata: m,
		// Ask for whatever the identity provider is set up to send (the
		// Format spelled out: some providers, Keycloak among them, refuse
		// a request without one); a transient NameID is refused at the
		// ACS, as it cannot name the same person twice.
		AuthnNameIDFormat:           saml.UnspecifiedNameIDFormat,
		SendUnspecifiedNameIDFormat: true,
		// Responses come by HTTP-POST only: no artifact resolution, so
		// Violet never calls the identity provider from the server.
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		// SHA-1 signatures can be forged by collision: refused. An
		// assertion encrypted with AES-CBC is decrypted only inside a
		// signed response (no padding oracle for unsigned posts).
		RejectSHA1Signatures:        true,
		RequireSignedResponseForCBC: true,
		// Metadata carries validUntil; IdP-initiated sign-ins are refused
		// (the default, said here because it matters).
		AllowIDPInitiated: false,
		// Metadata carries a cacheDuration rather than a validUntil: a copy
		// pasted at a provider must not expire there.
		MetadataOmitValidUntil:   true,
		RejectExpiredIDPMetadata: false, // pasted metadata often outlives its validUntil
	}
	if p.sp.key != nil {
		// crewjam dereferences Key only when a SignatureMethod asks it to
		// sign, and decrypts with a nil Key as a failure: set both or
		// neither.
		sp.Key, sp.Certificate = p.sp.key, p.sp.cert
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	return sp
}

// Metadata is Violet's metadata as this provider's service provider: its
// entity ID, the ACS URL (HTTP-POST) and, with SAML_SP_* set, its
// certificate for signing and encryption.
func (p *Provider) Metadata() ([]byte, error) {
	b, err := xml.MarshalIndent(p.serviceProvider(nil).Metadata(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal the SAML metadata: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// fetched is the identity provider's metadata and when it was fetched
// (zero when pasted: never fetched again).
type fetched struct {
	m  *saml.EntityDescriptor
	at time.Time
}

// refreshAfter is how long fetched metadata is used before it is fetched
// again: a provider rolls its signing key over by publishing the new
// certificate in its metadata.
const refreshAfter = 24 * time.Hour

// idp returns the identity provider's metadata, fetching it when none
// was, or when the copy is older than refreshAfter. One fetch runs at a
// time: without a copy the others wait for it, or give up with their
// request (ctx); with a stale copy they use it meanwhile, and it is kept
// when the new fetch fails. A failed fetch is remembered until retryAfter
// after now: sign-ins meanwhile fail at once (or use the stale copy).
func (p *Provider) idp(ctx context.Context, now time.Time) (*saml.EntityDescriptor, error) {
	f := p.meta.Load()
	if f != nil && (p.cfg.MetadataXML != "" || now.Before(f.at.Add(refreshAfter))) {
		return f.m, nil
	}
	if f != nil {
		select {
		case p.sem <- struct{}{}:
		default:
			return f.m, nil // being fetched again: the copy meanwhile
		}
	} else {
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for the metadata: %w", sso.ErrProviderDown, ctx.Err())
		}
	}
	defer func() { <-p.sem }()
	if f = p.meta.Load(); f != nil && now.Before(f.at.Add(refreshAfter)) {
		return f.m, nil // fetched while this one waited
	}
	if p.failure != nil && now.Before(p.failedAt.Add(retryAfter)) {
		if f != nil {
			return f.m, nil
		}
		return nil, p.failure
	}
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	m, err := p.fetch(fctx)
	if err != nil {
		err = fmt.Errorf("%w: metadata: %w", sso.ErrProviderDown, err)
		// A request that went away says nothing about the provider.
		if ctx.Err() == nil {
			p.sp.log.Warn("single sign-on: the SAML identity provider's metadata cannot be read",
				"provider", p.cfg.Key, "stale_copy_kept", f != nil, "err", err)
			p.failedAt, p.failure = now, err
		}
		if f != nil {
			return f.m, nil
		}
		return nil, err
	}
	p.meta.Store(&fetched{m: m, at: now})
	p.failure = nil
	return m, nil
}

// maxMetadata bounds an identity provider's metadata, fetched or pasted:
// one provider's is a few kilobytes (crewjam's own bound, 256 MB, is made
// for federations' aggregates).
const maxMetadata = 1 << 20

// fetch reads the metadata at MetadataURL.
func (p *Provider) fetch(ctx context.Context) (*saml.EntityDescriptor, error) {
	u, err := url.Parse(p.cfg.MetadataURL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.sp.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxMetadata {
		return nil, fmt.Errorf("larger than %d bytes", maxMetadata)
	}
	return parseMetadata(data)
}

// requestCookie is what the browser keeps of one sign-in attempt, sealed.
type requestCookie struct {
	Key        string // the provider it was started with
	RequestID  string // the AuthnRequest's ID: the only InResponseTo accepted
	RelayState string
	Next       string
	Link       uuid.UUID // the account an identity is being linked to; uuid.Nil for a sign-in
}

func (sp SP) cookieOf(value string, maxAge int) *http.Cookie {
	// The identity provider sends the browser back with a cross-site POST
	// (HTTP-POST binding), which SameSite=Lax or Strict would keep the
	// cookie from: on https it is SameSite=None (which browsers accept only
	// with Secure). On plain http a browser refuses SameSite=None, so it is
	// Lax: there the identity provider is expected on the same site (a
	// provider on loopback, tests), where Lax cookies travel with the POST.
	ss := http.SameSiteLaxMode
	if sp.secure {
		ss = http.SameSiteNoneMode
	}
	return &http.Cookie{Name: sp.cookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: sp.secure, SameSite: ss}
}
