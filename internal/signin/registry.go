package signin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"violet/ent"
	"violet/ent/signinprovider"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/factor"
	"violet/internal/paths"
	"violet/internal/samlsp"
	"violet/internal/sso"
	accountview "violet/views/account"
	authview "violet/views/auth"
)

// Registry is the providers people may sign in with: the environment's
// OpenID Connect provider and the enabled rows of sign_in_providers. A
// row's relying party is built at its first use and kept until the row
// changes (its updated_at), so that its discovery is not run again at
// every sign-in; every instance reads the rows, so a provider added on
// one instance is offered by all of them at once.
type Registry struct {
	client *ent.Client
	env    *sso.Provider // nil: none in the environment
	state  *sso.State
	sealer *factor.Sealer
	deps   Deps

	mu        sync.Mutex
	built     map[string]builtOIDC // by key; only rows, never the environment's
	builtSAML map[string]builtSAML // by key
	sp        *samlsp.SP           // Violet's side of SAML, built at the first SAML row
}

// builtOIDC is a row's relying party and the version of the row it was
// built from.
type builtOIDC struct {
	updated time.Time
	p       *sso.Provider
}

// Deps are what the registry builds providers with.
type Deps struct {
	Client *ent.Client
	// Env is the environment's provider (OIDC_*); nil for none.
	Env        *sso.Provider
	SessionKey []byte
	Secure     bool     // https: Secure cookies
	Base       *url.URL // BASE_URL; nil: providers set up by admins cannot be used
	HTTPClient *http.Client
	Log        *slog.Logger
	SAMLSP     config.SAMLSP // SAML_SP_CERT_FILE, SAML_SP_KEY_FILE
}

// ErrNoBaseURL: a provider set up by an admin needs BASE_URL, which its
// redirect URI is made of, and SESSION_KEY, which its secret is sealed
// with.
var ErrNoBaseURL = errors.New("BASE_URL or SESSION_KEY is not set: providers set up on Administration → Sign-in need both")

