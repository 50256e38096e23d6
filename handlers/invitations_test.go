package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"violet/ent/group"
	"violet/ent/permission"
	"violet/internal/auth/rule"
	"violet/internal/invite"
	"violet/internal/testkit/apptest"
)

// invGroupIDs returns the ids of the named groups, in the order named.
func invGroupIDs(t *testing.T, app *apptest.App, names ...string) []string {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	var ids []string
	for _, n := range names {
		g, err := app.Ent.Group.Query().Where(group.Name(n)).Only(ctx)
		if err != nil {
			t.Fatalf("group %s: %v", n, err)
		}
		ids = append(ids, g.ID.String())
	}
	return ids
}

// invCreate submits the create form as cookie's user.
func invCreate(app *apptest.App, cookie *http.Cookie, email, hours string, groupIDs ...string) *httptest.ResponseRecorder {
	return app.PostAs(cookie, "/admin/invitations", url.Values{
		"email_hint": {email}, "expiry_hours": {hours}, "group_ids": groupIDs,
	})
}

// invToken reads the link shown once on a created page and returns its
// token, checking that the link is built on BASE_URL.
func invToken(t *testing.T, app *apptest.App, w *httptest.ResponseRecorder) string {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("create invitation: %d, want 200 with the link\n%s", w.Code, w.Body)
	}
	link, ok := doc(t, w).Find(`[data-testid="invitation-link"]`).Attr("value")
	prefix := app.Config.BaseURL.String() + "/invitations/"
	if !ok || !strings.HasPrefix(link, prefix) {
		t.Fatalf("link %q is not on %s", link, prefix)
	}
	token := strings.TrimPrefix(link, prefix)
	if len(token) != 43 {
		t.Fatalf("token %q is not 32 bytes in base64url", token)
	}
	return token
}

// invAdminToken creates an invitation as a fresh admin and returns its
// token.
func invAdminToken(t *testing.T, app *apptest.App, email string, groups ...string) string {
	t.Helper()
	admin := app.SignedIn(t, "admin-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"@example.com", "admin")
	return invToken(t, app, invCreate(app, admin, email, "72", invGroupIDs(t, app, groups...)...))
}

// invAcceptForm is a valid acceptance form.
func invAcceptForm(email, name string) url.Values {
	return url.Values{
		"email": {email}, "display_name": {name}, "locale": {"fr"},
		"password": {"a long enough passphrase"}, "password_confirm": {"a long enough passphrase"},
	}
}

// invCount runs a count query.
func invCount(t *testing.T, app *apptest.App, query string, args ...any) int {
	t.Helper()
	var n int
	if err := app.DB.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// invSession returns the session cookie a response sets, or nil.
func invSession(app *apptest.App, w *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == app.Sessions.Name() && c.Value != "" && c.MaxAge >= 0 {
			return c
		}
	}
	return nil
}

// invInviterGroup makes a group holding user.invite and the given
// permissions, and a signed-in user in it.
func invInviterGroup(t *testing.T, app *apptest.App, email string, codes ...string) *http.Cookie {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	perms, err := app.Ent.Permission.Query().Where(permission.CodeIn(append(codes, "user.invite")...)).IDs(ctx)
	if err != nil || len(perms) != len(codes)+1 {
		t.Fatalf("permissions %v: %d found, %v", codes, len(perms), err)
	}
	if err := app.Ent.Group.Create().SetName("inviters").AddPermissionIDs(perms...).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return app.SignedIn(t, email, "inviters")
}

// TestInvitationSingleUseUnderConcurrency: 20 acceptances of one link at
// the same moment create exactly one account.
func TestInvitationSingleUseUnderConcurrency(t *testing.T) {
	app := apptest.New(t)
	token := invAdminToken(t, app, "", "observer")

	const n = 20
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			email := "racer" + strconv.Itoa(i) + "@example.com"
			codes[i] = app.PostAs(nil, "/invitations/"+token, invAcceptForm(email, "Racer")).Code
		})
	}
	close(start)
	wg.Wait()

	won, gone := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusSeeOther:
			won++
		case http.StatusGone:
			gone++
		}
	}
	if won != 1 || gone != n-1 {
		t.Errorf("answers %v: %d accepted and %d 410, want 1 and %d", codes, won, gone, n-1)
	}
	if got := invCount(t, app, `SELECT count(*) FROM users WHERE email LIKE 'racer%'`); got != 1 {
		t.Errorf("%d accounts created, want exactly 1", got)
	}
	if got := invCount(t, app, `SELECT count(*) FROM invitations WHERE consumed_at IS NOT NULL AND consumed_by_id IS NOT NULL`); got != 1 {
		t.Errorf("%d accepted invitations, want 1", got)
	}
	if got := invCount(t, app, `SELECT count(*) FROM audit_events WHERE action = 'invitation.accepted'`); got != 1 {
		t.Errorf("%d invitation.accepted events, want 1", got)
	}
	if got := invCount(t, app, `SELECT count(*) FROM user_groups ug JOIN users u ON u.id = ug.user_id
		JOIN groups g ON g.id = ug.group_id WHERE u.email LIKE 'racer%' AND g.name = 'observer'`); got != 1 {
		t.Errorf("the account is in %d observer groups, want 1", got)
	}
}

