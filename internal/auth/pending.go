package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
)

// Sign-in methods of a session besides MethodPassword (refresh_tokens.method).
const (
	// MethodPasswordTOTP: the password, then a code of the authenticator app.
	MethodPasswordTOTP = "password+totp"
	// MethodPasswordRecovery: the password, then a recovery code.
	MethodPasswordRecovery = "password+recovery"
	// MethodPasswordEnrol: the password alone, by someone whose group
	// requires a second factor they have not set up yet; such a session
	// only reaches the enrolment pages until one is confirmed.
	MethodPasswordEnrol = "password:enrol"
	// EnrolSuffix ends the method of every enrolment-only session:
	// "password:enrol", "oidc:<key>:enrol".
	EnrolSuffix = ":enrol"
)

// IsEnrolMethod reports whether a session of method reaches only the
// enrolment pages (whatever signed it in: the password or a provider).
func IsEnrolMethod(method string) bool { return strings.HasSuffix(method, EnrolSuffix) }

// EnrolMethod is the enrolment-only method of a sign-in by base
// (MethodPassword, oidc:<key>).
func EnrolMethod(base string) string { return base + EnrolSuffix }

// FactorMethod is the method of a sign-in by base completed with a factor
// of kind ("totp", "recovery"): "password+totp", "oidc:<key>+recovery".
func FactorMethod(base, kind string) string {
	if base == "" {
		base = MethodPassword
	}
	return strings.TrimSuffix(base, EnrolSuffix) + "+" + kind
}

// BaseMethod is what signed a session of method in, without the factor
// that completed it or the enrolment mark: "oidc:corp" for
// "oidc:corp+totp" and "oidc:corp:enrol", "password" for "password+totp".
func BaseMethod(method string) string {
	method = strings.TrimSuffix(method, EnrolSuffix)
	if i := strings.IndexByte(method, '+'); i >= 0 {
		return method[:i]
	}
	return method
}

// PendingTTL is how long a verified password waits for its second factor.
const PendingTTL = 5 * time.Minute

// Pending is a sign-in half done: the password of UserID was verified at
// PasswordAt and the second factor is still to come. Nonce makes each one
// unique, so the sign-in that completes it can spend it; PasswordHash is a
// fingerprint of the password hash it was verified against, so a password
// changed since voids it.
type Pending struct {
	UserID       uuid.UUID
	PasswordAt   time.Time
	Nonce        string
	PasswordHash string
	// Method is the first step's method: "" for the password, oidc:<key>
	// for a provider's sign-in (PasswordAt is then when it vouched).
	Method string
}

// PendingCodec signs and encrypts the pending sign-in cookie with keys
// derived from the session key (never the session cookie's own key).
type PendingCodec struct {
	codec  *securecookie.SecureCookie
	secure bool
	name   string
}

// NewPendingCodec returns the codec; secure (https BASE_URL) adds the
// Secure flag and the __Host- prefix, as for the session cookie.
func NewPendingCodec(key []byte, secure bool) *PendingCodec {
	mac := sha256.Sum256(append([]byte("violet pending sign-in mac\x00"), key...))
	enc := sha256.Sum256(append([]byte("violet pending sign-in enc\x00"), key...))
	codec := securecookie.New(mac[:], enc[:])
	codec.MaxAge(0) // the age is checked against the server's clock: PendingTTL
	name := "violet_pending"
	if secure {
		name = "__Host-violet_pending"
	}
	return &PendingCodec{codec: codec, secure: secure, name: name}
}

// NewPending is a pending sign-in of userID whose password (passwordHash,
// as stored) was verified at now.
func NewPending(userID uuid.UUID, passwordHash string, now time.Time) Pending {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return Pending{UserID: userID, PasswordAt: now, Nonce: base64.RawURLEncoding.EncodeToString(b),
		PasswordHash: PasswordFingerprint(passwordHash)}
}

// PasswordFingerprint identifies a stored password hash without carrying
// it: a change of password changes it.
func PasswordFingerprint(hash string) string {
	sum := sha256.Sum256([]byte("violet password fingerprint\x00" + hash))
	return hex.EncodeToString(sum[:16])
}

// NonceHash is what the audit log keeps of a spent pending sign-in.
func (p Pending) NonceHash() string {
	sum := sha256.Sum256([]byte(p.Nonce))
	return hex.EncodeToString(sum[:16])
}

// Expired reports whether p is older than PendingTTL at now.
func (p Pending) Expired(now time.Time) bool {
	return now.Sub(p.PasswordAt) > PendingTTL || now.Before(p.PasswordAt.Add(-time.Minute))
}

type pendingWire struct {
	U uuid.UUID
	T int64
	N string
	H string
	M string
}

// Cookie is the pending sign-in's cookie: HttpOnly, SameSite=Lax (the
// second step may follow a redirect), gone after PendingTTL.
func (c *PendingCodec) Cookie(p Pending) *http.Cookie {
	v, err := c.codec.Encode(c.name, pendingWire{U: p.UserID, T: p.PasswordAt.UnixMicro(), N: p.Nonce, H: p.PasswordHash, M: p.Method})
	if err != nil {
		// Encoding a fixed struct with valid keys cannot fail.
		panic(err)
	}
	return &http.Cookie{Name: c.name, Value: v, Path: "/", MaxAge: int(PendingTTL.Seconds()),
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode}
}

// Clear is the cookie that removes the pending sign-in.
func (c *PendingCodec) Clear() *http.Cookie {
	return &http.Cookie{Name: c.name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode}
}

// Read returns the request's pending sign-in; false when there is none or
// it was altered.
func (c *PendingCodec) Read(r *http.Request) (Pending, bool) {
	ck, err := r.Cookie(c.name)
	if err != nil {
		return Pending{}, false
	}
	var w pendingWire
	if err := c.codec.Decode(c.name, ck.Value, &w); err != nil || w.U == uuid.Nil || w.N == "" {
		return Pending{}, false
	}
	return Pending{UserID: w.U, PasswordAt: time.UnixMicro(w.T), Nonce: w.N, PasswordHash: w.H, Method: w.M}, true
}
