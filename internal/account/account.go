// Package account is the signed-in person's own account: the account
// page, their profile and language, their password, their sessions; and
// signing in and out. Every change is one transaction holding its audit
// record (see "A workflow" in docs/ARCHITECTURE.md); the viewer is the one
// in the context, as the ent privacy rules expect.
//
// A refused request the form explains is an *app.Invalid: a message key
// per field, and Key for the form as a whole. When the refusal calls for
// a status of its own it is joined with its cause: ErrOversized (400),
// ErrSignInFailed (401), *Throttled (429) or auth.ErrHasherBusy (503).
package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/factor"
	"violet/internal/i18n"
	"violet/internal/identity"
	accountview "violet/views/account"
)

// Causes of refusals, joined with the *app.Invalid the form shows.
var (
	// ErrOversized: a password over auth.MaxPasswordBytes, refused before
	// any work.
	ErrOversized = errors.New("password over the size limit")
	// ErrSignInFailed: an unknown email, a wrong password and a
	// deactivated account get this one answer.
	ErrSignInFailed = errors.New("sign-in failed")
)

// Throttled refuses a password check after too many failures for the
// email or the client's address (auth.Throttle).
type Throttled struct {
	Wait time.Duration // until the next attempt is allowed
}

func (e *Throttled) Error() string {
	return fmt.Sprintf("too many failed sign-ins: retry in %s", e.Wait)
}

// refuse joins the form's message keys with the cause of the refusal.
func refuse(cause error, inv *app.Invalid) error { return errors.Join(cause, inv) }

// Service runs the workflows on a database.
type Service struct {
	client    *ent.Client
	db        *sql.DB
	sessions  *auth.SessionStore
	hasher    *auth.Hasher
	throttle  *auth.Throttle
	factors   *factor.Service // WithFactors
	log       *slog.Logger    // WithLog
	providers Providers       // WithProviders; nil: no identity can be linked
	now       func() time.Time
}

// NewService returns the workflows on client and db (the sessions list
// and the session chains are SQL); now is the clock (nil: time.Now).
func NewService(client *ent.Client, db *sql.DB, sessions *auth.SessionStore, hasher *auth.Hasher, throttle *auth.Throttle, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{client: client, db: db, sessions: sessions, hasher: hasher, throttle: throttle, now: now}
}

// Page returns what the account page shows, read through the request's
// context so the privacy policies apply; current is the request's session.
func (s *Service) Page(ctx context.Context, current uuid.UUID) (accountview.Page, error) {
	v := auth.FromContext(ctx)
	u, err := s.client.User.Get(ctx, v.UserID)
	if err != nil {
		return accountview.Page{}, fmt.Errorf("load account: %w", err)
	}
	rows, err := s.Sessions(ctx, current)
	if err != nil {
		return accountview.Page{}, err
	}
	var sec accountview.Security
	if s.factors != nil {
		if sec, err = s.Security(ctx, nil); err != nil {
			return accountview.Page{}, err
		}
	}
	return accountview.Page{
		Security: sec,
		Email:    u.Email,
		Profile:  accountview.ProfileForm{DisplayName: u.DisplayName, Locale: string(u.Locale), TimeZone: u.TimeZone},
		Sessions: accountview.Sessions{Rows: rows},
	}, nil
}

// ProfileInput is what the profile form may set: the viewer's own name,
// language and time zone, nothing else of their account.
type ProfileInput struct {
	DisplayName string
	Locale      string
	// TimeZone is an IANA zone name ("Europe/Paris"); "" leaves the
	// account without one, shown in UTC (and the next sign-in's browser
	// zone is taken).
	TimeZone string
}

// UpdateProfile saves the viewer's display name, language and time zone
// and reports whether anything changed. A name that another account has or
// reads like is refused ("identity.name.look_alike"); a zone the zone
// database does not know ("timezone.invalid").
func (s *Service) UpdateProfile(ctx context.Context, in ProfileInput) (bool, error) {
	inv := &app.Invalid{}
	name, err := identity.DisplayName(in.DisplayName)
	if err != nil {
		inv.Add("display_name", identity.NameMessageKey(err))
	}
	if !slices.Contains(i18n.Supported(), in.Locale) {
		inv.Add("locale", "account.profile.locale_invalid")
	}
	zone := strings.TrimSpace(in.TimeZone)
	if _, ok := i18n.LoadZone(zone); zone != "" && !ok {
		inv.Add("time_zone", "timezone.invalid")
	}
	if err := inv.Err(); err != nil {
		return false, err
	}
	return s.saveProfile(ctx, name, in.Locale, &zone)
}

// SetLanguage is the user menu's language switch: it saves the viewer's
// language alone.
func (s *Service) SetLanguage(ctx context.Context, locale string) error {
	if !slices.Contains(i18n.Supported(), locale) {
		return app.Invalidf("locale", "account.profile.locale_invalid")
	}
	_, err := s.saveProfile(ctx, "", locale, nil)
	return err
}

// saveProfile changes the viewer's own display name (unless name is "";
// normalised by identity.DisplayName), language and time zone (unless zone
// is nil; checked by the caller), with its audit event,
// in one transaction, through the request's context: the privacy policy
// lets viewers change these fields of their own row only. A new name that
// another account has or reads like is refused. It reports whether
// anything changed.
func (s *Service) saveProfile(ctx context.Context, name, locale string, zone *string) (bool, error) {
	v := auth.FromContext(ctx)
	changed := false
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if name != "" {
			// Taken before the row lock, in the order account creation
			// takes it; the language switch alone does not wait for it.
			if err := identity.Lock(ctx, tx); err != nil {
				return err
			}
		}
		u, err := tx.User.Query().Where(user.ID(v.UserID)).ForUpdate().Only(ctx)
		if err != nil {
			return fmt.Errorf("load account: %w", err)
		}
		upd := tx.User.UpdateOneID(u.ID)
		details := map[string]any{}
		if name != "" && name != u.DisplayName {
			// Compared only when the name changes: an account whose name
			// already reads like another's (made before this check) can
			// still change its language.
			clash, err := identity.Check(ctx, tx.User, u.ID, "", name)
			if err != nil {
				return err
			}
			if clash.Any() {
				return app.Invalidf("display_name", "identity.name.look_alike")
			}
			upd.SetDisplayName(name)
			details["display_name"] = map[string]any{"from": u.DisplayName, "to": name}
		}
		if locale != string(u.Locale) {
			upd.SetLocale(user.Locale(locale))
			details["locale"] = map[string]any{"from": string(u.Locale), "to": locale}
		}
		if zone != nil && *zone != u.TimeZone {
			upd.SetTimeZone(*zone)
			details["time_zone"] = map[string]any{"from": u.TimeZone, "to": *zone}
		}
		if len(details) == 0 {
			return nil
		}
		if err := upd.Exec(ctx); err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		changed = true
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.AccountUpdated, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: details,
		})
	})
	return changed, err
}
