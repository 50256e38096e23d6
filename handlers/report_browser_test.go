package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserMissionReport opens a mission's report in Chromium, checks
// it shows without console errors (a CSP violation would be one), prints
// it to PDF on A4 as the browser's Print does, and checks the PDF: the
// sections on their pages (the tests flowing, not a page each), the
// heatmap on a landscape page, the table of contents, names beside the
// ATT&CK IDs, the mission's name (on the cover and in the running header
// of every page) and the tests' names. The screenshot and the PDF are
// kept under the test's temporary directory.
func TestBrowserMissionReport(t *testing.T) {
	app, base := browsertest.Server(t)
	ctx := browsertest.New(t)
	sys := rule.SystemContext(context.Background())
	lead := app.User(t, "lead@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Operation Printable").SetScope("The lab's AD domain").
		SetDescription("Quarterly purple-team exercise.").SetStatus("in_progress").SetCreatedByID(lead.ID).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(lead.ID).SetRole(missionmember.RoleLead).ExecX(sys)
	levels := app.Ent.DetectionLevel.Query().Order(ent.Asc("position")).AllX(sys)
	started := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tactic := func(id, short, name string) map[string]string {
		return map[string]string{"id": id, "shortname": short, "name": name}
	}
	tests := []struct {
		name, tech, techName string
		tactics              []map[string]string
		state                missiontest.State
		level                int // index in the scale, -1 for none
	}{
		{"Kerberoasting with Rubeus", "T1558.003", "Kerberoasting", []map[string]string{tactic("TA0006", "credential-access", "Credential Access")}, missiontest.StateReviewed, 0},
		{"LSASS dump with comsvcs", "T1003.001", "LSASS Memory", []map[string]string{tactic("TA0006", "credential-access", "Credential Access")}, missiontest.StateExecuted, 3},
		{"Encoded PowerShell", "T1059.001", "PowerShell", []map[string]string{tactic("TA0002", "execution", "Execution")}, missiontest.StateExecuted, 1},
		{"Process injection", "T1055", "Process Injection", []map[string]string{tactic("TA0004", "privilege-escalation", "Privilege Escalation"), tactic("TA0005", "defense-evasion", "Defense Evasion")}, missiontest.StateExecuted, -1},
		{"SMB lateral movement", "T1021.002", "SMB/Windows Admin Shares", []map[string]string{tactic("TA0008", "lateral-movement", "Lateral Movement")}, missiontest.StatePending, -1},
		{"Domain account discovery", "T1087.002", "Domain Account", []map[string]string{tactic("TA0007", "discovery", "Discovery")}, missiontest.StateExecuted, 2},
	}
	for i, tc := range tests {
		b := app.Ent.MissionTest.Create().SetMissionID(m.ID).SetPosition(i).SetName(tc.name).SetReleasedToBlue(true).
			SetState(tc.state)
		if tc.state != missiontest.StatePending {
			b.SetExecutedByID(lead.ID).SetStartedAt(started).
				SetCommand("rundll32.exe comsvcs.dll, MiniDump 624 C:\\temp\\l.dmp full").SetSourceHost("kali-01").
				SetTargetHost("ws-042").SetRedNotes("Ran as **local admin**.")
		}
		if tc.level >= 0 {
			b.SetDetectionLevelID(levels[tc.level%len(levels)].ID).SetDetectedAt(started.Add(9 * time.Minute)).
				SetAlertName("Credential dumping").SetLogSource("Sysmon")
		}
		mt := b.SaveX(sys)
		app.Ent.MissionTestMitreTag.Create().SetMissionTestID(mt.ID).SetKind("subtechnique").
			SetExternalID(tc.tech).SetName(tc.techName).SetTactics(tc.tactics).ExecX(sys)
	}
	console := browsertest.WatchConsole(ctx)
	openReport(t, ctx, base, m.ID, "lead@example.com")
	browsertest.Screenshot(t, ctx, "report")
	pdf, path := printReport(t, ctx, "report.pdf")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	pages := pdfPages(t, path, pdf)
	t.Logf("the 6-test report prints on %d pages", pages)
	// The cover with the contents, the chart, the heatmap, the table and
	// the appendix each start a page; the six tests share theirs (7 pages
	// measured: the six tests' details take two).
	if pages < 6 || pages > 8 {
		t.Errorf("%d pages, want 6 to 8 (a page per section, the six tests sharing theirs)", pages)
	}
	text, ok := pdfText(t, path)
	if !ok {
		skipWithoutPoppler(t)
	}
	for _, want := range []string{"Kerberoasting with Rubeus", "Domain account discovery", "comsvcs.dll", "Credential Access", "Lateral Movement"} {
		if !strings.Contains(text, want) {
			t.Errorf("%q not in the PDF", want)
		}
	}
	// The running header names the mission on every page, the footer
	// numbers them.
	if n := strings.Count(text, "Operation Printable"); n < pages {
		t.Errorf("the mission's name is %d times in %d pages", n, pages)
	}
	if !regexp.MustCompile(`\b2\s*/\s*` + strconv.Itoa(pages) + `\b`).MatchString(text) {
		t.Errorf("no page number \"2 / %d\" in the PDF", pages)
	}
	raw := pdfRawPages(t, path)
	checkContents(t, raw, pdf)
	checkLandscapeHeatmap(t, path, raw, []string{"Credential Access", "Execution", "Privilege Escalation", "Defense Evasion", "Lateral Movement", "Discovery"})
	// The table of tests names each ATT&CK ID (and the tests' details do).
	all := normalisePDFText(strings.Join(raw, " "))
	for _, want := range []string{"T1059.001 PowerShell", "T1021.002 SMB/Windows Admin Shares", "T1558.003 Kerberoasting"} {
		if n := strings.Count(all, want); n < 2 {
			t.Errorf("%q is %d times in the PDF, want it in the table and in the test's details", want, n)
		}
	}
}

