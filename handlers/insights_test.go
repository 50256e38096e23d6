package handlers_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/missiontest"
	"violet/internal/auth"
	"violet/internal/testkit/apptest"
)

// insightsWorld has an analyst holding insights.read alone (in no
// mission) and three missions ended on 2026-01-10, 2026-03-10 and
// 2026-05-10 (made in the reverse order, so that only their dates order
// them), each with three executed PowerShell tests (Execution) of which
// 1, 2 and 3 were blocked: a rising trend. The first two are labelled
// acme, the third other.
func insightsWorld(t *testing.T) (*apptest.World, []uuid.UUID) {
	t.Helper()
	w := apptest.NewWorld(t)
	return w, seedInsights(t, w)
}

// seedInsights adds insightsWorld's analyst and missions to w.
func seedInsights(t *testing.T, w *apptest.World) []uuid.UUID {
	t.Helper()
	w.Group(t, "Analysts", auth.InsightsRead)
	w.Person(t, "analyst", "Analysts")
	blocked, missed := w.Level(t, "Blocked"), w.Level(t, "Not detected")
	days := []string{"2026-01-10", "2026-03-10", "2026-05-10"}
	labels := []string{`["acme"]`, `["acme"]`, `["other"]`}
	ids := make([]uuid.UUID, 3)
	for i := 2; i >= 0; i-- {
		ids[i] = w.Mission(t, fmt.Sprintf("Trend %d", i+1))
		w.Exec(t, `UPDATE missions SET end_date = $1, labels = $2 WHERE id = $3`, days[i], labels[i], ids[i])
		for k := range 3 {
			level := missed
			if k <= i {
				level = blocked
			}
			w.Test(t, ids[i], apptest.TestOpts{Name: fmt.Sprintf("PowerShell %d", k+1), State: missiontest.StateExecuted,
				Released: true, Level: level, Technique: "T1059.001", TechniqueName: "PowerShell"})
		}
	}
	w.Exec(t, `UPDATE mission_test_mitre_tags SET tactics = '[{"id": "TA0002", "name": "Execution", "shortname": "execution"}]'`)
	return ids
}

// trend reads the Execution series of a page: the table's rows (mission
// and rate, in order) and the chart's points (their rate and y, in order).
func trend(t *testing.T, r *httptest.ResponseRecorder) (rows, rates []string, ys []float64) {
	t.Helper()
	d := apptest.Doc(t, r)
	d.Find(`[data-testid="insights-tactics-row"]`).Each(func(_ int, s *goquery.Selection) {
		cell := s.Find(`[data-testid="insights-tactics-cell"][data-series="TA0002"]`)
		rows = append(rows, s.AttrOr("data-mission", "")+" "+strings.Join(strings.Fields(cell.Text()), " "))
	})
	d.Find(`[data-testid="insights-tactics-chart"] [data-testid="insights-point"][data-series="TA0002"]`).Each(func(_ int, s *goquery.Selection) {
		rates = append(rates, s.AttrOr("data-rate", ""))
		y, err := strconv.ParseFloat(s.AttrOr("cy", ""), 64)
		if err != nil {
			t.Fatalf("point without a y: %v", err)
		}
		ys = append(ys, y)
	})
	return rows, rates, ys
}

