package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"violet/internal/testkit/bench"
	"violet/internal/testkit/testdb"
)

// runCompare is -compare REF: it builds REF's violet and violet-bench from a
// copy of its tree (git archive into a temporary directory, so this
// repository's index and worktrees are left alone), builds this tree's
// violet, and measures both on one throwaway cluster (bench.Compare).
func runCompare(ctx context.Context, ref string, o bench.CompareOptions, stdout, stderr io.Writer, jsonOut, mdOut string) error {
	commit, err := gitOut(ctx, "rev-parse", "--verify", ref+"^{commit}")
	if err != nil {
		return fmt.Errorf("-compare %s: %w", ref, err)
	}
	dir, err := os.MkdirTemp("", "violet-bench-ref-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "violet-bench: building %s (%.12s) in %s\n", ref, commit, src)
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", commit)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	if untar.Stdin, err = archive.StdoutPipe(); err != nil {
		return err
	}
	archive.Stderr, untar.Stderr = stderr, stderr
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w", ref, err)
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("untar %s: %w", ref, err)
	}
	o.Ref = bench.Side{Name: fmt.Sprintf("%s (%.12s)", ref, commit),
		Violet: filepath.Join(dir, "violet-ref"), Bench: filepath.Join(dir, "violet-bench-ref")}
	o.New.Violet = filepath.Join(dir, "violet-new")
	if o.New.Bench, err = os.Executable(); err != nil {
		return err
	}
	if o.New.Name == "" || o.New.Name == "dev" {
		if d, err := gitOut(ctx, "describe", "--tags", "--always", "--dirty"); err == nil {
			o.New.Name = d
		}
	}
	for _, b := range []struct{ dir, out, pkg string }{
		{src, o.Ref.Violet, "./cmd/violet"}, {src, o.Ref.Bench, "./cmd/violet-bench"}, {".", o.New.Violet, "./cmd/violet"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", b.out, b.pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s in %s: %w", b.pkg, b.dir, err)
		}
	}
	fmt.Fprintln(stderr, "violet-bench: starting a throwaway PostgreSQL cluster (with pg_stat_statements)")
	cluster, err := testdb.StartClusterWith(testdb.ClusterOptions{Settings: testdb.StatStatementsSettings()})
	if err != nil {
		return err
	}
	defer cluster.Remove()
	o.AdminURL = cluster.URL("postgres")
	rep, err := bench.Compare(ctx, o)
	if err != nil {
		return err
	}
	rep.WriteTable(stdout)
	return writeReport(rep, rep.WriteMarkdown, "make bench BENCHFLAGS='-compare "+ref+"'", jsonOut, mdOut)
}

// gitOut runs git with args in the working directory and returns its
// trimmed output.
func gitOut(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
