package handlers_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/joblock"
	"violet/internal/testkit/apptest"
)

const (
	importFixture    = "../internal/atomic/testdata/T9999.yaml"
	importRealDir    = "../../shared/data/atomic-red-team/atomics"
	importRealBundle = "../../shared/data/attack/enterprise-attack-17.1.json"
)

// importPart is one part of a multipart upload: a file when name is set,
// else a field.
type importPart struct {
	field, name string
	data        []byte
}

func importFile(name string, data []byte) importPart { return importPart{"files", name, data} }

func importField(field, value string) importPart { return importPart{field, "", []byte(value)} }

// importpostImport posts a multipart form to path as a browser would.
func importPost(app *apptest.App, cookie *http.Cookie, path string, parts ...importPart) *httptest.ResponseRecorder {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var w io.Writer
		if p.name != "" || p.field == "files" || p.field == "document" {
			w, _ = mw.CreateFormFile(p.field, p.name)
		} else {
			w, _ = mw.CreateFormField(p.field)
		}
		w.Write(p.data)
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, path, &b)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return app.Do(r)
}

// importJob is an import job's row as a test reads it.
type importJob struct {
	ID, Status, Error, Took string
	Summary                 struct {
		Files, Added, Updated, Unchanged, Kept, Failed int
		Templates, Scenarios                           int
		Failures                                       []struct{ File, Reason string }
		Untagged                                       []struct {
			File, Test  string
			TechniqueID string `json:"technique_id"`
		} `json:"untagged"`
		ScenarioID    string `json:"scenario_id"`
		ScenarioTests int    `json:"scenario_tests"`
		ScenarioEmpty bool   `json:"scenario_empty"`
	}
}

