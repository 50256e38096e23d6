package attack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/testkit/sqltrace"
	"violet/internal/testkit/testdb"
)

// syncPath runs a recorded sync of the file at path as the command line
// and the upload do (Syncer.Sync of a file Source).
func syncPath(t testing.TB, client *ent.Client, path string) (attack.Counts, *ent.AttackSync, error) {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	s := attack.NewSyncer(client, nil, nil, nil, quiet)
	row, err := s.Begin(ctx, nil, filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := s.Sync(ctx, row, attack.Source{Path: path})
	row, jerr := client.AttackSync.Get(ctx, row.ID)
	if jerr != nil {
		t.Fatal(jerr)
	}
	return counts, row, err
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeTemp writes data to a file of the test's.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// touching lists the recorded statements that name a catalogue table.
func touching(recorded []sqltrace.Statement) []string {
	var out []string
	for _, s := range recorded {
		if strings.Contains(strings.ToLower(s.Query), "mitre_") {
			out = append(out, s.Query)
		}
	}
	return out
}

// TestResyncUnchangedFullBundle: the full 17.1 bundle synced, then again
// from the file (hashed first, never parsed: no statement touches the
// catalogue) and from a stream (hashed as parsed: nothing compared or
// written). Both report every entry unchanged, as the full compare does,
// and keep the file's SHA-256. A bundle one byte different is compared
// and applied.
func TestResyncUnchangedFullBundle(t *testing.T) {
	path := realBundle(t, fullBundle)
	_, _, _, all := fullCounts(t, path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, client, n := openTraced(t)

	counts, row, err := syncPath(t, client, path)
	if err != nil {
		t.Fatal(err)
	}
	if counts != (attack.Counts{Added: all}) || row.BundleSha256 != sha(raw) {
		t.Fatalf("first sync: %+v, hash %q, want %d added and the file's hash %s", counts, row.BundleSha256, all, sha(raw))
	}
	before := catalogue(t, db)

	for _, tc := range []struct {
		name string
		sync func() (attack.Counts, *ent.AttackSync, error)
	}{
		{"from the file", func() (attack.Counts, *ent.AttackSync, error) { return syncPath(t, client, path) }},
		{"from a stream", func() (attack.Counts, *ent.AttackSync, error) {
			return syncReader(t, client, filepath.Base(path), unseekable{bytes.NewReader(raw)})
		}},
	} {
		t.Run("re-sync "+tc.name+" touches nothing", func(t *testing.T) {
			stop := n.Record()
			counts, row, err := tc.sync()
			recorded := stop()
			if err != nil {
				t.Fatal(err)
			}
			if counts != (attack.Counts{Unchanged: all}) {
				t.Errorf("counts %+v, want %d unchanged", counts, all)
			}
			if row.Status != attacksync.StatusSucceeded || row.Unchanged != all || row.Added+row.Updated+row.Revoked != 0 ||
				row.AttackVersion != "17.1" || row.BundleSha256 != sha(raw) || row.Progress != 100 || row.FinishedAt == nil {
				t.Errorf("sync row %+v", row)
			}
			if got := touching(recorded); len(got) > 0 {
				t.Errorf("the re-sync read or wrote the catalogue: %q", got)
			}
			if after := catalogue(t, db); after != before {
				t.Error("the catalogue changed")
			}
		})
	}

	t.Run("one byte different is applied", func(t *testing.T) {
		changed := bytes.Replace(raw, []byte(`"name": "Command and Scripting Interpreter"`),
			[]byte(`"name": "Command and Scripting Interpretex"`), 1)
		if len(changed) != len(raw) || bytes.Equal(changed, raw) {
			t.Fatal("the technique's name is not in the bundle")
		}
		counts, row, err := syncPath(t, client, writeTemp(t, "enterprise-attack-17.1-full.json", changed))
		if err != nil {
			t.Fatal(err)
		}
		if counts != (attack.Counts{Updated: 1, Unchanged: all - 1}) || row.BundleSha256 != sha(changed) {
			t.Errorf("counts %+v, hash %q; want 1 updated and the new file's hash", counts, row.BundleSha256)
		}
		if got := count(t, db, `SELECT count(*) FROM mitre_techniques WHERE external_id = 'T1059' AND name = 'Command and Scripting Interpretex'`); got != 1 {
			t.Error("the new name is not in the catalogue")
		}
		// And back: the last sync is the changed one, so the original
		// bundle is compared again, not skipped.
		counts, _, err = syncPath(t, client, path)
		if err != nil || counts != (attack.Counts{Updated: 1, Unchanged: all - 1}) {
			t.Errorf("back to the original: %+v (%v), want 1 updated", counts, err)
		}
		if got := count(t, db, `SELECT count(*) FROM mitre_techniques WHERE external_id = 'T1059' AND name = 'Command and Scripting Interpreter'`); got != 1 {
			t.Error("the original name is not back")
		}
	})
}

// TestResyncComparesWithTheLastSuccess: only the last successful sync's
// hash lets a sync skip; failed syncs keep no hash and do not count.
func TestResyncComparesWithTheLastSuccess(t *testing.T) {
	db, client, _ := testdb.Open(t)
	mini, err := os.ReadFile("testdata/mini-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	renamed := []byte(mutate(t, func(objects []map[string]any) []map[string]any {
		find(objects, "T1001")["name"] = "Renamed"
		return objects
	}))
	miniPath, renamedPath := writeTemp(t, "mini.json", mini), writeTemp(t, "renamed.json", renamed)

	if c, row, err := syncPath(t, client, miniPath); err != nil || c.Added != 10 || row.BundleSha256 != sha(mini) {
		t.Fatalf("first sync: %+v %q (%v)", c, row.BundleSha256, err)
	}

	t.Run("a failed sync keeps no hash and does not count", func(t *testing.T) {
		bad := writeTemp(t, "bad.json", []byte(`{"type":"bundle","objects":[{"type":"attack-pattern"}]}`))
		if _, row, err := syncPath(t, client, bad); err == nil || row.Status != attacksync.StatusFailed || row.BundleSha256 != "" {
			t.Errorf("bad bundle: %s hash %q (%v)", row.Status, row.BundleSha256, err)
		}
		// The same bundle as the last success, while another sync holds
		// the lock: it fails, and keeps no hash.
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_lock($1)`, int64(0x76696f6c65742d61)); err != nil {
			t.Fatal(err)
		}
		_, row, err := syncPath(t, client, miniPath)
		conn.Close()
		if !errors.Is(err, attack.ErrSyncRunning) || row.Status != attacksync.StatusFailed || row.BundleSha256 != "" {
			t.Errorf("locked out: %s hash %q (%v)", row.Status, row.BundleSha256, err)
		}
		// The last success is still the first sync: skipped.
		if c, row, err := syncPath(t, client, miniPath); err != nil || c != (attack.Counts{Unchanged: 10}) || row.BundleSha256 != sha(mini) {
			t.Errorf("after failures: %+v %q (%v), want 10 unchanged", c, row.BundleSha256, err)
		}
	})

	t.Run("another bundle in between is undone", func(t *testing.T) {
		if c, _, err := syncPath(t, client, renamedPath); err != nil || c != (attack.Counts{Updated: 1, Unchanged: 9}) {
			t.Fatalf("renamed: %+v (%v)", c, err)
		}
		if c, row, err := syncPath(t, client, miniPath); err != nil || c != (attack.Counts{Updated: 1, Unchanged: 9}) || row.BundleSha256 != sha(mini) {
			t.Errorf("the first bundle again: %+v %q (%v), want its rename undone", c, row.BundleSha256, err)
		}
		if got := count(t, db, `SELECT count(*) FROM mitre_techniques WHERE external_id = 'T1001' AND name = 'Renamed'`); got != 0 {
			t.Error("the renamed entry kept the other bundle's name")
		}
	})

	t.Run("a stream past the bundle's size bound keeps no hash", func(t *testing.T) {
		// Trailing bytes after the closing brace are ignored by Read,
		// hashed up to the bound, and a longer stream keeps no sum.
		tail := io.LimitReader(spaces{}, attack.MaxBundleBytes)
		c, row, err := syncReader(t, client, "mini.json", io.MultiReader(bytes.NewReader(mini), tail))
		if err != nil || c != (attack.Counts{Unchanged: 10}) || row.BundleSha256 != "" {
			t.Errorf("%+v %q (%v), want a full compare and no hash", c, row.BundleSha256, err)
		}
	})
}

// spaces is an endless stream of spaces.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
