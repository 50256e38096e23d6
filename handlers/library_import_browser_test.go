package handlers_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserAtomicImport is issue 5's import part of the browser test: a
// red-team operator uploads the real Atomic Red Team technique files
// through the multiple file input, lands on the job's page with its
// progress bar, which turns into the summary by itself.
func TestBrowserAtomicImport(t *testing.T) {
	files := importRealFiles(t)
	var paths []string
	for _, p := range importSortedNames(files) {
		abs, err := filepath.Abs(filepath.Join(importRealDir, strings.TrimPrefix(p, "atomics/")))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, abs)
	}
	app, base := browsertest.Server(t)
	importSyncCatalogue(t, app.Ent)
	app.User(t, "red@example.com", "redteam")
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/library/import"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="import-atomic"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "library-import")
	// The import would often finish before its page is shown. Holding the
	// advisory lock its files take turns on (library's atomicImportLock)
	// keeps it at its first file, so the progress bar is always there to
	// see; letting go shows the page turn into the summary by itself.
	hold, err := app.DB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	const atomicImportLock = 0x766c_6174_6f6d
	if _, err := hold.ExecContext(context.Background(), `SELECT pg_advisory_lock($1)`, atomicImportLock); err != nil {
		t.Fatal(err)
	}
	release := func() {
		if _, err := hold.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, atomicImportLock); err != nil {
			t.Error(err)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS(`#field-files`), paths),
		chromedp.Click(chromedp.CSS(`[data-testid="import-atomic-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="import-job"]`)),
	); err != nil {
		release()
		t.Fatal(err)
	}
	running, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="import-progress"]') !== null`))
	browsertest.Screenshot(t, ctx, "atomic-import-progress")
	if !running {
		t.Error("the job's page shows no progress bar while the import waits at its first file")
	}
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.violetMarker = 1`))
	release()
	if err == nil {
		err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="import-summary"]`)))
	}
	if err != nil {
		t.Fatal(err)
	}
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.violetMarker === 1`)); !same {
		t.Error("the summary came after a page load, not by the card's own refresh")
	}
	added, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="import-added"]`)))
	if want := strconv.Itoa(importRealTestCount(files)); err != nil || strings.TrimSpace(added) != want {
		t.Errorf("added %q (%v), want %s", added, err, want)
	}
	status, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid="import-job"]`), "data-status"))
	if status.Value != "succeeded" {
		t.Errorf("status %q", status.Value)
	}
	browsertest.Screenshot(t, ctx, "atomic-import-summary")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
