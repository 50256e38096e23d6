package admin

import (
	"context"
	"strconv"
	"time"

	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/views/components"
	"violet/views/layout"
)

// InvitationStatuses are the list's filters in the order shown; "all" is
// the last.
func InvitationStatuses() []string {
	return []string{"pending", "accepted", "expired", "revoked", "all"}
}

// InvitationsPage is the invitations list with its create form.
type InvitationsPage struct {
	Tabs   []layout.NavItem
	Status string         // the filter: a status or "all"
	Counts map[string]int // per status, and "all"
	Rows   []InvitationRow
	Page   int // 1-based
	Pages  int
	Form   InvitationForm
	Groups []InvitationGroup // the groups the viewer may grant
}

// InvitationRow is one invitation of the list.
type InvitationRow struct {
	ID        string
	For       string // the email hint, or the account of a reset; "" for anyone
	Reset     bool
	Inviter   string // "" for the system
	Groups    []string
	Status    string
	ExpiresAt time.Time
	CreatedAt time.Time
	UsedBy    string
}

// CanRevoke reports whether the row offers revocation: pending links only.
func (r InvitationRow) CanRevoke() bool { return r.Status == "pending" }

// RowID is the element id of the row, the target of the revoke partial.
func (r InvitationRow) RowID() string { return "invitation-" + r.ID }

// InvitationForm is the create form as the viewer left it.
type InvitationForm struct {
	EmailHint   string
	GroupIDs    map[string]bool
	ExpiryHours string
	Errors      components.Errors
}

// InvitationGroup is one group checkbox of the create form.
type InvitationGroup struct {
	ID          string
	Name        string
	Description string
}

// InvitationLink is the page that shows a new link, once.
type InvitationLink struct {
	Tabs      []layout.NavItem
	URL       string
	For       string
	Reset     bool
	Groups    []string
	ExpiresAt time.Time
	BackHref  string
}

// filterHref is the list's URL for a status filter (first page).
func filterHref(status string) string { return paths.Invitations + "?status=" + status }

// pageHref is the list's URL for a page of a filter.
func pageHref(status string, page int) string {
	return paths.Invitations + "?status=" + status + "&page=" + strconv.Itoa(page)
}

// when formats a time for the tables, in the viewer's zone, to the minute,
// with the zone named.
func when(ctx context.Context, t time.Time) string { return i18n.Time(ctx, t) }

// statusBadge is the badge class of a status.
func statusBadge(status string) string {
	switch status {
	case "pending":
		return "badge badge--ok"
	case "accepted":
		return "badge badge--neutral"
	case "revoked":
		return "badge badge--danger"
	default:
		return "badge badge--warn"
	}
}
