package factor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/recoverycode"
	"violet/ent/usertotp"
	"violet/internal/auth/rule"
)

// Failures of a code, for the caller to explain next to the field.
var (
	// ErrWrongCode: neither a valid app code nor an unused recovery code
	// (a code already used in its window is wrong too).
	ErrWrongCode = errors.New("factor: wrong code")
	// ErrEnrolmentExpired: the enrolment form was started too long ago, or
	// for someone else, or altered.
	ErrEnrolmentExpired = errors.New("factor: enrolment expired")
)

// EnrolmentTTL bounds the time between starting an enrolment (after the
// re-authentication) and confirming it with a first code.
const EnrolmentTTL = 15 * time.Minute

// Kinds of factor a code was checked against (the session's method says
// "password+" one of them).
const (
	KindTOTP     = "totp"
	KindRecovery = "recovery"
)

// Service reads and changes the factors of users. The caller decides who
// may: every query runs as the system (the rows are system-only).
type Service struct {
	client *ent.Client
	sealer *Sealer
	now    func() time.Time
}

// NewService returns the factors on client, sealing secrets under a key
// derived from sessionKey; now is the clock (nil: time.Now).
func NewService(client *ent.Client, sessionKey []byte, now func() time.Time) (*Service, error) {
	sealer, err := NewSealer(sessionKey)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Service{client: client, sealer: sealer, now: now}, nil
}

// Status is what a person's factors are.
type Status struct {
	TOTP         bool      // a confirmed authenticator app
	Since        time.Time // when it was confirmed
	RecoveryLeft int       // unused recovery codes
}

// Status returns userID's factors.
func (s *Service) Status(ctx context.Context, userID uuid.UUID) (Status, error) {
	sys := rule.SystemContext(ctx)
	var st Status
	t, err := s.client.UserTOTP.Query().Where(usertotp.UserID(userID), usertotp.ConfirmedAtNotNil()).Only(sys)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return Status{}, fmt.Errorf("load factors: %w", err)
	default:
		st.TOTP, st.Since = true, *t.ConfirmedAt
	}
	if st.RecoveryLeft, err = s.client.RecoveryCode.Query().
		Where(recoverycode.UserID(userID), recoverycode.UsedAtIsNil()).Count(sys); err != nil {
		return Status{}, fmt.Errorf("load factors: %w", err)
	}
	return st, nil
}

// Enrolled reports whether userID has a confirmed authenticator app,
// through tx when it is not nil.
func (s *Service) Enrolled(ctx context.Context, tx *ent.Tx, userID uuid.UUID) (bool, error) {
	c := s.client.UserTOTP
	if tx != nil {
		c = tx.UserTOTP
	}
	ok, err := c.Query().Where(usertotp.UserID(userID), usertotp.ConfirmedAtNotNil()).Exist(rule.SystemContext(ctx))
	if err != nil {
		return false, fmt.Errorf("load factors: %w", err)
	}
	return ok, nil
}

// Enrolment is an authenticator app being set up: the secret to enter
// (or scan), and Token, the sealed secret the confirmation form carries.
// Nothing is stored until a first code confirms it, so an enrolment left
// half-way changes nothing, and an app already set up keeps working until
// its replacement is confirmed.
type Enrolment struct {
	Secret string
	URL    string
	QR     QR
	Token  string
}

func enrolAD(userID uuid.UUID) []byte  { return []byte("violet enrolment\x00" + userID.String()) }
func secretAD(userID uuid.UUID) []byte { return []byte("violet totp\x00" + userID.String()) }

// Begin starts an enrolment for userID (whose email names the account in
// the app).
func (s *Service) Begin(userID uuid.UUID, email string) (Enrolment, error) {
	secret, err := NewSecret()
	if err != nil {
		return Enrolment{}, err
	}
	// The start time (µs, the database's precision) lets Confirm refuse a
	// token started before the app last confirmed: a token is good once.
	token := s.sealer.Seal([]byte(strconv.FormatInt(s.now().UnixMicro(), 10)+"|"+secret), enrolAD(userID))
	return enrolment(secret, email, token)
}

func enrolment(secret, email, token string) (Enrolment, error) {
	u := KeyURL(secret, email)
	q, err := QRCode(u)
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: secret, URL: u, QR: q, Token: token}, nil
}

// Resume opens an enrolment's token again (the form came back with an
// error): ErrEnrolmentExpired when it is not userID's or too old.
func (s *Service) Resume(userID uuid.UUID, email, token string) (Enrolment, error) {
	secret, _, err := s.openEnrolment(userID, token)
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(secret, email, token)
}

func (s *Service) openEnrolment(userID uuid.UUID, token string) (string, time.Time, error) {
	plain, err := s.sealer.Open(token, enrolAD(userID))
	if err != nil {
		return "", time.Time{}, ErrEnrolmentExpired
	}
	at, secret, ok := strings.Cut(string(plain), "|")
	micros, perr := strconv.ParseInt(at, 10, 64)
	started := time.UnixMicro(micros)
	if !ok || perr != nil || s.now().Sub(started) > EnrolmentTTL {
		return "", time.Time{}, ErrEnrolmentExpired
	}
	return secret, started, nil
}

