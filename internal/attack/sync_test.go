package attack_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// syncFile runs a recorded sync of the file at path, as the CLI does.
func syncFile(t testing.TB, client *ent.Client, path string) (attack.Counts, *ent.AttackSync, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return syncReader(t, client, path, f)
}

func syncReader(t testing.TB, client *ent.Client, name string, r io.Reader) (attack.Counts, *ent.AttackSync, error) {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	s := attack.NewSyncer(client, nil, nil, nil, quiet)
	job, err := s.Begin(ctx, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := s.Run(ctx, job, r, -1, attack.VersionFromName(name), attack.PhaseRead)
	job, jerr := client.AttackSync.Get(ctx, job.ID)
	if jerr != nil {
		t.Fatal(jerr)
	}
	return counts, job, err
}

// catalogue is a fingerprint of everything the sync writes.
func catalogue(t testing.TB, db *sql.DB) string {
	t.Helper()
	var out []string
	for _, table := range []string{"mitre_tactics", "mitre_techniques", "mitre_subtechniques", "mitre_technique_tactics"} {
		var sum sql.NullString
		if err := db.QueryRow(`SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM ` + table + ` x`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		out = append(out, table+"="+sum.String)
	}
	return strings.Join(out, " ")
}

func count(t testing.TB, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestSyncFixture(t *testing.T) {
	db, client, _ := testdb.Open(t)
	counts, job, err := syncFile(t, client, "testdata/mini-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	if counts != (attack.Counts{Added: 10}) {
		t.Errorf("counts %+v, want 10 added", counts)
	}
	if job.Status != attacksync.StatusSucceeded || job.Added != 10 || job.AttackVersion != "99.1" || job.Progress != 100 || job.FinishedAt == nil {
		t.Errorf("job %+v", job)
	}
	checks := []struct {
		name, query string
		want        int
	}{
		{"tactics", `SELECT count(*) FROM mitre_tactics`, 3},
		{"matrix order", `SELECT count(*) FROM mitre_tactics WHERE (external_id, position) IN (('TA0001',0),('TA0002',1),('TA0003',2))`, 3},
		{"techniques", `SELECT count(*) FROM mitre_techniques`, 4},
		{"sub-techniques", `SELECT count(*) FROM mitre_subtechniques`, 3},
		{"T1002 in two tactics", `SELECT count(*) FROM mitre_technique_tactics mt JOIN mitre_techniques t ON t.id = mt.technique_id
			JOIN mitre_tactics a ON a.id = mt.tactic_id WHERE t.external_id = 'T1002' AND a.shortname IN ('execution','persistence')`, 2},
		{"sub-technique parents", `SELECT count(*) FROM mitre_subtechniques s JOIN mitre_techniques t ON t.id = s.technique_id
			WHERE substring(s.external_id for 5) = t.external_id`, 3},
		{"revoked flagged with replacement", `SELECT count(*) FROM mitre_techniques WHERE external_id = 'T1003' AND revoked
			AND revoked_by_stix_id = 'attack-pattern--00000000-0000-0000-0000-000000000066'`, 1},
		{"deprecated flagged", `SELECT count(*) FROM mitre_techniques WHERE external_id = 'T1004' AND deprecated`, 1},
		{"version recorded", `SELECT count(*) FROM mitre_techniques WHERE attack_version = '99.1'`, 4},
		{"audited", `SELECT count(*) FROM audit_events WHERE action = 'attack.synced' AND details->>'added' = '10'`, 1},
	}
	for _, c := range checks {
		if got := count(t, db, c.query); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestSyncRealBundles is issue 4's real-data scenario: 16.1 into an empty
// catalogue, again (nothing changes), then 17.1 (renames updated, newly
// revoked flagged, nothing deleted, tags on revoked entries kept).
func TestSyncRealBundles(t *testing.T) {
	v16, v17 := realBundle(t, "enterprise-attack-16.1.json"), realBundle(t, "enterprise-attack-17.1.json")
	db, client, _ := testdb.Open(t)

	counts, _, err := syncFile(t, client, v16)
	if err != nil {
		t.Fatal(err)
	}
	if counts != (attack.Counts{Added: 14 + 343 + 456}) {
		t.Errorf("16.1 into an empty catalogue: %+v", counts)
	}
	for table, want := range map[string]int{"mitre_tactics": 14, "mitre_techniques": 343, "mitre_subtechniques": 456} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}

	// A template tagged with the technique that 17.1 revokes.
	var template string
	if err := db.QueryRow(`INSERT INTO test_templates (name, platforms) VALUES ('Side-load a DLL', '[]') RETURNING id`).Scan(&template); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id)
		SELECT $1, id FROM mitre_subtechniques WHERE name = 'DLL Side-Loading'`, template); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM test_template_mitre_tags`); n != 1 {
		t.Fatalf("tag not made (%d rows)", n)
	}

	t.Run("re-sync of the same bundle changes nothing", func(t *testing.T) {
		before := catalogue(t, db)
		counts, _, err := syncFile(t, client, v16)
		if err != nil {
			t.Fatal(err)
		}
		if counts != (attack.Counts{Unchanged: 813}) {
			t.Errorf("counts %+v, want 813 unchanged", counts)
		}
		if after := catalogue(t, db); after != before {
			t.Error("rows were rewritten by a sync that changed nothing")
		}
	})

	t.Run("upgrade to 17.1", func(t *testing.T) {
		counts, job, err := syncFile(t, client, v17)
		if err != nil {
			t.Fatal(err)
		}
		if counts.Added != 24 || counts.Revoked < 1 || counts.Updated == 0 ||
			counts.Added+counts.Updated+counts.Revoked+counts.Unchanged != 837 {
			t.Errorf("counts %+v: want 24 added, some updated, the newly revoked counted, 837 in all", counts)
		}
		if job.AttackVersion != "17.1" {
			t.Errorf("job version %q", job.AttackVersion)
		}
		for table, want := range map[string]int{"mitre_tactics": 14, "mitre_techniques": 351, "mitre_subtechniques": 472} {
			if n := count(t, db, `SELECT count(*) FROM `+table); n != want {
				t.Errorf("%s: %d rows, want %d (nothing deleted)", table, n, want)
			}
		}
		if n := count(t, db, `SELECT count(*) FROM mitre_techniques WHERE name = 'Match Legitimate Resource Name or Location'
			AND external_id = 'T1036.005'`) + count(t, db, `SELECT count(*) FROM mitre_subtechniques WHERE name = 'Match Legitimate Resource Name or Location'`); n != 1 {
			t.Error("a renamed entry does not carry its new name")
		}
		if n := count(t, db, `SELECT count(*) FROM mitre_subtechniques WHERE name = 'DLL Side-Loading' AND revoked AND revoked_by_stix_id <> ''`); n != 1 {
			t.Error("DLL Side-Loading is not flagged revoked with its replacement")
		}
		if n := count(t, db, `SELECT count(*) FROM test_template_mitre_tags g JOIN mitre_subtechniques s ON s.id = g.subtechnique_id
			WHERE s.name = 'DLL Side-Loading'`); n != 1 {
			t.Error("the template's tag on the revoked entry is gone")
		}
		// Entries 17.1 left alone keep the release they last changed in.
		if n := count(t, db, `SELECT (SELECT count(*) FROM mitre_tactics WHERE attack_version = '16.1')
			+ (SELECT count(*) FROM mitre_techniques WHERE attack_version = '16.1')
			+ (SELECT count(*) FROM mitre_subtechniques WHERE attack_version = '16.1')`); n != counts.Unchanged {
			t.Errorf("%d entries still at 16.1, want the %d unchanged", n, counts.Unchanged)
		}
	})
}

// TestBadInputLeavesCatalogueUnchanged: every bad input fails its job with
// a message naming the problem and changes nothing.
func TestBadInputLeavesCatalogueUnchanged(t *testing.T) {
	db, client, _ := testdb.Open(t)
	if _, _, err := syncFile(t, client, "testdata/mini-bundle.json"); err != nil {
		t.Fatal(err)
	}
	before := catalogue(t, db)
	cases := badBundles(t)
	cases = append(cases, struct{ name, body, want string }{"200 MB of junk", "", "not JSON"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tc.body)
			if tc.name == "200 MB of junk" {
				r = &junk{left: 200 << 20}
			}
			_, job, err := syncReader(t, client, "bad.json", r)
			if err == nil {
				t.Fatal("sync succeeded")
			}
			if job.Status != attacksync.StatusFailed || !strings.Contains(job.Error, tc.want) || job.FinishedAt == nil {
				t.Errorf("job status %s error %q, want failed mentioning %q", job.Status, job.Error, tc.want)
			}
			if after := catalogue(t, db); after != before {
				t.Error("the catalogue changed")
			}
		})
	}
}

