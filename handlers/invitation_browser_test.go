package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserInvitation walks the invitation flow in two real browsers: an
// admin creates an invitation and reads the link shown once; a second
// browser opens it, chooses a name and a password, lands signed in, logs
// out with the header's button and signs back in with the new password; a
// link the admin revoked shows the generic page. Screenshots are kept.
func TestBrowserInvitation(t *testing.T) {
	app, base := browsertest.Server(t)
	app.User(t, "admin@example.com", "admin")
	admin := browsertest.New(t)
	guest := browsertest.New(t) // a second, independent browser
	adminConsole := browsertest.WatchConsole(admin)
	guestConsole := browsertest.WatchConsole(guest)

	run := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	signIn := func(ctx context.Context, email, password string) {
		t.Helper()
		run(ctx, "sign in as "+email,
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
			chromedp.SendKeys(chromedp.CSS(`#field-email`), email),
			chromedp.SendKeys(chromedp.CSS(`#field-password`), password),
			chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
			browsertest.Loaded(),
		)
	}
	// createLink creates an invitation into observer on the admin page and
	// returns the link it shows.
	createLink := func() string {
		t.Helper()
		run(admin, "create an invitation",
			chromedp.Navigate(base+"/admin/invitations"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation-form"]`)),
			chromedp.Click(chromedp.CSS(`[data-testid="group-observer"]`)),
			chromedp.Click(chromedp.CSS(`[data-testid="invitation-submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation-link"]`)),
		)
		link, err := chromedp.Run(admin, chromedp.Value(chromedp.CSS(`[data-testid="invitation-link"]`)))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, app.Config.BaseURL.String()+"/invitations/") {
			t.Fatalf("the link %q is not built on BASE_URL %s", link, app.Config.BaseURL)
		}
		return link
	}
	// onTestServer points a link built on BASE_URL at the test server,
	// whose port BASE_URL cannot know in advance.
	onTestServer := func(link string) string {
		t.Helper()
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		return base + u.Path
	}

	// The admin signs in and creates an invitation.
	run(admin, "open the invitations page", chromedp.Navigate(base+"/admin/invitations"))
	signIn(admin, "admin@example.com", apptest.Password)
	if got, err := chromedp.Run(admin, chromedp.AttributeValue(chromedp.CSS(`#field-expiry_hours`), "value")); err != nil || got.Value != "72" {
		t.Errorf("expiry proposed: %q (%v), want 72", got.Value, err)
	}
	link := createLink()
	// The copy button copies (clipboard API, or the copy command) and says
	// so; no inline script is involved, the CSP would refuse it.
	run(admin, "copy the link", chromedp.Click(chromedp.CSS(`[data-testid="invitation-copy"]`)))
	// Generous: on a busy machine the clipboard call can take seconds.
	for deadline := time.Now().Add(20 * time.Second); text(admin, `[data-testid="invitation-copy"]`) != "Copied"; {
		if time.Now().After(deadline) {
			t.Fatal("the copy button never said Copied")
		}
		time.Sleep(50 * time.Millisecond)
	}
	browsertest.Screenshot(t, admin, "admin-link-shown-once")

	// A second browser opens the link and creates the account.
	resp, err := chromedp.RunResponse(guest, chromedp.Navigate(onTestServer(link)))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("open the link: %v %v", resp, err)
	}
	run(guest, "fill the acceptance form",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="accept-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "newcomer@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-display_name`), "Newcomer"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), "newcomer passphrase"),
		chromedp.SendKeys(chromedp.CSS(`#field-password_confirm`), "newcomer passphrase"),
	)
	browsertest.Screenshot(t, guest, "guest-accept-form")
	run(guest, "accept", chromedp.Click(chromedp.CSS(`[data-testid="accept-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash-success"]`)))
	if loc, _ := chromedp.Run(guest, chromedp.Location()); loc != base+"/" {
		t.Errorf("landed on %q, want the home page", loc)
	}
	if got := text(guest, `[data-testid="user-menu-toggle"]`); got != "Newcomer" {
		t.Errorf("signed in as %q, want Newcomer", got)
	}
	browsertest.Screenshot(t, guest, "guest-signed-in")

	// Log out with the header's button, then sign back in.
	run(guest, "log out",
		chromedp.Click(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
	)
	if loc, _ := chromedp.Run(guest, chromedp.Location()); !strings.HasPrefix(loc, base+"/login") {
		t.Errorf("after logout on %q, want the sign-in page", loc)
	}
	signIn(guest, "newcomer@example.com", "newcomer passphrase")
	if got := text(guest, `[data-testid="user-menu-toggle"]`); got != "Newcomer" {
		t.Errorf("signed back in as %q, want Newcomer", got)
	}
	browsertest.Screenshot(t, guest, "guest-signed-back-in")

	// The admin creates a second link and revokes it in the list (htmx).
	revoked := createLink()
	run(admin, "revoke it",
		chromedp.Navigate(base+"/admin/invitations?status=pending"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation-row"][data-status="pending"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="invitation-revoke"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation-row"][data-status="revoked"]`)),
	)
	browsertest.Screenshot(t, admin, "admin-revoked")

	resp, err = chromedp.RunResponse(guest, chromedp.Navigate(onTestServer(revoked)))
	if err != nil || resp.Status != http.StatusGone {
		t.Fatalf("open the revoked link: %v %v, want 410", resp, err)
	}
	run(guest, "generic page", chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation-invalid"]`)))
	if n, err := chromedp.Run(guest, chromedp.Evaluate[int](`document.querySelectorAll("[data-testid=accept-form]").length`)); err != nil || n != 0 {
		t.Errorf("the revoked link shows a form (%d, %v)", n, err)
	}
	browsertest.Screenshot(t, guest, "revoked-link")

	var groups string
	if err := app.DB.QueryRow(`SELECT string_agg(g.name, ',') FROM users u JOIN user_groups ug ON ug.user_id = u.id
		JOIN groups g ON g.id = ug.group_id WHERE u.email = 'newcomer@example.com'`).Scan(&groups); err != nil || groups != "observer" {
		t.Errorf("the new account's groups: %q (%v), want observer", groups, err)
	}
	for name, c := range map[string]*browsertest.Console{"admin": adminConsole, "guest": guestConsole} {
		var errs []string
		for _, e := range c.Errors() {
			// The browser logs the 410 of the revoked link; that is the point.
			if !strings.Contains(e, "410") {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			t.Errorf("%s console errors (CSP violations or script failures):\n%s", name, strings.Join(errs, "\n"))
		}
	}
}
