package handlers_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserTOTP sets up an authenticator app in Chromium (the QR code
// drawn, the secret read from the page, a first code typed), keeps the
// recovery codes page, signs out, and signs in again with the password
// then a code: the session says password+totp. No console error (the
// pages hold no inline script or style the CSP would refuse).
func TestBrowserTOTP(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	app, base := browsertest.Server(t, apptest.WithNow(now))
	app.User(t, "ada@example.com", "observer")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	code := func(secret string) string {
		t.Helper()
		c, err := totp.GenerateCodeCustom(secret, now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	signIn := func() {
		run("password",
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
			browsertest.Loaded(),
			chromedp.SendKeys(chromedp.CSS(`#field-email`), "ada@example.com"),
			chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
			chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		)
	}
	signIn()
	run("set up the app",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Navigate(base+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="security-start-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-start_password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="security-start-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="totp-qr"]`)),
		browsertest.Loaded(),
	)
	browsertest.Screenshot(t, ctx, "totp-enrol")
	secret, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="totp-secret"]').dataset.secret`))
	if err != nil || len(secret) < 16 {
		t.Fatalf("secret %q: %v", secret, err)
	}
	width, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('[data-testid="totp-qr"]').getBoundingClientRect().width`))
	if width < 100 {
		t.Errorf("the QR code is %v px wide", width)
	}
	run("confirm",
		chromedp.SendKeys(chromedp.CSS(`#field-code`), code(secret)),
		chromedp.Click(chromedp.CSS(`[data-testid="enrol-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="recovery-codes"]`)),
		browsertest.Loaded(),
	)
	n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="recovery-code"]').length`))
	if n != 10 {
		t.Errorf("%d recovery codes shown", n)
	}
	browsertest.Screenshot(t, ctx, "totp-recovery-codes")
	run("saved, then sign out",
		chromedp.Click(chromedp.CSS(`[data-testid="recovery-saved"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="factor-totp"][data-on]`)),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
	)
	offset.Add(int64(30 * time.Second))
	signIn()
	run("second factor",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="second-factor-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-code`), code(secret)),
		chromedp.Click(chromedp.CSS(`[data-testid="second-factor-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu-toggle"]`)),
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sessions-table"]`)),
	)
	method, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="session-row"][data-current] [data-testid="session-method"]').dataset.method`))
	if method != "password+totp" {
		t.Errorf("session method %q, want password+totp", method)
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %s", strings.Join(errs, "\n"))
	}
}
