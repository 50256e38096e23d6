package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// expectedRows are the expected rules editor's rows as "tool id|name|error".
func expectedRows(d *goquery.Document) []string {
	var out []string
	d.Find(`[data-testid="expected-rules-rows"] [data-testid="expected-rule-row"]`).Each(func(_ int, s *goquery.Selection) {
		tool, _ := s.Find(`[data-testid="expected-rule-tool"] option[selected]`).Attr("value")
		name, _ := s.Find(`[data-testid="expected-rule-name"]`).Attr("value")
		out = append(out, tool+"|"+name+"|"+strings.TrimSpace(s.Find(`[data-testid="expected-rule-error"]`).Text()))
	})
	return out
}

// TestTemplateExpectedRulesForm: the template form offers the active
// tools in an empty row; a refused row comes back (422) with its error
// next to it and every row as typed, the editor named in the error
// summary; a valid save shows the rules on the template's page beside
// the Sigma rules, and the edit form lists them with an empty row.
func TestTemplateExpectedRulesForm(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app
	edr, siem := uuid.New(), uuid.New()
	if _, err := app.DB.Exec(`INSERT INTO defensive_tools (id, name, kind, active) VALUES ($1, 'Defender', 'edr', true),
		($2, 'Sentinel', 'siem', true), (gen_random_uuid(), 'Retired', 'av', false)`, edr, siem); err != nil {
		t.Fatal(err)
	}

	d := doc(t, app.GetAs(f.red, "/library/tests/new"))
	var offered []string
	d.Find(`[data-testid="expected-rule-row"]`).First().Find(`option`).Each(func(_ int, s *goquery.Selection) {
		offered = append(offered, strings.TrimSpace(s.Text()))
	})
	if !slices.Equal(offered, []string{"Choose a tool", "Defender", "Sentinel"}) {
		t.Errorf("tools offered %q", offered)
	}
	if got := expectedRows(d); !slices.Equal(got, []string{"||"}) {
		t.Errorf("a new form's rows %q, want one empty row", got)
	}
	if d.Find(`template[data-expected-template]`).Length() != 1 {
		t.Error("no row template for the script")
	}

	v := templateFormValues("Encoded PowerShell")
	v["expected_tool"] = []string{edr.String(), siem.String(), ""}
	v["expected_name"] = []string{"Encoded command", " ", ""}
	w := app.PostAs(f.red, "/library/tests", v)
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", w.Code)
	}
	d = doc(t, w)
	want := []string{edr.String() + "|Encoded command|", siem.String() + "||Give the rule's name.", "||"}
	if got := expectedRows(d); !slices.Equal(got, want) {
		t.Errorf("rows after a refusal %q, want %q", got, want)
	}
	if d.Find(`[data-testid="error-summary"] li[data-field="expected_rules"]`).Length() != 1 {
		t.Error("the error summary does not name the expected rules")
	}
	if name, _ := d.Find(`#field-name`).Attr("value"); name != "Encoded PowerShell" {
		t.Errorf("the rest of the form not kept: name %q", name)
	}
	var created int
	if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'template.created'`).Scan(&created); err != nil || created != 0 {
		t.Errorf("%d templates created by a refused save, %v", created, err)
	}

	v["expected_name"] = []string{"Encoded command", "PowerShell burst", ""}
	w = app.PostAs(f.red, "/library/tests", v)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("status %d\n%s", w.Code, w.Body)
	}
	page := w.Header().Get("Location")
	d = doc(t, app.GetAs(f.red, page))
	var shown []string
	d.Find(`[data-testid="template-expected"] [data-testid="template-expected-rule"]`).Each(func(_ int, s *goquery.Selection) {
		shown = append(shown, strings.Join(strings.Fields(s.Text()), " "))
	})
	if !slices.Equal(shown, []string{"Defender Encoded command", "Sentinel PowerShell burst"}) {
		t.Errorf("the page shows %q", shown)
	}
	if d.Find(`[data-testid="template-sigma-rules"]`).Length() != 1 {
		t.Error("the Sigma rules are not beside them")
	}
	d = doc(t, app.GetAs(f.red, page+"/edit"))
	want = []string{edr.String() + "|Encoded command|", siem.String() + "|PowerShell burst|", "||"}
	if got := expectedRows(d); !slices.Equal(got, want) {
		t.Errorf("edit form rows %q, want %q", got, want)
	}
}

// TestBrowserTemplateExpectedRules: with the script, "Add a rule" appends
// a row and "Remove" takes one away; the rules typed are saved with the
// template and shown on its page.
func TestBrowserTemplateExpectedRules(t *testing.T) {
	app, base := browsertest.Server(t)
	ctx := browsertest.New(t)
	app.User(t, "red@example.com", "redteam")
	if _, err := app.DB.Exec(`INSERT INTO defensive_tools (name, kind) VALUES ('Defender', 'edr'), ('Sentinel', 'siem')`); err != nil {
		t.Fatal(err)
	}
	console := browsertest.WatchConsole(ctx)
	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }
	const rows = `document.querySelectorAll('[data-testid="expected-rules-rows"] [data-testid="expected-rule-row"]')`
	// fill types into row i: the tool by its name, then the rule's name.
	fill := func(i int, tool, name string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const row = %s[%d];
			const select = row.querySelector("select");
			select.value = [...select.options].find(o => o.textContent.trim() === %q).value;
			row.querySelector("input").value = %q;
		})()`, rows, i, tool, name))
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/library/tests/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="template-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-name`), "Encoded PowerShell"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="expected-rules-add"]`)),
		fill(0, "Defender", "Encoded command"),
		chromedp.Click(chromedp.CSS(`[data-testid="expected-rules-add"]`)),
		poll(rows+`.length === 2`),
		fill(1, "Sentinel", "To be removed"),
		chromedp.Click(chromedp.CSS(`[data-testid="expected-rules-add"]`)),
		poll(rows+`.length === 3`),
		fill(2, "Sentinel", "PowerShell burst"),
		chromedp.Evaluate[chromedp.Void](rows+`[1].querySelector('[data-testid="expected-rule-remove"]').click()`),
		poll(rows+`.length === 2`),
	); err != nil {
		browsertest.Screenshot(t, ctx, "template-expected-rules-failed")
		t.Fatalf("%v\n%v", err, console.Errors())
	}
	browsertest.Screenshot(t, ctx, "template-expected-rules")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="template-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="template-expected"]`)),
	); err != nil {
		browsertest.Screenshot(t, ctx, "template-expected-save-failed")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "template-expected-page")
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="template-expected-rule"]')].map(e => e.textContent.trim().replace(/\s+/g, " "))`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, []string{"Defender Encoded command", "Sentinel PowerShell burst"}) {
		t.Errorf("page shows %q", shown)
	}
	for _, m := range console.Errors() {
		t.Errorf("console error: %s", m)
	}
}

