package handlers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/evidencefile"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/mission"
	"violet/internal/testkit/apptest"
	"violet/views/scale"
)

// addEvidence inserts an evidence row directly (the upload path is not
// the report's business) and returns it.
func (f *overviewFixture) addEvidence(t testing.TB, testID uuid.UUID, name, ctype string, size int64, deleted bool) *ent.EvidenceFile {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	b := f.app.Ent.EvidenceFile.Create().SetMissionTestID(testID).SetSide(evidencefile.SideRed).
		SetUploadedByID(f.users["red"]).SetOriginalName(name).SetStoredKey(uuid.NewString()).
		SetContentType(ctype).SetSize(size).SetSha256(hex.EncodeToString(sum[:])).SetCaption("caption of " + name)
	if deleted {
		b.SetDeletedAt(time.Now())
	}
	return b.SaveX(rule.SystemContext(context.Background()))
}

func TestShowMissionReportByRole(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	ids := f.seedTests(t, 12)
	unreleased, released := ids[0], ids[1] // i % 3 == 0 is unreleased
	cases := []struct {
		role       string
		status     int
		tests      int
		unreleased bool
	}{
		{"lead", http.StatusOK, 12, true},
		{"red", http.StatusOK, 12, true},
		{"observer", http.StatusOK, 12, true},
		{"admin", http.StatusOK, 12, true},
		{"blue", http.StatusOK, 8, false},
		{"outsider", http.StatusNotFound, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.role, func(t *testing.T) {
			w := f.app.GetAs(f.cookies[tc.role], f.path("/report"))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			css := f.app.GetAs(f.cookies[tc.role], f.path("/report/page.css"))
			if css.Code != tc.status {
				t.Errorf("page.css: status %d, want %d", css.Code, tc.status)
			}
			if tc.status != http.StatusOK {
				if strings.Contains(w.Body.String(), "Operation Violet") || strings.Contains(css.Body.String(), "Operation Violet") {
					t.Error("a hidden mission's name leaked")
				}
				return
			}
			d := doc(t, w)
			if got := d.Find(`[data-testid="report-test-row"]`).Length(); got != tc.tests {
				t.Errorf("%d table rows, want %d", got, tc.tests)
			}
			if got := d.Find(`[data-testid="report-test"]`).Length(); got != tc.tests {
				t.Errorf("%d test sections, want %d", got, tc.tests)
			}
			if got := d.Find(`[data-testid="report-test"][data-id="` + unreleased.String() + `"]`).Length(); (got == 1) != tc.unreleased {
				t.Errorf("unreleased test shown: %d, want %v", got, tc.unreleased)
			}
			if d.Find(`[data-testid="report-test"][data-id="`+released.String()+`"]`).Length() != 1 {
				t.Error("released test missing")
			}
			if strings.Contains(w.Body.String(), "Test 0000") != tc.unreleased {
				t.Error("the unreleased test's name is in the report for blue, or missing for others")
			}
			if (d.Find(`[data-testid="report-blue-note"]`).Length() == 1) == tc.unreleased {
				t.Error("blue note shown to the wrong viewers")
			}
			want, err := mission.ComputeFigures(context.Background(), f.app.DB, f.id, !tc.unreleased)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := d.Find(`[data-testid="report-executed"]`).Attr("data-count"); got != fmt.Sprint(want.Executed) {
				t.Errorf("executed figure %s, want %d", got, want.Executed)
			}
			if !strings.Contains(css.Body.String(), `@top-left { content: "Operation Violet"; }`) {
				t.Errorf("page.css: %q", css.Body.String())
			}
		})
	}
	t.Run("anonymous", func(t *testing.T) {
		w := f.app.GetAs(nil, f.path("/report"))
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
			t.Errorf("status %d to %q", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("missing mission", func(t *testing.T) {
		for _, p := range []string{"/missions/" + uuid.NewString() + "/report", "/missions/not-a-uuid/report"} {
			if w := f.app.GetAs(f.cookies["admin"], p); w.Code != http.StatusNotFound {
				t.Errorf("%s: %d", p, w.Code)
			}
		}
	})
	t.Run("overview links to the report", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.cookies["observer"], f.path("")))
		if href, _ := d.Find(`[data-testid="mission-report-link"]`).Attr("href"); href != f.path("/report") {
			t.Errorf("report link %q", href)
		}
	})
}

