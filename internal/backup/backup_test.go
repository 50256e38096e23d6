package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"violet/ent"
	"violet/ent/evidencefile"
	"violet/internal/auth/rule"
	"violet/internal/evidence"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fixture is a migrated database and a store with evidence rows whose
// objects are in the store.
type fixture struct {
	url    string
	client *ent.Client
	store  *evidence.Dir
	evDir  string
	files  map[string][]byte // key → bytes
}

// newFixture makes a mission test with one evidence row per file, each
// file stored under its row's key.
func newFixture(t *testing.T, contents ...[]byte) *fixture {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	_, client, u := testdb.Open(t)
	f := &fixture{url: u, client: client, evDir: t.TempDir(), files: map[string][]byte{}}
	f.store = evidence.NewDir(f.evDir)
	user := client.User.Create().SetEmail("red@example.com").SetDisplayName("red").SetPasswordHash("x").SaveX(ctx)
	m := client.Mission.Create().SetName("Backup fixture").SaveX(ctx)
	test := client.MissionTest.Create().SetMissionID(m.ID).SetName("A test").SaveX(ctx)
	for _, b := range contents {
		key := evidence.NewKey()
		if _, err := f.store.Put(ctx, key, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		client.EvidenceFile.Create().SetMissionTestID(test.ID).SetSide(evidencefile.SideRed).
			SetUploadedByID(user.ID).SetOriginalName("log.txt").SetStoredKey(key).
			SetContentType("text/plain").SetSize(int64(len(b))).SetSha256(hexSum(b)).ExecX(ctx)
		f.files[key] = b
	}
	return f
}

func (f *fixture) backup(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "backup")
	if _, err := Backup(context.Background(), f.url, f.store, dir, Options{Version: "test"}); err != nil {
		t.Fatalf("backup: %v", err)
	}
	return dir
}

