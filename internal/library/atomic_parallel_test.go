package library_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"violet/ent"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/library"
	"violet/internal/testkit/sqltrace"
	"violet/internal/testkit/testdb"
)

// openTraced is testdb.Open with every statement counted.
func openTraced(t testing.TB) (*sql.DB, *ent.Client, *sqltrace.Counter) {
	t.Helper()
	n := new(sqltrace.Counter)
	db, client, err := database.Open(testdb.URL(t), 10, database.WithConnector(n.Wrap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); db.Close() })
	return db, client, n
}

// libraryDigest fingerprints what an import leaves in the library,
// independently of the random IDs: per template its GUID, content,
// platforms, content hash, version, whether it is deleted and the ATT&CK
// IDs of its tags.
func libraryDigest(t testing.TB, db *sql.DB) string {
	t.Helper()
	var s sql.NullString
	err := db.QueryRow(`
		SELECT md5(string_agg(r, E'\n' ORDER BY r)) FROM (
			SELECT concat_ws('|', t.source, t.external_ref, t.name, t.description, t.procedure, t.prerequisites,
				t.cleanup, t.platforms::text, t.import_hash, t.version, t.deleted_at IS NULL, t.created_by_id,
				(SELECT string_agg(coalesce(ta.external_id, te.external_id, su.external_id), ',' ORDER BY 1)
				 FROM test_template_mitre_tags g
				 LEFT JOIN mitre_tactics ta ON ta.id = g.tactic_id
				 LEFT JOIN mitre_techniques te ON te.id = g.technique_id
				 LEFT JOIN mitre_subtechniques su ON su.id = g.subtechnique_id
				 WHERE g.test_template_id = t.id)) AS r
			FROM test_templates t) x`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s.String
}

// summaryDigest is a summary with its template IDs replaced by their
// GUIDs (IDs are random per database).
func summaryDigest(t testing.TB, db *sql.DB, s library.Summary) string {
	t.Helper()
	refs := map[string]string{}
	rows, err := db.Query(`SELECT id::text, external_ref FROM test_templates`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, ref string
		if err := rows.Scan(&id, &ref); err != nil {
			t.Fatal(err)
		}
		refs[id] = ref
	}
	guids := make([]string, len(s.Templates))
	for i, id := range s.Templates {
		guids[i] = refs[id.String()]
	}
	s.Templates = nil
	return fmt.Sprintf("%+v %v", s, guids)
}

// TestParallelImportMatchesSequential imports the scaled real set (with a
// broken file, a file the database refuses, a file given twice and a file for a technique the
// catalogue lacks among them) with the files parsed one at a time and four
// at a time: the library, the summaries
// and the progress reported are the same, and so after local edits, a
// changed file and re-imports with and without overwrite.
func TestParallelImportMatchesSequential(t *testing.T) {
	src := scaledAtomics(t, 5)
	broken := library.Source{Name: "broken.yaml", Data: []byte("attack_technique: [oops")}
	src = slices.Insert(src, 100, broken, src[40]) // a file again: its tests are found, not added twice
	src = append(src, library.Source{Name: "T9999.001.yaml", Data: fixture(t)})
	// A file that parses but that the database refuses (a name too long
	// for its column): its batch is written again file by file.
	src[200].Data = bytes.Replace(src[200].Data, []byte("- name: "), []byte("- name: "+strings.Repeat("x", 400)), 1)
	type importer func(context.Context, *ent.Client, []library.Source, library.AtomicOptions) (library.Summary, error)
	parallel := func(n int) importer {
		return func(ctx context.Context, c *ent.Client, s []library.Source, o library.AtomicOptions) (library.Summary, error) {
			o.Parallel = n
			return library.ImportAtomic(ctx, c, s, o)
		}
	}
	ways := []struct {
		name string
		run  importer
	}{{"sequential", parallel(1)}, {"parallel", parallel(4)}}
	type library_ struct {
		db     *sql.DB
		client *ent.Client
	}
	libs := make([]library_, len(ways))
	for i := range ways {
		db, client, _ := testdb.Open(t)
		syncCatalogue(t, client)
		libs[i] = library_{db, client}
	}
	step := func(name string, src []library.Source, opts library.AtomicOptions, prepare string) {
		t.Helper()
		var want, wantSum, wantProgress string
		for i, w := range ways {
			if prepare != "" {
				if _, err := libs[i].db.Exec(prepare); err != nil {
					t.Fatal(err)
				}
			}
			var progress []int
			opts.Progress = func(done, total int) {
				if total != len(src) {
					t.Errorf("%s, %s: progress out of %d, want %d", name, w.name, total, len(src))
				}
				progress = append(progress, done)
			}
			sum, err := w.run(rule.SystemContext(context.Background()), libs[i].client, src, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, gotSum, gotProgress := libraryDigest(t, libs[i].db), summaryDigest(t, libs[i].db, sum), fmt.Sprint(progress)
			if i == 0 {
				want, wantSum, wantProgress = got, gotSum, gotProgress
				t.Logf("%s: %d files, %d added, %d updated, %d unchanged, %d kept, %d failed, %d untagged", name,
					sum.Files, sum.Added, sum.Updated, sum.Unchanged, sum.Kept, sum.Failed, len(sum.Untagged))
				if len(progress) != len(src) || !slices.IsSorted(progress) || progress[len(progress)-1] != len(src) {
					t.Errorf("%s: progress %v, want each file once, in order", name, progress)
				}
				continue
			}
			if got != want {
				t.Errorf("%s: the library %s differs from the sequential one", name, w.name)
			}
			if gotSum != wantSum {
				t.Errorf("%s: summary %s\n%s\nwant the sequential one\n%s", name, w.name, gotSum, wantSum)
			}
			if gotProgress != wantProgress {
				t.Errorf("%s: progress %s %s, want %s", name, w.name, gotProgress, wantProgress)
			}
		}
	}
	step("first import", src, library.AtomicOptions{}, "")
	step("re-import", src, library.AtomicOptions{}, "")
	changed := slices.Clone(src)
	changed[7].Data = bytes.Replace(changed[7].Data, []byte("- name: "), []byte("- name: Changed "), 1)
	edit := `UPDATE test_templates SET cleanup = 'mine' WHERE external_ref IN (
		SELECT external_ref FROM test_templates ORDER BY external_ref LIMIT 3);
		UPDATE test_templates SET deleted_at = now() WHERE external_ref IN (
		SELECT external_ref FROM test_templates ORDER BY external_ref DESC LIMIT 2);
		DELETE FROM test_template_mitre_tags WHERE test_template_id IN (
		SELECT id FROM test_templates ORDER BY external_ref LIMIT 1)`
	step("local edits and a changed file", changed, library.AtomicOptions{}, edit)
	step("overwrite", changed, library.AtomicOptions{Overwrite: true}, "")
}
