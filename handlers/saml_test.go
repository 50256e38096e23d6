package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/group"
	"violet/ent/samlassertion"
	"violet/ent/signinprovider"
	"violet/ent/user"
	"violet/ent/useridentity"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/paths"
	"violet/internal/signin"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/samltest"
)

// The SAML tests run Violet's real router on a loopback listener against
// a real SAML identity provider (crewjam's samlidp, internal/testkit/
// samltest) started inside the test, with Violet registered there through
// its own metadata URL; an http.Client with a cookie jar is the browser,
// and posts the provider's auto-submitting form back to the ACS with the
// headers a browser sends for a cross-site POST.

type samlWorld struct {
	app  *apptest.App
	base string
	idp  *samltest.IdP
}

// newSAMLWorld starts an identity provider and Violet with a SAML
// provider "corp" set up for it (metadata read from its URL), and
// registers Violet's metadata at the provider.
func newSAMLWorld(t *testing.T) *samlWorld {
	t.Helper()
	vln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &samlWorld{base: "http://" + vln.Addr().String(), idp: samltest.Start(t)}
	w.app = apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.BaseURL, _ = url.Parse(w.base) }))
	srv := httptest.NewUnstartedServer(w.app)
	srv.Listener.Close()
	srv.Listener = vln
	srv.Start()
	t.Cleanup(srv.Close)
	w.addProvider(t, "corp", signin.SAMLSettings{MetadataURL: w.idp.MetadataURL(), EmailAttribute: "mail",
		NameAttribute: "cn", GroupsAttribute: "eduPersonAffiliation", GroupMap: map[string]string{"soc": auth.GroupBlueTeam},
		AllowedDomains: map[string][]string{"corp.example": {auth.GroupObserver}}})
	resp, err := http.Get(w.base + paths.URL(paths.SAMLMetadata, "corp"))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	w.idp.Register(t, "violet", md)
	w.idp.AddUser(t, "alice", "alice@corp.example", "Alice Liddell", "soc", "staff")
	return w
}

func (w *samlWorld) addProvider(t *testing.T, key string, st signin.SAMLSettings) {
	t.Helper()
	raw, _ := json.Marshal(st)
	if err := w.app.Ent.SignInProvider.Create().SetKey(key).SetKind(signinprovider.KindSaml).SetName("Corp SAML").
		SetSettings(raw).Exec(rule.SystemContext(context.Background())); err != nil {
		t.Fatal(err)
	}
}

// toACS starts a sign-in with a fresh browser, signs in at the provider as
// alice and returns the browser and the form its page would post back.
func (w *samlWorld) toACS(t *testing.T) (*http.Client, samltest.Form) {
	t.Helper()
	b := samltest.Browser(t)
	form := w.idp.SignIn(t, b, w.base+paths.Query(paths.URL(paths.SAMLStart, "corp"), "next", "/account"), "alice")
	if form.Action != w.base+paths.URL(paths.SAMLACS, "corp") {
		t.Fatalf("the provider posts to %s", form.Action)
	}
	return b, form
}

// post sends the form as the provider's page does in a browser: a
// cross-site POST (Origin and Sec-Fetch-Site say so), then follows the
// redirect; it returns the final status, path and body.
func (w *samlWorld) post(t *testing.T, b *http.Client, form samltest.Form) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, form.Action, strings.NewReader(form.Values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", w.idp.URL)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.Path, string(body)
}

