package handlers_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"violet/internal/config"
	"violet/internal/testkit/apptest"
)

// TestSecurityHeaders: every kind of response carries the security headers
// (securityHeaders), including error pages and static files.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	css := regexp.MustCompile(`/static/css/app\.[0-9a-f]+\.css`).FindString(app.Get("/login").Body.String())
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for _, path := range []string{"/", "/login", "/diag", "/api/v1/diag/db", "/no-such-page", css} {
		t.Run(path, func(t *testing.T) {
			w := app.Get(path)
			for k, v := range want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if w.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if w.Header().Get("Strict-Transport-Security") != "" {
				t.Error("HSTS sent over plain http")
			}
		})
	}
	t.Run("pages are not cached", func(t *testing.T) {
		if got := app.Get("/login").Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
	})
	t.Run("the page has no inline script or style", func(t *testing.T) {
		body := app.Get("/login").Body.String()
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style="|\son[a-z]+=`).MatchString(body) {
			t.Errorf("inline script, style or handler in the page:\n%s", body)
		}
	})
	t.Run("htmx is configured safely", func(t *testing.T) {
		d := doc(t, app.Get("/login"))
		cfg, _ := d.Find(`meta[name="htmx-config"]`).Attr("content")
		for _, s := range []string{`"allowEval":false`, `"allowScriptTags":false`, `"includeIndicatorStyles":false`, `"historyCacheSize":0`, `"selfRequestsOnly":true`} {
			if !strings.Contains(cfg, s) {
				t.Errorf("htmx-config %s lacks %s", cfg, s)
			}
		}
		if src, _ := d.Find(`script[src*="htmx-2."]`).Attr("src"); src == "" {
			t.Error("htmx 2 script missing")
		}
	})
}

// TestCrossOriginWritesRefused: a state-changing request from another origin
// is refused before any handler runs.
func TestCrossOriginWritesRefused(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cases := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"Origin of another site, no Sec-Fetch headers", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"browser says cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"browser says same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusMethodNotAllowed},
		{"BASE_URL origin is trusted", map[string]string{"Origin": "http://localhost:8080"}, http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("a=b"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := app.Do(r)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestErrorPages(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	t.Run("404 page", func(t *testing.T) {
		w := app.Get("/no-such-page/at-all")
		if w.Code != http.StatusNotFound {
			t.Fatalf("status %d", w.Code)
		}
		d := doc(t, w)
		if got := testid(d, "error-status"); got != "404" {
			t.Errorf("status shown %q", got)
		}
		if rid := testid(d, "error-request-id"); rid == "" || rid != w.Header().Get("X-Request-Id") {
			t.Errorf("request id shown %q, header %q", rid, w.Header().Get("X-Request-Id"))
		}
		if d.Find("h1").Text() != "Page not found" {
			t.Errorf("title %q", d.Find("h1").Text())
		}
	})
	t.Run("htmx request gets a toast", func(t *testing.T) {
		w := app.Get("/nowhere", "HX-Request", "true")
		if w.Code != http.StatusNotFound || w.Header().Get("HX-Retarget") != "#toasts" || w.Header().Get("HX-Reswap") != "beforeend" {
			t.Errorf("status %d, HX-Retarget %q, HX-Reswap %q", w.Code, w.Header().Get("HX-Retarget"), w.Header().Get("HX-Reswap"))
		}
		if d := doc(t, w); d.Find(`[data-testid="error-toast"]`).Length() != 1 || strings.Contains(w.Body.String(), "<html") {
			t.Errorf("want only a toast, got %s", w.Body)
		}
	})
	t.Run("API errors are problem+json", func(t *testing.T) {
		w := app.Get("/api/v1/nothing")
		if w.Code != http.StatusNotFound || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") ||
			!strings.Contains(w.Body.String(), `"instance"`) {
			t.Errorf("got %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodDelete, "/diag", nil)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		if w := app.Do(r); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", w.Code)
		}
	})
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cases := []struct{ accept, lang, title string }{
		{"fr-FR,fr;q=0.9,en;q=0.5", "fr", "Se connecter à Violet"},
		{"en-GB", "en", "Sign in to Violet"},
		{"de-DE", "en", "Sign in to Violet"},
		{"", "en", "Sign in to Violet"},
	}
	for _, tc := range cases {
		t.Run(tc.accept, func(t *testing.T) {
			w := app.Get("/login", "Accept-Language", tc.accept)
			d := doc(t, w)
			if lang, _ := d.Find("html").Attr("lang"); lang != tc.lang {
				t.Errorf("lang %q, want %q", lang, tc.lang)
			}
			if got := d.Find("h1").Text(); got != tc.title {
				t.Errorf("h1 %q, want %q", got, tc.title)
			}
			if got := w.Header().Get("Content-Language"); got != tc.lang {
				t.Errorf("Content-Language %q", got)
			}
		})
	}
	t.Run("error page in French", func(t *testing.T) {
		d := doc(t, app.Get("/nope", "Accept-Language", "fr"))
		if got := d.Find("h1").Text(); got != "Page introuvable" {
			t.Errorf("h1 %q", got)
		}
	})
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	d := doc(t, app.Get("/login"))
	var urls []string
	d.Find(`link[href^="/static/"], script[src^="/static/"]`).Each(func(_ int, s *goquery.Selection) {
		if v, ok := s.Attr("href"); ok {
			urls = append(urls, v)
		}
		if v, ok := s.Attr("src"); ok {
			urls = append(urls, v)
		}
	})
	if len(urls) < 4 {
		t.Fatalf("page links %d assets (%v), want css, print css, htmx, app.js", len(urls), urls)
	}
	hashed := regexp.MustCompile(`^/static/.+\.[0-9a-f]{10}\.(css|js|svg)$`)
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			if !hashed.MatchString(u) {
				t.Errorf("URL %s is not content-hashed", u)
			}
			w := app.Get(u)
			if w.Code != http.StatusOK || w.Body.Len() == 0 {
				t.Fatalf("status %d, %d bytes", w.Code, w.Body.Len())
			}
			if got := w.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q", got)
			}
		})
	}
	t.Run("unhashed name is not served", func(t *testing.T) {
		if w := app.Get("/static/css/app.css"); w.Code != http.StatusNotFound {
			t.Errorf("status %d, want 404", w.Code)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		var js string
		for _, u := range urls {
			if strings.Contains(u, "htmx") {
				js = u
			}
		}
		w := app.Get(js, "Accept-Encoding", "gzip")
		if w.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", w.Header().Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if !strings.Contains(string(plain), "htmx") || w.Body.Len() >= len(plain) {
			t.Errorf("gzip body %d bytes for %d plain", w.Body.Len(), len(plain))
		}
	})
}

