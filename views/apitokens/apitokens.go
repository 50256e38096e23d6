// Package apitokens renders API tokens: the block that lists, makes and
// revokes them (on "My account" for the viewer's own, on a service
// account's administration page for its), and the service accounts'
// administration pages.
package apitokens

import (
	"context"
	"time"

	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/views/components"
)

// Row is one token as lists show it: never the token, only its prefix.
type Row struct {
	ID         string
	Name       string
	Prefix     string
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	Expired    bool
}

// Live reports whether the token still works.
func (r Row) Live() bool { return r.RevokedAt == nil && !r.Expired }

// Form is the create form as saved defaults or as the user left it.
type Form struct {
	Name      string
	Scopes    map[string]bool
	ExpiresIn string
	Errors    components.Errors
}

// Shown is a token just made, shown once.
type Shown struct {
	Token string
	Name  string
}

// Block is the tokens section.
type Block struct {
	// Owner is the service account whose tokens these are; "" for the
	// viewer's own (the account page). It decides where the forms post.
	Owner         string
	Rows          []Row
	Form          Form
	Created       *Shown
	Notice        string // i18n key of what the last action did, "" for none
	ScopeChoices  []string
	ExpiryChoices []string
	// Editable is false when no token may be made (a deleted account).
	Editable bool
}

// createURL is where the create form posts.
func (b Block) createURL() string {
	if b.Owner == "" {
		return paths.AccountAPITokens
	}
	return paths.URL(paths.ServiceAccountTokens, b.Owner)
}

// revokeURL is where a row's revoke button posts.
func (b Block) revokeURL(r Row) string {
	if b.Owner == "" {
		return paths.URL(paths.AccountAPITokenRevoke, r.ID)
	}
	return paths.URL(paths.ServiceAccountTokenRevoke, b.Owner, r.ID)
}

// Choice is one group checkbox of the service account form.
type Choice struct {
	ID, Name, Description string
}

// Account is one service account in the list.
type Account struct {
	ID          string
	Email       string
	DisplayName string
	Active      bool
	Groups      []string
	LiveTokens  int
}

// AccountForm is the new service account form.
type AccountForm struct {
	DisplayName string
	Email       string
	GroupIDs    map[string]bool
	Errors      components.Errors
}

// AccountsPage is Administration → Users → Service accounts.
type AccountsPage struct {
	Rows   []Account
	Groups []Choice // the groups the viewer may grant
	Form   AccountForm
}

// AccountPage is one service account's page: what it is and its tokens.
type AccountPage struct {
	Account Account
	Deleted bool
	Tokens  Block
}

func formatTime(ctx context.Context, t time.Time) string { return i18n.Time(ctx, t) }

func isoTime(t time.Time) string { return i18n.ISO(t) }
