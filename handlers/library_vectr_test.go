package handlers_test

import (
	"database/sql"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

const vectrSample = "../../shared/data/vectr/DEMO_PURPLE_CE.csv"

// vectrUpload posts an export to the upload step.
func vectrUpload(app *apptest.App, cookie *http.Cookie, name string, data []byte) (int, *goquery.Document) {
	w := importPost(app, cookie, paths.LibraryImportVectr, importPart{"file", name, data})
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(w.Body.String()))
	return w.Code, doc
}

// vectrMapping reads the mapping step's form as a browser would send it:
// the token and each select's selected option.
func vectrMapping(doc *goquery.Document) url.Values {
	form := url.Values{}
	doc.Find(`[data-testid="vectr-mapping"] form input[type=hidden]`).Each(func(_ int, s *goquery.Selection) {
		form.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	doc.Find(`[data-testid="vectr-mapping"] form select`).Each(func(_ int, s *goquery.Selection) {
		form.Set(s.AttrOr("name", ""), s.Find("option[selected]").AttrOr("value", ""))
	})
	return form
}

func vectrCount(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func vectrText(doc *goquery.Document, testid string) string {
	return strings.TrimSpace(doc.Find(`[data-testid="` + testid + `"]`).Text())
}

// TestVectrImportPageFlow: an admin uploads the real export, sees its
// five assessments and the proposed mapping, confirms it, and gets five
// missions of 765 tests; the same file again changes nothing; /insights
// shows the five assessments in date order. A malformed file is refused
// with its line; a red teamer may not create tools.
func TestVectrImportPageFlow(t *testing.T) {
	importRequireReal(t, vectrSample)
	data, err := os.ReadFile(vectrSample)
	if err != nil {
		t.Fatal(err)
	}
	app := apptest.New(t)
	attackCatalogue(t, app)
	admin := app.SignedIn(t, "admin@example.com", "admin")

	w := app.GetAs(admin, paths.LibraryImportVectr)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `data-testid="vectr-upload"`) {
		t.Fatalf("upload page: %d", w.Code)
	}

	code, doc := vectrUpload(app, admin, "broken.csv", []byte("AssessmentGroup,Campaign,Variant\nA,C,V1\nA,C,\"V2\n"))
	if code != http.StatusUnprocessableEntity || !strings.Contains(vectrText(doc, "error-file-line"), "3") {
		t.Fatalf("malformed CSV: %d, line %q", code, vectrText(doc, "error-file-line"))
	}

	code, doc = vectrUpload(app, admin, "DEMO_PURPLE_CE.csv", data)
	if code != http.StatusOK {
		t.Fatalf("upload: %d", code)
	}
	if n := doc.Find(`[data-testid="vectr-assessment"]`).Length(); n != 5 {
		t.Errorf("%d assessments shown", n)
	}
	if n := doc.Find(`[data-testid="vectr-tool"]`).Length(); n != 18 {
		t.Errorf("%d tools shown", n)
	}
	blocked := doc.Find(`[data-testid="vectr-outcome_Blocked"] option[selected]`).Text()
	if blocked != "Blocked" {
		t.Errorf("Blocked proposed as %q", blocked)
	}
	form := vectrMapping(doc)
	if form.Get("token") == "" || form.Get("tool_0") != "create" {
		t.Fatalf("mapping form %v", form)
	}

	// An upload is its uploader's: another's confirmation finds nothing.
	red := app.SignedIn(t, "red@example.com", "redteam")
	if w = app.PostAs(red, paths.LibraryImportVectrRun, form); w.Code != http.StatusNotFound {
		t.Fatalf("red teamer confirming the admin's upload: %d", w.Code)
	}
	// A red teamer (no settings.manage) may not create the tools.
	code, redDoc := vectrUpload(app, red, "DEMO_PURPLE_CE.csv", data)
	if code != http.StatusOK {
		t.Fatalf("red teamer's upload: %d", code)
	}
	w = app.PostAs(red, paths.LibraryImportVectrRun, vectrMapping(redDoc))
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `data-testid="vectr-tool_0"`) {
		t.Fatalf("red teamer creating tools: %d", w.Code)
	}
	if n := vectrCount(t, app.DB, `SELECT count(*) FROM missions`); n != 0 {
		t.Fatalf("%d missions after a refused mapping", n)
	}

	w = app.PostAs(admin, paths.LibraryImportVectrRun, form)
	doc, _ = goquery.NewDocumentFromReader(strings.NewReader(w.Body.String()))
	if w.Code != http.StatusOK || vectrText(doc, "vectr-missions-created") != "5" || vectrText(doc, "vectr-tests-created") != "765" {
		t.Fatalf("import: %d, %q missions, %q tests", w.Code, vectrText(doc, "vectr-missions-created"), vectrText(doc, "vectr-tests-created"))
	}
	if n := vectrCount(t, app.DB, `SELECT count(*) FROM mission_tests WHERE import_key LIKE 'vectr:%'`); n != 765 {
		t.Errorf("%d tests imported", n)
	}
	// The staged upload is gone once imported.
	if w := app.PostAs(admin, paths.LibraryImportVectrRun, form); w.Code != http.StatusNotFound {
		t.Errorf("the same confirmation again: %d", w.Code)
	}

	_, doc = vectrUpload(app, admin, "DEMO_PURPLE_CE.csv", data)
	if n := doc.Find(`[data-testid="vectr-existing"]`).Length(); n != 5 {
		t.Errorf("%d assessments shown as imported before", n)
	}
	w = app.PostAs(admin, paths.LibraryImportVectrRun, vectrMapping(doc))
	doc, _ = goquery.NewDocumentFromReader(strings.NewReader(w.Body.String()))
	if w.Code != http.StatusOK || vectrText(doc, "vectr-missions-created") != "0" || vectrText(doc, "vectr-missions-unchanged") != "5" ||
		vectrText(doc, "vectr-tests-created") != "0" || vectrText(doc, "vectr-tests-unchanged") != "765" || vectrText(doc, "vectr-tools-created") != "0" {
		t.Fatalf("second import: %d %q", w.Code, vectrText(doc, "vectr-summary"))
	}
	if n := vectrCount(t, app.DB, `SELECT count(*) FROM mission_tests`); n != 765 {
		t.Errorf("%d tests after the second import", n)
	}

	w = app.GetAs(admin, paths.Insights)
	doc, _ = goquery.NewDocumentFromReader(strings.NewReader(w.Body.String()))
	var names []string
	doc.Find(`[data-testid="insights-tactics-row"] th`).Each(func(_ int, s *goquery.Selection) {
		names = append(names, strings.TrimSpace(s.Text()))
	})
	want := "Enterprise Purple – 2017 Q1|Enterprise Purple – 2017 Q3|Enterprise Purple – 2018 Q1|Enterprise Purple – 2018 Q3|Enterprise Purple – 2019 Q1"
	if strings.Join(names, "|") != want {
		t.Errorf("insights trend %q", names)
	}
	if n := doc.Find(`[data-testid="insights-tactics-chart"] [data-testid="insights-point"]`).Length(); n < 5 {
		t.Errorf("%d points on the tactics chart", n)
	}
}
