package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/notification"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserLiveUpdates is issue 7's end-to-end test with two people in
// two browsers on one mission: red releases a test, and blue's open
// mission page shows it without a reload (the unreleased test never
// appears) while blue's bell counts the notification; blue reads it on the
// notifications page and the count goes away.
func TestBrowserLiveUpdates(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	lead := app.User(t, "lead@example.com", "redteam")
	red := app.User(t, "red@example.com", "redteam")
	blue := app.User(t, "blue@example.com", "blueteam")

	// A mission in progress: one test executed but not released, one
	// pending. Members are added directly, so nobody has a notification yet.
	mid := app.Ent.Mission.Create().SetName("Operation Live").SetStatus(mission.StatusInProgress).SaveX(sys).ID
	for role, id := range map[missionmember.Role]uuid.UUID{"lead": lead.ID, "red": red.ID, "blue": blue.ID} {
		app.Ent.MissionMember.Create().SetMissionID(mid).SetUserID(id).SetRole(role).ExecX(sys)
	}
	start := time.Now().Add(-time.Hour)
	executed := app.Ent.MissionTest.Create().SetMissionID(mid).SetName("Encoded PowerShell").
		SetProcedure("Run `powershell -enc`").SetPosition(0).SetState(missiontest.StateExecuted).
		SetStartedAt(start).SetEndedAt(start.Add(5 * time.Minute)).SetExecutedByID(red.ID).
		SaveX(sys).ID
	pending := app.Ent.MissionTest.Create().SetMissionID(mid).SetName("Credential dump").
		SetProcedure("Dump LSASS").SetPosition(1).SaveX(sys).ID
	overview := base + "/missions/" + mid.String()

	settled := browsertest.Settled()
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	within := func(d time.Duration, expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d))
	}
	step := func(ctx context.Context, name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.outerHTML : ""`))
			browsertest.Screenshot(t, ctx, "live-"+strings.NewReplacer(" ", "-", "@", "-").Replace(name)+"-failed")
			t.Fatalf("%s: %v\n%s", name, err, html)
		}
	}
	eval := func(ctx context.Context, expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return s
	}
	login := func(ctx context.Context, email, page, ready string) {
		t.Helper()
		step(ctx, "login "+email,
			chromedp.Navigate(page),
			visible(`[data-testid="login-form"]`),
			chromedp.SendKeys(chromedp.CSS(`#field-email`), email),
			chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
			chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
			visible(ready),
			browsertest.Loaded(),
			settled,
		)
	}
	rows := `[...document.querySelectorAll('[data-testid="test-row"]')].map(r => r.dataset.id).join(",")`
	executedFigure := `document.querySelector('[data-testid="progress-executed"]').dataset.count`
	bell := `(() => { const b = document.querySelector('[data-testid="bell"]'); const c = document.querySelector('[data-testid="bell-count"]');
		return (b ? b.dataset.unread : "missing") + "|" + (c ? c.textContent.trim() : "") })()`

	// Blue opens the mission page: no test yet, no count on the bell.
	blueCtx := browsertest.New(t)
	blueConsole := browsertest.WatchConsole(blueCtx)
	login(blueCtx, "blue@example.com", overview, `[data-testid="mission-tests"]`)
	step(blueCtx, "blue empty", visible(`[data-testid="mission-tests-empty"]`))
	if got := eval(blueCtx, rows); got != "" {
		t.Fatalf("before the release blue's page lists %q", got)
	}
	if got := eval(blueCtx, bell); got != "0|" {
		t.Fatalf("before the release blue's bell is %q, want unread 0 and no count", got)
	}
	if got := eval(blueCtx, executedFigure); got != "0" {
		t.Fatalf("before the release blue's figures count %q executed tests, want 0", got)
	}
	// Survives only if the page is never reloaded.
	step(blueCtx, "marker", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))
	// Blue's network is slow for the bell: its request is still under way
	// when the page fetches the changed list and figures, as happens on a
	// loaded server. Those fetches must not wait behind it or be lost.
	step(blueCtx, "slow bell", chromedp.Evaluate[chromedp.Void](slowBell))

	// Red releases the executed test from its page.
	redCtx := browsertest.New(t)
	redConsole := browsertest.WatchConsole(redCtx)
	login(redCtx, "red@example.com", overview+"/tests/"+executed.String(), `#mission-test-work[data-state="executed"]`)
	step(redCtx, "release",
		visible(`[data-testid="mission-test-unreleased"]`),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-release"]`)),
		visible(`[data-testid="mission-test-released"]`),
		settled,
	)
	if !app.Ent.MissionTest.GetX(sys, executed).ReleasedToBlue {
		t.Fatal("the executed test is not released after red's click")
	}

	// Blue's open page shows the released test and counts it on the bell.
	step(blueCtx, "live row",
		within(10*time.Second, `!!document.querySelector('[data-testid="test-row"][data-id="`+executed.String()+`"]')`),
		within(10*time.Second, `(() => { const c = document.querySelector('[data-testid="bell-count"]'); return !!c && c.textContent.trim() === "1" })()`),
		// The figures, of released tests only, are fetched again too.
		within(10*time.Second, executedFigure+` === "1"`),
		settled,
	)
	browsertest.Screenshot(t, blueCtx, "live-blue-released")
	if got := eval(blueCtx, rows); got != executed.String() {
		t.Errorf("blue's page lists %q, want only the released test %s (never the unreleased %s)", got, executed, pending)
	}
	if got := eval(blueCtx, bell); got != "1|1" {
		t.Errorf("after the release blue's bell is %q, want unread 1 with count 1", got)
	}
	if got := eval(blueCtx, `String(window.__marker)`); got != "1" {
		t.Errorf("blue's page was reloaded (marker %q)", got)
	}
	if got := eval(blueCtx, `location.pathname`); got != "/missions/"+mid.String() {
		t.Errorf("blue is at %q, want the mission page", got)
	}
	// A moment later the unreleased test has still not appeared.
	time.Sleep(500 * time.Millisecond)
	if got := eval(blueCtx, rows); strings.Contains(got, pending.String()) {
		t.Errorf("blue's page shows the unreleased test: %q", got)
	}

	// Blue follows the bell, reads the notification, and the count goes.
	step(blueCtx, "notifications",
		chromedp.Click(chromedp.CSS(`[data-testid="bell"]`)),
		visible(`[data-testid="notification-row"]`),
		settled,
	)
	if got := eval(blueCtx, `location.pathname`); got != "/notifications" {
		t.Fatalf("the bell led blue to %q", got)
	}
	if got := eval(blueCtx, `[...document.querySelectorAll('[data-testid="notification-row"]')].length + "|" + document.querySelector('[data-testid="notification-title"]').textContent.trim()`); !strings.HasPrefix(got, "1|") || !strings.Contains(got, "Encoded PowerShell") {
		t.Fatalf("blue's notifications: %q, want one about Encoded PowerShell", got)
	}
	step(blueCtx, "mark read",
		chromedp.Click(chromedp.CSS(`[data-testid="notification-mark-read"]`)),
		within(10*time.Second, `(() => { const r = document.querySelector('[data-testid="notification-row"]'); return !!r && r.dataset.read === "true" })()`),
		within(10*time.Second, `(() => { const b = document.querySelector('[data-testid="bell"]'); return !!b && b.dataset.unread === "0" && !document.querySelector('[data-testid="bell-count"]') })()`),
		settled,
	)
	if got := eval(blueCtx, bell); got != "0|" {
		t.Errorf("after Mark read blue's bell is %q, want unread 0 and no count", got)
	}
	if n := app.Ent.Notification.Query().Where(notification.UserID(blue.ID), notification.ReadAtIsNil()).CountX(sys); n != 0 {
		t.Errorf("blue still has %d unread notifications in the database", n)
	}
	if n := app.Ent.Notification.Query().Where(notification.UserID(blue.ID)).CountX(sys); n != 1 {
		t.Errorf("blue has %d notifications, want the one of the release", n)
	}

	for _, m := range blueConsole.Errors() {
		t.Errorf("blue's console: %s", m)
	}
	for _, m := range redConsole.Errors() {
		t.Errorf("red's console: %s", m)
	}
}

// slowBell delays the page's requests for the bell by 800 ms (after htmx
// has started them, so they count as under way).
const slowBell = `(() => {
	const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
	XMLHttpRequest.prototype.open = function (method, url) { this.__url = String(url); return open.apply(this, arguments); };
	XMLHttpRequest.prototype.send = function () {
		const args = arguments;
		if (this.__url.indexOf("/notifications/bell") >= 0) { setTimeout(() => send.apply(this, args), 800); return; }
		return send.apply(this, args);
	};
})()`
