package migration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
)

// lockKey is the pg_advisory_lock key that serialises Apply across every
// process sharing a database ("violet-m" as an integer).
const lockKey int64 = 0x76696f6c65742d6d

// Status is where a database stands against a migration directory.
type Status struct {
	Current string   // latest fully applied version, "" when none
	Head    string   // latest version in the directory
	Applied int      // revisions recorded in the database
	Pending []string // file names not applied yet
}

// AtHead reports whether every file in the directory has been applied.
func (s Status) AtHead() bool { return len(s.Pending) == 0 }

// Validate checks that the directory matches its atlas.sum and names the
// offending file when it does not.
func Validate(dir migrate.Dir) error {
	err := migrate.Validate(dir)
	var cerr *migrate.ChecksumError
	if errors.As(err, &cerr) {
		return fmt.Errorf("migration file %s was %s without updating atlas.sum (run `violet migrate hash` only for files never applied anywhere): %w",
			cerr.File, cerr.Reason, err)
	}
	return err
}

// Hash rewrites atlas.sum from the files in dir.
func Hash(dir migrate.Dir) error {
	sum, err := dir.Checksum()
	if err != nil {
		return fmt.Errorf("compute checksums: %w", err)
	}
	return migrate.WriteSumFile(dir, sum)
}

// Apply executes every pending file of dir on db, one transaction per file,
// while holding the migration advisory lock. It returns the names of the
// files it applied. A file that was modified after being applied makes it
// refuse before anything runs.
func Apply(ctx context.Context, db *sql.DB, dir migrate.Dir, log *slog.Logger) ([]string, error) {
	if err := Validate(dir); err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must happen even when ctx was cancelled.
		unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(unlockCtx, `SELECT pg_advisory_unlock($1)`, lockKey); err != nil {
			log.Error("release migration lock", "err", err)
		}
	}()
	if _, err := conn.ExecContext(ctx, createRevisionTable); err != nil {
		return nil, fmt.Errorf("create revision table: %w", err)
	}
	if err := checkAppliedUnchanged(ctx, revisions{conn}, dir); err != nil {
		return nil, err
	}
	var applied []string
	for {
		name, err := applyNext(ctx, conn, dir, log)
		if errors.Is(err, migrate.ErrNoPendingFiles) {
			return applied, nil
		}
		if err != nil {
			return applied, err
		}
		applied = append(applied, name)
	}
}

// applyNext applies the first pending file inside its own transaction.
func applyNext(ctx context.Context, conn *sql.Conn, dir migrate.Dir, log *slog.Logger) (string, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	drv, err := postgres.Open(tx)
	if err != nil {
		return "", fmt.Errorf("open atlas driver: %w", err)
	}
	ex, err := migrate.NewExecutor(drv, dir, revisions{tx}, migrate.WithLogger(logger{log}))
	if err != nil {
		return "", err
	}
	pending, err := ex.Pending(ctx)
	if err != nil {
		return "", err
	}
	file := pending[0]
	start := time.Now()
	if err := ex.Execute(ctx, file); err != nil {
		return "", fmt.Errorf("apply %s: %w", file.Name(), err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("commit %s: %w", file.Name(), err)
	}
	log.Info("migration applied", "file", file.Name(), "took", time.Since(start).Round(time.Millisecond))
	return file.Name(), nil
}

// checkAppliedUnchanged refuses a directory in which a file that the
// database already ran has different content now (atlas.sum re-hashed after
// an edit): the database would silently differ from what the files say.
func checkAppliedUnchanged(ctx context.Context, rrw revisions, dir migrate.Dir) error {
	revs, err := rrw.ReadRevisions(ctx)
	if err != nil {
		return err
	}
	sums, err := dir.Checksum()
	if err != nil {
		return fmt.Errorf("compute checksums: %w", err)
	}
	files, err := dir.Files()
	if err != nil {
		return err
	}
	byVersion := make(map[string]string, len(files))
	for _, f := range files {
		byVersion[f.Version()] = f.Name()
	}
	for _, rev := range revs {
		name, ok := byVersion[rev.Version]
		if !ok || rev.Type == migrate.RevisionTypeBaseline {
			continue
		}
		sum, err := sums.SumByName(name)
		if err != nil {
			return err
		}
		if sum != rev.Hash {
			return fmt.Errorf("migration file %s was modified after it was applied to this database; restore the original and add a new migration instead", name)
		}
	}
	return nil
}

// ReadStatus compares the database's revisions with dir.
func ReadStatus(ctx context.Context, db *sql.DB, dir migrate.Dir) (Status, error) {
	revs, err := revisions{db}.ReadRevisions(ctx)
	if err != nil {
		return Status{}, err
	}
	files, err := dir.Files()
	if err != nil {
		return Status{}, err
	}
	done := make(map[string]bool, len(revs))
	st := Status{Applied: len(revs)}
	for _, r := range revs {
		if r.Applied == r.Total && r.Error == "" {
			done[r.Version] = true
			st.Current = r.Version
		}
	}
	for _, f := range files {
		st.Head = f.Version()
		if !done[f.Version()] {
			st.Pending = append(st.Pending, f.Name())
		}
	}
	return st, nil
}

// CurrentRevision returns the latest fully applied version, "" when the
// database has none.
func CurrentRevision(ctx context.Context, q querier) (string, error) {
	exists, err := tableExists(ctx, q)
	if err != nil || !exists {
		return "", err
	}
	var v sql.NullString
	err = q.QueryRowContext(ctx, `SELECT max(version) FROM `+qualifiedTable+
		` WHERE applied = total AND error IS NULL`).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("read current revision: %w", err)
	}
	return v.String, nil
}

// logger forwards the Atlas executor's log entries worth keeping to slog.
type logger struct{ log *slog.Logger }

// Log implements migrate.Logger.
func (l logger) Log(e migrate.LogEntry) {
	switch e := e.(type) {
	case migrate.LogFile:
		l.log.Debug("migration file", "file", e.File.Name())
	case migrate.LogError:
		l.log.Error("migration failed", "err", e.Error)
	}
}