// TestInvitationInvalidLinksLookAlike: expired, revoked, used and unknown
// links get one identical 410 page, on GET and on POST.
func TestInvitationInvalidLinksLookAlike(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	observer := invGroupIDs(t, app, "observer")
	mk := func() string { return invToken(t, app, invCreate(app, admin, "", "72", observer...)) }

	expired := mk()
	if _, err := app.DB.Exec(`UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE token_hash = $1`,
		invite.HashToken(expired)); err != nil {
		t.Fatal(err)
	}
	revoked := mk()
	var revokedID string
	if err := app.DB.QueryRow(`SELECT id FROM invitations WHERE token_hash = $1`, invite.HashToken(revoked)).Scan(&revokedID); err != nil {
		t.Fatal(err)
	}
	if w := app.PostAs(admin, "/admin/invitations/"+revokedID+"/revoke", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", w.Code)
	}
	used := mk()
	if w := app.PostAs(nil, "/invitations/"+used, invAcceptForm("first@example.com", "First")); w.Code != http.StatusSeeOther {
		t.Fatalf("first use: %d\n%s", w.Code, w.Body)
	}
	valid := mk()

	links := []struct{ name, token string }{
		{"expired", expired}, {"revoked", revoked}, {"used", used},
		{"unknown", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, {"garbage", "not-a-token"},
	}
	// The answer must not depend on the link; the request id is the only
	// thing allowed to differ, and it is blanked.
	answer := func(w *httptest.ResponseRecorder) string {
		body := w.Body.String()
		if id := w.Header().Get("X-Request-Id"); id != "" {
			body = strings.ReplaceAll(body, id, "")
		}
		return strconv.Itoa(w.Code) + "\n" + body
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var first string
		for _, l := range links {
			t.Run(method+" "+l.name, func(t *testing.T) {
				var w *httptest.ResponseRecorder
				if method == http.MethodGet {
					w = app.GetAs(nil, "/invitations/"+l.token)
				} else {
					w = app.PostAs(nil, "/invitations/"+l.token, invAcceptForm("x"+l.name+"@example.com", "X"))
				}
				if w.Code != http.StatusGone {
					t.Fatalf("%d, want 410\n%s", w.Code, w.Body)
				}
				if testid(doc(t, w), "invitation-invalid") == "" {
					t.Error("not the invalid-link page")
				}
				got := answer(w)
				if first == "" {
					first = got
				} else if got != first {
					t.Errorf("the %s link answers differently from the expired one:\n%s\n---\n%s", l.name, got, first)
				}
			})
		}
	}
	if got := invCount(t, app, `SELECT count(*) FROM users WHERE email LIKE 'x%@example.com'`); got != 0 {
		t.Errorf("%d accounts created through invalid links", got)
	}
	// And a valid link is not that page.
	if w := app.GetAs(nil, "/invitations/"+valid); w.Code != http.StatusOK || doc(t, w).Find(`[data-testid="accept-form"]`).Length() != 1 {
		t.Errorf("valid link: %d, want 200 with the form\n%s", w.Code, w.Body)
	}
}

// TestInvitationGrantRule: an inviter who is not an admin cannot grant admin,
// nor a group holding permissions it lacks: not at creation, and not at
// acceptance once its rights are gone.
func TestInvitationGrantRule(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	// The observer group holds mission.read, template.read, attack.read;
	// redteam holds more.
	inviter := invInviterGroup(t, app, "inviter@example.com", "mission.read", "template.read", "attack.read")

	t.Run("the form offers only what may be granted", func(t *testing.T) {
		d := doc(t, app.GetAs(inviter, "/admin/invitations"))
		for name, want := range map[string]bool{"observer": true, "inviters": true, "admin": false, "redteam": false, "blueteam": false} {
			if got := d.Find(`[data-testid="group-`+name+`"]`).Length() == 1; got != want {
				t.Errorf("checkbox for %s shown: %v, want %v", name, got, want)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		groups []string
	}{
		{"admin", []string{"admin"}},
		{"a group with permissions the inviter lacks", []string{"redteam"}},
		{"a grantable group with an ungrantable one", []string{"observer", "admin"}},
	} {
		t.Run("creation refused: "+tc.name, func(t *testing.T) {
			before := invCount(t, app, `SELECT count(*) FROM invitations`)
			w := invCreate(app, inviter, "", "72", invGroupIDs(t, app, tc.groups...)...)
			if w.Code != http.StatusForbidden {
				t.Errorf("%d, want 403\n%s", w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "/invitations/") && doc(t, w).Find(`[data-testid="invitation-link"]`).Length() > 0 {
				t.Error("a link was shown")
			}
			if after := invCount(t, app, `SELECT count(*) FROM invitations`); after != before {
				t.Errorf("invitations %d -> %d: a refused invitation was written", before, after)
			}
		})
	}

	token := invToken(t, app, invCreate(app, inviter, "", "72", invGroupIDs(t, app, "observer")...))
	t.Run("acceptance refused once the inviter lost a permission", func(t *testing.T) {
		if _, err := app.DB.Exec(`DELETE FROM group_permissions WHERE group_id = (SELECT id FROM groups WHERE name = 'inviters')
			AND permission_id = (SELECT id FROM permissions WHERE code = 'attack.read')`); err != nil {
			t.Fatal(err)
		}
		w := app.PostAs(nil, "/invitations/"+token, invAcceptForm("late@example.com", "Late"))
		if w.Code != http.StatusForbidden || testid(doc(t, w), "invitation-refused") == "" {
			t.Errorf("%d, want 403 with the refused page\n%s", w.Code, w.Body)
		}
		if invSession(app, w) != nil {
			t.Error("a session cookie was set")
		}
		if got := invCount(t, app, `SELECT count(*) FROM users WHERE email = 'late@example.com'`); got != 0 {
			t.Error("the account was created")
		}
		if got := invCount(t, app, `SELECT count(*) FROM invitations WHERE token_hash = $1 AND consumed_at IS NULL`, invite.HashToken(token)); got != 1 {
			t.Error("the invitation was used up by a refused acceptance")
		}
	})
	t.Run("acceptance refused once the inviter left the group", func(t *testing.T) {
		if _, err := app.DB.Exec(`INSERT INTO group_permissions (group_id, permission_id)
			SELECT g.id, p.id FROM groups g, permissions p WHERE g.name = 'inviters' AND p.code = 'attack.read'`); err != nil {
			t.Fatal(err)
		}
		if _, err := app.DB.Exec(`DELETE FROM user_groups WHERE user_id = (SELECT id FROM users WHERE email = 'inviter@example.com')`); err != nil {
			t.Fatal(err)
		}
		w := app.PostAs(nil, "/invitations/"+token, invAcceptForm("late@example.com", "Late"))
		if w.Code != http.StatusForbidden {
			t.Errorf("%d, want 403\n%s", w.Code, w.Body)
		}
		if got := invCount(t, app, `SELECT count(*) FROM users WHERE email = 'late@example.com'`); got != 0 {
			t.Error("the account was created")
		}
	})
	t.Run("acceptance works while the inviter holds the rights", func(t *testing.T) {
		if _, err := app.DB.Exec(`INSERT INTO user_groups (user_id, group_id)
			SELECT u.id, g.id FROM users u, groups g WHERE u.email = 'inviter@example.com' AND g.name = 'inviters'`); err != nil {
			t.Fatal(err)
		}
		w := app.PostAs(nil, "/invitations/"+token, invAcceptForm("late@example.com", "Late"))
		if w.Code != http.StatusSeeOther {
			t.Fatalf("%d, want 303\n%s", w.Code, w.Body)
		}
		if got := invCount(t, app, `SELECT count(*) FROM users WHERE email = 'late@example.com'`); got != 1 {
			t.Error("no account created")
		}
	})
	t.Run("an admin's invitation into admin works", func(t *testing.T) {
		token := invAdminToken(t, app, "", "admin")
		w := app.PostAs(nil, "/invitations/"+token, invAcceptForm("newadmin@example.com", "New admin"))
		if w.Code != http.StatusSeeOther {
			t.Fatalf("%d\n%s", w.Code, w.Body)
		}
		if w := app.GetAs(invSession(app, w), "/admin/invitations"); w.Code != http.StatusOK {
			t.Errorf("the new admin opens the invitations page: %d", w.Code)
		}
	})
}

// TestInvitationAccept: the acceptance creates the account as asked, with
// the invitation's groups, and signs it in; invalid input is answered 422
// with the input kept and leaves the invitation unused.
func TestInvitationAccept(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "taken@example.com", "observer")
	admin := app.SignedIn(t, "admin@example.com", "admin")
	open := invToken(t, app, invCreate(app, admin, "", "72", invGroupIDs(t, app, "redteam", "observer")...))
	hinted := invToken(t, app, invCreate(app, admin, "Hinted@Example.com", "72", invGroupIDs(t, app, "blueteam")...))

	cases := []struct {
		name   string
		token  string
		change func(url.Values)
		status int
		field  string
	}{
		{"email required without a hint", open, func(f url.Values) { f.Del("email") }, 422, "email"},
		{"malformed email", open, func(f url.Values) { f.Set("email", "not an email") }, 422, "email"},
		{"email of an existing account", open, func(f url.Values) { f.Set("email", "TAKEN@example.com") }, 422, "email"},
		{"display name required", open, func(f url.Values) { f.Set("display_name", "  ") }, 422, "display_name"},
		{"display name too long", open, func(f url.Values) { f.Set("display_name", strings.Repeat("n", 101)) }, 422, "display_name"},
		{"password too short", open, func(f url.Values) { f.Set("password", "short"); f.Set("password_confirm", "short") }, 422, "password"},
		{"passwords differ", open, func(f url.Values) { f.Set("password_confirm", "another long passphrase") }, 422, "password_confirm"},
		{"password equal to the email", open, func(f url.Values) {
			f.Set("email", "long.address@example.com")
			f.Set("password", "Long.Address@example.com")
			f.Set("password_confirm", "Long.Address@example.com")
		}, 422, "password"},
		{"unknown language", open, func(f url.Values) { f.Set("locale", "de") }, 422, "locale"},
		{"1 MB password", open, func(f url.Values) {
			f.Set("password", strings.Repeat("p", 1<<20))
		}, 400, "password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := invAcceptForm("new@example.com", "New Person")
			tc.change(f)
			w := app.PostAs(nil, "/invitations/"+tc.token, f)
			if w.Code != tc.status {
				t.Fatalf("%d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			d := doc(t, w)
			if testid(d, "error-"+tc.field) == "" || testid(d, "error-summary") == "" {
				t.Errorf("no error next to %s and in the summary", tc.field)
			}
			if tc.field != "display_name" && tc.status == 422 {
				if v, _ := d.Find(`#field-display_name`).Attr("value"); v != "New Person" {
					t.Errorf("display name not kept: %q", v)
				}
			}
			if strings.Contains(w.Body.String(), "a long enough passphrase") {
				t.Error("the password was sent back")
			}
			if invCount(t, app, `SELECT count(*) FROM users`) != 2 || invCount(t, app, `SELECT count(*) FROM invitations WHERE consumed_at IS NOT NULL`) != 0 {
				t.Error("a refused acceptance changed the database")
			}
		})
	}

	t.Run("accepted: account, groups, language, session", func(t *testing.T) {
		f := invAcceptForm(" New@Example.com ", "  New Person ")
		// Fields the invitee may not set (groups, admin) are ignored.
		f["group_ids"] = invGroupIDs(t, app, "admin")
		f.Set("is_admin", "true")
		w := app.PostAs(nil, "/invitations/"+open, f)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
			t.Fatalf("%d to %q, want 303 to /\n%s", w.Code, w.Header().Get("Location"), w.Body)
		}
		cookie := invSession(app, w)
		if cookie == nil {
			t.Fatal("no session cookie: the new user is not signed in")
		}
		home := app.GetAs(cookie, "/")
		if home.Code != http.StatusOK {
			t.Fatalf("the cookie does not open /: %d", home.Code)
		}
		if got := testid(doc(t, home), "user-menu-toggle"); got != "New Person" {
			t.Errorf("signed in as %q, want New Person", got)
		}
		if lang := home.Header().Get("Content-Language"); lang != "fr" {
			t.Errorf("language %q, want the chosen fr", lang)
		}
		var name, locale string
		var groups int
		if err := app.DB.QueryRow(`SELECT display_name, locale, (SELECT count(*) FROM user_groups WHERE user_id = u.id)
			FROM users u WHERE email = 'new@example.com'`).Scan(&name, &locale, &groups); err != nil {
			t.Fatal(err)
		}
		if name != "New Person" || locale != "fr" || groups != 2 {
			t.Errorf("account %q %q in %d groups, want New Person, fr, 2 groups", name, locale, groups)
		}
		if got := invCount(t, app, `SELECT count(*) FROM audit_events WHERE action = 'invitation.accepted' AND actor_label = 'new@example.com'`); got != 1 {
			t.Errorf("%d invitation.accepted events by the new account, want 1", got)
		}
		// The password works for signing in.
		app.Login(t, "new@example.com", "a long enough passphrase")
	})

	t.Run("the email hint is the account's address", func(t *testing.T) {
		d := doc(t, app.GetAs(nil, "/invitations/"+hinted))
		if got := testid(d, "accept-email"); got != "hinted@example.com" {
			t.Errorf("page shows %q, want the hint", got)
		}
		if d.Find(`#field-email`).Length() != 0 {
			t.Error("the page asks for an email although the invitation has one")
		}
		w := app.PostAs(nil, "/invitations/"+hinted, invAcceptForm("other@example.com", "Hinted"))
		if w.Code != http.StatusSeeOther {
			t.Fatalf("%d\n%s", w.Code, w.Body)
		}
		if invCount(t, app, `SELECT count(*) FROM users WHERE email = 'hinted@example.com'`) != 1 ||
			invCount(t, app, `SELECT count(*) FROM users WHERE email = 'other@example.com'`) != 0 {
			t.Error("the account did not get the invitation's address")
		}
	})

	t.Run("hinted address taken since: field error, invitation kept", func(t *testing.T) {
		token := invToken(t, app, invCreate(app, admin, "later@example.com", "72", invGroupIDs(t, app, "observer")...))
		app.User(t, "later@example.com", "observer")
		w := app.PostAs(nil, "/invitations/"+token, invAcceptForm("", "Later"))
		if w.Code != http.StatusUnprocessableEntity || testid(doc(t, w), "error-summary") == "" {
			t.Fatalf("%d, want 422 with the error\n%s", w.Code, w.Body)
		}
		if invCount(t, app, `SELECT count(*) FROM invitations WHERE token_hash = $1 AND consumed_at IS NULL`, invite.HashToken(token)) != 1 {
			t.Error("the invitation was used up")
		}
	})
}

// TestInvitationTokenNeverLogged: the server log holds the route template,
// never the token nor its hash, whatever the path taken.
func TestInvitationTokenNeverLogged(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	var mu sync.Mutex
	app := apptest.New(t, apptest.WithLog(&lockedWriter{w: &log, mu: &mu}))
	admin := app.SignedIn(t, "admin@example.com", "admin")
	token := invToken(t, app, invCreate(app, admin, "", "72", invGroupIDs(t, app, "observer")...))
	other := invToken(t, app, invCreate(app, admin, "", "72", invGroupIDs(t, app, "observer")...))

	steps := []struct {
		name   string
		do     func() *httptest.ResponseRecorder
		status int
	}{
		{"show", func() *httptest.ResponseRecorder { return app.GetAs(nil, "/invitations/"+token) }, 200},
		{"HEAD", func() *httptest.ResponseRecorder {
			return app.Do(httptest.NewRequest(http.MethodHead, "/invitations/"+token, nil))
		}, 200},
		{"invalid form", func() *httptest.ResponseRecorder {
			return app.PostAs(nil, "/invitations/"+token, url.Values{"password": {"x"}})
		}, 422},
		{"accept", func() *httptest.ResponseRecorder {
			return app.PostAs(nil, "/invitations/"+token, invAcceptForm("logged@example.com", "Logged"))
		}, 303},
		{"used", func() *httptest.ResponseRecorder { return app.GetAs(nil, "/invitations/"+token) }, 410},
		{"used, posted", func() *httptest.ResponseRecorder {
			return app.PostAs(nil, "/invitations/"+token, invAcceptForm("again@example.com", "Again"))
		}, 410},
		{"revoke the other", func() *httptest.ResponseRecorder {
			var id string
			_ = app.DB.QueryRow(`SELECT id FROM invitations WHERE token_hash = $1`, invite.HashToken(other)).Scan(&id)
			return app.PostAs(admin, "/admin/invitations/"+id+"/revoke", nil, "HX-Request", "true")
		}, 200},
		{"revoked", func() *httptest.ResponseRecorder { return app.GetAs(nil, "/invitations/"+other) }, 410},
		{"list", func() *httptest.ResponseRecorder { return app.GetAs(admin, "/admin/invitations?status=all") }, 200},
	}
	for _, s := range steps {
		if w := s.do(); w.Code != s.status {
			t.Errorf("%s: %d, want %d", s.name, w.Code, s.status)
		}
	}
	mu.Lock()
	out := log.String()
	mu.Unlock()
	if !strings.Contains(out, "route=/invitations/:token") || !strings.Contains(out, "route=/admin/invitations") {
		t.Fatalf("the log does not show the invitation requests, so this test proves nothing:\n%s", out)
	}
	for _, secret := range []string{token, other, invite.HashToken(token), invite.HashToken(other)} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains a token or its hash %q:\n%s", secret, out)
		}
	}
	var details string
	if err := app.DB.QueryRow(`SELECT coalesce(string_agg(coalesce(details::text, '') || target_label, ' '), '') FROM audit_events`).Scan(&details); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{token, other, invite.HashToken(token)} {
		if strings.Contains(details, secret) {
			t.Errorf("the audit log contains a token or its hash")
		}
	}
}

// lockedWriter serialises writes of the server's goroutines.
type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestInvitationExpiry: the form starts from the setting (72 h by default),
// the expiry is what was asked, and more than 30 days is refused.
func TestInvitationExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	app := apptest.New(t, apptest.WithNow(func() time.Time { return now }))
	admin := app.SignedIn(t, "admin@example.com", "admin")
	observer := invGroupIDs(t, app, "observer")

	expiryOf := func(token string) time.Time {
		t.Helper()
		var at time.Time
		if err := app.DB.QueryRow(`SELECT expires_at FROM invitations WHERE token_hash = $1`, invite.HashToken(token)).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at.UTC()
	}
	t.Run("default 72 hours", func(t *testing.T) {
		d := doc(t, app.GetAs(admin, "/admin/invitations"))
		hours, _ := d.Find(`#field-expiry_hours`).Attr("value")
		if hours != "72" {
			t.Fatalf("the form proposes %q hours, want 72", hours)
		}
		if got := expiryOf(invToken(t, app, invCreate(app, admin, "", hours, observer...))); !got.Equal(now.Add(72 * time.Hour)) {
			t.Errorf("expires at %v, want %v", got, now.Add(72*time.Hour))
		}
	})
	t.Run("the setting changes the default", func(t *testing.T) {
		if _, err := app.DB.Exec(`UPDATE settings SET value = '24' WHERE key = 'invitation.default_expiry_hours'`); err != nil {
			t.Fatal(err)
		}
		defer app.DB.Exec(`UPDATE settings SET value = '72' WHERE key = 'invitation.default_expiry_hours'`)
		hours, _ := doc(t, app.GetAs(admin, "/admin/invitations")).Find(`#field-expiry_hours`).Attr("value")
		if hours != "24" {
			t.Errorf("the form proposes %q hours, want the setting's 24", hours)
		}
		inv, _, err := invite.Create(rule.SystemContext(context.Background()), app.Ent, now, invite.Params{})
		if err != nil || !inv.ExpiresAt.Equal(now.Add(24*time.Hour)) {
			t.Errorf("an invitation without an expiry: %v, %v; want the setting's 24 h", inv, err)
		}
	})
	t.Run("30 days is the most", func(t *testing.T) {
		if got := expiryOf(invToken(t, app, invCreate(app, admin, "", "720", observer...))); !got.Equal(now.Add(720 * time.Hour)) {
			t.Errorf("expires at %v, want 30 days on", got)
		}
	})
	for _, hours := range []string{"721", "0", "-5", "soon", ""} {
		t.Run("refused: "+strconv.Quote(hours), func(t *testing.T) {
			before := invCount(t, app, `SELECT count(*) FROM invitations`)
			w := invCreate(app, admin, "kept@example.com", hours, observer...)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("%d, want 422\n%s", w.Code, w.Body)
			}
			d := doc(t, w)
			if testid(d, "error-expiry_hours") == "" {
				t.Error("no error next to the expiry")
			}
			if v, _ := d.Find(`#field-email_hint`).Attr("value"); v != "kept@example.com" {
				t.Errorf("email not kept: %q", v)
			}
			if d.Find(`[data-testid="group-observer"][checked]`).Length() != 1 {
				t.Error("group choice not kept")
			}
			if after := invCount(t, app, `SELECT count(*) FROM invitations`); after != before {
				t.Error("an invitation was written")
			}
		})
	}
	t.Run("the library refuses more than 30 days too", func(t *testing.T) {
		_, _, err := invite.Create(rule.SystemContext(context.Background()), app.Ent, now, invite.Params{Expiry: 31 * 24 * time.Hour})
		if err != invite.ErrExpiry {
			t.Errorf("err = %v, want ErrExpiry", err)
		}
	})
}

