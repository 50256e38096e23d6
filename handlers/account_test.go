package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"violet/internal/testkit/apptest"
)

// User agents of the devices the session tests sign in from.
const (
	uaFirefoxLinux   = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	uaChromeWindows  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaSafariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	newPassword      = "a brand new passphrase"
	accountTimeShape = `^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$`
)

var hxRequest = []string{"HX-Request", "true"}

// acctLogin signs email in with password from a device (its user agent)
// and returns the session cookie.
func acctLogin(t *testing.T, app *apptest.App, email, password, ua string) *http.Cookie {
	t.Helper()
	w := app.PostAs(nil, "/login", url.Values{"email": {email}, "password": {password}}, "User-Agent", ua)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login as %s: %d", email, w.Code)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == app.Sessions.Name() && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login as %s: no session cookie", email)
	return nil
}

// acctWorks reports whether cookie still opens the account page; a cookie
// that does not must be sent to the sign-in page.
func acctWorks(t *testing.T, app *apptest.App, cookie *http.Cookie) bool {
	t.Helper()
	w := app.GetAs(cookie, "/account")
	if w.Code != http.StatusOK && (w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login")) {
		t.Fatalf("GET /account = %d to %q, want 200 or a redirect to /login", w.Code, w.Header().Get("Location"))
	}
	return w.Code == http.StatusOK
}

// acctUser reads a user's profile and password hash.
func acctUser(t *testing.T, app *apptest.App, email string) (name, locale, hash string) {
	t.Helper()
	if err := app.DB.QueryRow(`SELECT display_name, locale, password_hash FROM users WHERE email = $1`, email).
		Scan(&name, &locale, &hash); err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return name, locale, hash
}

// acctLive returns the ids of the user's live sessions, sorted.
func acctLive(t *testing.T, app *apptest.App, email string) []string {
	t.Helper()
	rows, err := app.DB.Query(`SELECT rt.id FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id
		WHERE u.email = $1 AND rt.revoked_at IS NULL ORDER BY rt.id`, email)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// acctAudits returns the details of the audit events of action whose
// actor or target is email, oldest first.
func acctAudits(t *testing.T, app *apptest.App, action, email string) []map[string]any {
	t.Helper()
	rows, err := app.DB.Query(`SELECT COALESCE(details, '{}'::jsonb) FROM audit_events
		WHERE action = $1 AND (actor_label = $2 OR target_label = $2) ORDER BY created_at, id`, action, email)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		d := map[string]any{}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// acctFollow requests the page w redirected to, with the session cookie
// and the cookies w set (the flash message).
func acctFollow(t *testing.T, app *apptest.App, cookie *http.Cookie, w *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	return app.Do(r)
}

// sessionRows returns the session ids listed in a page or fragment and
// the one marked current.
func sessionRows(t *testing.T, w *httptest.ResponseRecorder) (ids []string, current string) {
	t.Helper()
	doc(t, w).Find(`[data-testid="session-row"]`).Each(func(_ int, s *goquery.Selection) {
		id := s.AttrOr("data-session", "")
		ids = append(ids, id)
		if _, ok := s.Attr("data-current"); ok {
			if current != "" {
				t.Errorf("two sessions marked current: %s and %s", current, id)
			}
			current = id
		}
	})
	slices.Sort(ids)
	return ids, current
}

func TestAccountNeedsSignIn(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "anon-target@example.com", "observer")
	cases := []struct {
		name, method, path string
	}{
		{"page", http.MethodGet, "/account"},
		{"profile", http.MethodPost, "/account/profile"},
		{"password", http.MethodPost, "/account/password"},
		{"language", http.MethodPost, "/account/language"},
		{"end others", http.MethodPost, "/account/sessions/end-others"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w *httptest.ResponseRecorder
			if tc.method == http.MethodGet {
				w = app.GetAs(nil, tc.path)
			} else {
				w = app.PostAs(nil, tc.path, url.Values{"display_name": {"x"}, "locale": {"fr"}})
			}
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
				t.Errorf("%s %s anonymous: %d to %q, want a redirect to /login", tc.method, tc.path, w.Code, w.Header().Get("Location"))
			}
		})
	}
	if _, locale, _ := acctUser(t, app, "anon-target@example.com"); locale != "en" {
		t.Errorf("an anonymous POST changed a locale to %q", locale)
	}
}

