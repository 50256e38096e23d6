package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"violet/ent"
	"violet/ent/group"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/invite"
)

// groupFlags collects a repeated --group flag.
type groupFlags []string

func (g *groupFlags) String() string { return strings.Join(*g, ",") }

func (g *groupFlags) Set(v string) error {
	if v = strings.TrimSpace(v); v == "" {
		return errors.New("empty group name")
	}
	*g = append(*g, v)
	return nil
}

// inviteCmd implements `violet invite --admin | --group NAME… [--email E]`:
// it creates an invitation as the system (which may grant any group) and
// prints its link as the last line of stdout, for scripts and first runs.
func inviteCmd(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("invite", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	admin := fs.Bool("admin", false, "invite an administrator (the admin group)")
	var groups groupFlags
	fs.Var(&groups, "group", "a group the new account joins (repeat for several)")
	email := fs.String("email", "", "the invitee's email address (optional; otherwise the invitee types one)")
	hours := fs.Int("expiry-hours", 0, "how long the link stays valid (default: the invitation.default_expiry_hours setting, 72; at most 720)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: violet invite --admin [--email E]\n       violet invite --group NAME [--group NAME…] [--email E]\n\nNeeds DATABASE_URL; links are built from BASE_URL.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: violet invite --admin | --group NAME… [--email E])", fs.Arg(0))
	}
	if *admin {
		groups = append(groups, auth.GroupAdmin)
	}
	if len(groups) == 0 {
		return errors.New("say whom to invite: --admin, or --group NAME (repeatable)")
	}
	hint := ""
	if strings.TrimSpace(*email) != "" {
		var ok bool
		if hint, ok = invite.NormalizeEmail(*email); !ok {
			return fmt.Errorf("--email %q is not an email address", *email)
		}
	}
	if *hours < 0 || time.Duration(*hours)*time.Hour > invite.MaxExpiry {
		return errors.New("--expiry-hours must be between 1 and 720")
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

	sys := rule.SystemContext(ctx)
	names := slices.Compact(slices.Sorted(slices.Values(groups)))
	found, err := client.Group.Query().Where(group.NameIn(names...)).All(sys)
	if err != nil {
		return fmt.Errorf("read groups: %w", err)
	}
	for _, n := range names {
		if !slices.ContainsFunc(found, func(g *ent.Group) bool { return g.Name == n }) {
			return fmt.Errorf("no group is called %q", n)
		}
	}
	p := invite.Params{EmailHint: hint, Expiry: time.Duration(*hours) * time.Hour}
	for _, g := range found {
		p.GroupIDs = append(p.GroupIDs, g.ID)
	}
	inv, token, err := invite.Create(sys, client, time.Now(), p)
	if errors.Is(err, invite.ErrEmailTaken) {
		return fmt.Errorf("an account already uses %s", hint)
	}
	if err != nil {
		return err
	}
	who := hint
	if who == "" {
		who = "anyone with the link"
	}
	fmt.Fprintf(e.stdout, "Invitation for %s, groups %s, valid until %s. The link is shown once:\n",
		who, strings.Join(names, ", "), inv.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintln(e.stdout, invite.URL(cfg.BaseURL, token))
	return nil
}

// bootstrapTimeout bounds the start-up check for a first-admin link, so
// that a slow database never holds anything up.
const bootstrapTimeout = 30 * time.Second

// startBootstrap logs, while the database has no users, a one-time link
// that creates the first administrator; each start makes a new link and
// revokes the earlier ones. It runs beside the server (a database that is
// down at start-up must not delay serving); wait for it with the returned
// WaitGroup.
func startBootstrap(ctx context.Context, client *ent.Client, base *url.URL, log *slog.Logger) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
		defer cancel()
		token, err := invite.Bootstrap(rule.SystemContext(ctx), client, time.Now())
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("could not check for a first administrator", "err", err)
			}
		case token == "":
			log.Debug("accounts exist: no first-administrator link needed")
		default:
			// The one place a token is logged, on purpose: on an empty
			// database the operator's log is the only channel there is.
			log.Warn("no users yet: open this link to create the first administrator account; "+
				"it works once, and the next start replaces it while there are no users",
				"url", invite.URL(base, token))
		}
	})
	return &wg
}