// importwaitImport follows the redirect to an import's page and waits for the
// job to finish.
func importWait(t *testing.T, app *apptest.App, w *httptest.ResponseRecorder) importJob {
	t.Helper()
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/library/import/") {
		t.Fatalf("status %d to %q, want 303 to the job page\n%s", w.Code, loc, w.Body)
	}
	j := importJob{ID: strings.TrimPrefix(loc, "/library/import/")}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var summary []byte
		var took sql.NullString
		err := app.DB.QueryRow(`SELECT status, error, coalesce(summary, 'null'), (finished_at - created_at)::text FROM import_jobs WHERE id = $1`, j.ID).
			Scan(&j.Status, &j.Error, &summary, &took)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != "running" {
			j.Took = took.String
			if err := json.Unmarshal(summary, &j.Summary); err != nil {
				t.Fatal(err)
			}
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s still running after two minutes", j.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func importCount(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// importlibrarySum fingerprints the library's tables.
func importLibrarySum(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM test_templates x`,
		`SELECT md5(string_agg(test_template_id::text || coalesce(technique_id::text, '') || coalesce(subtechnique_id::text, ''), ',' ORDER BY 1)) FROM test_template_mitre_tags`,
		`SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM scenario_templates x`,
	} {
		var s sql.NullString
		if err := db.QueryRow(q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.String)
	}
	return strings.Join(out, "/")
}

func importRequireReal(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("VIOLET_REAL_DATA_REQUIRED") == "1" {
			t.Fatalf("real data required: %v", err)
		}
		t.Skipf("no real data here: %v", err)
	}
}

// importSyncCatalogue loads ATT&CK 17.1 into the app's database.
func importSyncCatalogue(t *testing.T, client *ent.Client) {
	t.Helper()
	importRequireReal(t, importRealBundle)
	f, err := os.Open(importRealBundle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := attack.Read(f, attack.ReadOptions{Version: "17.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := rule.SystemContext(context.Background())
	if err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		_, err := attack.Sync(ctx, tx, b, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// importRealFiles reads the real technique files: archive path → content.
func importRealFiles(t *testing.T) map[string][]byte {
	t.Helper()
	importRequireReal(t, importRealDir)
	paths, err := filepath.Glob(importRealDir + "/T*/T*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no real files: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out["atomics/"+filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p)] = data
	}
	return out
}

// realTestCount counts the atomic tests of the real files (each test has
// one auto_generated_guid).
func importRealTestCount(files map[string][]byte) int {
	n := 0
	re := regexp.MustCompile(`(?m)^\s*auto_generated_guid:`)
	for _, d := range files {
		n += len(re.FindAll(d, -1))
	}
	return n
}

func importFixtureBytes(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(importFixture)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func importSortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func importZip(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range importSortedNames(files) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func importTgz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, name := range importSortedNames(files) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[name])
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

// TestLibraryImportRealAtomics imports the 70 real technique files as a
// zip, then again as a tar.gz: the first creates one template per atomic
// test, tagged; the second changes nothing. A scenario of the imported
// macOS tests is built on the way.
func TestLibraryImportRealAtomics(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	importSyncCatalogue(t, app.Ent)
	files := importRealFiles(t)
	tests := importRealTestCount(files)
	red := app.SignedIn(t, "red@example.com", "redteam")

	j := importWait(t, app, importPost(app, red, "/library/import/atomic",
		importFile("atomics.zip", importZip(t, files)),
		importField("scenario", "1"), importField("scenario_name", "Every macOS test"),
		importField("scenario_filter", "platform:macOS")))
	t.Logf("import of %d real files (%d tests) took %s", len(files), tests, j.Took)
	if j.Status != "succeeded" || j.Summary.Files != len(files) || j.Summary.Added != tests || j.Summary.Failed != 0 {
		t.Fatalf("job %+v, want %d files and %d tests added", j, len(files), tests)
	}
	if n := importCount(t, app.DB, `SELECT count(*) FROM test_templates WHERE source = 'atomic'`); n != tests {
		t.Errorf("%d templates, want %d", n, tests)
	}
	if n := importCount(t, app.DB, `SELECT count(DISTINCT test_template_id) FROM test_template_mitre_tags`); n != tests-len(j.Summary.Untagged) {
		t.Errorf("%d templates tagged, want %d (%d untagged)", n, tests-len(j.Summary.Untagged), len(j.Summary.Untagged))
	}
	macOS := importCount(t, app.DB, `SELECT count(*) FROM test_templates WHERE platforms ? 'macOS'`)
	if macOS == 0 || j.Summary.ScenarioTests != macOS ||
		importCount(t, app.DB, `SELECT count(*) FROM scenario_template_tests e JOIN test_templates t ON t.id = e.test_template_id
			WHERE e.scenario_template_id = $1 AND t.platforms ? 'macOS'`, j.Summary.ScenarioID) != macOS {
		t.Errorf("scenario %s holds %d tests, want the %d macOS ones", j.Summary.ScenarioID, j.Summary.ScenarioTests, macOS)
	}

	t.Run("the job page shows the summary", func(t *testing.T) {
		d := doc(t, app.GetAs(red, "/library/import/"+j.ID))
		if testid(d, "import-added") != importItoa(tests) || testid(d, "import-files") != importItoa(len(files)) ||
			d.Find(`[data-testid="import-templates-link"]`).Length() != 1 || d.Find(`[data-testid="import-scenario-link"] a`).Length() != 1 {
			t.Errorf("summary: added %q files %q", testid(d, "import-added"), testid(d, "import-files"))
		}
		if d.Find(`[hx-trigger]`).Length() != 0 {
			t.Error("a finished job still polls")
		}
	})
	t.Run("re-import as a tar.gz changes nothing", func(t *testing.T) {
		before := importLibrarySum(t, app.DB)
		j := importWait(t, app, importPost(app, red, "/library/import/atomic", importFile("atomics.tar.gz", importTgz(t, files))))
		if j.Status != "succeeded" || j.Summary.Added != 0 || j.Summary.Updated != 0 || j.Summary.Unchanged != tests {
			t.Errorf("job %+v", j)
		}
		if importLibrarySum(t, app.DB) != before {
			t.Error("the library changed")
		}
	})
	t.Run("history and audit", func(t *testing.T) {
		d := doc(t, app.GetAs(red, "/library/import"))
		if n := d.Find(`[data-testid="import-row"]`).Length(); n != 2 {
			t.Errorf("%d rows in the history, want 2", n)
		}
		if n := importCount(t, app.DB, `SELECT count(*) FROM audit_events WHERE action = 'library.imported' AND target_type = 'import_job'`); n != 2 {
			t.Errorf("%d audit events, want 2", n)
		}
		if n := importCount(t, app.DB, `SELECT count(*) FROM audit_events WHERE action = 'scenario.created' AND target_id = $1`, j.Summary.ScenarioID); n != 1 {
			t.Errorf("%d scenario audit events, want 1", n)
		}
	})
}

func importItoa(n int) string { return strconv.Itoa(n) }

// TestLibraryImportAtomicFiles uploads technique files: the project's
// fixture (its technique is not in the catalogue: imported untagged and
// reported) and a broken file, which is reported while the other goes in.
func TestLibraryImportAtomicFiles(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	red := app.SignedIn(t, "red@example.com", "redteam")
	j := importWait(t, app, importPost(app, red, "/library/import/atomic",
		importFile("T9999.001.yaml", importFixtureBytes(t)), importFile("broken.yml", []byte("attack_technique: [oops"))))
	if j.Status != "succeeded" || j.Summary.Files != 2 || j.Summary.Added != 2 || j.Summary.Failed != 1 ||
		len(j.Summary.Failures) != 1 || j.Summary.Failures[0].File != "broken.yml" || len(j.Summary.Untagged) != 2 ||
		j.Summary.Untagged[0].TechniqueID != "T9999.001" {
		t.Fatalf("job %+v", j)
	}
	d := doc(t, app.GetAs(red, "/library/import/"+j.ID))
	if d.Find(`[data-testid="import-failure"]`).Length() != 1 || !strings.Contains(testid(d, "import-failures"), "broken.yml") ||
		d.Find(`[data-testid="import-untagged-test"]`).Length() != 2 || !strings.Contains(testid(d, "import-untagged"), "T9999.001") {
		t.Errorf("job page:\n%s", testid(d, "import-job"))
	}
	if n := importCount(t, app.DB, `SELECT count(*) FROM test_templates WHERE created_by_id IS NOT NULL AND source = 'atomic'`); n != 2 {
		t.Errorf("%d templates created by the importer, want 2", n)
	}

	t.Run("local edits are kept, then overwritten when asked", func(t *testing.T) {
		if _, err := app.DB.Exec(`UPDATE test_templates SET name = 'Edited here' WHERE external_ref = '0b0a0e86-1111-4d2e-9e7a-aaaaaaaaaaaa'`); err != nil {
			t.Fatal(err)
		}
		j := importWait(t, app, importPost(app, red, "/library/import/atomic", importFile("T9999.001.yaml", importFixtureBytes(t))))
		if j.Summary.Kept != 1 || j.Summary.Unchanged != 1 || importCount(t, app.DB, `SELECT count(*) FROM test_templates WHERE name = 'Edited here'`) != 1 {
			t.Errorf("without overwrite: %+v", j.Summary)
		}
		j = importWait(t, app, importPost(app, red, "/library/import/atomic", importFile("T9999.001.yaml", importFixtureBytes(t)), importField("overwrite", "1")))
		if j.Summary.Updated != 1 || importCount(t, app.DB, `SELECT count(*) FROM test_templates WHERE name = 'Edited here'`) != 0 {
			t.Errorf("with overwrite: %+v", j.Summary)
		}
	})
	t.Run("a scenario nothing matches is not built", func(t *testing.T) {
		j := importWait(t, app, importPost(app, red, "/library/import/atomic", importFile("T9999.001.yaml", importFixtureBytes(t)),
			importField("scenario", "1"), importField("scenario_name", "ESXi"), importField("scenario_filter", "platform:ESXi")))
		if j.Status != "succeeded" || !j.Summary.ScenarioEmpty || importCount(t, app.DB, `SELECT count(*) FROM scenario_templates`) != 0 {
			t.Errorf("job %+v", j)
		}
	})
	t.Run("a running job's card polls, with its progress", func(t *testing.T) {
		// A live job: its instance holds its liveness lock (a job nobody
		// holds is shown failed as interrupted).
		uid := uuid.New()
		held, err := joblock.Hold(context.Background(), app.DB, joblock.ImportJob, uid)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release()
		id := uid.String()
		if _, err := app.DB.Exec(`INSERT INTO import_jobs (id, kind, source, status, progress) VALUES ($1, 'atomic', 'x.zip', 'running', 40)`, id); err != nil {
			t.Fatal(err)
		}
		w := app.GetAs(red, "/library/import/"+id, "HX-Request", "true")
		body := w.Body.String()
		if w.Code != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, `hx-get="/library/import/`+id+`"`) ||
			!strings.Contains(body, `value="40"`) {
			t.Errorf("fragment %d %s", w.Code, body)
		}
		if w := app.GetAs(red, "/library/import/00000000-0000-0000-0000-000000000000"); w.Code != http.StatusNotFound {
			t.Errorf("unknown job: %d", w.Code)
		}
	})
}

// TestLibraryImportAtomicBadInput: a form error is a 422 next to the
// field and starts nothing; a bad archive or file fails the job with a
// clear message and imports nothing.
func TestLibraryImportAtomicBadInput(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	red := app.SignedIn(t, "red@example.com", "redteam")
	good := importFixtureBytes(t)
	forms := []struct {
		name  string
		parts []importPart
		field string
	}{
		{"no file", []importPart{importField("overwrite", "1")}, "files"},
		{"an empty file input", []importPart{importFile("", nil)}, "files"},
		{"a wrong extension", []importPart{importFile("tool.exe", []byte{0x4d, 0x5a})}, "files"},
		{"a scenario without a name", []importPart{importFile("T9999.001.yaml", good), importField("scenario", "1")}, "scenario_name"},
		{"a scenario with an unknown filter", []importPart{importFile("T9999.001.yaml", good), importField("scenario", "1"),
			importField("scenario_name", "x"), importField("scenario_filter", "platform:Amiga")}, "scenario_filter"},
	}
	for _, tc := range forms {
		t.Run(tc.name, func(t *testing.T) {
			w := importPost(app, red, "/library/import/atomic", tc.parts...)
			d := doc(t, w)
			if w.Code != http.StatusUnprocessableEntity || d.Find(`[data-testid="error-`+tc.field+`"]`).Length() != 1 ||
				d.Find(`[data-testid="error-summary"]`).Length() != 1 {
				t.Errorf("status %d, want 422 with the error next to %s", w.Code, tc.field)
			}
			if n := importCount(t, app.DB, `SELECT count(*) FROM import_jobs`); n != 0 {
				t.Errorf("%d jobs started", n)
			}
		})
	}
	t.Run("an upload over 100 MB", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/library/import/atomic", strings.NewReader("--x--"))
		r.ContentLength = 100<<20 + 1
		r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.AddCookie(red)
		if w := app.Do(r); w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", w.Code)
		}
		if n := importCount(t, app.DB, `SELECT count(*) FROM import_jobs`); n != 0 {
			t.Errorf("%d jobs started", n)
		}
	})
	t.Run("the form keeps its input", func(t *testing.T) {
		d := doc(t, importPost(app, red, "/library/import/atomic", importField("overwrite", "1"), importField("scenario", "1"),
			importField("scenario_name", "Kept name")))
		if v, _ := d.Find(`#field-scenario_name`).Attr("value"); v != "Kept name" || d.Find(`[data-testid="import-overwrite"][checked]`).Length() != 1 {
			t.Errorf("name %q", v)
		}
	})

	bomb := func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create("atomics/T1234/T1234.yaml")
		w.Write(make([]byte, 8<<20))
		zw.Close()
		return b.Bytes()
	}
	jobs := []struct {
		name string
		file importPart
		want string
	}{
		{"not YAML", importFile("T1059.yaml", []byte("attack_technique: [oops\n\t- {")), "no file could be imported"},
		{"a zip escaping its folder", importFile("atomics.zip", importZip(t, map[string][]byte{
			"atomics/T9999.001/T9999.001.yaml": good, "atomics/../../T9999.002.yaml": good})), "escapes the archive's folder"},
		{"a tar.gz escaping its folder", importFile("atomics.tgz", importTgz(t, map[string][]byte{
			"atomics/T9999.001/T9999.001.yaml": good, "../T9999.002.yaml": good})), "escapes the archive's folder"},
		{"a zip bomb", importFile("atomics.zip", bomb()), "unpacks to more than"},
		{"a zip that is not one", importFile("atomics.zip", []byte("plain text")), "not a zip archive"},
		{"a tar.gz that is not one", importFile("atomics.tar.gz", []byte("plain text")), "not a gzip archive"},
		{"an archive without technique files", importFile("atomics.zip", importZip(t, map[string][]byte{"README.md": []byte("hi")})), "no technique file"},
	}
	for _, tc := range jobs {
		t.Run(tc.name, func(t *testing.T) {
			j := importWait(t, app, importPost(app, red, "/library/import/atomic", tc.file))
			if j.Status != "failed" || !strings.Contains(j.Error, tc.want) {
				t.Errorf("status %s error %q, want failed saying %q", j.Status, j.Error, tc.want)
			}
			if n := importCount(t, app.DB, `SELECT count(*) FROM test_templates`); n != 0 {
				t.Errorf("%d templates imported", n)
			}
			d := doc(t, app.GetAs(red, "/library/import/"+j.ID))
			if !strings.Contains(testid(d, "import-error"), tc.want) {
				t.Errorf("page error %q", testid(d, "import-error"))
			}
		})
	}
	if n := importCount(t, app.DB, `SELECT count(*) FROM audit_events WHERE action = 'library.imported'`); n != 0 {
		t.Errorf("%d audit events for failed imports", n)
	}
}

