package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/setting"
	"violet/ent/signinprovider"
	"violet/ent/user"
	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/factor"
	"violet/internal/invite"
	"violet/internal/paths"
	"violet/internal/seed"
	"violet/views/admin"
)

// Admin is Administration → Sign-in: the providers admins set up (rows of
// sign_in_providers; the Registry builds them), the "require single
// sign-on" policy (the sso_required setting) and the break-glass accounts
// (users.break_glass). Every workflow checks that the viewer is an
// administrator who may manage settings, then works as the system (the
// tables are SystemOnlyPolicy), in one transaction with its audit event.
type Admin struct {
	client *ent.Client
	sealer *factor.Sealer
	env    config.OIDC // the environment's provider (OIDC_*); Issuer "" for none
	base   *url.URL    // BASE_URL; nil: the page cannot say what to give a provider
	now    func() time.Time
}

// NewAdmin returns the workflows; sealer seals client secrets
// (factor.NewSealer of the session key); env is the environment's
// OpenID Connect provider, whose key no row may take.
func NewAdmin(client *ent.Client, sealer *factor.Sealer, env config.OIDC, base *url.URL, now func() time.Time) *Admin {
	if now == nil {
		now = time.Now
	}
	return &Admin{client: client, sealer: sealer, env: env, base: base, now: now}
}

// envKey is the environment provider's key, reserved even while OIDC_* is
// unset: setting it later must not make two providers of one key.
func (a *Admin) envKey() string {
	if a.env.Key == "" {
		return "oidc"
	}
	return a.env.Key
}

// allowed checks the viewer is an administrator (member of the admin
// group, read from the database for this request) who may manage
// settings: the workflows then act as the system. settings.manage alone
// is not enough, as admins may give it to leads: a provider's group map
// or allowed domains grant groups (admin among them) to whoever the
// provider vouches for, and break-glass flags choose who escapes the
// policy, so only those who already hold everything may set them.
func allowed(ctx context.Context) (context.Context, error) {
	v := auth.FromContext(ctx)
	if !v.IsAdmin() || !v.Can(auth.SettingsManage) {
		return nil, app.ErrForbidden
	}
	return rule.SystemContext(ctx), nil
}

// ProviderInput is a provider's form as sent. Kind is read on creation
// only; UpdatedAt is the version the edit form was read at (Unix
// microseconds of the row's updated_at); a blank ClientSecret on an edit
// keeps the stored one.
type ProviderInput struct {
	Kind            string `form:"kind"`
	UpdatedAt       string `form:"updated_at"`
	Key             string `form:"key"`
	Name            string `form:"name"`
	Issuer          string `form:"issuer"`
	ClientID        string `form:"client_id"`
	ClientSecret    string `form:"client_secret"`
	Scopes          string `form:"scopes"`
	GroupsClaim     string `form:"groups_claim"`
	MetadataURL     string `form:"metadata_url"`
	MetadataXML     string `form:"metadata_xml"`
	EmailAttribute  string `form:"email_attribute"`
	NameAttribute   string `form:"name_attribute"`
	GroupsAttribute string `form:"groups_attribute"`
	GroupMap        string `form:"group_map"`
	AllowedDomains  string `form:"allowed_domains"`
}

// form is in as the form shows it again: trimmed, never the secret.
func (in ProviderInput) form() admin.SignInProviderForm {
	t := strings.TrimSpace
	return admin.SignInProviderForm{
		Kind: in.Kind, UpdatedAt: in.UpdatedAt, Key: t(in.Key), Name: t(in.Name),
		Issuer: t(in.Issuer), ClientID: t(in.ClientID), Scopes: t(in.Scopes), GroupsClaim: t(in.GroupsClaim),
		MetadataURL: t(in.MetadataURL), MetadataXML: t(in.MetadataXML),
		EmailAttribute: t(in.EmailAttribute), NameAttribute: t(in.NameAttribute), GroupsAttribute: t(in.GroupsAttribute),
		GroupMap: in.GroupMap, AllowedDomains: in.AllowedDomains,
	}
}

