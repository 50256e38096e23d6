package handlers_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"violet/ent/missiontest"
	"violet/internal/testkit/apptest"
)

// TestToolFiguresEverywhere (issue 20, figures per tool): blue records
// Blocked for the EDR and Logged for the SIEM on one of two executed
// tests; the overview and the report show each tool's rate and the
// matrix, the Navigator layer of each tool scores the technique by that
// tool's outcome (a tool outside the scope, another mission's or no id at
// all is a 404), and the CSV and JSON exports carry the outcomes.
func TestToolFiguresEverywhere(t *testing.T) {
	t.Parallel()
	w := newOutcomeWorld(t)
	w.mk(t, missiontest.StateExecuted, true) // executed, nothing recorded: a miss for every tool
	w.Ent.Mission.UpdateOneID(w.other).AddToolIDs(w.tools["NDR"]).ExecX(w.ctx)
	w.Do(t, w.outcome("blue", "EDR", 0, url.Values{"detection_level": {w.levels["Blocked"].String()}}))
	w.Do(t, w.outcome("blue", "SIEM", 0, url.Values{"detection_level": {w.levels["Logged"].String()}, "alert_name": {"Encoded PowerShell"}}))

	tool := func(name, testid string) string {
		return `[data-testid="tool-figure"][data-tool="` + w.tools[name].String() + `"] [data-testid="` + testid + `"]`
	}
	cell := func(name string) string {
		return `[data-testid="tool-matrix-cell"][data-tool="` + w.tools[name].String() + `"]`
	}
	mission := "/missions/" + w.mission.String()
	for _, role := range []string{"lead", "blue"} {
		w.Do(t, apptest.Step{As: role, Path: mission,
			TestIDs: []string{"tool-figures", "tool-matrix", "tool-tactics"},
			Text: map[string]string{tool("EDR", "tool-rate"): "50 %", tool("EDR", "tool-tests"): "2",
				tool("EDR", "tool-detected"): "1", tool("SIEM", "tool-rate"): "0 %", tool("SIEM", "tool-with-outcome"): "1",
			},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				d := doc(t, r)
				checkCells(t, d, cell)
				if n := d.Find(`[data-testid="tool-figure"]`).Length(); n != 3 { // EDR, SIEM, and Old AV still in scope
					t.Errorf("%d tools, want 3", n)
				}
				if n := d.Find(`[data-testid="tool-matrix-row"]`).Length(); n != 2 {
					t.Errorf("%d matrix rows, want 2", n)
				}
				if href, _ := d.Find(`[data-tool="` + w.tools["EDR"].String() + `"] [data-testid="tool-layer"]`).Attr("href"); href != mission+"/export/navigator.json?tool="+w.tools["EDR"].String() {
					t.Errorf("layer link %q", href)
				}
			}})
	}
	w.Do(t, apptest.Step{As: "lead", Path: "/missions/" + w.other.String(), Text: map[string]string{tool("NDR", "tool-rate"): "–"}})
	w.Do(t, apptest.Step{As: "lead", Path: mission + "/report",
		TestIDs: []string{"report-tools"},
		Text:    map[string]string{tool("EDR", "tool-rate"): "50 %", tool("SIEM", "tool-rate"): "0 %"},
		Check:   func(t *testing.T, r *httptest.ResponseRecorder) { checkCells(t, doc(t, r), cell) }})

	// The Navigator layer of each tool.
	for name, level := range map[string]string{"EDR": "Blocked", "SIEM": "Logged"} {
		resp := w.app.GetAs(w.cookies["blue"], exportURL(w.mtWorld, w.mission, "navigator.json?tool="+w.tools[name].String()))
		if resp.Code != http.StatusOK {
			t.Fatalf("%s layer: status %d", name, resp.Code)
		}
		if bad := validateLayer(resp.Body.Bytes()); len(bad) > 0 {
			t.Fatalf("%s layer invalid: %v", name, bad)
		}
		var l exportLayer
		if err := json.Unmarshal(resp.Body.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		score := w.Ent.DetectionLevel.GetX(w.ctx, w.levels[level]).Score
		if l.Name != "Operation Violet — "+name || len(l.Techniques) != 1 || l.Techniques[0].TechniqueID != "T1059.001" ||
			l.Techniques[0].Score == nil || *l.Techniques[0].Score != score {
			t.Errorf("%s layer: %+v, want T1059.001 scored %d", name, l, score)
		}
		if !slices.ContainsFunc(l.Metadata, func(m struct{ Name, Value string }) bool { return m.Value == name }) {
			t.Errorf("%s layer metadata %+v", name, l.Metadata)
		}
	}
	for _, q := range []string{w.tools["NDR"].String(), "nope", w.tools["Old AV"].String() + "x"} {
		if resp := w.app.GetAs(w.cookies["lead"], exportURL(w.mtWorld, w.mission, "navigator.json?tool="+q)); resp.Code != http.StatusNotFound {
			t.Errorf("tool %s: status %d, want 404", q, resp.Code)
		}
	}

	// The CSV: one "outcomes" column.
	resp := w.app.GetAs(w.cookies["lead"], exportURL(w.mtWorld, w.mission, "tests.csv"))
	records, err := csv.NewReader(bytes.NewReader(resp.Body.Bytes())).ReadAll()
	if err != nil || resp.Code != http.StatusOK {
		t.Fatalf("CSV: %d %v", resp.Code, err)
	}
	col := slices.Index(records[0], "outcomes")
	got := map[string]string{}
	for _, r := range records[1:] {
		got[r[1]] = r[col]
	}
	if col < 0 || got[w.test.String()] != "EDR: Blocked; SIEM: Logged" || len(got) != 2 {
		t.Errorf("CSV outcomes column %d: %q", col, got)
	}

	// The JSON: an outcomes array per test.
	resp = w.app.GetAs(w.cookies["blue"], exportURL(w.mtWorld, w.mission, "mission.json"))
	var archive struct {
		Tests []struct {
			ID       string `json:"id"`
			Outcomes []struct {
				Tool, Kind, Level *string
				AlertName         string  `json:"alert_name"`
				DetectedAt        *string `json:"detected_at"`
			} `json:"outcomes"`
		} `json:"tests"`
	}
	if err := json.Unmarshal(resp.Body.Bytes(), &archive); err != nil || resp.Code != http.StatusOK {
		t.Fatalf("JSON: %d %v", resp.Code, err)
	}
	for _, tt := range archive.Tests {
		if tt.ID != w.test.String() {
			if tt.Outcomes == nil || len(tt.Outcomes) != 0 {
				t.Errorf("test %s: outcomes %+v, want []", tt.ID, tt.Outcomes)
			}
			continue
		}
		if len(tt.Outcomes) != 2 || *tt.Outcomes[0].Tool != "EDR" || *tt.Outcomes[0].Kind != "edr" || *tt.Outcomes[0].Level != "Blocked" ||
			*tt.Outcomes[1].Tool != "SIEM" || *tt.Outcomes[1].Level != "Logged" || tt.Outcomes[1].AlertName != "Encoded PowerShell" {
			t.Errorf("JSON outcomes %+v", tt.Outcomes)
		}
	}
}

// checkCells: the matrix's column of each tool holds its level on one
// test and nothing on the other.
func checkCells(t *testing.T, d *goquery.Document, cell func(string) string) {
	t.Helper()
	for name, want := range map[string][]string{"EDR": {"", "Blocked"}, "SIEM": {"", "Logged"}} {
		var got []string
		d.Find(cell(name)).Each(func(_ int, s *goquery.Selection) { got = append(got, strings.TrimSpace(s.Text())) })
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s column %q, want %q", name, got, want)
		}
	}
}
