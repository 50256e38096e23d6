package samlsp

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"violet/ent/auditevent"
	"violet/ent/group"
	"violet/ent/user"
	"violet/ent/useridentity"
	"violet/internal/account"
	"violet/internal/admission"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/sso"
	"violet/internal/testkit/samltest"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var violetBase, _ = url.Parse("https://violet.example")

func newSP(t *testing.T, files config.SAMLSP) SP {
	t.Helper()
	sp, err := NewSP(SPConfig{Base: violetBase, Secure: true, SessionKey: make([]byte, 32), Files: files})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func metadataOf(t *testing.T, idp *samltest.IdP) string {
	t.Helper()
	resp, err := http.Get(idp.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Without SAML_SP_*, the metadata is Violet's entity ID and ACS URL
// (HTTP-POST) with no key, and the AuthnRequest goes unsigned.
func TestMetadataAndRequestWithoutKey(t *testing.T) {
	idp := samltest.Start(t)
	p, err := New(config.SAML{Key: "corp", Name: "Corp", MetadataXML: metadataOf(t, idp)}, newSP(t, config.SAMLSP{}))
	if err != nil {
		t.Fatal(err)
	}
	md, err := p.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	m := string(md)
	for _, want := range []string{`entityID="https://violet.example/saml/corp/metadata"`,
		`Location="https://violet.example/saml/corp/acs"`, `Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`,
		`WantAssertionsSigned="true"`, `AuthnRequestsSigned="false"`} {
		if !strings.Contains(m, want) {
			t.Errorf("metadata lacks %s:\n%s", want, m)
		}
	}
	if strings.Contains(m, "KeyDescriptor") || strings.Contains(m, "HTTP-Artifact") {
		t.Errorf("metadata without a key publishes a key or the artifact binding:\n%s", m)
	}
	to, ck, err := NewService(p, nil, nil, nil).Start(context.Background(), "/missions")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	if !strings.HasPrefix(to, idp.URL+"/sso?") || u.Query().Get("SAMLRequest") == "" || u.Query().Has("Signature") ||
		len(u.Query().Get("RelayState")) < 40 {
		t.Fatalf("start URL %s", to)
	}
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteNoneMode || ck.Name != "__Host-violet_saml" || ck.MaxAge != 600 {
		t.Fatalf("request cookie %+v: want HttpOnly, Secure, SameSite=None on https", ck)
	}
	if strings.Contains(ck.Value, u.Query().Get("RelayState")) {
		t.Fatal("the cookie holds the RelayState in the clear")
	}
}

// With SAML_SP_*, the metadata publishes the certificate (signing and
// encryption) and the AuthnRequest is signed.
func TestMetadataAndRequestWithKey(t *testing.T) {
	idp := samltest.Start(t)
	key, cert := samltest.KeyPair(t, "violet.example")
	dir := t.TempDir()
	files := config.SAMLSP{CertFile: filepath.Join(dir, "sp.crt"), KeyFile: filepath.Join(dir, "sp.key")}
	writePEM(t, files.CertFile, "CERTIFICATE", cert.Raw)
	writePEM(t, files.KeyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	p, err := New(config.SAML{Key: "corp", MetadataURL: idp.MetadataURL()}, newSP(t, files))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := p.Metadata()
	for _, want := range []string{`use="signing"`, `use="encryption"`, `AuthnRequestsSigned="true"`} {
		if !strings.Contains(string(md), want) {
			t.Errorf("metadata lacks %s", want)
		}
	}
	to, _, err := NewService(p, nil, nil, nil).Start(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	if u.Query().Get("Signature") == "" || u.Query().Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" {
		t.Fatalf("the request is not signed: %s", to)
	}
	if _, err := NewSP(SPConfig{Base: violetBase, SessionKey: make([]byte, 32),
		Files: config.SAMLSP{CertFile: files.CertFile, KeyFile: files.CertFile}}); err == nil {
		t.Fatal("a certificate given as the key was accepted")
	}
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Metadata from a cleartext address, or without a usable single sign-on
// service, is refused when the provider is built.
func TestNewRefusesUnusableMetadata(t *testing.T) {
	sp := newSP(t, config.SAMLSP{})
	if _, err := New(config.SAML{Key: "corp", MetadataURL: "http://idp.example/metadata"}, sp); err == nil {
		t.Error("a cleartext metadata URL was accepted")
	}
	if _, err := New(config.SAML{Key: "corp", MetadataXML: "<nope/>"}, sp); err == nil {
		t.Error("metadata that is not an identity provider's was accepted")
	}
	clear := strings.ReplaceAll(metadataOf(t, samltest.Start(t)), "http://127.0.0.1", "http://idp.example")
	if _, err := New(config.SAML{Key: "corp", MetadataXML: clear}, sp); err == nil {
		t.Error("a single sign-on service at a cleartext address was accepted")
	}
}

// A metadata fetch that failed is remembered for retryAfter: sign-ins
// meanwhile are told at once that the provider is down.
func TestFetchFailureRemembered(t *testing.T) {
	idp := samltest.Start(t)
	var up atomic.Bool
	var hits atomic.Int32
	f := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, metadataOf(t, idp))
	}))
	t.Cleanup(f.Close)
	p, err := New(config.SAML{Key: "corp", MetadataURL: f.URL + "/metadata"}, newSP(t, config.SAMLSP{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Now()
	if _, err := p.idp(ctx, t0); !errors.Is(err, sso.ErrProviderDown) || hits.Load() != 1 {
		t.Fatalf("first fetch: %v, %d requests", err, hits.Load())
	}
	up.Store(true)
	if _, err := p.idp(ctx, t0.Add(retryAfter-time.Second)); !errors.Is(err, sso.ErrProviderDown) || hits.Load() != 1 {
		t.Fatalf("within %s: %v, %d requests", retryAfter, err, hits.Load())
	}
	if m, err := p.idp(ctx, t0.Add(retryAfter)); err != nil || m.EntityID != idp.EntityID() || hits.Load() != 2 {
		t.Fatalf("after %s: %v, %d requests", retryAfter, err, hits.Load())
	}
	if _, err := p.idp(ctx, t0.Add(time.Hour)); err != nil || hits.Load() != 2 {
		t.Fatalf("fetched again: %v, %d requests", err, hits.Load())
	}
	// A day later it is fetched again; a failure then keeps the copy.
	up.Store(false)
	if m, err := p.idp(ctx, t0.Add(retryAfter+refreshAfter)); err != nil || m.EntityID != idp.EntityID() || hits.Load() != 3 {
		t.Fatalf("refresh with the provider down: %v, %d requests, want the copy kept", err, hits.Load())
	}
	up.Store(true)
	if _, err := p.idp(ctx, t0.Add(2*retryAfter+refreshAfter)); err != nil || hits.Load() != 4 {
		t.Fatalf("refresh after the failure: %v, %d requests", err, hits.Load())
	}
}

// flowWorld is a database, the account workflows, an identity provider
// with Violet registered, and the provider's flow.
type flowWorld struct {
	idp *samltest.IdP
	p   *Provider
}

func newFlow(t *testing.T, change func(*config.SAML)) (*flowWorld, *Service) {
	t.Helper()
	db, client, _ := testdb.Open(t)
	idp := samltest.Start(t)
	cfg := config.SAML{Key: "corp", Name: "Corp", MetadataURL: idp.MetadataURL(), EmailAttribute: "mail",
		NameAttribute: "cn", GroupsAttribute: "eduPersonAffiliation",
		GroupMap: map[string]string{"soc": auth.GroupBlueTeam}, AllowedDomains: map[string][]string{"corp.example": {auth.GroupObserver}}}
	if change != nil {
		change(&cfg)
	}
	p, err := New(cfg, newSP(t, config.SAMLSP{}))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := p.Metadata()
	idp.Register(t, "violet", md)
	hasher, err := auth.NewHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	accounts := account.NewService(client, db, auth.NewSessionStore(db, make([]byte, 32), false, time.Now), hasher,
		auth.NewThrottle(db, time.Minute, 3, 100, time.Now), time.Now)
	svc := NewService(p, client, accounts, nil)
	return &flowWorld{idp: idp, p: p}, svc
}

// A sign-in through the identity provider: the account is made for the
// allowed domain, the identity bound to the NameID, the groups mapped, the
// session started; the same response posted again (the cookie copied
// before it was spent, as by a second browser) is refused by the replay
// table and audited.
func TestFlowSignsInAndRefusesReplay(t *testing.T) {
	w, svc := newFlow(t, nil)
	w.idp.AddUser(t, "alice", "alice@corp.example", "Alice Liddell", "soc", "staff")
	ctx := context.Background()
	to, ck, err := svc.Start(ctx, "/missions")
	if err != nil {
		t.Fatal(err)
	}
	form := w.idp.SignIn(t, samltest.Browser(t), to, "alice")
	in := ACSInput{SAMLResponse: form.Values.Get("SAMLResponse"), RelayState: form.Values.Get("RelayState"), Cookie: ck.Value}
	done, err := svc.ACS(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if done.Token == "" || done.Next != "/missions" || done.Session.Method != "saml:corp" {
		t.Fatalf("done %+v", done)
	}
	client := svc.client
	sys := rule.SystemContext(ctx)
	ident := client.UserIdentity.Query().OnlyX(sys)
	if ident.Issuer != w.idp.EntityID() || ident.Subject != samltest.NameID("alice") || ident.Provider != "saml:corp" {
		t.Fatalf("identity %s %s %s", ident.Issuer, ident.Subject, ident.Provider)
	}
	u := client.User.Query().Where(user.ID(ident.UserID)).WithGroups().OnlyX(sys)
	var groups []string
	for _, g := range u.Edges.Groups {
		groups = append(groups, g.Name)
	}
	if u.Email != "alice@corp.example" || u.DisplayName != "Alice Liddell" || len(groups) != 2 {
		t.Fatalf("user %s %q groups %v, want observer (domain) and blueteam (soc)", u.Email, u.DisplayName, groups)
	}
	if !client.Group.Query().Where(group.Name(auth.GroupBlueTeam), group.HasUsersWith(user.ID(u.ID))).ExistX(sys) {
		t.Fatal("soc did not map to blueteam")
	}
	_, err = svc.ACS(ctx, in)
	var ref *admission.Refusal
	// The same post again (a kept cookie and RelayState): the request was
	// spent on the server, so it is rejected before the response is read,
	// without an audit row (it proves nothing).
	if !errors.As(err, &ref) || ref.Reason != "request already answered" {
		t.Fatalf("replay: %v", err)
	}
	if n := client.AuditEvent.Query().Where(auditevent.Action("login.failed")).CountX(sys); n != 0 {
		t.Fatalf("%d login.failed rows, want none", n)
	}
	if n := client.SAMLAssertion.Query().CountX(sys); n != 2 {
		t.Fatalf("%d rows in saml_assertions, want 2 (the request and the assertion)", n)
	}
}

// A transient NameID names the person for one sign-in only: refused, with
// a text of its own, and no identity stored.
func TestFlowRefusesTransientNameID(t *testing.T) {
	w, svc := newFlow(t, nil)
	w.idp.AddUser(t, "bob", "bob@corp.example", "Bob")
	w.idp.SetNameIDFormat(string(saml.TransientNameIDFormat))
	ctx := context.Background()
	to, ck, err := svc.Start(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	form := w.idp.SignIn(t, samltest.Browser(t), to, "bob")
	_, err = svc.ACS(ctx, ACSInput{SAMLResponse: form.Values.Get("SAMLResponse"), RelayState: form.Values.Get("RelayState"), Cookie: ck.Value})
	var ref *admission.Refusal
	if !errors.As(err, &ref) || ref.Key != KeyTransient {
		t.Fatalf("transient NameID: %v", err)
	}
	if n := svc.client.UserIdentity.Query().Where(useridentity.Subject(samltest.NameID("bob"))).CountX(rule.SystemContext(ctx)); n != 0 {
		t.Fatal("an identity was stored for a transient NameID")
	}
}