// TestLibraryImportPermissions: importing needs template.write, exporting
// template.read.
func TestLibraryImportPermissions(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	blue := app.SignedIn(t, "blue@example.com", "blueteam")
	red := app.SignedIn(t, "red@example.com", "redteam")
	for _, path := range []string{"/library/import/atomic", "/library/import/library"} {
		if w := importPost(app, blue, path, importFile("T9999.001.yaml", importFixtureBytes(t))); w.Code != http.StatusForbidden {
			t.Errorf("blue POST %s: %d, want 403", path, w.Code)
		}
	}
	if w := app.GetAs(blue, "/library/import"); w.Code != http.StatusForbidden {
		t.Errorf("blue GET /library/import: %d", w.Code)
	}
	if n := importCount(t, app.DB, `SELECT count(*) FROM import_jobs`) + importCount(t, app.DB, `SELECT count(*) FROM test_templates`); n != 0 {
		t.Errorf("blue imported something (%d rows)", n)
	}
	w := app.GetAs(blue, "/library/export")
	if w.Code != http.StatusOK || !regexp.MustCompile(`^attachment; filename="violet-library-\d{8}\.yaml"$`).MatchString(w.Header().Get("Content-Disposition")) ||
		!strings.Contains(w.Body.String(), "violet_library: 1") {
		t.Errorf("blue export: %d %q", w.Code, w.Header().Get("Content-Disposition"))
	}
	if w := app.GetAs(red, "/library/import"); w.Code != http.StatusOK || doc(t, w).Find(`[data-testid="library-export-link"]`).Length() != 1 {
		t.Errorf("red GET /library/import: %d", w.Code)
	}
	if w := app.GetAs(blue, "/library/export?template=nope"); w.Code != http.StatusBadRequest {
		t.Errorf("bad id: %d, want 400", w.Code)
	}
}

