package libraryimport_test

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"violet/internal/auth/rule"
	"violet/internal/libraryimport"
	"violet/internal/testkit/testdb"
)

const sigmaData = "../../../shared/data/sigma"

// TestSigmaImportJob: a Sigma import job (as the command line runs it)
// of SigmaHQ's folder adds every rule once and finishes succeeded, kind
// sigma, with its summary and audit event; run again, everything is
// unchanged. Archives (.zip, .tar.gz) in SigmaHQ's layout are read
// (files outside its rules folders left out), and a folder without rules
// fails the job.
func TestSigmaImportJob(t *testing.T) {
	if _, err := os.Stat(sigmaData); err != nil {
		t.Skip("no ../shared/data/sigma beside the checkout")
	}
	db, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	run := func(files ...libraryimport.File) (libraryimport.Summary, string, error) {
		t.Helper()
		imp := &libraryimport.Job{Client: client, DB: db, Now: time.Now, Source: files[0].Name, Files: files, Sigma: true}
		row, err := imp.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := imp.Run(ctx, row)
		var kind, status string
		if err := db.QueryRow(`SELECT kind, status FROM import_jobs WHERE id = $1`, row.ID).Scan(&kind, &status); err != nil || kind != "sigma" {
			t.Errorf("job kind %q (%v), want sigma", kind, err)
		}
		return sum, status, err
	}
	sum, status, err := run(libraryimport.File{Name: "sigma", Path: sigmaData, Dir: true})
	if err != nil || status != "succeeded" || sum.Files != 418 || sum.Added != 418 || sum.Failed != 0 {
		t.Fatalf("first import: %s %+v %v, want 418 added", status, sum, err)
	}
	if n := count(t, db, `SELECT count(*) FROM audit_events WHERE action = 'library.imported' AND details->>'kind' = 'sigma' AND (details->>'added')::int = 418`); n != 1 {
		t.Errorf("%d audit events of the import, want 1", n)
	}
	sum, status, err = run(libraryimport.File{Name: "sigma", Path: sigmaData, Dir: true})
	if err != nil || status != "succeeded" || sum.Unchanged != 418 || sum.Added+sum.Updated != 0 {
		t.Errorf("second import: %s %+v %v, want 418 unchanged", status, sum, err)
	}

	// Archives in SigmaHQ's layout: two rules under rules/, and a YAML
	// file of the repository that is no rule.
	matches, _ := filepath.Glob(filepath.Join(sigmaData, "rules/linux/process_creation/*.yml"))
	if len(matches) == 0 {
		t.Fatal("no rules/linux/process_creation/*.yml")
	}
	rule1, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	own := strings.Replace(string(rule1), "\nid: ", "\nid: 5f0c7a4e-0000-4000-8000-00000000000a\nold_id: ", 1)
	entries := map[string]string{
		"sigma-master/rules/linux/own.yml":        own,
		"sigma-master/rules/linux/known.yml":      string(rule1),
		"sigma-master/.github/workflows/test.yml": "name: tests\non: push\n",
		"sigma-master/rules/linux/README.md":      "not yaml",
	}
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "sigma.zip")
	zf, _ := os.Create(zipPath)
	zw := zip.NewWriter(zf)
	for name, body := range entries {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	zw.Close()
	zf.Close()
	sum, status, err = run(libraryimport.File{Name: "sigma.zip", Path: zipPath})
	if err != nil || status != "succeeded" || sum.Files != 2 || sum.Added != 1 || sum.Unchanged != 1 {
		t.Errorf("zip: %s %+v %v, want 2 files: 1 added, 1 unchanged", status, sum, err)
	}
	tgzPath := filepath.Join(dir, "sigma.tar.gz")
	tf, _ := os.Create(tgzPath)
	gz := gzip.NewWriter(tf)
	tw := tar.NewWriter(gz)
	for name, body := range entries {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	tf.Close()
	sum, status, err = run(libraryimport.File{Name: "sigma.tar.gz", Path: tgzPath})
	if err != nil || status != "succeeded" || sum.Files != 2 || sum.Unchanged != 2 {
		t.Errorf("tar.gz: %s %+v %v, want 2 unchanged", status, sum, err)
	}

	empty := t.TempDir()
	_, status, err = run(libraryimport.File{Name: "empty", Path: empty, Dir: true})
	if err == nil || status != "failed" || !strings.Contains(err.Error(), "no Sigma rule found") {
		t.Errorf("empty folder: %s %v, want failed", status, err)
	}
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("title: x\nid: [\n"), 0o644)
	sum, status, err = run(libraryimport.File{Name: "bad.yml", Path: bad})
	if err == nil || status != "failed" || len(sum.Failures) != 1 || !strings.HasPrefix(sum.Failures[0].Reason, "line ") {
		t.Errorf("bad file: %s %+v %v, want failed with the line", status, sum, err)
	}
}
