package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"violet/internal/apitoken"
	"violet/internal/auth"
	"violet/internal/testkit/apptest"
)

// TestAccountAPITokens: on /account a person makes a token (shown once),
// sees it listed by its prefix, gets a refused form back with its errors
// and input, and revokes it; nobody else can.
func TestAccountAPITokens(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cookie := app.SignedIn(t, "tokens-red@example.com", auth.GroupRedTeam)
	other := app.SignedIn(t, "tokens-blue@example.com", auth.GroupBlueTeam)

	d := doc(t, app.GetAs(cookie, "/account"))
	if d.Find(`[data-testid="api-tokens-empty"]`).Length() != 1 || d.Find(`[data-testid="api-token-form"]`).Length() != 1 {
		t.Fatal("the account page has no empty tokens block with its form")
	}

	w := app.PostAs(cookie, "/account/api-tokens", url.Values{"name": {"nightly"}, "scopes": {"read", "red"}, "expires": {"30d"}})
	if w.Code != http.StatusOK {
		t.Fatalf("create: %d\n%s", w.Code, w.Body)
	}
	d = doc(t, w)
	token, _ := d.Find(`[data-testid="api-token-value"]`).Attr("value")
	p, err := apitoken.NewService(app.Ent, app.DB, nil).Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("the token shown (%q) does not authenticate: %v", token, err)
	}
	if p.Viewer.Email != "tokens-red@example.com" || !p.Has(apitoken.ScopeRed) {
		t.Errorf("principal %+v", p)
	}

	d = doc(t, app.GetAs(cookie, "/account"))
	if strings.Contains(d.Text(), token) || d.Find(`[data-testid="api-token-value"]`).Length() != 0 {
		t.Error("the token is shown again")
	}
	row := d.Find(`[data-testid="api-token-row"]`)
	if row.Length() != 1 || row.Find(`[data-testid="api-token-prefix"]`).Text() != token[:12]+"…" ||
		row.Find(`[data-testid="api-token-name"]`).Text() != "nightly" {
		t.Fatalf("token rows: %q", row.Text())
	}
	id, _ := row.Attr("data-token")

	// Refused: errors next to the fields, the input kept.
	w = app.PostAs(cookie, "/account/api-tokens", url.Values{"name": {"nightly"}, "expires": {"7d"}})
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("refused create: %d", w.Code)
	}
	d = doc(t, w)
	if d.Find(`[data-testid="error-name"]`).Length() != 1 || d.Find(`[data-testid="error-scopes"]`).Length() != 1 {
		t.Error("no errors next to name and scopes")
	}
	if v, _ := d.Find(`#field-name`).Attr("value"); v != "nightly" {
		t.Errorf("name kept as %q", v)
	}
	if v, _ := d.Find(`#field-expires option[selected]`).Attr("value"); v != "7d" {
		t.Errorf("expiry kept as %q", v)
	}
	// htmx gets the block alone.
	w = app.PostAs(cookie, "/account/api-tokens", url.Values{"name": {"ci"}, "scopes": {"read"}, "expires": {"90d"}}, hxRequest...)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "<html") || !strings.Contains(w.Body.String(), `data-testid="api-token-value"`) {
		t.Fatalf("htmx create: %d\n%s", w.Code, w.Body)
	}

	if w := app.PostAs(other, "/account/api-tokens/"+id+"/revoke", nil); w.Code != http.StatusNotFound {
		t.Errorf("another person revoking: %d", w.Code)
	}
	w = app.PostAs(cookie, "/account/api-tokens/"+id+"/revoke", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account#api-tokens" {
		t.Fatalf("revoke: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if _, err := apitoken.NewService(app.Ent, app.DB, nil).Authenticate(context.Background(), token); err == nil {
		t.Error("a revoked token authenticates")
	}
	d = doc(t, app.GetAs(cookie, "/account"))
	if s, _ := d.Find(`[data-token="` + id + `"] [data-status]`).Attr("data-status"); s != "revoked" {
		t.Errorf("the revoked token's status is %q", s)
	}
}

