// Package notifications renders the viewer's notifications page: the list
// (paged, filtered to the unread ones on demand), the read marks and the
// preferences of which kinds to receive.
package notifications

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"violet/internal/paths"
)

// PageSize is how many notifications one page of the list shows.
const PageSize = 30

// Path is the notifications page's address.
const Path = paths.Notifications

// Filter is the list's query as the unread switch and the pager hold it.
// It round-trips through the URL so that Back and reload show the same list.
type Filter struct {
	Unread bool // unread notifications only
	Page   int  // from 1
}

// URL returns the list's address for this filter on page.
func (f Filter) URL(page int) string {
	v := url.Values{}
	if f.Unread {
		v.Set("unread", "1")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return Path
	}
	return Path + "?" + v.Encode()
}

// Row is one notification of the list.
type Row struct {
	ID        string
	KindKey   string // i18n key of the kind's label
	Title     string // rendered in the recipient's language when it was sent
	CreatedAt time.Time
	Read      bool
	HasLink   bool // Open leads somewhere else than this page
}

// RowID is the element id of a notification's row, which Mark read swaps.
func (r Row) RowID() string { return "notification-" + r.ID }

// List is one page of the viewer's notifications.
type List struct {
	Filter Filter
	Rows   []Row
	Total  int // notifications matching the filter
	Pages  int
	Unread int // the viewer's unread notifications, up to layout.UnreadCap
}

// From is the position of the first row shown (1-based), 0 when none.
func (l List) From() int {
	if l.Total == 0 {
		return 0
	}
	return (l.Filter.Page-1)*PageSize + 1
}

// To is the position of the last row shown.
func (l List) To() int { return l.From() + len(l.Rows) - 1 }

// Choice is one checkbox of the preferences form: a kind, checked when the
// viewer receives it.
type Choice struct {
	Kind     string
	LabelKey string
	On       bool
}

// InputID is the element id of a kind's checkbox (kinds hold dots, which
// CSS selectors would read as classes).
func (c Choice) InputID() string { return "notify-" + strings.ReplaceAll(c.Kind, ".", "-") }

// Prefs is the preferences form, which htmx saves in place.
type Prefs struct {
	Choices   []Choice
	Saved     bool // the change just made was saved
	Unchanged bool // the form was sent with nothing to change
}

// Page is the whole notifications page.
type Page struct {
	List  List
	Prefs Prefs
}

// formatTime shows a time with its zone named, as the other pages do.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// isoTime is the machine-readable form for <time datetime>.
func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