func TestMissionReportContent(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	ctx := rule.SystemContext(context.Background())
	ids := f.seedTests(t, 12)
	f.app.Ent.Mission.UpdateOneID(f.id).SetDescription("The **summary** of the mission.").
		SetStartDate(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)).ExecX(ctx)
	// ids[2] is executed and released; give it the red and blue details.
	f.app.Ent.MissionTest.UpdateOneID(ids[2]).SetCommand("whoami /all & net user").
		SetSourceHost("kali-01").SetTargetHost("ws-042").SetRedNotes("Ran as **admin** <script>alert(1)</script>").
		SetAlertName("Suspicious whoami").SetLogSource("Sysmon").SetBlueNotes("Seen in the *SIEM*").ExecX(ctx)
	image := f.addEvidence(t, ids[2], "screen.png", "image/png", 2048, false)
	pcap := f.addEvidence(t, ids[2], "capture.pcap", "application/vnd.tcpdump.pcap", 3*1024*1024, false)
	gone := f.addEvidence(t, ids[2], "deleted.png", "image/png", 10, true)
	hidden := f.addEvidence(t, ids[0], "unreleased.log", "text/plain", 99, false) // ids[0] is unreleased

	w := f.app.GetAs(f.cookies["lead"], f.path("/report"))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	d := doc(t, w)
	t.Run("no script, no inline style", func(t *testing.T) {
		if strings.Contains(strings.ToLower(body), "<script") {
			t.Error("the report has a <script>")
		}
		if d.Find(`[style]`).Length() > 0 {
			t.Error("inline style")
		}
		if d.Find(`.site-header, nav.main-nav`).Length() > 0 {
			t.Error("navigation chrome in the report")
		}
	})
	t.Run("cover", func(t *testing.T) {
		if testid(d, "report-name") != "Operation Violet" || testid(d, "report-scope") != "Lab AD domain" {
			t.Errorf("cover: %q %q", testid(d, "report-name"), testid(d, "report-scope"))
		}
		if d.Find(`[data-testid="report-summary"] strong`).Text() != "summary" {
			t.Error("summary not rendered as markdown")
		}
		if !strings.Contains(testid(d, "report-dates"), "2026-11-02") {
			t.Errorf("dates %q", testid(d, "report-dates"))
		}
		if testid(d, "report-status") != "In progress" {
			t.Errorf("status %q", testid(d, "report-status"))
		}
		if n := d.Find(`[data-testid="report-member"]`).Length(); n != 4 {
			t.Errorf("%d members, want 4", n)
		}
		if !strings.HasPrefix(d.Find(`[data-testid="report-member"]`).First().Text(), "lead") {
			t.Errorf("lead not first: %q", d.Find(`[data-testid="report-member"]`).First().Text())
		}
		if testid(d, "report-state-pending") != "2" {
			t.Errorf("pending count %q", testid(d, "report-state-pending"))
		}
	})
	t.Run("chart bars per tactic in matrix order", func(t *testing.T) {
		fig, err := mission.ComputeFigures(context.Background(), f.app.DB, f.id, false)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		d.Find(`[data-testid="chart-bar"]`).Each(func(_ int, s *goquery.Selection) {
			id, _ := s.Attr("data-tactic")
			rate, _ := s.Attr("data-rate")
			got = append(got, id+"="+rate)
		})
		var want []string
		for _, id := range []string{"TA0002", "TA0006", "TA0007"} {
			for _, tf := range fig.PerTactic {
				if tf.ID == id {
					want = append(want, fmt.Sprintf("%s=%d", id, tf.Rate()))
				}
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") || len(got) != 3 {
			t.Errorf("bars %v, want %v", got, want)
		}
		if d.Find(`svg.chart rect.chart__bar`).Length() != 3 {
			t.Error("no SVG bars")
		}
	})
	t.Run("heatmap", func(t *testing.T) {
		cols := d.Find(`[data-testid="heatmap-column"]`)
		var tactics []string
		cols.Each(func(_ int, s *goquery.Selection) {
			id, _ := s.Attr("data-tactic")
			tactics = append(tactics, id)
		})
		// TA0007 is a tactic-only tag: no technique to place under it.
		if strings.Join(tactics, " ") != "TA0002 TA0006" {
			t.Errorf("columns %v", tactics)
		}
		cell := d.Find(`[data-testid="heatmap-column"][data-tactic="TA0006"] [data-testid="heatmap-cell"]`)
		if cell.Length() != 1 {
			t.Fatalf("%d cells under TA0006", cell.Length())
		}
		if tech, _ := cell.Attr("data-technique"); tech != "T1003" {
			t.Errorf("cell %q", tech)
		}
		if d.Find(`[data-testid="legend-item"]`).Length() != len(f.levels)+2 {
			t.Errorf("%d legend items, want %d", d.Find(`[data-testid="legend-item"]`).Length(), len(f.levels)+2)
		}
	})
	t.Run("contents", func(t *testing.T) {
		links := d.Find(`[data-testid="report-toc"] a`)
		if links.Length() != 5 {
			t.Errorf("%d entries in the contents, want 5", links.Length())
		}
		links.Each(func(_ int, a *goquery.Selection) {
			href, _ := a.Attr("href")
			if !strings.HasPrefix(href, "#") || d.Find(href).Length() != 1 {
				t.Errorf("contents entry %q links to %q, not to a heading of the report", a.Text(), href)
			}
		})
		if d.Find(`[data-testid="report-details"] [data-testid="report-test"]`).Length() != 12 {
			t.Error("the tests' details are not in their section")
		}
	})
	t.Run("names beside IDs", func(t *testing.T) {
		cell := strings.Join(strings.Fields(d.Find(`[data-testid="report-test-row"][data-id="`+ids[0].String()+`"] [data-testid="report-row-attack"]`).Text()), " ")
		for _, want := range []string{"T1059.001 PowerShell", "T1003 OS Credential Dumping", "TA0007 Discovery"} {
			if !strings.Contains(cell, want) {
				t.Errorf("ATT&CK cell %q lacks %q", cell, want)
			}
		}
		head := strings.Join(strings.Fields(d.Find(`[data-testid="heatmap-column"][data-tactic="TA0006"] [data-testid="heatmap-head"]`).Text()), " ")
		if head != "TA0006 Credential Access" {
			t.Errorf("heatmap header %q", head)
		}
		// ATT&CK's names are English in a French report too: hyphenated
		// as English where the browser hyphenates.
		if lang, _ := d.Find(`[data-testid="heatmap"]`).Attr("lang"); lang != "en" {
			t.Errorf("heatmap lang %q", lang)
		}
	})
	t.Run("test section", func(t *testing.T) {
		sec := d.Find(`[data-testid="report-test"][data-id="` + ids[2].String() + `"]`)
		if sec.Find(`[data-testid="report-test-command"]`).Text() != "whoami /all & net user" {
			t.Errorf("command %q", sec.Find(`[data-testid="report-test-command"]`).Text())
		}
		red := sec.Find(`[data-testid="report-test-red"]`)
		if red.Find(`strong`).Text() != "admin" || !strings.Contains(red.Text(), "kali-01") || !strings.Contains(red.Text(), "ws-042") {
			t.Errorf("red details: %q", red.Text())
		}
		blue := sec.Find(`[data-testid="report-test-blue"]`)
		if !strings.Contains(blue.Text(), "Suspicious whoami") || !strings.Contains(blue.Text(), "Sysmon") || blue.Find("em").Text() != "SIEM" {
			t.Errorf("blue details: %q", blue.Text())
		}
		lvl := f.levels[2%len(f.levels)]
		if class, _ := sec.Find(`[data-testid="report-test-level"]`).Attr("class"); !strings.Contains(class, scale.Class(lvl.ID)) {
			t.Errorf("level class %q", class)
		}
		if sec.Find(`[data-testid="report-test-tags"] li`).Length() != 3 {
			t.Error("tags missing")
		}
		if sec.Find(`[data-testid="report-test-nothing"]`).Length() != 0 {
			t.Error("a test with details says nothing was recorded")
		}
		// ids[0] is pending: neither side recorded anything, said once.
		empty := d.Find(`[data-testid="report-test"][data-id="` + ids[0].String() + `"]`)
		if empty.Find(`[data-testid="report-test-nothing"]`).Length() != 1 || empty.Find(`[data-testid="report-test-red"], [data-testid="report-test-blue"]`).Length() != 0 {
			t.Errorf("pending test's details: %q", empty.Text())
		}
	})
	t.Run("evidence", func(t *testing.T) {
		img := d.Find(`[data-testid="report-evidence-image"] img`)
		if img.Length() != 1 {
			t.Fatalf("%d inline images, want 1 (the deleted one left out)", img.Length())
		}
		want := f.path("/tests/" + ids[2].String() + "/evidence/" + image.ID.String() + "/preview")
		if src, _ := img.Attr("src"); src != want {
			t.Errorf("image src %q, want %q", src, want)
		}
		rows := d.Find(`[data-testid="report-appendix-row"]`)
		if rows.Length() != 2 {
			t.Fatalf("%d appendix rows, want 2", rows.Length())
		}
		row := d.Find(`[data-testid="report-appendix-row"][data-id="` + pcap.ID.String() + `"]`)
		if href, _ := row.Find("a").Attr("href"); href != f.path("/tests/"+ids[2].String()+"/evidence/"+pcap.ID.String()) {
			t.Errorf("download link %q", href)
		}
		if testidIn(row, "report-appendix-sha") != pcap.Sha256 || testidIn(row, "report-appendix-size") != "3.0\u00a0MiB" {
			t.Errorf("appendix row %q", row.Text())
		}
		if strings.Contains(body, gone.OriginalName) {
			t.Error("deleted evidence in the report")
		}
		if !strings.Contains(body, hidden.OriginalName) {
			t.Error("the unreleased test's evidence missing for the lead")
		}
		blue := f.app.GetAs(f.cookies["blue"], f.path("/report")).Body.String()
		if strings.Contains(blue, hidden.OriginalName) || strings.Contains(blue, hidden.Sha256) {
			t.Error("an unreleased test's evidence is in the blue report")
		}
		if !strings.Contains(blue, pcap.Sha256) {
			t.Error("released evidence missing for blue")
		}
	})
}

