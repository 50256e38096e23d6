package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"violet/internal/auth"
	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/demo"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/notify"
	"violet/internal/seed"
)

// demoCmd implements `violet demo`: it creates the demo (three accounts, a
// scenario, a mission with tests in every state; see internal/demo) on the
// DATABASE_URL database, next to what it holds, and prints the accounts
// with their passwords, shown this once. A second run finds the demo,
// changes nothing and says so.
func demoCmd(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: violet demo\n\nCreates a demo mission with its accounts on DATABASE_URL (once; a second run changes nothing).\nLinks are built from BASE_URL.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: violet demo)", fs.Arg(0))
	}
	cfg, err := config.Load(e.getenv, "DATABASE_URL")
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	_, client, err := database.Open(cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer client.Close()
	// The groups and the detection scale the demo uses; a no-op on a
	// database Violet has already started on.
	if err := seed.Ensure(ctx, client); err != nil {
		return fmt.Errorf("reference data: %w", err)
	}
	hasher, err := auth.NewHasher(auth.DefaultArgon2Params(), 1, time.Minute)
	if err != nil {
		return err
	}
	// The catalog renders the notifications the demo's steps send.
	catalog, err := i18n.New(cfg.DefaultLocale)
	if err != nil {
		return err
	}
	steps := mission.NewSteps(client, notify.New(catalog))
	res, err := demo.Run(ctx, client, steps, hasher.Hash, time.Now())
	if err != nil {
		return err
	}
	link := ""
	if cfg.BaseURL != nil {
		link = cfg.BaseURL.JoinPath("missions", res.MissionID.String()).String()
	}
	out := e.stdout
	if res.Existed {
		fmt.Fprintf(out, "The demo exists already: nothing changed.\nMission %q (%d tests): %s\n", demo.MissionName, res.Tests, link)
		fmt.Fprintln(out, "Accounts (their passwords were shown when the demo was made; an administrator can send a reset link from Admin > Users):")
	} else {
		fmt.Fprintf(out, "Demo created.\nMission %q (%d tests): %s\n", demo.MissionName, res.Tests, link)
		fmt.Fprintln(out, "Accounts (the passwords are shown this once):")
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	for _, a := range res.Accounts {
		if a.Password == "" {
			fmt.Fprintf(tw, "  %s\t%s\n", a.Role, a.Email)
		} else {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.Role, a.Email, a.Password)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !res.Existed {
		switch {
		case res.Tagged == 0:
			fmt.Fprintln(out, "The ATT&CK catalogue is empty, so the demo tests carry no ATT&CK tags. Sync it first (violet attack sync --file PATH) for a tagged demo.")
		case len(res.Untagged) > 0:
			fmt.Fprintf(out, "%d ATT&CK tag(s) attached; not in the catalogue, left out: %s\n", res.Tagged, strings.Join(res.Untagged, ", "))
		default:
			fmt.Fprintf(out, "%d ATT&CK tag(s) attached.\n", res.Tagged)
		}
	}
	return nil
}
