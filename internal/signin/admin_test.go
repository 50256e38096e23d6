package signin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"errors"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/signinprovider"
	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/factor"
	"violet/internal/signin"
	"violet/internal/testkit/testdb"
)

// adminWorld is a migrated database, the workflows with an environment
// provider of key "oidc" configured or not, and an admin's context.
type adminWorld struct {
	db     *sql.DB
	client *ent.Client
	sealer *factor.Sealer
	svc    *signin.Admin
	ctx    context.Context
	sys    context.Context
	admin  *ent.User
}

func newAdminWorld(t *testing.T, env config.OIDC) *adminWorld {
	t.Helper()
	db, client, _ := testdb.Open(t)
	sealer, err := factor.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://violet.example.org/")
	sys := rule.SystemContext(context.Background())
	w := &adminWorld{db: db, client: client, sealer: sealer, sys: sys,
		svc: signin.NewAdmin(client, sealer, env, base, nil)}
	w.admin = w.user(t, "admin@example.com", auth.GroupAdmin)
	v := auth.NewViewer(w.admin.ID, w.admin.Email, "Admin", "en", uuid.New(), []string{auth.GroupAdmin},
		[]string{string(auth.SettingsManage)})
	w.ctx = auth.NewContext(context.Background(), v)
	return w
}

func (w *adminWorld) user(t *testing.T, email string, groups ...string) *ent.User {
	t.Helper()
	ids := w.client.Group.Query().Where(group.NameIn(groups...)).IDsX(w.sys)
	return w.client.User.Create().SetEmail(email).SetDisplayName(strings.Split(email, "@")[0]).
		SetPasswordHash("x").AddGroupIDs(ids...).SaveX(w.sys)
}

func (w *adminWorld) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func oidcInput(key string) signin.ProviderInput {
	return signin.ProviderInput{Kind: "oidc", Key: key, Name: "Example SSO", Issuer: "https://idp.example.org",
		ClientID: "violet", ClientSecret: "s3cret-value", Scopes: "email profile",
		GroupMap: "violet-admins = admin\nCN=soc,OU=groups,DC=example,DC=org = blueteam\n", AllowedDomains: "Example.org = redteam, observer"}
}

func wantField(t *testing.T, err error, field, key string) {
	t.Helper()
	var inv *app.Invalid
	if !errors.As(err, &inv) || inv.Fields[field] != key {
		t.Errorf("error %v, want %s on %s", err, key, field)
	}
}