// relations counts the target database's tables, views and sequences
// outside the system schemas.
func relations(t *testing.T, dbURL string) int {
	t.Helper()
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace
		WHERE cl.relkind IN ('r', 'p', 'v', 'm', 'S') AND ns.nspname NOT IN ('pg_catalog', 'information_schema')
		AND ns.nspname NOT LIKE 'pg\_toast%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestBackupWritesManifest(t *testing.T) {
	f := newFixture(t, []byte("first log\n"), []byte("second log\n"))
	// A staging leftover of an interrupted upload is not part of a backup.
	if err := os.WriteFile(filepath.Join(f.evDir, ".stage-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	now := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	sum, err := Backup(context.Background(), f.url, f.store, dir, Options{Version: "v9.9.9", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	m, err := Verify(dir)
	if err != nil {
		t.Fatalf("verify a fresh backup: %v", err)
	}
	if m.VioletVersion != "v9.9.9" || !m.Created.Equal(now) || m.MigrationRevision == "" || m.MigrationRevision != sum.MigrationRevision {
		t.Errorf("manifest header: %+v", m)
	}
	if sum.Objects != 2 || len(m.Objects) != 2 || sum.ObjectBytes != int64(len("first log\nsecond log\n")) {
		t.Errorf("summary %+v, manifest objects %+v; want the two files and not the staging leftover", sum, m.Objects)
	}
	for _, o := range m.Objects {
		if want, ok := f.files[o.Key]; !ok || o.SHA256 != hexSum(want) || o.Size != int64(len(want)) {
			t.Errorf("manifest object %+v does not match the store", o)
		}
		if b, _ := os.ReadFile(objectPath(dir, o.Key)); !bytes.Equal(b, f.files[o.Key]) {
			t.Errorf("%s: copied bytes differ", o.Key)
		}
	}
	dump, err := os.ReadFile(filepath.Join(dir, DumpFile))
	if err != nil || !bytes.HasPrefix(dump, []byte("PGDMP")) || hexSum(dump) != m.Database.SHA256 {
		t.Errorf("database.dump is not a pg_dump custom archive matching the manifest (%v)", err)
	}
	for _, name := range dirEntries(t, dir) {
		if strings.HasPrefix(name, tempPrefix) {
			t.Errorf("temporary file left in the backup: %s", name)
		}
	}
}

func TestBackupRefusesNonEmptyDir(t *testing.T) {
	f := newFixture(t, []byte("log\n"))
	dir := t.TempDir()
	old := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(old, []byte("an older backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Backup(context.Background(), f.url, f.store, dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("backup into a non-empty directory: %v, want a refusal", err)
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("the refused backup wrote into the directory: %v", names)
	}
	if b, _ := os.ReadFile(old); string(b) != "an older backup" {
		t.Error("the refused backup changed an existing file")
	}
	if _, err := Backup(context.Background(), f.url, f.store, old, Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("backup into a file: %v, want a refusal", err)
	}
}

// TestBackupReportsMissingObject: a row whose object is gone makes the
// backup fail after writing everything it could, and a restore of that
// backup reports the same row after restoring the rest.
func TestBackupReportsMissingObject(t *testing.T) {
	f := newFixture(t, []byte("kept\n"), []byte("lost\n"))
	var lost string
	for k, b := range f.files {
		if string(b) == "lost\n" {
			lost = k
		}
	}
	if err := f.store.Delete(context.Background(), lost); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	_, err := Backup(context.Background(), f.url, f.store, dir, Options{})
	var problems *ProblemsError
	if !errors.As(err, &problems) || len(problems.Problems) != 1 || !strings.Contains(problems.Problems[0], lost) {
		t.Fatalf("backup with a missing object: %v, want one problem naming %s", err, lost)
	}
	if _, err := Verify(dir); err != nil {
		t.Fatalf("the backup with a reported problem is not complete: %v", err)
	}

	target, store := testdb.EmptyURL(t), evidence.NewDir(t.TempDir())
	sum, err := Restore(context.Background(), target, store, dir, Options{})
	if !errors.As(err, &problems) || len(problems.Problems) != 1 || !strings.Contains(problems.Problems[0], lost+": missing") {
		t.Fatalf("restore: %v, want one problem naming %s as missing", err, lost)
	}
	if sum == nil || sum.Objects != 1 || relations(t, target) == 0 {
		t.Errorf("restore did not restore the rest: %+v, %d relations", sum, relations(t, target))
	}
}

func TestRestoreRefusesIncompleteBackup(t *testing.T) {
	f := newFixture(t, []byte("log\n"))
	dir := f.backup(t)
	if err := os.Remove(filepath.Join(dir, ManifestFile)); err != nil {
		t.Fatal(err)
	}
	target := testdb.EmptyURL(t)
	_, err := Restore(context.Background(), target, evidence.NewDir(t.TempDir()), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "no manifest.json") || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("restore without a manifest: %v, want a refusal naming it", err)
	}
	if n := relations(t, target); n != 0 {
		t.Errorf("the refused restore created %d relations", n)
	}
}

func TestRestoreRefusesTamperedBackup(t *testing.T) {
	f := newFixture(t, []byte("first log\n"), []byte("second log\n"))
	dir := f.backup(t)
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		damage func(t *testing.T) string // returns what the error must name
	}{
		{"object changed", func(t *testing.T) string {
			p := objectPath(dir, m.Objects[0].Key)
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return m.Objects[0].Key + ": SHA-256 mismatch"
		}},
		{"object missing", func(t *testing.T) string {
			if err := os.Remove(objectPath(dir, m.Objects[1].Key)); err != nil {
				t.Fatal(err)
			}
			return m.Objects[1].Key + ": missing"
		}},
		{"dump truncated", func(t *testing.T) string {
			p := filepath.Join(dir, DumpFile)
			b, _ := os.ReadFile(p)
			if err := os.WriteFile(p, b[:len(b)/2], 0o600); err != nil {
				t.Fatal(err)
			}
			return DumpFile + ": SHA-256 mismatch"
		}},
	}
	// The damages accumulate: each case adds one and the error must name
	// all of them so far.
	var want []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want = append(want, tc.damage(t))
			target, evDir := testdb.EmptyURL(t), t.TempDir()
			_, err := Restore(context.Background(), target, evidence.NewDir(evDir), dir, Options{})
			if err == nil {
				t.Fatal("restore accepted a damaged backup")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if n := relations(t, target); n != 0 {
				t.Errorf("the refused restore created %d relations", n)
			}
			if names := dirEntries(t, evDir); len(names) != 0 {
				t.Errorf("the refused restore wrote to the store: %v", names)
			}
		})
	}
}

