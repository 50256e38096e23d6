// Package account renders "My account": the viewer's profile and
// language, the password change and the list of their sessions.
package account

import (
	"context"
	"time"

	"violet/internal/i18n"
	"violet/views/apitokens"
	"violet/views/components"
)

// Page is everything the account page shows.
type Page struct {
	Email    string
	Security Security // the second factors, summed up (security.templ)
	Profile  ProfileForm
	Password PasswordForm
	Sessions Sessions
	// APITokens is the viewer's API tokens block (internal/apitoken).
	APITokens apitokens.Block
}

// ProfileForm is the profile section: the name, language and time zone
// as saved, or as the viewer typed them when the form came back with
// errors.
type ProfileForm struct {
	DisplayName string
	Locale      string
	TimeZone    string // IANA name, "" for none (UTC)
	Errors      components.Errors
}

// PasswordForm is the password section. Passwords are never sent back to
// the browser, so only the errors are kept.
type PasswordForm struct {
	Errors components.Errors
}

// Session is one live session of the viewer.
type Session struct {
	ID         string
	Browser    string // "" when the user agent was not recognised
	OS         string
	UserAgent  string // as the browser sent it
	IP         string
	SignedInAt time.Time // when the session (the first token of its chain) began
	LastSeenAt time.Time
	Current    bool   // the session of this very request
	Method     string // how it was signed in (refresh_tokens.method): MethodKey labels it
}

// Sessions is the sessions block, which htmx swaps after an action.
type Sessions struct {
	Rows []Session
	// Notice is the i18n key of what the last action did, "" for none.
	Notice string
}

// Others reports whether there are sessions besides the current one.
func (s Sessions) Others() bool {
	for _, r := range s.Rows {
		if !r.Current {
			return true
		}
	}
	return false
}

// rawAgentMax bounds an unrecognised user agent shown as it is.
const rawAgentMax = 60

// rawAgent is an unrecognised user agent cut to a readable length.
func rawAgent(ua string) string {
	r := []rune(ua)
	if len(r) <= rawAgentMax {
		return ua
	}
	return string(r[:rawAgentMax-1]) + "…"
}

// formatTime shows a time in the viewer's zone with the zone named.
func formatTime(ctx context.Context, t time.Time) string { return i18n.Time(ctx, t) }

// isoTime is the machine-readable form for <time datetime>.
func isoTime(t time.Time) string { return i18n.ISO(t) }
