// Package backup writes and restores a complete copy of a Violet
// instance: a PostgreSQL dump (pg_dump's custom format) and every object
// of the evidence store, described by a manifest of sizes and SHA-256
// hashes. Evidence is read and written only through evidence.Store, so
// the same code serves any store (the local directory, an object store).
//
// A backup directory holds:
//
//	database.dump   pg_dump --format=custom --no-owner --no-privileges
//	evidence/KEY    one file per object of the store, byte for byte
//	manifest.json   written last: a directory without it is incomplete
//
// Restore checks the manifest and every hash before it changes anything,
// restores only into an empty database and an empty store, and then
// checks every evidence row of the restored database against the store.
package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/migration"
)

// Names inside a backup directory.
const (
	ManifestFile = "manifest.json"
	DumpFile     = "database.dump"
	EvidenceDir  = "evidence"
)

// FormatVersion is the version of the backup layout and manifest. Restore
// refuses any other.
const FormatVersion = 1

// Manifest describes a backup; it is written last.
type Manifest struct {
	Format            int       `json:"format"`
	VioletVersion     string    `json:"violet_version"`
	Created           time.Time `json:"created"`
	MigrationRevision string    `json:"migration_revision"`
	Database          File      `json:"database"`
	Objects           []Object  `json:"objects"`
}

