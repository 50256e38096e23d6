package handlers_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserToolsRegistry: an admin adds two defensive tools through the
// form and sees both listed with their kinds' labels; the kind filter
// narrows the table in place with htmx.
func TestBrowserToolsRegistry(t *testing.T) {
	app, base := browsertest.Server(t)
	app.User(t, "admin@example.com", "admin")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/tools"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "admin@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tools-empty"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	add := func(name, vendor, kind string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS(`#field-name`), name),
			chromedp.SendKeys(chromedp.CSS(`#field-vendor`), vendor),
			chromedp.SetValue(chromedp.CSS(`#field-kind`), kind),
			chromedp.Click(chromedp.CSS(`[data-testid="tool-submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="tool-row"][data-name="`+name+`"]`)),
			browsertest.Loaded(),
		); err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
	}
	add("CrowdStrike Falcon", "CrowdStrike", "edr")
	add("Splunk Enterprise Security", "Splunk", "siem")
	rows := func() string {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="tool-row"]')]
			.map(r => r.dataset.name + "/" + r.querySelector('[data-testid="tool-kind"]').textContent.trim())`))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, ",")
	}
	if got := rows(); got != "CrowdStrike Falcon/EDR,Splunk Enterprise Security/SIEM" {
		t.Errorf("listed %s", got)
	}
	if n := app.Ent.DefensiveTool.Query().CountX(apptest.AsWorld(app).Sys()); n != 2 {
		t.Errorf("%d tools in the database, want 2", n)
	}
	browsertest.Screenshot(t, ctx, "admin-tools")
	browsertest.DocScreenshot(t, ctx, "admin-tools")

	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.violetMarker = 1`),
		chromedp.SetValue(chromedp.CSS(`[data-testid="tools-filter-kind"]`), "siem"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="tools-filter-kind"]').dispatchEvent(new Event("change", {bubbles: true}))`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('[data-testid="tool-row"]').length === 1`),
		browsertest.Settled(),
	); err != nil {
		t.Fatal(err)
	}
	if got := rows(); got != "Splunk Enterprise Security/SIEM" {
		t.Errorf("filtered %s", got)
	}
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.violetMarker === 1 && location.search === "?kind=siem"`)); !same {
		t.Error("the filter reloaded the page or did not push its URL")
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
