package handlers_test

import (
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"violet/internal/testkit/apptest"
)

// TestLibraryExportAtScale: after a big import the export answered 500
// ("got 100009 parameters but PostgreSQL only supports 65535": ent's
// eager loading binds one parameter per template). With 70,000 templates,
// some tagged and some in a scenario, it answers 200 with all of them.
func TestLibraryExportAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the library with 70,000 templates")
	}
	app := apptest.New(t, apptest.Patient())
	red := app.SignedIn(t, "red@example.com", "redteam")
	const n = 70_000
	for _, q := range []string{
		`INSERT INTO test_templates (id, name, platforms, labels, created_at, updated_at)
			SELECT gen_random_uuid(), 'Template ' || lpad(i::text, 6, '0'), '[]', '[]', now(), now() FROM generate_series(1, 70000) i`,
		`INSERT INTO mitre_tactics (id, stix_id, external_id, name, shortname, platforms, created_at, updated_at)
			VALUES (gen_random_uuid(), 'x-mitre-tactic--00000000-0000-4000-8000-000000000001', 'TA0002', 'Execution', 'execution', '[]', now(), now())`,
		`INSERT INTO test_template_mitre_tags (id, test_template_id, tactic_id, created_at, updated_at)
			SELECT gen_random_uuid(), t.id, (SELECT id FROM mitre_tactics), now(), now() FROM test_templates t`,
		`INSERT INTO scenario_templates (id, name, created_at, updated_at) VALUES (gen_random_uuid(), 'Everything', now(), now())`,
		`INSERT INTO scenario_template_tests (id, scenario_template_id, test_template_id, position, created_at, updated_at)
			SELECT gen_random_uuid(), (SELECT id FROM scenario_templates), id, row_number() OVER (ORDER BY name) - 1, now(), now() FROM test_templates`,
	} {
		if _, err := app.DB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	w := app.GetAs(red, "/library/export")
	runtime.ReadMemStats(&after)
	if w.Code != http.StatusOK {
		t.Fatalf("export: %d\n%.500s", w.Code, w.Body)
	}
	body := w.Body.String()
	templates, scenarios, _ := strings.Cut(body, "\nscenarios:\n")
	if got := len(regexp.MustCompile(`(?m)^- id: `).FindAllStringIndex(templates, -1)); got != n {
		t.Errorf("%d templates in the document, want %d", got, n)
	}
	if got := strings.Count(body, "id: TA0002"); got != n {
		t.Errorf("%d tags in the document, want %d", got, n)
	}
	if got := strings.Count(scenarios, "\n  - "); got != n {
		t.Errorf("the scenario lists %d tests, want %d", got, n)
	}
	t.Logf("exported %d templates (%d MB) in %v, %d MB allocated", n, len(body)>>20, time.Since(start), (after.TotalAlloc-before.TotalAlloc)>>20)
}

// TestLibraryImportDocumentBounded: the library document of issue 16
// (templates: 300,000 nested "[") took the process to 8 GB from Library →
// Import; it and its kin are refused with the limit named next to the
// file field, and nothing is imported.
func TestLibraryImportDocumentBounded(t *testing.T) {
	t.Parallel()
	app := apptest.New(t, apptest.Patient())
	red := app.SignedIn(t, "red@example.com", "redteam")
	cases := []struct{ name, data, cause string }{
		{"300,000 nested [", "violet_library: 1\ntemplates: " + strings.Repeat("[", 300_000) + strings.Repeat("]", 300_000) + "\n", "more than 300,000 YAML tokens"},
		{"1,000 nested [", "violet_library: 1\ntemplates: " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "\n", "nesting deeper than 64 levels"},
		{"9 MB", "violet_library: 1\ntemplates: []\n#" + strings.Repeat("x", 9<<20), "larger than 8 MB"},
		{"a NUL in a name", "violet_library: 1\ntemplates:\n- {id: 5b0c3f5e-8f0e-4d47-9a43-6a1f6f3d2c11, name: \"a\\0b\"}\n", "template 1: name contains a NUL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := importPost(app, red, "/library/import/library", importPart{"document", "lib.yaml", []byte(tc.data)})
			d := doc(t, w)
			if w.Code != http.StatusUnprocessableEntity || !strings.Contains(testid(d, "error-document-cause"), tc.cause) {
				t.Fatalf("status %d, cause %q; want 422 saying %q", w.Code, testid(d, "error-document-cause"), tc.cause)
			}
			if importCount(t, app.DB, `SELECT count(*) FROM import_jobs`)+importCount(t, app.DB, `SELECT count(*) FROM test_templates`) != 0 {
				t.Error("something was imported")
			}
		})
	}
}
