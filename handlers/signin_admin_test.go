package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"violet/internal/auth"
	"violet/internal/testkit/apptest"
)

// providerValues is a new OpenID Connect provider's form.
func providerValues(key string) url.Values {
	return url.Values{"kind": {"oidc"}, "key": {key}, "name": {"Example SSO"}, "issuer": {"https://idp.example.org"},
		"client_id": {"violet"}, "client_secret": {"very-secret-value"}, "scopes": {"email profile"},
		"group_map": {"violet-admins = admin"}, "allowed_domains": {"example.org = redteam"}}
}

// noSecret fails when the client secret is anywhere in the answer.
func noSecret(t *testing.T, r *httptest.ResponseRecorder) {
	t.Helper()
	if strings.Contains(r.Body.String(), "very-secret-value") {
		t.Error("the client secret is in the page")
	}
}

// TestSignInAdminProviders: an admin adds an OpenID Connect provider
// through the form (refusals shown next to the fields, input kept, the
// secret never sent back), edits it (a stale form is refused with the
// saved values), disables and deletes it.
func TestSignInAdminProviders(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"admin"})
	created := "audit_events WHERE action = 'signin.provider_created'"
	w.Do(t, apptest.Step{Name: "empty page", As: "admin", Path: "/admin/sign-in",
		TestIDs: []string{"signin-empty", "signin-add-oidc", "signin-add-saml", "signin-policy-form", "signin-redirect-uri",
			`[data-testid="admin-tabs"] a[href="/admin/sign-in"][aria-current="page"]`},
		Text: map[string]string{"signin-redirect-uri": "http://localhost:8080/login/oidc/callback"}})
	w.Do(t, apptest.Step{Name: "new form", As: "admin", Path: "/admin/sign-in/new?kind=oidc",
		TestIDs: []string{"signin-provider-form", "field-issuer", "field-client_secret", "field-group_map"}})
	w.Do(t, apptest.Step{Name: "unknown kind", As: "admin", Path: "/admin/sign-in/new?kind=ldap", Status: http.StatusNotFound})

	for _, c := range []struct {
		name, field, key, value, text string
	}{
		{"the environment's key", "key", "key", "oidc", "OIDC_KEY"},
		{"an unknown group", "group_map", "group_map", "violet-admins = admin\nsoc = nosuchgroup", "no group named nosuchgroup"},
		{"a plain http issuer", "issuer", "issuer", "http://idp.example.org", "https://"},
		{"a bad domain", "allowed_domains", "allowed_domains", "example = redteam", "not an e-mail domain"},
	} {
		f := providerValues("corp")
		f.Set(c.key, c.value)
		r := w.Do(t, apptest.Step{Name: "refused: " + c.name, As: "admin", Path: "/admin/sign-in/new", Form: f,
			Status: http.StatusUnprocessableEntity, TestIDs: []string{"error-summary", "error-" + c.field},
			Text: map[string]string{"error-" + c.field: c.text}, Rows: apptest.Rows{"sign_in_providers": 0}})
		noSecret(t, r)
		if got := doc(t, r).Find("#field-name").AttrOr("value", ""); got != "Example SSO" {
			t.Errorf("%s: the name was not kept: %q", c.name, got)
		}
	}

	r := w.Do(t, apptest.Step{Name: "add", As: "admin", Path: "/admin/sign-in/new", Form: providerValues("corp"),
		Status: http.StatusSeeOther, Location: "/admin/sign-in", Rows: apptest.Rows{"sign_in_providers": +1, created: +1}})
	page := w.Follow("admin", r)
	noSecret(t, page)
	d := doc(t, page)
	row := d.Find(`[data-testid="signin-provider"][data-key="corp"]`)
	if row.Length() != 1 || row.AttrOr("data-enabled", "") != "true" || !strings.Contains(row.Text(), "https://idp.example.org") {
		t.Fatalf("the list does not show the provider:\n%s", apptest.Excerpt(page.Body.String()))
	}
	if n := w.Count(t, "audit_events WHERE details::text LIKE '%very-secret-value%'"); n != 0 {
		t.Errorf("the secret is in %d audit events", n)
	}
	w.Do(t, apptest.Step{Name: "the key is taken", As: "admin", Path: "/admin/sign-in/new", Form: providerValues("corp"),
		Status: http.StatusUnprocessableEntity, Text: map[string]string{"error-key": "Another provider"}})

	id := w.Value(t, `SELECT id FROM sign_in_providers WHERE key = 'corp'`)
	edit := w.Do(t, apptest.Step{Name: "edit form", As: "admin", Path: "/admin/sign-in/" + id,
		TestIDs: []string{"signin-provider-form"}, Text: map[string]string{"field-client_secret": "A secret is stored"}})
	noSecret(t, edit)
	version := doc(t, edit).Find(`input[name="updated_at"]`).AttrOr("value", "")
	f := providerValues("ignored")
	f.Set("client_secret", "")
	f.Set("name", "Corporate")
	f.Set("updated_at", version)
	w.Do(t, apptest.Step{Name: "save", As: "admin", Path: "/admin/sign-in/" + id, Form: f,
		Status: http.StatusSeeOther, Rows: apptest.Rows{"audit_events WHERE action = 'signin.provider_updated'": +1}})
	if got := w.Value(t, `SELECT name || '/' || key || '/' || (secret <> '')::text FROM sign_in_providers`); got != "Corporate/corp/true" {
		t.Errorf("after the edit: %s", got)
	}
	f.Set("name", "Stale")
	stale := w.Do(t, apptest.Step{Name: "stale save", As: "admin", Path: "/admin/sign-in/" + id, Form: f,
		Status: http.StatusConflict, TestIDs: []string{"signin-stale"}, Text: map[string]string{"signin-stale-saved": "Corporate"}})
	noSecret(t, stale)

	w.Do(t, apptest.Step{Name: "disable", As: "admin", Path: "/admin/sign-in/" + id + "/disable", Form: url.Values{},
		Status: http.StatusSeeOther, Location: "/admin/sign-in"})
	if got := w.Value(t, `SELECT enabled::text FROM sign_in_providers`); got != "false" {
		t.Errorf("enabled = %s after disable", got)
	}
	w.Do(t, apptest.Step{Name: "delete", As: "admin", Path: "/admin/sign-in/" + id + "/delete", Form: url.Values{},
		Status: http.StatusSeeOther, Rows: apptest.Rows{"sign_in_providers": -1, "audit_events WHERE action = 'signin.provider_deleted'": +1}})

	// A SAML provider by its metadata URL: the list says what to give it.
	w.Do(t, apptest.Step{Name: "new SAML form", As: "admin", Path: "/admin/sign-in/new?kind=saml",
		TestIDs: []string{"field-metadata_url", "field-metadata_xml", "field-email_attribute"}, NoTestIDs: []string{"field-client_secret"}})
	saml := url.Values{"kind": {"saml"}, "key": {"adfs"}, "name": {"ADFS"}, "metadata_url": {"https://adfs.example.org/FederationMetadata/2007-06/FederationMetadata.xml"},
		"email_attribute": {"mail"}}
	w.Do(t, apptest.Step{Name: "add SAML", As: "admin", Path: "/admin/sign-in/new?kind=saml", Form: saml,
		Status: http.StatusSeeOther, Rows: apptest.Rows{"sign_in_providers": +1}})
	w.Do(t, apptest.Step{Name: "SAML row", As: "admin", Path: "/admin/sign-in",
		TestIDs: []string{`[data-testid="signin-provider"][data-key="adfs"][data-kind="saml"]`, "signin-saml-entity-id", "signin-saml-acs"},
		Text:    map[string]string{"signin-saml-entity-id": "http://localhost:8080/saml/adfs/metadata", "signin-saml-acs": "http://localhost:8080/saml/adfs/acs"}})
}