// File is the database dump in a manifest.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Object is one evidence object in a manifest (stored as evidence/Key).
type Object struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Options are what Backup and Restore need besides the database and the
// store.
type Options struct {
	// Version is the Violet version recorded in the manifest.
	Version string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// BinDir is where pg_dump and pg_restore are; empty looks on PATH,
	// then in /usr/lib/postgresql/*/bin.
	BinDir string
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Summary is what a backup or a restore did.
type Summary struct {
	Objects           int
	ObjectBytes       int64
	DumpBytes         int64
	MigrationRevision string
	Duration          time.Duration
}

// ProblemsError lists evidence rows whose object is missing from the
// store or differs from what the row records. Backup returns it after
// writing a complete backup (the copy is still the best there is); Restore
// returns it after restoring everything.
type ProblemsError struct {
	Stage    string // "backup" or "restore"
	Problems []string
}

func (e *ProblemsError) Error() string {
	const shown = 20
	list := e.Problems
	more := ""
	if len(list) > shown {
		more = fmt.Sprintf("\n  … and %d more", len(list)-shown)
		list = list[:shown]
	}
	return fmt.Sprintf("%s: %d evidence problem(s):\n  %s%s", e.Stage, len(e.Problems), strings.Join(list, "\n  "), more)
}

// evidenceRow is what an evidence row says about its object.
type evidenceRow struct {
	key, sha256, contentType string
	size                     int64
}

// hasPreview tells whether a row's file has a preview beside it: images
// do (evidence.Ingest makes one; the handlers serve it for image/*).
func (r evidenceRow) hasPreview() bool { return strings.HasPrefix(r.contentType, "image/") }

// readRows returns every evidence row, deleted ones included (their files
// stay in the store for the trash), with raw SQL: no privacy rule or
// soft-delete filter applies.
func readRows(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]evidenceRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT stored_key, sha256, content_type, size FROM evidence_files ORDER BY stored_key`)
	if err != nil {
		return nil, fmt.Errorf("read evidence rows: %w", err)
	}
	defer rows.Close()
	var out []evidenceRow
	for rows.Next() {
		var r evidenceRow
		if err := rows.Scan(&r.key, &r.sha256, &r.contentType, &r.size); err != nil {
			return nil, fmt.Errorf("read evidence rows: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// checkRows compares the evidence rows with the objects found (key →
// object) and returns one line per problem.
func checkRows(rows []evidenceRow, found map[string]Object) []string {
	var problems []string
	for _, r := range rows {
		o, ok := found[r.key]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: missing from the store", r.key))
		case o.SHA256 != r.sha256:
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %s, the database records %s", r.key, o.SHA256, r.sha256))
		case o.Size != r.size:
			problems = append(problems, fmt.Sprintf("%s: %d bytes, the database records %d", r.key, o.Size, r.size))
		}
		if r.hasPreview() {
			if _, ok := found[evidence.PreviewKey(r.key)]; !ok {
				problems = append(problems, fmt.Sprintf("%s: preview missing from the store", evidence.PreviewKey(r.key)))
			}
		}
	}
	return problems
}

// Backup writes a backup of the database at dbURL and of store into dir,
// which must not exist or be empty.
//
// Consistency: the dump is a consistent snapshot on its own. The evidence
// rows and the migration revision are read in that very snapshot (pg_dump
// --snapshot with a snapshot exported by a transaction of ours), and the
// store is listed only after the dump has finished. Objects are never
// changed once stored, so every object a dumped row names is in the copy;
// objects uploaded after the snapshot are copied too, harmless extras that
// no restored row names (the sweep removes them later). An object deleted
// between the snapshot and the copy is reported as a problem.
func Backup(ctx context.Context, dbURL string, store evidence.Store, dir string, opt Options) (*Summary, error) {
	start := time.Now()
	pgDump, err := findTool(opt.BinDir, "pg_dump")
	if err != nil {
		return nil, err
	}
	c, err := newConn(dbURL)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	db, client, err := database.Open(dbURL, 2)
	if err != nil {
		return nil, err
	}
	defer client.Close()

	m := Manifest{Format: FormatVersion, VioletVersion: opt.Version, Created: opt.now().UTC()}
	rows, err := dump(ctx, db, c, pgDump, dir, &m)
	if err != nil {
		return nil, err
	}

	keys, err := listKeys(ctx, store)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, EvidenceDir), 0o700); err != nil {
		return nil, err
	}
	found := make(map[string]Object, len(keys))
	sum := &Summary{DumpBytes: m.Database.Size, MigrationRevision: m.MigrationRevision}
	for _, key := range keys {
		o, err := copyOut(ctx, store, dir, key)
		if errors.Is(err, evidence.ErrNotFound) {
			continue // deleted since the listing; checkRows reports it if a row names it
		}
		if err != nil {
			return nil, fmt.Errorf("copy evidence object %s: %w", key, err)
		}
		m.Objects = append(m.Objects, o)
		found[key] = o
		sum.Objects++
		sum.ObjectBytes += o.Size
	}
	if err := syncDir(filepath.Join(dir, EvidenceDir)); err != nil {
		return nil, err
	}

	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, _, err := writeFile(filepath.Join(dir, ManifestFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return nil, fmt.Errorf("write the manifest: %w", err)
	}
	sum.Duration = time.Since(start)
	if problems := checkRows(rows, found); len(problems) > 0 {
		return sum, &ProblemsError{Stage: "backup", Problems: problems}
	}
	return sum, nil
}

// dump runs pg_dump into dir/database.dump inside a snapshot exported by a
// read-only repeatable-read transaction, in which it also reads the
// migration revision and the evidence rows, recorded in m.
func dump(ctx context.Context, db *sql.DB, c conn, pgDump, dir string, m *Manifest) ([]evidenceRow, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("connect to the database (%s): %w", c.redacted, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	var snapshot string
	if err := tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("export a snapshot: %w", err)
	}
	rev, err := migration.CurrentRevision(ctx, tx)
	if err != nil {
		return nil, err
	}
	if rev == "" {
		return nil, fmt.Errorf("the database at %s has no applied migration: not a Violet database", c.redacted)
	}
	m.MigrationRevision = rev
	rows, err := readRows(ctx, tx)
	if err != nil {
		return nil, err
	}
	// The transaction stays open until pg_dump has finished: the exported
	// snapshot lives only as long as it.
	size, sum, err := writeFile(filepath.Join(dir, DumpFile), func(w io.Writer) error {
		return runTool(ctx, c, pgDump, []string{"--format=custom", "--no-owner", "--no-privileges",
			"--snapshot=" + snapshot, "--dbname=" + c.url}, w)
	})
	if err != nil {
		return nil, err
	}
	m.Database = File{Name: DumpFile, Size: size, SHA256: sum}
	return rows, nil
}

// listKeys lists the store's objects, leaving out staging leftovers of
// interrupted uploads (no row names them), sorted.
func listKeys(ctx context.Context, store evidence.Store) ([]string, error) {
	var keys []string
	err := store.List(ctx, func(o evidence.Object) error {
		if !evidence.IsStaging(o.Key) {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the evidence store: %w", err)
	}
	slices.Sort(keys)
	return keys, nil
}

// copyOut copies one object from the store to dir/evidence/key.
func copyOut(ctx context.Context, store evidence.Store, dir, key string) (Object, error) {
	if !validKey(key) {
		return Object{}, fmt.Errorf("the key %q cannot be a file name in a backup", key)
	}
	path := objectPath(dir, key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Object{}, err
	}
	rc, err := store.Open(ctx, key)
	if err != nil {
		return Object{}, err
	}
	defer rc.Close()
	size, sum, err := writeFile(path, func(w io.Writer) error {
		_, err := io.Copy(w, rc)
		return err
	})
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: size, SHA256: sum}, nil
}