func TestSaveOIDCProvider(t *testing.T) {
	w := newAdminWorld(t, config.OIDC{Key: "oidc"})
	f, err := w.svc.Save(w.ctx, uuid.Nil, oidcInput("corp"))
	if err != nil {
		t.Fatalf("create: %v (%v)", err, f.Errors)
	}
	row := w.client.SignInProvider.Query().Where(signinprovider.Key("corp")).OnlyX(w.sys)
	if !row.Enabled || row.Kind != signinprovider.KindOidc || strings.Contains(row.Secret, "s3cret") {
		t.Fatalf("row %+v", row)
	}
	cfg, err := signin.OIDCConfig(row, w.sealer, "https://violet.example.org/login/oidc/callback")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientSecret != "s3cret-value" || cfg.GroupsClaim != "groups" || strings.Join(cfg.Scopes, " ") != "openid email profile" ||
		cfg.GroupMap["CN=soc,OU=groups,DC=example,DC=org"] != "blueteam" || strings.Join(cfg.AllowedDomains["example.org"], ",") != "redteam,observer" {
		t.Errorf("config %+v", cfg)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'signin.provider_created' AND target_id = $1`, row.ID.String()); n != 1 {
		t.Errorf("%d provider_created events", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE details::text LIKE '%s3cret%'`); n != 0 {
		t.Errorf("the secret is in %d audit events", n)
	}

	// The edit form: the secret only said to be set; saved blank, it stays.
	form, err := w.svc.Form(w.ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !form.SecretSet || form.Issuer != "https://idp.example.org" || !strings.Contains(form.GroupMap, "violet-admins = admin") {
		t.Errorf("form %+v", form)
	}
	in := oidcInput("ignored")
	in.ClientSecret, in.Name, in.UpdatedAt = "", "Corporate", form.UpdatedAt
	if _, err := w.svc.Save(w.ctx, row.ID, in); err != nil {
		t.Fatal(err)
	}
	row = w.client.SignInProvider.GetX(w.sys, row.ID)
	if cfg, _ := signin.OIDCConfig(row, w.sealer, ""); cfg.ClientSecret != "s3cret-value" || row.Name != "Corporate" || row.Key != "corp" {
		t.Errorf("after the edit: %+v, secret %q", row, cfg.ClientSecret)
	}

	// The first form again: its version is stale.
	in.Name = "Other"
	f, err = w.svc.Save(w.ctx, row.ID, in)
	if !errors.Is(err, app.ErrConflict) || f.Saved == nil || f.Saved.Name != "Corporate" || f.UpdatedAt == in.UpdatedAt {
		t.Errorf("stale save: %v, %+v", err, f.Saved)
	}
}

func TestSaveRefusesBadForms(t *testing.T) {
	w := newAdminWorld(t, config.OIDC{Key: "oidc"})
	if _, err := w.svc.Save(w.ctx, uuid.Nil, oidcInput("corp")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		change     func(*signin.ProviderInput)
		field, key string
	}{
		{"env key", func(in *signin.ProviderInput) { in.Key = "oidc" }, "key", "signin.form.key_env"},
		{"row key", func(in *signin.ProviderInput) { in.Key = "corp" }, "key", "signin.form.key_taken"},
		{"bad key", func(in *signin.ProviderInput) { in.Key = "Corp!" }, "key", "signin.form.key_invalid"},
		{"http issuer", func(in *signin.ProviderInput) { in.Issuer = "http://idp.example.org" }, "issuer", "signin.form.url_invalid"},
		{"no secret", func(in *signin.ProviderInput) { in.ClientSecret = "" }, "client_secret", "form.required"},
		{"unknown group", func(in *signin.ProviderInput) { in.GroupMap = "a = admin\nb = nosuchgroup" }, "group_map", "signin.form.unknown_group"},
		{"map syntax", func(in *signin.ProviderInput) { in.GroupMap = "no equals sign" }, "group_map", "signin.form.map_syntax"},
		{"bad domain", func(in *signin.ProviderInput) { in.AllowedDomains = "not a domain = redteam" }, "allowed_domains", "signin.form.domain_invalid"},
		{"domain group", func(in *signin.ProviderInput) { in.AllowedDomains = "example.net = ghosts" }, "allowed_domains", "signin.form.unknown_group"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := oidcInput("new")
			c.change(&in)
			f, err := w.svc.Save(w.ctx, uuid.Nil, in)
			wantField(t, err, c.field, c.key)
			if f.Errors[c.field] != c.key {
				t.Errorf("form errors %v", f.Errors)
			}
		})
	}
	in := oidcInput("new")
	in.GroupMap = "b = nosuchgroup"
	f, _ := w.svc.Save(w.ctx, uuid.Nil, in)
	if args := f.Args["group_map"]; len(args) < 2 || args[1] != "nosuchgroup" {
		t.Errorf("the unknown group is not named: %v", args)
	}
	if n := w.client.SignInProvider.Query().CountX(w.sys); n != 1 {
		t.Errorf("%d rows after refusals", n)
	}
	// Loopback http is fine (a provider next to Violet, tests).
	in = oidcInput("local")
	in.Issuer = "http://127.0.0.1:5556"
	if _, err := w.svc.Save(w.ctx, uuid.Nil, in); err != nil {
		t.Errorf("loopback issuer: %v", err)
	}
}

// idpMetadata is an identity provider's metadata with a signing
// certificate made for the test.
func idpMetadata(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.org/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` +
		base64.StdEncoding.EncodeToString(der) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.org/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`
}

