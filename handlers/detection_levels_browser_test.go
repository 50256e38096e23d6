package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserDetectionScale: the scale's colours reach the page through the
// generated stylesheet (no inline style, so the CSP holds), and moving a
// level with htmx swaps the table in place.
func TestBrowserDetectionScale(t *testing.T) {
	app, base := browsertest.Server(t)
	app.User(t, "admin@example.com", "admin")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/detection-levels"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "admin@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="detection-levels"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	// Blocked is #15803d: rgb(21, 128, 61), with white text.
	colours, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const b = document.querySelector('[data-testid="detection-row"][data-name="Blocked"] [data-testid="detection-badge"]');
		const s = getComputedStyle(b);
		return [s.backgroundColor, s.color];
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(colours) != 2 || colours[0] != "rgb(21, 128, 61)" || colours[1] != "rgb(255, 255, 255)" {
		t.Errorf("Blocked badge colours %v, want the level's green with white text", colours)
	}
	browsertest.Screenshot(t, ctx, "detection-scale")

	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.violetMarker = 1`),
		chromedp.Click(chromedp.CSS(`[data-testid="detection-row"][data-name="Blocked"] [data-testid="detection-down"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="detection-notice"]`)),
	); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('[data-testid="detection-row"]')].map(r => r.dataset.name)`))
		if err == nil && strings.Join(names, ",") == "Alerted,Blocked,Logged,Not detected" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order on the page %v (%v)", names, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.violetMarker === 1`)); !same {
		t.Error("moving a level reloaded the page instead of swapping the table")
	}
	if got := levelScale(t, app); got != "Alerted,Blocked,Logged,Not detected" {
		t.Errorf("scale in the database %s", got)
	}
	// The settings page, next tab.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="admin-tabs"] a[href="/admin/settings"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="settings-form"]`)),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "settings")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
