package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"violet/internal/auth"
	"violet/internal/testkit/apptest"
)

func postLogin(app *apptest.App, email, password string, header ...string) *httptest.ResponseRecorder {
	return app.PostAs(nil, "/login", url.Values{"email": {email}, "password": {password}}, header...)
}

// TestLoginEnumeration: unknown email, wrong password and deactivated account
// get the same status and body.
func TestLoginEnumeration(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "known@example.com", "observer")
	app.User(t, "off@example.com", "observer")
	if _, err := app.DB.Exec(`UPDATE users SET is_active = false WHERE email = 'off@example.com'`); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
	}
	// The email typed is echoed back in the form; use one address shape
	// and compare with it blanked out.
	blank := regexp.MustCompile(`value="[a-z]+@example\.com"`)
	get := func(email, password string) answer {
		w := postLogin(app, email, password)
		return answer{w.Code, blank.ReplaceAllString(w.Body.String(), `value=""`)}
	}
	unknown := get("nobody@example.com", "some password here")
	wrong := get("known@example.com", "not the password!")
	deactivated := get("off@example.com", apptest.Password)
	if unknown.status != http.StatusUnauthorized {
		t.Errorf("unknown email: %d, want 401", unknown.status)
	}
	if wrong != unknown {
		t.Errorf("wrong password answers differently from an unknown email: %d vs %d\n%s\n---\n%s", wrong.status, unknown.status, wrong.body, unknown.body)
	}
	if deactivated != unknown {
		t.Errorf("deactivated account answers differently from an unknown email: %d vs %d", deactivated.status, unknown.status)
	}
	if !strings.Contains(unknown.body, "Email or password is incorrect") {
		t.Error("no generic failure message")
	}
	var failures int
	if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'login.failed'`).Scan(&failures); err != nil || failures != 3 {
		t.Errorf("login.failed events = %d (%v), want 3", failures, err)
	}
}

func TestLoginSuccess(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "Mixed.Case@example.com", "observer")
	cases := []struct {
		name, email, next, want string
	}{
		{"back to the page asked for", "mixed.case@example.com", "/diag?x=1", "/diag?x=1"},
		{"email is case-insensitive and trimmed", "  MIXED.case@Example.com ", "", "/"},
		{"another site is not a place to go", "mixed.case@example.com", "https://evil.example/", "/"},
		{"protocol-relative is not either", "mixed.case@example.com", "//evil.example/x", "/"},
		{"backslash trick", "mixed.case@example.com", "/\\evil.example", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := app.PostAs(nil, "/login", url.Values{"email": {tc.email}, "password": {apptest.Password}, "next": {tc.next}})
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.want {
				t.Errorf("login: %d to %q, want 303 to %q\n%s", w.Code, w.Header().Get("Location"), tc.want, w.Body)
			}
		})
	}
	t.Run("the sign-in page remembers where to go", func(t *testing.T) {
		w := app.Get("/diag")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?next=%2Fdiag" {
			t.Fatalf("anonymous /diag: %d to %q", w.Code, w.Header().Get("Location"))
		}
		d := doc(t, app.Get("/login?next=%2Fdiag"))
		if v, _ := d.Find(`input[name="next"]`).Attr("value"); v != "/diag" {
			t.Errorf("hidden next = %q", v)
		}
	})
	t.Run("audit and last login", func(t *testing.T) {
		var n int
		if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'login.succeeded'
			AND actor_label = 'mixed.case@example.com'`).Scan(&n); err != nil || n == 0 {
			t.Errorf("login.succeeded events = %d (%v)", n, err)
		}
		var last *time.Time
		if err := app.DB.QueryRow(`SELECT last_login_at FROM users WHERE email = 'mixed.case@example.com'`).Scan(&last); err != nil || last == nil {
			t.Errorf("last_login_at not set (%v)", err)
		}
	})
}

