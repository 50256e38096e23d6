// Package layout is the page frame every full page shares: head, header
// with navigation, main, footer, and the toast region for htmx errors.
package layout

import "strconv"

// Assets resolves a logical asset name to its content-hashed URL.
type Assets interface {
	URL(name string) string
}

// NavItem is one entry of the main navigation.
type NavItem struct {
	Key     string // i18n key of the label
	Href    string
	Current bool
}

// User is the signed-in user shown in the header's user menu.
type User struct {
	DisplayName string
	Email       string
	Locale      string
	Unread      int // unread notifications, for the bell
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    string // "success" or "error"
	Message string // already translated
}

// Props is what the frame needs from the handler.
type Props struct {
	Title   string // already translated
	Assets  Assets
	Version string
	Nav     []NavItem
	User    *User // nil when nobody is signed in
	Flashes []Flash
	Path    string // the page's own path and query, to come back to after a form in the frame
	// Live is the URL of the page's event stream (live updates, the bell);
	// empty when nobody is signed in.
	Live string
}

// UnreadCap mirrors auth.UnreadCap: counts at or beyond it show as "99+".
const UnreadCap = 100

// UnreadLabel is the bell's count: the number, or "99+".
func UnreadLabel(n int) string {
	if n >= UnreadCap {
		return "99+"
	}
	return strconv.Itoa(n)
}

// htmxConfig is the safe htmx configuration: no eval, no script tags in
// swapped content, no injected indicator styles (the CSP forbids inline
// styles), no history cache (Back after logout must not show a cached page),
// requests only to this origin. Error responses are swapped so the error
// handler's toast reaches the page.
const htmxConfig = `{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false,` +
	`"historyCacheSize":0,"refreshOnHistoryMiss":true,"selfRequestsOnly":true,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},` +
	`{"code":"[45]..","swap":true,"error":true}]}`