// NewForm is the empty form of a new provider of kind (oidc or saml;
// app.ErrNotFound otherwise).
func (a *Admin) NewForm(ctx context.Context, kind string) (admin.SignInProviderForm, error) {
	if _, err := allowed(ctx); err != nil {
		return admin.SignInProviderForm{}, err
	}
	switch kind {
	case "oidc":
		return admin.SignInProviderForm{Kind: kind, Scopes: "openid email profile", GroupsClaim: "groups"}, nil
	case "saml":
		return admin.SignInProviderForm{Kind: kind}, nil
	}
	return admin.SignInProviderForm{}, app.ErrNotFound
}

// Form is the edit form of the provider id, filled with its settings;
// the secret only says whether one is stored.
func (a *Admin) Form(ctx context.Context, id uuid.UUID) (admin.SignInProviderForm, error) {
	sys, err := allowed(ctx)
	if err != nil {
		return admin.SignInProviderForm{}, err
	}
	row, err := a.client.SignInProvider.Get(sys, id)
	if ent.IsNotFound(err) {
		return admin.SignInProviderForm{}, app.ErrNotFound
	}
	if err != nil {
		return admin.SignInProviderForm{}, fmt.Errorf("load provider: %w", err)
	}
	return formOf(row)
}

// formOf is row's edit form.
func formOf(row *ent.SignInProvider) (admin.SignInProviderForm, error) {
	f := admin.SignInProviderForm{
		ID: row.ID.String(), Kind: row.Kind.String(), UpdatedAt: version(row), Key: row.Key, Name: row.Name,
		SecretSet: row.Secret != "",
	}
	switch row.Kind {
	case signinprovider.KindOidc:
		var st OIDCSettings
		if err := json.Unmarshal(row.Settings, &st); err != nil {
			return f, fmt.Errorf("provider %s: read settings: %w", row.Key, err)
		}
		f.Issuer, f.ClientID, f.Scopes, f.GroupsClaim = st.Issuer, st.ClientID, strings.Join(st.Scopes, " "), st.GroupsClaim
		f.GroupMap, f.AllowedDomains = groupMapText(st.GroupMap), domainsText(st.AllowedDomains)
	case signinprovider.KindSaml:
		var st SAMLSettings
		if err := json.Unmarshal(row.Settings, &st); err != nil {
			return f, fmt.Errorf("provider %s: read settings: %w", row.Key, err)
		}
		f.MetadataURL, f.MetadataXML = st.MetadataURL, st.MetadataXML
		f.EmailAttribute, f.NameAttribute, f.GroupsAttribute = st.EmailAttribute, st.NameAttribute, st.GroupsAttribute
		f.GroupMap, f.AllowedDomains = groupMapText(st.GroupMap), domainsText(st.AllowedDomains)
	}
	return f, nil
}

// version is the row's version as its edit form carries it: updated_at
// in Unix microseconds (PostgreSQL's precision).
func version(row *ent.SignInProvider) string { return strconv.FormatInt(row.UpdatedAt.UnixMicro(), 10) }

// Save creates a provider (id uuid.Nil) or saves one's edit form. A
// refused form comes back with its errors and the input kept (never the
// secret): *app.Invalid; an edit of a row changed since the form was
// read is app.ErrConflict, the form then showing the row as saved now
// (Saved) and carrying its new version, to compare and save again.
func (a *Admin) Save(ctx context.Context, id uuid.UUID, in ProviderInput) (admin.SignInProviderForm, error) {
	f := in.form()
	sys, err := allowed(ctx)
	if err != nil {
		return f, err
	}
	if id != uuid.Nil {
		f.ID = id.String()
	}
	var refused error
	err = database.WithTx(sys, a.client, func(tx *ent.Tx) error {
		var old *ent.SignInProvider
		if id != uuid.Nil {
			old, err = tx.SignInProvider.Query().Where(signinprovider.ID(id)).ForUpdate().Only(sys)
			if ent.IsNotFound(err) {
				return app.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("load provider: %w", err)
			}
			f.Kind, f.Key, f.SecretSet = old.Kind.String(), old.Key, old.Secret != ""
			if in.UpdatedAt != version(old) {
				saved := a.row(old)
				f.Saved, f.UpdatedAt = &saved, version(old)
				refused = app.ErrConflict
				return nil
			}
		} else if f.Kind != "oidc" && f.Kind != "saml" {
			return app.ErrNotFound // no form sends another kind
		}
		known, err := groupsOf(sys, tx, invite.GrantorOf(auth.FromContext(ctx)))
		if err != nil {
			return err
		}
		e := newFormErrors()
		if old == nil {
			a.checkKey(sys, tx, e, f.Key)
		}
		switch {
		case f.Name == "":
			e.add("name", "form.required")
		case len(f.Name) > admin.SignInNameMax:
			e.add("name", "signin.form.too_long")
		}
		var settings any
		secret := ""
		if f.Kind == "oidc" {
			settings, secret = a.checkOIDC(e, f, in.ClientSecret, old, known)
		} else {
			settings = checkSAML(e, f, known)
		}
		if e.any() {
			f.Errors, f.Args = e.errs, e.args
			refused = &app.Invalid{Fields: e.errs}
			return nil
		}
		raw, err := json.Marshal(settings)
		if err != nil {
			return err
		}
		return a.write(sys, tx, old, f, raw, secret)
	})
	if errors.Is(err, errKeyTaken) {
		f.Errors = map[string]string{"key": "signin.form.key_taken"}
		err = &app.Invalid{Fields: f.Errors}
	}
	if err == nil {
		err = refused
	}
	return f, err
}

