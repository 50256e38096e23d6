package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"violet/internal/apitoken"
	"violet/internal/app"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/i18n"
)

// tokenCmd implements `violet token create --user EMAIL --scope read,red
// --expires 30d [--name NAME]`: it makes an API token as the system (for a
// person or a service account) through the same workflow as the pages,
// and prints it as the last line of stdout, for scripts and CI set-ups.
func tokenCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: violet token create --user EMAIL --scope read,red --expires 30d [--name NAME]")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	email := fs.String("user", "", "the account's email address (a person or a service account)")
	scopes := fs.String("scope", "", "comma-separated scopes: "+strings.Join(apitoken.Scopes(), ", "))
	expires := fs.String("expires", "", `how long the token lasts: "30d" (at most 366 days) or a date "2027-01-31"`)
	name := fs.String("name", "", "what the token is for (default: a name with today's date and time)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: violet token create --user EMAIL --scope read,red --expires 30d [--name NAME]\n\nNeeds DATABASE_URL. The token is printed once, as the last line.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if strings.TrimSpace(*email) == "" {
		return errors.New("say whose token it is: --user EMAIL")
	}
	now := time.Now()
	if strings.TrimSpace(*name) == "" {
		*name = "violet token create " + now.UTC().Format("2006-01-02 15:04:05")
	}
	cfg, err := config.Load(e.getenv, "DATABASE_URL")
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	db, client, err := database.Open(cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer client.Close()

	in := apitoken.Input{Name: *name, Scopes: strings.Split(*scopes, ","), ExpiresIn: *expires}
	made, owner, err := apitoken.NewService(client, db, nil).CreateForEmail(rule.SystemContext(ctx), *email, in)
	var bad *app.Invalid
	if errors.As(err, &bad) {
		return invalidFlags(bad)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "API token %q for %s, scopes %s, valid until %s. It is shown once:\n",
		made.Row.Name, owner, strings.Join(made.Row.Scopes, ", "), made.Row.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintln(e.stdout, made.Token)
	return nil
}

// invalidFlags words a refused token as the flags that caused it, in
// English (the message keys' catalogue; the key itself when it cannot be
// read).
func invalidFlags(bad *app.Invalid) error {
	flags := map[string]string{"name": "--name", "scopes": "--scope", "expires": "--expires"}
	var t func(string) string
	if cat, err := i18n.New("en"); err == nil {
		loc := cat.Pick("en", "")
		t = func(key string) string { return loc.T(key) }
	} else {
		t = func(key string) string { return key }
	}
	var lines []string
	for field, key := range bad.Fields {
		lines = append(lines, fmt.Sprintf("%s: %s", flags[field], t(key)))
	}
	sort.Strings(lines)
	return fmt.Errorf("the token was not made:\n  %s", strings.Join(lines, "\n  "))
}
