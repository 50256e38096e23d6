// Package browsertest drives Debian's Chromium (headless, through chromedp)
// against the real Violet server on a test database, and keeps screenshots
// and PDFs per test.
//
// Browser tests skip when no Chromium is installed, unless
// VIOLET_BROWSER_REQUIRED=1 (CI) makes that a failure. Set
// VIOLET_ARTIFACTS=/some/dir to keep screenshots after the run.
package browsertest

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
)

// execPath finds a Chromium binary. Debian's real binary is preferred to its
// /usr/bin/chromium wrapper script, which prints a shell warning.
func execPath() string {
	for _, p := range []string{"/usr/lib/chromium/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Server starts the app on an httptest server and returns it with its URL.
func Server(t testing.TB, opts ...apptest.Option) (*apptest.App, string) {
	t.Helper()
	app := apptest.New(t, opts...)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return app, srv.URL
}

// New starts a headless browser for t and returns a context for chromedp
// actions on one tab, with a deadline so that a page that never shows what
// a test waits for fails the test instead of hanging the run. The browser
// is stopped when t ends.
func New(t testing.TB) context.Context {
	t.Helper()
	path := execPath()
	if path == "" {
		if os.Getenv("VIOLET_BROWSER_REQUIRED") == "1" {
			t.Fatal("browser tests are required (VIOLET_BROWSER_REQUIRED=1) but Chromium is not installed: apt-get install chromium")
		}
		t.Skip("Chromium is not installed (apt-get install chromium); skipping the browser test")
	}
	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		// Chromium's shared-memory files go to TMPDIR; keep them in the
		// test's directory so nothing is left behind.
		chromedp.Env("TMPDIR="+dir),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, without a deadline (the first call starts it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancelDeadline := context.WithTimeout(ctx, ActionTimeout)
	t.Cleanup(cancelDeadline)
	return ctx
}

// ActionTimeout bounds everything a browser test does in one tab.
const ActionTimeout = 60 * time.Second

// Screenshot saves a full-page PNG of the current page as name.png under
// the test's temporary directory (and under $VIOLET_ARTIFACTS when set) and
// returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		// A screenshot is evidence for a failure being reported; failing
		// here would hide that failure behind this one.
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	return save(t, name+".png", png)
}

func save(t testing.TB, name string, data []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("VIOLET_ARTIFACTS"); keep != "" {
		safe := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
		if err := os.MkdirAll(keep, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(keep, safe+"-"+name), data, 0o644)
		}
	}
	t.Logf("saved %s", path)
	return path
}

// Console collects what the page writes to the console from now on, so a
// test can assert there were no errors (CSP violations, script failures).
type Console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// WatchConsole starts collecting console messages of ctx's tab.
func WatchConsole(ctx context.Context) *Console {
	c := &Console{}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// Errors returns the error and exception messages seen so far.
func (c *Console) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
			out = append(out, string(m.Type)+": "+m.Text)
		}
	}
	return out
}

// Loaded waits until the page has finished loading. An element can be
// visible while the page is still parsing, before its deferred scripts
// (htmx, app.js) have run; a click then submits the form natively or does
// nothing, so a test waits for this after a navigation before it clicks.
func Loaded() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`document.readyState === "complete"`)
}

// ForDocs writes data as name under $VIOLET_SCREENSHOTS when it is set:
// `make screenshots` sets it to docs/screenshots, so the pictures in the
// docs come from the same browser tests that check those pages, never by
// hand. Without the variable it does nothing.
func ForDocs(t testing.TB, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("VIOLET_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s for the docs", filepath.Join(dir, name))
}

// DocScreenshot saves a full-page PNG of the current page as name.png
// for the docs when $VIOLET_SCREENSHOTS is set (see ForDocs).
func DocScreenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("VIOLET_SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s for the docs: %v", name, err)
	}
	ForDocs(t, name+".png", png)
}

// Settled waits until htmx has no request, swap or settle in progress:
// after an htmx action, before reading or clicking what it swapped in.
func Settled() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")`)
}
