// Package passkey is sign-in with passkeys (WebAuthn discoverable
// credentials): registering one on the security page, signing in with a
// passkey alone, and a passkey as the second step after a password or a
// provider. Passkeys are registered and used with user verification
// required (a PIN, biometrics): a passkey alone is two factors, so it
// satisfies a group's second-factor policy.
//
// The workflows act as the system (webauthn_credentials is
// SystemOnlyPolicy) after checking who asks, each in one transaction with
// its audit event. A ceremony's state (the challenge) waits in a sealed,
// short-lived cookie between its two requests, and is spent by the
// success that completes it.
package passkey

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/gorilla/securecookie"

	"violet/ent"
	"violet/ent/user"
	"violet/ent/webauthncredential"
	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/factor"
)

// Method is the session method of a sign-in with a passkey alone; Kind
// is the factor's name after a first step ("password+passkey").
const (
	Method = "passkey"
	Kind   = "passkey"
)

// TTL is how long a ceremony (from its options to the browser's answer)
// may take.
const TTL = 5 * time.Minute

// MaxName is the longest name of a passkey, in characters; DefaultName
// is the name the form proposes.
const (
	MaxName     = 100
	DefaultName = "Passkey"
)

// Ceremony kinds, kept in the cookie so that one kind's state never
// completes another.
const (
	kindRegister = "register"
	kindLogin    = "login"
	kindSecond   = "second"
)

var (
	// ErrCeremony: no ceremony in progress for this answer (no cookie,
	// altered, expired, of another kind or user, or already spent).
	ErrCeremony = errors.New("passkey: no ceremony in progress")
	// ErrSignInFailed: the passkey did not sign in (unknown, not
	// verified, a counter that went back, an inactive account): one
	// answer for all, the audit log says which.
	ErrSignInFailed = errors.New("passkey: sign-in failed")
)

// Service runs the passkey workflows.
type Service struct {
	client   *ent.Client
	db       auth.Querier
	accounts *account.Service
	throttle *auth.Throttle
	wa       *webauthn.WebAuthn
	codec    *securecookie.SecureCookie
	name     string
	secure   bool
	now      func() time.Time
}

// Config is what the service needs besides the database: the instance's
// public URL (the relying party's id is its host, the origin its
// scheme://host[:port]), the session key (the ceremony cookie's keys are
// derived from it) and whether cookies are Secure.
type Config struct {
	BaseURL    *url.URL
	SessionKey []byte
	Secure     bool
	Now        func() time.Time
}

