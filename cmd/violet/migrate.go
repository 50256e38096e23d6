package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"ariga.io/atlas/sql/migrate"

	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/migration"
	"violet/internal/seed"
	"violet/migrations"
)

// migrateCmd implements `violet migrate diff|apply|status|validate|hash`.
// apply and status use the migrations embedded in the binary; diff,
// validate and hash work on the directory in the source tree.
func migrateCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: violet migrate diff NAME | apply | status | validate | hash")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("migrate "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dirPath := fs.String("dir", "migrations", "migration directory in the source tree (diff, validate, hash)")
	devURL := fs.String("dev-url", e.getenv("DEV_DATABASE_URL"), "empty scratch database for diff (default $DEV_DATABASE_URL; make migrate-diff uses the devdb one)")
	check := fs.Bool("check", false, "diff: write nothing, fail when a file would be written (schema drift)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(e.stderr, slog.LevelInfo, "text")
	switch sub {
	case "diff":
		dir, err := migrate.NewLocalDir(*dirPath)
		if err != nil {
			return err
		}
		if *devURL == "" {
			return errors.New("diff needs an empty dev database: set DEV_DATABASE_URL or --dev-url (make migrate-diff does it)")
		}
		if *check {
			if err := migration.CheckDrift(ctx, *devURL, dir); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "no drift: the migrations match the ent schema")
			return nil
		}
		if fs.NArg() != 1 {
			return errors.New("usage: violet migrate diff NAME")
		}
		wrote, err := migration.Diff(ctx, *devURL, dir, fs.Arg(0))
		if err != nil {
			return err
		}
		if !wrote {
			fmt.Fprintln(e.stdout, "no schema change: nothing written")
			return nil
		}
		fmt.Fprintln(e.stdout, "new migration written to", *dirPath)
		return nil
	case "validate":
		dir, err := migrate.NewLocalDir(*dirPath)
		if err != nil {
			return err
		}
		if err := migration.Validate(dir); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "migration directory is valid")
		return nil
	case "hash":
		dir, err := migrate.NewLocalDir(*dirPath)
		if err != nil {
			return err
		}
		return migration.Hash(dir)
	case "apply", "status":
		cfg, err := config.Load(e.getenv, "DATABASE_URL")
		if err != nil {
			return err
		}
		db, client, err := database.Open(cfg.DatabaseURL, 4)
		if err != nil {
			return err
		}
		defer client.Close()
		dir, err := migrations.Dir()
		if err != nil {
			return err
		}
		if sub == "apply" {
			applied, err := migration.Apply(ctx, db, dir, log)
			if err != nil {
				return err
			}
			if err := seed.Ensure(ctx, client); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d migration(s) applied\n", len(applied))
			return nil
		}
		st, err := migration.ReadStatus(ctx, db, dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "current: %s\nhead:    %s\napplied: %d\n", orNone(st.Current), st.Head, st.Applied)
		for _, p := range st.Pending {
			fmt.Fprintln(e.stdout, "pending:", p)
		}
		if st.AtHead() {
			fmt.Fprintln(e.stdout, "status:  at head")
		}
		return nil
	default:
		return fmt.Errorf("unknown migrate command %q", sub)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