// TestInvitationList: statuses, counts, filter, paging, revocation in
// place, and access.
func TestInvitationList(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	observer := invGroupIDs(t, app, "observer")
	mk := func(email string) string { return invToken(t, app, invCreate(app, admin, email, "72", observer...)) }
	idOf := func(token string) string {
		var id string
		if err := app.DB.QueryRow(`SELECT id FROM invitations WHERE token_hash = $1`, invite.HashToken(token)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	accepted := mk("accepted@example.com")
	if w := app.PostAs(nil, "/invitations/"+accepted, invAcceptForm("", "Accepted")); w.Code != http.StatusSeeOther {
		t.Fatal(w.Code)
	}
	expired := mk("expired@example.com")
	app.DB.Exec(`UPDATE invitations SET expires_at = now() - interval '1 hour' WHERE token_hash = $1`, invite.HashToken(expired))
	revoked := mk("revoked@example.com")
	pending := mk("pending@example.com")

	t.Run("revoke in place with htmx", func(t *testing.T) {
		id := idOf(revoked)
		w := app.PostAs(admin, "/admin/invitations/"+id+"/revoke", nil, "HX-Request", "true")
		if w.Code != http.StatusOK {
			t.Fatalf("%d\n%s", w.Code, w.Body)
		}
		body := w.Body.String()
		if !strings.HasPrefix(body, "<tr") {
			t.Fatalf("the row did not come back alone:\n%s", body)
		}
		// A lone <tr> only parses inside a table.
		d, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + body + "</tbody></table>"))
		if err != nil {
			t.Fatal(err)
		}
		row := d.Find(`#invitation-` + id)
		if row.Length() != 1 || row.AttrOr("data-status", "") != "revoked" || row.Find(`[data-testid="invitation-revoke"]`).Length() != 0 {
			t.Errorf("row after revocation:\n%s", w.Body)
		}
		// Again: nothing changes, no second event.
		app.PostAs(admin, "/admin/invitations/"+id+"/revoke", nil, "HX-Request", "true")
		if n := invCount(t, app, `SELECT count(*) FROM audit_events WHERE action = 'invitation.revoked' AND target_id = $1`, id); n != 1 {
			t.Errorf("%d invitation.revoked events, want 1", n)
		}
		if w := app.GetAs(nil, "/invitations/"+revoked); w.Code != http.StatusGone {
			t.Errorf("the revoked link answers %d", w.Code)
		}
	})
	t.Run("revoking an accepted invitation changes nothing", func(t *testing.T) {
		app.PostAs(admin, "/admin/invitations/"+idOf(accepted)+"/revoke", nil)
		if invCount(t, app, `SELECT count(*) FROM invitations WHERE revoked_at IS NOT NULL`) != 1 {
			t.Error("an accepted invitation was revoked")
		}
	})
	t.Run("revoke of an unknown id", func(t *testing.T) {
		if w := app.PostAs(admin, "/admin/invitations/00000000-0000-0000-0000-000000000000/revoke", nil); w.Code != http.StatusNotFound {
			t.Errorf("%d, want 404", w.Code)
		}
	})
	for _, tc := range []struct {
		status string
		want   []string
	}{
		{"pending", []string{"pending@example.com"}},
		{"accepted", []string{"accepted@example.com"}},
		{"expired", []string{"expired@example.com"}},
		{"revoked", []string{"revoked@example.com"}},
		{"all", []string{"pending@example.com", "revoked@example.com", "expired@example.com", "accepted@example.com"}},
	} {
		t.Run("filter "+tc.status, func(t *testing.T) {
			w := app.GetAs(admin, "/admin/invitations?status="+tc.status)
			if w.Code != http.StatusOK {
				t.Fatal(w.Code)
			}
			d := doc(t, w)
			var got []string
			d.Find(`[data-testid="invitation-row"] [data-testid="invitation-for"]`).Each(func(_ int, s *goquery.Selection) {
				got = append(got, strings.Fields(s.Text())[0])
			})
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("rows %v, want %v (newest first)", got, tc.want)
			}
			if c := testid(d, "invitation-count-"+tc.status); c != strconv.Itoa(len(tc.want)) {
				t.Errorf("count %q, want %d", c, len(tc.want))
			}
		})
	}
	t.Run("inviter and groups shown", func(t *testing.T) {
		d := doc(t, app.GetAs(admin, "/admin/invitations?status=pending"))
		if got := testid(d, "invitation-inviter"); !strings.Contains(got, "admin@example.com") {
			t.Errorf("inviter %q", got)
		}
		if got := testid(d, "invitation-groups"); got != "observer" {
			t.Errorf("groups %q", got)
		}
		_ = pending
	})
	t.Run("paging by 50", func(t *testing.T) {
		ctx := rule.SystemContext(context.Background())
		for range 50 {
			if _, _, err := invite.Create(ctx, app.Ent, time.Now(), invite.Params{}); err != nil {
				t.Fatal(err)
			}
		}
		d := doc(t, app.GetAs(admin, "/admin/invitations?status=pending"))
		if n := d.Find(`[data-testid="invitation-row"]`).Length(); n != 50 {
			t.Errorf("page 1 has %d rows, want 50", n)
		}
		d = doc(t, app.GetAs(admin, "/admin/invitations?status=pending&page=2"))
		if n := d.Find(`[data-testid="invitation-row"]`).Length(); n != 1 {
			t.Errorf("page 2 has %d rows, want 1", n)
		}
		if got := testid(d, "invitation-for"); !strings.Contains(got, "pending@example.com") {
			t.Errorf("the oldest pending one is not last: %q", got)
		}
	})
	t.Run("access", func(t *testing.T) {
		observerCookie := app.SignedIn(t, "observer@example.com", "observer")
		for _, tc := range []struct {
			name   string
			cookie *http.Cookie
			method string
			path   string
			want   int
		}{
			{"anonymous list", nil, http.MethodGet, "/admin/invitations", http.StatusSeeOther},
			{"observer list", observerCookie, http.MethodGet, "/admin/invitations", http.StatusForbidden},
			{"observer create", observerCookie, http.MethodPost, "/admin/invitations", http.StatusForbidden},
			{"observer revoke", observerCookie, http.MethodPost, "/admin/invitations/" + idOf(pending) + "/revoke", http.StatusForbidden},
			{"revoke by GET", admin, http.MethodGet, "/admin/invitations/" + idOf(pending) + "/revoke", http.StatusMethodNotAllowed},
		} {
			var w *httptest.ResponseRecorder
			if tc.method == http.MethodGet {
				w = app.GetAs(tc.cookie, tc.path)
			} else {
				w = app.PostAs(tc.cookie, tc.path, url.Values{"group_ids": observer, "expiry_hours": {"72"}})
			}
			if w.Code != tc.want && !(tc.want == http.StatusMethodNotAllowed && w.Code == http.StatusNotFound) {
				t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
			}
		}
		if invCount(t, app, `SELECT count(*) FROM invitations WHERE revoked_at IS NOT NULL`) != 1 {
			t.Error("a refused request revoked an invitation")
		}
	})
}