func TestRestoreRefusesNonEmptyTarget(t *testing.T) {
	f := newFixture(t, []byte("log\n"))
	dir := f.backup(t)
	t.Run("database with tables", func(t *testing.T) {
		target, evDir := testdb.URL(t), t.TempDir()
		before := relations(t, target)
		_, err := Restore(context.Background(), target, evidence.NewDir(evDir), dir, Options{})
		if err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("restore into a migrated database: %v, want a refusal", err)
		}
		if relations(t, target) != before || len(dirEntries(t, evDir)) != 0 {
			t.Error("the refused restore changed the database or the store")
		}
	})
	t.Run("store with objects", func(t *testing.T) {
		target, evDir := testdb.EmptyURL(t), t.TempDir()
		if _, err := evidence.NewDir(evDir).Put(context.Background(), "abc", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		_, err := Restore(context.Background(), target, evidence.NewDir(evDir), dir, Options{})
		if err == nil || !strings.Contains(err.Error(), "evidence store is not empty") {
			t.Fatalf("restore into a non-empty store: %v, want a refusal", err)
		}
		if relations(t, target) != 0 || len(dirEntries(t, evDir)) != 1 {
			t.Error("the refused restore changed the database or the store")
		}
	})
}

func TestRestoreRoundTrip(t *testing.T) {
	f := newFixture(t, []byte("first log\n"), []byte("second log\n"))
	dir := f.backup(t)
	target, evDir := testdb.EmptyURL(t), t.TempDir()
	store := evidence.NewDir(evDir)
	sum, err := Restore(context.Background(), target, store, dir, Options{})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if sum.Objects != 2 {
		t.Errorf("restored %d objects, want 2", sum.Objects)
	}
	for key, want := range f.files {
		b, err := os.ReadFile(filepath.Join(evDir, key))
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s in the restored store: %q, %v", key, b, err)
		}
	}
	db, err := sql.Open("postgres", target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM evidence_files`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("restored evidence rows: %d, %v", rows, err)
	}
	// A second restore into the now full database and store is refused.
	if _, err := Restore(context.Background(), target, store, dir, Options{}); err == nil {
		t.Error("a second restore over the restored instance was accepted")
	}
}

func TestConnKeepsPasswordOffTheCommandLine(t *testing.T) {
	c, err := newConn("postgres://violet:s3cret%21@db:5432/violet?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.url, "s3cret") || strings.Contains(c.redacted, "s3cret") {
		t.Errorf("the password is in the URL given to the tools (%q) or in messages (%q)", c.url, c.redacted)
	}
	if c.url != "postgres://violet@db:5432/violet?sslmode=disable" {
		t.Errorf("url = %q", c.url)
	}
	var found int
	for _, kv := range c.env() {
		if strings.HasPrefix(kv, "PGPASSWORD=") {
			found++
			if kv != "PGPASSWORD=s3cret!" {
				t.Errorf("environment has %q", kv)
			}
		}
	}
	if found != 1 {
		t.Errorf("PGPASSWORD set %d times in the tools' environment", found)
	}
}

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"0123abcd": true, "0123abcd.preview": true, "a/b": true,
		"": false, ".": false, "..": false, "../x": false, "/etc/passwd": false, "a/../b": false,
		".partial-1": false, "a/.hidden": false, `a\b`: false,
	} {
		if got := validKey(key); got != want {
			t.Errorf("validKey(%q) = %v, want %v", key, got, want)
		}
	}
}

// TestRestoreFailedDumpLeavesDatabaseEmpty: a dump that pg_restore cannot
// read to its end (here cut short, with a manifest made to match it)
// leaves the target database empty: the restore runs in one transaction.
// The cut is in the last data block, after every table was created
// (without --single-transaction the same dump leaves 30-odd tables; cut
// inside the table of contents, pg_restore would fail before creating
// anything and the test would prove nothing).
func TestRestoreFailedDumpLeavesDatabaseEmpty(t *testing.T) {
	f := newFixture(t, []byte("log\n"))
	dir := f.backup(t)
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, DumpFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b = b[:len(b)-50]
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m.Database.Size, m.Database.SHA256 = int64(len(b)), hexSum(b)
	js, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), js, 0o600); err != nil {
		t.Fatal(err)
	}
	target, evDir := testdb.EmptyURL(t), t.TempDir()
	_, err = Restore(context.Background(), target, evidence.NewDir(evDir), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "pg_restore") {
		t.Fatalf("restore of a cut dump: %v, want a pg_restore failure", err)
	}
	if n := relations(t, target); n != 0 {
		t.Errorf("the failed restore left %d relations", n)
	}
	if names := dirEntries(t, evDir); len(names) != 0 {
		t.Errorf("the failed restore wrote to the store: %v", names)
	}
}
