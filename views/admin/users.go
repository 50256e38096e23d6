package admin

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"violet/internal/i18n"
	"violet/internal/paths"
)

// User list filters: the account states the list can show.
const (
	StatusAll         = "all"
	StatusActive      = "active"
	StatusDeactivated = "deactivated"
)

// UsersPageSize is how many users one page of the list shows.
const UsersPageSize = 50

// UserFilter is the user list's query as the search box, the filters and
// the pager hold it. It round-trips through the URL so that Back and
// reload show the same list.
type UserFilter struct {
	Q       string // part of an email or display name
	Group   string // a group's name, "" for any
	Status  string // StatusAll, StatusActive or StatusDeactivated
	Deleted bool   // the trash: soft-deleted users only
	Page    int    // from 1
}

// URL returns the list's address for this filter on page.
func (f UserFilter) URL(page int) string {
	v := url.Values{}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	if f.Group != "" {
		v.Set("group", f.Group)
	}
	if f.Status != "" && f.Status != StatusAll {
		v.Set("status", f.Status)
	}
	if f.Deleted {
		v.Set("deleted", "1")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return paths.Users
	}
	return paths.Users + "?" + v.Encode()
}

// UserRow is one line of the user list.
type UserRow struct {
	ID          string
	Email       string
	DisplayName string
	Active      bool
	Deleted     bool
	Groups      []string
	LastLogin   *time.Time
	// MixedEmail and MixedName flag an address or name that mixes writing
	// systems (identity.MixedScript), the way look-alike accounts are made.
	MixedEmail bool
	MixedName  bool
}

// UserList is the user list page: the filter, the choices of the group
// filter, one page of rows and where it sits in the whole.
type UserList struct {
	Filter   UserFilter
	Groups   []string // every group's name, for the group filter
	Rows     []UserRow
	Total    int // users matching the filter
	Pages    int
	CanTrash bool // the viewer may open the trash (user.manage)
}

// From is the position of the first row shown (1-based), 0 when none.
func (l UserList) From() int {
	if l.Total == 0 {
		return 0
	}
	return (l.Filter.Page-1)*UsersPageSize + 1
}

// To is the position of the last row shown.
func (l UserList) To() int { return l.From() + len(l.Rows) - 1 }

// GroupChoice is one checkbox of a user's groups form.
type GroupChoice struct {
	ID          string
	Name        string
	Description string
	Checked     bool
	// Grantable is false for groups the viewer may not give or take away
	// (admin, or a group holding permissions the viewer lacks): the box is
	// shown disabled.
	Grantable bool
}

// UserGroups is the groups block of a user's page, which htmx swaps after
// a change.
type UserGroups struct {
	UserID    string
	Choices   []GroupChoice
	Editable  bool   // the viewer has user.manage and the user is not deleted
	Saved     bool   // the change just made was saved
	ErrorKey  string // i18n key of why the change was refused
	Unchanged bool   // the form was sent with nothing to change
}

// UserDetail is a user's administration page.
type UserDetail struct {
	ID          string
	Email       string
	DisplayName string
	Locale      string
	Active      bool
	DeletedAt   *time.Time
	CreatedAt   time.Time
	LastLogin   *time.Time
	Sessions    int  // sessions neither ended nor expired
	TOTP        bool // a confirmed authenticator app (read for user managers)
	MixedEmail  bool
	MixedName   bool
	Self        bool
	CanManage   bool   // the viewer has user.manage
	ErrorKey    string // i18n key of why the last action was refused
	Groups      UserGroups
}

// Deleted reports whether the user is in the trash.
func (d UserDetail) Deleted() bool { return d.DeletedAt != nil }

// InputID is the element id of a group's checkbox.
func (c GroupChoice) InputID() string { return "group-" + c.ID }

// formatTime shows a time in the viewer's zone with the zone named.
func formatTime(ctx context.Context, t time.Time) string { return i18n.Time(ctx, t) }

// isoTime is the machine-readable form for <time datetime>.
func isoTime(t time.Time) string { return i18n.ISO(t) }

// hasUngrantable reports whether some groups are shown disabled.
func hasUngrantable(cs []GroupChoice) bool {
	for _, c := range cs {
		if !c.Grantable {
			return true
		}
	}
	return false
}

// checkedCount is the number of groups the user is in.
func checkedCount(cs []GroupChoice) int {
	n := 0
	for _, c := range cs {
		if c.Checked {
			n++
		}
	}
	return n
}
