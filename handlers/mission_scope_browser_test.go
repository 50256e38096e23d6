package handlers_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/ent/missionmember"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserMissionToolScope: in a real browser, a lead ticks two
// defensive tools on the mission's settings and saves; the overview names
// both, and nothing breaks the page's policy (console).
func TestBrowserMissionToolScope(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	lead := app.User(t, "lead@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Scoped mission").SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(lead.ID).SetRole(missionmember.RoleLead).ExecX(sys)
	edr := app.Ent.DefensiveTool.Create().SetName("EDR X").SetVendor("Acme").SetKind("edr").SaveX(sys)
	siem := app.Ent.DefensiveTool.Create().SetName("SIEM Y").SetKind("siem").SaveX(sys)
	app.Ent.DefensiveTool.Create().SetName("Proxy Z").SetKind("proxy").SaveX(sys)

	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	choice := func(id string) string {
		return `[data-testid="mission-tool-choice"][data-id="` + id + `"] input`
	}
	settings := base + "/missions/" + m.ID.String() + "/settings"
	if err := chromedp.Do(ctx,
		chromedp.Navigate(settings),
		visible(`[data-testid="login-form"]`),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), lead.Email),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		visible(`[data-testid="field-tools"]`),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(choice(edr.ID.String()))),
		chromedp.Click(chromedp.CSS(choice(siem.ID.String()))),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-submit"]`)),
		visible(`[data-testid="flash-success"]`),
		browsertest.Loaded(),
	); err != nil {
		browsertest.Screenshot(t, ctx, "tool-scope-failed")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "tool-scope-settings")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/missions/"+m.ID.String()),
		visible(`[data-testid="mission-tools"]`),
		browsertest.Loaded(),
	); err != nil {
		browsertest.Screenshot(t, ctx, "tool-scope-failed")
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`Array.from(document.querySelectorAll('[data-testid="mission-tool"]')).map(e => e.textContent.trim()).join(", ")`))
	if err != nil {
		t.Fatal(err)
	}
	if shown != "EDR X, SIEM Y" {
		t.Errorf("the overview names %q, want EDR X, SIEM Y", shown)
	}
	browsertest.Screenshot(t, ctx, "tool-scope-overview")
	for _, msg := range console.Errors() {
		t.Errorf("console: %s", msg)
	}
}
