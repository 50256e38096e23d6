package handlers_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/ent/defensivetool"
	entmission "violet/ent/mission"
	"violet/ent/missiontest"
	"violet/ent/missiontestoutcome"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// e2eBrowser is one person's own Chromium, signed in: each phase of the
// end-to-end test below gets a browser of its own, so that no phase eats
// into another's browsertest.ActionTimeout on a busy machine.
type e2eBrowser struct {
	t       *testing.T
	ctx     context.Context
	console *browsertest.Console
	name    string
}

// do runs actions, failing the test with a screenshot and the page's
// <main> when one of them fails.
func (b *e2eBrowser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML : ""`))
		browsertest.Screenshot(b.t, b.ctx, "issue20-"+b.name+"-"+strings.ReplaceAll(step, " ", "-")+"-failed")
		b.t.Fatalf("%s, %s: %v\n%s", b.name, step, err, apptest.Excerpt(html))
	}
}

// texts is the text of every element sel matches, white space folded.
func (b *e2eBrowser) texts(sel string) []string {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(`+"`"+sel+"`"+`)).map(e => e.textContent.trim().split(/\s+/).join(" "))`))
	if err != nil {
		b.t.Fatalf("%s: read %s: %v", b.name, sel, err)
	}
	return got
}

// text is the text of the first element sel matches ("" for none).
func (b *e2eBrowser) text(sel string) string {
	b.t.Helper()
	if all := b.texts(sel); len(all) > 0 {
		return all[0]
	}
	return ""
}

// noConsoleErrors reports what broke the page's scripts or policy.
func (b *e2eBrowser) noConsoleErrors() {
	b.t.Helper()
	for _, msg := range b.console.Errors() {
		b.t.Errorf("%s's console: %s", b.name, msg)
	}
}

