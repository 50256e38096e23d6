package handlers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserEvidenceLightbox: red uploads two images through the test
// page's upload form; the first thumbnail opens the lightbox on it (name,
// caption, position), → shows the second, Escape closes it and focus is
// back on the thumbnail that opened it; a click on the backdrop closes it
// too. The thumbnail is a link to the image, for when there is no
// JavaScript.
func TestBrowserEvidenceLightbox(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	red := app.User(t, "red@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Lightbox").SetStatus(mission.StatusInProgress).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(red.ID).SetRole(missionmember.RoleRed).ExecX(sys)
	tst := app.Ent.MissionTest.Create().SetMissionID(m.ID).SetName("Dump LSASS").SaveX(sys)
	page := base + "/missions/" + m.ID.String() + "/tests/" + tst.ID.String()
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first alert.png"), filepath.Join(dir, "second alert.png")
	for _, f := range []string{first, second} {
		if err := os.WriteFile(f, evPNG(t, 900, 600), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	settled := browsertest.Settled()
	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			browsertest.Screenshot(t, ctx, "lightbox-"+name+"-failed")
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(function () {
				var d = document.querySelector('[data-testid="evidence-lightbox"]'), a = document.activeElement;
				return "open=" + (d && d.open) + " name=" + (d && d.querySelector('[data-lightbox-name]').textContent) +
					" focus=" + (a ? a.outerHTML.slice(0, 120) : "none");
			})()`))
			t.Fatalf("%s: %v (%s)", name, err, state)
		}
	}
	step("upload",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="evidence-upload-form"]`)),
		browsertest.Loaded(),
		settled,
		chromedp.SetUploadFiles(chromedp.CSS(`#evidence-files`), []string{first, second}),
		chromedp.WaitVisible(chromedp.CSS(`#evidence-caption-1`)),
		chromedp.SendKeys(chromedp.CSS(`#evidence-caption-0`), "EDR alert"),
		chromedp.SendKeys(chromedp.CSS(`#evidence-caption-1`), "SIEM hit"),
		chromedp.Click(chromedp.CSS(`[data-testid="evidence-submit"]`)),
		poll(`document.querySelectorAll('[data-testid="evidence-thumb-link"]').length === 2`),
		settled,
	)
	// Without JavaScript the thumbnail leads to the image itself.
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="evidence-thumb-link"]').getAttribute("href")`))
	if filepath.Base(href) != "preview" {
		t.Errorf("thumbnail link %q, want the image's preview", href)
	}
	lightbox := `document.querySelector('[data-testid="evidence-lightbox"]')`
	shown := func(name, caption, position string) chromedp.Action[chromedp.Void] {
		return poll(`(function () {
			var d = ` + lightbox + `, img = d.querySelector('[data-testid="evidence-lightbox-img"]');
			return d.open && img.complete && img.naturalWidth > 0 &&
				d.querySelector('[data-testid="evidence-lightbox-name"]').textContent === "` + name + `" &&
				d.querySelector('[data-testid="evidence-lightbox-caption"]').textContent === "` + caption + `" &&
				d.querySelector('[data-testid="evidence-lightbox-count"]').textContent === "` + position + `";
		})()`)
	}
	focusOnFirst := poll(`document.activeElement === document.querySelector('[data-testid="evidence-thumb-link"]')`)
	step("open the first",
		chromedp.Click(chromedp.CSS(`[data-testid="evidence-thumb-link"]`)),
		shown("first alert.png", "EDR alert", "Image 1 of 2"),
	)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != page {
		t.Errorf("opening the lightbox left the page for %q", loc)
	}
	browsertest.Screenshot(t, ctx, "lightbox-open")
	step("→ shows the second",
		chromedp.KeyEvent(kb.ArrowRight),
		shown("second alert.png", "SIEM hit", "Image 2 of 2"),
	)
	step("← and → wrap around",
		chromedp.KeyEvent(kb.ArrowRight),
		shown("first alert.png", "EDR alert", "Image 1 of 2"),
		chromedp.KeyEvent(kb.ArrowLeft),
		shown("second alert.png", "SIEM hit", "Image 2 of 2"),
	)
	step("Escape closes, focus back on the thumbnail",
		chromedp.KeyEvent(kb.Escape),
		poll(`!`+lightbox+`.open`),
		focusOnFirst,
	)
	step("the backdrop closes it too",
		chromedp.Click(chromedp.CSS(`[data-testid="evidence-thumb-link"]`)),
		shown("first alert.png", "EDR alert", "Image 1 of 2"),
		chromedp.MouseClickXY(3, 3),
		poll(`!`+lightbox+`.open`),
		focusOnFirst,
	)
	step("the close button closes it",
		chromedp.Click(chromedp.CSS(`[data-testid="evidence-thumb-link"]`)),
		shown("first alert.png", "EDR alert", "Image 1 of 2"),
		chromedp.Click(chromedp.CSS(`[data-testid="evidence-lightbox-close"]`)),
		poll(`!`+lightbox+`.open`),
		focusOnFirst,
	)
	for _, e := range console.Errors() {
		t.Errorf("console error: %s", e)
	}
}
