package config_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"violet/internal/config"
)

// allVariables is every variable Violet reads, with the default Usage must
// show ("-" for none). A variable added to config.go must be added here too,
// so that its default and its validation get a test.
var allVariables = []struct{ name, def string }{
	{"DATABASE_URL", "-"},
	{"LISTEN_ADDR", ":8080"},
	{"BASE_URL", "http://localhost:8080"},
	{"SESSION_KEY", "-"},
	{"EVIDENCE_DIR", "-"},
	{"DEFAULT_LOCALE", "en"},
	{"LOG_LEVEL", "info"},
	{"LOG_FORMAT", "text"},
	{"TRUSTED_PROXIES", "-"},
	{"MIGRATE_ON_START", "true"},
	{"REQUEST_TIMEOUT", "30s"},
	{"SHUTDOWN_TIMEOUT", "30s"},
	{"DRAIN_DELAY", "0s"},
	{"BODY_IDLE_TIMEOUT", "30s"},
	{"DB_MAX_CONNS", "20"},
	{"METRICS_TOKEN", "-"},
	{"EVIDENCE_STORE", "dir"},
	{"S3_BUCKET", "-"},
	{"S3_PREFIX", "evidence/"},
	{"S3_ENDPOINT", "https://s3.amazonaws.com"},
	{"S3_REGION", "-"},
	{"S3_PATH_STYLE", "false"},
	{"AWS_ACCESS_KEY_ID", "-"},
	{"AWS_SECRET_ACCESS_KEY", "-"},
	{"AWS_SESSION_TOKEN", "-"},
	{"OIDC_KEY", "oidc"},
	{"OIDC_ISSUER", "-"},
	{"OIDC_CLIENT_ID", "-"},
	{"OIDC_CLIENT_SECRET", "-"},
	{"OIDC_NAME", "Single sign-on"},
	{"OIDC_SCOPES", "openid email profile"},
	{"OIDC_REDIRECT_URL", "-"},
	{"OIDC_GROUPS_CLAIM", "groups"},
	{"OIDC_GROUP_MAP", "-"},
	{"OIDC_ALLOWED_DOMAINS", "-"},
	{"SAML_SP_CERT_FILE", "-"},
	{"SAML_SP_KEY_FILE", "-"},
}

var (
	key32       = bytes.Repeat([]byte{0xA5}, 32)
	hexKey      = hex.EncodeToString(key32)
	base64Key   = base64.StdEncoding.EncodeToString(key32)
	validServe  = map[string]string{"DATABASE_URL": "postgres://violet@db:5432/violet?sslmode=disable", "SESSION_KEY": hexKey, "EVIDENCE_DIR": "/var/lib/violet/evidence"}
	serveNeeded = config.ServeRequired()
)

// env returns a getenv over base with overrides applied; an override to ""
// unsets the variable.
func env(base map[string]string, overrides ...string) func(string) string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		m[overrides[i]] = overrides[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestServeRequired(t *testing.T) {
	want := []string{"DATABASE_URL", "SESSION_KEY", "EVIDENCE_DIR"}
	got := slices.Clone(config.ServeRequired())
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ServeRequired() = %v, want %v", got, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load with nothing set and nothing required: %v", err)
	}
	checks := []struct {
		name string
		ok   bool
		got  any
	}{
		{"DATABASE_URL unset", c.DatabaseURL == "", c.DatabaseURL},
		{"LISTEN_ADDR :8080", c.ListenAddr == ":8080", c.ListenAddr},
		{"BASE_URL http://localhost:8080", c.BaseURL != nil && c.BaseURL.String() == "http://localhost:8080", c.BaseURL},
		{"SESSION_KEY unset", c.SessionKey == nil, c.SessionKey},
		{"EVIDENCE_DIR unset", c.EvidenceDir == "", c.EvidenceDir},
		{"DEFAULT_LOCALE en", c.DefaultLocale == "en", c.DefaultLocale},
		{"LOG_LEVEL info", c.LogLevel == slog.LevelInfo, c.LogLevel},
		{"LOG_FORMAT text", c.LogFormat == "text", c.LogFormat},
		{"TRUSTED_PROXIES none", len(c.TrustedProxies) == 0, c.TrustedProxies},
		{"MIGRATE_ON_START true", c.MigrateOnStart, c.MigrateOnStart},
		{"REQUEST_TIMEOUT 30s", c.RequestTimeout == 30*time.Second, c.RequestTimeout},
		{"SHUTDOWN_TIMEOUT 30s", c.ShutdownTimeout == 30*time.Second, c.ShutdownTimeout},
		{"DRAIN_DELAY 0s", c.DrainDelay == 0, c.DrainDelay},
		{"BODY_IDLE_TIMEOUT 30s", c.BodyIdleTimeout == 30*time.Second, c.BodyIdleTimeout},
		{"DB_MAX_CONNS 20", c.DBMaxConns == 20, c.DBMaxConns},
		{"METRICS_TOKEN unset", c.MetricsToken == "", c.MetricsToken},
		{"EVIDENCE_STORE dir", c.EvidenceStore == "dir", c.EvidenceStore},
		{"S3_PREFIX evidence/", c.S3.Prefix == "evidence/", c.S3.Prefix},
		{"S3_ENDPOINT AWS", c.S3.Endpoint == "https://s3.amazonaws.com", c.S3.Endpoint},
		{"S3_PATH_STYLE false", !c.S3.PathStyle, c.S3.PathStyle},
		{"S3_BUCKET unset", c.S3.Bucket == "", c.S3.Bucket},
		{"not Secure over http", !c.Secure(), c.Secure()},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if !ch.ok {
				t.Errorf("got %v", ch.got)
			}
		})
	}
}

