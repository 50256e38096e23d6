package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/library"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserMissionFlow is issue 6's end-to-end test with three people in
// three browsers: the lead creates a mission, adds the red and the blue
// member, builds the plan from a scenario and starts the mission; red runs
// a test and releases it; blue, who sees only that released test, records
// a detection; the lead reviews it, and the overview's figures count it.
func TestBrowserMissionFlow(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	app.User(t, "lead@example.com", "redteam")
	red := app.User(t, "red@example.com", "redteam")
	blue := app.User(t, "blue@example.com", "blueteam")

	// The library: a scenario of two templates (the library pages have
	// their own browser tests).
	var tpls []uuid.UUID
	for _, name := range []string{"Encoded PowerShell", "Credential dump"} {
		tpls = append(tpls, app.Ent.TestTemplate.Create().SetName(name).SetProcedure("run `"+name+"`").SaveX(sys).ID)
	}
	scen := app.Ent.ScenarioTemplate.Create().SetName("Drill scenario").SaveX(sys)
	if _, err := library.AddTests(sys, app.Ent, scen.ID, 0, tpls); err != nil {
		t.Fatal(err)
	}
	level := app.Ent.DetectionLevel.Query().
		Where(detectionlevel.Retired(false), detectionlevel.CountsAsDetected(true)).
		Order(detectionlevel.ByPosition()).FirstX(sys)

	settled := browsertest.Settled()
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	login := func(ctx context.Context, email, page, ready string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(page),
			visible(`[data-testid="login-form"]`),
			chromedp.SendKeys(chromedp.CSS(`#field-email`), email),
			chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
			chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
			visible(ready),
			browsertest.Loaded(),
			settled,
		); err != nil {
			browsertest.Screenshot(t, ctx, "flow-login-failed")
			t.Fatalf("%s signs in: %v", email, err)
		}
	}
	step := func(ctx context.Context, name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML : ""`))
			browsertest.Screenshot(t, ctx, "flow-"+name+"-failed")
			t.Fatalf("%s: %v\n%s", name, err, html)
		}
	}

	// The lead creates the mission.
	lead := browsertest.New(t)
	leadConsole := browsertest.WatchConsole(lead)
	login(lead, "lead@example.com", base+"/missions/new", `[data-testid="mission-form"]`)
	step(lead, "create",
		chromedp.SendKeys(chromedp.CSS(`#field-name`), "Three-browser mission"),
		chromedp.SendKeys(chromedp.CSS(`#field-scope`), "The lab domain"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-submit"]`)),
		visible(`[data-testid="mission-header"]`),
	)
	loc, err := chromedp.Run(lead, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	mid, err := uuid.Parse(strings.TrimPrefix(loc, base+"/missions/"))
	if err != nil {
		t.Fatalf("after create the lead is at %q", loc)
	}
	overview := base + "/missions/" + mid.String()

	// Red and blue join through the members page.
	add := func(email string, id uuid.UUID, role string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			return chromedp.Do(ctx,
				chromedp.Evaluate[chromedp.Void](`document.getElementById("member-q").value = ""`),
				chromedp.SendKeys(chromedp.CSS(`#member-q`), strings.Split(email, "@")[0]),
				visible(`[data-testid="member-candidate"][data-user-id="`+id.String()+`"]`),
				settled,
				chromedp.SetValue(chromedp.CSS(`#candidate-role-`+id.String()), role),
				chromedp.Click(chromedp.CSS(`[data-testid="member-candidate"][data-user-id="`+id.String()+`"] [data-testid="member-candidate-add"]`)),
				visible(`[data-testid="member-row"][data-user-id="`+id.String()+`"][data-role="`+role+`"]`),
				settled,
			)
		})
	}
	step(lead, "members",
		chromedp.Navigate(overview+"/members"),
		visible(`#member-q`),
		settled,
		add("red@example.com", red.ID, "red"),
		add("blue@example.com", blue.ID, "blue"),
	)

	// The plan, from the scenario: both tests copied.
	step(lead, "plan",
		chromedp.Navigate(overview),
		visible(`[data-testid="plan-open"]`),
		chromedp.Click(chromedp.CSS(`[data-testid="plan-open"]`)),
		visible(`#plan-scenario-q`),
		settled,
		chromedp.SendKeys(chromedp.CSS(`#plan-scenario-q`), "Drill"),
		visible(`[data-testid="plan-scenario-hit"] input`),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="plan-scenario-hit"] input`)),
		// A plain form: the answer is a redirect to the overview.
		chromedp.Click(chromedp.CSS(`[data-testid="plan-instantiate"]`)),
	)
	step(lead, "plan built",
		visible(`[data-testid="test-row"] + [data-testid="test-row"]`),
		settled,
	)
	tests := app.Ent.MissionTest.Query().Where(missiontest.MissionID(mid)).Order(missiontest.ByPosition()).AllX(sys)
	if len(tests) != 2 || tests[0].Name != "Encoded PowerShell" || tests[1].Name != "Credential dump" {
		t.Fatalf("the plan holds %v", missionTestNames(tests))
	}
	browsertest.Screenshot(t, lead, "flow-planned")

	// planned, then in progress.
	step(lead, "status",
		chromedp.Navigate(overview+"/settings"),
		visible(`[data-testid="mission-status-planned"]`),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-status-planned"]`)),
		visible(`[data-testid="mission-status-in_progress"]`),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-status-in_progress"]`)),
		visible(`[data-testid="mission-status-completed"]`),
	)
	if s := app.Ent.Mission.GetX(sys, mid).Status; s != "in_progress" {
		t.Fatalf("mission status %s after the lead's clicks", s)
	}

	// Red runs the first test and releases it; the second stays unreleased.
	testPage := overview + "/tests/" + tests[0].ID.String()
	redCtx := browsertest.New(t)
	login(redCtx, "red@example.com", overview, `[data-testid="mission-tests"]`)
	step(redCtx, "red",
		chromedp.Click(chromedp.CSS(`[data-testid="test-link"][href$="`+tests[0].ID.String()+`"]`)),
		visible(`#mission-test-work`),
		browsertest.Loaded(),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-start"]`)),
		visible(`#mission-test-work[data-state="running"]`),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-stop"]`)),
		visible(`#mission-test-work[data-state="executed"]`),
		settled,
		chromedp.SendKeys(chromedp.CSS(`#field-command`), "powershell -enc SQBFAFgA"),
		chromedp.SendKeys(chromedp.CSS(`#field-target_host`), "ws01.lab"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-red-save"]`)),
		visible(`[data-testid="mission-test-notice"][data-notice="saved"]`),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-release"]`)),
		visible(`[data-testid="mission-test-released"]`),
		settled,
	)
	if got := app.Ent.MissionTest.GetX(sys, tests[0].ID); !got.ReleasedToBlue || got.Command != "powershell -enc SQBFAFgA" ||
		got.TargetHost != "ws01.lab" || got.ExecutedByID == nil || *got.ExecutedByID != red.ID {
		t.Fatalf("after red: %+v", got)
	}

	// Blue sees the released test only, and records a detection.
	blueCtx := browsertest.New(t)
	login(blueCtx, "blue@example.com", overview, `[data-testid="mission-tests"]`)
	shown, err := chromedp.Run(blueCtx, chromedp.Evaluate[string](
		`[...document.querySelectorAll('[data-testid="test-row"]')].map(r => r.dataset.id).join(",")`))
	if err != nil || shown != tests[0].ID.String() {
		t.Fatalf("blue's overview lists %q (%v), want only the released test", shown, err)
	}
	step(blueCtx, "blue",
		chromedp.Navigate(testPage),
		visible(`[data-testid="mission-test-blue-form"]`),
		settled,
		chromedp.SetValue(chromedp.CSS(`#field-detection_level`), level.ID.String()),
		chromedp.SendKeys(chromedp.CSS(`#field-alert_name`), "Encoded PowerShell command line"),
		chromedp.SendKeys(chromedp.CSS(`#field-log_source`), "Sysmon"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-blue-save"]`)),
		visible(`[data-testid="mission-test-notice"][data-notice="saved"]`),
		settled,
	)
	if got := app.Ent.MissionTest.GetX(sys, tests[0].ID); got.DetectionLevelID == nil || *got.DetectionLevelID != level.ID ||
		got.AlertName != "Encoded PowerShell command line" || got.LogSource != "Sysmon" {
		t.Fatalf("after blue: %+v", got)
	}
	if _, err := chromedp.Run(blueCtx, chromedp.Navigate(overview+"/tests/"+tests[1].ID.String())); err != nil {
		t.Fatal(err)
	}
	if title, _ := chromedp.Run(blueCtx, chromedp.Evaluate[string](`document.querySelector("#mission-test-work") ? "shown" : "hidden"`)); title != "hidden" {
		t.Error("blue opened the unreleased test")
	}

	// The lead reviews; the overview counts one detected test of one reviewed.
	step(lead, "review",
		chromedp.Navigate(testPage),
		visible(`[data-testid="mission-test-review-submit"]`),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-review-submit"]`)),
		visible(`#mission-test-work[data-state="reviewed"]`),
		settled,
		chromedp.Navigate(overview),
		visible(`[data-testid="figure-rate-value"]`),
	)
	if got := app.Ent.MissionTest.GetX(sys, tests[0].ID); got.State != missiontest.StateReviewed || got.ReviewedByID == nil {
		t.Fatalf("after the review: state %s reviewed by %v", got.State, got.ReviewedByID)
	}
	rate, _ := chromedp.Run(lead, chromedp.Evaluate[string](`document.querySelector('[data-testid="figure-rate-value"]').textContent.trim()`))
	if !strings.Contains(rate, "100") {
		t.Errorf("detection rate shown %q, want 100 %% (one detected test out of one with a result)", rate)
	}
	browsertest.Screenshot(t, lead, "flow-reviewed")
	for _, m := range leadConsole.Errors() {
		t.Errorf("lead's console: %s", m)
	}
}

func missionTestNames(tests []*ent.MissionTest) []string {
	var out []string
	for _, t := range tests {
		out = append(out, t.Name)
	}
	return out
}