// TestServiceAccounts: an admin makes a service account, gives it a token
// on its page and revokes it; the account cannot sign in with a password,
// even one set behind Violet's back, nor get a reset link.
func TestServiceAccounts(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "sa-admin@example.com", auth.GroupAdmin)

	d := doc(t, app.GetAs(admin, "/admin/users"))
	if href, _ := d.Find(`[data-testid="service-accounts-link"]`).Attr("href"); href != "/admin/service-accounts" {
		t.Errorf("the users page links to %q", href)
	}
	d = doc(t, app.GetAs(admin, "/admin/service-accounts"))
	blue, ok := d.Find(`[data-testid="group-blueteam"]`).Attr("value")
	if !ok {
		t.Fatal("no blueteam choice")
	}
	w := app.PostAs(admin, "/admin/service-accounts", url.Values{
		"display_name": {"CI pipeline"}, "email": {"CI@Automation.example"}, "group_ids": {blue},
	})
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/admin/service-accounts/") {
		t.Fatalf("create: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	page := w.Header().Get("Location")
	var n int
	if err := app.DB.QueryRow(`SELECT count(*) FROM users u JOIN audit_events a ON a.target_id = u.id::text
		WHERE u.email = 'ci@automation.example' AND u.service_account AND a.action = 'user.service_account_created'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("service account and its audit event: %d, %v", n, err)
	}
	// The same address again: refused next to the field, input kept.
	w = app.PostAs(admin, "/admin/service-accounts", url.Values{
		"display_name": {"CI again"}, "email": {"ci@automation.example"}, "group_ids": {blue},
	})
	if w.Code != http.StatusUnprocessableEntity || doc(t, w).Find(`[data-testid="error-email"]`).Length() != 1 {
		t.Errorf("duplicate address: %d", w.Code)
	}

	d = doc(t, app.GetAs(admin, "/admin/service-accounts"))
	if d.Find(`[data-testid="service-account-row"]`).Length() != 1 {
		t.Error("the service account is not listed")
	}
	w = app.PostAs(admin, page+"/tokens", url.Values{"name": {"deploy"}, "scopes": {"blue"}, "expires": {"90d"}})
	if w.Code != http.StatusOK {
		t.Fatalf("token: %d\n%s", w.Code, w.Body)
	}
	d = doc(t, w)
	token, _ := d.Find(`[data-testid="api-token-value"]`).Attr("value")
	tokens := apitoken.NewService(app.Ent, app.DB, nil)
	p, err := tokens.Authenticate(context.Background(), token)
	if err != nil || p.Viewer.Email != "ci@automation.example" || !p.Viewer.Can(auth.MissionTestBlueWrite) {
		t.Fatalf("the service account's token: %+v, %v", p, err)
	}
	id, _ := doc(t, app.GetAs(admin, page)).Find(`[data-testid="api-token-row"]`).Attr("data-token")
	if w := app.PostAs(admin, page+"/tokens/"+id+"/revoke", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", w.Code)
	}
	if _, err := tokens.Authenticate(context.Background(), token); err == nil {
		t.Error("a revoked token authenticates")
	}

	// A person is not a service account: no page, no token made for them.
	person := app.User(t, "sa-person@example.com", auth.GroupRedTeam)
	if w := app.GetAs(admin, "/admin/service-accounts/"+person.ID.String()); w.Code != http.StatusNotFound {
		t.Errorf("a person's service account page: %d", w.Code)
	}
	if w := app.PostAs(admin, "/admin/service-accounts/"+person.ID.String()+"/tokens",
		url.Values{"name": {"x"}, "scopes": {"read"}, "expires": {"7d"}}); w.Code != http.StatusForbidden {
		t.Errorf("a token for a person: %d", w.Code)
	}

	// No password sign-in, even with a hash that matches, and no reset.
	hash, err := app.Hasher.Hash(context.Background(), apptest.Password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB.Exec(`UPDATE users SET password_hash = $1 WHERE email = 'ci@automation.example'`, hash); err != nil {
		t.Fatal(err)
	}
	w = app.PostAs(nil, "/login", url.Values{"email": {"ci@automation.example"}, "password": {apptest.Password}})
	if w.Code == http.StatusSeeOther {
		t.Errorf("a service account signed in with a password (to %q)", w.Header().Get("Location"))
	}
	saID := strings.TrimPrefix(page, "/admin/service-accounts/")
	if w := app.PostAs(admin, "/admin/users/"+saID+"/reset-invitation", nil); w.Code != http.StatusForbidden {
		t.Errorf("a reset link for a service account: %d", w.Code)
	}
}
