package identity

import "violet/internal/i18n"

// FirstZone is the time zone to store for an account whose zone is
// current when its browser reports browser, on a sign-in or an accepted
// invitation: the browser's, when the account has none yet and browser
// names a zone the zone database knows (i18n.LoadZone: what a browser
// sends is never trusted). A zone already set is never replaced: signing
// in while travelling does not move the account's clock; /account does.
func FirstZone(current, browser string) (string, bool) {
	if current != "" {
		return "", false
	}
	if _, ok := i18n.LoadZone(browser); !ok {
		return "", false
	}
	return browser, true
}