func TestLoadValidServeConfig(t *testing.T) {
	c, err := config.Load(env(validServe), serveNeeded...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.DatabaseURL != validServe["DATABASE_URL"] {
		t.Errorf("DatabaseURL = %q", c.DatabaseURL)
	}
	if !bytes.Equal(c.SessionKey, key32) {
		t.Errorf("SessionKey = %x, want %x", c.SessionKey, key32)
	}
	if c.EvidenceDir != validServe["EVIDENCE_DIR"] {
		t.Errorf("EvidenceDir = %q", c.EvidenceDir)
	}
}

func TestLoadRequiredMissing(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		missing []string
	}{
		{"nothing set", nil, []string{"DATABASE_URL", "SESSION_KEY", "EVIDENCE_DIR"}},
		{"only DATABASE_URL set", map[string]string{"DATABASE_URL": validServe["DATABASE_URL"]}, []string{"SESSION_KEY", "EVIDENCE_DIR"}},
		{"only EVIDENCE_DIR missing", map[string]string{"DATABASE_URL": validServe["DATABASE_URL"], "SESSION_KEY": hexKey}, []string{"EVIDENCE_DIR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env(tt.env), serveNeeded...)
			if err == nil {
				t.Fatal("Load succeeded, want an error naming the missing variables")
			}
			msg := err.Error()
			for _, name := range tt.missing {
				line := lineNaming(msg, name)
				if line == "" {
					t.Errorf("error does not name %s:\n%s", name, msg)
					continue
				}
				if !strings.Contains(line, "is not set") {
					t.Errorf("%s line does not say it is not set: %q", name, line)
				}
				// The hint is the variable's help text, after the colon.
				if _, hint, ok := strings.Cut(line, "is not set:"); !ok || len(strings.TrimSpace(hint)) < 10 {
					t.Errorf("%s line has no hint: %q", name, line)
				}
			}
			for _, name := range serveNeeded {
				if !slices.Contains(tt.missing, name) && lineNaming(msg, name) != "" {
					t.Errorf("error names %s, which is set:\n%s", name, msg)
				}
			}
			if got := len(strings.Split(msg, "\n")); got != len(tt.missing) {
				t.Errorf("error has %d lines, want one per missing variable (%d):\n%s", got, len(tt.missing), msg)
			}
		})
	}
	t.Run("not required means not reported", func(t *testing.T) {
		_, err := config.Load(env(nil), "DATABASE_URL")
		if err == nil || lineNaming(err.Error(), "DATABASE_URL") == "" || lineNaming(err.Error(), "SESSION_KEY") != "" {
			t.Errorf("Load(required DATABASE_URL only) = %v, want an error naming DATABASE_URL alone", err)
		}
	})
}

// lineNaming returns the line of msg that starts with name, or "".
func lineNaming(msg, name string) string {
	for _, l := range strings.Split(msg, "\n") {
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+":") {
			return l
		}
	}
	return ""
}

