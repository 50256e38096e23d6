package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/internal/demo"
	"violet/internal/paths"
	"violet/internal/testkit/browsertest"
)

// TestBrowserDemoGaps: the demo's blue member opens the mission's gaps
// from its tabs: the unrated scheduled task test lists the two rules it
// expected; a rule's description opens under its title; no console error
// (the page holds no inline script or style).
func TestBrowserDemoGaps(t *testing.T) {
	app, base := browsertest.Server(t)
	res, err := demo.Run(context.Background(), app.Ent, app.Steps, app.Hasher.Hash, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var password string
	for _, a := range res.Accounts {
		if a.Email == demo.BlueEmail {
			password = a.Password
		}
	}
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	task := `[data-testid="gap-test"]:has([data-testid="gap-expected-rule"])`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+paths.URL(paths.Mission, res.MissionID)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), demo.BlueEmail),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mission-tab-gaps"]`)),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-tab-gaps"]`)),
		chromedp.WaitVisible(chromedp.CSS(task)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('`+task+
		` [data-testid="gap-expected-rule"] [data-testid="gap-rule-title"]')].map(e => e.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "Scheduled Task Created From a User Folder With Schtasks|Scheduled Task Registered" {
		t.Errorf("expected rules on the page %v", got)
	}
	description := task + ` [data-testid="gap-expected-rule"] [data-testid="gap-rule-description"]`
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(task+` [data-testid="gap-expected-rule"] [data-testid="gap-rule-title"]`)),
		chromedp.WaitVisible(chromedp.CSS(description)),
	); err != nil {
		t.Fatalf("the rule's description does not open: %v", err)
	}
	browsertest.Screenshot(t, ctx, "mission-gaps")
	browsertest.DocScreenshot(t, ctx, "mission-gaps")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
