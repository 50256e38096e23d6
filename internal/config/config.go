// Package config reads Violet's configuration from environment variables,
// once, into a Config value that is passed to whatever needs it.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"violet/internal/paths"
)

// Config is everything Violet reads from its environment.
type Config struct {
	DatabaseURL     string
	ListenAddr      string
	BaseURL         *url.URL
	SessionKey      []byte
	EvidenceDir     string
	DefaultLocale   string
	LogLevel        slog.Level
	LogFormat       string
	TrustedProxies  []netip.Prefix
	MigrateOnStart  bool
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	DrainDelay      time.Duration
	// BodyIdleTimeout cuts off a request body that sends nothing for
	// that long (a slow upload goes on as long as bytes arrive).
	BodyIdleTimeout time.Duration
	DBMaxConns      int
	// MetricsToken lets a scraper read /metrics with
	// "Authorization: Bearer <token>"; empty turns bearer access off.
	MetricsToken string
	// EvidenceStore is where evidence files are kept: "dir" (EvidenceDir)
	// or "s3" (the S3 fields).
	EvidenceStore string
	S3            S3
	// OIDC is the OpenID Connect provider users may sign in with; an
	// empty Issuer turns single sign-on off.
	OIDC OIDC
	// SAMLSP is this instance's own key pair as a SAML service provider
	// (SAML_SP_*): both files or neither.
	SAMLSP SAMLSP
}

// SAMLSP locates the PEM files of the service provider's key and
// certificate. Set, Violet signs its authentication requests and accepts
// encrypted assertions; unset, requests go unsigned and its metadata
// publishes no key.
type SAMLSP struct {
	CertFile string
	KeyFile  string
}

// OIDC is one OpenID Connect provider (OIDC_*): who it is, how Violet is
// registered with it, and who gets in through it.
type OIDC struct {
	Key          string // names the provider in sessions (oidc:<key>) and identities
	Issuer       string
	ClientID     string
	ClientSecret string
	Name         string // the sign-in button's label
	Scopes       []string
	RedirectURL  string // default: BASE_URL + /login/oidc/callback
	GroupsClaim  string
	// GroupMap maps a value of the groups claim to a Violet group's name.
	GroupMap map[string]string
	// AllowedDomains maps an e-mail domain whose people get an account at
	// their first sign-in to the names of its default groups.
	AllowedDomains map[string][]string
}

// Enabled reports whether single sign-on through the provider is on.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// SAML is one SAML 2.0 identity provider, as an admin set it up on
// Administration → Sign-in: who it is, where its metadata is, which
// attributes carry the person, and who gets in through it.
type SAML struct {
	Key  string // names the provider in sessions (saml:<key>) and identities
	Name string // the sign-in button's label
	// MetadataURL is where the identity provider publishes its metadata
	// (https; http only on loopback); MetadataXML is the metadata pasted
	// instead. One of the two is set.
	MetadataURL string
	MetadataXML string
	// The attributes of the assertion that carry the person's e-mail,
	// display name and groups; an empty EmailAttribute means the NameID
	// when it is an e-mail address.
	EmailAttribute  string
	NameAttribute   string
	GroupsAttribute string
	// GroupMap maps a value of the groups attribute to a Violet group's name.
	GroupMap map[string]string
	// AllowedDomains maps an e-mail domain whose people get an account at
	// their first sign-in to the names of its default groups.
	AllowedDomains map[string][]string
}