// importexportDoc downloads an export and drops its date, to compare two.
func importExportDoc(t *testing.T, app *apptest.App, cookie *http.Cookie, query string) string {
	t.Helper()
	w := app.GetAs(cookie, "/library/export"+query)
	if w.Code != http.StatusOK {
		t.Fatalf("export: %d", w.Code)
	}
	return regexp.MustCompile(`(?m)^exported_at: .*$`).ReplaceAllString(w.Body.String(), "")
}

// TestLibraryExchangeHTTP exports a library (real tagged tests, the
// fixture's untagged ones, a scenario) through the HTTP routes and imports
// it into a second instance: the second one exports the same document.
func TestLibraryExchangeHTTP(t *testing.T) {
	t.Parallel()
	files := importRealFiles(t)
	one, two := apptest.New(t), apptest.New(t)
	importSyncCatalogue(t, one.Ent)
	importSyncCatalogue(t, two.Ent)
	red1 := one.SignedIn(t, "red@example.com", "redteam")
	red2 := two.SignedIn(t, "red@example.com", "redteam")
	j := importWait(t, one, importPost(one, red1, "/library/import/atomic",
		importFile("T1053.005.yaml", files["atomics/T1053.005/T1053.005.yaml"]), importFile("T9999.001.yaml", importFixtureBytes(t)),
		importField("scenario", "1"), importField("scenario_name", "Execution"), importField("scenario_filter", "tactic:TA0002")))
	if j.Status != "succeeded" || j.Summary.ScenarioTests == 0 {
		t.Fatalf("job %+v", j)
	}
	if _, err := one.DB.Exec(`UPDATE test_templates SET labels = '["purple", "q3"]', opsec_level = 'high', objective = 'Check it'
		WHERE id = (SELECT id FROM test_templates ORDER BY name LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	exported := importExportDoc(t, one, red1, "")

	w := importPost(two, red2, "/library/import/library", importPart{"document", "violet-library-20261127.yaml", []byte(exported)})
	if j := importWait(t, two, w); j.Status != "succeeded" {
		t.Fatalf("import: %+v", j)
	}
	if got := importExportDoc(t, two, red2, ""); got != exported {
		t.Errorf("the second instance exports another document")
	}
	tests := importCount(t, one.DB, `SELECT count(*) FROM test_templates`)
	d := doc(t, two.GetAs(red2, w.Header().Get("Location")))
	if testid(d, "import-templates") != importItoa(tests) || testid(d, "import-added") != importItoa(tests) || testid(d, "import-scenarios") != "1" {
		t.Errorf("summary: templates %q added %q scenarios %q", testid(d, "import-templates"), testid(d, "import-added"), testid(d, "import-scenarios"))
	}
	if n := importCount(t, two.DB, `SELECT count(*) FROM audit_events WHERE action = 'library.imported' AND target_type = 'import_job'`); n != 1 {
		t.Errorf("%d audit events", n)
	}
	t.Run("importing again updates, never duplicates", func(t *testing.T) {
		w := importPost(two, red2, "/library/import/library", importPart{"document", "again.yaml", []byte(exported)})
		if j := importWait(t, two, w); j.Status != "succeeded" || importCount(t, two.DB, `SELECT count(*) FROM test_templates`) != tests ||
			importCount(t, two.DB, `SELECT count(*) FROM scenario_templates`) != 1 || importExportDoc(t, two, red2, "") != exported {
			t.Errorf("status %d", w.Code)
		}
	})
	t.Run("a selection", func(t *testing.T) {
		var tmpl string
		if err := one.DB.QueryRow(`SELECT id FROM test_templates WHERE external_ref LIKE '0b0a0e86-1111%'`).Scan(&tmpl); err != nil {
			t.Fatal(err)
		}
		only := importExportDoc(t, one, red1, "?template="+tmpl)
		if len(regexp.MustCompile(`(?m)^- id: `).FindAllString(only, -1)) != 1 || strings.Contains(only, "scenarios:") {
			t.Errorf("one template's export:\n%s", only)
		}
		sc := importExportDoc(t, one, red1, "?scenario="+j.Summary.ScenarioID)
		if !strings.Contains(sc, "scenarios:") || strings.Contains(sc, tmpl) {
			t.Errorf("the scenario's export holds a template it does not use or no scenario")
		}
	})
}

// TestLibraryImportDocumentBadInput: a document that is not one is
// refused with the reason next to the file field; nothing changes.
func TestLibraryImportDocumentBadInput(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	red := app.SignedIn(t, "red@example.com", "redteam")
	const id = "5b0c3f5e-8f0e-4d47-9a43-6a1f6f3d2c11"
	cases := []struct {
		name, data, cause string
	}{
		{"not YAML", "violet_library: 1\ntemplates: [\n  - {", "not a Violet library document"},
		{"not a library document", "hello: world\n", "not a Violet library document"},
		{"wrong types", "violet_library: 1\ntemplates:\n  - id: " + id + "\n    name: [1, 2]\n", "not a Violet library document"},
		{"a missing name", "violet_library: 1\ntemplates:\n  - id: " + id + "\n    source: manual\n", "has no name"},
		{"a technique ID that is not one", "violet_library: 1\ntemplates:\n  - id: " + id + "\n    name: X\n    attack:\n      - {kind: technique, id: T59}\n", "T59"},
		{"a scenario naming an unknown test", "violet_library: 1\ntemplates: []\nscenarios:\n  - id: " + id + "\n    name: S\n    tests: [6b0c3f5e-8f0e-4d47-9a43-6a1f6f3d2c11]\n", ""},
		{"no file", "", ""},
	}
	before := importLibrarySum(t, app.DB)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := importPost(app, red, "/library/import/library", importPart{"document", "lib.yaml", []byte(tc.data)})
			d := doc(t, w)
			if w.Code != http.StatusUnprocessableEntity || d.Find(`[data-testid="error-document"]`).Length() != 1 {
				t.Fatalf("status %d, want 422 with an error next to the file", w.Code)
			}
			if !strings.Contains(testid(d, "error-document-cause"), tc.cause) {
				t.Errorf("cause %q, want %q", testid(d, "error-document-cause"), tc.cause)
			}
			if importLibrarySum(t, app.DB) != before || importCount(t, app.DB, `SELECT count(*) FROM import_jobs`) != 0 {
				t.Error("something was imported")
			}
		})
	}
}
