package account

import (
	"context"
	"strconv"
	"strings"
	"time"

	"violet/internal/i18n"
	"violet/views/components"
)

// Security is the viewer's second factors as the account and security
// pages show them, with the three forms that change them.
type Security struct {
	TOTP          bool      // a confirmed authenticator app
	Since         time.Time // when it was confirmed
	RecoveryLeft  int
	RecoveryTotal int
	// Required: one of the viewer's groups requires a second factor (the
	// app cannot be removed). Enrolling: this session was opened only to
	// set one up.
	Required  bool
	Enrolling bool
	// NoPassword: the session was signed in through an identity provider:
	// the forms ask no password (a code, or a recent sign-in, instead).
	NoPassword bool
	// The forms, each asking the password (and a code once an app is set
	// up) again; their fields are named with their prefix, so the page
	// holds them side by side.
	Start      ReauthForm
	Remove     ReauthForm
	Regenerate ReauthForm
	// Passkeys are the viewer's passkeys; PasskeyAdd the form that adds
	// one (its errors come back as JSON: a script drives it);
	// PasskeyErrors a passkey's rename or remove form's errors, on the
	// passkey PasskeyFailed.
	Passkeys      []Passkey
	PasskeyErrors components.Errors
	PasskeyFailed string
	// Identities are the viewer's identities at identity providers;
	// Linkable the providers they may link one at (those with none yet);
	// Link the linking form's errors; IdentityErrors the unlink form's of
	// identity IdentityFailed.
	Identities     []Identity
	Linkable       []LinkOption
	Link           ReauthForm
	IdentityErrors components.Errors
	IdentityFailed string
}

// Identity is one of the viewer's identities at an identity provider.
type Identity struct {
	ID       string
	Provider string // the provider's name, or its method when it is gone
	Email    string // as the provider gave it last
	Added    time.Time
	LastUsed *time.Time
}

// LinkOption is a provider an identity may be linked at.
type LinkOption struct {
	Key    string
	Kind   string // "oidc" or "saml"
	Name   string
	Method string // oidc:<key>, saml:<key>
}

// PrefixLink prefixes the re-authentication fields of the linking form.
const PrefixLink = "link_"

// IdentityPrefix prefixes the fields of identity id's unlink form.
func IdentityPrefix(id string) string { return "identity_" + id + "_" }

// identityErrors are the errors of identity i's unlink form.
func (s Security) identityErrors(i Identity) components.Errors {
	if s.IdentityFailed != i.ID {
		return components.Errors{}
	}
	return ReauthForm{Errors: s.IdentityErrors}.prefixed(IdentityPrefix(i.ID))
}

// Passkey is one of the viewer's passkeys on the security page.
type Passkey struct {
	ID       string
	Name     string
	Added    time.Time
	LastUsed *time.Time
	Synced   bool // backed up (a synced passkey)
	Syncable bool // may be backed up
}

// PrefixPasskey prefixes the re-authentication fields of the form that
// adds a passkey.
const PrefixPasskey = "passkey_"

// PasskeyPrefix prefixes the fields of passkey id's rename and remove
// forms: each passkey's are apart, so the page's element ids stay unique.
func PasskeyPrefix(id string) string { return "passkey_" + id + "_" }

// passkeyErrors are the errors of passkey p's forms.
func (s Security) passkeyErrors(p Passkey) components.Errors {
	if s.PasskeyFailed != p.ID {
		return components.Errors{}
	}
	return ReauthForm{Errors: s.PasskeyErrors}.prefixed(PasskeyPrefix(p.ID))
}

// passkeyBackup names a passkey's backup state.
func passkeyBackup(p Passkey) string {
	switch {
	case p.Synced:
		return "passkeys.backup.synced"
	case p.Syncable:
		return "passkeys.backup.syncable"
	}
	return "passkeys.backup.device"
}

// Form prefixes of the security page's forms.
const (
	PrefixStart      = "start_"
	PrefixRemove     = "remove_"
	PrefixRegenerate = "regen_"
)

// Form is the form of prefix (PrefixStart, PrefixRemove, PrefixRegenerate).
func (s *Security) Form(prefix string) *ReauthForm {
	switch prefix {
	case PrefixRemove:
		return &s.Remove
	case PrefixRegenerate:
		return &s.Regenerate
	}
	return &s.Start
}

// ReauthForm is a re-authentication form's errors, keyed as the workflow
// names the fields ("password", "code"; "" for the form).
type ReauthForm struct {
	Errors components.Errors
}

// prefixed is the form's errors keyed by its fields' names on the page.
func (f ReauthForm) prefixed(prefix string) components.Errors {
	out := components.Errors{}
	for k, v := range f.Errors {
		if k != "" {
			k = prefix + k
		}
		out[k] = v
	}
	return out
}

// Enrolment is the setting up of an authenticator app: the QR code (an
// SVG path over a viewBox, drawn on the server), the secret for manual
// entry, the sealed token the confirmation carries, and the form's errors.
type Enrolment struct {
	Secret    string
	Token     string
	QRViewBox string
	QRPath    string
	Errors    components.Errors
}

// groupedSecret shows the secret in groups of four, easier to copy by hand.
func groupedSecret(s string) string {
	var parts []string
	for len(s) > 4 {
		parts = append(parts, s[:4])
		s = s[4:]
	}
	return strings.Join(append(parts, s), " ")
}

// RecoveryCodes is the page that shows new recovery codes, once.
type RecoveryCodes struct {
	Codes []string
	// Enrolled: they come with an app just set up (the page says so).
	Enrolled bool
}

// methodLabel names a session's sign-in method in the reader's language.
func methodLabel(ctx context.Context, m string) string {
	switch {
	case m == "password":
		return i18n.T(ctx, "factors.method.password")
	case m == "password+totp":
		return i18n.T(ctx, "factors.method.password_totp")
	case m == "password+recovery":
		return i18n.T(ctx, "factors.method.password_recovery")
	case m == "password:enrol":
		return i18n.T(ctx, "factors.method.password_enrol")
	case m == "passkey":
		return i18n.T(ctx, "passkeys.method.passkey")
	case m == "password+passkey":
		return i18n.T(ctx, "passkeys.method.password_passkey")
	case strings.HasPrefix(m, "oidc:") && strings.HasSuffix(m, "+passkey"):
		return i18n.T(ctx, "passkeys.method.sso_passkey", "Provider", strings.TrimSuffix(strings.TrimPrefix(m, "oidc:"), "+passkey"))
	case strings.HasPrefix(m, "oidc:"), strings.HasPrefix(m, "saml:"):
		// A provider's sign-in may be followed by Violet's second step
		// (oidc:<key>+totp, +recovery) or be enrolment-only (:enrol).
		key, then := m[strings.Index(m, ":")+1:], ""
		for _, suffix := range []string{"+totp", "+recovery", ":enrol"} {
			if strings.HasSuffix(key, suffix) {
				key, then = strings.TrimSuffix(key, suffix), suffix[1:]
			}
		}
		if then == "" {
			return i18n.T(ctx, "factors.method.sso", "Provider", key)
		}
		return i18n.T(ctx, "factors.method.sso_"+then, "Provider", key)
	}
	return m
}

// recoveryLeft is "N of 10".
func recoveryLeft(ctx context.Context, s Security) string {
	return i18n.T(ctx, "factors.recovery.left", "Left", strconv.Itoa(s.RecoveryLeft), "Total", strconv.Itoa(s.RecoveryTotal))
}

func itoa(n int) string { return strconv.Itoa(n) }
