package migration_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	_ "github.com/lib/pq"

	"violet/internal/migration"
	"violet/internal/testkit/testdb"
	"violet/migrations"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

func openEmpty(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", testdb.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func embedded(t *testing.T) migrate.Dir {
	t.Helper()
	dir, err := migrations.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// memCopy returns an in-memory copy of dir's migration files, with edit
// applied to each file's content, and an atlas.sum rewritten when rehash.
func memCopy(t *testing.T, dir migrate.Dir, edit func(name string, b []byte) []byte, rehash bool) *migrate.MemDir {
	t.Helper()
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	out := &migrate.MemDir{}
	for _, f := range files {
		b := f.Bytes()
		if edit != nil {
			b = edit(f.Name(), b)
		}
		if err := out.WriteFile(f.Name(), b); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := dir.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if rehash {
		if sum, err = out.Checksum(); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrate.WriteSumFile(out, sum); err != nil {
		t.Fatal(err)
	}
	return out
}

func countTables(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	err := db.QueryRow(`SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// createdTables counts the tables the migration files create and keep.
func createdTables(t *testing.T, dir migrate.Dir) int {
	t.Helper()
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		s := "\n" + string(f.Bytes())
		n += strings.Count(s, "\nCREATE TABLE ") - strings.Count(s, "\nDROP TABLE ")
	}
	return n
}

func fileNames(t *testing.T, dir migrate.Dir) []string {
	t.Helper()
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	return names
}

func TestApplyOnEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	db := openEmpty(t)
	dir := embedded(t)
	applied, err := migration.Apply(ctx, db, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if want := fileNames(t, dir); strings.Join(applied, ",") != strings.Join(want, ",") {
		t.Fatalf("applied %v, want every file %v", applied, want)
	}
	if n, want := countTables(t, db), createdTables(t, dir); n != want || n < 26 {
		t.Errorf("public tables = %d, want the %d the files create (at least the 26 of the data model)", n, want)
	}
	st, err := migration.ReadStatus(ctx, db, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.AtHead() || st.Current != st.Head || st.Current == "" {
		t.Errorf("status after apply = %+v, want at head", st)
	}
	rev, err := migration.CurrentRevision(ctx, db)
	if err != nil || rev != st.Head {
		t.Errorf("CurrentRevision = %q, %v; want %q", rev, err, st.Head)
	}

	t.Run("revision table has the Atlas CLI layout", func(t *testing.T) {
		rows, err := db.Query(`SELECT column_name, data_type, is_nullable FROM information_schema.columns
			WHERE table_schema = 'atlas_schema_revisions' AND table_name = 'atlas_schema_revisions'
			ORDER BY ordinal_position`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var name, typ, null string
			if err := rows.Scan(&name, &typ, &null); err != nil {
				t.Fatal(err)
			}
			got = append(got, name+" "+typ+" "+null)
		}
		want := []string{
			"version character varying NO", "description character varying NO",
			"type bigint NO", "applied bigint NO", "total bigint NO",
			"executed_at timestamp with time zone NO", "execution_time bigint NO",
			"error text YES", "error_stmt text YES", "hash character varying NO",
			"partial_hashes jsonb YES", "operator_version character varying NO",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("revision columns:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var applied, total int
		var hash string
		if err := db.QueryRow(`SELECT applied, total, hash FROM atlas_schema_revisions.atlas_schema_revisions
			WHERE version = $1`, st.Head).Scan(&applied, &total, &hash); err != nil {
			t.Fatal(err)
		}
		sums, _ := dir.Checksum()
		wantHash, _ := sums.SumByName(fileNames(t, dir)[len(fileNames(t, dir))-1])
		if applied != total || total == 0 || hash != wantHash {
			t.Errorf("revision row applied=%d total=%d hash=%q, want all applied and hash %q", applied, total, hash, wantHash)
		}
	})
}

func TestReapplyIsNoOp(t *testing.T) {
	ctx := context.Background()
	db := openEmpty(t)
	dir := embedded(t)
	if _, err := migration.Apply(ctx, db, dir, quiet); err != nil {
		t.Fatal(err)
	}
	var before time.Time
	if err := db.QueryRow(`SELECT max(executed_at) FROM atlas_schema_revisions.atlas_schema_revisions`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	applied, err := migration.Apply(ctx, db, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("second apply ran %v, want nothing", applied)
	}
	var after time.Time
	var rows int
	if err := db.QueryRow(`SELECT max(executed_at), count(*) FROM atlas_schema_revisions.atlas_schema_revisions`).Scan(&after, &rows); err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) || rows != len(fileNames(t, dir)) {
		t.Errorf("revisions changed by a no-op apply: executed_at %v -> %v, rows %d", before, after, rows)
	}
}

func TestModifiedFilesAreRefused(t *testing.T) {
	ctx := context.Background()
	dir := embedded(t)
	first := fileNames(t, dir)[0]
	appendComment := func(name string, b []byte) []byte {
		if name == first {
			return append(append([]byte{}, b...), []byte("\n-- edited after the fact\n")...)
		}
		return b
	}

	t.Run("applied file edited and atlas.sum rehashed", func(t *testing.T) {
		db := openEmpty(t)
		if _, err := migration.Apply(ctx, db, dir, quiet); err != nil {
			t.Fatal(err)
		}
		tampered := memCopy(t, dir, appendComment, true)
		if err := migration.Validate(tampered); err != nil {
			t.Fatalf("the rehashed directory should be self-consistent: %v", err)
		}
		_, err := migration.Apply(ctx, db, tampered, quiet)
		if err == nil || !strings.Contains(err.Error(), first) {
			t.Fatalf("apply of a modified applied file: err = %v, want an error naming %s", err, first)
		}
	})

	t.Run("file edited without updating atlas.sum", func(t *testing.T) {
		db := openEmpty(t)
		tampered := memCopy(t, dir, appendComment, false)
		_, err := migration.Apply(ctx, db, tampered, quiet)
		if err == nil || !strings.Contains(err.Error(), first) || !errors.Is(err, migrate.ErrChecksumMismatch) {
			t.Fatalf("err = %v, want a checksum mismatch naming %s", err, first)
		}
		if n := countTables(t, db); n != 0 {
			t.Errorf("%d tables created by a refused apply, want 0", n)
		}
	})
}

func TestFailingFileLeavesNothingBehind(t *testing.T) {
	ctx := context.Background()
	db := openEmpty(t)
	dir := embedded(t)
	bad := memCopy(t, dir, nil, false)
	const name = "99990101000000_broken.sql"
	if err := bad.WriteFile(name, []byte("CREATE TABLE half_done (id int);\nSELECT 1/0;\n")); err != nil {
		t.Fatal(err)
	}
	if err := migration.Hash(bad); err != nil {
		t.Fatal(err)
	}
	applied, err := migration.Apply(ctx, db, bad, quiet)
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("err = %v, want the failure of %s", err, name)
	}
	if len(applied) != len(fileNames(t, dir)) {
		t.Errorf("applied %v before the broken file, want the %d good ones", applied, len(fileNames(t, dir)))
	}
	var exists bool
	if err := db.QueryRow(`SELECT to_regclass('public.half_done') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	var revs int
	if err := db.QueryRow(`SELECT count(*) FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '99990101000000'`).Scan(&revs); err != nil {
		t.Fatal(err)
	}
	if exists || revs != 0 {
		t.Errorf("after a failed file: table half_done exists=%v, revision rows=%d; want neither", exists, revs)
	}
}

func TestConcurrentApplySerialises(t *testing.T) {
	ctx := context.Background()
	url := testdb.EmptyURL(t)
	dir := embedded(t)

	t.Run("apply waits for the advisory lock", func(t *testing.T) {
		holder, err := sql.Open("postgres", url)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		conn, err := holder.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// The same key Apply uses ("violet-m").
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(0x76696f6c65742d6d)); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("postgres", url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		done := make(chan error, 1)
		go func() { _, err := migration.Apply(ctx, db, dir, quiet); done <- err }()
		select {
		case err := <-done:
			t.Fatalf("apply finished (%v) while another session held the migration lock", err)
		case <-time.After(500 * time.Millisecond):
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(0x76696f6c65742d6d)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("apply did not finish after the lock was released")
		}
	})

	t.Run("two applies at once", func(t *testing.T) {
		url := testdb.EmptyURL(t)
		var wg sync.WaitGroup
		results := make([][]string, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sql.Open("postgres", url)
				if err != nil {
					errs[i] = err
					return
				}
				defer db.Close()
				results[i], errs[i] = migration.Apply(ctx, db, dir, quiet)
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("concurrent applies failed: %v / %v", errs[0], errs[1])
		}
		total := len(results[0]) + len(results[1])
		if want := len(fileNames(t, dir)); total != want {
			t.Errorf("files applied in all = %d (%v, %v), want %d: each file exactly once", total, results[0], results[1], want)
		}
	})
}

func TestEmbeddedMatchesSourceDirectory(t *testing.T) {
	src, err := migrate.NewLocalDir("../../migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := migration.Validate(src); err != nil {
		t.Fatalf("source directory: %v", err)
	}
	a, _ := src.Checksum()
	b, _ := embedded(t).Checksum()
	if a.Sum() != b.Sum() {
		t.Error("the embedded migrations differ from migrations/: rebuild the binary")
	}
}

// TestNoSchemaDrift fails when the ent schema has changes that no migration
// file carries: `make migrate-diff NAME=…` would write a file.
func TestNoSchemaDrift(t *testing.T) {
	ctx := context.Background()
	src, err := migrate.NewLocalDir("../../migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := migration.CheckDrift(ctx, testdb.EmptyURL(t), src); err != nil {
		t.Fatal(err)
	}

	t.Run("a missing statement is detected", func(t *testing.T) {
		// Drop the last CREATE INDEX of the newest file that has one: the
		// schema now has an index the migrations lack, so a diff would
		// write a file.
		files, _ := src.Files()
		target := ""
		for _, f := range files {
			if strings.Contains(string(f.Bytes()), "\nCREATE INDEX ") {
				target = f.Name()
			}
		}
		trimmed := memCopy(t, src, func(name string, b []byte) []byte {
			if name != target {
				return b
			}
			s := string(b)
			i := strings.LastIndex(s, "\nCREATE INDEX ")
			end := strings.Index(s[i+1:], "\n")
			return []byte(s[:i+1] + s[i+1+end+1:])
		}, true)
		err := migration.CheckDrift(ctx, testdb.EmptyURL(t), trimmed)
		if err == nil || !strings.Contains(err.Error(), "disagree") {
			t.Fatalf("CheckDrift on incomplete migrations = %v, want a drift error", err)
		}
	})
}
