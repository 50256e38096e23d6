package handlers_test

import (
	"context"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserNavigatorTickNone: in the Navigator import preview, each
// technique offering several templates has Tick all / Tick none buttons
// (shown by app.js); the lead unticks every template of T1003 with Tick
// none, and the import adds only T1059's templates. Tick all ticks a
// group back.
func TestBrowserNavigatorTickNone(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	lead := app.User(t, "lead@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Tick none").SetStatus(mission.StatusInProgress).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(lead.ID).SetRole(missionmember.RoleLead).ExecX(sys)
	e := app.Ent
	exec := e.MitreTactic.Create().SetStixID("x-mitre-tactic--1").SetExternalID("TA0002").SetName("Execution").
		SetShortname("execution").SaveX(sys)
	t1059 := e.MitreTechnique.Create().SetStixID("attack-pattern--1").SetExternalID("T1059").
		SetName("Command and Scripting Interpreter").AddTactics(exec).SaveX(sys)
	t1003 := e.MitreTechnique.Create().SetStixID("attack-pattern--3").SetExternalID("T1003").
		SetName("OS Credential Dumping").SaveX(sys)
	for name, tech := range map[string]uint8{"cmd.exe whoami": 1, "PowerShell one-liner": 1, "Mimikatz sekurlsa": 3, "ProcDump LSASS": 3} {
		id := e.TestTemplate.Create().SetName(name).SaveX(sys).ID
		tag := e.TestTemplateMitreTag.Create().SetTestTemplateID(id)
		if tech == 1 {
			tag.SetTechniqueID(t1059.ID)
		} else {
			tag.SetTechniqueID(t1003.ID)
		}
		tag.ExecX(sys)
	}
	layer := `{"name":"Tick layer","domain":"enterprise-attack","versions":{"layer":"4.5","navigator":"4.9.1","attack":"16"},
		"techniques":[{"techniqueID":"T1059","score":1},{"techniqueID":"T1003","score":1}]}`

	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }
	group := func(id string) string {
		return `document.querySelector('[data-testid="navigator-technique"][data-technique="` + id + `"]')`
	}
	ticked := func(id string) string {
		return group(id) + `.querySelectorAll('input[name="template_id"]:checked').length`
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			browsertest.Screenshot(t, ctx, "navigator-tick-"+name+"-failed")
			t.Fatalf("%s: %v", name, err)
		}
	}
	step("preview",
		chromedp.Navigate(base+"/missions/"+m.ID.String()+"/plan/navigator"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "lead@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="navigator-upload-form"]`)),
		browsertest.Loaded(),
		chromedp.SetValue(chromedp.CSS(`#field-layer_text`), layer),
		chromedp.Click(chromedp.CSS(`[data-testid="navigator-read"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="navigator-preview"]`)),
		browsertest.Loaded(),
		// Every template is ticked at first, the buttons shown by app.js.
		poll(ticked("T1059")+` === 2 && `+ticked("T1003")+` === 2`),
		chromedp.WaitVisible(chromedp.CSS(`[data-technique="T1003"] [data-testid="navigator-tick-none"]`)),
	)
	browsertest.Screenshot(t, ctx, "navigator-tick-preview")
	step("tick none, all, none",
		chromedp.Click(chromedp.CSS(`[data-technique="T1003"] [data-testid="navigator-tick-none"]`)),
		poll(ticked("T1003")+` === 0 && `+ticked("T1059")+` === 2`),
		chromedp.Click(chromedp.CSS(`[data-technique="T1003"] [data-testid="navigator-tick-all"]`)),
		poll(ticked("T1003")+` === 2`),
		chromedp.Click(chromedp.CSS(`[data-technique="T1003"] [data-testid="navigator-tick-none"]`)),
		poll(ticked("T1003")+` === 0`),
		chromedp.Click(chromedp.CSS(`[data-testid="navigator-confirm"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="navigator-preview"]`)),
		browsertest.Loaded(),
	)
	var names []string
	for _, mt := range app.Ent.MissionTest.Query().Where(missiontest.MissionID(m.ID)).AllX(sys) {
		names = append(names, mt.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"PowerShell one-liner", "cmd.exe whoami"}) {
		t.Errorf("the mission holds %q, want only T1059's templates", names)
	}
	for _, e := range console.Errors() {
		t.Errorf("console error: %s", e)
	}
}