// TestHSTSOverHTTPS: Strict-Transport-Security is sent when BASE_URL is
// https (and, per TestSecurityHeaders, never over plain http).
func TestHSTSOverHTTPS(t *testing.T) {
	t.Parallel()
	app := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
		c.BaseURL, _ = url.Parse("https://violet.example")
	}))
	if got := app.Get("/healthz").Header().Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q over https", got)
	}
}

// TestClientAddress: X-Forwarded-For is believed only from TRUSTED_PROXIES;
// throttling per address depends on it.
func TestClientAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		trusted string
		remote  string
		want    string
	}{
		{"no trusted proxy: the connection's address", "", "203.0.113.9:5555", "ip=203.0.113.9"},
		{"trusted proxy: the forwarded address", "10.0.0.0/8", "10.1.2.3:5555", "ip=198.51.100.7"},
		{"untrusted sender: the connection's address", "10.0.0.0/8", "203.0.113.9:5555", "ip=203.0.113.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log syncLog
			app := apptest.New(t, apptest.WithLog(&log), apptest.WithConfig(func(c *config.Config) {
				if tc.trusted != "" {
					c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(tc.trusted)}
				}
			}))
			r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			r.RemoteAddr = tc.remote
			r.Header.Set("X-Forwarded-For", "198.51.100.7")
			app.Do(r)
			if !strings.Contains(log.String(), tc.want+" ") && !strings.HasSuffix(strings.TrimSpace(log.String()), tc.want) {
				t.Errorf("log does not name %s:\n%s", tc.want, log.String())
			}
		})
	}
}

// syncLog is a log destination safe for concurrent writes.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBodyLimits: forms take at most 2 MB, announced or not; the upload
// routes take more.
func TestBodyLimits(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	big := strings.Repeat("x", 3<<20)
	t.Run("announced", func(t *testing.T) {
		w := app.PostAs(nil, "/login", url.Values{"email": {"a@example.com"}, "password": {big}})
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", w.Code)
		}
	})
	t.Run("not announced", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("email=a%40example.com&password="+big))
		r.ContentLength = -1
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		if w := app.Do(r); w.Code != http.StatusRequestEntityTooLarge && w.Code != http.StatusBadRequest {
			t.Errorf("status %d, want 413 (or 400 when the form parser gives up first)", w.Code)
		}
	})
}
