package handlers_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"violet/internal/testkit/apptest"
)

// writeLog is a ResponseWriter that keeps the size of every Write: a
// response rendered whole into memory first arrives in one write of the
// whole page, a streamed one in many small ones.
type writeLog struct {
	*httptest.ResponseRecorder
	writes []int
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.ResponseRecorder.Write(p)
}

// streamed asks for path as the fixture's lead and returns the response
// and its writes.
func streamed(t *testing.T, f *overviewFixture, path string) *writeLog {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.AddCookie(f.cookies["lead"])
	w := &writeLog{ResponseRecorder: httptest.NewRecorder()}
	f.app.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: status %d", path, w.Code)
	}
	return w
}

// checkStreamed fails unless the body came in several writes none larger
// than the handlers' output buffer (32 KiB): the server never held it
// whole.
func checkStreamed(t *testing.T, what string, w *writeLog) {
	t.Helper()
	largest := 0
	for _, n := range w.writes {
		largest = max(largest, n)
	}
	if len(w.writes) < 4 || largest > 32<<10 {
		t.Errorf("%s: %d bytes in %d writes, the largest %d bytes: not streamed through a small buffer",
			what, w.Body.Len(), len(w.writes), largest)
	}
}

// TestMissionReportStreams: the report of 1,000 tests reaches the client
// in writes of at most 32 KiB, whole (every test, the appendix, the end
// of the page) and without the truncation marker.
func TestMissionReportStreams(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t, apptest.Patient()) // 1,000 tests on a shared machine
	ids := f.seedTests(t, 1000)
	f.addEvidence(t, ids[999], "last.log", "text/plain", 10, false)
	w := streamed(t, f, f.path("/report"))
	checkStreamed(t, "report", w)
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=UTF-8" {
		t.Errorf("content type %q", ct)
	}
	body := w.Body.String()
	if !strings.HasSuffix(strings.TrimSpace(body), "</html>") || strings.Contains(body, `data-testid="report-truncated"`) {
		t.Errorf("the report is not whole: ends %q", body[max(0, len(body)-200):])
	}
	d := doc(t, w.ResponseRecorder)
	if n := d.Find(`[data-testid="report-test"]`).Length(); n != 1000 {
		t.Errorf("%d test sections, want 1000", n)
	}
	if n := d.Find(`[data-testid="report-appendix-row"]`).Length(); n != 1 {
		t.Errorf("%d appendix rows, want 1", n)
	}
}

// TestLargeExportsStream: the CSV (both variants) and the JSON archive of
// 1,000 tests reach the client in writes of at most 32 KiB, whole.
func TestLargeExportsStream(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t, apptest.Patient()) // 1,000 tests on a shared machine
	f.seedTests(t, 1000)
	for _, suffix := range []string{"/export/tests.csv", "/export/tests.csv?excel=1"} {
		w := streamed(t, f, f.path(suffix))
		checkStreamed(t, suffix, w)
		data := w.Body.Bytes()
		if excel := strings.Contains(suffix, "excel"); bytes.HasPrefix(data, []byte("\uFEFF")) != excel {
			t.Errorf("%s: byte order mark %v, want %v", suffix, !excel, excel)
		}
		records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\uFEFF")))).ReadAll()
		if err != nil || len(records) != 1001 {
			t.Errorf("%s: %d records, %v", suffix, len(records), err)
		}
		if cd := w.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
			t.Errorf("%s: disposition %q", suffix, cd)
		}
	}
	w := streamed(t, f, f.path("/export/mission.json"))
	checkStreamed(t, "mission.json", w)
	var archive struct {
		Tests []struct{ Number int } `json:"tests"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &archive); err != nil || len(archive.Tests) != 1000 || archive.Tests[999].Number != 1000 {
		t.Errorf("archive: %d tests, %v", len(archive.Tests), err)
	}
}
