package library_test

import (
	"bytes"
	"database/sql"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"violet/ent"
	"violet/internal/library"
	"violet/internal/testkit/sqltrace"
)

// twins are two libraries given the same imports and the same local
// changes: one where known files are skipped, one where skipping is
// impossible (library_import_files emptied before each import), the
// reference.
type twins struct {
	t     *testing.T
	dbs   [2]*sql.DB
	cls   [2]*ent.Client
	count *sqltrace.Counter // statements of the skipping one
}

func newTwins(t *testing.T, catalogue bool) *twins {
	tw := &twins{t: t}
	for i := range tw.dbs {
		db, client, n := openTraced(t)
		if catalogue {
			syncCatalogue(t, client)
		}
		tw.dbs[i], tw.cls[i] = db, client
		if i == 0 {
			tw.count = n
		}
	}
	return tw
}

// exec runs a local change in both libraries.
func (tw *twins) exec(q string, args ...any) {
	tw.t.Helper()
	for _, db := range tw.dbs {
		if _, err := db.Exec(q, args...); err != nil {
			tw.t.Fatalf("%s: %v", q, err)
		}
	}
}

// step imports src into both and fails unless the summaries (counts,
// templates in order by GUID, untagged, failures) are the same and, when
// sameLibrary, the libraries too. It returns the skipping one's summary
// and its number of statements.
func (tw *twins) step(name string, src []library.Source, opts library.AtomicOptions, sameLibrary bool) (library.Summary, int64) {
	tw.t.Helper()
	if _, err := tw.dbs[1].Exec(`DELETE FROM library_import_files`); err != nil {
		tw.t.Fatal(err)
	}
	before := tw.count.Count()
	sum := importAll(tw.t, tw.cls[0], src, opts)
	statements := tw.count.Count() - before
	ref := importAll(tw.t, tw.cls[1], src, opts)
	if got, want := summaryDigest(tw.t, tw.dbs[0], sum), summaryDigest(tw.t, tw.dbs[1], ref); got != want {
		tw.t.Errorf("%s: summary with skipping\n%s\nwithout\n%s", name, got, want)
	}
	if sameLibrary && libraryDigest(tw.t, tw.dbs[0]) != libraryDigest(tw.t, tw.dbs[1]) {
		tw.t.Errorf("%s: the library differs from the one imported without skipping", name)
	}
	tw.t.Logf("%s: %d statements; %d files, %d added, %d updated, %d unchanged, %d kept, %d failed, %d untagged", name, statements,
		sum.Files, sum.Added, sum.Updated, sum.Unchanged, sum.Kept, sum.Failed, len(sum.Untagged))
	return sum, statements
}

// skipped is the number of statements of an import that parsed nothing:
// the catalogue (3), the known files (1), their templates (1).
const skipped = 5

