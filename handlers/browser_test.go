package handlers_test

import (
	"image/png"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserHomePage opens the home page in a real Chromium and checks the
// Database card against the database, the footer, htmx under the CSP, and
// the card's partial refresh; it keeps a screenshot.
func TestBrowserHomePage(t *testing.T) {
	// A clock that moves a minute per reading, so a refreshed card shows a
	// different "checked at" time.
	var tick atomic.Int64
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Minute) }
	app, url := browsertest.Server(t, apptest.WithNow(now))
	app.User(t, "admin@example.com", "admin") // home shows the Database card to administrators (issue 18)
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)

	// The home page asks for a sign-in first and comes back to it.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "admin@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="db-card"]`)),
		// The card shows while the page is still parsing; the deferred
		// scripts (htmx) run at its end, before "complete".
		chromedp.Poll[chromedp.Void](`document.readyState === "complete"`),
	); err != nil {
		t.Fatal(err)
	}
	text := func(testid string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="`+testid+`"]`)))
		if err != nil {
			t.Fatalf("read %s: %v", testid, err)
		}
		return strings.TrimSpace(s)
	}

	var tables int
	var revision string
	if err := app.DB.QueryRow(`SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if err := app.DB.QueryRow(`SELECT max(version) FROM atlas_schema_revisions.atlas_schema_revisions`).Scan(&revision); err != nil {
		t.Fatal(err)
	}
	if got := text("db-table-count"); got != strconv.Itoa(tables) || tables < 26 {
		t.Errorf("card table count %q, database has %d (at least the 26 of the data model)", got, tables)
	}
	if got := text("db-revision"); got != revision {
		t.Errorf("card revision %q, database at %q", got, revision)
	}
	if got := text("db-reachable"); got != "Reachable" {
		t.Errorf("card status %q", got)
	}
	if got := text("footer-version"); got != "Violet "+apptest.Version {
		t.Errorf("footer %q, want %q", got, "Violet "+apptest.Version)
	}

	browsertest.DocScreenshot(t, ctx, "home-admin")

	version, err := chromedp.Run(ctx, chromedp.Evaluate[string](`htmx.version`))
	if err != nil || !strings.HasPrefix(version, "2.") {
		t.Errorf("htmx.version = %q, %v; want htmx 2 loaded", version, err)
	}
	evalOff, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`htmx.config.allowEval === false && htmx.config.historyCacheSize === 0`))
	if err != nil || !evalOff {
		t.Errorf("htmx safe configuration not applied: %v %v", evalOff, err)
	}

	// The card refreshes itself through htmx: ask for the refresh now
	// instead of waiting ten seconds, and see the new copy swapped in.
	before := text("db-card")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`htmx.ajax("GET", "/diag", {target: "#db-card", swap: "outerHTML"}).then(() => true)`,
		chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	if after := text("db-card"); after == before || !strings.Contains(after, "Reachable") {
		t.Errorf("card not refreshed by htmx:\nbefore %q\nafter  %q", before, after)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#db-card").length`)); err != nil || n != 1 {
		t.Errorf("%d cards after the swap (%v), want exactly 1", n, err)
	}

	path := browsertest.Screenshot(t, ctx, "home")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() < 800 {
		t.Errorf("screenshot %s is not a page-sized PNG: %v", path, err)
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors (CSP violations or script failures):\n%s", strings.Join(errs, "\n"))
	}
}