// New returns the service on client and db (the pool, for one SQL read);
// accounts creates the sessions and checks the
// re-authentication, throttle counts failed sign-ins.
func New(client *ent.Client, db auth.Querier, accounts *account.Service, throttle *auth.Throttle, c Config) (*Service, error) {
	if c.BaseURL == nil || c.BaseURL.Hostname() == "" {
		return nil, errors.New("passkey: BASE_URL is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          c.BaseURL.Hostname(),
		RPDisplayName: "Violet",
		RPOrigins:     []string{c.BaseURL.Scheme + "://" + c.BaseURL.Host},
		// The ceremony's age is checked against the server's clock (TTL);
		// the browser is given as long.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: TTL, TimeoutUVD: TTL},
			Registration: webauthn.TimeoutConfig{Timeout: TTL, TimeoutUVD: TTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	mac, err := hkdf.Key(sha256.New, c.SessionKey, nil, "violet webauthn v1 mac", 32)
	if err != nil {
		return nil, err
	}
	enc, err := hkdf.Key(sha256.New, c.SessionKey, nil, "violet webauthn v1", 32)
	if err != nil {
		return nil, err
	}
	codec := securecookie.New(mac, enc)
	codec.MaxAge(0) // the age is checked against the server's clock: TTL
	name := "violet_webauthn"
	if c.Secure {
		name = "__Host-violet_webauthn"
	}
	return &Service{client: client, db: db, accounts: accounts, throttle: throttle, wa: wa, codec: codec,
		name: name, secure: c.Secure, now: c.Now}, nil
}

// CookieName is the ceremony cookie's name (the handlers read it).
func (s *Service) CookieName() string { return s.name }

// ceremony is the state kept between a ceremony's two requests.
type ceremony struct {
	K string    // kind
	S []byte    // webauthn.SessionData, JSON
	U uuid.UUID // the user: the registering viewer, the pending sign-in's
	N string    // the passkey's name (registration)
	P string    // the pending sign-in's nonce hash (second step)
	T int64     // when it began, Unix microseconds
}

func (c ceremony) session() (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	err := json.Unmarshal(c.S, &sd)
	return sd, err
}

// spentHash is what the audit log keeps of a completed ceremony: its
// challenge's hash, never the challenge.
func (c ceremony) spentHash() string {
	sd, _ := c.session()
	sum := sha256.Sum256([]byte("violet webauthn ceremony\x00" + sd.Challenge))
	return hex.EncodeToString(sum[:16])
}

// cookie seals c: HttpOnly, SameSite=Strict (the ceremony never leaves
// the site), gone after TTL.
func (s *Service) cookie(c ceremony) (*http.Cookie, error) {
	v, err := s.codec.Encode(s.name, c)
	if err != nil {
		return nil, fmt.Errorf("passkey: seal ceremony: %w", err)
	}
	return &http.Cookie{Name: s.name, Value: v, Path: "/", MaxAge: int(TTL.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode}, nil
}

// Clear is the cookie that ends a ceremony (sent with every answer to a
// finish, success or not).
func (s *Service) Clear() *http.Cookie {
	return &http.Cookie{Name: s.name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode}
}

// open reads the ceremony of kind from the cookie value v: ErrCeremony
// when it is missing, altered, of another kind or older than TTL.
func (s *Service) open(v, kind string) (ceremony, error) {
	var c ceremony
	if v == "" || s.codec.Decode(s.name, v, &c) != nil || c.K != kind {
		return ceremony{}, ErrCeremony
	}
	began := time.UnixMicro(c.T)
	if now := s.now(); now.Sub(began) > TTL || now.Before(began.Add(-time.Minute)) {
		return ceremony{}, ErrCeremony
	}
	return c, nil
}

func (s *Service) begin(kind string, sd *webauthn.SessionData, u uuid.UUID, name, pending string) (*http.Cookie, error) {
	raw, err := json.Marshal(sd)
	if err != nil {
		return nil, err
	}
	return s.cookie(ceremony{K: kind, S: raw, U: u, N: name, P: pending, T: s.now().UnixMicro()})
}

// spentQuery: a ceremony completes once; the success that completed it
// (action $1: login.succeeded, factor.passkey_added) keeps its
// challenge's hash. Only events younger than a ceremony can live are read.
const spentQuery = `SELECT EXISTS (SELECT 1 FROM audit_events
	WHERE action = $1 AND details->>'ceremony' = $2 AND created_at > $3)`

// spent reports whether c was completed already (by a success of action),
// read through q: the pool before the work, and the transaction again once
// the user's row is locked (two answers of one ceremony take turns).
func (s *Service) spent(ctx context.Context, q auth.Querier, action string, c ceremony) (bool, error) {
	rows, err := q.QueryContext(ctx, spentQuery, action, c.spentHash(), s.now().Add(-TTL-2*time.Minute))
	if err != nil {
		return false, fmt.Errorf("passkey: spent ceremony: %w", err)
	}
	defer rows.Close()
	var ok bool
	if rows.Next() {
		if err := rows.Scan(&ok); err != nil {
			return false, err
		}
	}
	return ok, rows.Err()
}

// waUser is a user as the WebAuthn library sees them: the user handle is
// the user's id (16 bytes, no personal data).
type waUser struct {
	u     *ent.User
	creds []webauthn.Credential
}

func (w waUser) WebAuthnID() []byte                         { return w.u.ID[:] }
func (w waUser) WebAuthnName() string                       { return w.u.Email }
func (w waUser) WebAuthnDisplayName() string                { return displayName(w.u) }
func (w waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func displayName(u *ent.User) string {
	if strings.TrimSpace(u.DisplayName) != "" {
		return u.DisplayName
	}
	return u.Email
}

// credential is a stored passkey as the library checks it.
func credential(r *ent.WebAuthnCredential) webauthn.Credential {
	c := webauthn.Credential{
		ID: r.CredentialID, PublicKey: r.PublicKey, AttestationType: r.AttestationType,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: r.UserVerified,
			BackupEligible: r.BackupEligible, BackupState: r.BackupState},
		Authenticator: webauthn.Authenticator{SignCount: uint32(r.SignCount)},
	}
	if r.Aaguid != nil {
		c.Authenticator.AAGUID = *r.Aaguid
	}
	for _, t := range r.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// loadUser is userID with their passkeys through client; nil when the
// account is missing, deactivated or deleted.
func loadUser(ctx context.Context, client *ent.Client, userID uuid.UUID) (*ent.User, []*ent.WebAuthnCredential, error) {
	sys := rule.SystemContext(ctx)
	u, err := client.User.Query().Where(user.ID(userID), user.IsActive(true), user.DeletedAtIsNil()).Only(sys)
	if ent.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: load account: %w", err)
	}
	rows, err := client.WebAuthnCredential.Query().Where(webauthncredential.UserID(userID)).
		Order(ent.Asc(webauthncredential.FieldCreatedAt)).All(sys)
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: load passkeys: %w", err)
	}
	return u, rows, nil
}

func adapter(u *ent.User, rows []*ent.WebAuthnCredential) waUser {
	w := waUser{u: u}
	for _, r := range rows {
		w.creds = append(w.creds, credential(r))
	}
	return w
}

// CounterOK is the sign counter rule: an authenticator that counts (a
// counter not zero, stored or new) must show a counter above the one last
// seen; one that does not go up is a cloned authenticator, or a replay.
func CounterOK(stored int64, got uint32) bool {
	if stored == 0 && got == 0 {
		return true // an authenticator without a counter (many synced passkeys)
	}
	return int64(got) > stored
}

// checkName trims a passkey's name and checks it: required, at most
// MaxName characters.
func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", app.Invalidf("name", "form.required")
	case utf8.RuneCountInString(name) > MaxName:
		return "", app.Invalidf("name", "passkeys.name_too_long")
	case !utf8.ValidString(name):
		return "", app.Invalidf("name", "passkeys.name_invalid")
	}
	return name, nil
}

// sameBytes reports whether a and b are equal (ids, not secrets).
func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) }

// requiredFactorLeft reports whether removing one passkey of userID
// leaves them without a factor while one of their groups requires one.
func requiredFactorLeft(ctx context.Context, client *ent.Client, userID uuid.UUID) (bool, error) {
	required, err := factor.Required(ctx, client, userID)
	if err != nil || !required {
		return false, err
	}
	totp, passkeys, err := factor.Factors(ctx, client, userID)
	if err != nil {
		return false, err
	}
	return !totp && passkeys <= 1, nil
}
