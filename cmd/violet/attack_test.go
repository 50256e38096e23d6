package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"violet/internal/testkit/testdb"
)

func TestAttackSyncCommand(t *testing.T) {
	dbURL := testdb.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"type":"bundle","objects":[{"type":"attack-pattern"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	techniques := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM mitre_techniques`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("from a file", func(t *testing.T) {
		out, _, err := runCmd(t, env, "attack", "sync", "--file", "../../internal/attack/testdata/mini-bundle.json")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if last := lines[len(lines)-1]; !strings.Contains(last, "ATT&CK 99.1 synced from mini-bundle.json: 10 added, 0 updated") {
			t.Errorf("summary %q", last)
		}
		if techniques() != 4 {
			t.Errorf("%d techniques, want 4", techniques())
		}
	})
	t.Run("again changes nothing", func(t *testing.T) {
		out, _, err := runCmd(t, env, "attack", "sync", "--file", "../../internal/attack/testdata/mini-bundle.json")
		if err != nil || !strings.Contains(out, "0 added, 0 updated, 0 revoked or deprecated, 10 unchanged") {
			t.Errorf("%q %v", out, err)
		}
	})
	failures := []struct {
		name string
		args []string
		want string
	}{
		{"a bad bundle", []string{"--file", bad}, "has no type or no id"},
		{"a missing file", []string{"--file", "/nonexistent/bundle.json"}, "no such file"},
		{"an unreachable URL", []string{"--url", "http://127.0.0.1:9/enterprise-attack.json"}, "cannot download"},
		{"neither file nor URL", nil, "exactly one of"},
		{"both", []string{"--file", bad, "--url", "http://x"}, "exactly one of"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCmd(t, env, append([]string{"attack", "sync"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(out, "synced") {
				t.Errorf("printed a summary: %q", out)
			}
			if techniques() != 4 {
				t.Error("the catalogue changed")
			}
		})
	}
	var failed int
	if err := db.QueryRow(`SELECT count(*) FROM attack_syncs WHERE status = 'failed'`).Scan(&failed); err != nil || failed != 3 {
		t.Errorf("%d failed syncs recorded (%v), want the 3 that got as far as starting", failed, err)
	}
}