// TestBrowserOutcomesPerToolEndToEnd is issue 20's first "Done when", all
// through the real UI in Chromium: an admin adds two defensive tools on
// /admin/tools; a lead puts both in the mission's scope on its settings;
// blue records Blocked for the EDR and Logged for the SIEM (each with a
// detection time) in the tool rows of a released, executed test tagged
// T1059.001. Then the overview shows both tools' figures and the derived
// level (Blocked), the report's PDF names both tools, the Navigator layer
// of each tool (its link on the overview) names the tool and scores the
// technique by that tool's level, the CSV's outcomes column holds
// "Falcon EDR: Blocked" and "Splunk SIEM: Logged", and the timeline draws
// the execution bar and the two marks.
func TestBrowserOutcomesPerToolEndToEnd(t *testing.T) {
	app, base := browsertest.Server(t, apptest.Patient())
	w := apptest.AsWorld(app)
	w.Person(t, "admin", "admin")
	w.Person(t, "lead", "redteam")
	w.Person(t, "blue", "blueteam")
	sys := w.Sys()
	m := w.Mission(t, "Operation Falcon", entmission.StatusInProgress) // lead and blue members
	// Executed (apptest.TestStart 09:30 → 09:35 UTC), released to blue,
	// tagged with a technique: the timeline and the layers have data.
	test := w.Test(t, m, apptest.TestOpts{Name: "Encoded PowerShell", State: missiontest.StateExecuted, Released: true,
		Technique: "T1059.001", TechniqueName: "PowerShell"})
	app.Ent.MissionTest.UpdateOneID(test).SetTargetHost("ws01").ExecX(sys)

	// Each person signs in in a browser of their own, in UTC, so that the
	// detection times typed are the instants checked below.
	signIn := func(who, path, ready string) *e2eBrowser {
		t.Helper()
		b := &e2eBrowser{t: t, ctx: browsertest.New(t), name: who}
		b.console = browsertest.WatchConsole(b.ctx)
		b.do("sign in",
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"})
				return err
			}),
			chromedp.Navigate(base+path),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
			browsertest.Loaded(),
			chromedp.SendKeys(chromedp.CSS(`#field-email`), w.Email(who)),
			chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
			chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(ready)),
			browsertest.Loaded(),
		)
		return b
	}

	// 1. The admin adds the two tools.
	admin := signIn("admin", paths.URL(paths.Tools), `[data-testid="tools-empty"]`)
	for _, tool := range []struct{ name, vendor, kind string }{
		{"Falcon EDR", "CrowdStrike", "edr"}, {"Splunk SIEM", "Splunk", "siem"},
	} {
		admin.do("add "+tool.name,
			chromedp.SendKeys(chromedp.CSS(`#field-name`), tool.name),
			chromedp.SendKeys(chromedp.CSS(`#field-vendor`), tool.vendor),
			chromedp.SetValue(chromedp.CSS(`#field-kind`), tool.kind),
			chromedp.Click(chromedp.CSS(`[data-testid="tool-submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="tool-row"][data-name="`+tool.name+`"]`)),
			browsertest.Loaded(),
		)
	}
	if got := strings.Join(admin.texts(`[data-testid="tool-row"] [data-testid="tool-kind"]`), ","); got != "EDR,SIEM" {
		t.Errorf("the registry lists kinds %q, want EDR,SIEM", got)
	}
	admin.noConsoleErrors()
	toolID := map[string]uuid.UUID{}
	for _, name := range []string{"Falcon EDR", "Splunk SIEM"} {
		tool, err := app.Ent.DefensiveTool.Query().Where(defensivetool.Name(name)).Only(sys)
		if err != nil {
			t.Fatalf("the tool %q the admin added: %v", name, err)
		}
		toolID[name] = tool.ID
	}
	edr, siem := toolID["Falcon EDR"].String(), toolID["Splunk SIEM"].String()

	// 2. The lead puts both in the mission's scope.
	lead := signIn("lead", paths.URL(paths.MissionSettings, m), `[data-testid="field-tools"]`)
	choice := func(id string) string { return `[data-testid="mission-tool-choice"][data-id="` + id + `"] input` }
	lead.do("scope",
		chromedp.Click(chromedp.CSS(choice(edr))),
		chromedp.Click(chromedp.CSS(choice(siem))),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash-success"]`)),
		browsertest.Loaded(),
	)
	lead.noConsoleErrors()
	if n := app.Ent.Mission.Query().Where(entmission.ID(m)).QueryTools().CountX(sys); n != 2 {
		t.Fatalf("%d tools in the mission's scope after the lead saved, want 2", n)
	}

	// 3. Blue records Blocked for the EDR and Logged for the SIEM.
	row := func(id string) string { return "#outcome-" + id }
	blue := signIn("blue", paths.URL(paths.MissionTest, m, test), row(edr))
	blue.do("settle", browsertest.Settled())
	for _, o := range []struct{ tool, level, at, alert string }{
		{edr, "Blocked", "2026-03-14T09:32", "Falcon blocked powershell -enc"},
		{siem, "Logged", "2026-03-14T09:41", ""},
	} {
		actions := []chromedp.Action[chromedp.Void]{
			chromedp.SetValue(chromedp.CSS(row(o.tool)+` [name="detection_level"]`), w.Level(t, o.level).String()),
			chromedp.SetValue(chromedp.CSS(row(o.tool)+` [name="detected_at"]`), o.at),
		}
		if o.alert != "" {
			actions = append(actions, chromedp.SendKeys(chromedp.CSS(row(o.tool)+` [name="alert_name"]`), o.alert))
		}
		actions = append(actions,
			chromedp.Click(chromedp.CSS(row(o.tool)+` [data-testid="outcome-save"]`)),
			chromedp.WaitVisible(chromedp.CSS(row(o.tool)+` [data-testid="outcome-notice"][data-notice="saved"]`)),
			browsertest.Settled(),
		)
		blue.do("record "+o.level, actions...)
	}
	if got := blue.text(`[data-testid="mission-test-overall-level"]`); got != "Blocked" {
		t.Errorf("the test's overall result shows %q, want Blocked (the best across tools)", got)
	}
	blue.noConsoleErrors()
	stored := map[string]string{}
	for _, o := range app.Ent.MissionTestOutcome.Query().Where(missiontestoutcome.MissionTestID(test), missiontestoutcome.ToolIDNotNil()).
		WithTool().WithDetectionLevel().AllX(sys) {
		at := ""
		if o.DetectedAt != nil {
			at = o.DetectedAt.UTC().Format(time.RFC3339)
		}
		level := ""
		if o.Edges.DetectionLevel != nil {
			level = o.Edges.DetectionLevel.Name
		}
		stored[o.Edges.Tool.Name] = level + " " + at
	}
	if len(stored) != 2 || stored["Falcon EDR"] != "Blocked 2026-03-14T09:32:00Z" || stored["Splunk SIEM"] != "Logged 2026-03-14T09:41:00Z" {
		t.Fatalf("stored outcomes %v, want Falcon EDR Blocked at 09:32 and Splunk SIEM Logged at 09:41 UTC", stored)
	}

	// 4a. The overview: both tools' figures and the derived level.
	overview := signIn("lead", paths.URL(paths.Mission, m), `[data-testid="tool-figures"]`)
	figure := func(id, testid string) string {
		return `[data-testid="tool-figure"][data-tool="` + id + `"] [data-testid="` + testid + `"]`
	}
	if got := overview.texts(`[data-testid="tool-figure"] th`); len(got) != 2 ||
		!strings.HasPrefix(got[0], "Falcon EDR") || !strings.HasPrefix(got[1], "Splunk SIEM") {
		t.Errorf("the overview's figures name %q, want Falcon EDR and Splunk SIEM", got)
	}
	for _, want := range []struct{ tool, testid, text string }{
		{edr, "tool-tests", "1"}, {edr, "tool-with-outcome", "1"}, {edr, "tool-detected", "1"}, {edr, "tool-rate", "100 %"},
		{siem, "tool-tests", "1"}, {siem, "tool-with-outcome", "1"}, {siem, "tool-detected", "0"}, {siem, "tool-rate", "0 %"},
	} {
		if got := overview.text(figure(want.tool, want.testid)); got != want.text {
			t.Errorf("overview: %s of tool %s is %q, want %q", want.testid, want.tool, got, want.text)
		}
	}
	cell := func(id string) string { return `[data-testid="tool-matrix-cell"][data-tool="` + id + `"]` }
	if got := overview.text(cell(edr)) + "/" + overview.text(cell(siem)); got != "Blocked/Logged" {
		t.Errorf("the overview's matrix shows %q, want Blocked/Logged", got)
	}
	if got := overview.text(`[data-testid="test-row"] [data-testid="test-level"]`); got != "Blocked" {
		t.Errorf("the overview's row shows the level %q, want the derived Blocked", got)
	}
	layerURL := map[string]string{}
	for name, id := range toolID {
		href, err := chromedp.Run(overview.ctx, chromedp.Evaluate[string](
			`(document.querySelector('[data-testid="tool-figure"][data-tool="`+id.String()+`"] [data-testid="tool-layer"]') || {}).getAttribute?.("href") || ""`))
		if err != nil {
			t.Fatal(err)
		}
		layerURL[name] = href
	}
	overview.noConsoleErrors()

	// 4b. The Navigator layer of each tool, from its link on the overview,
	// with the lead's session.
	for name, level := range map[string]string{"Falcon EDR": "Blocked", "Splunk SIEM": "Logged"} {
		want := paths.URL(paths.MissionExportNavigator, m) + "?tool=" + toolID[name].String()
		if layerURL[name] != want {
			t.Errorf("%s's layer link %q, want %q", name, layerURL[name], want)
		}
		resp := app.GetAs(w.Cookie("lead"), want)
		if resp.Code != http.StatusOK {
			t.Fatalf("%s's layer: status %d\n%s", name, resp.Code, apptest.Excerpt(resp.Body.String()))
		}
		if bad := validateLayer(resp.Body.Bytes()); len(bad) > 0 {
			t.Errorf("%s's layer is not a valid Navigator layer: %v", name, bad)
		}
		var l exportLayer
		if err := json.Unmarshal(resp.Body.Bytes(), &l); err != nil {
			t.Fatalf("%s's layer: %v", name, err)
		}
		if !strings.Contains(l.Name, name) || !slices.ContainsFunc(l.Metadata, func(md struct{ Name, Value string }) bool { return md.Value == name }) {
			t.Errorf("%s's layer does not name the tool: name %q, metadata %+v", name, l.Name, l.Metadata)
		}
		score := app.Ent.DetectionLevel.GetX(sys, w.Level(t, level)).Score
		if len(l.Techniques) != 1 || l.Techniques[0].TechniqueID != "T1059.001" ||
			l.Techniques[0].Score == nil || *l.Techniques[0].Score != score {
			t.Errorf("%s's layer techniques %+v, want T1059.001 scored %d (%s)", name, l.Techniques, score, level)
		}
	}

	// 4c. The CSV's outcomes column.
	resp := app.GetAs(w.Cookie("lead"), paths.URL(paths.MissionExportTestsCSV, m))
	if resp.Code != http.StatusOK {
		t.Fatalf("CSV: status %d", resp.Code)
	}
	records, err := csv.NewReader(bytes.NewReader(resp.Body.Bytes())).ReadAll()
	if err != nil || len(records) != 2 {
		t.Fatalf("CSV: %d records (%v), want the header and one test", len(records), err)
	}
	col := slices.Index(records[0], "outcomes")
	if col < 0 {
		t.Fatalf("no outcomes column in %v", records[0])
	}
	parts := strings.Split(records[1][col], "; ")
	slices.Sort(parts)
	if !slices.Equal(parts, []string{"Falcon EDR: Blocked", "Splunk SIEM: Logged"}) {
		t.Errorf("the CSV's outcomes column holds %q, want Falcon EDR: Blocked and Splunk SIEM: Logged", records[1][col])
	}

	// 4d. The report: both tools in its figures and in its PDF's text.
	report := signIn("lead", paths.URL(paths.MissionReport, m), `[data-testid="report-name"]`)
	report.do("report loaded", chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-appendix"]`)))
	for id, rate := range map[string]string{edr: "100 %", siem: "0 %"} {
		if got := report.text(`[data-testid="report-tools"] ` + figure(id, "tool-rate")); got != rate {
			t.Errorf("the report's rate of tool %s is %q, want %q", id, got, rate)
		}
	}
	_, pdfPath := printReport(t, report.ctx, "issue20-report.pdf")
	report.noConsoleErrors()
	raw, ok := pdfText(t, pdfPath)
	if !ok {
		skipWithoutPoppler(t)
	}
	text := normalisePDFText(raw)
	for _, want := range []string{"Falcon EDR", "Splunk SIEM", "Operation Falcon"} {
		if !strings.Contains(text, want) {
			t.Errorf("%q not in the report's PDF", want)
		}
	}

	// 4e. The timeline: the execution bar and the two marks.
	timeline := signIn("lead", paths.URL(paths.MissionTimeline, m), `[data-testid="timeline-chart"]`)
	type drawn struct {
		Bars     []string // the bars' tests
		Marks    []string // the visible marks' tools
		BarWidth float64
	}
	got, err := chromedp.Run(timeline.ctx, chromedp.Evaluate[drawn](`(() => {
		const q = s => Array.from(document.querySelectorAll(s));
		const bar = document.querySelector('[data-testid="timeline-bar"] rect');
		return {
			Bars: q('[data-testid="timeline-bar"]').map(b => b.dataset.test),
			Marks: q('[data-testid="timeline-mark"]').filter(a => a.querySelector('path').getBoundingClientRect().width > 0).map(a => a.dataset.tool).sort(),
			BarWidth: bar ? bar.getBoundingClientRect().width : 0,
		};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, timeline.ctx, "issue20-timeline")
	if !slices.Equal(got.Bars, []string{test.String()}) || got.BarWidth <= 0 {
		t.Errorf("timeline bars %v (width %.1f), want the test's one bar", got.Bars, got.BarWidth)
	}
	if !slices.Equal(got.Marks, []string{"Falcon EDR", "Splunk SIEM"}) {
		t.Errorf("timeline marks %v, want one for Falcon EDR and one for Splunk SIEM", got.Marks)
	}
	timeline.noConsoleErrors()
}
