package main

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"violet/internal/testkit/testdb"
)

// runAtomic runs `violet atomic ARGS…` the way run dispatches it.
func runAtomic(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := atomicCmd(ctx, envFor(env, &out, &errOut), args)
	return out.String(), err
}

func envFor(vars map[string]string, stdout, stderr *bytes.Buffer) env {
	return env{getenv: func(k string) string { return vars[k] }, stdout: stdout, stderr: stderr}
}

func TestAtomicImportCommand(t *testing.T) {
	dbURL := testdb.URL(t)
	vars := map[string]string{"DATABASE_URL": dbURL}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	templates := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM test_templates`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const fixtureDir = "../../internal/atomic/testdata"
	fixture, err := os.ReadFile(fixtureDir + "/T9999.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "T1234.yaml")
	if err := os.WriteFile(bad, []byte("attack_technique: [oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	escaping := filepath.Join(dir, "atomics.zip")
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("../T9999.yaml")
	w.Write(fixture)
	zw.Close()
	if err := os.WriteFile(escaping, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(wrong, fixture, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("a folder", func(t *testing.T) {
		out, err := runAtomic(t, vars, "import", fixtureDir)
		if err != nil || !strings.Contains(out, "1 files, 2 added, 0 updated, 0 unchanged, 0 kept, 0 failed") ||
			!strings.Contains(out, "untagged: ") {
			t.Errorf("%q %v", out, err)
		}
		if templates() != 2 {
			t.Errorf("%d templates, want 2", templates())
		}
	})
	t.Run("a file, again, with the flag after the path: nothing changes", func(t *testing.T) {
		out, err := runAtomic(t, vars, "import", fixtureDir+"/T9999.yaml", "--overwrite")
		if err != nil || !strings.Contains(out, "0 added, 0 updated, 2 unchanged") {
			t.Errorf("%q %v", out, err)
		}
	})
	failures := []struct {
		name string
		args []string
		want string
	}{
		{"a bad file", []string{"import", bad}, "no file could be imported"},
		{"an archive escaping its folder", []string{"import", escaping}, "escapes the archive's folder"},
		{"a missing path", []string{"import", "/nonexistent/atomics"}, "no such file"},
		{"a wrong extension", []string{"import", wrong}, "not a folder"},
		{"no path", []string{"import"}, "usage"},
		{"no subcommand", nil, "usage"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runAtomic(t, vars, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q (out %q)", err, tc.want, out)
			}
			if templates() != 2 {
				t.Error("the library changed")
			}
		})
	}
	t.Run("the bad file is listed", func(t *testing.T) {
		out, _ := runAtomic(t, vars, "import", bad)
		if !strings.Contains(out, "failed: T1234.yaml: ") {
			t.Errorf("%q", out)
		}
	})
	var ok, failed int
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed') FROM import_jobs WHERE started_by_id IS NULL`).Scan(&ok, &failed); err != nil {
		t.Fatal(err)
	}
	if ok != 2 || failed != 3 {
		t.Errorf("%d succeeded and %d failed imports recorded, want 2 and 3", ok, failed)
	}
}