// S3 locates the evidence bucket of an S3-compatible object store and
// holds the credentials to reach it (EVIDENCE_STORE=s3).
type S3 struct {
	Bucket    string
	Prefix    string
	Endpoint  string
	Region    string
	PathStyle bool
	// AccessKeyID, SecretAccessKey and SessionToken come from the usual
	// AWS variables; with none, the instance's IAM role is used.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Secure reports whether Violet is served over https, which turns on HSTS,
// Secure cookies and the __Host- cookie prefix.
func (c Config) Secure() bool { return c.BaseURL != nil && c.BaseURL.Scheme == "https" }

// variable describes one environment variable: its default, what it is
// for, and how it is parsed into the Config.
type variable struct {
	name  string
	def   string
	help  string
	parse func(c *Config, v string) error
}

// variables is the single list behind Load and Usage.
func variables() []variable {
	return []variable{
		{"DATABASE_URL", "", "PostgreSQL URL, e.g. postgres://violet:secret@db:5432/violet?sslmode=disable (make run sets it)",
			func(c *Config, v string) error {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
					return errors.New("must be a postgres:// URL")
				}
				c.DatabaseURL = v
				return nil
			}},
		{"LISTEN_ADDR", ":8080", "address the HTTP server listens on",
			func(c *Config, v string) error { c.ListenAddr = v; return nil }},
		{"BASE_URL", "http://localhost:8080", "public URL of this instance, used in invitation links; https turns on HSTS and secure cookies",
			func(c *Config, v string) error {
				u, err := url.Parse(strings.TrimRight(v, "/"))
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("must be an absolute http:// or https:// URL")
				}
				c.BaseURL = u
				return nil
			}},
		{"SESSION_KEY", "", "at least 32 random bytes, hex or base64, that sign session cookies (make run generates .data/session.key)",
			func(c *Config, v string) error {
				key, err := decodeKey(v)
				if err != nil {
					return err
				}
				c.SessionKey = key
				return nil
			}},
		{"EVIDENCE_DIR", "", "directory where evidence files are stored (EVIDENCE_STORE=dir), outside any served folder (make run uses .data/evidence)",
			func(c *Config, v string) error { c.EvidenceDir = v; return nil }},
		{"EVIDENCE_STORE", "dir", "where evidence files are kept: dir (EVIDENCE_DIR) or s3 (a bucket of an S3-compatible object store, see S3_*); s3 lets several instances share them",
			func(c *Config, v string) error {
				if v != "dir" && v != "s3" {
					return errors.New("must be dir or s3")
				}
				c.EvidenceStore = v
				return nil
			}},
		{"S3_BUCKET", "", "bucket of the evidence files (required when EVIDENCE_STORE=s3); it must exist",
			func(c *Config, v string) error { c.S3.Bucket = v; return nil }},
		{"S3_PREFIX", "evidence/", "put before every object name in the bucket",
			func(c *Config, v string) error {
				if strings.HasPrefix(v, "/") {
					return errors.New("must not start with /")
				}
				c.S3.Prefix = v
				return nil
			}},
		{"S3_ENDPOINT", "https://s3.amazonaws.com", "URL of the S3 service, e.g. https://s3.eu-west-1.amazonaws.com or http://minio:9000 (http turns TLS off)",
			func(c *Config, v string) error {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
					return errors.New("must be an http:// or https:// URL with a host and no path")
				}
				c.S3.Endpoint = v
				return nil
			}},
		{"S3_REGION", "", "region of the bucket, e.g. eu-west-1; empty: asked of AWS, or the server's default",
			func(c *Config, v string) error { c.S3.Region = v; return nil }},
		{"S3_PATH_STYLE", "false", "address the bucket in the URL path rather than the host name (true for MinIO and most self-hosted servers)",
			func(c *Config, v string) (err error) { c.S3.PathStyle, err = strconv.ParseBool(v); return err }},
		{"AWS_ACCESS_KEY_ID", "", "access key of the S3 store; unset: the instance's IAM role (EC2, ECS, EKS)",
			func(c *Config, v string) error { c.S3.AccessKeyID = v; return nil }},
		{"AWS_SECRET_ACCESS_KEY", "", "secret key that goes with AWS_ACCESS_KEY_ID",
			func(c *Config, v string) error { c.S3.SecretAccessKey = v; return nil }},
		{"AWS_SESSION_TOKEN", "", "session token of temporary credentials, if any",
			func(c *Config, v string) error { c.S3.SessionToken = v; return nil }},
		{"DEFAULT_LOCALE", "en", "language for visitors whose browser asks for none we have: en or fr",
			func(c *Config, v string) error {
				if v != "en" && v != "fr" {
					return errors.New("must be en or fr")
				}
				c.DefaultLocale = v
				return nil
			}},
		{"LOG_LEVEL", "info", "debug, info, warn or error",
			func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
		{"LOG_FORMAT", "text", "text or json",
			func(c *Config, v string) error {
				if v != "text" && v != "json" {
					return errors.New("must be text or json")
				}
				c.LogFormat = v
				return nil
			}},
		{"TRUSTED_PROXIES", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed; empty trusts none",
			func(c *Config, v string) error {
				c.TrustedProxies = nil
				for _, s := range strings.Split(v, ",") {
					if s = strings.TrimSpace(s); s == "" {
						continue
					}
					p, err := netip.ParsePrefix(s)
					if err != nil {
						return fmt.Errorf("%q is not a CIDR", s)
					}
					c.TrustedProxies = append(c.TrustedProxies, p)
				}
				return nil
			}},
		{"MIGRATE_ON_START", "true", "apply pending migrations before serving",
			func(c *Config, v string) (err error) { c.MigrateOnStart, err = strconv.ParseBool(v); return err }},
		{"REQUEST_TIMEOUT", "30s", "deadline of every request",
			func(c *Config, v string) (err error) { c.RequestTimeout, err = positiveDuration(v); return err }},
		{"SHUTDOWN_TIMEOUT", "30s", "how long in-flight requests may run after SIGTERM",
			func(c *Config, v string) (err error) { c.ShutdownTimeout, err = positiveDuration(v); return err }},
		{"BODY_IDLE_TIMEOUT", "30s", "a request body that sends nothing for this long is cut off (a slow upload goes on while bytes arrive)",
			func(c *Config, v string) (err error) { c.BodyIdleTimeout, err = positiveDuration(v); return err }},
		{"DRAIN_DELAY", "0s", "after SIGTERM, how long /readyz answers 503 while still serving, so a load balancer stops sending traffic first (5s behind one)",
			func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 0 {
					return errors.New("must be a duration such as 5s, or 0s")
				}
				c.DrainDelay = d
				return nil
			}},
		{"DB_MAX_CONNS", "20", "maximum open database connections",
			func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 2 {
					return errors.New("must be a whole number of at least 2")
				}
				c.DBMaxConns = n
				return nil
			}},
		{"METRICS_TOKEN", "", "bearer token (at least 32 characters) a Prometheus scraper sends to read /metrics; empty: only signed-in holders of metrics.read may",
			func(c *Config, v string) error {
				// Short tokens are guessable; a token with spaces could not
				// be sent in an Authorization header as configured.
				if len(v) < 32 || strings.ContainsFunc(v, unicode.IsSpace) {
					return errors.New("must be at least 32 characters without spaces (generate one with: head -c 32 /dev/urandom | base64)")
				}
				c.MetricsToken = v
				return nil
			}},
		{"OIDC_KEY", "oidc", "short name of the OpenID Connect provider (letters, digits, - and _), recorded with its sessions and identities as oidc:<key>",
			func(c *Config, v string) error {
				if len(v) > 40 || strings.ContainsFunc(v, func(r rune) bool {
					return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
				}) {
					return errors.New("must be at most 40 letters, digits, - or _")
				}
				c.OIDC.Key = v
				return nil
			}},
		{"OIDC_ISSUER", "", "https issuer URL of the OpenID Connect provider (http only on loopback; its discovery document is at <issuer>/.well-known/openid-configuration); unset: no single sign-on",
			func(c *Config, v string) error {
				u, err := url.Parse(v)
				if err != nil || u.Host == "" || !SecureURL(u) {
					return errors.New("must be an absolute https:// URL (http:// only on loopback: localhost, 127.0.0.1, ::1)")
				}
				c.OIDC.Issuer = v
				return nil
			}},
		{"OIDC_CLIENT_ID", "", "client id Violet is registered with at the provider (required with OIDC_ISSUER)",
			func(c *Config, v string) error { c.OIDC.ClientID = v; return nil }},
		{"OIDC_CLIENT_SECRET", "", "client secret that goes with OIDC_CLIENT_ID (required with OIDC_ISSUER)",
			func(c *Config, v string) error { c.OIDC.ClientSecret = v; return nil }},
		{"OIDC_NAME", "Single sign-on", "label of the provider's button on the sign-in page",
			func(c *Config, v string) error { c.OIDC.Name = v; return nil }},
		{"OIDC_SCOPES", "openid email profile", "scopes asked for, separated by spaces; openid is always asked",
			func(c *Config, v string) error {
				c.OIDC.Scopes = []string{"openid"}
				for _, s := range strings.Fields(v) {
					if !slices.Contains(c.OIDC.Scopes, s) {
						c.OIDC.Scopes = append(c.OIDC.Scopes, s)
					}
				}
				return nil
			}},
		{"OIDC_REDIRECT_URL", "", "redirect URI registered at the provider; unset: BASE_URL/login/oidc/callback",
			func(c *Config, v string) error {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("must be an absolute http:// or https:// URL")
				}
				c.OIDC.RedirectURL = v
				return nil
			}},
		{"OIDC_GROUPS_CLAIM", "groups", "claim of the ID token (or user info) listing the person's groups at the provider",
			func(c *Config, v string) error { c.OIDC.GroupsClaim = v; return nil }},
		{"OIDC_GROUP_MAP", "", "claim value=Violet group;… e.g. violet-admins=admin;soc=blue: each mapped group follows the claim at every sign-in, others are never touched",
			func(c *Config, v string) error {
				m, err := pairs(v)
				if err != nil {
					return err
				}
				c.OIDC.GroupMap = map[string]string{}
				for k, g := range m {
					if g == "" {
						return fmt.Errorf("%q names no Violet group", k)
					}
					c.OIDC.GroupMap[k] = g
				}
				return nil
			}},
		{"OIDC_ALLOWED_DOMAINS", "", "domain=group,group;… e.g. example.org=red,observer: verified e-mails of these domains get an account at their first sign-in, in those groups",
			func(c *Config, v string) error {
				m, err := pairs(v)
				if err != nil {
					return err
				}
				c.OIDC.AllowedDomains = map[string][]string{}
				for d, gs := range m {
					d = strings.ToLower(d)
					if strings.ContainsAny(d, "@ ") || !strings.Contains(d, ".") {
						return fmt.Errorf("%q is not an e-mail domain", d)
					}
					var groups []string
					for _, g := range strings.Split(gs, ",") {
						if g = strings.TrimSpace(g); g != "" {
							groups = append(groups, g)
						}
					}
					c.OIDC.AllowedDomains[d] = groups
				}
				return nil
			}},
		{"SAML_SP_CERT_FILE", "", "PEM certificate of Violet as a SAML service provider (with SAML_SP_KEY_FILE): published in its metadata; unset: requests unsigned, no encrypted assertions",
			func(c *Config, v string) error { c.SAMLSP.CertFile = v; return nil }},
		{"SAML_SP_KEY_FILE", "", "PEM private key (RSA) that goes with SAML_SP_CERT_FILE: signs authentication requests, decrypts encrypted assertions",
			func(c *Config, v string) error { c.SAMLSP.KeyFile = v; return nil }},
	}
}

