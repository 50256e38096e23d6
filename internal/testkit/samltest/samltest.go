// Package samltest runs a real SAML identity provider inside a test:
// crewjam's samlidp on loopback, with its own key and self-signed
// certificate, users and service providers registered through its API,
// and a browser's part of the HTTP-POST binding (the login form, the
// auto-posting form back to the service provider) done by an http.Client.
package samltest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"html"
	"io"
	"log"
	"math/big"
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

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlidp"
)

// Password is every test user's password at the identity provider.
const Password = "idp-password"

// IdP is an identity provider on loopback.
type IdP struct {
	URL    string // its base URL; the metadata is at URL/metadata
	Server *samlidp.Server

	mu       sync.Mutex
	format   string // the NameID format of the assertions it makes
	audience string // "": the service provider's own entity ID
}

// Start serves a new identity provider on 127.0.0.1 until the test ends.
func Start(t testing.TB) *IdP {
	t.Helper()
	key, cert := KeyPair(t, "idp.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://" + ln.Addr().String())
	srv, err := samlidp.New(samlidp.Options{URL: *base, Key: key, Certificate: cert,
		Store: &samlidp.MemoryStore{}, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	i := &IdP{URL: base.String(), Server: srv, format: string(saml.PersistentNameIDFormat)}
	// Assertions name people with a persistent NameID of their own (not
	// their address, as samlidp does), and may be made for another
	// audience, as the test says.
	srv.IDP.SessionProvider = sessions{i}
	srv.IDP.ServiceProviderProvider = providers{i}
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return i
}

// MetadataURL is where the identity provider publishes its metadata.
func (i *IdP) MetadataURL() string { return i.URL + "/metadata" }

// EntityID is the identity provider's entity ID (its metadata URL).
func (i *IdP) EntityID() string { return i.MetadataURL() }

// NameID is the persistent NameID the provider gives user.
func NameID(user string) string { return "pid-" + user }

// SetNameIDFormat makes the provider send NameIDs of format from now on.
func (i *IdP) SetNameIDFormat(format string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.format = format
}

// SetAudience makes the provider put entityID as the audience of its
// assertions (and the NameID's SP qualifier) instead of the service
// provider's; "" restores it.
func (i *IdP) SetAudience(entityID string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.audience = entityID
}

// AddUser adds (or replaces) a user, who signs in as name with Password.
func (i *IdP) AddUser(t testing.TB, name, email, commonName string, groups ...string) {
	t.Helper()
	pw := Password
	body, _ := json.Marshal(samlidp.User{Name: name, PlaintextPassword: &pw, Email: email, CommonName: commonName, Groups: groups})
	i.put(t, "/users/"+name, "application/json", body)
}

// Register registers a service provider by its metadata (samlidp's PUT
// /services/:id).
func (i *IdP) Register(t testing.TB, id string, metadata []byte) {
	t.Helper()
	i.put(t, "/services/"+id, "application/samlmetadata+xml", metadata)
}

func (i *IdP) put(t testing.TB, path, contentType string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, i.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %s", path, resp.Status)
	}
}

type sessions struct{ i *IdP }

func (s sessions) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	sess := s.i.Server.GetSession(w, r, req)
	if sess == nil {
		return nil
	}
	c := *sess
	s.i.mu.Lock()
	defer s.i.mu.Unlock()
	c.NameID, c.NameIDFormat = NameID(c.UserName), s.i.format
	return &c
}

type providers struct{ i *IdP }

func (p providers) GetServiceProvider(r *http.Request, id string) (*saml.EntityDescriptor, error) {
	m, err := p.i.Server.GetServiceProvider(r, id)
	if err != nil {
		return nil, err
	}
	p.i.mu.Lock()
	defer p.i.mu.Unlock()
	if p.i.audience == "" {
		return m, nil
	}
	c := *m
	c.EntityID = p.i.audience
	return &c, nil
}

// KeyPair is a new RSA key and a self-signed certificate for name, valid
// from an hour ago for a day.
func KeyPair(t testing.TB, name string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// Browser is a fresh browser: a cookie jar, redirects followed.
func Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hidden     = regexp.MustCompile(`<input type="hidden" name="(SAMLRequest|SAMLResponse|RelayState)" value="([^"]*)"`)
)

// Form is an HTML form a page posts: where, and its hidden fields.
type Form struct {
	Action string
	Values url.Values
}

// formOf reads the form of an identity provider's page.
func formOf(t testing.TB, page []byte) Form {
	t.Helper()
	m := formAction.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no form in the page:\n%s", page)
	}
	f := Form{Action: html.UnescapeString(string(m[1])), Values: url.Values{}}
	for _, h := range hidden.FindAllSubmatch(page, -1) {
		f.Values.Set(string(h[1]), html.UnescapeString(string(h[2])))
	}
	return f
}

// SignIn follows start (a service provider's sign-in URL, which
// redirects to the identity provider) with b, signs in at the provider as
// user, and returns the form the provider's page would post back to the
// service provider, without posting it.
func (i *IdP) SignIn(t testing.TB, b *http.Client, start, user string) Form {
	t.Helper()
	resp, err := b.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	return i.SignInFrom(t, b, resp, user)
}

// SignInFrom is SignIn from resp, the answer to a request that sent b on
// to the identity provider (a form's POST, say).
func (i *IdP) SignInFrom(t testing.TB, b *http.Client, resp *http.Response, user string) Form {
	t.Helper()
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), i.URL) {
		t.Fatalf("start: %s at %s:\n%s", resp.Status, resp.Request.URL, page)
	}
	login := formOf(t, page)
	login.Values.Set("user", user)
	login.Values.Set("password", Password)
	resp, err := b.PostForm(login.Action, login.Values)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in at the identity provider: %s:\n%s", resp.Status, page)
	}
	back := formOf(t, page)
	if back.Values.Get("SAMLResponse") == "" {
		t.Fatalf("the identity provider sent no response:\n%s", page)
	}
	return back
}