// TestMissionReportEmptyAndFrench: a mission without tests still has its
// report (every section says it is empty), in the viewer's language.
func TestMissionReportEmptyAndFrench(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	ctx := rule.SystemContext(context.Background())
	f.app.Ent.User.UpdateOneID(f.users["observer"]).SetLocale("fr").ExecX(ctx)
	w := f.app.GetAs(f.cookies["observer"], f.path("/report"))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	d := doc(t, w)
	for _, id := range []string{"report-chart-empty", "report-heatmap-empty", "report-tests-empty", "report-appendix-empty"} {
		if d.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("%s missing", id)
		}
	}
	if d.Find(`[data-testid="report-test"]`).Length() != 0 {
		t.Error("test sections in an empty report")
	}
	if lang, _ := d.Find("html").Attr("lang"); lang != "fr" || !strings.Contains(d.Find(".report-kicker").Text(), "Rapport de mission") {
		t.Errorf("lang %q, kicker %q", lang, d.Find(".report-kicker").Text())
	}
	// No test, no details section: the contents lists the four others.
	if n := d.Find(`[data-testid="report-toc-entry"]`).Length(); n != 4 || !strings.Contains(d.Find(`[data-testid="report-toc"] h2`).Text(), "Sommaire") {
		t.Errorf("contents: %d entries, title %q", n, d.Find(`[data-testid="report-toc"] h2`).Text())
	}
	if d.Find(`[data-testid="report-details"]`).Length() != 0 {
		t.Error("a details section without tests")
	}
	if testid(d, "report-status") != "En cours" {
		t.Errorf("status %q", testid(d, "report-status"))
	}
}