// errKeyTaken: the key was free when checked but another save took it
// before this one committed (the unique index said so).
var errKeyTaken = errors.New("signin: key taken")

// checkKey refuses a key that breaks the rule, is the environment
// provider's, or another row's.
func (a *Admin) checkKey(ctx context.Context, tx *ent.Tx, e *formErrors, key string) {
	switch {
	case key == "":
		e.add("key", "form.required")
	case !keyPattern.MatchString(key):
		e.add("key", "signin.form.key_invalid")
	case key == a.envKey():
		e.add("key", "signin.form.key_env")
	default:
		taken, err := tx.SignInProvider.Query().Where(signinprovider.Key(key)).Exist(ctx)
		if err != nil || taken {
			e.add("key", "signin.form.key_taken")
		}
	}
}

// checkOIDC checks an OpenID Connect form and returns its settings and
// the secret to seal ("" to keep the stored one).
func (a *Admin) checkOIDC(e *formErrors, f admin.SignInProviderForm, secret string, old *ent.SignInProvider, known groupRule) (OIDCSettings, string) {
	if f.Issuer == "" {
		e.add("issuer", "form.required")
	} else {
		checkURL(e, "issuer", f.Issuer)
	}
	if f.ClientID == "" {
		e.add("client_id", "form.required")
	}
	checkLen(e, "client_id", f.ClientID, admin.SignInClientMax)
	switch {
	case secret != "":
	case old == nil || old.Secret == "":
		e.add("client_secret", "form.required")
	case movesSecret(old, f):
		// The stored secret is only ever sent to the issuer and client it
		// was typed for: kept across a change of either, it would be sent
		// to whatever token endpoint the new issuer names.
		e.add("client_secret", "signin.form.secret_again")
	}
	checkLen(e, "client_secret", secret, admin.SignInSecretMax)
	checkLen(e, "scopes", f.Scopes, admin.SignInScopesMax)
	checkLen(e, "groups_claim", f.GroupsClaim, admin.SignInAttrMax)
	checkLen(e, "group_map", f.GroupMap, admin.SignInListMax)
	checkLen(e, "allowed_domains", f.AllowedDomains, admin.SignInListMax)
	claim := f.GroupsClaim
	if claim == "" {
		claim = "groups"
	}
	return OIDCSettings{
		Issuer: f.Issuer, ClientID: f.ClientID, Scopes: scopes(f.Scopes), GroupsClaim: claim,
		GroupMap:       parseGroupMap(e, "group_map", f.GroupMap, known),
		AllowedDomains: parseDomains(e, "allowed_domains", f.AllowedDomains, known),
	}, secret
}

// movesSecret reports whether the form changes the issuer or the client
// id of old (an unreadable stored setting counts as a change).
func movesSecret(old *ent.SignInProvider, f admin.SignInProviderForm) bool {
	var st OIDCSettings
	if err := json.Unmarshal(old.Settings, &st); err != nil {
		return true
	}
	return st.Issuer != f.Issuer || st.ClientID != f.ClientID
}

