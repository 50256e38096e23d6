package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"violet/internal/testkit/testdb"
)

// runSigma runs `violet sigma ARGS…` through run, as the shell does.
func runSigma(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	e := envFor(vars, &out, &errOut)
	err := run(ctx, append([]string{"violet", "sigma"}, args...), e.getenv, e.stdout, e.stderr)
	return out.String(), err
}

// TestSigmaImportCommand: `violet sigma import` of SigmaHQ's rules prints
// every rule added, then unchanged the second time; a bad rule file fails
// the command, named with its line; a wrong call prints the usage.
func TestSigmaImportCommand(t *testing.T) {
	const data = "../../../shared/data/sigma"
	if _, err := os.Stat(data); err != nil {
		t.Skip("no ../shared/data/sigma beside the checkout")
	}
	vars := map[string]string{"DATABASE_URL": testdb.URL(t)}
	out, err := runSigma(t, vars, "import", data)
	if err != nil || !strings.Contains(out, "Sigma rules imported from sigma: 418 files, 418 added, 0 updated, 0 unchanged, 0 kept, 0 failed") {
		t.Errorf("first: %q %v", out, err)
	}
	out, err = runSigma(t, vars, "import", data)
	if err != nil || !strings.Contains(out, "418 files, 0 added, 0 updated, 418 unchanged") {
		t.Errorf("second: %q %v", out, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("title: x\nid: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runSigma(t, vars, "import", bad)
	if err == nil || !strings.Contains(out, "failed: bad.yml: line 2: ") {
		t.Errorf("bad file: %q %v", out, err)
	}
	for _, args := range [][]string{{}, {"export", data}, {"import"}, {"import", data, "extra"}} {
		if _, err := runSigma(t, vars, args...); err == nil || !strings.Contains(err.Error(), "usage: violet sigma import PATH") {
			t.Errorf("%v: %v, want the usage", args, err)
		}
	}
	if _, err := runSigma(t, vars, "import", filepath.Join(data, "LICENSE")); err == nil {
		t.Error("a licence file was taken for rules")
	}
}