// TestInsightsShowARisingTrend is issue 20's "done when": /insights over
// three missions at different dates shows a rising trend in a chart and
// in its table, and its CSV matches.
func TestInsightsShowARisingTrend(t *testing.T) {
	t.Parallel()
	w, ids := insightsWorld(t)
	r := w.Do(t, apptest.Step{As: "analyst", Path: "/insights",
		TestIDs: []string{"insights-tactics-chart", "insights-tactics-table", "insights-coverage-table", "insights-tactics-csv"},
		Text:    map[string]string{"insights-count": "3 missions"}})
	rows, rates, ys := trend(t, r)
	want := []string{ids[0].String() + " 33 % 1/3", ids[1].String() + " 67 % 2/3", ids[2].String() + " 100 % 3/3"}
	if !slices.Equal(rows, want) {
		t.Errorf("table rows %q, want %q (date order, rising)", rows, want)
	}
	if !slices.Equal(rates, []string{"33", "67", "100"}) || len(ys) != 3 || !(ys[0] > ys[1] && ys[1] > ys[2]) {
		t.Errorf("chart points: rates %v at y %v, want 33 67 100 rising (y decreasing)", rates, ys)
	}
	d := apptest.Doc(t, r)
	if pts := d.Find(`[data-testid="insights-line"][data-series="TA0002"] polyline`).AttrOr("points", ""); len(strings.Fields(pts)) != 3 {
		t.Errorf("Execution's polyline %q, want three points", pts)
	}
	if svg := d.Find(`[data-testid="insights-tactics-chart"]`); svg.AttrOr("role", "") != "img" || svg.Find("title").Length() == 0 {
		t.Error("the chart is not an image with a title")
	}
	// The coverage: PowerShell's latest result is the last mission's.
	cov := d.Find(`[data-testid="insights-coverage-tactic"][data-tactic="TA0002"] [data-testid="insights-coverage-row"][data-technique="T1059.001"]`)
	if cov.AttrOr("data-level", "") != "Blocked" || !strings.Contains(cov.Text(), "Trend 3") {
		t.Errorf("coverage of T1059.001: %q level %q, want Blocked from Trend 3", strings.Join(strings.Fields(cov.Text()), " "), cov.AttrOr("data-level", ""))
	}

	// The CSV has the same numbers in the same order.
	href := d.Find(`[data-testid="insights-tactics-csv"]`).AttrOr("href", "")
	c := w.Do(t, apptest.Step{As: "analyst", Path: href})
	if ct := c.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("CSV content type %q", ct)
	}
	if cd := c.Header().Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
		t.Errorf("CSV disposition %q", cd)
	}
	recs, err := csv.NewReader(c.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs[1:] {
		got = append(got, rec[0]+" "+rec[8]+" % "+rec[7]+"/"+rec[6])
	}
	if !slices.Equal(got, want) {
		t.Errorf("CSV rows %q, want the table's %q", got, want)
	}

	// The coverage as a Navigator layer: PowerShell scored with the last
	// mission's level.
	l := w.Do(t, apptest.Step{As: "analyst", Path: d.Find(`[data-testid="insights-coverage-layer"]`).AttrOr("href", "")})
	var layer struct {
		Techniques []struct {
			ID    string `json:"techniqueID"`
			Score *int   `json:"score"`
		} `json:"techniques"`
	}
	if err := json.Unmarshal(l.Body.Bytes(), &layer); err != nil {
		t.Fatal(err)
	}
	if len(layer.Techniques) != 1 || layer.Techniques[0].ID != "T1059.001" || layer.Techniques[0].Score == nil || *layer.Techniques[0].Score != 100 {
		t.Errorf("layer techniques %+v, want T1059.001 scored 100 (Blocked)", layer.Techniques)
	}
}

// TestInsightsFilters: the label and the date range select the missions,
// in the page, its CSV links and the CSV itself.
func TestInsightsFilters(t *testing.T) {
	t.Parallel()
	w, ids := insightsWorld(t)
	for _, c := range []struct {
		query url.Values
		want  []uuid.UUID
	}{
		{url.Values{"label": {"acme"}}, ids[:2]},
		{url.Values{"label": {"other"}}, ids[2:]},
		{url.Values{"from": {"2026-02-01"}}, ids[1:]},
		{url.Values{"to": {"2026-04-30"}}, ids[:2]},
		{url.Values{"label": {"acme"}, "from": {"2026-02-01"}}, ids[1:2]},
	} {
		r := w.Do(t, apptest.Step{As: "analyst", Path: "/insights?" + c.query.Encode()})
		d := apptest.Doc(t, r)
		var got []uuid.UUID
		d.Find(`[data-testid="insights-tactics-row"]`).Each(func(_ int, s *goquery.Selection) {
			got = append(got, uuid.MustParse(s.AttrOr("data-mission", "")))
		})
		if !slices.Equal(got, c.want) {
			t.Errorf("%v: missions %v, want %v", c.query, got, c.want)
		}
		href := d.Find(`[data-testid="insights-tactics-csv"]`).AttrOr("href", "")
		for k := range c.query {
			if !strings.Contains(href, k+"=") {
				t.Errorf("%v: the CSV link %q drops %s", c.query, href, k)
			}
		}
		csvBody := w.Do(t, apptest.Step{As: "analyst", Path: href}).Body.String()
		if n := strings.Count(strings.TrimSpace(csvBody), "\n"); n != len(c.want) {
			t.Errorf("%v: CSV of %d rows, want %d:\n%s", c.query, n, len(c.want), csvBody)
		}
	}
	// A label filter nothing has: the page says so.
	w.Run(t, apptest.Step{As: "analyst", Path: "/insights?label=none", TestIDs: []string{"insights-empty"},
		NoTestIDs: []string{"insights-tactics-chart"}})
	// The filter's select offers every label in use.
	w.Run(t, apptest.Step{As: "analyst", Path: "/insights", Check: func(t *testing.T, r *httptest.ResponseRecorder) {
		var opts []string
		apptest.Doc(t, r).Find(`[data-testid="insights-label"] option`).Each(func(_ int, s *goquery.Selection) {
			opts = append(opts, s.AttrOr("value", ""))
		})
		if !slices.Equal(opts, []string{"", "acme", "other"}) {
			t.Errorf("label options %q", opts)
		}
	}})
	// An htmx request gets the results alone.
	w.Run(t, apptest.Step{As: "analyst", Path: "/insights?label=acme", HX: true,
		TestIDs: []string{"insights"}, NoTestIDs: []string{"page-header"}})
}

