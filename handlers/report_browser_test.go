package handlers_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserMissionReport opens a mission's report in Chromium, checks
// it shows without console errors (a CSP violation would be one), prints
// it to PDF on A4 as the browser's Print does, and checks the PDF: more
// than one page, the mission's name (on the cover and in the running
// header of every page) and a test's name. The screenshot and the PDF are
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
	report := base + "/missions/" + m.ID.String() + "/report"
	if err := chromedp.Do(ctx,
		chromedp.Navigate(report),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "lead@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-name"]`)),
		browsertest.Loaded(),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-appendix"]`)),
	); err != nil {
		browsertest.Screenshot(t, ctx, "report-failed")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "report")
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
	if err != nil {
		t.Fatalf("print to PDF: %v", err)
	}
	path := saveArtifact(t, "report.pdf", pdf)
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", pdf[:min(len(pdf), 16)])
	}
	pages := pdfPages(t, path, pdf)
	// Cover, chart, heatmap, table, six tests, appendix.
	if pages < 11 {
		t.Errorf("%d pages, want at least 11 (one per section and per test)", pages)
	}
	text, ok := pdfText(t, path)
	if !ok {
		// CI requires what the browser tests need; scripts/ensure-chromium
		// installs it.
		if os.Getenv("VIOLET_BROWSER_REQUIRED") == "1" {
			t.Fatal("pdftotext is required (VIOLET_BROWSER_REQUIRED=1) to check the PDF's text but is not installed: scripts/ensure-chromium installs poppler-utils")
		}
		t.Skip("pdftotext is not installed: the PDF's text is not checked (scripts/ensure-chromium installs poppler-utils)")
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

// pdfText extracts a PDF's text with pdftotext; false when it is not
// installed.
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
