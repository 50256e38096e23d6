package invite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/privacy"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/identity"
	"violet/views/admin"
)

// The workflows of the web pages: creating an invitation or a reset link
// from the admin's form, and accepting one from the invitee's. They check
// the form (an *app.Invalid with the message key of each refused field),
// run Create or Accept, and turn the refusals the user can act on into
// field errors.

// viewerGrantor is what the viewer of ctx may grant; nobody grants
// nothing.
func viewerGrantor(ctx context.Context) Grantor { return GrantorOf(auth.FromContext(ctx)) }

// forbidden makes a refusal to grant (the rule of MayGrant, or the privacy
// rules) an app.ErrForbidden; other errors are returned as they are.
func forbidden(err error) error {
	if errors.Is(err, ErrNotGrantable) || errors.Is(err, privacy.Deny) {
		return fmt.Errorf("%w: %w", app.ErrForbidden, err)
	}
	return err
}

// Request is the admin's create form as typed.
type Request struct {
	EmailHint   string   // "" (or blanks) for anyone
	GroupIDs    []string // the groups to grant
	ExpiryHours string   // whole hours, up to MaxExpiry
}

// Form is r as the create form shows it again, the input kept.
func (r Request) Form() admin.InvitationForm {
	f := admin.InvitationForm{EmailHint: r.EmailHint, ExpiryHours: r.ExpiryHours, GroupIDs: map[string]bool{}}
	for _, id := range r.GroupIDs {
		f.GroupIDs[id] = true
	}
	return f
}

// Invite creates an invitation from the create form, made by the viewer
// of ctx, and returns it (with its groups) and its token, which is shown
// once. A refused form is an *app.Invalid; groups the viewer may not grant
// are app.ErrForbidden.
func Invite(ctx context.Context, client *ent.Client, now time.Time, r Request) (*ent.Invitation, string, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, "", fmt.Errorf("%w: nobody is signed in", app.ErrForbidden)
	}
	errs := &app.Invalid{}
	email := ""
	if strings.TrimSpace(r.EmailHint) != "" {
		var err error
		if email, err = identity.Email(r.EmailHint); err != nil {
			errs.Add("email_hint", identity.EmailMessageKey(err))
		}
	}
	raw := strings.TrimSpace(r.ExpiryHours)
	hours, err := strconv.Atoi(raw)
	switch {
	case raw == "":
		errs.Add("expiry_hours", "form.required")
	case err != nil || hours < 1:
		errs.Add("expiry_hours", "admin.invitations.expiry_invalid")
	case time.Duration(hours)*time.Hour > MaxExpiry:
		errs.Add("expiry_hours", "admin.invitations.expiry_too_long")
	}
	var ids []uuid.UUID
	for _, s := range r.GroupIDs {
		id, err := uuid.Parse(s)
		if err != nil {
			errs.Add("group_ids", "admin.invitations.group_unknown")
			continue
		}
		ids = append(ids, id)
	}
	if err := errs.Err(); err != nil {
		return nil, "", err
	}
	inv, token, err := Create(ctx, client, now, Params{
		Inviter: v, EmailHint: email, GroupIDs: ids, Expiry: time.Duration(hours) * time.Hour,
	})
	switch {
	case errors.Is(err, ErrUnknownGroup):
		return nil, "", app.Invalidf("group_ids", "admin.invitations.group_unknown")
	case errors.Is(err, ErrEmailTaken):
		return nil, "", app.Invalidf("email_hint", "admin.invitations.email_taken")
	case errors.As(err, new(ClashError)):
		return nil, "", app.Invalidf("email_hint", "identity.email.look_alike")
	case errors.Is(err, ErrExpiry):
		return nil, "", app.Invalidf("expiry_hours", "admin.invitations.expiry_too_long")
	case err != nil:
		return nil, "", forbidden(err)
	}
	return inv, token, nil
}

// Reset makes a password reset link for the user userID, made by the
// viewer of ctx, and returns it (with the user as its ResetUser edge) and
// its token, shown once. Only an inviter who could grant all of the user's
// groups may make one (app.ErrForbidden otherwise): using it is signing in
// as that user. A deactivated user is ErrInactiveUser.
func Reset(ctx context.Context, client *ent.Client, now time.Time, userID uuid.UUID) (*ent.Invitation, string, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, "", fmt.Errorf("%w: nobody is signed in", app.ErrForbidden)
	}
	inv, token, err := Create(ctx, client, now, Params{Inviter: v, ResetUserID: userID})
	if err != nil {
		return nil, "", forbidden(err)
	}
	u, err := client.User.Get(ctx, userID)
	if err != nil {
		return nil, "", err
	}
	inv.Edges.ResetUser = u
	return inv, token, nil
}

// ErrPasswordTooLong is a password longer than any Violet hashes: the
// acceptance form is refused as a bad request (400), before anything else
// is checked.
var ErrPasswordTooLong = errors.New("password too long")

