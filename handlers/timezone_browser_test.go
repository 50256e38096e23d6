package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/ent/user"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserTimeZone is issue 18's time-zone test in Chromium: a blue
// analyst whose browser is in Europe/Paris signs in for the first time
// (the sign-in form carries the browser's zone, which the account takes),
// enters a detection time of 2026-03-29 10:15 — the day summer time
// begins in Paris, so the offset is +02:00, not the winter +01:00 — in the
// datetime-local field labelled with the zone, saves, and sees the same
// wall time back; the database holds the UTC instant, 08:15.
func TestBrowserTimeZone(t *testing.T) {
	app, base := browsertest.Server(t)
	w := apptest.AsWorld(app)
	w.Person(t, "lead", "redteam")
	w.Person(t, "blue", "blueteam")
	m := w.Mission(t, "Zones", mission.StatusInProgress)
	id := w.Test(t, m, apptest.TestOpts{Name: "Encoded PowerShell", State: missiontest.StateExecuted, Released: true})
	page := base + paths.URL(paths.MissionTest, m, id)

	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	settled := browsertest.Settled()
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML : ""`))
			browsertest.Screenshot(t, ctx, "timezone-"+name+"-failed")
			t.Fatalf("%s: %v\n%s", name, err, html)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+"`"+sel+"`"+`) || {}).textContent || ""`))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(s), " ")
	}
	value := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#field-detected_at").value`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	step("sign in from Paris",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Paris"})
			return err
		}),
		chromedp.Navigate(page),
		visible(`[data-testid="login-form"]`),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), w.Email("blue")),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		visible(`[data-testid="mission-test-blue-form"]`),
		browsertest.Loaded(),
		settled,
	)
	if got := app.Ent.User.Query().Where(user.ID(w.User("blue"))).OnlyX(w.Sys()).TimeZone; got != "Europe/Paris" {
		t.Fatalf("after the first sign-in the account's zone is %q, want the browser's Europe/Paris", got)
	}
	if got := text(`[data-testid="detected-at-label"]`); !strings.Contains(got, "Europe/Paris") {
		t.Errorf("the detection time is labelled %q, want the zone named", got)
	}
	// apptest.TestStart, 2026-03-14 09:30 UTC, is 10:30 in Paris (winter).
	if got := text(`[data-testid="mission-test-started"] time`); got != "2026-03-14 10:30 CET" {
		t.Errorf("started shown as %q, want 2026-03-14 10:30 CET", got)
	}

	step("enter the detection time",
		chromedp.SetValue(chromedp.CSS(`#field-detected_at`), "2026-03-29T10:15"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-blue-save"]`)),
		visible(`[data-testid="mission-test-notice"][data-notice="saved"]`),
		settled,
	)
	want := time.Date(2026, 3, 29, 8, 15, 0, 0, time.UTC)
	got := app.Ent.MissionTest.GetX(w.Sys(), id).DetectedAt
	if got == nil || !got.Equal(want) || got.UTC().Format(time.RFC3339) != "2026-03-29T08:15:00Z" {
		t.Fatalf("stored detection time %v, want %v (10:15 CEST)", got, want)
	}
	if v := value(); v != "2026-03-29T10:15" {
		t.Errorf("after saving, the field shows %q, want the wall time typed", v)
	}
	step("reload", chromedp.Navigate(page), visible(`#field-detected_at`), browsertest.Loaded())
	if v := value(); v != "2026-03-29T10:15" {
		t.Errorf("on a fresh page the field shows %q, want 2026-03-29T10:15", v)
	}
	if got := text(`[data-testid="mission-test-history"]`); !strings.Contains(got, "2026-03-29 10:15 CEST") {
		t.Errorf("the history says %q, want the detection at 2026-03-29 10:15 CEST", got)
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