// pairs reads "key=value;key=value" (spaces around either trimmed); a
// key given twice is refused, as one of the two would be silently lost.
func pairs(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range strings.Split(v, ";") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, val, ok := strings.Cut(p, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", p)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%q is given twice", k)
		}
		out[k] = val
	}
	return out, nil
}

// ServeRequired lists the variables `violet serve` cannot start without.
// EVIDENCE_DIR stands for the evidence store (see Load).
func ServeRequired() []string { return []string{"DATABASE_URL", "SESSION_KEY", "EVIDENCE_DIR"} }

// Load parses every variable (defaults for unset ones) and fails, naming
// each problem, when a value is malformed or one of required is unset.
// Requiring EVIDENCE_DIR requires the evidence store: EVIDENCE_DIR with
// EVIDENCE_STORE=dir, S3_BUCKET with EVIDENCE_STORE=s3 (the directory is
// then not used).
func Load(getenv func(string) string, required ...string) (Config, error) {
	var (
		c    Config
		errs []error
	)
	if slices.Contains(required, "EVIDENCE_DIR") && getenv("EVIDENCE_STORE") == "s3" {
		required = slices.DeleteFunc(slices.Clone(required), func(n string) bool { return n == "EVIDENCE_DIR" })
		required = append(required, "S3_BUCKET")
	}
	for _, v := range variables() {
		val := getenv(v.name)
		if val == "" {
			if slices.Contains(required, v.name) {
				errs = append(errs, fmt.Errorf("%s is not set: %s", v.name, v.help))
				continue
			}
			if val = v.def; val == "" {
				continue
			}
		}
		if err := v.parse(&c, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.name, err))
		}
	}
	if c.S3.AccessKeyID != "" && c.S3.SecretAccessKey == "" {
		errs = append(errs, errors.New("AWS_SECRET_ACCESS_KEY is not set: AWS_ACCESS_KEY_ID needs its secret key"))
	}
	errs = append(errs, c.checkOIDC()...)
	if (c.SAMLSP.CertFile == "") != (c.SAMLSP.KeyFile == "") {
		errs = append(errs, errors.New("SAML_SP_CERT_FILE and SAML_SP_KEY_FILE go together: set both or neither"))
	}
	return c, errors.Join(errs...)
}

