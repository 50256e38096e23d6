package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/internal/demo"
	"violet/internal/paths"
	"violet/internal/testkit/browsertest"
)

// TestBrowserRetestAndCompare: the demo's lead clicks Retest on the
// overview (the links arrive once the page has loaded), submits the form
// with its defaults, lands on the retest, follows Compare and sees every
// retested test not yet run; no console error.
func TestBrowserRetestAndCompare(t *testing.T) {
	app, base := browsertest.Server(t)
	res, err := demo.Run(context.Background(), app.Ent, app.Steps, app.Hasher.Hash, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var password string
	for _, a := range res.Accounts {
		if a.Email == demo.LeadEmail {
			password = a.Password
		}
	}
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+paths.URL(paths.Mission, res.MissionID)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), demo.LeadEmail),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="retest-button"]`)),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(`[data-testid="retest-button"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="retest-form"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "retest-form")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="retest-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="compare-link"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "retest-overview")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="compare-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="compare-tests"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	verdicts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="compare-row"]')].map(e => e.dataset.verdict)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(verdicts) == 0 {
		t.Fatal("no retested test on the compare page")
	}
	for _, v := range verdicts {
		if v != "not_run" {
			t.Errorf("a fresh retest's verdict %q, want not_run", v)
		}
	}
	browsertest.Screenshot(t, ctx, "mission-compare")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