// TestSSORequired: turning the policy on is refused without a provider
// and without a break-glass admin; once on, the password sessions of
// everyone else end, a correct password of theirs is refused with the
// single sign-on message (a wrong one gets the usual answer), and the
// break-glass admin still signs in with a password.
func TestSSORequired(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"admin", "red"})
	on := url.Values{"sso_required": {"1"}}
	w.Do(t, apptest.Step{Name: "no provider", As: "admin", Path: "/admin/sign-in/policy", Form: on,
		Status: http.StatusUnprocessableEntity, Text: map[string]string{"signin-policy-error": "Set up and enable an identity provider"}})
	w.Do(t, apptest.Step{Name: "add a provider", As: "admin", Path: "/admin/sign-in/new", Form: providerValues("corp"), Status: http.StatusSeeOther})
	w.Do(t, apptest.Step{Name: "no break-glass admin", As: "admin", Path: "/admin/sign-in/policy", Form: on,
		Status: http.StatusUnprocessableEntity, Text: map[string]string{"signin-policy-error": "break-glass"}})
	w.Do(t, apptest.Step{Name: "mark the admin", As: "admin", Path: "/admin/users/" + w.User("admin").String() + "/break-glass",
		Form: url.Values{"break_glass": {"1"}}, Status: http.StatusSeeOther,
		Rows: apptest.Rows{"audit_events WHERE action = 'user.break_glass_changed'": +1}})
	w.Do(t, apptest.Step{Name: "policy on", As: "admin", Path: "/admin/sign-in/policy", Form: on, Status: http.StatusSeeOther,
		Rows: apptest.Rows{"refresh_tokens WHERE revoked_at IS NULL": -1}})

	w.Do(t, apptest.Step{Name: "red's password session ended", As: "red", Path: "/", Status: http.StatusSeeOther, Location: "/login"})
	w.Do(t, apptest.Step{Name: "the page shows the policy", As: "admin", Path: "/admin/sign-in",
		TestIDs: []string{`[data-testid="signin-sso-required"][checked]`, `[data-testid="signin-account"][data-email="admin@example.com"][data-break-glass="true"]`}})

	login := func(email, password string) url.Values {
		return url.Values{"email": {email}, "password": {password}}
	}
	sso := "audit_events WHERE action = 'login.failed' AND details->>'reason' = 'single sign-on required'"
	r := w.Do(t, apptest.Step{Name: "red's right password", Path: "/login", Form: login("red@example.com", apptest.Password),
		Status: http.StatusUnprocessableEntity, Text: map[string]string{"error-summary": "signs in with single sign-on"},
		Rows: apptest.Rows{sso: +1, "refresh_tokens": 0}})
	if c := r.Result().Cookies(); len(c) > 0 && c[0].Value != "" && strings.Contains(c[0].Name, "session") {
		t.Errorf("a refused sign-in set %s", c[0].Name)
	}
	r = w.Do(t, apptest.Step{Name: "red's wrong password", Path: "/login", Form: login("red@example.com", "wrong password"),
		Status: http.StatusUnauthorized, Rows: apptest.Rows{sso: 0, "audit_events WHERE action = 'login.failed'": +1}})
	if strings.Contains(r.Body.String(), "single sign-on: use a button") {
		t.Error("a wrong password is told about single sign-on")
	}
	w.Do(t, apptest.Step{Name: "the break-glass admin", Path: "/login", Form: login("admin@example.com", apptest.Password),
		Status: http.StatusSeeOther, Rows: apptest.Rows{"refresh_tokens": +1}})
	w.Do(t, apptest.Step{Name: "the last break-glass admin stays", As: "admin", Path: "/admin/users/" + w.User("admin").String() + "/break-glass",
		Form: url.Values{"break_glass": {"0"}}, Status: http.StatusUnprocessableEntity, Text: map[string]string{"signin-error": "last active break-glass"}})
	w.Do(t, apptest.Step{Name: "policy off", As: "admin", Path: "/admin/sign-in/policy", Form: url.Values{}, Status: http.StatusSeeOther,
		Rows: apptest.Rows{"audit_events WHERE action = 'signin.policy_changed'": +1}})
	w.Do(t, apptest.Step{Name: "red signs in again", Path: "/login", Form: login("red@example.com", apptest.Password), Status: http.StatusSeeOther})
}