// TestInsightsNeedThePermission: the trends show every mission's results,
// so neither membership nor mission.read opens them; the nav links them
// only for holders of insights.read.
func TestInsightsNeedThePermission(t *testing.T) {
	t.Parallel()
	w, _ := insightsWorld(t)
	for _, who := range []string{"lead", "red", "blue", "observer", "none"} {
		w.Run(t, apptest.Step{As: who, Path: "/insights", Status: http.StatusForbidden},
			apptest.Step{As: who, Path: "/insights.csv?chart=tactics", Status: http.StatusForbidden},
			apptest.Step{As: who, Path: "/insights/navigator.json", Status: http.StatusForbidden})
	}
	w.Run(t,
		apptest.Step{Name: "lead's nav", As: "lead", Path: "/", NoTestIDs: []string{`.main-nav a[href="/insights"]`}},
		apptest.Step{Name: "analyst's nav", As: "analyst", Path: "/", TestIDs: []string{`.main-nav a[href="/insights"]`}},
		apptest.Step{As: "admin", Path: "/insights", TestIDs: []string{"insights-tactics-chart"}},
		apptest.Step{As: "analyst", Path: "/insights.csv?chart=nope", Status: http.StatusUnprocessableEntity},
	)
}

// TestMissionLabels: the mission form takes labels separated by commas,
// trimmed and deduplicated, refuses too long or too many next to the
// field with the input kept, and the list shows them as chips.
func TestMissionLabels(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	form := validMission("Labelled")
	form.Set("labels", " acme, Q1 ,acme, , ACME ")
	w.Run(t, apptest.Step{As: "red", Path: "/missions", Form: form, Status: http.StatusSeeOther})
	if got := w.Value(t, `SELECT labels::text FROM missions WHERE name = 'Labelled'`); got != `["acme", "Q1"]` {
		t.Errorf("labels stored %s, want acme and Q1 once each", got)
	}
	w.Run(t, apptest.Step{As: "red", Path: "/missions", Check: func(t *testing.T, r *httptest.ResponseRecorder) {
		var chips []string
		apptest.Doc(t, r).Find(`[data-testid="mission-label"]`).Each(func(_ int, s *goquery.Selection) {
			chips = append(chips, s.Text())
		})
		if !slices.Equal(chips, []string{"acme", "Q1"}) {
			t.Errorf("chips %q", chips)
		}
	}})

	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("l%d", i)
	}
	for _, c := range []struct{ name, labels, key string }{
		{"too long", "ok, " + strings.Repeat("x", 51), "A label may have at most 50 characters."},
		{"too many", strings.Join(many, ","), "A mission may have at most 20 labels."},
	} {
		f := validMission("Refused " + c.name)
		f.Set("labels", c.labels)
		w.Run(t, apptest.Step{Name: c.name, As: "red", Path: "/missions", Form: f, Status: http.StatusUnprocessableEntity,
			Text: map[string]string{"error-labels": c.key}, Rows: apptest.Rows{"missions": 0},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				if v := apptest.Doc(t, r).Find(`input[name="labels"]`).AttrOr("value", ""); v != c.labels {
					t.Errorf("labels not kept: %q", v)
				}
			}})
	}

	// The settings show and save them.
	m := w.Value(t, `SELECT id FROM missions WHERE name = 'Labelled'`)
	r := w.Do(t, apptest.Step{As: "red", Path: "/missions/" + m + "/settings"})
	d := apptest.Doc(t, r)
	if v := d.Find(`input[name="labels"]`).AttrOr("value", ""); v != "acme, Q1" {
		t.Errorf("settings show labels %q", v)
	}
	edit := validMission("Labelled")
	edit.Set("version", d.Find(`[data-testid="mission-version"]`).AttrOr("value", ""))
	edit.Set("labels", "2026 campaign")
	w.Run(t, apptest.Step{As: "red", Path: "/missions/" + m + "/settings", Form: edit, Status: http.StatusSeeOther})
	if got := w.Value(t, `SELECT labels::text FROM missions WHERE id = $1`, m); got != `["2026 campaign"]` {
		t.Errorf("labels saved %s", got)
	}
}
