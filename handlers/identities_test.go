package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"violet/ent/setting"
	"violet/ent/useridentity"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

// passwordBrowser is a fresh browser signed in with email's password.
func (w *ssoWorld) passwordBrowser(t *testing.T, email string) *http.Client {
	t.Helper()
	b := ssoBrowser(t)
	resp, err := b.PostForm(w.base+paths.Login, url.Values{"email": {email}, "password": {apptest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != paths.Home {
		t.Fatalf("password sign-in of %s: %d at %s", email, resp.StatusCode, resp.Request.URL)
	}
	return b
}

// startLink posts the security page's linking form; on success the
// browser ends on the provider's login form (resp).
func (w *ssoWorld) startLink(t *testing.T, b *http.Client, password string) *http.Response {
	t.Helper()
	resp, err := b.PostForm(w.base+paths.AccountIdentityLink, url.Values{"link_provider": {"corp"}, "link_password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// A person whose account predates single sign-on (a password account
// with the provider's address, which a sign-in through the provider
// refuses to take over) links the provider from the security page: the
// password is asked again, the provider's sign-in follows, and from then
// on the provider signs them in to that account. An identity already
// linked to another account is refused; a linking started by one account
// cannot be completed in another's browser; unlinking re-authenticates
// and is audited.
func TestSSOLinkAnExistingAccount(t *testing.T) {
	w := newSSOWorld(t, "", nil)
	sys := rule.SystemContext(context.Background())
	gail := w.app.User(t, "gail@corp.test", auth.GroupRedTeam)
	w.app.User(t, "hank@corp.test", auth.GroupRedTeam)
	w.users.add("gail", "gail@corp.test")

	b := w.passwordBrowser(t, "gail@corp.test")
	if status, _, body := ssoGet(t, b, w.base+paths.AccountSecurity); status != http.StatusOK ||
		!strings.Contains(body, `data-testid="identity-link-form"`) || !strings.Contains(body, `<option value="corp">Corp SSO</option>`) {
		t.Fatalf("security page offers no linking: %d\n%s", status, body)
	}

	// A wrong password: the form again, with the error, and no provider.
	resp := w.startLink(t, b, "wrong password")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || resp.Request.URL.Path != paths.AccountIdentityLink {
		t.Fatalf("linking with a wrong password: %d at %s", resp.StatusCode, resp.Request.URL)
	}

	resp = w.startLink(t, b, apptest.Password)
	status, path, body := ssoGet(t, b, atProvider(t, b, resp, w.issuer, w.base, "gail"))
	if status != http.StatusOK || path != paths.AccountSecurity || !strings.Contains(body, `data-testid="identity"`) {
		t.Fatalf("after linking: %d at %s\n%s", status, path, body)
	}
	id, err := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(gail.ID)).Only(sys)
	if err != nil || id.Provider != "oidc:corp" || id.Subject != "gail" || id.Issuer != w.issuer {
		t.Fatalf("identity %+v: %v", id, err)
	}
	if evs := w.audits(t, "user.identity_linked"); len(evs) != 1 || evs[0].TargetID != gail.ID.String() {
		t.Errorf("user.identity_linked events %+v", evs)
	}

	// The provider now signs gail in to her account.
	if status, path, _ := w.signIn(t, ssoBrowser(t), "gail"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("sign-in through the provider after linking: %d at %s", status, path)
	}
	if n, _ := w.app.Ent.User.Query().Count(sys); n != 2 {
		t.Errorf("%d users, want 2: the sign-in made an account", n)
	}

	// Hank cannot link gail's identity to his account.
	hb := w.passwordBrowser(t, "hank@corp.test")
	resp = w.startLink(t, hb, apptest.Password)
	if status, _, body := ssoGet(t, hb, atProvider(t, hb, resp, w.issuer, w.base, "gail")); status != http.StatusForbidden ||
		!hasRefusal(body, "another Violet account") {
		t.Fatalf("linking another account's identity: %d\n%s", status, body)
	}

	// A linking hank started, completed in gail's browser with hank's
	// state cookie, links nothing.
	w.users.add("hank", "hank@corp.test")
	resp = w.startLink(t, hb, apptest.Password)
	callback := atProvider(t, hb, resp, w.issuer, w.base, "hank")
	u, _ := url.Parse(w.base)
	copied := false
	for _, c := range hb.Jar.Cookies(u) {
		if c.Name == "violet_oidc" {
			b.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
			copied = true
		}
	}
	if !copied {
		t.Fatal("hank's browser holds no state cookie")
	}
	if status, _, body := ssoGet(t, b, callback); status != http.StatusForbidden || !hasRefusal(body, "could not be checked") {
		t.Fatalf("a linking completed in another account's browser: %d\n%s", status, body)
	}
	if evs := w.audits(t, "login.failed"); len(evs) == 0 || evs[len(evs)-1].Details["reason"] != "linking started by another account" {
		t.Errorf("the refusal is not the linking's: %+v", evs)
	}
	if n, _ := w.app.Ent.UserIdentity.Query().Where(useridentity.Subject("hank")).Count(sys); n != 0 {
		t.Errorf("hank's identity linked from gail's browser")
	}

	// Unlinking asks the password again.
	unlink := paths.URL(paths.AccountIdentityUnlink, id.ID)
	prefix := "identity_" + id.ID.String() + "_"
	resp, err = b.PostForm(w.base+unlink, url.Values{prefix + "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("unlink with a wrong password: %d", resp.StatusCode)
	}
	resp, err = b.PostForm(w.base+unlink, url.Values{prefix + "password": {apptest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != paths.AccountSecurity {
		t.Fatalf("unlink: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if n, _ := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(gail.ID)).Count(sys); n != 0 {
		t.Errorf("%d identities left after unlinking", n)
	}
	if evs := w.audits(t, "user.identity_unlinked"); len(evs) != 1 || evs[0].Details["method"] != "oidc:corp" {
		t.Errorf("user.identity_unlinked events %+v", evs)
	}
}

// A sign-in through the provider that finds an account with the
// identity's verified e-mail but no link asks that account's password
// once: a wrong one is refused and audited like any sign-in, the right one
// links the identity and signs in through the provider (also when single
// sign-on is required and the password alone opens nothing). A provider
// with allowed domains links no identity outside them.
func TestSSOLinksAnExistingAccountWithItsPassword(t *testing.T) {
	w := newSSOWorld(t, "", nil)
	sys := rule.SystemContext(context.Background())
	ivy := w.app.User(t, "ivy@corp.test", auth.GroupRedTeam)
	w.users.add("ivy", "ivy@corp.test")
	// Single sign-on is required, and ivy is no break-glass account.
	if err := w.app.Ent.Setting.Update().Where(setting.Key("sso_required")).SetValue([]byte("true")).Exec(sys); err != nil {
		t.Fatal(err)
	}

	b := ssoBrowser(t)
	status, path, body := w.signIn(t, b, "ivy")
	if status != http.StatusOK || path != paths.LoginLink || !strings.Contains(body, "ivy@corp.test") {
		t.Fatalf("sign-in of an account with the address: %d at %s\n%s", status, path, body)
	}
	resp, err := b.PostForm(w.base+paths.LoginLink, url.Values{"password": {"not the password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d", resp.StatusCode)
	}
	if evs := w.audits(t, "login.failed"); len(evs) != 1 || evs[0].TargetLabel != "ivy@corp.test" {
		t.Errorf("login.failed events %+v", evs)
	}
	if n, _ := w.app.Ent.UserIdentity.Query().Count(sys); n != 0 {
		t.Fatalf("%d identities linked after a wrong password", n)
	}

	resp, err = b.PostForm(w.base+paths.LoginLink, url.Values{"password": {apptest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != paths.Home {
		t.Fatalf("the right password: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	id, err := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(ivy.ID)).Only(sys)
	if err != nil || id.Subject != "ivy" || id.Provider != "oidc:corp" {
		t.Fatalf("identity %+v: %v", id, err)
	}
	var method string
	if err := w.app.DB.QueryRow(`SELECT method FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`, ivy.ID).Scan(&method); err != nil || method != "oidc:corp" {
		t.Errorf("session method %q: %v", method, err)
	}
	// The cookie is spent: the page sends back to the sign-in form, which
	// sends the signed-in browser home.
	if status, path, _ := ssoGet(t, b, w.base+paths.LoginLink); status != http.StatusOK || path != paths.Home {
		t.Errorf("the link page after linking: %d at %s", status, path)
	}
	// From now on the provider alone signs ivy in.
	if status, path, _ := w.signIn(t, ssoBrowser(t), "ivy"); status != http.StatusOK || path != paths.Home {
		t.Errorf("the next sign-in: %d at %s", status, path)
	}
}

// A provider whose answer names another issuer (RFC 9207 iss) is refused:
// the code was meant for another provider (mix-up).
func TestSSOAnswerOfAnotherIssuerRefused(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) { o.AllowedDomains = map[string][]string{"corp.test": nil} })
	w.users.add("jo", "jo@corp.test")
	b := ssoBrowser(t)
	callback, err := url.Parse(w.toCallback(t, b, "jo"))
	if err != nil {
		t.Fatal(err)
	}
	q := callback.Query()
	q.Set("iss", "https://evil.example")
	callback.RawQuery = q.Encode()
	if status, _, body := ssoGet(t, b, callback.String()); status != http.StatusForbidden || !hasRefusal(body, "could not be checked") {
		t.Fatalf("an answer naming another issuer: %d\n%s", status, body)
	}
	if evs := w.audits(t, "login.failed"); len(evs) != 1 || evs[0].Details["reason"] != "iss not the provider's" {
		t.Errorf("login.failed events %+v", evs)
	}
}

// A provider with allowed domains links no identity outside them to an
// existing account: the sign-in is refused, no password asked.
func TestSSOLinkOutsideTheAllowedDomainsRefused(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) { o.AllowedDomains = map[string][]string{"corp.test": nil} })
	w.app.User(t, "omar@home.test", auth.GroupRedTeam)
	w.users.add("omar", "omar@home.test")
	if status, _, body := w.signIn(t, ssoBrowser(t), "omar"); status != http.StatusForbidden || !hasRefusal(body, "domains this provider") {
		t.Fatalf("an identity outside the allowed domains: %d\n%s", status, body)
	}
}

// An account with an authenticator app is not linked by its password
// alone: the password leads to the account's second step, and only the
// code completes the link (with the sign-in).
func TestSSOLinkWaitsForTheSecondFactor(t *testing.T) {
	ca := &clockedApp{}
	w := newSSOWorld(t, "", nil, apptest.WithNow(ca.now))
	ca.App = w.app
	sys := rule.SystemContext(context.Background())
	kim := w.app.User(t, "kim@corp.test", auth.GroupRedTeam)
	secret, _ := ca.enrol(t, w.app.Login(t, "kim@corp.test", apptest.Password))
	ca.step() // the enrolment's code is spent
	w.users.add("kim", "kim@corp.test")

	b := ssoBrowser(t)
	if status, path, _ := w.signIn(t, b, "kim"); status != http.StatusOK || path != paths.LoginLink {
		t.Fatalf("sign-in: %d at %s", status, path)
	}
	resp, err := b.PostForm(w.base+paths.LoginLink, url.Values{"password": {apptest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != paths.LoginSecondFactor {
		t.Fatalf("the password: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if n := w.app.Ent.UserIdentity.Query().CountX(sys); n != 0 {
		t.Fatalf("%d identities linked by the password alone", n)
	}
	resp, err = b.PostForm(w.base+paths.LoginSecondFactor, url.Values{"code": {ca.code(t, secret)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != paths.Home {
		t.Fatalf("the code: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	id, err := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(kim.ID)).Only(sys)
	if err != nil || id.Provider != "oidc:corp" || id.Subject != "kim" {
		t.Fatalf("identity after the code %+v: %v", id, err)
	}
	var method string
	if err := w.app.DB.QueryRow(`SELECT method FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY issued_at DESC LIMIT 1`, kim.ID).Scan(&method); err != nil || method != "oidc:corp+totp" {
		t.Errorf("session method %q: %v", method, err)
	}
}