func TestShowAccount(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cookie := app.SignedIn(t, "show@example.com", "observer")
	w := app.GetAs(cookie, "/account")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /account: %d", w.Code)
	}
	d := doc(t, w)
	if got := testid(d, "account-email"); got != "show@example.com" {
		t.Errorf("email %q", got)
	}
	if got := d.Find(`#field-display_name`).AttrOr("value", ""); got != "show" {
		t.Errorf("display name field %q, want the saved name", got)
	}
	if got := d.Find(`#field-locale option[selected]`).AttrOr("value", ""); got != "en" {
		t.Errorf("selected language %q, want en", got)
	}
	if n := d.Find(`[data-testid="account-password-form"] input[type="password"]`).Length(); n != 3 {
		t.Errorf("%d password fields, want 3", n)
	}
}

func TestUpdateProfile(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	long := strings.Repeat("x", 101)
	cases := []struct {
		name      string
		form      url.Values
		status    int
		errField  string // the field with an error, for 422
		wantName  string // in the database afterwards
		wantLoc   string
		audited   bool
		flashText string // after the redirect, in the new language
	}{
		{"name and language", url.Values{"display_name": {"  Alice Liddell  "}, "locale": {"fr"}},
			http.StatusSeeOther, "", "Alice Liddell", "fr", true, "Votre profil est enregistré."},
		{"name only", url.Values{"display_name": {"Bob"}, "locale": {"en"}},
			http.StatusSeeOther, "", "Bob", "en", true, "Your profile is saved."},
		{"a hundred characters", url.Values{"display_name": {strings.Repeat("y", 100)}, "locale": {"en"}},
			http.StatusSeeOther, "", strings.Repeat("y", 100), "en", true, "Your profile is saved."},
		{"nothing changed", url.Values{"display_name": {"nothing-changed"}, "locale": {"en"}},
			http.StatusSeeOther, "", "nothing-changed", "en", false, "Nothing to save: your profile was already like this."},
		{"extra fields ignored", url.Values{"display_name": {"Eve"}, "locale": {"en"}, "email": {"evil@example.com"},
			"is_active": {"false"}, "groups": {"admin"}, "password_hash": {"x"}},
			http.StatusSeeOther, "", "Eve", "en", true, "Your profile is saved."},
		{"empty name", url.Values{"display_name": {"   "}, "locale": {"fr"}},
			http.StatusUnprocessableEntity, "display_name", "", "en", false, ""},
		{"name too long", url.Values{"display_name": {long}, "locale": {"en"}},
			http.StatusUnprocessableEntity, "display_name", "", "en", false, ""},
		{"unknown language", url.Values{"display_name": {"Zed"}, "locale": {"de"}},
			http.StatusUnprocessableEntity, "locale", "", "en", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			email := strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			cookie := app.SignedIn(t, email, "observer")
			_, _, hashBefore := acctUser(t, app, email)
			w := app.PostAs(cookie, "/account/profile", tc.form)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			name, locale, hash := acctUser(t, app, email)
			if hash != hashBefore {
				t.Error("the password hash changed")
			}
			if tc.wantName == "" {
				tc.wantName = strings.Split(email, "@")[0] // unchanged
			}
			if name != tc.wantName || locale != tc.wantLoc {
				t.Errorf("database: name %q locale %q, want %q %q", name, locale, tc.wantName, tc.wantLoc)
			}
			var emailNow string
			if err := app.DB.QueryRow(`SELECT email FROM users WHERE display_name = $1`, name).Scan(&emailNow); err != nil || emailNow != email {
				t.Errorf("email now %q (%v), want %q", emailNow, err, email)
			}
			audits := acctAudits(t, app, "account.updated", email)
			if got := len(audits) == 1; got != tc.audited {
				t.Errorf("%d account.updated events, want audited=%v", len(audits), tc.audited)
			}
			if tc.status == http.StatusUnprocessableEntity {
				d := doc(t, w)
				if testid(d, "error-"+tc.errField) == "" || d.Find(`[data-testid="error-summary"]`).Length() == 0 {
					t.Errorf("no error for %s next to the field and in the summary", tc.errField)
				}
				if got := d.Find(`#field-display_name`).AttrOr("value", "?"); got != tc.form.Get("display_name") {
					t.Errorf("display name not kept: %q", got)
				}
				if got := d.Find(`#field-locale option[selected]`).AttrOr("value", ""); got != tc.form.Get("locale") &&
					tc.form.Get("locale") != "de" {
					t.Errorf("language not kept: %q", got)
				}
				return
			}
			if loc := w.Header().Get("Location"); loc != "/account" {
				t.Fatalf("redirect to %q", loc)
			}
			page := acctFollow(t, app, cookie, w)
			d := doc(t, page)
			if got := testid(d, "flash-success"); got != tc.flashText {
				t.Errorf("flash %q, want %q", got, tc.flashText)
			}
			if lang := d.Find("html").AttrOr("lang", ""); lang != tc.wantLoc {
				t.Errorf("next page in %q, want %q", lang, tc.wantLoc)
			}
			if tc.audited {
				change, _ := audits[0]["display_name"].(map[string]any)
				if change["to"] != tc.wantName || change["from"] != strings.Split(email, "@")[0] {
					t.Errorf("audit details %v, want the name's change", audits[0])
				}
			}
		})
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cases := []struct {
		name     string
		form     func(email string) url.Values
		status   int
		errField string // "" for success
	}{
		{"wrong current password", func(string) url.Values {
			return url.Values{"current_password": {"not the password at all"}, "new_password": {newPassword}, "new_password_confirm": {newPassword}}
		}, http.StatusUnprocessableEntity, "current_password"},
		{"current password missing", func(string) url.Values {
			return url.Values{"new_password": {newPassword}, "new_password_confirm": {newPassword}}
		}, http.StatusUnprocessableEntity, "current_password"},
		{"passwords differ", func(string) url.Values {
			return url.Values{"current_password": {apptest.Password}, "new_password": {newPassword}, "new_password_confirm": {newPassword + "!"}}
		}, http.StatusUnprocessableEntity, "new_password_confirm"},
		{"too short", func(string) url.Values {
			return url.Values{"current_password": {apptest.Password}, "new_password": {"short pw"}, "new_password_confirm": {"short pw"}}
		}, http.StatusUnprocessableEntity, "new_password"},
		{"equal to the email", func(email string) url.Values {
			pw := strings.ToUpper(email)
			return url.Values{"current_password": {apptest.Password}, "new_password": {pw}, "new_password_confirm": {pw}}
		}, http.StatusUnprocessableEntity, "new_password"},
		{"too long", func(string) url.Values {
			pw := strings.Repeat("p", 1025)
			return url.Values{"current_password": {apptest.Password}, "new_password": {pw}, "new_password_confirm": {pw}}
		}, http.StatusBadRequest, "new_password"},
		{"changed", func(string) url.Values {
			return url.Values{"current_password": {apptest.Password}, "new_password": {newPassword}, "new_password_confirm": {newPassword},
				"user_id": {"00000000-0000-0000-0000-000000000000"}}
		}, http.StatusSeeOther, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			email := strings.ReplaceAll(tc.name, " ", "-") + "-user@example.com"
			app.User(t, email, "observer")
			other := acctLogin(t, app, email, apptest.Password, uaChromeWindows)
			current := acctLogin(t, app, email, apptest.Password, uaFirefoxLinux)
			_, _, hashBefore := acctUser(t, app, email)
			liveBefore := acctLive(t, app, email)

			w := app.PostAs(current, "/account/password", tc.form(email))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			_, _, hash := acctUser(t, app, email)
			changed := acctAudits(t, app, "password.changed", email)
			if tc.errField != "" {
				d := doc(t, w)
				if testid(d, "error-"+tc.errField) == "" {
					t.Errorf("no error next to %s", tc.errField)
				}
				d.Find(`input[type="password"]`).Each(func(_ int, s *goquery.Selection) {
					if v := s.AttrOr("value", ""); v != "" {
						t.Errorf("password field %s sent back with a value", s.AttrOr("name", ""))
					}
				})
				if hash != hashBefore {
					t.Error("the password hash changed")
				}
				if live := acctLive(t, app, email); !slices.Equal(live, liveBefore) {
					t.Errorf("live sessions %v, want %v", live, liveBefore)
				}
				if !acctWorks(t, app, other) || !acctWorks(t, app, current) {
					t.Error("a session ended although nothing changed")
				}
				if len(changed) != 0 {
					t.Errorf("%d password.changed events", len(changed))
				}
				if postLoginStatus(app, email, apptest.Password) != http.StatusSeeOther {
					t.Error("the old password no longer signs in")
				}
				return
			}
			if loc := w.Header().Get("Location"); loc != "/account" {
				t.Errorf("redirect to %q", loc)
			}
			if hash == hashBefore {
				t.Error("the password hash did not change")
			}
			if acctWorks(t, app, other) {
				t.Error("the other session still works after the password change")
			}
			if !acctWorks(t, app, current) {
				t.Error("the session that changed the password was ended")
			}
			if len(changed) != 1 || changed[0]["sessions_ended"] != float64(1) {
				t.Errorf("password.changed events %v, want one with sessions_ended 1", changed)
			}
			if got := postLoginStatus(app, email, apptest.Password); got != http.StatusUnauthorized {
				t.Errorf("old password: %d, want 401", got)
			}
			if got := postLoginStatus(app, email, newPassword); got != http.StatusSeeOther {
				t.Errorf("new password: %d, want 303", got)
			}
			page := acctFollow(t, app, current, w)
			if got := testid(doc(t, page), "flash-success"); got != "Your password is changed. Your other sessions are ended." {
				t.Errorf("flash %q", got)
			}
		})
	}
}