// TestSSORequiredAfterThePasswordStep: single sign-on required between a
// password and its app code: the right code opens no session either, it
// says why, and the refusal is audited; the code is not spent by the
// refusal (asked before the code is checked): neither the app code nor a
// recovery code, both work once the policy is lifted.
func TestSSORequiredAfterThePasswordStep(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	secret, recovery := a.enrol(t, a.SignedIn(t, "ada@example.com", "observer"))
	a.step()
	pending := a.passwordStep(t, "ada@example.com")
	if _, err := a.DB.Exec(`UPDATE settings SET value = 'true' WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	code := a.code(t, secret)
	w := a.PostAs(pending, "/login/second-factor", url.Values{"code": {code}})
	if w.Code != http.StatusUnprocessableEntity || cookieNamed(w, a.Sessions.Name()) != nil ||
		!strings.Contains(w.Body.String(), "signs in with single sign-on") {
		t.Errorf("right code under the policy: %d\n%s", w.Code, apptest.Excerpt(w.Body.String()))
	}
	if n := a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.failed'
		AND details->>'reason' = 'single sign-on required' AND details->>'method' = 'password'`); n != 1 {
		t.Errorf("%d refusals audited, want 1", n)
	}
	w = a.PostAs(pending, "/login/second-factor", url.Values{"code": {recovery[0]}})
	if w.Code != http.StatusUnprocessableEntity || cookieNamed(w, a.Sessions.Name()) != nil {
		t.Errorf("recovery code under the policy: %d", w.Code)
	}
	if n := a.count(t, `SELECT count(*) FROM recovery_codes WHERE used_at IS NOT NULL`); n != 0 {
		t.Errorf("%d recovery codes spent by refused sign-ins", n)
	}

	if _, err := a.DB.Exec(`UPDATE settings SET value = 'false' WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	w = a.PostAs(pending, "/login/second-factor", url.Values{"code": {code}})
	if w.Code != http.StatusSeeOther || cookieNamed(w, a.Sessions.Name()) == nil {
		t.Errorf("the same app code once the policy is off: %d\n%s", w.Code, apptest.Excerpt(w.Body.String()))
	}
}

// TestSignInTabOnlyForAdmins: a settings manager outside the admin group
// has no Sign-in tab, and its pages and actions answer 403 (the route
// stays settings.manage; the workflows want an admin).
func TestSignInTabOnlyForAdmins(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"admin"})
	w.Group(t, "settings-managers", auth.SettingsManage)
	w.Person(t, "manager", "settings-managers")
	w.Do(t, apptest.Step{Name: "the admin's tab", As: "admin", Path: "/admin/settings",
		TestIDs: []string{`[data-testid="admin-tabs"] a[href="/admin/sign-in"]`}})
	w.Do(t, apptest.Step{Name: "no tab", As: "manager", Path: "/admin/settings",
		TestIDs: []string{`[data-testid="admin-tabs"]`}, NoTestIDs: []string{`[data-testid="admin-tabs"] a[href="/admin/sign-in"]`}})
	w.Do(t, apptest.Step{Name: "page", As: "manager", Path: "/admin/sign-in", Status: http.StatusForbidden})
	w.Do(t, apptest.Step{Name: "add a provider mapping to admin", As: "manager", Path: "/admin/sign-in/new", Form: providerValues("mine"),
		Status: http.StatusForbidden, Rows: apptest.Rows{"sign_in_providers": 0}})
	w.Do(t, apptest.Step{Name: "break-glass for oneself", As: "manager", Path: "/admin/users/" + w.User("manager").String() + "/break-glass",
		Form: url.Values{"break_glass": {"1"}}, Status: http.StatusForbidden, Rows: apptest.Rows{"users WHERE break_glass": 0}})
}
