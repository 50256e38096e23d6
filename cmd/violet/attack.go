package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/database"
)

// attackCmd implements `violet attack sync --file PATH | --url URL`: it
// syncs the catalogue like the admin page does, records the sync in the
// history, prints the summary and fails (exit 1) with the reason when the
// bundle cannot be used, leaving the catalogue as it was.
func attackCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "sync" {
		return errors.New("usage: violet attack sync --file PATH | --url URL [--version V]")
	}
	fs := flag.NewFlagSet("attack sync", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	file := fs.String("file", "", "a STIX 2.1 enterprise-attack bundle on disk")
	url := fs.String("url", "", "a URL to download the bundle from")
	version := fs.String("version", "", "the ATT&CK release to record when the bundle does not name it (default: from the file name)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: violet attack sync --file PATH | --url URL [--version V]\n\nNeeds DATABASE_URL.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if (*file == "") == (*url == "") || fs.NArg() > 0 {
		return errors.New("give exactly one of --file PATH or --url URL")
	}
	cfg, err := config.Load(e.getenv, "DATABASE_URL")
	if err != nil {
		return err
	}
	db, client, err := database.Open(cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer client.Close()
	log := newLogger(e.stderr, slog.LevelWarn, "text")
	syncer := attack.NewSyncer(client, db, nil, nil, log) // the lock tells a server's reaper this sync is alive
	ctx = rule.SystemContext(ctx)

	src := attack.Source{URL: *url, Path: *file, Version: *version}
	job, err := syncer.Begin(ctx, nil, src.Label())
	if err != nil {
		return err
	}
	counts, err := syncer.Sync(ctx, job, src)
	var pathErr *os.PathError
	switch {
	case errors.As(err, &pathErr):
		return err // a file that cannot be opened is told as it is: the person named it
	case err != nil:
		return errors.New(attack.Message(err))
	}
	got, err := client.AttackSync.Get(ctx, job.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ATT&CK %s synced from %s: %d added, %d updated, %d revoked or deprecated, %d unchanged\n",
		orNone(got.AttackVersion), src.Label(), counts.Added, counts.Updated, counts.Revoked, counts.Unchanged)
	return nil
}
