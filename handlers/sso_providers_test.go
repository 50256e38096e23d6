package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"violet/ent/signinprovider"
	"violet/ent/useridentity"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/factor"
	"violet/internal/paths"
	"violet/internal/signin"
)

// A provider an admin set up (a sign_in_providers row) works beside the
// environment's: the sign-in page offers both, a sign-in through the row's
// provider goes to that provider only (the state cookie names it) and
// admits by the row's rules; a disabled row is gone from the page and
// its start route; a row whose secret does not open says the provider
// cannot be reached, and the password form still works.
func TestSSOProviderSetUpByAnAdmin(t *testing.T) {
	w := newSSOWorld(t, "", func(o *config.OIDC) {
		o.AllowedDomains = map[string][]string{"corp.test": {auth.GroupObserver}}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	partnerIssuer := "http://" + ln.Addr().String()
	partner := startIdP(t, ln, w.base+paths.OIDCCallback)
	partner.add("pat", "pat@partner.test")
	// The same subject at the environment's provider is another person.
	w.users.add("pat", "pat@corp.test")

	sys := rule.SystemContext(context.Background())
	sealer, err := factor.NewSealer(w.app.Config.SessionKey)
	if err != nil {
		t.Fatal(err)
	}
	settings, _ := json.Marshal(signin.OIDCSettings{Issuer: partnerIssuer, ClientID: ssoClientID,
		Scopes: []string{"openid", "email", "profile"}, GroupsClaim: "groups",
		AllowedDomains: map[string][]string{"partner.test": {auth.GroupRedTeam}}})
	row, err := w.app.Ent.SignInProvider.Create().SetKey("partner").SetKind(signinprovider.KindOidc).
		SetName("Partner SSO").SetSettings(settings).SetSecret(signin.SealSecret(sealer, "partner", ssoSecret)).Save(sys)
	if err != nil {
		t.Fatal(err)
	}

	_, _, body := ssoGet(t, ssoBrowser(t), w.base+paths.Login)
	if !strings.Contains(body, "Corp SSO") || !strings.Contains(body, "Partner SSO") ||
		!strings.Contains(body, "provider=partner") {
		t.Fatalf("login page does not offer both providers:\n%s", body)
	}

	b := ssoBrowser(t)
	start := paths.Query(paths.OIDCStart, "provider", "partner")
	status, path, body := ssoGet(t, b, signInAt(t, b, w.base+start, partnerIssuer, w.base, "pat"))
	if status != http.StatusOK || path != paths.Home {
		t.Fatalf("sign-in through the partner: %d at %s\n%s", status, path, body)
	}
	u := w.userByEmail(t, "pat@partner.test")
	if g := ssoGroupsOf(u); len(g) != 1 || g[0] != auth.GroupRedTeam {
		t.Errorf("groups %v, want the allowed domain's", g)
	}
	id, err := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(u.ID)).Only(sys)
	if err != nil || id.Provider != "oidc:partner" || id.Issuer != partnerIssuer || id.Subject != "pat" {
		t.Fatalf("identity %+v: %v", id, err)
	}

	// Disabled: off the page, and its start route is gone.
	if err := w.app.Ent.SignInProvider.UpdateOne(row).SetEnabled(false).Exec(sys); err != nil {
		t.Fatal(err)
	}
	if _, _, body := ssoGet(t, ssoBrowser(t), w.base+paths.Login); strings.Contains(body, "Partner SSO") {
		t.Error("a disabled provider is still offered")
	}
	if status, _, _ := ssoGet(t, ssoBrowser(t), w.base+start); status != http.StatusNotFound {
		t.Errorf("start of a disabled provider: %d, want 404", status)
	}

	// A secret sealed under another SESSION_KEY does not open: the
	// provider cannot be used, which the page says (503).
	other, _ := factor.NewSealer([]byte(strings.Repeat("k", 32)))
	if err := w.app.Ent.SignInProvider.UpdateOne(row).SetEnabled(true).
		SetSecret(signin.SealSecret(other, "partner", ssoSecret)).Exec(sys); err != nil {
		t.Fatal(err)
	}
	if status, _, body := ssoGet(t, ssoBrowser(t), w.base+start); status != http.StatusServiceUnavailable ||
		!strings.Contains(body, `data-testid="sso-problem"`) {
		t.Errorf("start with a secret that does not open: %d\n%s", status, body)
	}
	// The environment's provider is untouched by the row's trouble.
	if status, path, _ := w.signIn(t, ssoBrowser(t), "pat"); status != http.StatusOK || path != paths.Home {
		t.Errorf("sign-in through the environment's provider: %d at %s", status, path)
	}
	if n, _ := w.app.Ent.UserIdentity.Query().Where(useridentity.Subject("pat")).Count(sys); n != 2 {
		t.Errorf("%d identities with subject pat, want one per provider", n)
	}
}

// signInAt starts a sign-in at start (Violet's start route), signs in at
// the provider of issuer as id and returns the callback URL it sends the
// browser back to.
func signInAt(t *testing.T, b *http.Client, start, issuer, base, id string) string {
	t.Helper()
	resp, err := b.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	return atProvider(t, b, resp, issuer, base, id)
}

// atProvider signs in as id at the provider of issuer whose login form
// resp is, and returns the callback URL it sends the browser back to.
func atProvider(t *testing.T, b *http.Client, resp *http.Response, issuer, base, id string) string {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := idpRequestID.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.HasPrefix(resp.Request.URL.String(), issuer) {
		t.Fatalf("provider's login form: status %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	resp, err := b.PostForm(issuer+"/login/username", url.Values{"id": {string(m[1])}, "username": {id}, "password": {"idp-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, base+paths.OIDCCallback) {
		t.Fatalf("provider's answer: status %d, Location %q", resp.StatusCode, loc)
	}
	return loc
}
