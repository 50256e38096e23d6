package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserSignInAdminAddsProvider: an admin opens Administration →
// Sign-in from the administration tabs, adds an OpenID Connect provider
// through its form (a group the map names that does not exist is refused
// next to the field first) and sees it in the list.
func TestBrowserSignInAdminAddsProvider(t *testing.T) {
	app, base := browsertest.Server(t)
	app.User(t, "root@example.com", "admin")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			browsertest.Screenshot(t, ctx, "signin-admin-failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("sign in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "root@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
	)
	run("open Sign-in",
		chromedp.Navigate(base+"/admin/settings"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-tabs"] a[href="/admin/sign-in"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="admin-tabs"] a[href="/admin/sign-in"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-empty"]`)),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(`[data-testid="signin-add-oidc"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-provider-form"]`)),
		browsertest.Loaded(),
	)
	run("fill the form, one group unknown",
		chromedp.SendKeys(chromedp.CSS(`#field-key`), "corp"),
		chromedp.SendKeys(chromedp.CSS(`#field-name`), "Example Corp"),
		chromedp.SendKeys(chromedp.CSS(`#field-issuer`), "https://idp.example.org"),
		chromedp.SendKeys(chromedp.CSS(`#field-client_id`), "violet"),
		chromedp.SendKeys(chromedp.CSS(`#field-client_secret`), "browser-secret-value"),
		chromedp.SendKeys(chromedp.CSS(`#field-group_map`), "violet-admins = admin\nsoc = ghosts"),
		chromedp.Click(chromedp.CSS(`[data-testid="signin-provider-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-group_map"]`)),
		browsertest.Loaded(),
	)
	msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="error-group_map"]').textContent`))
	if !strings.Contains(msg, "ghosts") {
		t.Errorf("the error does not name the group: %q", msg)
	}
	secret, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#field-client_secret').value`))
	if secret != "" {
		t.Error("the secret came back in the refused form")
	}
	run("fix it and save",
		chromedp.SetValue(chromedp.CSS(`#field-group_map`), "violet-admins = admin\nsoc = blueteam"),
		chromedp.SendKeys(chromedp.CSS(`#field-client_secret`), "browser-secret-value"),
		chromedp.Click(chromedp.CSS(`[data-testid="signin-provider-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-provider"][data-key="corp"]`)),
		browsertest.Loaded(),
	)
	browsertest.Screenshot(t, ctx, "signin-admin-provider-added")
	name, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="signin-provider"][data-key="corp"] [data-testid="signin-provider-name"]').textContent`))
	if !strings.Contains(name, "Example Corp") {
		t.Errorf("the list shows %q", name)
	}
	// The one error expected: the refused form's 422.
	var errs []string
	for _, e := range console.Errors() {
		if !strings.Contains(e, "status of 422") {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("console errors: %s", strings.Join(errs, "\n"))
	}
}

// TestBrowserPasskeyRefusedUnderSSO: once single sign-on is required, a
// passkey alone no longer signs in an account that is not break-glass;
// the passkey's live region says to use single sign-on, and the refusal
// is audited.
func TestBrowserPasskeyRefusedUnderSSO(t *testing.T) {
	app, base := passkeyServer(t)
	app.User(t, "ada@example.com", "observer")
	ctx := browsertest.New(t)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			browsertest.Screenshot(t, ctx, "passkey-sso-failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("virtual authenticator, password, a passkey",
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
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Navigate(base+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-add-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="passkey-add-form"] input[name="passkey_password"]`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-add-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey"][data-name="Passkey"]`)),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		browsertest.Loaded(),
	)
	// The policy as Administration → Sign-in leaves it (its guard is the
	// workflow's, tested apart).
	if _, err := app.DB.Exec(`UPDATE settings SET value = 'true' WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	run("the passkey alone",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-login"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-login-status"]`)),
	)
	var status string
	for range 50 { // the status fills in when the answer comes
		status, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="passkey-login-status"]').textContent`))
		if status != "" {
			break
		}
		_ = chromedp.Do(ctx, chromedp.Sleep(100e6))
	}
	if !strings.Contains(status, "single sign-on") {
		t.Errorf("status %q", status)
	}
	var refused, sessions int
	if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'login.failed'
		AND details->>'reason' = 'single sign-on required' AND details->>'method' = 'passkey' AND target_label = 'ada@example.com'`).Scan(&refused); err != nil || refused != 1 {
		t.Errorf("%d login.failed (single sign-on required): %v", refused, err)
	}
	if err := app.DB.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE method = 'passkey'`).Scan(&sessions); err != nil || sessions != 0 {
		t.Errorf("%d passkey sessions: %v", sessions, err)
	}

	// The policy turned on between the password and the passkey of a
	// second step: refused before the passkey is checked, so nothing of
	// it is written (its last use, its sign counter).
	if _, err := app.DB.Exec(`UPDATE settings SET value = 'false' WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	run("the password step",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="second-factor-form"]`)),
		browsertest.Loaded(),
	)
	if _, err := app.DB.Exec(`UPDATE settings SET value = 'true' WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	var before string
	if err := app.DB.QueryRow(`SELECT sign_count::text || '/' || coalesce(last_used_at::text, '') FROM webauthn_credentials`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	run("the passkey as second step",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-second"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="passkey-second"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-second-status"]`)),
	)
	status = ""
	for range 50 {
		status, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="passkey-second-status"]').textContent`))
		if status != "" {
			break
		}
		_ = chromedp.Do(ctx, chromedp.Sleep(100e6))
	}
	if !strings.Contains(status, "single sign-on") {
		t.Errorf("second step status %q", status)
	}
	var after string
	if err := app.DB.QueryRow(`SELECT sign_count::text || '/' || coalesce(last_used_at::text, '') FROM webauthn_credentials`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the refused second step wrote the passkey's use: %s, then %s", before, after)
	}
	if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'login.failed'
		AND details->>'reason' = 'single sign-on required' AND details->>'method' = 'password+passkey'`).Scan(&refused); err != nil || refused != 1 {
		t.Errorf("%d second-step refusals audited: %v", refused, err)
	}
	if err := app.DB.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL AND method LIKE '%passkey%'`).Scan(&sessions); err != nil || sessions != 0 {
		t.Errorf("%d passkey sessions: %v", sessions, err)
	}
}