// TestBrowserMissionReport100Tests prints the report of a mission of 100
// tests tagged across the 14 Enterprise tactics (the catalogue synced),
// with their red and blue details, and checks that it is a document, not
// a page per test: the page count, every tactic's name whole on the
// heatmap's landscape page (extracted from the PDF, and nothing overflowing
// its box when the page is laid out at that page's width), the IDs with
// their names and the contents. With VIOLET_SCREENSHOTS=dir it writes the
// heatmap as report-heatmap.png and the page count as report-pages.txt.
func TestBrowserMissionReport100Tests(t *testing.T) {
	app, base := browsertest.Server(t, apptest.Patient())
	ctx := browsertest.New(t)
	sys := rule.SystemContext(context.Background())
	lead := app.User(t, "lead@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Operation Hundred").SetScope("The lab's AD domain").
		SetDescription("Two-week engagement.").SetStatus("in_progress").SetCreatedByID(lead.ID).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(lead.ID).SetRole(missionmember.RoleLead).ExecX(sys)
	for i, tc := range enterpriseTactics {
		app.Ent.MitreTactic.Create().SetStixID("x-mitre-tactic--" + uuid.NewString()).SetExternalID(tc.id).
			SetName(tc.name).SetShortname(tc.short).SetPosition(i).ExecX(sys)
	}
	seedReportTests(t, app, m.ID, lead.ID, 100)

	console := browsertest.WatchConsole(ctx)
	openReport(t, ctx, base, m.ID, "lead@example.com")
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="report-test"]').length`)); err != nil || n != 100 {
		t.Fatalf("%d tests in the report (%v), want 100", n, err)
	}
	pdf, path := printReport(t, ctx, "report-100.pdf")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	pages := pdfPages(t, path, pdf)
	t.Logf("the 100-test report prints on %d pages", pages)
	// Measured: 33 pages (the cover with the contents, the chart, the
	// heatmap, 4 pages of the table, 25 of details with about four tests
	// a page, the appendix), where a page per test made at least 105. The bound
	// leaves room for another machine's fonts.
	if pages > 40 {
		t.Errorf("%d pages for 100 tests, want at most 40 (33 measured)", pages)
	}
	heatmapGeometry(t, ctx)
	browsertest.ForDocs(t, "report-pages.txt", fmt.Appendf(nil, "%d\n", pages))
	if _, ok := pdfText(t, path); !ok {
		skipWithoutPoppler(t)
	}
	raw := pdfRawPages(t, path)
	checkContents(t, raw, pdf)
	names := make([]string, len(enterpriseTactics))
	for i, tc := range enterpriseTactics {
		names[i] = tc.name
	}
	checkLandscapeHeatmap(t, path, raw, names)
	all := normalisePDFText(strings.Join(raw, " "))
	for _, want := range []string{"T1059.001 PowerShell", "T1047 Windows Management Instrumentation", "T1572 Protocol Tunneling", "TA0007 Discovery"} {
		if !strings.Contains(all, want) {
			t.Errorf("%q not in the PDF", want)
		}
	}
}

