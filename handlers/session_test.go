package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"violet/internal/config"
	"violet/internal/testkit/apptest"
)

// clock is an injectable time source tests move forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// browser keeps the session cookie the way a browser does: it sends the
// current one and takes the replacements the server sets.
type browser struct {
	app    *apptest.App
	cookie *http.Cookie
}

func (b *browser) get(path string, header ...string) *httptest.ResponseRecorder {
	w := b.app.GetAs(b.cookie, path, header...)
	b.take(w)
	return w
}

func (b *browser) take(w *httptest.ResponseRecorder) {
	for _, c := range w.Result().Cookies() {
		if c.Name == b.app.Sessions.Name() {
			if c.MaxAge < 0 || c.Value == "" {
				b.cookie = nil
			} else {
				b.cookie = c
			}
		}
	}
}

// signedIn reports whether the cookie still opens the home page.
func signedIn(app *apptest.App, cookie *http.Cookie) bool {
	return app.GetAs(cookie, "/").Code == http.StatusOK
}

func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		base       string
		cookieName string
		secure     bool
	}{
		{"http", "http://localhost:8080", "violet_session", false},
		{"https gets Secure and the __Host- prefix", "https://violet.example", "__Host-violet_session", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.BaseURL, _ = url.Parse(tc.base) }))
			app.User(t, "flags@example.com", "observer")
			c := app.Login(t, "flags@example.com", apptest.Password)
			if c.Name != tc.cookieName || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != tc.secure {
				t.Errorf("cookie %s HttpOnly=%v SameSite=%v Path=%q Secure=%v; want %s HttpOnly Lax / Secure=%v",
					c.Name, c.HttpOnly, c.SameSite, c.Path, c.Secure, tc.cookieName, tc.secure)
			}
			if c.Domain != "" {
				t.Errorf("cookie Domain %q: a __Host- cookie must have none", c.Domain)
			}
			var stored string
			if err := app.DB.QueryRow(`SELECT token_hash FROM refresh_tokens ORDER BY created_at DESC LIMIT 1`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(c.Value, stored) || len(stored) != 64 {
				t.Errorf("stored %q: want only a SHA-256 of the token", stored)
			}
		})
	}
}

// TestNewTokenAtLogin: signing in never keeps the cookie the browser came
// with (no session fixation), and the old session ends.
func TestNewTokenAtLogin(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "fix@example.com", "observer")
	first := app.Login(t, "fix@example.com", apptest.Password)
	w := app.PostAs(first, "/login", url.Values{"email": {"fix@example.com"}, "password": {apptest.Password}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("second login: %d", w.Code)
	}
	var second *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == app.Sessions.Name() {
			second = c
		}
	}
	if second == nil || second.Value == first.Value {
		t.Fatal("login kept the session token the browser had")
	}
	if signedIn(app, first) {
		t.Error("the session the browser came with still works after a new login")
	}
	if !signedIn(app, second) {
		t.Error("the new session does not work")
	}
}

// TestReplayAfterLogout: a session cookie replayed after logout is sent back
// to the sign-in page (htmx: 401 with HX-Redirect).
func TestReplayAfterLogout(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cookie := app.SignedIn(t, "bye@example.com", "observer")
	w := app.PostAs(cookie, "/logout", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("logout = %d to %q", w.Code, w.Header().Get("Location"))
	}
	cleared := false
	for _, c := range w.Result().Cookies() {
		cleared = cleared || (c.Name == app.Sessions.Name() && c.MaxAge < 0)
	}
	if !cleared {
		t.Error("logout did not clear the cookie")
	}
	t.Run("page", func(t *testing.T) {
		w := app.GetAs(cookie, "/")
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
			t.Errorf("replayed cookie: %d to %q, want the sign-in page", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("htmx", func(t *testing.T) {
		w := app.GetAs(cookie, "/diag", "HX-Request", "true", "HX-Current-URL", "http://localhost:8080/diag")
		if w.Code != http.StatusUnauthorized || w.Header().Get("HX-Redirect") != "/login?next=%2Fdiag" {
			t.Errorf("replayed cookie on htmx: %d HX-Redirect %q, want 401 to /login?next=%%2Fdiag", w.Code, w.Header().Get("HX-Redirect"))
		}
	})
	var action string
	if err := app.DB.QueryRow(`SELECT action FROM audit_events ORDER BY created_at DESC LIMIT 1`).Scan(&action); err != nil || action != "logout" {
		t.Errorf("last audit event %q (%v), want logout", action, err)
	}
}

// TestTamperedCookie: a tampered session cookie leaves the request anonymous,
// never a 500.
func TestTamperedCookie(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	good := app.SignedIn(t, "tamper@example.com", "observer")
	cases := map[string]string{
		"flipped byte": good.Value[:len(good.Value)-2] + "AA",
		"garbage":      "not-a-session",
		"empty":        "",
		"other key":    "MTcwMDAwMDAwMHxkZWFkYmVlZnw=",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			w := app.GetAs(&http.Cookie{Name: good.Name, Value: value}, "/")
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
				t.Errorf("status %d to %q, want anonymous (redirect to sign-in), no 500", w.Code, w.Header().Get("Location"))
			}
		})
	}
}

