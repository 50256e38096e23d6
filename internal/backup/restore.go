package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/migration"
)

// ReadManifest reads and checks dir's manifest: its format, and keys that
// are file names inside the backup, each once.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s: the backup is incomplete (interrupted before its end) or not a Violet backup", dir, ManifestFile)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("%s: backup format %d, this Violet reads format %d", ManifestFile, m.Format, FormatVersion)
	}
	if m.Database.Name != DumpFile {
		return nil, fmt.Errorf("%s: the database dump is %q, want %q", ManifestFile, m.Database.Name, DumpFile)
	}
	seen := make(map[string]bool, len(m.Objects))
	for _, o := range m.Objects {
		if !validKey(o.Key) || seen[o.Key] {
			return nil, fmt.Errorf("%s: invalid or repeated object key %q", ManifestFile, o.Key)
		}
		seen[o.Key] = true
	}
	return &m, nil
}

// Verify checks every file the manifest of dir lists against its size and
// SHA-256 and returns the manifest, or an error naming each file that
// differs or is missing.
func Verify(dir string) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	var bad []string
	check := func(path, name string, size int64, sum string) {
		n, got, err := hashFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			bad = append(bad, name+": missing")
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", name, err))
		case got != sum:
			bad = append(bad, fmt.Sprintf("%s: SHA-256 mismatch (the manifest says %s, the file is %s)", name, sum, got))
		case n != size:
			bad = append(bad, fmt.Sprintf("%s: %d bytes, the manifest says %d", name, n, size))
		}
	}
	check(filepath.Join(dir, DumpFile), DumpFile, m.Database.Size, m.Database.SHA256)
	for _, o := range m.Objects {
		check(objectPath(dir, o.Key), EvidenceDir+"/"+o.Key, o.Size, o.SHA256)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("the backup in %s is damaged, nothing was restored:\n  %s", dir, strings.Join(bad, "\n  "))
	}
	return m, nil
}

// Restore restores the backup in dir into the database at dbURL and into
// store. It first verifies the whole backup, and refuses a database that
// has any table, view or sequence or a store that holds any object; only
// then does it run pg_restore (in a single transaction: on failure the
// database stays empty) and put every object into the store. Last it
// checks every evidence row of the restored database against the store,
// reading each object back: a problem is returned as a *ProblemsError
// with the summary of what was restored.
func Restore(ctx context.Context, dbURL string, store evidence.Store, dir string, opt Options) (*Summary, error) {
	start := time.Now()
	pgRestore, err := findTool(opt.BinDir, "pg_restore")
	if err != nil {
		return nil, err
	}
	c, err := newConn(dbURL)
	if err != nil {
		return nil, err
	}
	m, err := Verify(dir)
	if err != nil {
		return nil, err
	}
	db, client, err := database.Open(dbURL, 2)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	if err := checkEmptyDatabase(ctx, db, c); err != nil {
		return nil, err
	}
	if err := checkEmptyStore(ctx, store); err != nil {
		return nil, err
	}

	if err := runTool(ctx, c, pgRestore, []string{"--no-owner", "--no-privileges", "--exit-on-error",
		"--single-transaction", "--dbname=" + c.url, filepath.Join(dir, DumpFile)}, nil); err != nil {
		return nil, fmt.Errorf("restore the database (nothing of it was kept): %w", err)
	}
	rev, err := migration.CurrentRevision(ctx, db)
	if err != nil {
		return nil, err
	}
	if rev != m.MigrationRevision {
		return nil, fmt.Errorf("the restored database is at migration %q, the manifest says %q", rev, m.MigrationRevision)
	}

	sum := &Summary{DumpBytes: m.Database.Size, MigrationRevision: rev}
	for _, o := range m.Objects {
		if err := putObject(ctx, store, dir, o); err != nil {
			return nil, fmt.Errorf("restore evidence object %s (the database is restored; empty the database and the store before trying again): %w", o.Key, err)
		}
		sum.Objects++
		sum.ObjectBytes += o.Size
	}

	rows, err := readRows(ctx, db)
	if err != nil {
		return nil, err
	}
	found, err := readBack(ctx, store, rows)
	if err != nil {
		return nil, err
	}
	sum.Duration = time.Since(start)
	problems := checkRows(rows, found)
	// Previews have no hash in their row: compare them with the manifest.
	for _, o := range m.Objects {
		if got, ok := found[o.Key]; ok && got.SHA256 != o.SHA256 {
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %s in the store, the manifest says %s", o.Key, got.SHA256, o.SHA256))
		}
	}
	if len(problems) > 0 {
		return sum, &ProblemsError{Stage: "restore", Problems: problems}
	}
	return sum, nil
}

// checkEmptyDatabase refuses a database holding any relation outside the
// system schemas, or Atlas's revision schema: restoring over data would
// mix two instances.
func checkEmptyDatabase(ctx context.Context, db *sql.DB, c conn) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace
		WHERE cl.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
		AND ns.nspname NOT IN ('pg_catalog', 'information_schema') AND ns.nspname NOT LIKE 'pg\_toast%'
		AND ns.nspname NOT LIKE 'pg\_temp\_%'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("connect to the database (%s): %w", c.redacted, err)
	}
	if n > 0 {
		return fmt.Errorf("the database at %s is not empty (%d tables, views or sequences); restore needs a new, empty database", c.redacted, n)
	}
	return nil
}

// errNotEmpty stops the listing at the first object.
var errNotEmpty = errors.New("not empty")

func checkEmptyStore(ctx context.Context, store evidence.Store) error {
	var first string
	err := store.List(ctx, func(o evidence.Object) error {
		first = o.Key
		return errNotEmpty
	})
	if errors.Is(err, errNotEmpty) {
		return fmt.Errorf("the evidence store is not empty (it holds %s, among others maybe); restore needs an empty store", first)
	}
	if err != nil {
		return fmt.Errorf("list the evidence store: %w", err)
	}
	return nil
}

// putObject stores one object of the backup, hashing it on the way: the
// file could have changed since Verify read it.
func putObject(ctx context.Context, store evidence.Store, dir string, o Object) error {
	f, err := os.Open(objectPath(dir, o.Key))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := store.Put(ctx, o.Key, io.TeeReader(f, h))
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != o.SHA256 || n != o.Size {
		_ = store.Delete(context.WithoutCancel(ctx), o.Key)
		return fmt.Errorf("the file changed during the restore (SHA-256 %s, %d bytes; the manifest says %s, %d bytes)", got, n, o.SHA256, o.Size)
	}
	return nil
}

// readBack reads every object the rows name (and their previews) back
// from the store and returns what it found: the proof that the store, not
// the backup, now holds the right bytes.
func readBack(ctx context.Context, store evidence.Store, rows []evidenceRow) (map[string]Object, error) {
	found := make(map[string]Object, len(rows))
	read := func(key string) error {
		rc, err := store.Open(ctx, key)
		if errors.Is(err, evidence.ErrNotFound) {
			return nil // checkRows reports it
		}
		if err != nil {
			return fmt.Errorf("read back %s: %w", key, err)
		}
		defer rc.Close()
		h := sha256.New()
		n, err := io.Copy(h, rc)
		if err != nil {
			return fmt.Errorf("read back %s: %w", key, err)
		}
		found[key] = Object{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
		return nil
	}
	for _, r := range rows {
		if err := read(r.key); err != nil {
			return nil, err
		}
		if r.hasPreview() {
			if err := read(evidence.PreviewKey(r.key)); err != nil {
				return nil, err
			}
		}
	}
	return found, nil
}
