package handlers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserAttackSync is issue 4's browser test: an admin syncs the
// catalogue from an uploaded bundle, watches the job end on its summary,
// opens the matrix, searches for T1059 and opens its page.
func TestBrowserAttackSync(t *testing.T) {
	bundle, err := filepath.Abs("../../shared/data/attack/enterprise-attack-16.1.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bundle); err != nil {
		if os.Getenv("VIOLET_REAL_DATA_REQUIRED") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	app, base := browsertest.Server(t)
	app.User(t, "admin@example.com", "admin")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/attack-sync"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "admin@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sync-upload"]`)),
		browsertest.Loaded(),
		chromedp.SetUploadFiles(chromedp.CSS(`#field-bundle`), []string{bundle}),
		chromedp.Click(chromedp.CSS(`[data-testid="sync-upload-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sync-job"]`)),
	); err != nil {
		t.Fatal(err)
	}
	// The job page shows the progress bar while the sync runs and turns
	// into the summary by itself (htmx polling), without a reload.
	browsertest.Screenshot(t, ctx, "sync-job")
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.violetMarker = 1`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sync-summary"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.violetMarker === 1`)); !same {
		t.Error("the summary came after a page load, not by the card's own refresh")
	}
	added, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="sync-added"]`)))
	if err != nil || strings.TrimSpace(added) != "813" {
		t.Errorf("added %q (%v), want 813", added, err)
	}
	browsertest.Screenshot(t, ctx, "sync-summary")

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/attack"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="matrix"]`)),
		chromedp.Focus(chromedp.CSS(`#attack-q`)),
		chromedp.SendKeys(chromedp.CSS(`#attack-q`), "T1059"),
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="attack-hit"][data-external-id="T1059"]') !== null`),
		chromedp.Click(chromedp.CSS(`[data-testid="attack-hit"][data-external-id="T1059"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="attack-title"]`)),
	); err != nil {
		t.Fatal(err)
	}
	title, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="attack-title"]`)))
	if got := strings.Join(strings.Fields(title), " "); got != "T1059 Command and Scripting Interpreter" {
		t.Errorf("detail title %q", got)
	}
	browsertest.Screenshot(t, ctx, "attack-T1059")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