// groupsOf reads which groups exist and which of them the viewer may
// grant (invite.Grantor: an admin may grant every group; the check stays
// as defence in depth should the workflows ever open to others).
func groupsOf(ctx context.Context, tx *ent.Tx, g invite.Grantor) (groupRule, error) {
	groups, err := tx.Group.Query().WithPermissions().All(ctx)
	if err != nil {
		return groupRule{}, fmt.Errorf("load groups: %w", err)
	}
	r := groupRule{known: map[string]bool{}, grantable: map[string]bool{}}
	for _, grp := range groups {
		r.known[grp.Name] = true
		r.grantable[grp.Name] = g.MayGrant(grp)
	}
	return r, nil
}

// checkSAML checks a SAML form: a metadata URL or pasted metadata,
// exactly one.
func checkSAML(e *formErrors, f admin.SignInProviderForm, known groupRule) SAMLSettings {
	switch {
	case f.MetadataURL == "" && f.MetadataXML == "":
		e.add("metadata_url", "signin.form.metadata_missing")
	case f.MetadataURL != "" && f.MetadataXML != "":
		e.add("metadata_url", "signin.form.metadata_one")
	case f.MetadataURL != "":
		checkURL(e, "metadata_url", f.MetadataURL)
	default:
		checkMetadata(e, "metadata_xml", f.MetadataXML)
	}
	checkLen(e, "email_attribute", f.EmailAttribute, admin.SignInAttrMax)
	checkLen(e, "name_attribute", f.NameAttribute, admin.SignInAttrMax)
	checkLen(e, "groups_attribute", f.GroupsAttribute, admin.SignInAttrMax)
	checkLen(e, "group_map", f.GroupMap, admin.SignInListMax)
	checkLen(e, "allowed_domains", f.AllowedDomains, admin.SignInListMax)
	return SAMLSettings{
		MetadataURL: f.MetadataURL, MetadataXML: f.MetadataXML,
		EmailAttribute: f.EmailAttribute, NameAttribute: f.NameAttribute, GroupsAttribute: f.GroupsAttribute,
		GroupMap:       parseGroupMap(e, "group_map", f.GroupMap, known),
		AllowedDomains: parseDomains(e, "allowed_domains", f.AllowedDomains, known),
	}
}

// write creates the row (old nil) or updates old, and records it: which
// settings changed, never the secret (only that it changed).
func (a *Admin) write(ctx context.Context, tx *ent.Tx, old *ent.SignInProvider, f admin.SignInProviderForm, settings []byte, secret string) error {
	sealed := ""
	if secret != "" {
		sealed = SealSecret(a.sealer, f.Key, secret)
	}
	if old == nil {
		row, err := tx.SignInProvider.Create().SetKey(f.Key).SetKind(signinprovider.Kind(f.Kind)).SetName(f.Name).
			SetEnabled(true).SetSettings(settings).SetSecret(sealed).Save(ctx)
		if ent.IsConstraintError(err) {
			return errKeyTaken // by another admin's save a moment ago
		}
		if err != nil {
			return fmt.Errorf("create provider: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.SignInProviderCreated, TargetType: "sign_in_provider", TargetID: row.ID.String(), TargetLabel: row.Name,
			Details: map[string]any{"key": row.Key, "kind": row.Kind.String(), "summary": summary(row)},
		})
	}
	changed := changedSettings(old.Settings, settings)
	if f.Name != old.Name {
		changed = append([]string{"name"}, changed...)
	}
	if sealed != "" {
		changed = append(changed, "client_secret")
	}
	if len(changed) == 0 {
		return nil
	}
	upd := tx.SignInProvider.UpdateOneID(old.ID).SetName(f.Name).SetSettings(settings)
	if sealed != "" {
		upd.SetSecret(sealed)
	}
	if err := upd.Exec(ctx); err != nil {
		return fmt.Errorf("save provider: %w", err)
	}
	return audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: audit.SignInProviderUpdated, TargetType: "sign_in_provider", TargetID: old.ID.String(), TargetLabel: f.Name,
		Details: map[string]any{"key": old.Key, "changed": changed},
	})
}

