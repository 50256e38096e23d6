package main

import (
	"context"
	"errors"
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

// sigmaCmd implements `violet sigma import PATH`: it imports Sigma
// detection rules (a folder in SigmaHQ's layout, one rule file, or a .zip
// or .tar.gz archive) into the rule catalogue like the library's import
// page does, records the import in the history, prints the summary with
// each refused file (named with its line), and fails (exit 1) when a file
// could not be imported (the others are imported) or nothing could.
func sigmaCmd(ctx context.Context, e env, args []string) error {
	const usageLine = "usage: violet sigma import PATH"
	if len(args) != 2 || args[0] != "import" {
		return errors.New(usageLine)
	}
	path := args[1]
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	file := libraryimport.File{Name: filepath.Base(path), Path: path, Dir: fi.IsDir()}
	if !file.Dir && !libraryimport.CanImport(file.Name) {
		return fmt.Errorf("%s: not a folder, a .yml rule file or a .zip or .tar.gz archive", path)
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
		Source: file.Name, Files: []libraryimport.File{file}, Sigma: true,
	}
	row, err := imp.Begin(ctx)
	if err != nil {
		return err
	}
	sum, runErr := imp.Run(ctx, row)
	for _, f := range sum.Failures {
		fmt.Fprintf(e.stdout, "failed: %s: %s\n", f.File, f.Reason)
	}
	if runErr != nil {
		return runErr
	}
	fmt.Fprintf(e.stdout, "Sigma rules imported from %s: %d files, %d added, %d updated, %d unchanged, %d kept, %d failed\n",
		file.Name, sum.Files, sum.Added, sum.Updated, sum.Unchanged, sum.Kept, sum.Failed)
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d files could not be imported (listed above)", sum.Failed, sum.Files)
	}
	return nil
}