func TestLoginValidation(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cases := []struct {
		name     string
		email    string
		password string
		status   int
		field    string
	}{
		{"no email", "", "something long enough", http.StatusUnprocessableEntity, "email"},
		{"no password", "a@example.com", "", http.StatusUnprocessableEntity, "password"},
		{"1 MB password answered before any hashing", "a@example.com", strings.Repeat("x", 1<<20), http.StatusBadRequest, "password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			w := postLogin(app, tc.email, tc.password)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			d := doc(t, w)
			if d.Find(`[data-testid="error-`+tc.field+`"]`).Length() != 1 {
				t.Errorf("no error next to %s", tc.field)
			}
			if v, _ := d.Find(`input[name="email"]`).Attr("value"); v != tc.email {
				t.Errorf("email not kept: %q", v)
			}
			if tc.status == http.StatusBadRequest && time.Since(start) > time.Second {
				t.Errorf("too-long password took %v", time.Since(start))
			}
		})
	}
	var n int
	if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d audit events for forms refused before checking (%v), want 0", n, err)
	}
}

// TestLoginThrottling: thirty wrong passwords for one email, whatever
// X-Forwarded-For says, end in 429 with Retry-After; the right password is
// refused too until the window passes, but other accounts are not affected.
func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "target@example.com", "observer")
	app.User(t, "bystander@example.com", "observer")
	var first429 int
	for i := 1; i <= 30; i++ {
		w := postLogin(app, "target@example.com", "wrong password no."+strings.Repeat("x", i%3),
			"X-Forwarded-For", "198.51.100."+string(rune('0'+i%10)))
		if w.Code == http.StatusTooManyRequests {
			if first429 == 0 {
				first429 = i
			}
			if ra := w.Header().Get("Retry-After"); ra == "" || ra == "0" {
				t.Fatalf("429 without a useful Retry-After (%q)", ra)
			}
		} else if w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, w.Code)
		}
	}
	if first429 == 0 || first429 > 11 {
		t.Fatalf("first 429 at attempt %d, want by the 11th", first429)
	}
	if w := postLogin(app, "target@example.com", apptest.Password); w.Code != http.StatusTooManyRequests {
		t.Errorf("right password while throttled: %d, want 429", w.Code)
	}
	if w := postLogin(app, "bystander@example.com", apptest.Password); w.Code != http.StatusSeeOther {
		t.Errorf("another account: %d, want a normal login", w.Code)
	}
}

// TestParallelLogins: a burst of logins is bounded by the hasher's slots; some
// may be refused with 429/503, none crash.
func TestParallelLogins(t *testing.T) {
	// One slot and a short wait make the limit visible with real argon2id.
	hasher, err := auth.NewHasher(auth.DefaultArgon2Params(), 1, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	app := apptest.New(t, apptest.WithHasher(hasher))
	app.User(t, "many@example.com", "observer")
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[int]int{}
	)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each from its own address so the per-address throttle is not
			// what limits them.
			r := httptest.NewRequest(http.MethodPost, "/login",
				strings.NewReader(url.Values{"email": {"many@example.com"}, "password": {apptest.Password}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr = "10.9." + string(rune('0'+i/10)) + "." + string(rune('0'+i%10)) + ":1234"
			w := app.Do(r)
			mu.Lock()
			counts[w.Code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("statuses: %v", counts)
	for code, n := range counts {
		switch code {
		case http.StatusSeeOther, http.StatusServiceUnavailable, http.StatusTooManyRequests:
		default:
			t.Errorf("%d answers with status %d", n, code)
		}
	}
	if counts[http.StatusSeeOther] == 0 {
		t.Error("no login succeeded")
	}
	if counts[http.StatusServiceUnavailable]+counts[http.StatusTooManyRequests] == 0 {
		t.Error("100 logins at once on one hashing slot were all served: the bound is not working")
	}
}

// TestCrossSitePostWithSession: a cross-site form post carrying a valid
// session cookie is refused and changes nothing.
func TestCrossSitePostWithSession(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cookie := app.SignedIn(t, "victim@example.com", "observer")
	for name, header := range map[string][]string{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site", "cross-site"},
		"foreign Origin":            {"Origin", "http://evil.example"},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/logout", nil)
			r.AddCookie(cookie)
			r.Header.Set(header[0], header[1])
			if w := app.Do(r); w.Code != http.StatusForbidden {
				t.Errorf("status %d, want 403", w.Code)
			}
			if !signedIn(app, cookie) {
				t.Error("the cross-site logout went through")
			}
		})
	}
}
