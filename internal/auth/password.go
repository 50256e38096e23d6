package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules: at least 12 characters, at most 1024 bytes, never trimmed or
// case-folded, no composition rules, not the email.
const (
	MinPasswordChars = 12
	MaxPasswordBytes = 1024
)

// Password policy errors.
var (
	ErrPasswordTooShort  = errors.New("password too short")
	ErrPasswordTooLong   = errors.New("password too long")
	ErrPasswordIsEmail   = errors.New("password equals the email")
	ErrHasherBusy        = errors.New("too many password checks at once")
	errMalformedPHC      = errors.New("malformed password hash")
	errUnsupportedScheme = errors.New("unsupported password hash")
)

// CheckPassword applies the password rules to a new password.
func CheckPassword(password, email string) error {
	switch {
	case len(password) > MaxPasswordBytes:
		return ErrPasswordTooLong
	case utf8.RuneCountInString(password) < MinPasswordChars:
		return ErrPasswordTooShort
	case email != "" && strings.EqualFold(password, email):
		return ErrPasswordIsEmail
	}
	return nil
}

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2Params are OWASP's minimum for argon2id.
func DefaultArgon2Params() Argon2Params { return Argon2Params{Memory: 19456, Time: 2, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes and verifies passwords with argon2id. At most a fixed
// number of hashes run at once (each takes ~19 MiB and tens of
// milliseconds); a caller that cannot get a slot within the wait gets
// ErrHasherBusy, so a login flood costs 429s, not an out-of-memory kill.
type Hasher struct {
	params Argon2Params
	slots  chan struct{}
	wait   time.Duration
	dummy  string // hash of a random password, verified for unknown emails
}

// NewHasher returns a hasher running at most concurrency hashes at once.
func NewHasher(params Argon2Params, concurrency int, wait time.Duration) (*Hasher, error) {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: params, slots: make(chan struct{}, concurrency), wait: wait}
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	dummy, err := h.Hash(context.Background(), base64.RawStdEncoding.EncodeToString(random))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrHasherBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string encoded, and
// whether the hash should be replaced because the parameters have risen
// since it was made. The comparison is constant-time.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	if len(password) > MaxPasswordBytes {
		return false, false, ErrPasswordTooLong
	}
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	cur := h.params
	rehash = ok && (p.Memory < cur.Memory || p.Time < cur.Time || p.Threads < cur.Threads)
	return ok, rehash, nil
}

// VerifyDummy spends the same effort as Verify against a hash nobody has,
// so an unknown email takes as long to refuse as a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

func parsePHC(s string) (Argon2Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return Argon2Params{}, nil, nil, errMalformedPHC
	}
	if parts[1] != "argon2id" {
		return Argon2Params{}, nil, nil, errUnsupportedScheme
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Argon2Params{}, nil, nil, errUnsupportedScheme
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
		return Argon2Params{}, nil, nil, errMalformedPHC
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return Argon2Params{}, nil, nil, errMalformedPHC
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return Argon2Params{}, nil, nil, errMalformedPHC
	}
	return p, salt, key, nil
}