func TestSaveSAMLProvider(t *testing.T) {
	w := newAdminWorld(t, config.OIDC{})
	xmlText := idpMetadata(t)
	saml := func(url, xml string) signin.ProviderInput {
		return signin.ProviderInput{Kind: "saml", Key: "adfs", Name: "ADFS", MetadataURL: url, MetadataXML: xml,
			EmailAttribute: "mail", GroupMap: "CN=red,DC=example,DC=org = redteam"}
	}
	_, err := w.svc.Save(w.ctx, uuid.Nil, saml("", ""))
	wantField(t, err, "metadata_url", "signin.form.metadata_missing")
	_, err = w.svc.Save(w.ctx, uuid.Nil, saml("https://idp.example.org/metadata", xmlText))
	wantField(t, err, "metadata_url", "signin.form.metadata_one")
	_, err = w.svc.Save(w.ctx, uuid.Nil, saml("", "<html>no</html>"))
	wantField(t, err, "metadata_xml", "signin.form.metadata_invalid")
	sp := strings.ReplaceAll(xmlText, "IDPSSODescriptor", "SPSSODescriptor")
	_, err = w.svc.Save(w.ctx, uuid.Nil, saml("", sp))
	wantField(t, err, "metadata_xml", "signin.form.metadata_not_idp")
	noCert := strings.Replace(xmlText, `use="signing"`, `use="encryption"`, 1)
	_, err = w.svc.Save(w.ctx, uuid.Nil, saml("", noCert))
	wantField(t, err, "metadata_xml", "signin.form.metadata_no_certificate")
	_, err = w.svc.Save(w.ctx, uuid.Nil, saml("", xmlText+"<!-- "+strings.Repeat("x", 1<<20)+" -->"))
	wantField(t, err, "metadata_xml", "signin.form.too_long")

	if _, err := w.svc.Save(w.ctx, uuid.Nil, saml("", xmlText)); err != nil {
		t.Fatalf("pasted metadata: %v", err)
	}
	row := w.client.SignInProvider.Query().Where(signinprovider.Key("adfs")).OnlyX(w.sys)
	cfg, err := signin.SAMLConfig(row)
	if err != nil || cfg.MetadataXML != xmlText || cfg.EmailAttribute != "mail" || cfg.GroupMap["CN=red,DC=example,DC=org"] != "redteam" || row.Secret != "" {
		t.Errorf("config %+v: %v", cfg, err)
	}
	p, err := w.svc.Page(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Providers) != 1 || p.Providers[0].EntityID != "https://violet.example.org/saml/adfs/metadata" ||
		p.Providers[0].ACSURL != "https://violet.example.org/saml/adfs/acs" || p.RedirectURI != "https://violet.example.org/login/oidc/callback" || p.Env != nil {
		t.Errorf("page %+v", p)
	}
}

