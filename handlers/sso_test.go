package handlers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/group"
	"violet/ent/user"
	"violet/ent/useridentity"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/invite"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

// The single sign-on tests run Violet's real router on a loopback
// listener against a real OpenID provider (zitadel/oidc's op package with
// its example storage and login form), started inside the test; an
// http.Client with a cookie jar is the browser.

// idpUsers is the provider's user store: the example's users, whose
// e-mail and groups a test may change between sign-ins.
type idpUsers struct {
	mu     sync.Mutex
	users  map[string]*storage.User // by id (the subject)
	groups map[string][]string      // by id
}

func (s *idpUsers) GetUserByID(id string) *storage.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[id]; ok {
		c := *u
		return &c
	}
	return nil
}

func (s *idpUsers) GetUserByUsername(name string) *storage.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Username == name {
			c := *u
			return &c
		}
	}
	return nil
}

func (s *idpUsers) ExampleClientID() string { return "service" }

// add registers a person at the provider: id is their subject, username
// what they type, email a verified address.
func (s *idpUsers) add(id, email string, groups ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = &storage.User{ID: id, Username: id, Password: "idp-password", FirstName: "Person",
		LastName: strings.ToUpper(id[:1]) + id[1:], Email: email, EmailVerified: true}
	s.groups[id] = groups
}