// enterpriseTactics are the Enterprise matrix's 14 tactics in its order.
var enterpriseTactics = []struct{ id, short, name string }{
	{"TA0043", "reconnaissance", "Reconnaissance"},
	{"TA0042", "resource-development", "Resource Development"},
	{"TA0001", "initial-access", "Initial Access"},
	{"TA0002", "execution", "Execution"},
	{"TA0003", "persistence", "Persistence"},
	{"TA0004", "privilege-escalation", "Privilege Escalation"},
	{"TA0005", "defense-evasion", "Defense Evasion"},
	{"TA0006", "credential-access", "Credential Access"},
	{"TA0007", "discovery", "Discovery"},
	{"TA0008", "lateral-movement", "Lateral Movement"},
	{"TA0009", "collection", "Collection"},
	{"TA0011", "command-and-control", "Command and Control"},
	{"TA0010", "exfiltration", "Exfiltration"},
	{"TA0040", "impact", "Impact"},
}

// seedReportTests writes n tests of a realistic engagement in a fixed
// number of statements: techniques of every tactic (long names among
// them), states cycling, the executed ones with their command, hosts and
// notes, the rated ones with the blue side's details.
func seedReportTests(t *testing.T, app *apptest.App, missionID, userID uuid.UUID, n int) {
	t.Helper()
	sys := rule.SystemContext(context.Background())
	tactic := map[string]map[string]string{}
	for _, tc := range enterpriseTactics {
		tactic[tc.id] = map[string]string{"id": tc.id, "shortname": tc.short, "name": tc.name}
	}
	techniques := []struct {
		id, name string
		tactics  []string
	}{
		{"T1595.002", "Vulnerability Scanning", []string{"TA0043"}},
		{"T1592.002", "Software", []string{"TA0043"}},
		{"T1588.002", "Tool", []string{"TA0042"}},
		{"T1583.001", "Domains", []string{"TA0042"}},
		{"T1566.001", "Spearphishing Attachment", []string{"TA0001"}},
		{"T1078.002", "Domain Accounts", []string{"TA0001", "TA0003", "TA0004", "TA0005"}},
		{"T1059.001", "PowerShell", []string{"TA0002"}},
		{"T1047", "Windows Management Instrumentation", []string{"TA0002"}},
		{"T1053.005", "Scheduled Task", []string{"TA0002", "TA0003", "TA0004"}},
		{"T1547.001", "Registry Run Keys / Startup Folder", []string{"TA0003", "TA0004"}},
		{"T1548.002", "Bypass User Account Control", []string{"TA0004", "TA0005"}},
		{"T1055", "Process Injection", []string{"TA0004", "TA0005"}},
		{"T1140", "Deobfuscate/Decode Files or Information", []string{"TA0005"}},
		{"T1070.001", "Clear Windows Event Logs", []string{"TA0005"}},
		{"T1497", "Virtualization/Sandbox Evasion", []string{"TA0005", "TA0007"}},
		{"T1003.001", "LSASS Memory", []string{"TA0006"}},
		{"T1558.003", "Kerberoasting", []string{"TA0006"}},
		{"T1087.002", "Domain Account", []string{"TA0007"}},
		{"T1082", "System Information Discovery", []string{"TA0007"}},
		{"T1021.002", "SMB/Windows Admin Shares", []string{"TA0008"}},
		{"T1550.002", "Pass the Hash", []string{"TA0005", "TA0008"}},
		{"T1560.001", "Archive via Utility", []string{"TA0009"}},
		{"T1005", "Data from Local System", []string{"TA0009"}},
		{"T1071.001", "Web Protocols", []string{"TA0011"}},
		{"T1572", "Protocol Tunneling", []string{"TA0011"}},
		{"T1048.003", "Exfiltration Over Unencrypted Non-C2 Protocol", []string{"TA0010"}},
		{"T1567.002", "Exfiltration to Cloud Storage", []string{"TA0010"}},
		{"T1486", "Data Encrypted for Impact", []string{"TA0040"}},
		{"T1490", "Inhibit System Recovery", []string{"TA0040"}},
	}
	levels := app.Ent.DetectionLevel.Query().Order(ent.Asc("position")).AllX(sys)
	states := []missiontest.State{missiontest.StateReviewed, missiontest.StateExecuted, missiontest.StateExecuted,
		missiontest.StatePending, missiontest.StateReviewed, missiontest.StateSkipped}
	started := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	creates := make([]*ent.MissionTestCreate, n)
	for i := range n {
		tech := techniques[i%len(techniques)]
		state := states[i%len(states)]
		b := app.Ent.MissionTest.Create().SetMissionID(missionID).SetPosition(i).
			SetName(fmt.Sprintf("%s, run %d", tech.name, i+1)).SetState(state).SetReleasedToBlue(true)
		switch state {
		case missiontest.StateExecuted, missiontest.StateReviewed:
			at := started.Add(time.Duration(i) * 17 * time.Minute)
			b.SetExecutedByID(userID).SetStartedAt(at).SetEndedAt(at.Add(4 * time.Minute)).
				SetCommand(`powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "Invoke-AtomicTest ` + tech.id + `"`).
				SetSourceHost("kali-01").SetTargetHost(fmt.Sprintf("ws-%03d.lab.local", i)).
				SetRedNotes("Ran from an **elevated** prompt on the target; output kept in the evidence.")
			if i%3 != 2 {
				b.SetDetectionLevelID(levels[i%len(levels)].ID).SetDetectedAt(at.Add(11 * time.Minute)).
					SetAlertName("Suspicious " + strings.ToLower(tech.name)).SetLogSource("Sysmon via the SIEM").
					SetBlueNotes("Alert raised by the *EDR*; triaged in the SOC queue.")
			}
		case missiontest.StateSkipped:
			b.SetStateReason("Out of scope for this engagement.")
		}
		creates[i] = b
	}
	created, err := app.Ent.MissionTest.CreateBulk(creates...).Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	var tags []*ent.MissionTestMitreTagCreate
	for i, mt := range created {
		tech := techniques[i%len(techniques)]
		var tacs []map[string]string
		for _, id := range tech.tactics {
			tacs = append(tacs, tactic[id])
		}
		kind := missiontestmitretag.KindTechnique
		if strings.Contains(tech.id, ".") {
			kind = missiontestmitretag.KindSubtechnique
		}
		tags = append(tags, app.Ent.MissionTestMitreTag.Create().SetMissionTestID(mt.ID).SetKind(kind).
			SetExternalID(tech.id).SetName(tech.name).SetTactics(tacs))
		if i%4 == 0 {
			first := tactic[tech.tactics[0]]
			tags = append(tags, app.Ent.MissionTestMitreTag.Create().SetMissionTestID(mt.ID).SetKind("tactic").
				SetExternalID(first["id"]).SetName(first["name"]))
		}
	}
	if err := app.Ent.MissionTestMitreTag.CreateBulk(tags...).Exec(sys); err != nil {
		t.Fatal(err)
	}
}