// Answer is what the invitee typed on the acceptance page.
type Answer struct {
	Email           string // used when the invitation has no email hint
	DisplayName     string
	Password        string
	PasswordConfirm string
	Locale          string
	TimeZone        string // the browser's zone, stored while the account has none (identity.FirstZone)
	// PreviousSession is the session the browser had, ended so that the
	// browser holds only the new account's session; uuid.Nil for none.
	PreviousSession uuid.UUID
}

// Accepter accepts invitations from the acceptance page.
type Accepter struct {
	Client   *ent.Client
	Sessions *auth.SessionStore
	Hasher   *auth.Hasher
	Now      func() time.Time
}

// Submit accepts the invitation of token, which Lookup found open, with
// the invitee's answer: it checks the answer, hashes the password and runs
// Accept, as the system (nobody is signed in yet; the invitation's own
// rules decide). A refused answer is an *app.Invalid (with
// ErrPasswordTooLong for a password too long to hash, and
// auth.ErrHasherBusy when too many passwords are being hashed at once);
// a link no longer valid is ErrInvalid, and an inviter who may no longer
// grant what it gave is ErrNotGrantable.
func (a *Accepter) Submit(ctx context.Context, token string, open *Open, ans Answer) (*Result, error) {
	if len(ans.Password) > auth.MaxPasswordBytes || len(ans.PasswordConfirm) > auth.MaxPasswordBytes {
		return nil, errors.Join(ErrPasswordTooLong, app.Invalidf("password", "invitations.accept.password_too_long"))
	}
	errs := &app.Invalid{}
	reset := open.ResetEmail != ""
	email := open.ResetEmail
	name := ""
	if !reset {
		var err error
		if open.EmailHint != "" {
			// A hint made before addresses were normalised as they are
			// now may not make an account; the invitee cannot change it.
			if email, err = identity.Email(open.EmailHint); err != nil {
				errs.Key = "identity.email.hint_unusable"
			}
		} else if email, err = identity.Email(ans.Email); err != nil {
			errs.Add("email", identity.EmailMessageKey(err))
		}
		if name, err = identity.DisplayName(ans.DisplayName); err != nil {
			errs.Add("display_name", identity.NameMessageKey(err))
		}
		if !slices.Contains(i18n.Supported(), ans.Locale) {
			errs.Add("locale", "invitations.accept.locale_invalid")
		}
	}
	switch err := auth.CheckPassword(ans.Password, email); {
	case ans.Password == "":
		errs.Add("password", "form.required")
	case errors.Is(err, auth.ErrPasswordTooShort):
		errs.Add("password", "invitations.accept.password_too_short")
	case errors.Is(err, auth.ErrPasswordIsEmail):
		errs.Add("password", "invitations.accept.password_is_email")
	case err != nil:
		errs.Add("password", "invitations.accept.password_too_long")
	}
	if _, bad := errs.Fields["password"]; !bad && ans.PasswordConfirm != ans.Password {
		errs.Add("password_confirm", "invitations.accept.password_mismatch")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}

	hash, err := a.Hasher.Hash(ctx, ans.Password)
	if errors.Is(err, auth.ErrHasherBusy) {
		return nil, errors.Join(err, &app.Invalid{Key: "invitations.accept.busy"})
	}
	if err != nil {
		return nil, err
	}
	res, err := Accept(rule.SystemContext(ctx), a.Client, a.Sessions, a.Now(), token, Acceptance{
		Email: email, DisplayName: name, Locale: ans.Locale, TimeZone: ans.TimeZone, PasswordHash: hash, PreviousSession: ans.PreviousSession,
	})
	var clash ClashError
	switch {
	case errors.Is(err, ErrEmailUnusable):
		return nil, &app.Invalid{Key: "identity.email.hint_unusable"}
	case errors.As(err, &clash), errors.Is(err, ErrEmailTaken):
		return nil, clashInvalid(clash, open.EmailHint != "")
	case err != nil:
		return nil, err
	}
	return res, nil
}

// clashInvalid says which fields clash with another account, the input
// kept. A bare ErrEmailTaken (a zero clash) is an address taken by a
// transaction that ended a moment ago. With an email hint the invitee
// cannot change the address, so its clash is the whole form's.
func clashInvalid(clash ClashError, hint bool) *app.Invalid {
	if clash == (ClashError{}) {
		clash.Clash.Email = identity.Same
	}
	errs := &app.Invalid{}
	switch {
	case clash.Clash.Email == identity.Same && hint:
		errs.Key = "invitations.accept.email_taken_hint"
	case clash.Clash.Email == identity.Same:
		errs.Add("email", "invitations.accept.email_taken")
	case clash.Clash.Email == identity.LookAlike && hint:
		errs.Key = "identity.email.look_alike_hint"
	case clash.Clash.Email == identity.LookAlike:
		errs.Add("email", "identity.email.look_alike")
	}
	if clash.Clash.Name != identity.None {
		errs.Add("display_name", "identity.name.look_alike")
	}
	return errs
}