// postLoginStatus is the status of a sign-in attempt.
func postLoginStatus(app *apptest.App, email, password string) int {
	return app.PostAs(nil, "/login", url.Values{"email": {email}, "password": {password}}).Code
}

// TestChangePasswordKeepsRotatedSession: the request that changes the
// password may also be the one on which the session token is rotated; the
// session kept is the new token, not the one the request came with.
func TestChangePasswordKeepsRotatedSession(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	app := apptest.New(t, apptest.WithNow(clock))
	app.User(t, "rotate@example.com", "observer")
	other := acctLogin(t, app, "rotate@example.com", apptest.Password, uaChromeWindows)
	current := acctLogin(t, app, "rotate@example.com", apptest.Password, uaFirefoxLinux)
	mu.Lock()
	now = now.Add(16 * time.Minute) // past the rotation period
	mu.Unlock()

	w := app.PostAs(current, "/account/password", url.Values{
		"current_password": {apptest.Password}, "new_password": {newPassword}, "new_password_confirm": {newPassword}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("status %d\n%s", w.Code, w.Body)
	}
	var rotated *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == app.Sessions.Name() && c.Value != "" {
			rotated = c
		}
	}
	if rotated == nil {
		t.Fatal("the session was not rotated on this request: the test proves nothing")
	}
	if !acctWorks(t, app, rotated) {
		t.Error("the rotated token of the session that changed the password was ended")
	}
	if acctWorks(t, app, other) {
		t.Error("the other session still works")
	}
	if live := acctLive(t, app, "rotate@example.com"); len(live) != 1 {
		t.Errorf("%d live sessions, want 1", len(live))
	}
}