// TestOneSyncAtATime: while another sync holds the lock, a sync fails at
// once with a clear message and changes nothing.
func TestOneSyncAtATime(t *testing.T) {
	db, client, _ := testdb.Open(t)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(0x76696f6c65742d61)); err != nil {
		t.Fatal(err)
	}
	_, job, err := syncFile(t, client, "testdata/mini-bundle.json")
	if !errors.Is(err, attack.ErrSyncRunning) || !strings.Contains(job.Error, "another ATT&CK sync is running") {
		t.Errorf("err %v, job error %q", err, job.Error)
	}
	if n := count(t, db, `SELECT count(*) FROM mitre_techniques`); n != 0 {
		t.Errorf("%d techniques written while the lock was held", n)
	}
	t.Run("jobs are reaped only when their lock is free", func(t *testing.T) {
		sys := rule.SystemContext(ctx)
		// A row left running by a process that is gone: nobody holds
		// its lock.
		stale := client.AttackSync.Create().SetSource("old").SaveX(sys)
		s := attack.NewSyncer(client, db, nil, nil, quiet)
		live, err := s.Begin(sys, nil, "live")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.Reap(sys); err != nil || n != 1 {
			t.Errorf("reaped %d (%v), want the stale one only", n, err)
		}
		if got := client.AttackSync.GetX(sys, stale.ID); got.Status != attacksync.StatusFailed || !strings.Contains(got.Error, "interrupted") {
			t.Errorf("stale job %s %q", got.Status, got.Error)
		}
		if got := client.AttackSync.GetX(sys, live.ID); got.Status != attacksync.StatusRunning {
			t.Errorf("live job %s %q, want running", got.Status, got.Error)
		}
		_ = s.Fail(sys, live, context.Canceled)
		if n, err := s.Reap(sys); err != nil || n != 0 {
			t.Errorf("after the live job ended: reaped %d (%v), want 0", n, err)
		}
	})
}