// TestMissionTestShowsExpectedRules: the test's page shows, in the blue
// panel, the Sigma rules it expects and, in each tool's outcome row, the
// free rule names that tool should fire (for those who record outcomes
// and for readers, and in the row a save swaps); the rules of a tool
// outside the scope are listed beside.
func TestMissionTestShowsExpectedRules(t *testing.T) {
	t.Parallel()
	w := newOutcomeWorld(t)
	if _, err := w.DB.Exec(`UPDATE mission_tests SET expected_rules = $2 WHERE id = $1`, w.test,
		`[{"tool_id":"`+w.tools["EDR"].String()+`","name":"Encoded command"},{"tool_id":"`+w.tools["NDR"].String()+`","name":"Beacon"}]`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB.Exec(`WITH r AS (INSERT INTO detection_rules (rule_uid, title, level, tags, techniques, "references")
		VALUES ('uid-1', 'Encoded PowerShell command line', 'high', '[]', '[]', '[]') RETURNING id)
		INSERT INTO mission_test_rules SELECT $1, id FROM r`, w.test); err != nil {
		t.Fatal(err)
	}
	page := w.url(w.test, "")
	for _, role := range []string{"blue", "observer"} {
		w.Do(t, apptest.Step{As: role, Path: page,
			TestIDs:   []string{"mission-test-expected", `[data-testid="mission-test-sigma-rule"][data-rule-uid="uid-1"]`, `[data-tool="EDR"] [data-testid="outcome-expected"]`},
			NoTestIDs: []string{`[data-tool="SIEM"] [data-testid="outcome-expected"]`},
			Text: map[string]string{
				`[data-tool="EDR"] [data-testid="outcome-expected-rule"]`:     "Encoded command",
				"mission-test-sigma-rule":                                     "Encoded PowerShell command line",
				`[data-testid="mission-test-expected-rule"][data-tool="NDR"]`: "Beacon",
			}})
	}
	w.Do(t, expect(w.outcome("blue", "EDR", 0, url.Values{"alert_name": {"Encoded command"}}), apptest.Step{
		Text: map[string]string{w.row("EDR") + ` [data-testid="outcome-expected-rule"]`: "Encoded command"}}))
}

// TestLibraryImportUnlinkedRules: a library document naming a Sigma rule
// and a tool this instance lacks imports its template without them, and
// the import's page lists both; the tool it has is linked.
func TestLibraryImportUnlinkedRules(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	red := app.SignedIn(t, "red@example.com", "redteam")
	if _, err := app.DB.Exec(`INSERT INTO defensive_tools (name, kind) VALUES ('Defender', 'edr')`); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	document := `violet_library: 1
templates:
- id: ` + id + `
  name: Encoded PowerShell
  opsec_level: medium
  source: manual
  sigma_rules: [5f0c1c5e-0000-4000-8000-00000000abcd]
  expected_rules:
  - {tool: defender, name: Encoded command}
  - {tool: Sentinel, name: Logon burst}
`
	w := importPost(app, red, "/library/import/library", importPart{"document", "rules.yaml", []byte(document)})
	if j := importWait(t, app, w); j.Status != "succeeded" {
		t.Fatalf("import %+v", j)
	}
	d := doc(t, app.GetAs(red, w.Header().Get("Location")))
	var refs []string
	d.Find(`[data-testid="import-unlinked-ref"]`).Each(func(_ int, s *goquery.Selection) {
		refs = append(refs, s.AttrOr("data-kind", "")+": "+strings.Join(strings.Fields(s.Text()), " "))
	})
	want := []string{"rule: Encoded PowerShell: Sigma rule 5f0c1c5e-0000-4000-8000-00000000abcd is not in the catalogue",
		"tool: Encoded PowerShell: Tool “Sentinel” is not in the registry (rule “Logon burst”)"}
	if !slices.Equal(refs, want) {
		t.Errorf("references left out %q, want %q", refs, want)
	}
	var linked int
	if err := app.DB.QueryRow(`SELECT jsonb_array_length(expected_rules) FROM test_templates WHERE id = $1`, id).Scan(&linked); err != nil || linked != 1 {
		t.Errorf("%d free rules linked, %v", linked, err)
	}
}
