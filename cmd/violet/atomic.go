package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/job"
	"violet/internal/libraryimport"
)

// atomicCmd implements `violet atomic import PATH [--overwrite]`: it
// imports Atomic Red Team technique files (an atomics folder, one
// technique file, or a .zip or .tar.gz archive) like the library's import
// page does, records the import in the history, prints the summary with
// each failure, and fails (exit 1) when a file could not be imported
// (the others are imported) or nothing could.
func atomicCmd(ctx context.Context, e env, args []string) error {
	const usageLine = "usage: violet atomic import PATH [--overwrite]"
	if len(args) == 0 || args[0] != "import" {
		return errors.New(usageLine)
	}
	fs := flag.NewFlagSet("atomic import", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	overwrite := fs.Bool("overwrite", false, "replace local edits of templates imported before (they are kept by default)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: violet atomic import PATH [--overwrite]\n\n"+
			"PATH is an atomics folder, a technique file (T1059.001.yaml) or a .zip or .tar.gz archive of the folder.\nNeeds DATABASE_URL.")
		fs.PrintDefaults()
	}
	// The flag may come before or after the path.
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var path string
	if fs.NArg() > 0 {
		path = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if path == "" || fs.NArg() > 0 {
		return errors.New(usageLine)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	file := libraryimport.File{Name: filepath.Base(path), Path: path, Dir: fi.IsDir()}
	if !file.Dir && !libraryimport.CanImport(file.Name) {
		return fmt.Errorf("%s: not a folder, a .yaml technique file or a .zip or .tar.gz archive", path)
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
	ctx = rule.SystemContext(ctx)
	imp := &libraryimport.Job{
		// The job's lock on db tells a server's reaper this import is
		// alive; without a notifier, nobody is told when it ends.
		Jobs:   job.NewRunner(client, db, nil, time.Now, newLogger(e.stderr, slog.LevelWarn, "text")),
		Source: file.Name, Files: []libraryimport.File{file}, Overwrite: *overwrite,
	}
	job, err := imp.Begin(ctx)
	if err != nil {
		return err
	}
	sum, runErr := imp.Run(ctx, job)
	for _, f := range sum.Failures {
		fmt.Fprintf(e.stdout, "failed: %s: %s\n", f.File, f.Reason)
	}
	for _, u := range sum.Untagged {
		fmt.Fprintf(e.stdout, "untagged: %s (%s, %s not in the catalogue)\n", u.Test, u.File, u.TechniqueID)
	}
	if runErr != nil {
		return runErr
	}
	fmt.Fprintf(e.stdout, "Atomic Red Team imported from %s: %d files, %d added, %d updated, %d unchanged, %d kept, %d failed\n",
		file.Name, sum.Files, sum.Added, sum.Updated, sum.Unchanged, sum.Kept, sum.Failed)
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d files could not be imported (listed above)", sum.Failed, sum.Files)
	}
	return nil
}