// openReport signs in as email on the way to the mission's report and
// waits until the whole report is loaded.
func openReport(t *testing.T, ctx context.Context, base string, missionID uuid.UUID, email string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/missions/"+missionID.String()+"/report"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-name"]`)),
		browsertest.Loaded(),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-appendix"]`)),
	); err != nil {
		browsertest.Screenshot(t, ctx, "report-failed")
		t.Fatal(err)
	}
}

// printReport prints the page to PDF as the browser's Print does (the
// stylesheet's page sizes, backgrounds) and saves it as name.
func printReport(t *testing.T, ctx context.Context, name string) ([]byte, string) {
	t.Helper()
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
	if err != nil {
		t.Fatalf("print to PDF: %v", err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", pdf[:min(len(pdf), 16)])
	}
	return pdf, saveArtifact(t, name, pdf)
}

// heatmapGeometry lays the report out as printed (print media) at the
// width of the heatmap's landscape page (A4 landscape less the side
// margins of @page matrix in report.css: 297 − 2 × 10 mm), where the 14
// tactics stand in one band, and at an A4 portrait page's (210 − 2 × 16
// mm, for a browser that ignores named pages), where they stand in two
// bands of seven. At both it checks that no tactic header or cell is
// narrower than its text, that the grid fits the page, and that the
// headers side by side are of one height: a clipped or overflowing name
// is caught here even where the PDF's text keeps the whole word. With
// VIOLET_SCREENSHOTS it saves the heatmap section at the landscape width.
func heatmapGeometry(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, page := range []struct {
		name  string
		width int64 // px at 96 per inch
		bands int
	}{{"landscape", 1047, 1}, {"portrait", 673, 2}} {
		if err := chromedp.Do(ctx,
			chromedp.EmulateViewport(page.width, 900),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
				return err
			}),
		); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
			const out = [];
			const grid = document.querySelector('[data-testid="heatmap"]');
			if (grid.scrollWidth > grid.clientWidth + 1 || grid.getBoundingClientRect().right > document.documentElement.clientWidth + 1) {
				out.push("the grid: " + grid.scrollWidth + " px in " + grid.clientWidth + " px");
			}
			for (const el of document.querySelectorAll('.heatmap__head, .heatmap__head > span, .heatmap__cell, .heatmap__cell > span')) {
				if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
					out.push(el.textContent.trim() + ": " + el.scrollWidth + " px in " + el.clientWidth + " px");
				}
			}
			const bands = new Map();
			for (const h of document.querySelectorAll('.heatmap__head')) {
				const r = h.getBoundingClientRect();
				const top = Math.round(r.top);
				bands.set(top, (bands.get(top) || new Set()).add(Math.round(r.height)));
			}
			for (const [top, heights] of bands) {
				if (heights.size !== 1) {
					out.push("headers of unequal heights at " + top + ": " + [...heights].join(" "));
				}
			}
			out.push("bands=" + bands.size);
			return out;
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range got {
			if o != fmt.Sprintf("bands=%d", page.bands) {
				t.Errorf("heatmap at an A4 %s page's width: %s", page.name, o)
			}
		}
		if os.Getenv("VIOLET_SCREENSHOTS") != "" && page.name == "landscape" {
			png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`[data-testid="report-heatmap"]`)))
			if err != nil {
				t.Fatalf("heatmap screenshot: %v", err)
			}
			browsertest.ForDocs(t, "report-heatmap.png", png)
		}
	}
}