func (s *idpUsers) set(id string, change func(u *storage.User, groups *[]string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[id]
	change(s.users[id], &g)
	s.groups[id] = g
}

// idpStorage is the example storage whose user info also carries the
// person's groups (the example has no groups claim): none when they are
// nil, an empty list when empty.
type idpStorage struct {
	*storage.Storage
	users *idpUsers
}

func (s idpStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	if g := s.users.groups[info.Subject]; g != nil {
		info.AppendClaims("groups", g)
	}
	return nil
}

const (
	ssoClientID = "violet-test"
	ssoSecret   = "violet-test-secret"
)

// ssoWorld is Violet with single sign-on through a provider on loopback.
type ssoWorld struct {
	app    *apptest.App
	base   string // Violet's URL
	issuer string
	users  *idpUsers
}

// startIdP serves an OpenID provider on ln that knows Violet as a web
// client with redirect.
func startIdP(t *testing.T, ln net.Listener, redirect string) *idpUsers {
	t.Helper()
	issuer := "http://" + ln.Addr().String()
	users := &idpUsers{users: map[string]*storage.User{}, groups: map[string][]string{}}
	clients := map[string]*storage.Client{ssoClientID: storage.WebClient(ssoClientID, ssoSecret, redirect)}
	st := idpStorage{Storage: storage.NewStorageWithClients(users, clients), users: users}
	srv := httptest.NewUnstartedServer(exampleop.SetupServer(issuer, st, nil, false))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return users
}

// newSSOWorld starts the provider (unless issuer is given: a provider
// elsewhere, or none) and Violet configured for it, with opts.
func newSSOWorld(t *testing.T, issuer string, change func(*config.OIDC), opts ...apptest.Option) *ssoWorld {
	t.Helper()
	vln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + vln.Addr().String()
	w := &ssoWorld{base: base, issuer: issuer}
	if issuer == "" {
		iln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		w.issuer = "http://" + iln.Addr().String()
		w.users = startIdP(t, iln, base+paths.OIDCCallback)
	}
	w.app = apptest.New(t, append(opts, apptest.WithConfig(func(c *config.Config) {
		c.BaseURL, _ = url.Parse(base)
		c.OIDC = config.OIDC{Key: "corp", Issuer: w.issuer, ClientID: ssoClientID, ClientSecret: ssoSecret,
			Name: "Corp SSO", Scopes: []string{"openid", "email", "profile"}, RedirectURL: base + paths.OIDCCallback,
			GroupsClaim: "groups"}
		if change != nil {
			change(&c.OIDC)
		}
	}))...)
	srv := httptest.NewUnstartedServer(w.app)
	srv.Listener.Close()
	srv.Listener = vln
	srv.Start()
	t.Cleanup(srv.Close)
	return w
}

// ssoBrowser is a fresh browser: a cookie jar, redirects followed except the
// provider's back to Violet's callback, which the test sends itself.
func ssoBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if r.URL.Path == paths.OIDCCallback {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

var idpRequestID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// toCallback clicks the sign-in button and signs in at the provider as
// id; it returns the callback URL the provider sends the browser to.
func (w *ssoWorld) toCallback(t *testing.T, b *http.Client, id string) string {
	t.Helper()
	resp, err := b.Get(w.base + paths.OIDCStart)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := idpRequestID.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("provider's login form: status %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	resp, err = b.PostForm(w.issuer+"/login/username", url.Values{"id": {string(m[1])}, "username": {id}, "password": {"idp-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, w.base+paths.OIDCCallback) {
		t.Fatalf("provider's answer: status %d, Location %q", resp.StatusCode, loc)
	}
	return loc
}

// ssoGet sends the browser to u and returns the final status, the path it
// ended on and the body.
func ssoGet(t *testing.T, b *http.Client, u string) (int, string, string) {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.Path, string(body)
}

// signIn goes through the whole flow as id and returns where it ended.
func (w *ssoWorld) signIn(t *testing.T, b *http.Client, id string) (int, string, string) {
	t.Helper()
	return ssoGet(t, b, w.toCallback(t, b, id))
}

func (w *ssoWorld) userByEmail(t *testing.T, email string) *ent.User {
	t.Helper()
	u, err := w.app.Ent.User.Query().Where(user.Email(email)).WithGroups().Only(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

func ssoGroupsOf(u *ent.User) []string {
	var out []string
	for _, g := range u.Edges.Groups {
		out = append(out, g.Name)
	}
	return out
}

func (w *ssoWorld) audits(t *testing.T, action string) []*ent.AuditEvent {
	t.Helper()
	evs, err := w.app.Ent.AuditEvent.Query().Where(auditevent.Action(action)).Order(ent.Asc(auditevent.FieldCreatedAt)).All(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func hasRefusal(body, key string) bool {
	return strings.Contains(body, `data-testid="sso-problem"`) && strings.Contains(body, key)
}

// An invited person signs in through the provider: the account is made
// from the invitation, in its groups, with the identity linked; the next
// sign-in finds it by subject even after the provider's e-mail changed.
// Signing out goes on to the provider's end-session endpoint.
func TestSSOInvitedUserSignsInAndIsFoundBySubject(t *testing.T) {
	w := newSSOWorld(t, "", nil)
	sys := rule.SystemContext(context.Background())
	red, err := w.app.Ent.Group.Query().Where(group.Name(auth.GroupRedTeam)).Only(sys)
	if err != nil {
		t.Fatal(err)
	}
	inv, _, err := invite.Create(sys, w.app.Ent, time.Now(), invite.Params{EmailHint: "alice@invited.test", GroupIDs: []uuid.UUID{red.ID}})
	if err != nil {
		t.Fatal(err)
	}
	w.users.add("alice", "alice@invited.test")

	// The login page offers the provider.
	if status, _, body := ssoGet(t, ssoBrowser(t), w.base+paths.Login); status != http.StatusOK ||
		!strings.Contains(body, `data-testid="sso-button"`) || !strings.Contains(body, "Corp SSO") {
		t.Fatalf("login page: %d\n%s", status, body)
	}

	b := ssoBrowser(t)
	status, path, body := w.signIn(t, b, "alice")
	if status != http.StatusOK || path != paths.Home {
		t.Fatalf("first sign-in: %d at %s\n%s", status, path, body)
	}
	u := w.userByEmail(t, "alice@invited.test")
	if g := ssoGroupsOf(u); len(g) != 1 || g[0] != auth.GroupRedTeam {
		t.Errorf("groups %v, want the invitation's", g)
	}
	ids, err := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(u.ID)).All(sys)
	if err != nil || len(ids) != 1 || ids[0].Subject != "alice" || ids[0].Issuer != w.issuer || ids[0].Provider != "oidc:corp" {
		t.Fatalf("identities %+v: %v", ids, err)
	}
	if got, _ := w.app.Ent.Invitation.Get(sys, inv.ID); got.ConsumedAt == nil || got.ConsumedByID == nil || *got.ConsumedByID != u.ID {
		t.Errorf("invitation not recorded as used: %+v", got)
	}
	var method string
	if err := w.app.DB.QueryRow(`SELECT method FROM refresh_tokens WHERE user_id = $1`, u.ID).Scan(&method); err != nil || method != "oidc:corp" {
		t.Errorf("session method %q: %v", method, err)
	}
	if evs := w.audits(t, "login.succeeded"); len(evs) != 1 || evs[0].Details["method"] != "oidc:corp" {
		t.Errorf("login.succeeded events %+v", evs)
	}
	// No password signs this account in: its hash is of no password.
	if ok, _, err := w.app.Hasher.Verify(sys, "", u.PasswordHash); ok || err != nil {
		t.Errorf("the SSO account's password hash: ok %v, err %v", ok, err)
	}

	// The provider's e-mail changes: the subject still finds the account.
	w.users.set("alice", func(p *storage.User, _ *[]string) { p.Email = "alice.renamed@invited.test" })
	b2 := ssoBrowser(t)
	if status, path, body := w.signIn(t, b2, "alice"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("second sign-in: %d at %s\n%s", status, path, body)
	}
	if n, _ := w.app.Ent.User.Query().Count(sys); n != 1 {
		t.Errorf("%d users after the second sign-in, want 1", n)
	}
	if id, _ := w.app.Ent.UserIdentity.Query().Only(sys); id == nil || id.Email != "alice.renamed@invited.test" || id.LastLoginAt == nil {
		t.Errorf("identity after the second sign-in: %+v", id)
	}

	// Signing out ends the session, then goes on to the provider.
	resp, err := b2.PostForm(w.base+paths.Logout, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`href="([^"]+)"[^>]*data-follow`).FindStringSubmatch(string(out))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `data-testid="sso-end-session"`) || m == nil {
		t.Fatalf("sign-out: %d\n%s", resp.StatusCode, out)
	}
	end, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil || !strings.HasPrefix(end.String(), w.issuer) || end.Query().Get("client_id") != ssoClientID ||
		end.Query().Get("post_logout_redirect_uri") != w.base+paths.Login {
		t.Errorf("end-session link %q: %v", m[1], err)
	}
	if status, path, _ := ssoGet(t, b2, w.base+paths.Home); status != http.StatusOK || path != paths.Login {
		t.Errorf("after sign-out, home: %d at %s, want the login page", status, path)
	}
}

// Mapped groups follow the groups claim at each sign-in; groups the map
// does not name (here the allowed domain's default group) stay as they
// are. A new person of an allowed domain gets an account in its groups.
func TestSSOGroupMappingAtEachSignIn(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) {
		o.GroupMap = map[string]string{"idp-blue": auth.GroupBlueTeam, "idp-observers": auth.GroupObserver}
		o.AllowedDomains = map[string][]string{"allowed.test": {auth.GroupRedTeam}}
	})
	w.users.add("bob", "bob@allowed.test", "idp-blue", "unmapped")
	if status, path, body := w.signIn(t, ssoBrowser(t), "bob"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("first sign-in: %d at %s\n%s", status, path, body)
	}
	u := w.userByEmail(t, "bob@allowed.test")
	if g := strings.Join(ssoGroupsOf(u), ","); !sameSet(ssoGroupsOf(u), auth.GroupRedTeam, auth.GroupBlueTeam) {
		t.Errorf("groups after the first sign-in: %s", g)
	}
	if evs := w.audits(t, "user.created"); len(evs) != 1 || evs[0].Details["method"] != "oidc:corp" {
		t.Errorf("user.created events %+v", evs)
	}

	w.users.set("bob", func(_ *storage.User, g *[]string) { *g = []string{"idp-observers"} })
	if status, path, body := w.signIn(t, ssoBrowser(t), "bob"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("second sign-in: %d at %s\n%s", status, path, body)
	}
	u = w.userByEmail(t, "bob@allowed.test")
	if !sameSet(ssoGroupsOf(u), auth.GroupRedTeam, auth.GroupObserver) {
		t.Errorf("groups after the second sign-in: %v", ssoGroupsOf(u))
	}
	evs := w.audits(t, "user.groups_changed")
	if len(evs) != 2 {
		t.Fatalf("%d user.groups_changed events, want 2", len(evs))
	}
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

// A callback is good once: the same code and state again are refused,
// whether the browser still has its state cookie or not.
func TestSSOReplayedCallbackRefused(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) { o.AllowedDomains = map[string][]string{"allowed.test": nil} })
	w.users.add("carl", "carl@allowed.test")
	b := ssoBrowser(t)
	cb := w.toCallback(t, b, "carl")
	vu, _ := url.Parse(w.base)
	var state *http.Cookie
	for _, c := range b.Jar.Cookies(vu) {
		if c.Name == "violet_oidc" {
			state = c
		}
	}
	if state == nil {
		t.Fatal("no state cookie after the start")
	}
	if status, path, body := ssoGet(t, b, cb); status != http.StatusOK || path != paths.Home {
		t.Fatalf("sign-in: %d at %s\n%s", status, path, body)
	}
	// The same browser: its state cookie was spent.
	if status, _, body := ssoGet(t, b, cb); status != http.StatusForbidden || !hasRefusal(body, "sso-back") {
		t.Errorf("replay in the same browser: %d\n%s", status, body)
	}
	// Another browser holding a copy of the state cookie: the provider
	// refuses the used code.
	b2 := ssoBrowser(t)
	b2.Jar.SetCookies(vu, []*http.Cookie{{Name: state.Name, Value: state.Value, Path: "/"}})
	if status, _, body := ssoGet(t, b2, cb); status != http.StatusForbidden || !hasRefusal(body, "sso-back") {
		t.Errorf("replay with the state cookie: %d\n%s", status, body)
	}
	var sessions int
	if err := w.app.DB.QueryRow(`SELECT count(*) FROM refresh_tokens`).Scan(&sessions); err != nil || sessions != 1 {
		t.Errorf("%d sessions, want the first sign-in's only: %v", sessions, err)
	}
	// Only the callback whose state checked out is audited: the one
	// without its cookie is anyone's to send.
	if evs := w.audits(t, "login.failed"); len(evs) != 1 || !strings.HasPrefix(fmt.Sprint(evs[0].Details["reason"]), "code refused") {
		t.Errorf("login.failed events %+v, want the refused code's only", evs)
	}
}

// A callback whose state is not the browser's is refused, and nothing is
// signed in. Such callbacks, like those without the state cookie, are
// anyone's to send as often as they like: they write no audit row.
func TestSSOWrongStateRefused(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) { o.AllowedDomains = map[string][]string{"allowed.test": nil} })
	w.users.add("dina", "dina@allowed.test")
	b := ssoBrowser(t)
	cb, _ := url.Parse(w.toCallback(t, b, "dina"))
	q := cb.Query()
	q.Set("state", q.Get("state")+"x")
	cb.RawQuery = q.Encode()
	if status, _, body := ssoGet(t, b, cb.String()); status != http.StatusForbidden || !hasRefusal(body, "checked") {
		t.Fatalf("wrong state: %d\n%s", status, body)
	}
	if n, _ := w.app.Ent.User.Query().Count(rule.SystemContext(context.Background())); n != 0 {
		t.Errorf("%d users made by a refused callback", n)
	}
	for range 20 {
		if status, _, body := ssoGet(t, ssoBrowser(t), w.base+paths.OIDCCallback+"?state=s&code=c"); status != http.StatusForbidden ||
			!hasRefusal(body, "checked") {
			t.Fatalf("callback without the state cookie: %d\n%s", status, body)
		}
	}
	if evs := w.audits(t, "login.failed"); len(evs) != 0 {
		t.Errorf("login.failed events %+v, want none before the state checks out", evs)
	}
}

