package main

import (
	"context"
	"strings"
	"testing"

	"violet/internal/apitoken"
	"violet/internal/auth"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

// TestTokenCommand: `violet token create` prints a working token as the
// last line of stdout, for a person or a service account, narrowed to its
// scopes, and refuses what the pages refuse, naming the flag.
func TestTokenCommand(t *testing.T) {
	dbURL := testdb.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	app := apptest.New(t, apptest.WithDatabaseURL(dbURL))
	app.User(t, "red@example.com", auth.GroupRedTeam)
	ci := app.User(t, "ci@automation.example", auth.GroupBlueTeam)
	if _, err := app.DB.Exec(`UPDATE users SET service_account = true WHERE id = $1`, ci.ID); err != nil {
		t.Fatal(err)
	}
	tokens := apitoken.NewService(app.Ent, app.DB, nil)
	authenticate := func(stdout string) *apitoken.Principal {
		t.Helper()
		raw := lastLine(stdout)
		p, err := tokens.Authenticate(context.Background(), raw)
		if err != nil {
			t.Fatalf("the last line %q does not authenticate: %v\n%s", raw, err, stdout)
		}
		return p
	}

	t.Run("a person's token", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, env, "token", "create", "--user", "Red@Example.com", "--scope", "read,red", "--expires", "30d")
		if err != nil {
			t.Fatalf("token create: %v\n%s", err, stderr)
		}
		p := authenticate(stdout)
		if p.Viewer.Email != "red@example.com" || !p.Has(apitoken.ScopeRed) || p.Has(apitoken.ScopeLibrary) {
			t.Errorf("principal %+v of %s", p, p.Viewer.Email)
		}
		if !p.Viewer.Can(auth.MissionTestRedWrite) || p.Viewer.Can(auth.TemplateWrite) {
			t.Errorf("a read,red token holds %v", p.Viewer.Permissions())
		}
		if !strings.HasPrefix(p.TokenName, "violet token create ") {
			t.Errorf("default name %q", p.TokenName)
		}
		var createdBy any
		if err := app.DB.QueryRow(`SELECT created_by_id FROM api_tokens WHERE id = $1`, p.TokenID).Scan(&createdBy); err != nil || createdBy != nil {
			t.Errorf("created_by_id %v (%v), want NULL for the system", createdBy, err)
		}
	})
	t.Run("a service account's token", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, env, "token", "create", "--user", "ci@automation.example", "--scope", "blue", "--expires", "7d", "--name", "pipeline")
		if err != nil {
			t.Fatalf("token create: %v\n%s", err, stderr)
		}
		p := authenticate(stdout)
		// The blue scope writes the blue side and reads (every scope
		// reads), never the red side.
		if p.TokenName != "pipeline" || p.Viewer.UserID != ci.ID || !p.Viewer.Can(auth.MissionTestBlueWrite) ||
			!p.Viewer.Can(auth.MissionRead) || p.Viewer.Can(auth.MissionTestRedWrite) {
			t.Errorf("principal %+v, permissions %v", p, p.Viewer.Permissions())
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"name taken", []string{"--user", "ci@automation.example", "--scope", "read", "--expires", "7d", "--name", "pipeline"}, "--name: Another active token"},
		{"unknown scope", []string{"--user", "ci@automation.example", "--scope", "read,root", "--expires", "7d"}, "--scope: "},
		{"too long", []string{"--user", "ci@automation.example", "--scope", "read", "--expires", "400d"}, "--expires: A token may last at most 366 days"},
		{"no expiry", []string{"--user", "ci@automation.example", "--scope", "read"}, "--expires: "},
		{"nobody", []string{"--user", "nobody@example.com", "--scope", "read", "--expires", "7d"}, "no account has the address"},
		{"no user", []string{"--scope", "read", "--expires", "7d"}, "--user EMAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runCmd(t, env, append([]string{"token", "create"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(stdout, "vlt_") {
				t.Errorf("a token was printed: %s", stdout)
			}
		})
	}
	if _, _, err := runCmd(t, env, "token", "list"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("token list: %v", err)
	}
	var n int
	if err := app.DB.QueryRow(`SELECT count(*) FROM api_tokens`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d tokens made (%v), want 2", n, err)
	}
}
