package admission

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
)

// PendingTTL is how long an identity the provider vouched for waits for
// the password of the account it is to be linked to.
const PendingTTL = 5 * time.Minute

// PendingLink is a sign-in through a provider that found an account with
// the identity's verified e-mail but no link to it (KeyExisting): the
// identity waits, sealed in the browser, for that account's password,
// which links the two (account.Service.SignInLinking). It is how a
// person whose account predates single sign-on moves to it, also when
// single sign-on is required and the password alone opens nothing.
type PendingLink struct {
	Method  string // oidc:<key>, saml:<key>
	Issuer  string
	Subject string
	Email   string // verified by the provider; the account's
	Name    string
	Next    string // where the sign-in goes on to, checked as local
	At      time.Time
	// Verified is the account whose password was checked, set while the
	// link waits for that account's second step (account.CompleteLink).
	Verified uuid.UUID
}

// Claims are the identity's claims, for Link.
func (p PendingLink) Claims() Claims {
	return Claims{Issuer: p.Issuer, Subject: p.Subject, Email: p.Email, Name: p.Name}
}

// PendingCodec seals the pending link in its cookie, with keys derived
// from the session key under a label of their own.
type PendingCodec struct {
	codec  *securecookie.SecureCookie
	name   string
	secure bool
}

// NewPendingCodec returns the codec of sessionKey; secure is the
// instance's https (Secure cookie, __Host- prefix).
func NewPendingCodec(sessionKey []byte, secure bool) (*PendingCodec, error) {
	keys, err := hkdf.Key(sha256.New, sessionKey, nil, "violet sso pending link v1", 64)
	if err != nil {
		return nil, fmt.Errorf("derive the pending link cookie's keys: %w", err)
	}
	codec := securecookie.New(keys[:32], keys[32:])
	codec.MaxAge(int(PendingTTL / time.Second))
	name := "violet_sso_link"
	if secure {
		name = "__Host-violet_sso_link"
	}
	return &PendingCodec{codec: codec, name: name, secure: secure}, nil
}

// Cookie is the cookie of p.
func (c *PendingCodec) Cookie(p PendingLink) (*http.Cookie, error) {
	v, err := c.codec.Encode(c.name, p)
	if err != nil {
		return nil, fmt.Errorf("seal the pending link: %w", err)
	}
	return c.cookieOf(v, int(PendingTTL/time.Second)), nil
}

// Read is the pending link of r's cookie; ok is false when there is none
// or it does not open, or it is older than PendingTTL at now.
func (c *PendingCodec) Read(r *http.Request, now time.Time) (PendingLink, bool) {
	ck, err := r.Cookie(c.name)
	if err != nil {
		return PendingLink{}, false
	}
	var p PendingLink
	if c.codec.Decode(c.name, ck.Value, &p) != nil || p.Method == "" || p.Subject == "" || p.Email == "" ||
		now.Sub(p.At) > PendingTTL || p.At.After(now.Add(time.Minute)) {
		return PendingLink{}, false
	}
	return p, true
}

// Clear is the cookie that ends the pending link.
func (c *PendingCodec) Clear() *http.Cookie { return c.cookieOf("", -1) }

func (c *PendingCodec) cookieOf(value string, maxAge int) *http.Cookie {
	// Lax: it is set on the provider's redirect back (a cross-site
	// navigation) and read by the form posted from Violet's own page.
	return &http.Cookie{Name: c.name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode}
}