// A provider that is down: the login page keeps its button, the button
// answers a clear page (503) with the way back, and password sign-in
// works. The failure is remembered for 30 seconds (another click is told
// at once); the first click after, with the provider up, discovers it.
func TestSSOProviderDown(t *testing.T) {
	var mu sync.Mutex
	offset := time.Duration(0)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(offset)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there
	w := newSSOWorld(t, "http://"+addr, nil, apptest.WithNow(now))
	b := ssoBrowser(t)
	if status, _, body := ssoGet(t, b, w.base+paths.Login); status != http.StatusOK || !strings.Contains(body, `data-testid="sso-button"`) {
		t.Fatalf("login page: %d\n%s", status, body)
	}
	status, _, body := ssoGet(t, b, w.base+paths.OIDCStart)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `data-testid="sso-problem"`) ||
		!strings.Contains(body, "cannot be reached") || !strings.Contains(body, `href="/login"`) {
		t.Fatalf("start with the provider down: %d\n%s", status, body)
	}
	w.app.User(t, "breakglass@local.test", auth.GroupAdmin)
	w.app.Login(t, "breakglass@local.test", apptest.Password) // fails the test unless 303

	// The provider comes up at its address: the next click works.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the provider's port was taken meanwhile: %v", err)
	}
	startIdP(t, ln, w.base+paths.OIDCCallback)
	if status, _, _ := ssoGet(t, b, w.base+paths.OIDCStart); status != http.StatusServiceUnavailable {
		t.Errorf("start within 30 s of the failure: %d, want the remembered 503", status)
	}
	mu.Lock()
	offset = 31 * time.Second
	mu.Unlock()
	resp, err := b.Get(w.base + paths.OIDCStart)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), "http://"+addr+"/login/username") {
		t.Errorf("start once the provider is up: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

// A person deactivated in Violet stays out, whatever the provider says.
func TestSSODeactivatedUserRefused(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) { o.AllowedDomains = map[string][]string{"allowed.test": nil} })
	w.users.add("erin", "erin@allowed.test")
	if status, path, body := w.signIn(t, ssoBrowser(t), "erin"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("first sign-in: %d at %s\n%s", status, path, body)
	}
	u := w.userByEmail(t, "erin@allowed.test")
	sys := rule.SystemContext(context.Background())
	if err := w.app.Ent.User.UpdateOneID(u.ID).SetIsActive(false).Exec(sys); err != nil {
		t.Fatal(err)
	}
	status, _, body := w.signIn(t, ssoBrowser(t), "erin")
	if status != http.StatusForbidden || !hasRefusal(body, "deactivated") {
		t.Fatalf("deactivated: %d\n%s", status, body)
	}
	var sessions int
	if err := w.app.DB.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE user_id = $1`, u.ID).Scan(&sessions); err != nil || sessions != 1 {
		t.Errorf("%d sessions, want the first sign-in's only: %v", sessions, err)
	}
	evs := w.audits(t, "login.failed")
	if len(evs) != 1 || evs[0].TargetLabel != "erin@allowed.test" {
		t.Errorf("login.failed events %+v", evs)
	}
}

// Without an invitation or an allowed domain nobody gets in; an account
// that already has the address is not linked by the e-mail alone.
func TestSSOUnknownPeopleRefused(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) { o.AllowedDomains = map[string][]string{"allowed.test": nil} })
	w.users.add("finn", "finn@elsewhere.test")
	status, _, body := w.signIn(t, ssoBrowser(t), "finn")
	if status != http.StatusForbidden || !hasRefusal(body, "invitation") {
		t.Fatalf("unknown domain: %d\n%s", status, body)
	}
	sys := rule.SystemContext(context.Background())
	if n, _ := w.app.Ent.User.Query().Count(sys); n != 0 {
		t.Errorf("%d users made for an unknown domain", n)
	}

	// An account with the address exists (even in an allowed domain):
	// the identity is not linked to it by the e-mail alone: its password
	// is asked first (TestSSOLinksAnExistingAccountWithItsPassword).
	w.app.User(t, "gail@allowed.test", auth.GroupAdmin)
	w.users.add("gail", "gail@allowed.test")
	status, path, body := w.signIn(t, ssoBrowser(t), "gail")
	if status != http.StatusOK || path != paths.LoginLink || !strings.Contains(body, `data-testid="sso-link-form"`) {
		t.Fatalf("existing account: %d at %s\n%s", status, path, body)
	}
	if n, _ := w.app.Ent.UserIdentity.Query().Count(sys); n != 0 {
		t.Errorf("%d identities linked", n)
	}
	if evs := w.audits(t, "login.failed"); len(evs) != 1 || evs[0].Details["method"] != "oidc:corp" {
		t.Errorf("login.failed events %+v", evs)
	}
}

// tokenOP is a minimal OpenID provider of the test's own, for ID tokens
// a real provider would not issue: discovery, keys, an authorization
// endpoint that sends the browser straight back, and a token endpoint
// whose ID token the test bends (tweak).
type tokenOP struct {
	*httptest.Server
	key   *rsa.PrivateKey
	mu    sync.Mutex
	nonce string
	tweak func(claims map[string]any)
}

func startTokenOP(t *testing.T) *tokenOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op := &tokenOP{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": op.URL, "authorization_endpoint": op.URL + "/auth",
			"token_endpoint": op.URL + "/token", "jwks_uri": op.URL + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /auth", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		op.nonce = r.URL.Query().Get("nonce")
		op.mu.Unlock()
		back := r.URL.Query().Get("redirect_uri") + "?" + url.Values{"code": {"code-1"}, "state": {r.URL.Query().Get("state")}}.Encode()
		http.Redirect(w, r, back, http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		now := time.Now()
		claims := map[string]any{"iss": op.URL, "sub": "tok-user", "aud": ssoClientID, "iat": now.Unix(),
			"exp": now.Add(5 * time.Minute).Unix(), "nonce": op.nonce, "email": "tok@allowed.test", "email_verified": true}
		signer := op.key
		if op.tweak != nil {
			op.tweak(claims)
		}
		if k, ok := claims["signed by"].(*rsa.PrivateKey); ok {
			signer = k
			delete(claims, "signed by")
		}
		op.mu.Unlock()
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: signer, KeyID: "k1"}}, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		payload, _ := json.Marshal(claims)
		jws, err := s.Sign(payload)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		idToken, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
	})
	op.Server = httptest.NewServer(mux)
	t.Cleanup(op.Close)
	return op
}

// ID tokens go-oidc and the flow must refuse: another sign-in's nonce, an
// expired token, a token made for another client, a token signed by a key
// not the provider's. The unbent token signs in, so each refusal is the
// bend's doing.
func TestSSORefusesBadIDTokens(t *testing.T) {
	op := startTokenOP(t)
	w := newSSOWorld(t, op.URL, func(o *config.OIDC) { o.AllowedDomains = map[string][]string{"allowed.test": nil} })
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, reason string
		tweak        func(map[string]any)
	}{
		{"wrong nonce", "nonce mismatch", func(c map[string]any) { c["nonce"] = "another sign-in's" }},
		{"expired", "expired", func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
			c["iat"] = time.Now().Add(-10 * time.Minute).Unix()
		}},
		{"another audience", "audience", func(c map[string]any) { c["aud"] = "another-client" }},
		{"another issuer", "different provider", func(c map[string]any) { c["iss"] = "https://elsewhere.test" }},
		{"another key", "signature", func(c map[string]any) { c["signed by"] = other }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op.mu.Lock()
			op.tweak = tt.tweak
			op.mu.Unlock()
			b := ssoBrowser(t)
			resp, err := b.Get(w.base + paths.OIDCStart)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			status, _, body := ssoGet(t, b, resp.Header.Get("Location"))
			if status != http.StatusForbidden || !hasRefusal(body, "sso-back") {
				t.Fatalf("status %d\n%s", status, body)
			}
			evs := w.audits(t, "login.failed")
			if len(evs) == 0 || !strings.Contains(fmt.Sprint(evs[len(evs)-1].Details["reason"]), tt.reason) {
				t.Errorf("last login.failed %+v, want a reason naming %q", evs, tt.reason)
			}
		})
	}
	if n, _ := w.app.Ent.User.Query().Count(rule.SystemContext(context.Background())); n != 0 {
		t.Fatalf("%d users made from refused tokens", n)
	}
	op.mu.Lock()
	op.tweak = nil
	op.mu.Unlock()
	b := ssoBrowser(t)
	resp, err := b.Get(w.base + paths.OIDCStart)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if status, path, body := ssoGet(t, b, resp.Header.Get("Location")); status != http.StatusOK || path != paths.Home {
		t.Fatalf("the unbent token: %d at %s\n%s", status, path, body)
	}
}

// A groups claim that is absent changes no group; a present one, even
// empty, drives the mapped groups.
func TestSSOAbsentGroupsClaimChangesNothing(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) {
		o.GroupMap = map[string]string{"idp-blue": auth.GroupBlueTeam}
		o.AllowedDomains = map[string][]string{"allowed.test": {auth.GroupRedTeam}}
	})
	w.users.add("hugo", "hugo@allowed.test", "idp-blue")
	if status, path, body := w.signIn(t, ssoBrowser(t), "hugo"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("first sign-in: %d at %s\n%s", status, path, body)
	}
	w.users.set("hugo", func(_ *storage.User, g *[]string) { *g = nil }) // no groups claim at all
	if status, path, body := w.signIn(t, ssoBrowser(t), "hugo"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("sign-in without the claim: %d at %s\n%s", status, path, body)
	}
	if g := ssoGroupsOf(w.userByEmail(t, "hugo@allowed.test")); !sameSet(g, auth.GroupRedTeam, auth.GroupBlueTeam) {
		t.Errorf("groups after a sign-in without the claim: %v", g)
	}
	if evs := w.audits(t, "user.groups_changed"); len(evs) != 1 {
		t.Errorf("%d user.groups_changed events, want the first sign-in's only", len(evs))
	}
	w.users.set("hugo", func(_ *storage.User, g *[]string) { *g = []string{} }) // the claim, empty
	if status, path, body := w.signIn(t, ssoBrowser(t), "hugo"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("sign-in with an empty claim: %d at %s\n%s", status, path, body)
	}
	if g := ssoGroupsOf(w.userByEmail(t, "hugo@allowed.test")); !sameSet(g, auth.GroupRedTeam) {
		t.Errorf("groups after a sign-in with an empty claim: %v", g)
	}
}

// The group mapping never takes the admin group from the last active
// admin: it is kept, and the audit says so; with another admin, it goes.
func TestSSOGroupMappingKeepsTheLastAdmin(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) {
		o.GroupMap = map[string]string{"idp-admins": auth.GroupAdmin}
		o.AllowedDomains = map[string][]string{"allowed.test": nil}
	})
	w.users.add("iris", "iris@allowed.test", "idp-admins")
	if status, path, body := w.signIn(t, ssoBrowser(t), "iris"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("first sign-in: %d at %s\n%s", status, path, body)
	}
	if g := ssoGroupsOf(w.userByEmail(t, "iris@allowed.test")); !sameSet(g, auth.GroupAdmin) {
		t.Fatalf("groups after the first sign-in: %v", g)
	}
	w.users.set("iris", func(_ *storage.User, g *[]string) { *g = []string{} })
	if status, path, body := w.signIn(t, ssoBrowser(t), "iris"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("second sign-in: %d at %s\n%s", status, path, body)
	}
	if g := ssoGroupsOf(w.userByEmail(t, "iris@allowed.test")); !sameSet(g, auth.GroupAdmin) {
		t.Errorf("the last admin lost the admin group: %v", g)
	}
	evs := w.audits(t, "user.groups_changed")
	if len(evs) != 2 || fmt.Sprint(evs[1].Details["kept_last_admin"]) != "[admin]" || fmt.Sprint(evs[1].Details["removed"]) != "[]" {
		t.Fatalf("user.groups_changed events %+v, want the kept admin group recorded", evs)
	}

	w.app.User(t, "other-admin@local.test", auth.GroupAdmin)
	if status, path, body := w.signIn(t, ssoBrowser(t), "iris"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("third sign-in: %d at %s\n%s", status, path, body)
	}
	if g := ssoGroupsOf(w.userByEmail(t, "iris@allowed.test")); len(g) != 0 {
		t.Errorf("groups with another admin: %v, want none", g)
	}
}
