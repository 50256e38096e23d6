// Package notifications renders the viewer's notifications page: the list
// (paged, filtered to the unread ones on demand), the read marks and the
// preferences of which kinds to receive.
package notifications

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"violet/internal/i18n"
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
	KindKey   string              // i18n key of the kind's label
	Title     string              // rendered in the recipient's language when it was sent
	TitleKey  string              // i18n key of the title, rendered in the reader's language ("" on old rows)
	TitleArgs []map[string]string // as stored: {"name","text"} kept as written, {"name","key"} translated when read
	CreatedAt time.Time
	Read      bool
	HasLink   bool // Open leads somewhere else than this page
}

// ShownTitle is the title in the reader's language (see RenderTitle).
func (r Row) ShownTitle(ctx context.Context) string {
	return RenderTitle(ctx, r.TitleKey, r.TitleArgs, r.Title)
}

// RenderTitle renders a notification's title in the language ctx carries:
// the message key with its arguments ({"name","text"} as written,
// {"name","key"} translated), or fallback (the title written in the
// recipient's language when it was sent) when the key is empty or a key
// is not in the catalogue (a row older than the keys, or a message
// removed since), so a reader never sees a bare key.
func RenderTitle(ctx context.Context, key string, args []map[string]string, fallback string) string {
	if key == "" || i18n.FromContext(ctx) == nil {
		return fallback
	}
	data := make([]any, 0, 2*len(args))
	for _, a := range args {
		v, ok := a["text"]
		if k, isKey := a["key"]; isKey {
			if v = i18n.T(ctx, k); v == k {
				return fallback
			}
			ok = true
		}
		if !ok {
			return fallback
		}
		data = append(data, a["name"], v)
	}
	if s := i18n.T(ctx, key, data...); s != key {
		return s
	}
	return fallback
}

// TextArg is a title argument kept as written (a mission's or a test's
// name, a count).
func TextArg(name string, v any) map[string]string {
	return map[string]string{"name": name, "text": fmt.Sprint(v)}
}

// KeyArg is a title argument translated when the title is read (a status
// or role label).
func KeyArg(name, key string) map[string]string {
	return map[string]string{"name": name, "key": key}
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

// formatTime shows a time in the viewer's zone with the zone named, as
// the other pages do.
func formatTime(ctx context.Context, t time.Time) string { return i18n.Time(ctx, t) }

// isoTime is the machine-readable form for <time datetime>.
func isoTime(t time.Time) string { return i18n.ISO(t) }