func TestLoadRejectsMalformed(t *testing.T) {
	tests := []struct {
		name, variable, value string
	}{
		{"DATABASE_URL mysql scheme", "DATABASE_URL", "mysql://violet@db/violet"},
		{"DATABASE_URL not a URL", "DATABASE_URL", "host=db user=violet"},
		{"BASE_URL relative", "BASE_URL", "/violet"},
		{"BASE_URL without scheme", "BASE_URL", "violet.example.com"},
		{"BASE_URL ftp", "BASE_URL", "ftp://violet.example.com"},
		{"SESSION_KEY too short hex", "SESSION_KEY", hex.EncodeToString(key32[:31])},
		{"SESSION_KEY too short base64", "SESSION_KEY", base64.StdEncoding.EncodeToString(key32[:16])},
		{"SESSION_KEY neither hex nor base64", "SESSION_KEY", strings.Repeat("not a key! ", 8)},
		{"DEFAULT_LOCALE de", "DEFAULT_LOCALE", "de"},
		{"LOG_LEVEL bogus", "LOG_LEVEL", "bogus"},
		{"LOG_FORMAT xml", "LOG_FORMAT", "xml"},
		{"TRUSTED_PROXIES not a CIDR", "TRUSTED_PROXIES", "10.0.0.0/8, proxy.example.com"},
		{"TRUSTED_PROXIES bare address", "TRUSTED_PROXIES", "10.0.0.1"},
		{"MIGRATE_ON_START maybe", "MIGRATE_ON_START", "maybe"},
		{"DB_MAX_CONNS 1", "DB_MAX_CONNS", "1"},
		{"DB_MAX_CONNS not a number", "DB_MAX_CONNS", "many"},
		{"REQUEST_TIMEOUT -1s", "REQUEST_TIMEOUT", "-1s"},
		{"REQUEST_TIMEOUT 0s", "REQUEST_TIMEOUT", "0s"},
		{"REQUEST_TIMEOUT without unit", "REQUEST_TIMEOUT", "30"},
		{"SHUTDOWN_TIMEOUT -1s", "SHUTDOWN_TIMEOUT", "-1s"},
		{"DRAIN_DELAY -1s", "DRAIN_DELAY", "-1s"},
		{"BODY_IDLE_TIMEOUT 0s", "BODY_IDLE_TIMEOUT", "0s"},
		{"METRICS_TOKEN too short", "METRICS_TOKEN", strings.Repeat("x", 31)},
		{"METRICS_TOKEN with a space", "METRICS_TOKEN", strings.Repeat("x", 20) + " " + strings.Repeat("x", 20)},
		{"EVIDENCE_STORE nfs", "EVIDENCE_STORE", "nfs"},
		{"S3_ENDPOINT without scheme", "S3_ENDPOINT", "minio:9000"},
		{"S3_ENDPOINT with a path", "S3_ENDPOINT", "http://minio:9000/bucket"},
		{"S3_PREFIX absolute", "S3_PREFIX", "/evidence/"},
		{"S3_PATH_STYLE maybe", "S3_PATH_STYLE", "maybe"},
		{"OIDC_KEY with a colon", "OIDC_KEY", "corp:eu"},
		{"OIDC_ISSUER relative", "OIDC_ISSUER", "/realms/violet"},
		{"OIDC_ISSUER http on the network", "OIDC_ISSUER", "http://idp.example.org/realms/violet"},
		{"OIDC_ISSUER http to a look-alike of localhost", "OIDC_ISSUER", "http://localhost.example.org"},
		{"OIDC_ISSUER ftp", "OIDC_ISSUER", "ftp://idp.example.org"},
		{"OIDC_REDIRECT_URL relative", "OIDC_REDIRECT_URL", "/login/oidc/callback"},
		{"OIDC_GROUP_MAP without =", "OIDC_GROUP_MAP", "admins"},
		{"OIDC_GROUP_MAP without a group", "OIDC_GROUP_MAP", "admins="},
		{"OIDC_GROUP_MAP twice", "OIDC_GROUP_MAP", "a=admin;a=observer"},
		{"OIDC_ALLOWED_DOMAINS an address", "OIDC_ALLOWED_DOMAINS", "bob@example.org=redteam"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env(validServe, tt.variable, tt.value), serveNeeded...)
			if err == nil {
				t.Fatalf("Load accepted %s=%q", tt.variable, tt.value)
			}
			if lineNaming(err.Error(), tt.variable) == "" {
				t.Errorf("error does not name %s:\n%v", tt.variable, err)
			}
			for _, other := range allVariables {
				if other.name != tt.variable && lineNaming(err.Error(), other.name) != "" {
					t.Errorf("error also names %s, which is valid:\n%v", other.name, err)
				}
			}
		})
	}
	t.Run("every problem reported at once", func(t *testing.T) {
		_, err := config.Load(env(validServe, "DEFAULT_LOCALE", "de", "LOG_LEVEL", "bogus", "DB_MAX_CONNS", "1"), serveNeeded...)
		if err == nil {
			t.Fatal("Load accepted three malformed values")
		}
		for _, name := range []string{"DEFAULT_LOCALE", "LOG_LEVEL", "DB_MAX_CONNS"} {
			if lineNaming(err.Error(), name) == "" {
				t.Errorf("error does not name %s:\n%v", name, err)
			}
		}
	})
}