func TestFetch(t *testing.T) {
	_, client, _ := testdb.Open(t)
	bundle, err := os.ReadFile("testdata/mini-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/enterprise-attack-15.0.json" {
			http.NotFound(w, r)
			return
		}
		w.Write(bundle)
	}))
	defer ok.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "http://" + closed.Addr().String() + "/x.json"
	closed.Close()

	short := &http.Client{Timeout: 300 * time.Millisecond}
	s := attack.NewSyncer(client, nil, short, nil, quiet)
	ctx := rule.SystemContext(context.Background())
	cases := []struct{ name, url, want string }{
		{"served", ok.URL + "/enterprise-attack-15.0.json", ""},
		{"not found", ok.URL + "/nothing.json", "404"},
		{"times out", hang.URL + "/x.json", "timeout"},
		{"refused", closedURL, "refused"},
		{"not http", "ftp://example.com/x.json", "not an http(s) URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			body, size, err := s.Fetch(ctx, tc.url)
			if tc.want != "" {
				var fe *attack.FetchError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want a FetchError mentioning %q", err, tc.want)
				}
				if time.Since(start) > 5*time.Second {
					t.Errorf("took %v", time.Since(start))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			job, _ := s.Begin(ctx, nil, tc.url)
			counts, err := s.Run(ctx, job, body, size, attack.VersionFromName(tc.url), attack.PhaseDownload)
			if err != nil || counts.Added != 10 {
				t.Errorf("sync from URL: %+v, %v", counts, err)
			}
		})
	}
}

// BenchmarkSync measures a sync of the 16.1 bundle into an empty catalogue
// and an unchanged re-sync (issue 4's budgets: ≤ 2 s and ≤ 1 s).
func BenchmarkSync(b *testing.B) {
	path := realBundle(b, "enterprise-attack-16.1.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	run := func(client *ent.Client) attack.Counts {
		bundle, err := attack.Read(strings.NewReader(string(raw)), attack.ReadOptions{Version: "16.1"})
		if err != nil {
			b.Fatal(err)
		}
		ctx := rule.SystemContext(context.Background())
		var c attack.Counts
		if err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
			c, err = attack.Sync(ctx, tx, bundle, nil)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		return c
	}
	b.Run("into an empty catalogue", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			_, client, _ := testdb.Open(b)
			b.StartTimer()
			if c := run(client); c.Added != 813 {
				b.Fatal(c)
			}
		}
	})
	b.Run("unchanged re-sync", func(b *testing.B) {
		_, client, _ := testdb.Open(b)
		run(client)
		for b.Loop() {
			if c := run(client); c.Unchanged != 813 {
				b.Fatal(c)
			}
		}
	})
}
