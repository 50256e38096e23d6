package handlers_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/ent/user"
	"violet/internal/testkit/apptest"
)

// TestMissionTestStartsOnlyInProgress: a test starts only while its
// mission is in progress. In a draft, planned or completed mission Start
// is refused with 409 and a message saying why on the test page (plain
// and htmx), the test unchanged and the operator's typed input kept.
func TestMissionTestStartsOnlyInProgress(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StatePending, false)
	for _, status := range []mission.Status{mission.StatusDraft, mission.StatusPlanned, mission.StatusCompleted} {
		w.app.Ent.Mission.UpdateOneID(w.mission).SetStatus(status).ExecX(w.ctx)
		for _, hx := range []bool{false, true} {
			step := w.act("red", id, "start", url.Values{"command": {"whoami /all"}})
			step.Name, step.HX = string(status)+" mission: start refused", hx
			step.Status, step.Rows = http.StatusConflict, apptest.Rows{unchanged(id): 0, "audit_events WHERE target_type = 'mission_test'": 0}
			step.Text = map[string]string{"mission-test-notice": "A test starts only once its mission is in progress"}
			step.Check = func(t *testing.T, r *httptest.ResponseRecorder) {
				if got := doc(t, r).Find(`textarea[name="command"]`).Text(); got != "whoami /all" {
					t.Errorf("typed command not kept: %q", got)
				}
			}
			w.Do(t, step)
		}
	}
	w.app.Ent.User.UpdateOneID(w.users["red"]).SetLocale(user.LocaleFr).ExecX(w.ctx)
	step := w.act("red", id, "start", nil)
	step.Name, step.Status = "refused in French", http.StatusConflict
	step.Text = map[string]string{"mission-test-notice": "Un test ne démarre qu’une fois sa mission en cours"}
	w.Do(t, step)
	w.app.Ent.User.UpdateOneID(w.users["red"]).SetLocale(user.LocaleEn).ExecX(w.ctx)

	w.app.Ent.Mission.UpdateOneID(w.mission).SetStatus(mission.StatusInProgress).ExecX(w.ctx)
	step = w.act("red", id, "start", nil)
	step.Name, step.Status, step.Rows = "in progress: started", http.StatusSeeOther, apptest.Rows{unchanged(id): -1}
	w.Do(t, step)
	if got := w.get(id).State; got != missiontest.StateRunning {
		t.Errorf("state %s, want running", got)
	}
}

// TestMissionTestHistoryTellsEachStepOnce: the history showed "started
// by" twice (the test's record and its audit event); each step is now
// listed once.
func TestMissionTestHistoryTellsEachStepOnce(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StatePending, false)
	for _, action := range []string{"start", "stop", "release"} {
		if r := w.post("red", id, action, nil); r.Code != http.StatusSeeOther {
			t.Fatalf("%s: %d", action, r.Code)
		}
	}
	var started, stopped int
	d := doc(t, w.app.GetAs(w.cookies["lead"], w.url(id, "")))
	d.Find(`[data-testid="mission-test-event"]`).Each(func(_ int, s *goquery.Selection) {
		text := strings.TrimSpace(s.Text())
		if strings.Contains(text, "started") {
			started++
		}
		if strings.Contains(text, "stopped") {
			stopped++
		}
	})
	if started != 1 || stopped != 1 {
		t.Errorf("history tells the start %d times and the stop %d times, want once each:\n%s",
			started, stopped, testid(d, "mission-test-history"))
	}
}

// TestErrorSummaryNamesTheField: each entry of a form's error summary
// names its field's label and links to the field.
func TestErrorSummaryNamesTheField(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	for _, tc := range []struct{ locale, want string }{
		{"en", "Name: This field is required."},
		{"fr", "Nom : Ce champ est obligatoire."},
	} {
		w.app.Ent.User.UpdateOneID(w.users["red"]).SetLocale(user.Locale(tc.locale)).ExecX(w.ctx)
		w.Do(t, apptest.Step{Name: tc.locale + ": empty name", As: "red", Path: "/missions",
			Form: url.Values{"name": {" "}}, Status: http.StatusUnprocessableEntity,
			Rows: apptest.Rows{"missions": 0},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				link := doc(t, r).Find(`[data-testid="error-summary"] li[data-field="name"] a[href="#field-name"]`)
				if got := strings.Join(strings.Fields(link.Text()), " "); got != tc.want {
					t.Errorf("summary entry %q, want %q", got, tc.want)
				}
			}})
	}
}

// TestExportTestsCSVForExcel: tests.csv stays as tools read it (no byte
// order mark); ?excel=1 gives the same CSV after a UTF-8 byte order mark,
// records ending in CRLF, under its own name; the exports card links to
// both and says which is which.
func TestExportTestsCSVForExcel(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StateExecuted, true)
	w.app.Ent.MissionTest.UpdateOneID(id).SetName("Exécution à distance").ExecX(w.ctx)
	plain := w.app.GetAs(w.cookies["lead"], exportURL(w, w.mission, "tests.csv"))
	excel := w.app.GetAs(w.cookies["lead"], exportURL(w, w.mission, "tests.csv?excel=1"))
	if plain.Code != http.StatusOK || excel.Code != http.StatusOK {
		t.Fatalf("status %d, %d", plain.Code, excel.Code)
	}
	bom := []byte{0xEF, 0xBB, 0xBF}
	if bytes.HasPrefix(plain.Body.Bytes(), bom) {
		t.Error("tests.csv starts with a byte order mark")
	}
	if !bytes.Equal(excel.Body.Bytes(), append(bom, plain.Body.Bytes()...)) {
		t.Errorf("the Excel CSV is not the byte order mark and the same CSV")
	}
	if !bytes.Contains(excel.Body.Bytes(), []byte("Exécution à distance")) || !bytes.HasSuffix(excel.Body.Bytes(), []byte("\r\n")) {
		t.Errorf("Excel CSV %q", excel.Body.Bytes())
	}
	if ct := excel.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := excel.Header().Get("Content-Disposition"); cd != `attachment; filename="Operation-Violet-tests-excel.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	w.Do(t, apptest.Step{Name: "the exports card links both", As: "blue", Path: "/missions/" + w.mission.String(),
		TestIDs: []string{"export-csv", "export-csv-excel", "export-csv-hint"},
		Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			d := doc(t, r)
			if href := d.Find(`[data-testid="export-csv-excel"]`).AttrOr("href", ""); href != exportURL(w, w.mission, "tests.csv?excel=1") {
				t.Errorf("Excel link %q", href)
			}
			if hint := testid(d, "export-csv-hint"); !strings.Contains(hint, "Excel") {
				t.Errorf("hint %q", hint)
			}
		}})
}
