package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"violet/internal/backup"
	"violet/internal/config"
	"violet/internal/i18n"
	"violet/migrations"
)

// backupCmd implements `violet backup DIR`: a pg_dump of DATABASE_URL and
// a copy of every object of the evidence store into DIR (new or empty),
// with a manifest of hashes written last (see internal/backup).
func backupCmd(ctx context.Context, e env, args []string) error {
	dir, err := backupArgs(e, "backup", args,
		"Writes a consistent copy of the database (pg_dump custom format) and of the evidence store into DIR,\n"+
			"which must not exist or be empty, with manifest.json (sizes and SHA-256 of every file) written last.\n"+
			"Needs DATABASE_URL and the evidence store (EVIDENCE_DIR, or EVIDENCE_STORE=s3 and S3_*), and pg_dump (on PATH or in /usr/lib/postgresql/*/bin).")
	if err != nil {
		return err
	}
	cfg, err := config.Load(e.getenv, "DATABASE_URL", "EVIDENCE_DIR")
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	store, err := openEvidence(cfg, false)
	if err != nil {
		return err
	}
	sum, err := backup.Backup(ctx, cfg.DatabaseURL, store, dir, backup.Options{Version: version})
	if sum != nil {
		fmt.Fprintf(e.stdout, "Backup written to %s: database dump %s (migration %s), %d evidence objects (%s), in %s\n",
			dir, i18n.Size(ctx, sum.DumpBytes), sum.MigrationRevision, sum.Objects, i18n.Size(ctx, sum.ObjectBytes), sum.Duration.Round(time.Millisecond))
	}
	return err
}

// restoreCmd implements `violet restore DIR`: it verifies the backup in
// DIR, restores it into the empty DATABASE_URL database and the empty
// evidence store, and checks every evidence row against the store.
func restoreCmd(ctx context.Context, e env, args []string) error {
	dir, err := backupArgs(e, "restore", args,
		"Restores the backup in DIR (made by violet backup) into DATABASE_URL and the evidence store, which must both be empty.\n"+
			"Every file is checked against the manifest before anything is changed; afterwards every evidence file\n"+
			"is read back from the store and checked against its SHA-256 in the database.\n"+
			"Needs DATABASE_URL and the evidence store (EVIDENCE_DIR, created if missing, or EVIDENCE_STORE=s3 and S3_*),\n"+
			"and pg_restore (on PATH or in /usr/lib/postgresql/*/bin).")
	if err != nil {
		return err
	}
	cfg, err := config.Load(e.getenv, "DATABASE_URL", "EVIDENCE_DIR")
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	store, err := openEvidence(cfg, true)
	if err != nil {
		return err
	}
	sum, err := backup.Restore(ctx, cfg.DatabaseURL, store, dir, backup.Options{Version: version})
	if sum == nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Restored from %s: database dump %s (migration %s), %d evidence objects (%s), in %s\n",
		dir, i18n.Size(ctx, sum.DumpBytes), sum.MigrationRevision, sum.Objects, i18n.Size(ctx, sum.ObjectBytes), sum.Duration.Round(time.Millisecond))
	var problems *backup.ProblemsError
	if err == nil {
		fmt.Fprintln(e.stdout, "Every evidence file matches its SHA-256.")
	} else if !errors.As(err, &problems) {
		return err
	}
	if newer, head := backupNewer(sum.MigrationRevision); newer {
		fmt.Fprintf(e.stderr, "warning: the backup is at migration %s, newer than this Violet's last one (%s): serve it with the Violet version that made it or a later one\n",
			sum.MigrationRevision, head)
	}
	return err
}

// backupArgs parses `backup DIR` and `restore DIR`.
func backupArgs(e env, name string, args []string, help string) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: violet %s DIR\n\n%s\n", name, help)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		return "", fmt.Errorf("usage: violet %s DIR", name)
	}
	return fs.Arg(0), nil
}

// backupNewer reports whether rev is past this build's last migration,
// and that last one.
func backupNewer(rev string) (bool, string) {
	dir, err := migrations.Dir()
	if err != nil {
		return false, ""
	}
	files, err := dir.Files()
	if err != nil || len(files) == 0 {
		return false, ""
	}
	head := files[len(files)-1].Version()
	return rev > head, head
}
