// Package factor holds the second factors of sign-in: the authenticator
// app (TOTP, RFC 6238 through pquerna/otp) with its secret sealed at rest,
// and the ten one-time recovery codes. It checks codes and writes the
// factor rows inside the caller's transaction, so the account workflows
// (internal/account) record the audit event of a change with it; the rows
// are system-only (rule.SystemOnlyPolicy), so every query here runs as the
// system after the caller checked who asks.
package factor

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/hkdf"
)

// TOTP parameters: what every authenticator app understands (SHA1, six
// digits, 30 seconds), one step of clock skew accepted each way.
const (
	Issuer = "Violet"
	Period = 30
	Digits = 6
	Skew   = 1
	// RecoveryCount is how many recovery codes a person holds.
	RecoveryCount = 10
	// recoveryBytes is 80 random bits per recovery code: 16 base32
	// characters, too many to guess, so a fast hash stores them.
	recoveryBytes = 10
)

// ErrSealed: a sealed value that this instance's key cannot open (altered,
// or sealed under another key).
var ErrSealed = errors.New("factor: sealed value cannot be opened")

// sealInfo names the key derived from the session key for TOTP secrets, so
// that the cookie-signing key is never used as it is for encryption.
const sealInfo = "violet totp secret v1"

// Sealer encrypts TOTP secrets (AES-256-GCM) under a key derived from the
// instance's session key: a copy of the database alone does not reveal
// the secrets.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the sealing key from sessionKey with HKDF-SHA256.
func NewSealer(sessionKey []byte) (*Sealer, error) {
	if len(sessionKey) == 0 {
		return nil, errors.New("factor: no session key")
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, sessionKey, nil, []byte(sealInfo)), key); err != nil {
		return nil, fmt.Errorf("factor: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain with a fresh nonce: base64(nonce || ciphertext).
// ad binds the value to its use (the user it belongs to), so a sealed
// value moved to another row or purpose does not open.
func (s *Sealer) Seal(plain, ad []byte) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand does not fail (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, ad))
}

// Open decrypts what Seal made with the same ad; anything altered is
// ErrSealed.
func (s *Sealer) Open(sealed string, ad []byte) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, ErrSealed
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], ad)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

// NewSecret returns a new random TOTP secret (160 bits, base32 without
// padding, as authenticator apps expect).
func NewSecret() (string, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: Issuer, AccountName: "x", Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", fmt.Errorf("factor: new secret: %w", err)
	}
	return key.Secret(), nil
}

// KeyURL is the otpauth:// URL an authenticator app reads from the QR
// code: the secret for account (the person's email) at Issuer.
func KeyURL(secret, account string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", Issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + Issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// Step is the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

var validateOpts = totp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Match checks code against secret at time at, within Skew steps each way,
// and returns the step it matched. A step at or before lastStep is
// refused: a code already used (or an older one) does not work twice.
func Match(secret, code string, at time.Time, lastStep int64) (int64, bool) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != Digits {
		return 0, false
	}
	now := Step(at)
	matched, ok := int64(0), false
	// Every candidate is computed and compared in constant time, so the
	// time taken says nothing about which step matched.
	for d := int64(-Skew); d <= Skew; d++ {
		step := now + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*Period, 0).UTC(), validateOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > lastStep && !ok {
			matched, ok = step, true
		}
	}
	return matched, ok
}

// LooksLikeTOTP reports whether code is shaped like an app's code (six
// digits, spaces allowed) rather than a recovery code.
func LooksLikeTOTP(code string) bool {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != Digits {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes returns RecoveryCount new codes as shown to the person
// (ABCD-EFGH-IJKL-MNOP).
func NewRecoveryCodes() []string {
	out := make([]string, RecoveryCount)
	for i := range out {
		b := make([]byte, recoveryBytes)
		_, _ = rand.Read(b)
		s := recoveryEncoding.EncodeToString(b)
		out[i] = s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	}
	return out
}

// NormaliseRecovery is a recovery code as stored: upper case, without the
// dashes and spaces people type or copy; the digits 0, 1 and 8, which
// base32 does not use, read as the letters they are mistaken for.
func NormaliseRecovery(code string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch {
		case r == '0':
			b.WriteRune('O')
		case r == '1':
			b.WriteRune('I')
		case r == '8':
			b.WriteRune('B')
		case r >= 'A' && r <= 'Z', r >= '2' && r <= '7':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// HashRecovery is the stored form of a recovery code: the SHA-256 (hex)
// of its normalised form.
func HashRecovery(code string) string {
	sum := sha256.Sum256([]byte(NormaliseRecovery(code)))
	return hex.EncodeToString(sum[:])
}
