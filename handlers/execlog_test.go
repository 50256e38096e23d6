package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/mission"
	"violet/ent/testtemplate"
	"violet/internal/auth"
	"violet/internal/library"
	imission "violet/internal/mission"
	"violet/internal/testkit/apptest"
)

// execLogWorld is a mission in progress planned from three Atomic Red
// Team tests (T1012 #1, T1018 #1, T1003.002 #1), imported into the library
// from ../shared/data as `violet atomic import` does.
func execLogWorld(t *testing.T) (*apptest.World, uuid.UUID) {
	t.Helper()
	const atomics = "../../shared/data/atomic-red-team/atomics/"
	if _, err := os.Stat(atomics); err != nil {
		t.Skipf("no Atomic Red Team files here: %v", err)
	}
	w := apptest.NewWorld(t)
	var sources []library.Source
	for _, id := range []string{"T1012", "T1018", "T1003.002"} {
		data, err := os.ReadFile(filepath.Join(atomics, id, id+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, library.Source{Name: id + ".yaml", Data: data})
	}
	if _, err := library.ImportAtomic(w.Sys(), w.Ent, sources, library.AtomicOptions{}); err != nil {
		t.Fatal(err)
	}
	m := w.Mission(t, "Purple week", mission.StatusInProgress)
	u, err := w.Ent.User.Get(w.Sys(), w.User("lead"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := imission.ViewerOf(context.Background(), w.Ent, u)
	if err != nil {
		t.Fatal(err)
	}
	ctx := auth.NewContext(context.Background(), v)
	a, err := imission.Load(ctx, w.Ent, v, m)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := w.Ent.TestTemplate.Query().Where(testtemplate.ExternalRefIn(
		"8f7578c4-9863-4d83-875c-a565573bbdf0", "85321a9c-897f-4a60-9f20-29788e50bccd",
		"5c2571d0-1572-416d-9676-812e64ca9f44")).IDs(w.Sys())
	if err != nil || len(ids) != 3 {
		t.Fatalf("templates %v: %v", ids, err)
	}
	if _, err := imission.AddTemplates(ctx, w.Ent, a, ids, map[string]any{"change": "add_templates"}); err != nil {
		t.Fatal(err)
	}
	return w, m
}

// execLogPost posts a multipart form: fields, and a file when name != "".
func execLogPost(t *testing.T, w *apptest.World, as, path string, fields [][2]string, name string, file []byte) *httptest.ResponseRecorder {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if name != "" {
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, path, &b)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(w.Cookie(as))
	return w.App.Do(r)
}

func TestExecutionLogPage(t *testing.T) {
	w, m := execLogWorld(t)
	base := "/missions/" + m.String() + "/execution-log"
	log, err := os.ReadFile("../internal/execlog/testdata/attire.json")
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		return w.Value(t, `SELECT concat_ws('|',
			(SELECT string_agg(version::text, ',' ORDER BY id) FROM mission_tests WHERE mission_id = $1),
			(SELECT count(*) FROM evidence_files), (SELECT count(*) FROM audit_events), (SELECT count(*) FROM mission_tests))`, m)
	}

	if res := w.GetAs(w.Cookie("red"), base); res.Code != http.StatusOK {
		t.Fatalf("form: status %d", res.Code)
	}
	if res := w.GetAs(w.Cookie("blue"), base); res.Code != http.StatusForbidden {
		t.Errorf("blue: status %d, want 403", res.Code)
	}

	// A file that is not a log comes back with the message next to the field.
	res := execLogPost(t, w, "red", base, nil, "notes.txt", []byte("hello"))
	if res.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad file: status %d", res.Code)
	}
	if got := testid(doc(t, res), "error-file"); !strings.Contains(got, "neither an ATTiRe") {
		t.Errorf("bad file: error %q", got)
	}

	// Preview: three tests matched, one procedure unmatched, nothing saved.
	before := snapshot()
	res = execLogPost(t, w, "red", base, nil, "purple.json", log)
	if res.Code != http.StatusOK {
		t.Fatalf("preview: status %d\n%.500s", res.Code, res.Body)
	}
	d := doc(t, res)
	if n := d.Find(`[data-testid="execlog-row"]`).Length(); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
	if n := d.Find(`[data-testid="execlog-unmatched-row"]`).Length(); n != 1 {
		t.Errorf("%d unmatched, want 1", n)
	}
	if snapshot() != before {
		t.Fatal("the preview changed something")
	}
	form := d.Find(`[data-testid="execlog-apply-form"]`)
	var fields [][2]string
	form.Find(`input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		value, _ := s.Attr("value")
		fields = append(fields, [2]string{name, value})
	})
	apply := base + "/apply"

	// A changed log is refused: the seal holds the previewed one only.
	tampered := append([][2]string{}, fields...)
	for i, f := range tampered {
		if f[0] == "log" {
			raw, err := base64.StdEncoding.DecodeString(f[1])
			if err != nil || !bytes.Contains(raw, []byte("WS-FIN-042")) {
				t.Fatalf("the preview does not carry the log: %v", err)
			}
			tampered[i][1] = base64.StdEncoding.EncodeToString(bytes.Replace(raw, []byte("WS-FIN-042"), []byte("WS-EVIL"), 1))
		}
	}
	if res := execLogPost(t, w, "red", apply, tampered, "", nil); res.Code != http.StatusUnprocessableEntity {
		t.Errorf("tampered: status %d", res.Code)
	}
	if snapshot() != before {
		t.Fatal("a refused apply changed something")
	}
	if res := execLogPost(t, w, "blue", apply, fields, "", nil); res.Code != http.StatusForbidden {
		t.Errorf("blue apply: status %d", res.Code)
	}

	count := func(d *goquery.Document, id string) string {
		v, _ := d.Find(`[data-testid="` + id + `"]`).Attr("data-count")
		return v
	}
	res = execLogPost(t, w, "red", apply, fields, "", nil)
	if res.Code != http.StatusOK {
		t.Fatalf("apply: status %d\n%.500s", res.Code, res.Body)
	}
	d = doc(t, res)
	if count(d, "execlog-updated") != "3" || count(d, "execlog-evidence") != "3" || count(d, "execlog-skipped") != "1" {
		t.Errorf("summary: %s", d.Find(`[data-testid="execlog-summary"]`).Text())
	}
	if n := w.Count(t, `mission_tests WHERE mission_id = $1 AND state = 'executed' AND target_host = 'WS-FIN-042'`, m); n != 3 {
		t.Errorf("%d tests executed on the log's host", n)
	}
	after := snapshot()

	// The same preview applied again changes nothing.
	res = execLogPost(t, w, "red", apply, fields, "", nil)
	if res.Code != http.StatusOK {
		t.Fatalf("second apply: status %d", res.Code)
	}
	d = doc(t, res)
	if count(d, "execlog-updated") != "0" || count(d, "execlog-unchanged") != "3" {
		t.Errorf("second summary: %s", d.Find(`[data-testid="execlog-summary"]`).Text())
	}
	if got := snapshot(); got != after {
		t.Errorf("the second apply changed something: %s → %s", after, got)
	}
}

// TestExecutionLogLinkOnTheMission: the mission's overview links the
// import for the red side (leads, red members), not for blue or observers.
func TestExecutionLogLinkOnTheMission(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Linked", mission.StatusInProgress)
	for who, want := range map[string]bool{"lead": true, "red": true, "blue": false, "observer": false} {
		page := w.App.GetAs(w.Cookie(who), "/missions/"+m.String())
		if page.Code != http.StatusOK {
			t.Fatalf("%s: %d", who, page.Code)
		}
		if got := strings.Contains(page.Body.String(), `data-testid="execlog-link"`); got != want {
			t.Errorf("%s sees the link: %v, want %v", who, got, want)
		}
	}
}
