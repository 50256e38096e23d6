package handlers_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserInsights: in a real browser, an analyst holding insights.read
// opens the insights from the main navigation: the tactics chart draws
// its line and three dots with a size on the screen, rising from left to
// right; choosing a label in the filter (htmx) keeps two missions and puts
// the filter in the address, so the page can be shared. Nothing breaks the
// page's policy (console).
func TestBrowserInsights(t *testing.T) {
	app, base := browsertest.Server(t)
	w := apptest.AsWorld(app)
	w.Person(t, "red", "redteam")
	seedInsights(t, w)

	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		visible(`[data-testid="login-form"]`),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), w.Email("analyst")),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		visible(`.main-nav a[href="/insights"]`),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(`.main-nav a[href="/insights"]`)),
		visible(`[data-testid="insights-tactics-chart"]`),
		browsertest.Loaded(),
	); err != nil {
		browsertest.Screenshot(t, ctx, "insights-failed")
		t.Fatal(err)
	}
	// The dots as drawn on the screen: three, each with a size, left to
	// right and rising (a smaller y on the screen is higher).
	dots, err := chromedp.Run(ctx, chromedp.Evaluate[[][]float64](`[...document.querySelectorAll(
		'[data-testid="insights-tactics-chart"] [data-testid="insights-point"][data-series="TA0002"]')].map(e => {
		const r = e.getBoundingClientRect(); return [r.x, r.y, r.width]; })`))
	if err != nil {
		t.Fatal(err)
	}
	if len(dots) != 3 {
		t.Fatalf("%d dots drawn, want 3", len(dots))
	}
	for i, d := range dots {
		if d[2] <= 0 {
			t.Errorf("dot %d has no size on the screen", i)
		}
		if i > 0 && !(d[0] > dots[i-1][0] && d[1] < dots[i-1][1]) {
			t.Errorf("dot %d at %v after %v: not rising left to right", i, d, dots[i-1])
		}
	}
	browsertest.Screenshot(t, ctx, "insights")
	browsertest.DocScreenshot(t, ctx, "insights")

	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`[data-testid="insights-label"]`), "acme"),
		chromedp.Click(chromedp.CSS(`[data-testid="insights-submit"]`)),
		browsertest.Settled(),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('[data-testid="insights-tactics-row"]').length === 2`),
	); err != nil {
		browsertest.Screenshot(t, ctx, "insights-filter-failed")
		t.Fatalf("the label filter: %v", err)
	}
	url, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	if err != nil {
		t.Fatal(err)
	}
	if url != "?label=acme&from=&to=" && url != "?label=acme" {
		t.Errorf("the address after filtering is %q, want the filter in it", url)
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
