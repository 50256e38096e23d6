package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/internal/config"
	"violet/internal/paths"
	"violet/internal/testkit/browsertest"
)

// In Chromium: the sign-in page's provider button, the provider's own
// login form, back to Violet signed in; signing out ends Violet's session
// and goes on to the provider's end-session endpoint (the sign-out page's
// link, followed by app.js), with no CSP violation on the way.
func TestSSOBrowserSignInAndOut(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) { o.AllowedDomains = map[string][]string{"allowed.test": nil} })
	w.users.add("hana", "hana@allowed.test")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(w.base+paths.Login),
		chromedp.Click(chromedp.CSS(`[data-testid="sso-button"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "hana"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "idp-password"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
	); err != nil {
		browsertest.Screenshot(t, ctx, "sso-sign-in")
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != w.base+paths.Home {
		t.Errorf("signed in at %s, want home", loc)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
	); err != nil {
		t.Fatal(err)
	}
	// The browser goes through Violet's sign-out page to the provider.
	var loc string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if loc, _ = chromedp.Run(ctx, chromedp.Location()); strings.HasPrefix(loc, w.issuer) {
			break
		}
	}
	if !strings.HasPrefix(loc, w.issuer) {
		browsertest.Screenshot(t, ctx, "sso-sign-out")
		t.Fatalf("after signing out the browser is at %s, want the provider's end-session endpoint", loc)
	}
	// The provider's pages have no icon (404); a CSP violation would be
	// Violet's.
	for _, e := range console.Errors() {
		if strings.Contains(e, "Content Security Policy") {
			t.Errorf("console: %s", e)
		}
	}
	var sessions int
	if err := w.app.DB.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL`).Scan(&sessions); err != nil || sessions != 0 {
		t.Errorf("%d sessions left open after the sign-out: %v", sessions, err)
	}
}
