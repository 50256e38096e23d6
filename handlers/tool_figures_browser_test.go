package handlers_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/ent/defensivetool"
	"violet/ent/detectionlevel"
	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserToolFigures: with Blocked recorded for the EDR and Logged
// for the SIEM on an executed test, the lead's overview in Chromium shows
// each tool's rate; the folded matrix opens on a click and shows each
// tool's level in its colour; nothing breaks the CSP.
func TestBrowserToolFigures(t *testing.T) {
	app, base := browsertest.Server(t)
	w := apptest.AsWorld(app)
	w.Person(t, "lead", "redteam")
	m := w.Mission(t, "Tools", mission.StatusInProgress)
	id := w.Test(t, m, apptest.TestOpts{Name: "Encoded PowerShell", State: missiontest.StateExecuted, Released: true})
	sys := w.Sys()
	tools := map[string]string{}
	for name, level := range map[string]string{"EDR": "Blocked", "SIEM": "Logged"} {
		tool := app.Ent.DefensiveTool.Create().SetName(name).SetKind(defensivetool.KindOther).SaveX(sys)
		app.Ent.Mission.UpdateOneID(m).AddToolIDs(tool.ID).ExecX(sys)
		l := app.Ent.DetectionLevel.Query().Where(detectionlevel.Name(level)).OnlyX(sys)
		app.Ent.MissionTestOutcome.Create().SetMissionTestID(id).SetToolID(tool.ID).SetDetectionLevelID(l.ID).ExecX(sys)
		tools[name] = tool.ID.String()
	}

	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			browsertest.Screenshot(t, ctx, "tool-figures-"+name+"-failed")
			t.Fatalf("%s: %v", name, err)
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
	cell := func(name string) string {
		return `[data-testid="tool-matrix-cell"][data-tool="` + tools[name] + `"] .badge`
	}
	step("sign in",
		chromedp.Navigate(base+paths.URL(paths.Mission, m)),
		visible(`[data-testid="login-form"]`),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), w.Email("lead")),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		visible(`[data-testid="tool-figures"]`),
		browsertest.Loaded(),
	)
	for name, want := range map[string]string{"EDR": "100 %", "SIEM": "0 %"} {
		if got := text(`[data-tool="` + tools[name] + `"] [data-testid="tool-rate"]`); got != want {
			t.Errorf("%s rate %q, want %q", name, got, want)
		}
	}
	step("open the matrix",
		chromedp.Click(chromedp.CSS(`[data-testid="tool-matrix"] > summary`)),
		visible(cell("EDR")),
		visible(cell("SIEM")),
	)
	if got := text(cell("EDR")) + "/" + text(cell("SIEM")); got != "Blocked/Logged" {
		t.Errorf("matrix cells %q", got)
	}
	// The level's colour comes from the scale's stylesheet (no inline style).
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector(`+"`"+cell("EDR")+"`"+`)).backgroundColor`))
	if err != nil || bg != "rgb(21, 128, 61)" { // Blocked's #15803d
		t.Errorf("EDR cell background %q %v", bg, err)
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