// changedSettings names the settings whose values differ between two
// settings documents.
func changedSettings(before, after []byte) []string {
	var b, n map[string]any
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &n)
	var out []string
	for k, v := range n {
		if !reflect.DeepEqual(b[k], v) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := n[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// summary is what the list says of a provider: its issuer, its metadata
// URL, or "" for pasted metadata.
func summary(row *ent.SignInProvider) string {
	var st struct {
		Issuer      string `json:"issuer"`
		MetadataURL string `json:"metadata_url"`
	}
	_ = json.Unmarshal(row.Settings, &st)
	if st.Issuer != "" {
		return st.Issuer
	}
	return st.MetadataURL
}

// row is a provider as the list shows it, with, for SAML, what to give
// the identity provider.
func (a *Admin) row(p *ent.SignInProvider) admin.SignInProviderRow {
	r := admin.SignInProviderRow{ID: p.ID, Key: p.Key, Kind: p.Kind.String(), Name: p.Name, Enabled: p.Enabled, Summary: summary(p)}
	if p.Kind == signinprovider.KindSaml && a.base != nil {
		r.EntityID = a.abs(paths.URL(paths.SAMLMetadata, p.Key))
		r.ACSURL = a.abs(paths.URL(paths.SAMLACS, p.Key))
	}
	return r
}

func (a *Admin) abs(path string) string { return strings.TrimRight(a.base.String(), "/") + path }

// Page is Administration → Sign-in: the environment's provider, the
// rows, the policy and the accounts that matter under it (the admins and
// the break-glass accounts).
func (a *Admin) Page(ctx context.Context) (admin.SignInPage, error) {
	sys, err := allowed(ctx)
	if err != nil {
		return admin.SignInPage{}, err
	}
	var p admin.SignInPage
	if a.env.Enabled() {
		name := a.env.Name
		if name == "" {
			name = a.envKey()
		}
		p.Env = &admin.SignInEnv{Key: a.envKey(), Name: name, Issuer: a.env.Issuer}
	}
	if a.base != nil {
		p.RedirectURI = a.abs(paths.OIDCCallback)
	}
	rows, err := a.client.SignInProvider.Query().Order(ent.Asc(signinprovider.FieldName), ent.Asc(signinprovider.FieldKey)).All(sys)
	if err != nil {
		return p, fmt.Errorf("load providers: %w", err)
	}
	for _, r := range rows {
		p.Providers = append(p.Providers, a.row(r))
	}
	if p.Policy.Required, err = account.SSORequired(sys, a.client); err != nil {
		return p, err
	}
	p.Accounts, err = a.accounts(sys)
	return p, err
}

// accountsQuery lists the admins (active, who may manage settings) and
// every break-glass account, admins first.
const accountsQuery = `
SELECT u.id, u.email, u.display_name, u.is_active, u.break_glass, ` + adminExists + ` AS admin
FROM users u
WHERE u.deleted_at IS NULL AND (u.break_glass OR (u.is_active AND ` + adminExists + `))
ORDER BY admin DESC, u.email`

// adminExists is true for a member of the admin system group: the only
// accounts whose workflows here may undo the policy (allowed).
const adminExists = `EXISTS (SELECT 1 FROM user_groups ug
	JOIN groups g ON g.id = ug.group_id AND g.deleted_at IS NULL AND g.is_system AND g.name = '` + auth.GroupAdmin + `'
	WHERE ug.user_id = u.id)`

func (a *Admin) accounts(ctx context.Context) ([]admin.SignInAccount, error) {
	rows, err := a.client.QueryContext(ctx, accountsQuery)
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	defer rows.Close()
	var out []admin.SignInAccount
	for rows.Next() {
		var r admin.SignInAccount
		if err := rows.Scan(&r.ID, &r.Email, &r.DisplayName, &r.Active, &r.BreakGlass, &r.Admin); err != nil {
			return nil, fmt.Errorf("load accounts: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// breakGlassAdmins counts the active break-glass admins.
const breakGlassAdmins = `SELECT count(*) FROM users u
WHERE u.deleted_at IS NULL AND u.is_active AND u.break_glass AND ` + adminExists

// enabledRows counts the enabled providers set up by admins.
func enabledRows(ctx context.Context, tx *ent.Tx) (int, error) {
	return tx.SignInProvider.Query().Where(signinprovider.Enabled(true)).Count(ctx)
}

// lock takes the policy's lock in tx and reads whether the policy is on.
func lock(ctx context.Context, tx *ent.Tx) (bool, error) { return account.LockSSOPolicy(ctx, tx) }

// Enable is SetEnabled(true), for a row's button.
func (a *Admin) Enable(ctx context.Context, id uuid.UUID) error { return a.SetEnabled(ctx, id, true) }

// Disable is SetEnabled(false), for a row's button.
func (a *Admin) Disable(ctx context.Context, id uuid.UUID) error { return a.SetEnabled(ctx, id, false) }

// SetEnabled enables or disables the provider id. Disabling the last
// provider anyone could use while single sign-on is required is refused
// (*app.Invalid): only break-glass accounts could still get in.
func (a *Admin) SetEnabled(ctx context.Context, id uuid.UUID, enabled bool) error {
	sys, err := allowed(ctx)
	if err != nil {
		return err
	}
	return database.WithTx(sys, a.client, func(tx *ent.Tx) error {
		row, err := a.lockRow(sys, tx, id)
		if err != nil || row.Enabled == enabled {
			return err
		}
		if !enabled {
			if err := a.keepsOne(sys, tx); err != nil {
				return err
			}
		}
		if err := tx.SignInProvider.UpdateOneID(id).SetEnabled(enabled).Exec(sys); err != nil {
			return fmt.Errorf("save provider: %w", err)
		}
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.SignInProviderUpdated, TargetType: "sign_in_provider", TargetID: id.String(), TargetLabel: row.Name,
			Details: map[string]any{"key": row.Key, "enabled": enabled},
		})
	})
}

// Delete deletes the provider id for good. The identities linked through
// it stay (they are keyed by issuer and subject): the same provider set
// up again finds its people. Deleting the last provider anyone could use
// while single sign-on is required is refused, as disabling it.
func (a *Admin) Delete(ctx context.Context, id uuid.UUID) error {
	sys, err := allowed(ctx)
	if err != nil {
		return err
	}
	return database.WithTx(sys, a.client, func(tx *ent.Tx) error {
		row, err := a.lockRow(sys, tx, id)
		if err != nil {
			return err
		}
		if row.Enabled {
			if err := a.keepsOne(sys, tx); err != nil {
				return err
			}
		}
		if err := tx.SignInProvider.DeleteOneID(id).Exec(sys); err != nil {
			return fmt.Errorf("delete provider: %w", err)
		}
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.SignInProviderDeleted, TargetType: "sign_in_provider", TargetID: id.String(), TargetLabel: row.Name,
			Details: map[string]any{"key": row.Key, "kind": row.Kind.String()},
		})
	})
}

// lockRow takes the policy's lock and the row of id.
func (a *Admin) lockRow(ctx context.Context, tx *ent.Tx, id uuid.UUID) (*ent.SignInProvider, error) {
	if _, err := lock(ctx, tx); err != nil {
		return nil, err
	}
	row, err := tx.SignInProvider.Query().Where(signinprovider.ID(id)).ForUpdate().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, app.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load provider: %w", err)
	}
	return row, nil
}

// keepsOne refuses taking away an enabled row when the policy is on and
// it is the last provider (no environment provider).
func (a *Admin) keepsOne(ctx context.Context, tx *ent.Tx) error {
	on, err := account.SSORequired(ctx, tx.Client())
	if err != nil || !on || a.env.Enabled() {
		return err
	}
	n, err := enabledRows(ctx, tx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return &app.Invalid{Key: "signin.last_provider"}
	}
	return nil
}

// SetPolicy turns "require single sign-on" on or off. Turning it on is
// refused (*app.Invalid, Key the reason) unless a provider is enabled
// (the environment's, or a row) and an active admin is break-glass (or
// nobody could undo it if the provider failed); it then ends the
// sessions that were not opened through a provider, of everyone but the
// break-glass accounts, and records how many. It returns that count.
func (a *Admin) SetPolicy(ctx context.Context, required bool) (int64, error) {
	sys, err := allowed(ctx)
	if err != nil {
		return 0, err
	}
	var ended int64
	err = database.WithTx(sys, a.client, func(tx *ent.Tx) error {
		ended = 0
		on, err := lock(sys, tx)
		if err != nil || on == required {
			return err
		}
		if required {
			n, err := enabledRows(sys, tx)
			if err != nil {
				return err
			}
			if n == 0 && !a.env.Enabled() {
				return &app.Invalid{Key: "signin.policy.no_provider"}
			}
			var admins int
			if err := database.QueryValue(sys, tx, &admins, breakGlassAdmins); err != nil {
				return err
			}
			if admins == 0 {
				return &app.Invalid{Key: "signin.policy.no_break_glass"}
			}
			if ended, err = a.endPasswordSessions(sys, tx, uuid.Nil); err != nil {
				return err
			}
		}
		if err := saveSetting(sys, tx, seed.SettingSSORequired, required); err != nil {
			return err
		}
		details := map[string]any{"sso_required": required}
		if required {
			details["sessions_ended"] = ended
		}
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.SignInPolicyChanged, TargetType: "setting", TargetID: seed.SettingSSORequired,
			TargetLabel: seed.SettingSSORequired, Details: details,
		})
	})
	return ended, err
}