func (w *samlWorld) failures(t *testing.T) []*ent.AuditEvent {
	t.Helper()
	evs, err := w.app.Ent.AuditEvent.Query().Where(auditevent.Action("login.failed")).
		Order(ent.Asc(auditevent.FieldCreatedAt)).All(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// withResponse returns form with its SAMLResponse's XML changed by edit.
func withResponse(t *testing.T, form samltest.Form, edit func(string) string) samltest.Form {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(form.Values.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(string(raw))
	if changed == string(raw) {
		t.Fatal("the edit changed nothing")
	}
	v := url.Values{}
	for k, vs := range form.Values {
		v[k] = vs
	}
	v.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(changed)))
	return samltest.Form{Action: form.Action, Values: v}
}

var xmlSignature = regexp.MustCompile(`(?s)<(?:\w+:)?Signature[ >].*?</(?:\w+:)?Signature>`)

// Violet's metadata: valid XML at a stable public URL, naming its entity
// ID (that URL) and its ACS URL.
func TestSAMLMetadata(t *testing.T) {
	w := newSAMLWorld(t)
	resp, err := http.Get(w.base + paths.URL(paths.SAMLMetadata, "corp"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var md struct {
		EntityID string `xml:"entityID,attr"`
		SP       struct {
			ACS []struct {
				Binding  string `xml:"Binding,attr"`
				Location string `xml:"Location,attr"`
			} `xml:"AssertionConsumerService"`
		} `xml:"SPSSODescriptor"`
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("metadata: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := xml.Unmarshal(body, &md); err != nil {
		t.Fatalf("metadata is not XML: %v\n%s", err, body)
	}
	if md.EntityID != w.base+"/saml/corp/metadata" || len(md.SP.ACS) != 1 ||
		md.SP.ACS[0].Location != w.base+"/saml/corp/acs" || !strings.HasSuffix(md.SP.ACS[0].Binding, "HTTP-POST") {
		t.Fatalf("metadata %+v", md)
	}
	if resp, _ := http.Get(w.base + paths.URL(paths.SAMLMetadata, "nobody")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("metadata of no provider: %d, want 404", resp.StatusCode)
	}
}

// Alice signs in through the identity provider: her account is made for
// the allowed domain, her identity is the provider's entity ID and her
// NameID, her groups follow the groups attribute, and her session works.
// The request cookie is spent: the same form posted again from the same
// browser is refused, without an audit row (it proves nothing).
func TestSAMLSignsInThroughTheIdentityProvider(t *testing.T) {
	w := newSAMLWorld(t)
	b, form := w.toACS(t)
	status, path, body := w.post(t, b, form)
	if status != http.StatusOK || path != paths.Account {
		t.Fatalf("sign-in: %d at %s\n%s", status, path, body)
	}
	sys := rule.SystemContext(context.Background())
	u, err := w.app.Ent.User.Query().Where(user.Email("alice@corp.example")).WithGroups().Only(sys)
	if err != nil {
		t.Fatal(err)
	}
	if g := ssoGroupsOf(u); len(g) != 2 || u.DisplayName != "Alice Liddell" {
		t.Errorf("groups %v, name %q: want blueteam (soc) and observer (domain)", g, u.DisplayName)
	}
	id, err := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(u.ID)).Only(sys)
	if err != nil || id.Issuer != w.idp.EntityID() || id.Subject != samltest.NameID("alice") || id.Provider != "saml:corp" {
		t.Fatalf("identity %+v: %v", id, err)
	}
	var method string
	if err := w.app.DB.QueryRow(`SELECT method FROM refresh_tokens WHERE user_id = $1`, u.ID).Scan(&method); err != nil || method != "saml:corp" {
		t.Errorf("session method %q: %v", method, err)
	}
	if status, path, _ := ssoGet(t, b, w.base+paths.Account); status != http.StatusOK || path != paths.Account {
		t.Errorf("account page: %d at %s", status, path)
	}

	status, _, body = w.post(t, b, form)
	if status != http.StatusForbidden || !hasRefusal(body, "did not come from this browser") {
		t.Fatalf("the same form again: %d\n%s", status, body)
	}
	if evs := w.failures(t); len(evs) != 0 {
		t.Errorf("login.failed %+v, want none without the request cookie", evs)
	}
}

// The ACS alone is exempt from the cross-origin protection: a cross-site
// POST reaches it (here: no such provider, 404), while the same POST to
// the sign-in form is refused (403).
func TestSAMLACSAloneTakesCrossSitePosts(t *testing.T) {
	a := apptest.New(t)
	for _, c := range []struct {
		path string
		want int
	}{{paths.URL(paths.SAMLACS, "nobody"), http.StatusNotFound}, {paths.Login, http.StatusForbidden}} {
		req := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader("SAMLResponse=x&RelayState=y&email=a%40b.c&password=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://idp.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("cross-site POST %s: %d, want %d", c.path, rec.Code, c.want)
		}
	}
}

// The same response replayed with the request cookie copied before it was
// spent (another browser, another instance): refused by saml_assertions.
func TestSAMLRefusesReplayedResponse(t *testing.T) {
	w := newSAMLWorld(t)
	b, form := w.toACS(t)
	acs, _ := url.Parse(form.Action)
	cookies := b.Jar.Cookies(acs)
	if status, _, body := w.post(t, b, form); status != http.StatusOK {
		t.Fatalf("first post: %d\n%s", status, body)
	}
	other := samltest.Browser(t)
	other.Jar.SetCookies(acs, cookies)
	status, _, body := w.post(t, other, form)
	if status != http.StatusForbidden || !strings.Contains(body, `data-testid="sso-problem"`) {
		t.Fatalf("replay: %d\n%s", status, body)
	}
	// The request was spent on the server by the first post: the copy is
	// rejected before its response is read, without an audit row.
	if evs := w.failures(t); len(evs) != 0 {
		t.Fatalf("login.failed %+v", evs)
	}
	sys := rule.SystemContext(context.Background())
	if n := w.app.Ent.SAMLAssertion.Query().Where(samlassertion.AssertionIDHasPrefix("request:")).CountX(sys); n != 1 {
		t.Fatalf("%d spent requests, want 1", n)
	}
	if n := w.app.Ent.RefreshToken.Query().CountX(sys); n != 1 {
		t.Fatalf("%d sessions, want the first post's only", n)
	}
}

// An assertion signed nowhere, or changed after it was signed, is refused;
// an assertion signed itself in an unsigned Response is accepted.
func TestSAMLRefusesUnsignedAndTamperedAssertions(t *testing.T) {
	w := newSAMLWorld(t)
	cases := []struct {
		name, reason string
		edit         func(string) string
	}{
		{"no signature", "not signed", func(x string) string { return xmlSignature.ReplaceAllString(x, "") }},
		{"NameID changed", "signature not valid", func(x string) string {
			return strings.Replace(x, ">"+samltest.NameID("alice")+"<", ">"+samltest.NameID("admin")+"<", 1)
		}},
		{"e-mail changed", "signature not valid", func(x string) string {
			return strings.Replace(x, ">alice@corp.example<", ">mallory@corp.example<", 1)
		}},
	}
	for _, c := range cases {
		b, form := w.toACS(t)
		status, _, body := w.post(t, b, withResponse(t, form, c.edit))
		if status != http.StatusForbidden || !strings.Contains(body, `data-testid="sso-problem"`) {
			t.Fatalf("%s: %d\n%s", c.name, status, body)
		}
	}
	evs := w.failures(t)
	if len(evs) != len(cases) {
		t.Fatalf("%d login.failed, want %d", len(evs), len(cases))
	}
	for i, ev := range evs {
		if ev.Details["reason"] != "response not valid: "+cases[i].reason {
			t.Errorf("%s: reason %v", cases[i].name, ev.Details["reason"])
		}
	}
	if n, _ := w.app.Ent.User.Query().Where(user.EmailIn("alice@corp.example", "mallory@corp.example")).Count(rule.SystemContext(context.Background())); n != 0 {
		t.Fatalf("%d accounts made from refused responses", n)
	}

	// Only the Response's signature (the first) removed: the assertion
	// is still signed.
	b, form := w.toACS(t)
	first := true
	status, path, body := w.post(t, b, withResponse(t, form, func(x string) string {
		return xmlSignature.ReplaceAllStringFunc(x, func(s string) string {
			if first {
				first = false
				return ""
			}
			return s
		})
	}))
	if status != http.StatusOK || path != paths.Account {
		t.Fatalf("signed assertion in an unsigned Response: %d at %s\n%s", status, path, body)
	}
}

// An unsolicited response (no request cookie: IdP-initiated, or from
// another browser) is refused without an audit row; an assertion made
// for another service provider is refused for its audience.
func TestSAMLRefusesUnsolicitedAndOtherAudience(t *testing.T) {
	w := newSAMLWorld(t)
	_, form := w.toACS(t)
	status, _, body := w.post(t, samltest.Browser(t), form)
	if status != http.StatusForbidden || !hasRefusal(body, "did not come from this browser") {
		t.Fatalf("unsolicited: %d\n%s", status, body)
	}
	if evs := w.failures(t); len(evs) != 0 {
		t.Fatalf("login.failed %+v for an unsolicited response", evs)
	}

	w.idp.SetAudience("https://elsewhere.example/saml/metadata")
	b, form := w.toACS(t)
	status, _, body = w.post(t, b, form)
	if status != http.StatusForbidden || !strings.Contains(body, `data-testid="sso-problem"`) {
		t.Fatalf("other audience: %d\n%s", status, body)
	}
	if evs := w.failures(t); len(evs) != 1 || !strings.Contains(evs[0].Details["reason"].(string), "audience") {
		t.Fatalf("login.failed %+v", evs)
	}
}

// A provider whose metadata cannot be read: its button answers a clear
// page (503) with the way back, and password sign-in works.
func TestSAMLProviderDown(t *testing.T) {
	w := newSAMLWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there
	w.addProvider(t, "down", signin.SAMLSettings{MetadataURL: "http://" + addr + "/metadata"})
	status, _, body := ssoGet(t, samltest.Browser(t), w.base+paths.URL(paths.SAMLStart, "down"))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `data-testid="sso-problem"`) ||
		!strings.Contains(body, "cannot be reached") || !strings.Contains(body, `href="/login"`) {
		t.Fatalf("start with the provider down: %d\n%s", status, body)
	}
	w.app.User(t, "breakglass@local.test", auth.GroupAdmin)
	w.app.Login(t, "breakglass@local.test", apptest.Password) // fails the test unless 303
}

// The login page offers the SAML provider; an account that already has
// alice's address is linked by its password, once (the e-mail alone
// never links it); then the identity provider alone signs her in.
func TestSAMLLinksAnExistingAccountWithItsPassword(t *testing.T) {
	w := newSAMLWorld(t)
	if status, _, body := ssoGet(t, samltest.Browser(t), w.base+paths.Login); status != http.StatusOK ||
		!strings.Contains(body, "Corp SAML") || !strings.Contains(body, paths.URL(paths.SAMLStart, "corp")) {
		t.Fatalf("login page without the SAML button: %d\n%s", status, body)
	}
	alice := w.app.User(t, "alice@corp.example", auth.GroupRedTeam)
	b, form := w.toACS(t)
	status, path, body := w.post(t, b, form)
	if status != http.StatusOK || path != paths.LoginLink || !strings.Contains(body, "alice@corp.example") {
		t.Fatalf("sign-in of an account with the address: %d at %s\n%s", status, path, body)
	}
	resp, err := b.PostForm(w.base+paths.LoginLink, url.Values{"password": {apptest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != paths.Account {
		t.Fatalf("the right password: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	sys := rule.SystemContext(context.Background())
	id, err := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(alice.ID)).Only(sys)
	if err != nil || id.Provider != "saml:corp" || id.Subject != samltest.NameID("alice") {
		t.Fatalf("identity %+v: %v", id, err)
	}
	b2, form := w.toACS(t)
	if status, path, _ := w.post(t, b2, form); status != http.StatusOK || path != paths.Account {
		t.Errorf("the next sign-in: %d at %s", status, path)
	}
}

// A signed-in person links the SAML provider from the security page: the
// password again, the identity provider's sign-in, and the identity is
// theirs.
func TestSAMLLinkFromTheSecurityPage(t *testing.T) {
	w := newSAMLWorld(t)
	w.idp.AddUser(t, "bob", "bob.at.home@elsewhere.example", "Bob")
	bob := w.app.User(t, "bob@corp.example", auth.GroupRedTeam)
	// startLink signs bob in with his password in a fresh browser (no
	// session at the identity provider yet) and posts the linking form.
	startLink := func() (*http.Client, *http.Response) {
		b := samltest.Browser(t)
		resp, err := b.PostForm(w.base+paths.Login, url.Values{"email": {"bob@corp.example"}, "password": {apptest.Password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = b.PostForm(w.base+paths.AccountIdentityLink, url.Values{"link_provider": {"corp"}, "link_password": {apptest.Password}})
		if err != nil {
			t.Fatal(err)
		}
		return b, resp
	}
	b, resp := startLink()
	form := w.idp.SignInFrom(t, b, resp, "bob")
	status, path, body := w.post(t, b, form)
	// bob's address at the provider is outside its allowed domains: no link.
	if status != http.StatusForbidden || !hasRefusal(body, "domains this provider") {
		t.Fatalf("linking an identity outside the allowed domains: %d at %s\n%s", status, path, body)
	}
	w.idp.AddUser(t, "bob2", "bob@corp.example", "Bob")
	b, resp = startLink()
	form = w.idp.SignInFrom(t, b, resp, "bob2")
	if status, path, body := w.post(t, b, form); status != http.StatusOK || path != paths.AccountSecurity {
		t.Fatalf("linking: %d at %s\n%s", status, path, body)
	}
	id, err := w.app.Ent.UserIdentity.Query().Where(useridentity.UserID(bob.ID)).Only(rule.SystemContext(context.Background()))
	if err != nil || id.Subject != samltest.NameID("bob2") || id.Provider != "saml:corp" {
		t.Fatalf("identity %+v: %v", id, err)
	}
}

// Identity providers leave the groups attribute out for someone in no
// group: the mapped groups go, as when the attribute lists none.
func TestSAMLGroupsGoWhenTheAttributeIsAbsent(t *testing.T) {
	w := newSAMLWorld(t)
	b, form := w.toACS(t)
	if status, _, body := w.post(t, b, form); status != http.StatusOK {
		t.Fatalf("first sign-in: %d\n%s", status, body)
	}
	sys := rule.SystemContext(context.Background())
	inBlue := func() bool {
		return w.app.Ent.User.Query().Where(user.Email("alice@corp.example"),
			user.HasGroupsWith(group.Name(auth.GroupBlueTeam))).ExistX(sys)
	}
	if !inBlue() {
		t.Fatal("soc did not map to blueteam")
	}
	w.idp.AddUser(t, "alice", "alice@corp.example", "Alice Liddell") // no group left at the provider
	b, form = w.toACS(t)
	if status, _, body := w.post(t, b, form); status != http.StatusOK {
		t.Fatalf("second sign-in: %d\n%s", status, body)
	}
	if inBlue() {
		t.Error("alice left every group at the provider but is still in blueteam")
	}
}
