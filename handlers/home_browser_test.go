package handlers_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/ent/detectionlevel"
	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserHomeQueues is issue 18's "each role sees their queue on home
// and acts on it": in an in-progress mission, red finds the test to run in
// their queue, runs and releases it, and it leaves red's queue for blue's
// and the lead's; blue records a detection and it leaves blue's queue;
// the lead reviews it and it leaves theirs. Each acts from the link on
// home, with the test page's own forms.
func TestBrowserHomeQueues(t *testing.T) {
	app, base := browsertest.Server(t)
	w := apptest.AsWorld(app)
	w.Person(t, "lead", "redteam")
	w.Person(t, "red", "redteam")
	w.Person(t, "blue", "blueteam")
	mid := w.Mission(t, "Home drill", mission.StatusInProgress)
	test := w.Test(t, mid, apptest.TestOpts{Name: "Encoded PowerShell", Technique: "T1059.001", TechniqueName: "PowerShell"})
	level := app.Ent.DetectionLevel.Query().
		Where(detectionlevel.Retired(false), detectionlevel.CountsAsDetected(true)).
		Order(detectionlevel.ByPosition()).FirstX(w.Sys())

	settled := browsertest.Settled()
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	queue := func(name string) string { return `[data-testid="home-queue"][data-queue="` + name + `"]` }
	row := func(name string) string {
		return queue(name) + ` [data-testid="home-queue-row"][data-id="` + test.String() + `"]`
	}
	step := func(ctx context.Context, name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML : ""`))
			browsertest.Screenshot(t, ctx, "home-"+name+"-failed")
			t.Fatalf("%s: %v\n%s", name, err, html)
		}
	}
	// home opens home and waits for the queue; has says whether the test
	// is in it.
	home := func(ctx context.Context, who, name string) {
		t.Helper()
		step(ctx, who+" home", chromedp.Navigate(base+"/"), visible(queue(name)), browsertest.Loaded(), settled)
	}
	has := func(ctx context.Context, name string) bool {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+row(name)+`').length`))
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	browser := func(who string) context.Context {
		ctx := browsertest.New(t)
		step(ctx, who+" signs in",
			chromedp.Navigate(base+"/"),
			visible(`[data-testid="login-form"]`),
			chromedp.SendKeys(chromedp.CSS(`#field-email`), w.Email(who)),
			chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
			chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
			visible(`[data-testid="home-missions"]`),
			browsertest.Loaded(),
		)
		return ctx
	}
	red, blue, lead := browser("red"), browser("blue"), browser("lead")

	// Before red acts: the test waits for red only.
	home(blue, "blue", "blue")
	home(lead, "lead", "review")
	if has(blue, "blue") || has(lead, "review") {
		t.Fatal("a pending, unreleased test is in blue's or the lead's queue")
	}

	// Red: from home to the test, run it and release it.
	home(red, "red", "red")
	browsertest.Screenshot(t, red, "home-red")
	browsertest.DocScreenshot(t, red, "home-red")
	step(red, "red acts",
		visible(row("red")),
		chromedp.Click(chromedp.CSS(row("red")+` [data-testid="home-queue-link"]`)),
		visible(`#mission-test-work[data-state="pending"]`),
		browsertest.Loaded(),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-start"]`)),
		visible(`#mission-test-work[data-state="running"]`),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-stop"]`)),
		visible(`#mission-test-work[data-state="executed"]`),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-release"]`)),
		visible(`[data-testid="mission-test-released"]`),
		settled,
	)
	home(red, "red", "red")
	if has(red, "red") {
		t.Error("the executed test is still in red's queue")
	}

	// Blue: the released test is now theirs; record a detection.
	home(blue, "blue", "blue")
	browsertest.Screenshot(t, blue, "home-blue")
	browsertest.DocScreenshot(t, blue, "home-blue")
	if !has(blue, "blue") {
		t.Error("the released, executed test is not in blue's queue")
	}
	home(lead, "lead", "review")
	if !has(lead, "review") {
		t.Error("the executed test is not in the lead's queue")
	}
	step(blue, "blue acts",
		visible(row("blue")),
		chromedp.Click(chromedp.CSS(row("blue")+` [data-testid="home-queue-link"]`)),
		visible(`[data-testid="mission-test-blue-form"]`),
		browsertest.Loaded(),
		settled,
		chromedp.SetValue(chromedp.CSS(`#field-detection_level`), level.ID.String()),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-blue-save"]`)),
		visible(`[data-testid="mission-test-notice"][data-notice="saved"]`),
		settled,
	)
	home(blue, "blue", "blue")
	if has(blue, "blue") {
		t.Error("the detected test is still in blue's queue")
	}

	// The lead: the executed test awaits review; review it.
	home(lead, "lead", "review")
	browsertest.Screenshot(t, lead, "home-lead")
	browsertest.DocScreenshot(t, lead, "home-lead")
	step(lead, "lead acts",
		visible(row("review")),
		chromedp.Click(chromedp.CSS(row("review")+` [data-testid="home-queue-link"]`)),
		visible(`[data-testid="mission-test-review-submit"]`),
		browsertest.Loaded(),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-review-submit"]`)),
		visible(`#mission-test-work[data-state="reviewed"]`),
		settled,
	)
	home(lead, "lead", "review")
	if has(lead, "review") {
		t.Error("the reviewed test is still in the lead's queue")
	}
	if s := app.Ent.MissionTest.GetX(w.Sys(), test).State; s != missiontest.StateReviewed {
		t.Errorf("the test is %s, want reviewed", s)
	}
	// Everyone's activity tells the steps, newest first.
	step(lead, "activity", visible(`[data-testid="home-activity-row"][data-action="mission_test.reviewed"]`))
}