// TestReimportSkipsUnchangedFiles imports the real files, then again after
// each kind of change, with and without skipping known files: the
// summaries and the libraries are the same, an unchanged re-import reads
// five statements and writes nothing, and every change makes its file
// parsed again.
func TestReimportSkipsUnchangedFiles(t *testing.T) {
	tw := newTwins(t, true)
	src := realAtomics(t)
	first, _ := tw.step("first import", src, library.AtomicOptions{}, true)
	if first.Added != 433 {
		t.Fatalf("summary %+v, want 433 added", first)
	}
	if n := count(t, tw.dbs[0], `SELECT count(*) FROM library_import_files`); n != len(src) {
		t.Errorf("%d files known, want %d", n, len(src))
	}

	// The same library, re-imported with and without skipping: the same
	// summary, template IDs included.
	sum, statements := tw.step("re-import", src, library.AtomicOptions{}, true)
	if sum.Unchanged != 433 || sum.Files != 70 || len(sum.Untagged) != 13 || statements != skipped {
		t.Errorf("re-import: %d statements, summary %+v; want %d statements, 433 unchanged", statements, sum, skipped)
	}
	if _, err := tw.dbs[0].Exec(`DELETE FROM library_import_files`); err != nil {
		t.Fatal(err)
	}
	if full := importAll(t, tw.cls[0], src, library.AtomicOptions{}); !reflect.DeepEqual(full, sum) {
		t.Errorf("re-import parsing every file:\n%+v\nwith skipping:\n%+v", full, sum)
	}
	if n := count(t, tw.dbs[0], `SELECT count(*) FROM library_import_files`); n != len(src) {
		t.Errorf("%d files known after a re-import, want %d", n, len(src))
	}

	edit := `UPDATE test_templates SET cleanup = 'mine' WHERE external_ref = (
		SELECT external_ref FROM test_templates ORDER BY external_ref LIMIT 1)`
	tw.exec(edit)
	if sum, statements := tw.step("an edited template", src, library.AtomicOptions{}, true); sum.Kept != 1 || sum.Unchanged != 432 || statements <= skipped {
		t.Errorf("edited: %d statements, summary %+v; want its file parsed, 1 kept", statements, sum)
	}
	tw.exec(`UPDATE test_templates SET deleted_at = now() WHERE external_ref = (
		SELECT external_ref FROM test_templates ORDER BY external_ref DESC LIMIT 1)`)
	if sum, _ := tw.step("a deleted template", src, library.AtomicOptions{}, true); sum.Kept != 2 || sum.Unchanged != 431 {
		t.Errorf("deleted: summary %+v; want its file parsed, 2 kept", sum)
	}

	// One byte more in a test's name: its file is parsed and the test
	// updated; the file's former bytes are no longer known (the template
	// holds the new content), so importing them again updates it back.
	k := slices.IndexFunc(src, func(s library.Source) bool { return strings.Contains(s.Name, "T1012") })
	changed := slices.Clone(src)
	changed[k].Data = bytes.Replace(changed[k].Data, []byte("- name: "), []byte("- name: X"), 1)
	if sum, _ := tw.step("a changed file", changed, library.AtomicOptions{}, true); sum.Updated != 1 || sum.Kept != 2 {
		t.Errorf("changed: summary %+v; want 1 updated", sum)
	}
	if sum, _ := tw.step("the file as it was", src, library.AtomicOptions{}, true); sum.Updated != 1 || sum.Kept != 2 {
		t.Errorf("changed back: summary %+v; want 1 updated", sum)
	}

	// The catalogue gains a sub-technique that 7 untagged tests name: their
	// file is parsed, they are no longer reported untagged and get their
	// tag. (Without a known file the import cannot tell its tests were left
	// untagged rather than untagged by someone: the reference library keeps
	// them untagged, so only the summaries are compared.)
	tw.exec(`INSERT INTO mitre_subtechniques (stix_id, external_id, name, platforms, technique_id)
		SELECT 'attack-pattern--violet-test', 'T1685.002', 'Added by the test', '[]', id
		FROM mitre_techniques ORDER BY external_id LIMIT 1`)
	newer := strings.Count(string(src[slices.IndexFunc(src, func(s library.Source) bool {
		return strings.Contains(s.Name, "T1685.002")
	})].Data), "auto_generated_guid:")
	sum, _ = tw.step("a technique added to the catalogue", src, library.AtomicOptions{}, false)
	if len(sum.Untagged) != 13-newer || sum.Unchanged != 431 {
		t.Errorf("catalogue: %d untagged, summary %+v; want %d", len(sum.Untagged), sum, 13-newer)
	}
	tagged := `SELECT count(*) FROM test_template_mitre_tags g JOIN mitre_subtechniques s ON s.id = g.subtechnique_id
		WHERE s.external_id = 'T1685.002'`
	if n := count(t, tw.dbs[0], tagged); n != newer {
		t.Errorf("%d templates tagged T1685.002, want its file's %d tests", n, newer)
	}
	if _, statements := tw.step("re-import", src, library.AtomicOptions{}, false); statements <= skipped {
		t.Errorf("%d statements: the files with edited templates were skipped", statements)
	}

	// And loses it again: reported untagged again.
	tw.exec(`DELETE FROM test_template_mitre_tags WHERE subtechnique_id IN (
		SELECT id FROM mitre_subtechniques WHERE external_id = 'T1685.002')`)
	tw.exec(`DELETE FROM mitre_subtechniques WHERE external_id = 'T1685.002'`)
	if sum, _ := tw.step("a technique removed from the catalogue", src, library.AtomicOptions{}, true); len(sum.Untagged) != 13 {
		t.Errorf("catalogue: %d untagged, want 13", len(sum.Untagged))
	}

	// Overwrite parses every file: the edited and the deleted templates
	// are replaced; then everything is known again.
	if sum, statements := tw.step("overwrite", src, library.AtomicOptions{Overwrite: true}, true); sum.Updated != 2 || sum.Unchanged != 431 || statements <= skipped {
		t.Errorf("overwrite: %d statements, summary %+v; want 2 updated", statements, sum)
	}
	if sum, statements := tw.step("overwrite again", src, library.AtomicOptions{Overwrite: true}, true); sum.Unchanged != 433 || statements <= skipped {
		t.Errorf("overwrite again: %d statements, summary %+v; want every file parsed, 433 unchanged", statements, sum)
	}
	if sum, statements := tw.step("re-import at last", src, library.AtomicOptions{}, true); sum.Unchanged != 433 || statements != skipped {
		t.Errorf("re-import at last: %d statements, summary %+v; want %d statements, 433 unchanged", statements, sum, skipped)
	}
}