// TestResetInvitation: a reset link sets a new password, ends the user's
// other sessions and signs the user in; only an inviter who could grant all
// of the user's groups may make one.
func TestResetInvitation(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	u := app.User(t, "forgetful@example.com", "redteam")
	phone := app.Login(t, "forgetful@example.com", apptest.Password)
	laptop := app.Login(t, "forgetful@example.com", apptest.Password)

	w := app.PostAs(admin, "/admin/users/"+u.ID.String()+"/reset-invitation", nil)
	token := invToken(t, app, w)
	if got := testid(doc(t, w), "invitation-created-for"); got != "forgetful@example.com" {
		t.Errorf("the page says the link is for %q", got)
	}
	d := doc(t, app.GetAs(nil, "/invitations/"+token))
	if got := testid(d, "accept-email"); got != "forgetful@example.com" || d.Find(`#field-display_name`).Length() != 0 {
		t.Errorf("reset page shows %q and asks for a name: %d", got, d.Find(`#field-display_name`).Length())
	}
	w = app.PostAs(nil, "/invitations/"+token, url.Values{
		"password": {"my brand new passphrase"}, "password_confirm": {"my brand new passphrase"},
		// A reset changes nothing else, whatever the form says.
		"display_name": {"Hacker"}, "email": {"admin@example.com"}, "locale": {"fr"},
	})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", w.Code, w.Body)
	}
	if cookie := invSession(app, w); cookie == nil || app.GetAs(cookie, "/").Code != http.StatusOK {
		t.Error("the user is not signed in after the reset")
	}
	for name, c := range map[string]*http.Cookie{"phone": phone, "laptop": laptop} {
		if got := app.GetAs(c, "/"); got.Code != http.StatusSeeOther {
			t.Errorf("the %s session still works after the reset: %d", name, got.Code)
		}
	}
	if bad := app.PostAs(nil, "/login", url.Values{"email": {"forgetful@example.com"}, "password": {apptest.Password}}); bad.Code != http.StatusUnauthorized {
		t.Errorf("the old password still signs in: %d", bad.Code)
	}
	app.Login(t, "forgetful@example.com", "my brand new passphrase")
	var name, locale string
	if err := app.DB.QueryRow(`SELECT display_name, locale FROM users WHERE id = $1`, u.ID).Scan(&name, &locale); err != nil {
		t.Fatal(err)
	}
	if name != "forgetful" || locale != "en" || invCount(t, app, `SELECT count(*) FROM users`) != 2 {
		t.Errorf("the reset changed more than the password: %q %q", name, locale)
	}
	if invCount(t, app, `SELECT count(*) FROM audit_events WHERE action = 'password.changed' AND target_id = $1`, u.ID.String()) != 1 {
		t.Error("no password.changed event")
	}

	t.Run("a new reset link replaces the older one", func(t *testing.T) {
		first := invToken(t, app, app.PostAs(admin, "/admin/users/"+u.ID.String()+"/reset-invitation", nil))
		second := invToken(t, app, app.PostAs(admin, "/admin/users/"+u.ID.String()+"/reset-invitation", nil))
		if app.GetAs(nil, "/invitations/"+first).Code != http.StatusGone || app.GetAs(nil, "/invitations/"+second).Code != http.StatusOK {
			t.Error("the older reset link still works, or the newer one does not")
		}
	})
	t.Run("a manager who is not an admin cannot reset an admin", func(t *testing.T) {
		ctx := rule.SystemContext(context.Background())
		perms, _ := app.Ent.Permission.Query().Where(permission.CodeIn("user.read", "user.manage", "user.invite")).IDs(ctx)
		if err := app.Ent.Group.Create().SetName("managers").AddPermissionIDs(perms...).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		manager := app.SignedIn(t, "manager@example.com", "managers")
		target := app.User(t, "boss@example.com", "admin")
		before := invCount(t, app, `SELECT count(*) FROM invitations`)
		if w := app.PostAs(manager, "/admin/users/"+target.ID.String()+"/reset-invitation", nil); w.Code != http.StatusForbidden {
			t.Errorf("%d, want 403", w.Code)
		}
		if invCount(t, app, `SELECT count(*) FROM invitations`) != before {
			t.Error("an invitation was written")
		}
		// A user holding nothing the manager lacks is fine.
		plain := app.User(t, "plain@example.com")
		if w := app.PostAs(manager, "/admin/users/"+plain.ID.String()+"/reset-invitation", nil); w.Code != http.StatusOK {
			t.Errorf("reset of a plain user by a manager: %d", w.Code)
		}
	})
	t.Run("a deactivated user gets no reset link", func(t *testing.T) {
		off := app.User(t, "off@example.com", "observer")
		if _, err := app.DB.Exec(`UPDATE users SET is_active = false WHERE id = $1`, off.ID); err != nil {
			t.Fatal(err)
		}
		before := invCount(t, app, `SELECT count(*) FROM invitations`)
		w := app.PostAs(admin, "/admin/users/"+off.ID.String()+"/reset-invitation", nil)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/users/"+off.ID.String() {
			t.Errorf("%d to %q, want 303 back to the user's page", w.Code, w.Header().Get("Location"))
		}
		if invCount(t, app, `SELECT count(*) FROM invitations`) != before {
			t.Error("an invitation was written")
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		if w := app.PostAs(admin, "/admin/users/00000000-0000-0000-0000-000000000000/reset-invitation", nil); w.Code != http.StatusNotFound {
			t.Errorf("%d, want 404", w.Code)
		}
	})
}