func TestEnableDisableDelete(t *testing.T) {
	w := newAdminWorld(t, config.OIDC{Key: "oidc"})
	if _, err := w.svc.Save(w.ctx, uuid.Nil, oidcInput("corp")); err != nil {
		t.Fatal(err)
	}
	row := w.client.SignInProvider.Query().OnlyX(w.sys)
	if err := w.svc.Disable(w.ctx, row.ID); err != nil {
		t.Fatal(err)
	}
	if w.client.SignInProvider.GetX(w.sys, row.ID).Enabled {
		t.Error("still enabled")
	}
	if err := w.svc.Enable(w.ctx, row.ID); err != nil {
		t.Fatal(err)
	}
	// With the policy on and no environment provider, the last provider stays.
	w.client.User.UpdateOneID(w.admin.ID).SetBreakGlass(true).ExecX(w.sys)
	if _, err := w.svc.SetPolicy(w.ctx, true); err != nil {
		t.Fatal(err)
	}
	// The environment's provider is not configured (Issuer ""): refused.
	var inv *app.Invalid
	if err := w.svc.Delete(w.ctx, row.ID); !errors.As(err, &inv) || inv.Key != "signin.last_provider" {
		t.Errorf("deleting the last provider while single sign-on is required: %v", err)
	}
	if _, err := w.svc.SetPolicy(w.ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Delete(w.ctx, row.ID); err != nil {
		t.Fatal(err)
	}
	if n := w.client.SignInProvider.Query().CountX(w.sys); n != 0 {
		t.Errorf("%d rows after delete", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'signin.provider_deleted'`); n != 1 {
		t.Errorf("%d provider_deleted events", n)
	}
	if err := w.svc.Delete(w.ctx, row.ID); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("deleting again: %v", err)
	}
}

func TestPolicyGuardAndSessions(t *testing.T) {
	w := newAdminWorld(t, config.OIDC{Key: "oidc"})
	refused := func(err error, key string) {
		t.Helper()
		var inv *app.Invalid
		if !errors.As(err, &inv) || inv.Key != key {
			t.Errorf("error %v, want %s", err, key)
		}
	}
	_, err := w.svc.SetPolicy(w.ctx, true)
	refused(err, "signin.policy.no_provider")
	if _, err := w.svc.Save(w.ctx, uuid.Nil, oidcInput("corp")); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.SetPolicy(w.ctx, true)
	refused(err, "signin.policy.no_break_glass")

	// A break-glass account that is not an admin does not count.
	red := w.user(t, "red@example.com", auth.GroupRedTeam)
	if err := w.svc.SetBreakGlass(w.ctx, red.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.SetPolicy(w.ctx, true)
	refused(err, "signin.policy.no_break_glass")
	if err := w.svc.SetBreakGlass(w.ctx, w.admin.ID, true); err != nil {
		t.Fatal(err)
	}

	// Sessions: blue's password and passkey ones end, their provider one
	// stays; the break-glass accounts keep theirs.
	blue := w.user(t, "blue@example.com", auth.GroupBlueTeam)
	store := auth.NewSessionStore(w.db, []byte("0123456789abcdef0123456789abcdef"), false, nil)
	for _, s := range []struct {
		u      uuid.UUID
		method string
	}{{blue.ID, "password"}, {blue.ID, "passkey"}, {blue.ID, "password+totp"}, {blue.ID, "oidc:corp"}, {blue.ID, "saml:adfs+totp"},
		{w.admin.ID, "password"}, {red.ID, "password"}} {
		if _, _, err := store.Create(w.sys, w.db, s.u, s.method); err != nil {
			t.Fatal(err)
		}
	}
	ended, err := w.svc.SetPolicy(w.ctx, true)
	if err != nil || ended != 3 {
		t.Fatalf("policy on: %d sessions ended, %v; want 3", ended, err)
	}
	if n := w.count(t, `SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL`); n != 4 {
		t.Errorf("%d live sessions, want 4", n)
	}
	if n := w.count(t, `SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL AND user_id = $1`, blue.ID); n != 2 {
		t.Errorf("blue keeps %d sessions, want 2", n)
	}
	if on, _ := account.SSORequired(w.sys, w.client); !on {
		t.Error("the setting is off")
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'signin.policy_changed' AND (details->>'sessions_ended')::int = 3`); n != 1 {
		t.Errorf("%d policy_changed events with the count", n)
	}

	// The last break-glass admin stays while the policy is on; red may go.
	err = w.svc.SetBreakGlass(w.ctx, w.admin.ID, false)
	refused(err, "signin.break_glass.last_refused")
	// Red is no longer break-glass under the policy: their password
	// session ends at once, and the audit says how many ended.
	if err := w.svc.SetBreakGlass(w.ctx, red.ID, false); err != nil {
		t.Error(err)
	}
	if n := w.count(t, `SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL AND user_id = $1`, red.ID); n != 0 {
		t.Errorf("red keeps %d sessions after losing break-glass", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'user.break_glass_changed' AND target_id = $1
		AND (details->>'sessions_ended')::int = 1`, red.ID.String()); n != 1 {
		t.Errorf("%d break_glass_changed events with the sessions ended", n)
	}
	gone := w.user(t, "gone@example.com", auth.GroupAdmin)
	w.client.User.UpdateOneID(gone.ID).SetIsActive(false).ExecX(w.sys)
	refused(w.svc.SetBreakGlass(w.ctx, gone.ID, true), "signin.break_glass.inactive_refused")
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'user.break_glass_changed'`); n != 3 {
		t.Errorf("%d break_glass_changed events, want 3", n)
	}
	p, err := w.svc.Page(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Policy.Required || len(p.Accounts) == 0 || p.Accounts[0].Email != "admin@example.com" || !p.Accounts[0].BreakGlass || !p.Accounts[0].Admin {
		t.Errorf("page %+v", p)
	}
}

// TestAdminNeedsTheAdminGroup: settings.manage alone (which admins may
// give to leads) does not open Administration → Sign-in: a lead could
// otherwise add a provider of theirs mapping to the admin group, or make
// themselves break-glass.
func TestAdminNeedsTheAdminGroup(t *testing.T) {
	w := newAdminWorld(t, config.OIDC{Key: "oidc"})
	if _, err := w.svc.Save(w.ctx, uuid.Nil, oidcInput("corp")); err != nil {
		t.Fatal(err)
	}
	row := w.client.SignInProvider.Query().OnlyX(w.sys)
	lead := w.user(t, "lead@example.com", auth.GroupRedTeam)
	ctx := auth.NewContext(context.Background(), auth.NewViewer(lead.ID, lead.Email, "Lead", "en", uuid.New(),
		[]string{auth.GroupRedTeam}, []string{string(auth.SettingsManage), string(auth.UserInvite)}))
	forbidden := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, app.ErrForbidden) {
			t.Errorf("%s: %v, want forbidden", what, err)
		}
	}
	_, err := w.svc.Page(ctx)
	forbidden("page", err)
	_, err = w.svc.NewForm(ctx, "oidc")
	forbidden("new form", err)
	_, err = w.svc.Form(ctx, row.ID)
	forbidden("form", err)
	in := oidcInput("mine")
	in.GroupMap, in.AllowedDomains = "x = admin", "lead.example = admin"
	_, err = w.svc.Save(ctx, uuid.Nil, in)
	forbidden("save", err)
	forbidden("disable", w.svc.Disable(ctx, row.ID))
	forbidden("delete", w.svc.Delete(ctx, row.ID))
	_, err = w.svc.SetPolicy(ctx, false)
	forbidden("policy", err)
	forbidden("break-glass", w.svc.SetBreakGlass(ctx, lead.ID, true))
	if n := w.client.SignInProvider.Query().CountX(w.sys); n != 1 {
		t.Errorf("%d providers", n)
	}
	if w.client.User.GetX(w.sys, lead.ID).BreakGlass {
		t.Error("the lead made themselves break-glass")
	}
}

// TestSecretAgainWhenIssuerMoves: an edit that changes the issuer or the
// client id must carry the secret again (the stored one would otherwise
// go to the new issuer's token endpoint); other edits keep it.
func TestSecretAgainWhenIssuerMoves(t *testing.T) {
	w := newAdminWorld(t, config.OIDC{Key: "oidc"})
	if _, err := w.svc.Save(w.ctx, uuid.Nil, oidcInput("corp")); err != nil {
		t.Fatal(err)
	}
	row := w.client.SignInProvider.Query().OnlyX(w.sys)
	for _, c := range []struct {
		name   string
		change func(*signin.ProviderInput)
	}{
		{"issuer", func(in *signin.ProviderInput) { in.Issuer = "https://attacker.example.net" }},
		{"client id", func(in *signin.ProviderInput) { in.ClientID = "other-client" }},
	} {
		in := oidcInput("corp")
		in.ClientSecret, in.UpdatedAt = "", strconv.FormatInt(row.UpdatedAt.UnixMicro(), 10)
		c.change(&in)
		f, err := w.svc.Save(w.ctx, row.ID, in)
		wantField(t, err, "client_secret", "signin.form.secret_again")
		if f.Errors["client_secret"] != "signin.form.secret_again" {
			t.Errorf("%s: form errors %v", c.name, f.Errors)
		}
	}
	if got := w.client.SignInProvider.GetX(w.sys, row.ID); string(got.Settings) != string(row.Settings) {
		t.Errorf("settings changed by a refused save: %s", got.Settings)
	}
	// With the secret typed again, the issuer moves.
	in := oidcInput("corp")
	in.Issuer, in.ClientSecret, in.UpdatedAt = "https://idp2.example.org", "new-secret", strconv.FormatInt(row.UpdatedAt.UnixMicro(), 10)
	if _, err := w.svc.Save(w.ctx, row.ID, in); err != nil {
		t.Fatal(err)
	}
	cfg, err := signin.OIDCConfig(w.client.SignInProvider.GetX(w.sys, row.ID), w.sealer, "")
	if err != nil || cfg.Issuer != "https://idp2.example.org" || cfg.ClientSecret != "new-secret" {
		t.Errorf("after the move: %+v, %v", cfg, err)
	}
}

func TestAdminNeedsSettingsManage(t *testing.T) {
	w := newAdminWorld(t, config.OIDC{})
	red := w.user(t, "red@example.com", auth.GroupRedTeam)
	ctx := auth.NewContext(context.Background(), auth.NewViewer(red.ID, red.Email, "Red", "en", uuid.New(), nil, []string{string(auth.MissionRead)}))
	if _, err := w.svc.Page(ctx); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("page: %v", err)
	}
	if _, err := w.svc.Save(ctx, uuid.Nil, oidcInput("corp")); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("save: %v", err)
	}
	if _, err := w.svc.SetPolicy(ctx, false); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("policy: %v", err)
	}
	if err := w.svc.SetBreakGlass(ctx, red.ID, true); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("break-glass: %v", err)
	}
}
