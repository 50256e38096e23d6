package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"violet/internal/invite"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

// lastLine returns the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestInviteCommand: `violet invite` prints a working link as the last
// line of stdout, keeps only its hash, and refuses what makes no sense.
func TestInviteCommand(t *testing.T) {
	dbURL := testdb.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "BASE_URL": "https://violet.example.com/"}
	app := apptest.New(t, apptest.WithDatabaseURL(dbURL))
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := app.DB.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tokenOf := func(stdout string) string {
		t.Helper()
		link := lastLine(stdout)
		const prefix = "https://violet.example.com/invitations/"
		if !strings.HasPrefix(link, prefix) || len(link) != len(prefix)+43 {
			t.Fatalf("last line %q is not an invitation link on BASE_URL\n%s", link, stdout)
		}
		return strings.TrimPrefix(link, prefix)
	}

	t.Run("--admin --email", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, env, "invite", "--admin", "--email", "First@Example.com")
		if err != nil {
			t.Fatalf("invite: %v\n%s", err, stderr)
		}
		token := tokenOf(stdout)
		if count(`SELECT count(*) FROM invitations WHERE token_hash = $1 AND created_by_id IS NULL AND email_hint = 'first@example.com'`,
			invite.HashToken(token)) != 1 {
			t.Fatal("no system invitation with the token's hash and the email")
		}
		if count(`SELECT count(*) FROM invitations WHERE token_hash = $1`, token) != 0 {
			t.Error("the token itself is stored")
		}
		// The link works: it opens the acceptance page and creates an admin.
		path := "/invitations/" + token
		if w := app.GetAs(nil, path); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "first@example.com") {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
		w := app.PostAs(nil, path, url.Values{
			"display_name": {"First Admin"}, "locale": {"en"},
			"password": {"first admin passphrase"}, "password_confirm": {"first admin passphrase"},
		})
		if w.Code != http.StatusSeeOther {
			t.Fatalf("accept: %d\n%s", w.Code, w.Body)
		}
		if count(`SELECT count(*) FROM users u JOIN user_groups ug ON ug.user_id = u.id JOIN groups g ON g.id = ug.group_id
			WHERE u.email = 'first@example.com' AND g.name = 'admin'`) != 1 {
			t.Error("the account is not an admin")
		}
	})
	t.Run("--group twice", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, env, "invite", "--group", "redteam", "--group", "observer", "--expiry-hours", "5")
		if err != nil {
			t.Fatalf("invite: %v\n%s", err, stderr)
		}
		hash := invite.HashToken(tokenOf(stdout))
		if got := count(`SELECT count(*) FROM invitation_groups ig JOIN invitations i ON i.id = ig.invitation_id
			JOIN groups g ON g.id = ig.group_id WHERE i.token_hash = $1 AND g.name IN ('redteam', 'observer')`, hash); got != 2 {
			t.Errorf("the invitation grants %d of the 2 groups", got)
		}
		if got := count(`SELECT count(*) FROM invitations WHERE token_hash = $1
			AND expires_at BETWEEN now() + interval '4 hours 59 minutes' AND now() + interval '5 hours 1 minute'`, hash); got != 1 {
			t.Error("the expiry is not 5 hours")
		}
	})
	t.Run("default expiry", func(t *testing.T) {
		stdout, _, err := runCmd(t, env, "invite", "--group", "observer")
		if err != nil {
			t.Fatal(err)
		}
		if got := count(`SELECT count(*) FROM invitations WHERE token_hash = $1
			AND expires_at BETWEEN now() + interval '71 hours 59 minutes' AND now() + interval '72 hours 1 minute'`,
			invite.HashToken(tokenOf(stdout))); got != 1 {
			t.Error("the default expiry is not 72 hours")
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"nobody to invite", env, nil, "--admin"},
		{"unknown group", env, []string{"--group", "wizards"}, "wizards"},
		{"bad email", env, []string{"--admin", "--email", "not an email"}, "email"},
		{"email of an account", env, []string{"--admin", "--email", "first@example.com"}, "first@example.com"},
		{"expiry beyond 30 days", env, []string{"--admin", "--expiry-hours", "721"}, "720"},
		{"no database", map[string]string{}, []string{"--admin"}, "DATABASE_URL"},
		{"stray argument", env, []string{"--admin", "bob"}, "bob"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			before := count(`SELECT count(*) FROM invitations`)
			stdout, _, err := runCmd(t, tc.env, append([]string{"invite"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want an error mentioning %q", err, tc.want)
			}
			if strings.Contains(stdout, "/invitations/") {
				t.Errorf("a link was printed: %s", stdout)
			}
			if count(`SELECT count(*) FROM invitations`) != before {
				t.Error("an invitation was written")
			}
		})
	}
}

// bootstrapLink matches the link `violet serve` logs on an empty database.
var bootstrapLink = regexp.MustCompile(`url=(http://\S+/invitations/[A-Za-z0-9_-]{43})`)

// TestServeBootstrapLink: on a database without users `violet serve` logs
// one first-administrator link per start, the newest being the only one
// that works; once there are users it logs none.
func TestServeBootstrapLink(t *testing.T) {
	dbURL := testdb.URL(t)
	key := sessionKey(t)
	evidence := filepath.Join(t.TempDir(), "evidence")
	client := newClient()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	start := func(t *testing.T) *servedProcess {
		t.Helper()
		addr := freeAddr(t)
		s := startServe(t, map[string]string{
			"DATABASE_URL": dbURL, "SESSION_KEY": key, "EVIDENCE_DIR": evidence,
			"LISTEN_ADDR": addr, "BASE_URL": "http://" + addr, "LOG_LEVEL": "debug",
		})
		s.waitFor(t, client, "/readyz", 10*time.Second)
		return s
	}
	// waitLog waits for the bootstrap check to say what it did.
	waitLog := func(t *testing.T, s *servedProcess, re *regexp.Regexp) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if m := re.FindStringSubmatch(s.stderr.String()); m != nil {
				return m
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("the log never matched %s:\n%s", re, s.stderr)
		return nil
	}
	status := func(t *testing.T, link string) int {
		t.Helper()
		resp, err := client.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	first := start(t)
	firstLink := waitLog(t, first, bootstrapLink)[1]
	if got := status(t, firstLink); got != http.StatusOK {
		t.Fatalf("the bootstrap link answers %d", got)
	}
	if err := first.stop(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	second := start(t)
	secondLink := waitLog(t, second, bootstrapLink)[1]
	if secondLink == firstLink {
		t.Fatal("the second start logged the same link")
	}
	if strings.Count(second.stderr.String(), "/invitations/") != 1 {
		t.Errorf("one start logged several links:\n%s", second.stderr)
	}
	if got := status(t, secondLink); got != http.StatusOK {
		t.Errorf("the newest link answers %d", got)
	}
	// Only the newest works; the first one now looks like any dead link.
	if got := status(t, strings.Replace(firstLink, first.base, second.base, 1)); got != http.StatusGone {
		t.Errorf("the replaced link answers %d, want 410", got)
	}
	form := url.Values{
		"email": {"root@example.com"}, "display_name": {"Root"}, "locale": {"en"},
		"password": {"root passphrase here"}, "password_confirm": {"root passphrase here"},
	}
	resp, err := client.PostForm(secondLink, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accepting the bootstrap link: %d", resp.StatusCode)
	}
	if err := second.stop(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	third := start(t)
	waitLog(t, third, regexp.MustCompile(`accounts exist`))
	if strings.Contains(third.stderr.String(), "/invitations/") {
		t.Errorf("a start with users logged a link:\n%s", third.stderr)
	}
	app := apptest.New(t, apptest.WithDatabaseURL(dbURL))
	var admins, pending int
	if err := app.DB.QueryRowContext(context.Background(), `SELECT
		(SELECT count(*) FROM users u JOIN user_groups ug ON ug.user_id = u.id JOIN groups g ON g.id = ug.group_id
			WHERE u.email = 'root@example.com' AND g.name = 'admin'),
		(SELECT count(*) FROM invitations WHERE consumed_at IS NULL AND revoked_at IS NULL)`).Scan(&admins, &pending); err != nil {
		t.Fatal(err)
	}
	if admins != 1 || pending != 0 {
		t.Errorf("after bootstrap: %d admin accounts (want 1), %d usable links left (want 0)", admins, pending)
	}
}