// SecureURL reports whether u may carry what single sign-on trusts (the
// issuer's keys and tokens, where signing out sends the browser): https,
// or http to this machine's loopback only, where nothing travels on a
// network (a provider run next to Violet, tests).
func SecureURL(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		h := u.Hostname()
		if strings.EqualFold(h, "localhost") {
			return true
		}
		ip, err := netip.ParseAddr(h)
		return err == nil && ip.IsLoopback()
	}
	return false
}

// checkOIDC completes and checks the provider's settings together: with
// OIDC_ISSUER set, the client's credentials are required and the redirect
// URL defaults to this instance's callback.
func (c *Config) checkOIDC() []error {
	if !c.OIDC.Enabled() {
		return nil
	}
	var errs []error
	if c.OIDC.ClientID == "" {
		errs = append(errs, errors.New("OIDC_CLIENT_ID is not set: OIDC_ISSUER needs the client id Violet is registered with"))
	}
	if c.OIDC.ClientSecret == "" {
		errs = append(errs, errors.New("OIDC_CLIENT_SECRET is not set: OIDC_ISSUER needs the client's secret"))
	}
	if c.OIDC.RedirectURL == "" {
		if c.BaseURL == nil {
			errs = append(errs, errors.New("OIDC_REDIRECT_URL is not set and there is no BASE_URL to derive it from"))
		} else {
			c.OIDC.RedirectURL = strings.TrimRight(c.BaseURL.String(), "/") + paths.OIDCCallback
		}
	}
	return errs
}

// Usage writes the table of variables with their defaults.
func Usage(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range variables() {
		def := v.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.name, def, v.help)
	}
	tw.Flush()
}

func decodeKey(v string) ([]byte, error) {
	for _, dec := range []func(string) ([]byte, error){
		hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
	} {
		if b, err := dec(v); err == nil {
			if len(b) < 32 {
				return nil, errors.New("must decode to at least 32 bytes")
			}
			return b, nil
		}
	}
	return nil, errors.New("must be hex or base64 (generate one with: head -c 32 /dev/urandom | base64)")
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("must be a positive duration such as 30s")
	}
	return d, nil
}