// TestTwoVersionsOfAFileInOneImport: a file known from an earlier import,
// given after a newer version of itself in the same import, is parsed (the
// newer one rewrote its templates) and writes them back, as without
// skipping; the same bytes given twice are imported as before.
func TestTwoVersionsOfAFileInOneImport(t *testing.T) {
	tw := newTwins(t, false)
	old := library.Source{Name: "T9999.001.yaml", Data: fixture(t)}
	newer := library.Source{Name: "newer/T9999.001.yaml", Data: bytes.Replace(old.Data, []byte("- name: "), []byte("- name: Newer "), 1)}
	tw.step("first import", []library.Source{old, old}, library.AtomicOptions{}, true)
	sum, _ := tw.step("newer then old", []library.Source{newer, old}, library.AtomicOptions{}, true)
	if sum.Updated != 2 {
		t.Errorf("summary %+v, want the test updated by the newer file and back by the old one", sum)
	}
	if sum, statements := tw.step("old again", []library.Source{old, old}, library.AtomicOptions{}, true); statements != skipped || sum.Unchanged != 4 {
		t.Errorf("old again: %d statements, summary %+v; want both copies skipped", statements, sum)
	}
	if sum, statements := tw.step("newer", []library.Source{newer}, library.AtomicOptions{}, true); sum.Updated != 1 || statements <= skipped {
		t.Errorf("newer: %d statements, summary %+v; want 1 updated", statements, sum)
	}
}

// BenchmarkAtomicReimport times re-imports of unchanged files, alternating
// one that skips the known files with one where skipping is impossible
// (library_import_files emptied, untimed, before it: the parse-every-file
// path, plus the writing of the files' rows), on the real set and on the
// scaled set (5 × the real files with fresh GUIDs: 350 files, 2,165 tests,
// as make bench scales it). It reports the median of each and their ratio:
// on a shared machine only times of the same run compare.
func BenchmarkAtomicReimport(b *testing.B) {
	sets := []struct {
		name string
		src  func(testing.TB) []library.Source
	}{{"real", realAtomics}, {"scaled", func(t testing.TB) []library.Source { return scaledAtomics(t, 5) }}}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			src := set.src(b)
			db, client, _ := openTraced(b)
			syncCatalogue(b, client)
			importAll(b, client, src, library.AtomicOptions{})
			var skip, parse []time.Duration
			for b.Loop() {
				start := time.Now()
				if sum := importAll(b, client, src, library.AtomicOptions{}); sum.Added+sum.Updated != 0 {
					b.Fatal(sum)
				}
				skip = append(skip, time.Since(start))
				b.StopTimer()
				if _, err := db.Exec(`DELETE FROM library_import_files`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start = time.Now()
				importAll(b, client, src, library.AtomicOptions{})
				parse = append(parse, time.Since(start))
			}
			median := func(d []time.Duration) float64 {
				d = slices.Clone(d)
				slices.Sort(d)
				return float64(d[len(d)/2]) / float64(time.Millisecond)
			}
			b.ReportMetric(median(skip), "ms/skip")
			b.ReportMetric(median(parse), "ms/parse-all")
			b.ReportMetric(median(parse)/median(skip), "x")
		})
	}
}
