package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserBulkSkipCompletes is issue 18's bulk test: a lead whose
// mission cannot be completed while 40 tests are open selects them all
// with the header checkbox, skips them with a reason in one bulk action,
// reads "40 skipped", and then completes the mission with the status
// control.
func TestBrowserBulkSkipCompletes(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	lead := app.User(t, "lead@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Forty open tests").SetStatus("in_progress").SetCreatedByID(lead.ID).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(lead.ID).SetRole(missionmember.RoleLead).ExecX(sys)
	creates := make([]*ent.MissionTestCreate, 40)
	for i := range creates {
		state := missiontest.StatePending
		if i%4 == 3 {
			state = missiontest.StateRunning
		}
		creates[i] = app.Ent.MissionTest.Create().SetMissionID(m.ID).SetPosition(i).
			SetName(fmt.Sprintf("Open test %02d", i)).SetState(state)
	}
	app.Ent.MissionTest.CreateBulk(creates...).ExecX(sys)
	overview := base + "/missions/" + m.ID.String()

	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }
	settled := browsertest.Settled()
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML : ""`))
			browsertest.Screenshot(t, ctx, "bulk-"+name+"-failed")
			t.Fatalf("%s: %v\n%s", name, err, html)
		}
	}
	step("login",
		chromedp.Navigate(overview+"/settings"),
		visible(`[data-testid="login-form"]`),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "lead@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		visible(`[data-testid="mission-status-completed"]`),
		browsertest.Loaded(),
	)

	// Completing is refused while the tests are open.
	step("complete refused",
		chromedp.Click(chromedp.CSS(`[data-testid="mission-status-completed"]`)),
		visible(`[data-testid="mission-notice"]`),
		browsertest.Loaded(),
	)
	if s := app.Ent.Mission.GetX(sys, m.ID).Status; s != "in_progress" {
		t.Fatalf("mission %s with 40 open tests", s)
	}

	// The bar shows once something is selected; the header checkbox
	// selects every test shown.
	step("select all",
		chromedp.Navigate(overview),
		visible(`[data-testid="bulk-all"]`),
		browsertest.Loaded(),
		settled,
		poll(`document.querySelector('[data-testid="bulk-bar"]').hidden`),
		chromedp.Focus(chromedp.CSS(`[data-testid="bulk-all"]`)),
		chromedp.KeyEvent(" "), // the keyboard ticks it
		visible(`[data-testid="bulk-bar"]`),
		poll(`document.querySelectorAll('[data-testid="bulk-select"]:checked').length === 40`),
		poll(`document.querySelector('[data-bulk-count]').textContent.trim() === "40"`),
		visible(`[data-testid="bulk-reason"]`),
	)
	browsertest.Screenshot(t, ctx, "bulk-selected")
	browsertest.DocScreenshot(t, ctx, "overview-bulk-selection")
	step("bulk skip",
		chromedp.SetValue(chromedp.CSS(`[data-testid="bulk-action"]`), "skip"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="bulk-reason"]`), "Out of scope for this engagement"),
		chromedp.Click(chromedp.CSS(`[data-testid="bulk-submit"]`)),
		visible(`[data-testid="bulk-summary"]`),
		settled,
	)
	summary, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="bulk-applied"]').textContent.trim()`))
	if err != nil {
		t.Fatal(err)
	}
	if summary != "40 skipped" {
		t.Errorf("summary %q, want 40 skipped", summary)
	}
	if n, err := app.Ent.MissionTest.Query().Where(missiontest.MissionID(m.ID), missiontest.StateEQ(missiontest.StateSkipped),
		missiontest.StateReason("Out of scope for this engagement")).Count(sys); err != nil || n != 40 {
		t.Fatalf("%d tests skipped with the reason (%v)", n, err)
	}

	// The plan column holds its controls on one line (issue 18, point 7):
	// the category select saves on change, so no Set button with JS.
	step("plan column",
		chromedp.Navigate(overview+"?plan=1"),
		visible(`[data-testid="plan-category"]`),
		browsertest.Loaded(),
		poll(`(() => { const r = document.querySelector('.plan-row'); return r.getBoundingClientRect().height < 2 * document.querySelector('[data-testid="plan-category"]').getBoundingClientRect().height; })()`),
		poll(`document.querySelectorAll('[data-testid="plan-category-submit"]').length === 0`),
	)
	browsertest.Screenshot(t, ctx, "bulk-plan-column")

	// Now the mission completes.
	step("complete",
		chromedp.Navigate(overview+"/settings"),
		visible(`[data-testid="mission-status-completed"]`),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-status-completed"]`)),
		visible(`[data-testid="mission-status-archived"]`),
	)
	if s := app.Ent.Mission.GetX(sys, m.ID).Status; s != "completed" {
		t.Errorf("mission %s after completing", s)
	}
	step("overview shows completed",
		chromedp.Navigate(overview),
		visible(`[data-testid="mission-status"][data-status="completed"]`),
	)
	for _, e := range console.Errors() {
		// The refused completion answers 422, which the console reports.
		if !strings.Contains(e, "favicon") && !strings.Contains(e, "422") {
			t.Errorf("console: %s", e)
		}
	}
}