// endPasswordSessions ends the live sessions not opened through an
// identity provider (password, passkey, with or without a second step)
// of the accounts that are not break-glass: everyone's, or only userID's
// (not uuid.Nil).
func (a *Admin) endPasswordSessions(ctx context.Context, tx *ent.Tx, userID uuid.UUID) (int64, error) {
	only := uuid.NullUUID{UUID: userID, Valid: userID != uuid.Nil}
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens rt SET revoked_at = $1, updated_at = $1
		FROM users u
		WHERE u.id = rt.user_id AND NOT u.break_glass AND ($2::uuid IS NULL OR u.id = $2)
			AND rt.revoked_at IS NULL AND rt.expires_at > $1
			AND rt.method NOT LIKE 'oidc:%' AND rt.method NOT LIKE 'saml:%'`, a.now(), only)
	if err != nil {
		return 0, fmt.Errorf("end password sessions: %w", err)
	}
	return res.RowsAffected()
}

// saveSetting writes one setting's JSON value.
func saveSetting(ctx context.Context, tx *ent.Tx, key string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return err
	}
	n, err := tx.Setting.Update().Where(setting.Key(key)).SetValue(b).Save(ctx)
	if err == nil && n == 0 {
		err = tx.Setting.Create().SetKey(key).SetValue(b).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("save setting %s: %w", key, err)
	}
	return nil
}

// SetBreakGlass marks the user id as a break-glass account (who may sign
// in with a password while single sign-on is required) or clears the
// mark. Only an active account may be marked; clearing the last active
// break-glass admin while the policy is on is refused (*app.Invalid).
func (a *Admin) SetBreakGlass(ctx context.Context, id uuid.UUID, on bool) error {
	sys, err := allowed(ctx)
	if err != nil {
		return err
	}
	return database.WithTx(sys, a.client, func(tx *ent.Tx) error {
		required, err := lock(sys, tx)
		if err != nil {
			return err
		}
		u, err := tx.User.Query().Where(user.ID(id)).ForUpdate().Only(sys)
		if ent.IsNotFound(err) {
			return app.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if u.BreakGlass == on {
			return nil
		}
		if on && !u.IsActive {
			return &app.Invalid{Key: "signin.break_glass.inactive_refused"}
		}
		if err := tx.User.UpdateOneID(id).SetBreakGlass(on).Exec(sys); err != nil {
			return fmt.Errorf("save user: %w", err)
		}
		details := map[string]any{"break_glass": on}
		if !on && required {
			var admins int
			if err := database.QueryValue(sys, tx, &admins, breakGlassAdmins); err != nil {
				return err
			}
			if admins == 0 {
				return &app.Invalid{Key: "signin.break_glass.last_refused"}
			}
			// No longer break-glass under the policy: their password and
			// passkey sessions end now, as the policy's own did.
			ended, err := a.endPasswordSessions(sys, tx, id)
			if err != nil {
				return err
			}
			details["sessions_ended"] = ended
		}
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.UserBreakGlassChanged, TargetType: "user", TargetID: id.String(), TargetLabel: u.Email,
			Details: details,
		})
	})
}
