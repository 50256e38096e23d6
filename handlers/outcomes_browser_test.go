package handlers_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/ent/defensivetool"
	"violet/ent/detectionlevel"
	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/ent/missiontestoutcome"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserMissionTestOutcomes is issue 20's outcomes per tool in
// Chromium: on a released test, blue types an alert in the SIEM's row,
// records "Blocked" for the EDR (its row alone is swapped: the SIEM's text
// stays), then "Logged" for the SIEM; the overall result shown above, and
// the mission overview's row, show the derived level, Blocked. The hand-set
// form saved afterwards is not refused as stale: the rows' saves passed
// the test's new version to the page's other forms; after a change made
// elsewhere, they do not, and the hand-set form's save is refused as stale.
func TestBrowserMissionTestOutcomes(t *testing.T) {
	app, base := browsertest.Server(t)
	w := apptest.AsWorld(app)
	w.Person(t, "lead", "redteam")
	w.Person(t, "blue", "blueteam")
	m := w.Mission(t, "Tools", mission.StatusInProgress)
	id := w.Test(t, m, apptest.TestOpts{Name: "Encoded PowerShell", State: missiontest.StateExecuted, Released: true})
	sys := w.Sys()
	tools := map[string]string{}
	for name, kind := range map[string]defensivetool.Kind{"EDR": defensivetool.KindEdr, "SIEM": defensivetool.KindSiem} {
		tool := app.Ent.DefensiveTool.Create().SetName(name).SetKind(kind).SaveX(sys)
		app.Ent.Mission.UpdateOneID(m).AddToolIDs(tool.ID).ExecX(sys)
		tools[name] = "#outcome-" + tool.ID.String()
	}
	level := func(name string) string {
		return app.Ent.DetectionLevel.Query().Where(detectionlevel.Name(name)).OnlyX(sys).ID.String()
	}
	page := base + paths.URL(paths.MissionTest, m, id)

	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	settled := browsertest.Settled()
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML : ""`))
			browsertest.Screenshot(t, ctx, "outcomes-"+name+"-failed")
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
	value := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+"`"+sel+"`"+`) || {}).value || ""`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	step("sign in",
		chromedp.Navigate(page),
		visible(`[data-testid="login-form"]`),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), w.Email("blue")),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		visible(tools["EDR"]),
		browsertest.Loaded(),
		settled,
	)
	step("EDR blocked",
		chromedp.SendKeys(chromedp.CSS(tools["SIEM"]+` [name="alert_name"]`), "Encoded PowerShell rule"),
		chromedp.SetValue(chromedp.CSS(tools["EDR"]+` [name="detection_level"]`), level("Blocked")),
		chromedp.SendKeys(chromedp.CSS(tools["EDR"]+` [name="alert_name"]`), "Process blocked"),
		chromedp.Click(chromedp.CSS(tools["EDR"]+` [data-testid="outcome-save"]`)),
		visible(tools["EDR"]+` [data-testid="outcome-notice"][data-notice="saved"]`),
		settled,
	)
	if got := value(tools["SIEM"] + ` [name="alert_name"]`); got != "Encoded PowerShell rule" {
		t.Errorf("the SIEM's row lost its text when the EDR's was saved: %q", got)
	}
	step("SIEM logged",
		chromedp.SetValue(chromedp.CSS(tools["SIEM"]+` [name="detection_level"]`), level("Logged")),
		chromedp.Click(chromedp.CSS(tools["SIEM"]+` [data-testid="outcome-save"]`)),
		visible(tools["SIEM"]+` [data-testid="outcome-notice"][data-notice="saved"]`),
		settled,
	)
	if got := text(`[data-testid="mission-test-overall-level"]`); got != "Blocked" {
		t.Errorf("the overall result shows %q, want Blocked", got)
	}
	if got := text(`#mission-test-overall [data-testid="value-alert_name"]`); got != "Process blocked" {
		t.Errorf("the overall alert %q", got)
	}
	browsertest.DocScreenshot(t, ctx, "mission-test-outcomes")

	// The hand-set form carries the test's version as it is now.
	step("hand-set",
		chromedp.SendKeys(chromedp.CSS(`#field-log_source`), "Analyst console"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-blue-save"]`)),
		visible(`[data-testid="mission-test-notice"]`),
		settled,
	)
	if got := text(`[data-testid="mission-test-notice"]`); got != "Blue team record saved." {
		t.Errorf("the hand-set save answered %q", got)
	}

	step("overview",
		chromedp.Navigate(base+paths.URL(paths.Mission, m)),
		visible(`[data-testid="test-row"]`),
		browsertest.Loaded(),
	)
	if got := text(`[data-testid="test-row"] [data-testid="test-level"]`); got != "Blocked" {
		t.Errorf("the overview's row shows %q, want Blocked", got)
	}
	outcomes := app.Ent.MissionTestOutcome.Query().Where(missiontestoutcome.MissionTestID(id)).WithTool().WithDetectionLevel().AllX(sys)
	got := map[string]string{}
	for _, o := range outcomes {
		name := "none"
		if o.Edges.Tool != nil {
			name = o.Edges.Tool.Name
		}
		got[name] = ""
		if o.Edges.DetectionLevel != nil {
			got[name] = o.Edges.DetectionLevel.Name
		}
	}
	if len(got) != 3 || got["EDR"] != "Blocked" || got["SIEM"] != "Logged" || got["none"] != "" {
		t.Errorf("outcomes %v, want EDR Blocked, SIEM Logged and the hand-set one", got)
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}

	// Someone else changes the test (here the red notes) while the page is
	// open: saving a tool's outcome then must not bring the page's other
	// forms up to the new version, or the hand-set form would overwrite
	// that change unseen. Its next save is refused as stale instead.
	step("back to the test",
		chromedp.Navigate(page),
		visible(tools["EDR"]),
		browsertest.Loaded(),
		settled,
	)
	if _, err := w.DB.Exec(`UPDATE mission_tests SET red_notes = 'Changed elsewhere', version = version + 1 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	step("EDR after a change elsewhere",
		chromedp.SendKeys(chromedp.CSS(tools["EDR"]+` [name="log_source"]`), "EDR console"),
		chromedp.Click(chromedp.CSS(tools["EDR"]+` [data-testid="outcome-save"]`)),
		visible(tools["EDR"]+` [data-testid="outcome-notice"][data-notice="saved"]`),
		settled,
	)
	step("hand-set, stale",
		chromedp.SendKeys(chromedp.CSS(`#field-log_source`), " again"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-blue-save"]`)),
		visible(`[data-testid="mission-test-notice"][data-notice="conflict"]`),
		settled,
	)
}