// TestMissionReportHeatmapLevels checks the documented aggregation: a
// technique takes the best level (highest score) among its tests; with no
// level it is "executed, not rated" or "not executed".
func TestMissionReportHeatmapLevels(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	ctx := rule.SystemContext(context.Background())
	c := f.app.Ent
	best, worst := f.levels[0], f.levels[0]
	for _, l := range f.levels {
		if l.Score > best.Score {
			best = l
		}
		if l.Score < worst.Score {
			worst = l
		}
	}
	if best.ID == worst.ID {
		t.Fatal("fixture: the scale has one score")
	}
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	add := func(pos int, tech string, state missiontest.State, lvl *ent.DetectionLevel) {
		b := c.MissionTest.Create().SetMissionID(f.id).SetPosition(pos).SetName(fmt.Sprintf("H%d", pos)).
			SetState(state).SetReleasedToBlue(true)
		if lvl != nil {
			b.SetDetectionLevelID(lvl.ID).SetStartedAt(start).SetExecutedByID(f.users["red"])
		}
		mt := b.SaveX(ctx)
		c.MissionTestMitreTag.Create().SetMissionTestID(mt.ID).SetKind("technique").SetExternalID(tech).
			SetName("Tech " + tech).SetTactics([]map[string]string{{"id": "TA0002", "shortname": "execution", "name": "Execution"}}).
			ExecX(ctx)
	}
	add(0, "T1001", missiontest.StateExecuted, worst)
	add(1, "T1001", missiontest.StateReviewed, best)
	add(2, "T1001", missiontest.StatePending, nil)
	add(3, "T1002", missiontest.StateExecuted, nil)
	add(4, "T1003", missiontest.StatePending, nil)
	add(5, "T1003", missiontest.StateSkipped, nil)
	add(6, "T1004", missiontest.StateExecuted, worst)
	d := doc(t, f.app.GetAs(f.cookies["lead"], f.path("/report")))
	want := map[string]string{
		"T1001": scale.Class(best.ID),
		"T1002": "heat--unrated",
		"T1003": "heat--untested",
		"T1004": scale.Class(worst.ID),
	}
	for tech, class := range want {
		cell := d.Find(`[data-testid="heatmap-cell"][data-technique="` + tech + `"]`)
		got, _ := cell.Attr("data-class")
		if cell.Length() != 1 || got != class || !cell.HasClass(class) {
			t.Errorf("%s: %d cells, class %q, want %q", tech, cell.Length(), got, class)
		}
	}
	if !strings.Contains(d.Find(`[data-technique="T1001"]`).Text(), "×3") {
		t.Errorf("T1001 test count: %q", d.Find(`[data-technique="T1001"]`).Text())
	}
}