// TestSessionTimeouts: a session idle past the timeout, or older than the
// absolute limit, must sign in again; on an injected clock.
func TestSessionTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		clk := newClock()
		app := apptest.New(t, apptest.WithNow(clk.Now))
		cookie := app.SignedIn(t, "idle@example.com", "observer")
		clk.Advance(119 * time.Minute)
		b := &browser{app: app, cookie: cookie}
		if w := b.get("/"); w.Code != http.StatusOK {
			t.Fatalf("after 119 idle minutes (limit 120): %d", w.Code)
		}
		clk.Advance(121 * time.Minute)
		if w := b.get("/"); w.Code != http.StatusSeeOther {
			t.Errorf("after 121 idle minutes: %d, want the sign-in page", w.Code)
		}
	})
	t.Run("idle limit comes from the settings", func(t *testing.T) {
		clk := newClock()
		app := apptest.New(t, apptest.WithNow(clk.Now))
		if _, err := app.DB.Exec(`UPDATE settings SET value = '10' WHERE key = 'session.idle_timeout_minutes'`); err != nil {
			t.Fatal(err)
		}
		cookie := app.SignedIn(t, "short@example.com", "observer")
		clk.Advance(11 * time.Minute)
		if signedIn(app, cookie) {
			t.Error("session survived 11 idle minutes with a 10-minute setting")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		clk := newClock()
		app := apptest.New(t, apptest.WithNow(clk.Now))
		b := &browser{app: app, cookie: app.SignedIn(t, "abs@example.com", "observer")}
		// Active every hour, so never idle, until the 12-hour limit.
		for h := 1; h <= 11; h++ {
			clk.Advance(time.Hour)
			if w := b.get("/"); w.Code != http.StatusOK {
				t.Fatalf("active session refused after %d h: %d", h, w.Code)
			}
		}
		clk.Advance(61 * time.Minute)
		if w := b.get("/"); w.Code != http.StatusSeeOther {
			t.Errorf("session older than the absolute limit: %d, want the sign-in page", w.Code)
		}
	})
}

// TestTokenRotation: tokens are replaced every 15 minutes; the old one
// works for a minute (requests in flight), and a replaced token coming back
// later ends the whole chain (it was copied).
func TestTokenRotation(t *testing.T) {
	t.Parallel()
	clk := newClock()
	app := apptest.New(t, apptest.WithNow(clk.Now))
	old := app.SignedIn(t, "rot@example.com", "observer")
	clk.Advance(16 * time.Minute)
	b := &browser{app: app, cookie: old}
	if w := b.get("/"); w.Code != http.StatusOK {
		t.Fatalf("rotation request: %d", w.Code)
	}
	if b.cookie == nil || b.cookie.Value == old.Value {
		t.Fatal("no new token after 16 minutes")
	}
	fresh := b.cookie
	clk.Advance(30 * time.Second)
	if !signedIn(app, old) {
		t.Error("the replaced token stopped working within the grace minute")
	}
	clk.Advance(2 * time.Minute)
	if signedIn(app, old) {
		t.Error("the replaced token still works after the grace minute")
	}
	if signedIn(app, fresh) {
		t.Error("a replaced token came back after the grace minute, yet its successor still works")
	}
	var chain, live int
	if err := app.DB.QueryRow(`SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL) FROM refresh_tokens`).Scan(&chain, &live); err != nil {
		t.Fatal(err)
	}
	if chain != 2 || live != 0 {
		t.Errorf("refresh_tokens: %d rows, %d live; want the 2 of the chain, none live", chain, live)
	}
}

// TestPermissionsReadEveryRequest: a group change applies to the next
// request of a session that already exists.
func TestPermissionsReadEveryRequest(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cookie := app.SignedIn(t, "perm@example.com", "observer")
	if w := app.GetAs(cookie, "/admin/audit"); w.Code != http.StatusForbidden {
		t.Fatalf("observer on the audit log: %d, want 403", w.Code)
	}
	if _, err := app.DB.Exec(`INSERT INTO user_groups (user_id, group_id)
		SELECT u.id, g.id FROM users u, groups g WHERE u.email = 'perm@example.com' AND g.name = 'admin'`); err != nil {
		t.Fatal(err)
	}
	if w := app.GetAs(cookie, "/admin/audit"); w.Code != http.StatusOK {
		t.Errorf("after joining admin, same cookie: %d, want 200", w.Code)
	}
	if _, err := app.DB.Exec(`UPDATE users SET is_active = false WHERE email = 'perm@example.com'`); err != nil {
		t.Fatal(err)
	}
	if signedIn(app, cookie) {
		t.Error("a deactivated user's session still works")
	}
}