func TestLoadAccepts(t *testing.T) {
	tests := []struct {
		name     string
		variable string
		value    string
		check    func(config.Config) bool
	}{
		{"SESSION_KEY hex", "SESSION_KEY", hexKey,
			func(c config.Config) bool { return bytes.Equal(c.SessionKey, key32) }},
		{"SESSION_KEY base64", "SESSION_KEY", base64Key,
			func(c config.Config) bool { return bytes.Equal(c.SessionKey, key32) }},
		{"SESSION_KEY base64url unpadded", "SESSION_KEY", base64.RawURLEncoding.EncodeToString(key32),
			func(c config.Config) bool { return bytes.Equal(c.SessionKey, key32) }},
		{"SESSION_KEY longer than 32 bytes", "SESSION_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64)),
			func(c config.Config) bool { return len(c.SessionKey) == 64 }},
		{"DATABASE_URL postgresql scheme", "DATABASE_URL", "postgresql://violet@db/violet",
			func(c config.Config) bool { return c.DatabaseURL == "postgresql://violet@db/violet" }},
		{"BASE_URL trailing slash trimmed", "BASE_URL", "https://violet.example.com/",
			func(c config.Config) bool { return c.BaseURL.String() == "https://violet.example.com" }},
		{"DEFAULT_LOCALE fr", "DEFAULT_LOCALE", "fr",
			func(c config.Config) bool { return c.DefaultLocale == "fr" }},
		{"LOG_LEVEL warn", "LOG_LEVEL", "warn",
			func(c config.Config) bool { return c.LogLevel == slog.LevelWarn }},
		{"LOG_LEVEL debug", "LOG_LEVEL", "debug",
			func(c config.Config) bool { return c.LogLevel == slog.LevelDebug }},
		{"LOG_FORMAT json", "LOG_FORMAT", "json",
			func(c config.Config) bool { return c.LogFormat == "json" }},
		{"TRUSTED_PROXIES parsed", "TRUSTED_PROXIES", " 10.0.0.0/8, ,192.168.1.0/24,fd00::/8 ",
			func(c config.Config) bool {
				return slices.Equal(c.TrustedProxies, []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"),
					netip.MustParsePrefix("192.168.1.0/24"),
					netip.MustParsePrefix("fd00::/8"),
				})
			}},
		{"MIGRATE_ON_START false", "MIGRATE_ON_START", "false",
			func(c config.Config) bool { return !c.MigrateOnStart }},
		{"REQUEST_TIMEOUT 1m30s", "REQUEST_TIMEOUT", "1m30s",
			func(c config.Config) bool { return c.RequestTimeout == 90*time.Second }},
		{"SHUTDOWN_TIMEOUT 5s", "SHUTDOWN_TIMEOUT", "5s",
			func(c config.Config) bool { return c.ShutdownTimeout == 5*time.Second }},
		{"DRAIN_DELAY 5s", "DRAIN_DELAY", "5s",
			func(c config.Config) bool { return c.DrainDelay == 5*time.Second }},
		{"BODY_IDLE_TIMEOUT 2m", "BODY_IDLE_TIMEOUT", "2m",
			func(c config.Config) bool { return c.BodyIdleTimeout == 2*time.Minute }},
		{"DB_MAX_CONNS 2", "DB_MAX_CONNS", "2",
			func(c config.Config) bool { return c.DBMaxConns == 2 }},
		{"LISTEN_ADDR", "LISTEN_ADDR", "127.0.0.1:9000",
			func(c config.Config) bool { return c.ListenAddr == "127.0.0.1:9000" }},
		{"METRICS_TOKEN 32 characters", "METRICS_TOKEN", base64Key[:32],
			func(c config.Config) bool { return c.MetricsToken == base64Key[:32] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(env(validServe, tt.variable, tt.value), serveNeeded...)
			if err != nil {
				t.Fatalf("Load rejected %s=%q: %v", tt.variable, tt.value, err)
			}
			if !tt.check(c) {
				t.Errorf("%s=%q parsed into %+v", tt.variable, tt.value, c)
			}
		})
	}
}