// checkContents checks the table of contents: on the cover (the first
// page) with its sections, and the PDF has internal links (Chromium keeps
// in-page anchors as link annotations).
func checkContents(t *testing.T, pages []string, pdf []byte) {
	t.Helper()
	cover := normalisePDFText(pages[0])
	for _, want := range []string{"Contents", "Detection rate per tactic", "ATT&CK heatmap", "Test details", "Appendix: evidence files"} {
		if !strings.Contains(cover, want) {
			t.Errorf("%q not in the contents on the cover: %q", want, cover)
		}
	}
	if !bytes.Contains(pdf, []byte("/Link")) {
		t.Error("no link annotation in the PDF: the contents' links are lost")
	}
}

// checkLandscapeHeatmap checks that the heatmap printed on landscape
// pages (pdfinfo's page sizes) and that each of names is whole in their
// text.
func checkLandscapeHeatmap(t *testing.T, path string, pages []string, names []string) {
	t.Helper()
	out, err := exec.Command("pdfinfo", "-f", "1", "-l", strconv.Itoa(len(pages)), path).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	var heatmap []string
	for _, m := range regexp.MustCompile(`(?m)^Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+)`).FindAllSubmatch(out, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		w, _ := strconv.ParseFloat(string(m[2]), 64)
		h, _ := strconv.ParseFloat(string(m[3]), 64)
		if w > h && n <= len(pages) {
			heatmap = append(heatmap, pages[n-1])
		}
	}
	if len(heatmap) == 0 {
		t.Fatalf("no landscape page for the heatmap:\n%s", out)
	}
	text := normalisePDFText(strings.Join(heatmap, " "))
	if !strings.Contains(text, "ATT&CK heatmap") {
		t.Errorf("the landscape page is not the heatmap's: %q", text)
	}
	for _, name := range names {
		if !regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(name) + `(\s|$)`).MatchString(text) {
			t.Errorf("tactic %q is not whole on the heatmap's page: %q", name, text)
		}
	}
}

