package handlers_test

import (
	"context"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// passkeyServer serves the app at http://localhost:<port> with BASE_URL
// saying so: the relying party is BASE_URL's host, and localhost is a
// secure context, as WebAuthn requires.
func passkeyServer(t *testing.T) (*apptest.App, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	u, _ := url.Parse(base)
	app := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.BaseURL = u }))
	srv := httptest.NewUnstartedServer(app)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return app, base
}

// TestBrowserPasskey registers a passkey in Chromium's virtual
// authenticator (CTAP2, resident keys, user verification) on the security
// page after the password is asked again, signs out, signs in with the
// passkey alone (the session says "passkey"), then with the password and
// the passkey as the second step ("password+passkey"), and removes it.
func TestBrowserPasskey(t *testing.T) {
	app, base := passkeyServer(t)
	app.User(t, "ada@example.com", "observer")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			browsertest.Screenshot(t, ctx, "passkey-failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("virtual authenticator",
		chromedp.Navigate(base+"/login"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
				Options: &webauthn.VirtualAuthenticatorOptions{
					Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
					HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
					AutomaticPresenceSimulation: true,
				}})
			return err
		}),
	)
	run("password",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
	)
	run("add a passkey",
		chromedp.Navigate(base+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-add-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="passkey-add-form"] input[name="passkey_password"]`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-add-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey"][data-name="Passkey"]`)),
		browsertest.Loaded(),
	)
	browsertest.Screenshot(t, ctx, "passkey-added")
	run("sign out",
		chromedp.Click(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		browsertest.Loaded(),
	)
	run("sign in with the passkey",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-login"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sessions-table"]`)),
	)
	method, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="session-row"][data-current] [data-testid="session-method"]').dataset.method`))
	if method != "passkey" {
		t.Errorf("session method %q, want passkey", method)
	}
	// With a passkey, a password sign-in has a second step, which the
	// passkey completes (allowCredentials: the pending user's passkeys).
	run("sign out, then the password and the passkey",
		chromedp.Click(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="second-factor-form"]`)),
		browsertest.Loaded(),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-second"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-second"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sessions-table"]`)),
	)
	method, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="session-row"][data-current] [data-testid="session-method"]').dataset.method`))
	if method != "password+passkey" {
		t.Errorf("session method %q, want password+passkey", method)
	}
	// A counter that does not go up (a cloned authenticator) is refused,
	// said in the live region, and audited.
	sys := rule.SystemContext(context.Background())
	app.Ent.WebAuthnCredential.Update().SetSignCount(1 << 20).ExecX(sys)
	run("a counter gone back",
		chromedp.Click(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-login"]`)),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-login-status"]`)),
	)
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="passkey-login-status"]').textContent`))
	if !strings.Contains(status, "could not sign you in") {
		t.Errorf("status %q", status)
	}
	var refused int
	if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'login.failed'
		AND details->>'reason' = 'sign counter' AND target_label = 'ada@example.com'`).Scan(&refused); err != nil || refused != 1 {
		t.Errorf("%d login.failed (sign counter): %v", refused, err)
	}
	app.Ent.WebAuthnCredential.Update().SetSignCount(0).ExecX(sys)
	run("sign in again with the passkey",
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
	)
	run("remove it",
		chromedp.Navigate(base+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-remove-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="passkey-remove-form"] input[type="password"]`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-remove-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="factor-passkeys"][data-count="0"]`)),
	)
	// The one error expected: the refused sign-in's 401.
	var errs []string
	for _, e := range console.Errors() {
		if !strings.Contains(e, "status of 401") {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("console errors: %s", strings.Join(errs, "\n"))
	}
}
