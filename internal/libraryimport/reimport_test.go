package libraryimport_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"violet/internal/auth/rule"
	"violet/internal/library"
	"violet/internal/libraryimport"
	"violet/internal/testkit/testdb"
)

// atomics is the real Atomic Red Team folder beside the checkout.
const atomics = "../../../shared/data/atomic-red-team/atomics"

// runJob begins and runs an import job as the command line does.
func runJob(t *testing.T, imp *libraryimport.Job) libraryimport.Summary {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	row, err := imp.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := imp.Run(ctx, row)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// templateStamps lists every template's id, version and updated_at: what
// an import that rewrote a template would change.
func templateStamps(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query(`SELECT id::text, version || '@' || updated_at::text FROM test_templates`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, stamp string
		if err := rows.Scan(&id, &stamp); err != nil {
			t.Fatal(err)
		}
		out[id] = stamp
	}
	return out
}

// changedStamps counts the templates whose stamp differs between two
// snapshots.
func changedStamps(before, after map[string]string) int {
	n := 0
	for id, s := range after {
		if before[id] != s {
			n++
		}
	}
	return n
}

// TestReimportTouchesOnlyChangedTemplates: re-importing the real Atomic
// Red Team files, or the library's own export as a library document,
// rewrites no template (versions and updated_at kept, all counted
// unchanged); changing one template in the input updates exactly that
// one.
func TestReimportTouchesOnlyChangedTemplates(t *testing.T) {
	if _, err := os.Stat(atomics); err != nil {
		t.Skip("no Atomic Red Team files beside the checkout:", err)
	}
	db, client, _ := testdb.Open(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(atomics)); err != nil {
		t.Fatal(err)
	}
	atomicJob := func() *libraryimport.Job {
		return &libraryimport.Job{Client: client, DB: db, Now: time.Now, Source: "atomics",
			Files: []libraryimport.File{{Name: "atomics", Path: dir, Dir: true}}}
	}
	first := runJob(t, atomicJob())
	if first.Added < 400 || first.Failed != 0 {
		t.Fatalf("first import %+v, want some 440 templates added", first)
	}
	n := first.Added
	before := templateStamps(t, db)

	t.Run("atomic files unchanged", func(t *testing.T) {
		sum := runJob(t, atomicJob())
		if sum.Updated != 0 || sum.Added != 0 || sum.Unchanged != n {
			t.Errorf("re-import %+v, want 0 updated, 0 added, %d unchanged", sum, n)
		}
		if c := changedStamps(before, templateStamps(t, db)); c != 0 {
			t.Errorf("%d templates got a new version or date, want none", c)
		}
	})

	t.Run("one atomic test changed", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dir, "T*", "T*.yaml"))
		slices.Sort(files)
		data, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		firstName := regexp.MustCompile(`(?m)^- name: (.*)$`)
		loc := firstName.FindSubmatchIndex(data)
		if loc == nil {
			t.Fatalf("%s: no test name found", files[0])
		}
		changed := slices.Concat(data[:loc[3]], []byte(" (changed here)"), data[loc[3]:])
		if err := os.WriteFile(files[0], changed, 0o600); err != nil {
			t.Fatal(err)
		}
		sum := runJob(t, atomicJob())
		if sum.Updated != 1 || sum.Added != 0 || sum.Unchanged != n-1 {
			t.Errorf("re-import %+v, want 1 updated, %d unchanged", sum, n-1)
		}
		after := templateStamps(t, db)
		if c := changedStamps(before, after); c != 1 {
			t.Errorf("%d templates got a new version or date, want 1", c)
		}
		before = after
	})

	ctx := rule.SystemContext(context.Background())
	data, err := library.Export(ctx, client, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	docJob := func(doc *library.Document) *libraryimport.Job {
		return &libraryimport.Job{Client: client, DB: db, Now: time.Now, Source: "library.yaml", Document: doc}
	}
	t.Run("library document unchanged", func(t *testing.T) {
		doc, err := library.ParseDocument(data)
		if err != nil {
			t.Fatal(err)
		}
		// Platforms in another order are the same platforms.
		for i := range doc.Templates {
			slices.Reverse(doc.Templates[i].Platforms)
		}
		sum := runJob(t, docJob(doc))
		if sum.Updated != 0 || sum.Added != 0 || sum.Unchanged != n {
			t.Errorf("document import %+v, want 0 updated, 0 added, %d unchanged", sum, n)
		}
		if c := changedStamps(before, templateStamps(t, db)); c != 0 {
			t.Errorf("%d templates got a new version or date, want none", c)
		}
	})

	t.Run("one document template changed", func(t *testing.T) {
		doc, err := library.ParseDocument(data)
		if err != nil {
			t.Fatal(err)
		}
		doc.Templates[7].Cleanup += "\nRemove the file."
		sum := runJob(t, docJob(doc))
		if sum.Updated != 1 || sum.Added != 0 || sum.Unchanged != n-1 {
			t.Errorf("document import %+v, want 1 updated, %d unchanged", sum, n-1)
		}
		after := templateStamps(t, db)
		if c := changedStamps(before, after); c != 1 {
			t.Errorf("%d templates got a new version or date, want 1", c)
		}
		var cleanup string
		if err := db.QueryRow(`SELECT cleanup FROM test_templates WHERE id = $1`, doc.Templates[7].ID).Scan(&cleanup); err != nil || cleanup != doc.Templates[7].Cleanup {
			t.Errorf("cleanup %q (%v), want the document's", cleanup, err)
		}
	})
}