func TestSecure(t *testing.T) {
	tests := []struct {
		name    string
		baseURL string
		want    bool
	}{
		{"https", "https://violet.example.com", true},
		{"https with path", "https://example.com/violet", true},
		{"http", "http://violet.example.com", false},
		{"default", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(env(nil, "BASE_URL", tt.baseURL))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Secure(); got != tt.want {
				t.Errorf("Secure() with BASE_URL=%q = %v, want %v", tt.baseURL, got, tt.want)
			}
		})
	}
	t.Run("zero Config", func(t *testing.T) {
		if (config.Config{}).Secure() {
			t.Error("zero Config is Secure")
		}
	})
}

func TestUsage(t *testing.T) {
	var buf bytes.Buffer
	config.Usage(&buf)
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "VARIABLE") {
		t.Fatalf("Usage has no header line:\n%s", buf.String())
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Errorf("Usage row without name, default and meaning: %q", l)
			continue
		}
		rows[f[0]] = f
	}
	for _, v := range allVariables {
		t.Run(v.name, func(t *testing.T) {
			f, ok := rows[v.name]
			if !ok {
				t.Fatalf("Usage does not list %s:\n%s", v.name, buf.String())
			}
			// A default may hold spaces (OIDC_SCOPES): the row goes on
			// with the meaning after it.
			if rest := strings.Join(f[1:], " "); !strings.HasPrefix(rest, v.def+" ") {
				t.Errorf("Usage shows %q for %s, want the default %q first", rest, v.name, v.def)
			}
		})
	}
	if len(rows) != len(allVariables) {
		t.Errorf("Usage lists %d variables, this test knows %d: add the new ones to allVariables", len(rows), len(allVariables))
	}
}