// TestMissionReportCSSEscapesName: a mission name cannot break out of the
// running header's CSS string.
func TestMissionReportCSSEscapesName(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	ctx := rule.SystemContext(context.Background())
	f.app.Ent.Mission.UpdateOneID(f.id).SetName("Op \"X\"; } body { display: none } \\ </style>\n").ExecX(ctx)
	w := f.app.GetAs(f.cookies["lead"], f.path("/report/page.css"))
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("status %d, %q", w.Code, w.Header().Get("Content-Type"))
	}
	got := w.Body.String()
	want := `@page { @top-left { content: "Op \22 X\22 ; } body { display: none } \5c  \3c /style\3e \a "; } }` + "\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestMissionReportQueryCount: the report runs the same number of
// statements for 10 and for 1,000 tests.
func TestMissionReportQueryCount(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	srv, n := countingServer(t, f.app)
	f.seedTests(t, 10)
	counts := map[string]int64{}
	for _, role := range []string{"lead", "blue"} {
		status, q := countQueries(srv, n, f.cookies[role], f.path("/report"))
		if status != http.StatusOK {
			t.Fatalf("%s: status %d", role, status)
		}
		counts[role] = q
	}
	other := newOverviewFixture(t, apptest.Patient())
	srv2, n2 := countingServer(t, other.app)
	ids := other.seedTests(t, 1000)
	for i, id := range ids[:200] {
		ctype := "image/png"
		if i%2 == 1 {
			ctype = "text/plain"
		}
		other.addEvidence(t, id, fmt.Sprintf("file-%d", i), ctype, 100, false)
	}
	for _, role := range []string{"lead", "blue"} {
		status, q := countQueries(srv2, n2, other.cookies[role], other.path("/report"))
		if status != http.StatusOK {
			t.Fatalf("%s: status %d", role, status)
		}
		if q != counts[role] {
			t.Errorf("%s: %d statements for 1,000 tests, %d for 10", role, q, counts[role])
		}
		if q > 16 {
			t.Errorf("%s: %d statements, budget 16", role, q)
		}
		t.Logf("%s: %d statements", role, q)
	}
}

// BenchmarkMissionReport measures GET /missions/:id/report for a lead on a
// mission of 1,000 tests with 3 ATT&CK tags each and their red and blue
// details, through the router (budget: ≤ 200 ms server time).
func BenchmarkMissionReport(b *testing.B) {
	f := newOverviewFixture(b)
	f.seedTests(b, 1000)
	// Every test has its red and blue details, notes in markdown included
	// (different for each test: nothing to memoise).
	if _, err := f.app.DB.Exec(`UPDATE mission_tests SET command = 'powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=',
		source_host = 'kali-01', target_host = 'ws-042', alert_name = 'Encoded PowerShell', log_source = 'Sysmon',
		red_notes = E'Ran from an **elevated** prompt, run ' || position || E'.\n\n- step one\n- step two',
		blue_notes = 'Alert ' || position || ' in the *SIEM* after 12 minutes; see [the rule](https://example.com/rule).'
		WHERE mission_id = $1`, f.id); err != nil {
		b.Fatal(err)
	}
	if _, err := f.app.DB.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, f.path("/report"), nil)
	r.AddCookie(f.cookies["lead"])
	// The machine is shared: besides the wall time, the process's CPU time
	// per report (all goroutines; PostgreSQL's own work is not in it) shows
	// what the report costs when other work slows the clock down.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var total time.Duration
	size := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := cpu()
	for range b.N {
		start := time.Now()
		w := httptest.NewRecorder()
		f.app.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		total += time.Since(start)
		size = w.Body.Len()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "report-ms")
	b.ReportMetric(float64((cpu()-cpuStart).Milliseconds())/float64(b.N), "cpu-ms")
	b.ReportMetric(float64(size)/1024, "KiB")
}