// TestChangePasswordThrottled: wrong current passwords count as failed
// sign-ins, so a stolen session cannot guess the password at leisure.
func TestChangePasswordThrottled(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cookie := app.SignedIn(t, "guess@example.com", "observer")
	wrong := url.Values{"current_password": {"wrong guess number"}, "new_password": {newPassword}, "new_password_confirm": {newPassword}}
	for i := range 10 {
		if w := app.PostAs(cookie, "/account/password", wrong); w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("attempt %d: %d, want 422", i+1, w.Code)
		}
	}
	right := url.Values{"current_password": {apptest.Password}, "new_password": {newPassword}, "new_password_confirm": {newPassword}}
	w := app.PostAs(cookie, "/account/password", right)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after 10 wrong passwords: %d, Retry-After %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if got := testid(doc(t, w), "error-summary"); !strings.Contains(got, "Too many wrong passwords") {
		t.Errorf("summary %q", got)
	}
	if n := len(acctAudits(t, app, "password.changed", "guess@example.com")); n != 0 {
		t.Errorf("%d password.changed events", n)
	}
	if n := len(acctAudits(t, app, "login.failed", "guess@example.com")); n != 10 {
		t.Errorf("%d login.failed events, want 10", n)
	}
}

func TestMySessions(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "alice@example.com", "observer")
	app.User(t, "bob@example.com", "observer")
	acctLogin(t, app, "alice@example.com", apptest.Password, uaChromeWindows)
	acctLogin(t, app, "alice@example.com", apptest.Password, "")
	acctLogin(t, app, "alice@example.com", apptest.Password, "SomeBot/1.0 (+https://bot.example/about-this-rather-long-user-agent-string)")
	alice := acctLogin(t, app, "alice@example.com", apptest.Password, uaFirefoxLinux)
	acctLogin(t, app, "bob@example.com", apptest.Password, uaSafariIPhone)
	// An ended and an expired session are not listed.
	ended := acctLogin(t, app, "alice@example.com", apptest.Password, uaSafariIPhone)
	if w := app.PostAs(ended, "/logout", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	acctLogin(t, app, "alice@example.com", apptest.Password, uaSafariIPhone)
	if _, err := app.DB.Exec(`UPDATE refresh_tokens SET expires_at = now() - interval '1 minute'
		WHERE id = (SELECT id FROM refresh_tokens ORDER BY issued_at DESC LIMIT 1)`); err != nil {
		t.Fatal(err)
	}

	w := app.GetAs(alice, "/account")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /account: %d", w.Code)
	}
	ids, current := sessionRows(t, w)
	if want := acctLive(t, app, "alice@example.com"); len(want) != 5 || len(ids) != 4 {
		t.Errorf("listed %d sessions; alice has %d unrevoked (one expired), want 4 listed", len(ids), len(want))
	}
	for _, id := range acctLive(t, app, "bob@example.com") {
		if slices.Contains(ids, id) {
			t.Errorf("bob's session %s is listed on alice's page", id)
		}
	}
	d := doc(t, w)
	devices := map[string]bool{}
	d.Find(`[data-testid="session-row"]`).Each(func(_ int, s *goquery.Selection) {
		device := strings.TrimSpace(s.Find(`[data-testid="session-device"]`).Contents().First().Text())
		devices[device] = true
		_, isCurrent := s.Attr("data-current")
		if isCurrent != (s.AttrOr("data-session", "") == current) || isCurrent != (device == "Firefox on Linux") {
			t.Errorf("row %q: current %v, want the Firefox session current", device, isCurrent)
		}
		for _, f := range []string{"session-signed-in", "session-last-seen"} {
			if got := strings.TrimSpace(s.Find(`[data-testid="` + f + `"]`).Text()); !regexp.MustCompile(accountTimeShape).MatchString(got) {
				t.Errorf("%s %q, want a time with its zone", f, got)
			}
		}
		if ip := strings.TrimSpace(s.Find(`[data-testid="session-ip"]`).Text()); ip != "192.0.2.1" {
			t.Errorf("IP %q", ip)
		}
	})
	for _, want := range []string{"Firefox on Linux", "Chrome on Windows", "Unknown device", "SomeBot/1.0 (+https://bot.example/about-this-rather-long-us…"} {
		if !devices[want] {
			t.Errorf("no session shown as %q; got %v", want, devices)
		}
	}
	if d.Find(`[data-testid="session-current"]`).Length() != 1 {
		t.Error("the current session is not badged")
	}
	if d.Find(`[data-testid="sessions-end-others"]`).Length() != 1 {
		t.Error("no button to end the other sessions")
	}
}

