package main

import (
	"context"
	"errors"
	"fmt"

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
	sum, name, err := runImport(ctx, e, args[1], &libraryimport.Job{Sigma: true}, "a .yml rule file")
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Sigma rules imported from %s: %d files, %d added, %d updated, %d unchanged, %d kept, %d failed\n",
		name, sum.Files, sum.Added, sum.Updated, sum.Unchanged, sum.Kept, sum.Failed)
	return failedFiles(sum)
}