// TestLoadEvidenceStore checks what the evidence store requires: the
// directory for dir, the bucket (and not the directory) for s3.
func TestLoadEvidenceStore(t *testing.T) {
	s3 := env(validServe, "EVIDENCE_DIR", "", "EVIDENCE_STORE", "s3", "S3_BUCKET", "violet",
		"S3_ENDPOINT", "http://minio:9000", "S3_PATH_STYLE", "true", "S3_REGION", "eu-west-1",
		"AWS_ACCESS_KEY_ID", "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY", "secret", "AWS_SESSION_TOKEN", "token")
	c, err := config.Load(s3, serveNeeded...)
	if err != nil {
		t.Fatalf("s3 without EVIDENCE_DIR: %v", err)
	}
	want := config.S3{Bucket: "violet", Prefix: "evidence/", Endpoint: "http://minio:9000", Region: "eu-west-1", PathStyle: true,
		AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token"}
	if c.EvidenceStore != "s3" || c.S3 != want {
		t.Errorf("Load = %q %+v, want s3 %+v", c.EvidenceStore, c.S3, want)
	}
	for _, tt := range []struct {
		name, variable string
		getenv         func(string) string
	}{
		{"s3 without a bucket", "S3_BUCKET", env(validServe, "EVIDENCE_STORE", "s3")},
		{"dir without a directory", "EVIDENCE_DIR", env(validServe, "EVIDENCE_DIR", "", "S3_BUCKET", "violet")},
		{"an access key without its secret", "AWS_SECRET_ACCESS_KEY", env(validServe, "AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(tt.getenv, serveNeeded...)
			if err == nil || lineNaming(err.Error(), tt.variable) == "" {
				t.Fatalf("Load = %v, want an error naming %s", err, tt.variable)
			}
			if got := len(strings.Split(err.Error(), "\n")); got != 1 {
				t.Errorf("error has %d lines, want 1:\n%v", got, err)
			}
		})
	}
	if _, err := config.Load(env(nil, "EVIDENCE_STORE", "s3"), "DATABASE_URL"); lineNaming(err.Error(), "S3_BUCKET") != "" {
		t.Errorf("a command that needs no evidence store asks for S3_BUCKET: %v", err)
	}
}

// The SAML service provider's key pair: both files or neither.
func TestLoadSAMLSP(t *testing.T) {
	c, err := config.Load(env(validServe, "SAML_SP_CERT_FILE", "/etc/violet/sp.crt", "SAML_SP_KEY_FILE", "/etc/violet/sp.key"), serveNeeded...)
	if err != nil || c.SAMLSP.CertFile != "/etc/violet/sp.crt" || c.SAMLSP.KeyFile != "/etc/violet/sp.key" {
		t.Fatalf("both: %+v, %v", c.SAMLSP, err)
	}
	for _, name := range []string{"SAML_SP_CERT_FILE", "SAML_SP_KEY_FILE"} {
		if _, err := config.Load(env(validServe, name, "/etc/violet/sp.pem"), serveNeeded...); err == nil ||
			!strings.Contains(err.Error(), "set both or neither") {
			t.Errorf("%s alone: %v", name, err)
		}
	}
}

// Single sign-on is off without OIDC_ISSUER; with it, the client's
// credentials are required, the redirect URL defaults to this instance's
// callback and the maps are read.
func TestLoadOIDC(t *testing.T) {
	c, err := config.Load(env(validServe), serveNeeded...)
	if err != nil || c.OIDC.Enabled() {
		t.Fatalf("without OIDC_ISSUER: enabled %v, err %v", c.OIDC.Enabled(), err)
	}
	_, err = config.Load(env(validServe, "OIDC_ISSUER", "https://idp.example.org/realms/violet"), serveNeeded...)
	if err == nil || lineNaming(err.Error(), "OIDC_CLIENT_ID") == "" || lineNaming(err.Error(), "OIDC_CLIENT_SECRET") == "" {
		t.Errorf("issuer without credentials: %v", err)
	}
	c, err = config.Load(env(validServe, "BASE_URL", "https://violet.example.org/",
		"OIDC_ISSUER", "https://idp.example.org/realms/violet", "OIDC_CLIENT_ID", "violet", "OIDC_CLIENT_SECRET", "s3cret",
		"OIDC_SCOPES", "email groups", "OIDC_GROUP_MAP", " violet-admins = admin ; soc=blueteam;",
		"OIDC_ALLOWED_DOMAINS", "Example.org=redteam, observer;partner.test="), serveNeeded...)
	if err != nil {
		t.Fatal(err)
	}
	o := c.OIDC
	if !o.Enabled() || o.Key != "oidc" || o.Name != "Single sign-on" || o.GroupsClaim != "groups" ||
		o.RedirectURL != "https://violet.example.org/login/oidc/callback" ||
		strings.Join(o.Scopes, " ") != "openid email groups" ||
		len(o.GroupMap) != 2 || o.GroupMap["violet-admins"] != "admin" || o.GroupMap["soc"] != "blueteam" ||
		strings.Join(o.AllowedDomains["example.org"], ",") != "redteam,observer" ||
		len(o.AllowedDomains["partner.test"]) != 0 || len(o.AllowedDomains) != 2 {
		t.Errorf("OIDC = %+v", o)
	}
}

// The provider's URLs: https, or http to the loopback only (a provider
// next to Violet): tokens and keys never cross a network in the clear.
func TestSecureURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://idp.example.org": true, "http://localhost:8080": true, "http://LOCALHOST": true,
		"http://127.0.0.1:5556/dex": true, "http://[::1]:9000": true, "http://idp.example.org": false,
		"http://10.0.0.1": false, "http://localhost.example.org": false, "https://": false, "ftp://127.0.0.1": false,
		"javascript://localhost": false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := config.SecureURL(u); got != want {
			t.Errorf("SecureURL(%s) = %v", raw, got)
		}
	}
	c, err := config.Load(env(validServe, "OIDC_ISSUER", "http://127.0.0.1:5556/dex", "OIDC_CLIENT_ID", "violet",
		"OIDC_CLIENT_SECRET", "s3cret"), serveNeeded...)
	if err != nil || c.OIDC.Issuer != "http://127.0.0.1:5556/dex" {
		t.Errorf("loopback http issuer: %q, %v", c.OIDC.Issuer, err)
	}
}