// TestSessionSignedInAt: the sign-in time shown is the start of the
// session, not its latest token rotation.
func TestSessionSignedInAt(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	start := time.Date(2030, 3, 4, 5, 6, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	app := apptest.New(t, apptest.WithNow(clock))
	app.User(t, "rotating@example.com", "observer")
	cookie := acctLogin(t, app, "rotating@example.com", apptest.Password, uaFirefoxLinux)
	for range 3 {
		mu.Lock()
		now = now.Add(20 * time.Minute)
		mu.Unlock()
		w := app.GetAs(cookie, "/account")
		for _, c := range w.Result().Cookies() {
			if c.Name == app.Sessions.Name() && c.Value != "" {
				cookie = c
			}
		}
	}
	var chain int
	if err := app.DB.QueryRow(`SELECT count(*) FROM refresh_tokens`).Scan(&chain); err != nil || chain != 4 {
		t.Fatalf("%d tokens (%v), want a chain of 4: the test proves nothing", chain, err)
	}
	d := doc(t, app.GetAs(cookie, "/account"))
	if got := testid(d, "session-signed-in"); got != "2030-03-04 05:06 UTC" {
		t.Errorf("signed in at %q, want the first token's time", got)
	}
	if got := testid(d, "session-last-seen"); got != "2030-03-04 06:06 UTC" {
		t.Errorf("last seen %q", got)
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cases := []struct {
		name    string
		target  string // "other", "current", "bob", "ended", "malformed"
		htmx    bool
		status  int
		loc     string
		ended   []string // which of current, other, bob must no longer work
		audited int
	}{
		{"other session", "other", false, http.StatusSeeOther, "/account", []string{"other"}, 1},
		{"other session with htmx", "other", true, http.StatusOK, "", []string{"other"}, 1},
		{"current session", "current", false, http.StatusSeeOther, "/login", []string{"current"}, 1},
		{"current session with htmx", "current", true, http.StatusNoContent, "", []string{"current"}, 1},
		{"another user's session", "bob", false, http.StatusNotFound, "", nil, 0},
		{"another user's session with htmx", "bob", true, http.StatusNotFound, "", nil, 0},
		{"an ended session", "ended", false, http.StatusSeeOther, "/account", nil, 0},
		{"malformed id", "malformed", false, http.StatusNotFound, "", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			slug := strings.ReplaceAll(tc.name, " ", "-")
			slug = strings.ReplaceAll(slug, "'", "")
			alice, bob := "alice-"+slug+"@example.com", "bob-"+slug+"@example.com"
			app.User(t, alice, "observer")
			app.User(t, bob, "observer")
			cookies := map[string]*http.Cookie{
				"other":   acctLogin(t, app, alice, apptest.Password, uaChromeWindows),
				"current": acctLogin(t, app, alice, apptest.Password, uaFirefoxLinux),
				"bob":     acctLogin(t, app, bob, apptest.Password, uaSafariIPhone),
			}
			row := func(email, ua string) string {
				var id string
				if err := app.DB.QueryRow(`SELECT rt.id FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id
					WHERE u.email = $1 AND rt.user_agent = $2`, email, ua).Scan(&id); err != nil {
					t.Fatal(err)
				}
				return id
			}
			ids := map[string]string{
				"other": row(alice, uaChromeWindows), "current": row(alice, uaFirefoxLinux), "bob": row(bob, uaSafariIPhone),
				"malformed": "not-a-uuid",
			}
			if tc.target == "ended" {
				gone := acctLogin(t, app, alice, apptest.Password, uaSafariIPhone)
				ids["ended"] = row(alice, uaSafariIPhone)
				if w := app.PostAs(gone, "/logout", nil); w.Code != http.StatusSeeOther {
					t.Fatalf("logout: %d", w.Code)
				}
			}

			var header []string
			if tc.htmx {
				header = hxRequest
			}
			w := app.PostAs(cookies["current"], "/account/sessions/"+ids[tc.target]+"/end", nil, header...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("Location"); got != tc.loc {
				t.Errorf("Location %q, want %q", got, tc.loc)
			}
			for _, who := range []string{"other", "current", "bob"} {
				wantEnded := slices.Contains(tc.ended, who)
				if works := acctWorks(t, app, cookies[who]); works == wantEnded {
					t.Errorf("%s session works=%v, want ended=%v", who, works, wantEnded)
				}
			}
			if got := len(acctAudits(t, app, "session.ended", alice)) + len(acctAudits(t, app, "session.ended", bob)); got != tc.audited {
				t.Errorf("%d session.ended events, want %d", got, tc.audited)
			}
			switch {
			case tc.target == "current" && tc.htmx:
				if got := w.Header().Get("HX-Redirect"); got != "/login" {
					t.Errorf("HX-Redirect %q, want /login", got)
				}
			case tc.target == "current":
				cleared := false
				for _, c := range w.Result().Cookies() {
					cleared = cleared || (c.Name == app.Sessions.Name() && c.MaxAge < 0)
				}
				if !cleared {
					t.Error("the session cookie was not cleared")
				}
			case tc.target == "other" && tc.htmx:
				body := w.Body.String()
				if strings.Contains(strings.ToLower(body), "<html") {
					t.Error("htmx got a whole page, want the sessions block")
				}
				listed, current := sessionRows(t, w)
				if !slices.Equal(listed, []string{ids["current"]}) || current != ids["current"] {
					t.Errorf("block lists %v (current %q), want only the current session", listed, current)
				}
				if got := testid(doc(t, w), "sessions-notice"); got != "The session is ended." {
					t.Errorf("notice %q", got)
				}
			case tc.target == "other":
				if got := testid(doc(t, acctFollow(t, app, cookies["current"], w)), "flash-success"); got != "The session is ended." {
					t.Errorf("flash %q", got)
				}
			}
		})
	}
}

func TestEndOtherSessions(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "many@example.com", "observer")
	app.User(t, "bystander@example.com", "observer")
	others := []*http.Cookie{
		acctLogin(t, app, "many@example.com", apptest.Password, uaChromeWindows),
		acctLogin(t, app, "many@example.com", apptest.Password, uaSafariIPhone),
	}
	current := acctLogin(t, app, "many@example.com", apptest.Password, uaFirefoxLinux)
	bystander := acctLogin(t, app, "bystander@example.com", apptest.Password, uaFirefoxLinux)

	w := app.PostAs(current, "/account/sessions/end-others", nil, hxRequest...)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d\n%s", w.Code, w.Body)
	}
	listed, cur := sessionRows(t, w)
	if len(listed) != 1 || cur != listed[0] {
		t.Errorf("block lists %v (current %q), want the current session only", listed, cur)
	}
	d := doc(t, w)
	if got := testid(d, "sessions-notice"); got != "Every other session is ended." {
		t.Errorf("notice %q", got)
	}
	if d.Find(`[data-testid="sessions-end-others"]`).Length() != 0 {
		t.Error("the end-others button is still offered with no other session")
	}
	for i, c := range others {
		if acctWorks(t, app, c) {
			t.Errorf("other session %d still works", i)
		}
	}
	if !acctWorks(t, app, current) || !acctWorks(t, app, bystander) {
		t.Error("the current session or another user's session was ended")
	}
	audits := acctAudits(t, app, "session.ended", "many@example.com")
	if len(audits) != 1 || audits[0]["sessions_ended"] != float64(2) {
		t.Errorf("session.ended events %v, want one with sessions_ended 2", audits)
	}

	// Again, as a plain form: nothing left to end, nothing recorded.
	w = app.PostAs(current, "/account/sessions/end-others", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account" {
		t.Fatalf("plain POST: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if got := testid(doc(t, acctFollow(t, app, current, w)), "flash-success"); got != "There was no other session to end." {
		t.Errorf("flash %q", got)
	}
	if n := len(acctAudits(t, app, "session.ended", "many@example.com")); n != 1 {
		t.Errorf("%d session.ended events after a no-op, want 1", n)
	}
}

func TestUpdateLanguage(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cases := []struct {
		name, locale, next string
		status             int
		loc                string
		want               string // locale in the database afterwards
	}{
		{"back to the page", "fr", "/admin/users?q=x&page=2", http.StatusSeeOther, "/admin/users?q=x&page=2", "fr"},
		{"english again", "en", "/account", http.StatusSeeOther, "/account", "en"},
		{"other site", "fr", "https://evil.example/", http.StatusSeeOther, "/", "fr"},
		{"scheme-relative", "fr", "//evil.example/x", http.StatusSeeOther, "/", "fr"},
		{"backslash trick", "fr", `/\evil.example`, http.StatusSeeOther, "/", "fr"},
		{"no next", "fr", "", http.StatusSeeOther, "/", "fr"},
		{"unknown language", "de", "/account", http.StatusBadRequest, "", "en"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			email := strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			cookie := app.SignedIn(t, email, "observer")
			if tc.name == "english again" {
				if _, err := app.DB.Exec(`UPDATE users SET locale = 'fr' WHERE email = $1`, email); err != nil {
					t.Fatal(err)
				}
			}
			w := app.PostAs(cookie, "/account/language", url.Values{"locale": {tc.locale}, "next": {tc.next}})
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("Location"); got != tc.loc {
				t.Errorf("Location %q, want %q", got, tc.loc)
			}
			if _, locale, _ := acctUser(t, app, email); locale != tc.want {
				t.Errorf("locale %q, want %q", locale, tc.want)
			}
			if lang := doc(t, app.GetAs(cookie, "/account")).Find("html").AttrOr("lang", ""); lang != tc.want {
				t.Errorf("next page in %q, want %q", lang, tc.want)
			}
		})
	}
}
