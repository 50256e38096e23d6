package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/ent/missionmember"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserTimeline: in a real browser, the timeline of a mission whose
// test was blocked by one tool and logged by another draws the execution
// bar and two marks, each mark filled with its level's colour from the
// scale's stylesheet, with the table below; choosing a tool in the filter
// (htmx) leaves that tool's mark alone. Nothing breaks the page's policy
// (console).
func TestBrowserTimeline(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	lead := app.User(t, "lead@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Timed mission").SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(lead.ID).SetRole(missionmember.RoleLead).ExecX(sys)
	edr := app.Ent.DefensiveTool.Create().SetName("EDR X").SetKind("edr").SaveX(sys)
	siem := app.Ent.DefensiveTool.Create().SetName("SIEM Y").SetKind("siem").SaveX(sys)
	app.Ent.Mission.UpdateOneID(m.ID).AddToolIDs(edr.ID, siem.ID).ExecX(sys)
	start := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Minute)
	test := app.Ent.MissionTest.Create().SetMissionID(m.ID).SetName("Dump LSASS").SetState("executed").
		SetReleasedToBlue(true).SetTargetHost("dc01").SetStartedAt(start).SetEndedAt(start.Add(40 * time.Minute)).SaveX(sys)
	for _, q := range []struct {
		tool  any
		level string
		after time.Duration
	}{{edr.ID, "Blocked", 2 * time.Minute}, {siem.ID, "Logged", 55 * time.Minute}} {
		if _, err := app.DB.Exec(`INSERT INTO mission_test_outcomes (mission_test_id, tool_id, detection_level_id, detected_at)
			VALUES ($1, $2, (SELECT id FROM detection_levels WHERE name = $3), $4)`, test.ID, q.tool, q.level, start.Add(q.after)); err != nil {
			t.Fatal(err)
		}
	}

	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/missions/"+m.ID.String()+"/timeline"),
		visible(`[data-testid="login-form"]`),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), lead.Email),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		visible(`[data-testid="timeline-chart"]`),
		browsertest.Loaded(),
	); err != nil {
		browsertest.Screenshot(t, ctx, "timeline-failed")
		t.Fatal(err)
	}
	// What is drawn: the bars and marks with a size on the screen, and the
	// marks' fill (the level's colour, not the default grey).
	type drawn struct {
		Bars, Marks, Rows int
		BarWidth          float64
		Fills             []string
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[drawn](`(() => {
		const q = s => Array.from(document.querySelectorAll(s));
		return {
			Bars: q('[data-testid="timeline-bar"]').length,
			Marks: q('[data-testid="timeline-mark"]').filter(a => a.querySelector('path').getBoundingClientRect().width > 0).length,
			Rows: q('[data-testid="timeline-row"]').length,
			BarWidth: document.querySelector('[data-testid="timeline-bar"] rect').getBoundingClientRect().width,
			Fills: q('[data-testid="timeline-mark"] path').map(p => getComputedStyle(p).fill),
		};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "timeline")
	browsertest.DocScreenshot(t, ctx, "timeline")
	if got.Bars != 1 || got.Marks != 2 || got.Rows != 2 || got.BarWidth < 20 {
		t.Errorf("drawn %+v, want one bar of some width, two visible marks, two table rows", got)
	}
	if len(got.Fills) != 2 || got.Fills[0] == got.Fills[1] {
		t.Errorf("marks' fills %v: each level has its colour", got.Fills)
	}
	// The tool filter, through htmx: SIEM Y's mark alone.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`[data-testid="timeline-tool"]`), siem.ID.String()),
		chromedp.Click(chromedp.CSS(`[data-testid="timeline-submit"]`)),
		chromedp.Poll[chromedp.Void](`location.search.includes("tool=")`),
		browsertest.Settled(),
	); err != nil {
		browsertest.Screenshot(t, ctx, "timeline-failed")
		t.Fatal(err)
	}
	marks, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="timeline-mark"][data-tool="SIEM Y"]').length +
		10 * document.querySelectorAll('[data-testid="timeline-mark"]:not([data-tool="SIEM Y"])').length`))
	if err != nil {
		t.Fatal(err)
	}
	if marks != 1 {
		t.Errorf("after the tool filter: %d (want SIEM Y's mark only)", marks)
	}
	for _, msg := range console.Errors() {
		t.Errorf("console: %s", msg)
	}
}