// New returns the registry of d.
func New(d Deps) (*Registry, error) {
	st, err := sso.NewState(d.SessionKey, d.Secure)
	if err != nil {
		return nil, err
	}
	// Without a session key (some tests) no row's secret can be opened:
	// only the environment's provider works.
	var sealer *factor.Sealer
	if len(d.SessionKey) > 0 {
		if sealer, err = factor.NewSealer(d.SessionKey); err != nil {
			return nil, err
		}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Registry{client: d.Client, env: d.Env, state: st, sealer: sealer, deps: d,
		built: map[string]builtOIDC{}, builtSAML: map[string]builtSAML{}}, nil
}

// EnvKey is the key of the environment's provider; "" when there is none.
func (r *Registry) EnvKey() string {
	if r.env == nil {
		return ""
	}
	return r.env.Key()
}

// State is the OpenID Connect state cookie, whichever provider started it.
func (r *Registry) State() *sso.State { return r.state }

// OIDC is the OpenID Connect provider of key: the environment's, or an
// enabled row's; app.ErrNotFound when there is none. A row that cannot be
// used (its secret does not open, no BASE_URL) is sso.ErrProviderDown,
// logged: the page then says the provider cannot be reached, and the
// password form still works.
func (r *Registry) OIDC(ctx context.Context, key string) (*sso.Provider, error) {
	if r.env != nil && key == r.env.Key() {
		return r.env, nil
	}
	row, err := r.row(ctx, key, signinprovider.KindOidc)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.built[key]; ok && b.updated.Equal(row.UpdatedAt) {
		return b.p, nil
	}
	if r.deps.Base == nil || r.sealer == nil {
		r.deps.Log.Warn("single sign-on: a provider set up by an admin cannot be used", "provider", key, "err", ErrNoBaseURL)
		return nil, fmt.Errorf("%w: %w", sso.ErrProviderDown, ErrNoBaseURL)
	}
	cfg, err := OIDCConfig(row, r.sealer, r.callbackURL())
	if err != nil {
		r.deps.Log.Warn("single sign-on: a provider set up by an admin cannot be used", "provider", key, "err", err)
		return nil, fmt.Errorf("%w: %w", sso.ErrProviderDown, err)
	}
	p, err := sso.New(cfg, r.deps.SessionKey, r.deps.Secure, r.deps.Base, r.deps.HTTPClient, r.deps.Log)
	if err != nil {
		return nil, err
	}
	r.built[key] = builtOIDC{updated: row.UpdatedAt, p: p}
	return p, nil
}

// SAML is the SAML provider of key, an enabled row's; app.ErrNotFound
// when there is none. Its service provider is built at its first use and
// kept until the row changes (its fetched metadata with it); a row that
// cannot be used (no BASE_URL, metadata that does not parse) is
// sso.ErrProviderDown, logged.
func (r *Registry) SAML(ctx context.Context, key string) (*samlsp.Provider, error) {
	row, err := r.row(ctx, key, signinprovider.KindSaml)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.builtSAML[key]; ok && b.updated.Equal(row.UpdatedAt) {
		return b.p, nil
	}
	p, err := r.newSAML(row)
	if err != nil {
		r.deps.Log.Warn("single sign-on: a SAML provider set up by an admin cannot be used", "provider", key, "err", err)
		return nil, fmt.Errorf("%w: %w", sso.ErrProviderDown, err)
	}
	r.builtSAML[key] = builtSAML{updated: row.UpdatedAt, p: p}
	return p, nil
}

// builtSAML is a row's service provider and the version of the row it
// was built from.
type builtSAML struct {
	updated time.Time
	p       *samlsp.Provider
}

// newSAML builds the service provider of a kind=saml row; Violet's own
// side (samlsp.SP) is built once, at the first. Called with mu held.
func (r *Registry) newSAML(row *ent.SignInProvider) (*samlsp.Provider, error) {
	if r.deps.Base == nil || len(r.deps.SessionKey) == 0 {
		return nil, ErrNoBaseURL
	}
	if r.sp == nil {
		sp, err := samlsp.NewSP(samlsp.SPConfig{Base: r.deps.Base, Secure: r.deps.Secure, SessionKey: r.deps.SessionKey,
			Files: r.deps.SAMLSP, HTTPClient: r.deps.HTTPClient, Log: r.deps.Log})
		if err != nil {
			return nil, err
		}
		r.sp = &sp
	}
	cfg, err := SAMLConfig(row)
	if err != nil {
		return nil, err
	}
	return samlsp.New(cfg, *r.sp)
}

// callbackURL is the redirect URI of every provider set up by an admin:
// one URL, the state cookie saying which provider the browser went to.
func (r *Registry) callbackURL() string {
	return strings.TrimRight(r.deps.Base.String(), "/") + paths.OIDCCallback
}

// row reads the enabled provider of key and kind.
func (r *Registry) row(ctx context.Context, key string, kind signinprovider.Kind) (*ent.SignInProvider, error) {
	if key == "" {
		return nil, app.ErrNotFound
	}
	row, err := r.client.SignInProvider.Query().
		Where(signinprovider.Key(key), signinprovider.KindEQ(kind), signinprovider.Enabled(true)).
		Only(rule.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, app.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read sign-in provider: %w", err)
	}
	return row, nil
}

// Buttons are the sign-in page's provider buttons, keeping next: the
// environment's provider first, then the enabled rows by name.
//
// The sign-in page needs no database: when the rows cannot be read, the
// environment's button comes with the error, for the page to show it and
// the password form anyway.
func (r *Registry) Buttons(ctx context.Context, next string) ([]authview.SSOButton, error) {
	all, err := r.Linkable(ctx)
	if err != nil {
		return r.env.Buttons(next), err
	}
	out := make([]authview.SSOButton, 0, len(all))
	for _, o := range all {
		var to string
		switch o.Kind {
		case string(signinprovider.KindOidc):
			to = paths.Query(paths.OIDCStart, "provider", o.Key, "next", next)
		case string(signinprovider.KindSaml):
			to = paths.Query(paths.URL(paths.SAMLStart, o.Key), "next", next)
		}
		out = append(out, authview.SSOButton{Name: o.Name, URL: to})
	}
	return out, nil
}

// LogoutURL is where a browser whose session was signed in with method
// (completed by a second step or not) goes once its Violet session ended: the OpenID Connect provider's
// end-session endpoint (RP-initiated logout), "" for any other method, a
// provider without one, or one gone since; provider is its name.
func (r *Registry) LogoutURL(ctx context.Context, method string) (to, provider string) {
	base := auth.BaseMethod(method) // a second step does not change who signed in
	key, ok := strings.CutPrefix(base, "oidc:")
	if !ok {
		return "", ""
	}
	p, err := r.OIDC(ctx, key)
	if err != nil {
		return "", ""
	}
	return p.LogoutURL(base), p.Name()
}

// Linkable lists the providers an identity may be linked at, for the
// security page (account.Providers): the environment's first, then the
// enabled rows by name.
func (r *Registry) Linkable(ctx context.Context) ([]accountview.LinkOption, error) {
	var out []accountview.LinkOption
	if r.env != nil {
		out = append(out, accountview.LinkOption{Key: r.env.Key(), Kind: string(signinprovider.KindOidc), Name: r.env.Name(), Method: r.env.Method()})
	}
	rows, err := r.client.SignInProvider.Query().Where(signinprovider.Enabled(true)).
		Order(ent.Asc(signinprovider.FieldName), ent.Asc(signinprovider.FieldKey)).
		Select(signinprovider.FieldKey, signinprovider.FieldKind, signinprovider.FieldName).
		All(rule.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read sign-in providers: %w", err)
	}
	for _, row := range rows {
		out = append(out, accountview.LinkOption{Key: row.Key, Kind: string(row.Kind), Name: row.Name,
			Method: string(row.Kind) + ":" + row.Key})
	}
	return out, nil
}