// Confirm checks code against the enrolment's secret and, when it
// matches, stores the app as userID's (replacing any earlier one) and
// gives a new set of recovery codes, returned once to be shown.
func (s *Service) Confirm(ctx context.Context, tx *ent.Tx, userID uuid.UUID, token, code string) ([]string, error) {
	sys := rule.SystemContext(ctx)
	secret, started, err := s.openEnrolment(userID, token)
	if err != nil {
		return nil, err
	}
	// An app confirmed after this token was started (by this very token,
	// or another) voids it: the form sent again, or an old tab, must not
	// replace the app set up since.
	newer, err := tx.UserTOTP.Query().Where(usertotp.UserID(userID), usertotp.ConfirmedAtGT(started)).Exist(sys)
	if err != nil {
		return nil, fmt.Errorf("load factor: %w", err)
	}
	if newer {
		return nil, ErrEnrolmentExpired
	}
	step, ok := Match(secret, code, s.now(), 0)
	if !ok {
		return nil, ErrWrongCode
	}
	if _, err := tx.UserTOTP.Delete().Where(usertotp.UserID(userID)).Exec(sys); err != nil {
		return nil, fmt.Errorf("replace factor: %w", err)
	}
	if err := tx.UserTOTP.Create().SetUserID(userID).SetSecret(s.sealer.Seal([]byte(secret), secretAD(userID))).
		SetConfirmedAt(s.now()).SetLastStep(step).Exec(sys); err != nil {
		return nil, fmt.Errorf("save factor: %w", err)
	}
	return s.Regenerate(ctx, tx, userID)
}

// Used is what a code that worked was.
type Used struct {
	Kind         string // KindTOTP or KindRecovery
	RecoveryLeft int    // unused recovery codes after this one
}

// Verify checks code for userID in tx: an app code (its row locked, a step
// not newer than the last one used refused, the step recorded), else an
// unused recovery code (spent). ErrWrongCode otherwise.
func (s *Service) Verify(ctx context.Context, tx *ent.Tx, userID uuid.UUID, code string) (Used, error) {
	sys := rule.SystemContext(ctx)
	if LooksLikeTOTP(code) {
		t, err := tx.UserTOTP.Query().Where(usertotp.UserID(userID), usertotp.ConfirmedAtNotNil()).ForUpdate().Only(sys)
		if ent.IsNotFound(err) {
			return Used{}, ErrWrongCode
		}
		if err != nil {
			return Used{}, fmt.Errorf("load factor: %w", err)
		}
		secret, err := s.sealer.Open(t.Secret, secretAD(userID))
		if err != nil {
			return Used{}, err
		}
		step, ok := Match(string(secret), code, s.now(), t.LastStep)
		if !ok {
			return Used{}, ErrWrongCode
		}
		if err := tx.UserTOTP.UpdateOneID(t.ID).SetLastStep(step).Exec(sys); err != nil {
			return Used{}, fmt.Errorf("save factor: %w", err)
		}
		return Used{Kind: KindTOTP}, nil
	}
	if len(NormaliseRecovery(code)) != 16 {
		return Used{}, ErrWrongCode
	}
	// The hash is looked up, not compared: an index lookup on a SHA-256
	// of 80 random bits leaks nothing a guesser could use.
	n, err := tx.RecoveryCode.Update().
		Where(recoverycode.UserID(userID), recoverycode.CodeHash(HashRecovery(code)), recoverycode.UsedAtIsNil()).
		SetUsedAt(s.now()).Save(sys)
	if err != nil {
		return Used{}, fmt.Errorf("spend recovery code: %w", err)
	}
	if n != 1 {
		return Used{}, ErrWrongCode
	}
	left, err := tx.RecoveryCode.Query().Where(recoverycode.UserID(userID), recoverycode.UsedAtIsNil()).Count(sys)
	if err != nil {
		return Used{}, fmt.Errorf("count recovery codes: %w", err)
	}
	return Used{Kind: KindRecovery, RecoveryLeft: left}, nil
}

// Regenerate replaces userID's recovery codes by RecoveryCount new ones,
// returned once to be shown; only their hashes are kept.
func (s *Service) Regenerate(ctx context.Context, tx *ent.Tx, userID uuid.UUID) ([]string, error) {
	sys := rule.SystemContext(ctx)
	if _, err := tx.RecoveryCode.Delete().Where(recoverycode.UserID(userID)).Exec(sys); err != nil {
		return nil, fmt.Errorf("replace recovery codes: %w", err)
	}
	codes := NewRecoveryCodes()
	if err := tx.RecoveryCode.MapCreateBulk(codes, func(c *ent.RecoveryCodeCreate, i int) {
		c.SetUserID(userID).SetCodeHash(HashRecovery(codes[i]))
	}).Exec(sys); err != nil {
		return nil, fmt.Errorf("save recovery codes: %w", err)
	}
	return codes, nil
}

// Remove deletes userID's authenticator app and recovery codes.
func (s *Service) Remove(ctx context.Context, tx *ent.Tx, userID uuid.UUID) error {
	return Remove(ctx, tx, userID)
}

// Remove deletes userID's authenticator app and recovery codes in tx and
// needs no key: an administrator removes the app of someone who lost it
// (people.RemoveTOTP).
func Remove(ctx context.Context, tx *ent.Tx, userID uuid.UUID) error {
	sys := rule.SystemContext(ctx)
	if _, err := tx.UserTOTP.Delete().Where(usertotp.UserID(userID)).Exec(sys); err != nil {
		return fmt.Errorf("remove factor: %w", err)
	}
	if _, err := tx.RecoveryCode.Delete().Where(recoverycode.UserID(userID)).Exec(sys); err != nil {
		return fmt.Errorf("remove recovery codes: %w", err)
	}
	return nil
}
