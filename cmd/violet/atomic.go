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
	imp := &libraryimport.Job{Overwrite: *overwrite}
	sum, name, err := runImport(ctx, e, path, imp, "a .yaml technique file")
	for _, u := range sum.Untagged {
		fmt.Fprintf(e.stdout, "untagged: %s (%s, %s not in the catalogue)\n", u.Test, u.File, u.TechniqueID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Atomic Red Team imported from %s: %d files, %d added, %d updated, %d unchanged, %d kept, %d failed\n",
		name, sum.Files, sum.Added, sum.Updated, sum.Unchanged, sum.Kept, sum.Failed)
	return failedFiles(sum)
}

// runImport runs imp (an Atomic or a Sigma import; its kind and options
// set) on the folder, file or archive at path as the library's import page
// does, recording it in the history, and prints each refused file. what
// names the single file the import takes, for the message refusing
// another. It returns the summary and the name the import is known by.
func runImport(ctx context.Context, e env, path string, imp *libraryimport.Job, what string) (libraryimport.Summary, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return libraryimport.Summary{}, "", err
	}
	file := libraryimport.File{Name: filepath.Base(path), Path: path, Dir: fi.IsDir()}
	if !file.Dir && !libraryimport.CanImport(file.Name) {
		return libraryimport.Summary{}, "", fmt.Errorf("%s: not a folder, %s or a .zip or .tar.gz archive", path, what)
	}
	cfg, err := config.Load(e.getenv, "DATABASE_URL")
	if err != nil {
		return libraryimport.Summary{}, "", err
	}
	db, client, err := database.Open(cfg.DatabaseURL, 4)
	if err != nil {
		return libraryimport.Summary{}, "", err
	}
	defer client.Close()
	ctx = rule.SystemContext(ctx)
	// The job's lock on db tells a server's reaper this import is alive;
	// without a notifier, nobody is told when it ends.
	imp.Jobs = job.NewRunner(client, db, nil, time.Now, newLogger(e.stderr, slog.LevelWarn, "text"))
	imp.Source, imp.Files = file.Name, []libraryimport.File{file}
	row, err := imp.Begin(ctx)
	if err != nil {
		return libraryimport.Summary{}, "", err
	}
	sum, err := imp.Run(ctx, row)
	for _, f := range sum.Failures {
		fmt.Fprintf(e.stdout, "failed: %s: %s\n", f.File, f.Reason)
	}
	return sum, file.Name, err
}

// failedFiles is the command's error when some files could not be
// imported (the others were).
func failedFiles(sum libraryimport.Summary) error {
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d files could not be imported (listed above)", sum.Failed, sum.Files)
	}
	return nil
}
