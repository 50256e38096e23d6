package attack_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"testing"
	"time"

	"violet/ent"
	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/testkit/sqltrace"
	"violet/internal/testkit/testdb"
)

const fullBundle = "enterprise-attack-17.1-full.json"

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

// fullCounts reads the bundle with a plain pass of its own, independent
// of the reader under test: the non-revoked tactics, techniques and
// sub-techniques, and how many tactics and attack patterns there are.
func fullCounts(t testing.TB, path string) (tactics, techniques, subs, all int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Objects []struct {
			Type    string `json:"type"`
			Revoked bool   `json:"revoked"`
			IsSub   bool   `json:"x_mitre_is_subtechnique"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	for _, o := range b.Objects {
		switch {
		case o.Type == "x-mitre-tactic":
			all++
			if !o.Revoked {
				tactics++
			}
		case o.Type == "attack-pattern":
			all++
			switch {
			case o.Revoked:
			case o.IsSub:
				subs++
			default:
				techniques++
			}
		}
	}
	return
}

// TestSyncFullBundle syncs MITRE's full Enterprise bundle (every object
// type) into an empty catalogue, checks what it holds against an
// independent pass over the JSON, then re-syncs it: nothing is written.
func TestSyncFullBundle(t *testing.T) {
	path := realBundle(t, fullBundle)
	wantTactics, wantTechniques, wantSubs, all := fullCounts(t, path)
	db, client, n := openTraced(t)

	counts, job, err := syncFile(t, client, path)
	if err != nil {
		t.Fatal(err)
	}
	if counts != (attack.Counts{Added: all}) || job.Added != all || job.AttackVersion != "17.1" {
		t.Errorf("first sync: counts %+v, job added %d version %q; want %d added, 17.1", counts, job.Added, job.AttackVersion, all)
	}
	ctx := context.Background()
	for _, c := range []struct {
		table string
		want  int
	}{{"mitre_tactics", wantTactics}, {"mitre_techniques", wantTechniques}, {"mitre_subtechniques", wantSubs}} {
		var got int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+c.table+` WHERE NOT revoked`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: %d not revoked, the bundle has %d", c.table, got, c.want)
		}
	}

	t.Run("re-sync writes nothing to the catalogue", func(t *testing.T) {
		stop := n.Record()
		counts, job, err := syncFile(t, client, path)
		recorded := stop()
		if err != nil {
			t.Fatal(err)
		}
		if counts != (attack.Counts{Unchanged: all}) || job.Unchanged != all {
			t.Errorf("re-sync: counts %+v, want %d unchanged", counts, all)
		}
		for _, s := range recorded {
			if catalogueWrite.MatchString(s.Query) {
				t.Errorf("the re-sync wrote to the catalogue: %s", s.Query)
			}
		}
	})
}

// catalogueWrite is a statement that writes to a catalogue table.
var catalogueWrite = regexp.MustCompile(`(?i)\b(insert\s+into|update|delete\s+from|copy|truncate)\s+"?mitre_`)

// BenchmarkSyncFull times, on the full Enterprise bundle, a recorded sync
// (read and write, as `violet attack sync` runs it) into an empty
// catalogue and an unchanged re-sync, of the file (hashed first, not
// parsed) and of a stream (a download: hashed as parsed). Run with
// -benchtime=1x -count=3.
func BenchmarkSyncFull(b *testing.B) {
	path := realBundle(b, fullBundle)
	_, _, _, all := fullCounts(b, path)
	var first, again, stream time.Duration
	for b.Loop() {
		b.StopTimer()
		_, client, _ := testdb.Open(b)
		b.StartTimer()
		start := time.Now()
		c, _, err := syncFile(b, client, path)
		if err != nil || c.Added != all {
			b.Fatal(c, err)
		}
		first = time.Since(start)
		start = time.Now()
		c, _, err = syncFile(b, client, path)
		if err != nil || c.Unchanged != all {
			b.Fatal(c, err)
		}
		again = time.Since(start)
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		c, _, err = syncReader(b, client, path, unseekable{f})
		stream = time.Since(start)
		f.Close()
		if err != nil || c.Unchanged != all {
			b.Fatal(c, err)
		}
	}
	b.ReportMetric(float64(first.Milliseconds()), "ms-first")
	b.ReportMetric(float64(again.Milliseconds()), "ms-resync")
	b.ReportMetric(float64(stream.Milliseconds()), "ms-resync-stream")
}

// unseekable hides its reader's Seek: it is read as a download is.
type unseekable struct{ io.Reader }

// BenchmarkReadFull times Read alone on the full Enterprise bundle.
func BenchmarkReadFull(b *testing.B) {
	raw, err := os.ReadFile(realBundle(b, fullBundle))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := attack.Read(bytes.NewReader(raw), attack.ReadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSyncUpgradeIsBatched: an upgrade to the next release changes nearly
// every entry (811 of 837 from 16.1 to 17.1); it is written with a few
// statements per kind, not one per entry (it was 1,634).
func TestSyncUpgradeIsBatched(t *testing.T) {
	v16, v17 := realBundle(t, "enterprise-attack-16.1.json"), realBundle(t, "enterprise-attack-17.1.json")
	_, client, n := openTraced(t)
	ctx := rule.SystemContext(context.Background())
	sync := func(path string) (attack.Counts, int64) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := attack.Read(f, attack.ReadOptions{Version: attack.VersionFromName(path)})
		if err != nil {
			t.Fatal(err)
		}
		before := n.Count()
		var c attack.Counts
		if err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
			c, err = attack.Sync(ctx, tx, b, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return c, n.Count() - before
	}
	sync(v16)
	c, statements := sync(v17)
	if c.Updated+c.Revoked < 800 {
		t.Fatalf("counts %+v: the upgrade should change nearly every entry", c)
	}
	// The lock, 3 reads (techniques with their tactics: 2), one upsert
	// per kind, the technique tactics cleared and written.
	if statements > 10 {
		t.Errorf("the upgrade took %d statements, want ≤ 10 (one batched write per kind)", statements)
	}
}