// softBreak is a word hyphenated at the end of a line ("Recon-⏎naissance")
// or split by a soft hyphen.
var softBreak = regexp.MustCompile(`(\p{Ll})(?:-\s*\n\s*|\x{00AD}\s*)(\p{Ll})`)

// normalisePDFText joins what a line break split: a word hyphenated at a
// line's end, soft hyphens, and runs of white space (a name over two lines
// of a narrow header) become one space.
func normalisePDFText(s string) string {
	s = softBreak.ReplaceAllString(s, "$1$2")
	return strings.Join(strings.Fields(s), " ")
}

// skipWithoutPoppler skips the checks of the PDF's text when pdftotext is
// missing, unless browser tests are required.
func skipWithoutPoppler(t *testing.T) {
	t.Helper()
	// CI requires what the browser tests need; scripts/ensure-chromium
	// installs it.
	if os.Getenv("VIOLET_BROWSER_REQUIRED") == "1" {
		t.Fatal("pdftotext is required (VIOLET_BROWSER_REQUIRED=1) to check the PDF's text but is not installed: scripts/ensure-chromium installs poppler-utils")
	}
	t.Skip("pdftotext is not installed: the PDF's text is not checked (scripts/ensure-chromium installs poppler-utils)")
}

// saveArtifact writes data as name under the test's temporary directory
// (and $VIOLET_ARTIFACTS when set), like the browsertest screenshots.
func saveArtifact(t *testing.T, name string, data []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("VIOLET_ARTIFACTS"); keep != "" {
		if err := os.MkdirAll(keep, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(keep, t.Name()+"-"+name), data, 0o644)
		}
	}
	t.Logf("saved %s", path)
	return path
}

// pdfPages counts a PDF's pages: pdfinfo's count when installed, else the
// page objects in the file.
func pdfPages(t *testing.T, path string, pdf []byte) int {
	t.Helper()
	if out, err := exec.Command("pdfinfo", path).Output(); err == nil {
		if m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindSubmatch(out); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			return n
		}
	}
	return len(regexp.MustCompile(`/Type\s*/Page\b`).FindAll(pdf, -1))
}

// pdfText extracts a PDF's text with pdftotext, laid out as on the page;
// false when it is not installed.
func pdfText(t *testing.T, path string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		return "", false
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out), true
}

// pdfRawPages extracts a PDF's text page by page in the order it was
// drawn (pdftotext -raw): a heatmap column's header and cells come out
// together, where the layout mode interleaves the columns' lines.
func pdfRawPages(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("pdftotext", "-raw", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\f"), "\f")
}
