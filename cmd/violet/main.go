// Command violet is the whole of Violet: the web server and the commands
// that operate it (migrations, invitations, and later catalogue sync, imports).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	// The zone database inside the binary: the distroless image has no
	// /usr/share/zoneinfo, and every viewer's time zone is loaded from it.
	_ "time/tzdata"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "violet:", err)
		os.Exit(1)
	}
}

// env bundles what every subcommand gets from the process.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// run dispatches to a subcommand. It takes everything from its arguments so
// tests can call it like the shell does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) < 2 {
		usage(stderr)
		return errors.New("missing command")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return serve(ctx, e, rest)
	case "migrate":
		return migrateCmd(ctx, e, rest)
	case "invite":
		return inviteCmd(ctx, e, rest)
	case "token":
		return tokenCmd(ctx, e, rest)
	case "attack":
		return attackCmd(ctx, e, rest)
	case "atomic":
		return atomicCmd(ctx, e, rest)
	case "sigma":
		return sigmaCmd(ctx, e, rest)
	case "demo":
		return demoCmd(ctx, e, rest)
	case "backup":
		return backupCmd(ctx, e, rest)
	case "restore":
		return restoreCmd(ctx, e, rest)
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "-h", "--help", "help":
		usage(stdout)
		return nil
	default:
		usage(stderr)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: violet <command> [arguments]

Commands:
  serve                       run the web server (violet serve -h lists its environment)
  migrate diff NAME           write a migration for schema changes (needs a dev database)
  migrate apply               apply pending migrations to DATABASE_URL
  migrate status              show applied and pending migrations
  migrate validate            check migration files against atlas.sum
  migrate hash                rewrite atlas.sum
  invite --admin [--email E]  print a one-time link that creates an administrator
  invite --group NAME… [--email E]
                              print a one-time link that creates an account in those groups
  token create --user EMAIL --scope read,red --expires 30d [--name NAME]
                              print a new API token for a person or a service account (shown once)
  attack sync --file PATH | --url URL
                              sync the ATT&CK Enterprise catalogue from a STIX bundle
  atomic import PATH [--overwrite]
                              import Atomic Red Team technique files (a folder, a file, a .zip or .tar.gz)
  sigma import PATH           import Sigma detection rules (a folder, a file, a .zip or .tar.gz)
  demo                        create a demo mission with its accounts (once; a second run changes nothing)
  backup DIR                  write the database and the evidence files, with a manifest of hashes, into DIR (new or empty)
  restore DIR                 restore a backup into an empty database and evidence store, checking every hash
  version                     print the version
`)
}
