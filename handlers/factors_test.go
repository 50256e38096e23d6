package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"violet/internal/testkit/apptest"
)

// clockedApp is the app on a clock the test moves forward (a TOTP code
// works once per 30-second step).
type clockedApp struct {
	*apptest.App
	offset atomic.Int64
}

func newClockedApp(t *testing.T) *clockedApp {
	a := &clockedApp{}
	a.App = apptest.New(t, apptest.WithNow(a.now))
	return a
}

func (a *clockedApp) now() time.Time { return time.Now().Add(time.Duration(a.offset.Load())) }

// step moves the clock to the next TOTP step.
func (a *clockedApp) step() { a.offset.Add(int64(30 * time.Second)) }

// code is the app's code for secret at the server's time.
func (a *clockedApp) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, a.now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cookieNamed(w *httptest.ResponseRecorder, suffix string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if strings.HasSuffix(c.Name, suffix) && c.Value != "" {
			return c
		}
	}
	return nil
}

// enrol sets up an authenticator app for the viewer of cookie and returns
// its secret and recovery codes.
func (a *clockedApp) enrol(t *testing.T, cookie *http.Cookie) (string, []string) {
	t.Helper()
	w := a.PostAs(cookie, "/account/security/totp", url.Values{"start_password": {apptest.Password}})
	if w.Code != http.StatusOK {
		t.Fatalf("start enrolment: %d\n%s", w.Code, w.Body)
	}
	d := doc(t, w)
	secret, _ := d.Find(`[data-testid="totp-secret"]`).Attr("data-secret")
	token, _ := d.Find(`input[name="token"]`).Attr("value")
	if secret == "" || token == "" {
		t.Fatalf("no secret or token on the enrolment page")
	}
	w = a.PostAs(cookie, "/account/security/totp/confirm", url.Values{"token": {token}, "code": {a.code(t, secret)}})
	if w.Code != http.StatusOK {
		t.Fatalf("confirm enrolment: %d\n%s", w.Code, w.Body)
	}
	var codes []string
	doc(t, w).Find(`[data-testid="recovery-code"]`).Each(func(_ int, s *goquery.Selection) { codes = append(codes, s.Text()) })
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	return secret, codes
}

// passwordStep posts the password and returns the pending sign-in's
// cookie, failing when a session was opened instead.
func (a *clockedApp) passwordStep(t *testing.T, email string) *http.Cookie {
	t.Helper()
	w := postLogin(a.App, email, apptest.Password)
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login/second-factor") {
		t.Fatalf("password step: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if cookieNamed(w, a.Sessions.Name()) != nil {
		t.Fatal("a session cookie before the second factor")
	}
	p := cookieNamed(w, "violet_pending")
	if p == nil || !p.HttpOnly || p.SameSite != http.SameSiteLaxMode || p.MaxAge != 300 {
		t.Fatalf("pending cookie %+v", p)
	}
	return p
}

func (a *clockedApp) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := a.DB.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTOTPEnrolment: the password first; then the QR code (an SVG drawn
// on the server) and the secret; a wrong code refused next to its field;
// a good one confirms and shows ten recovery codes, audited without them.
func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	cookie := a.SignedIn(t, "ada@example.com", "observer")

	d := doc(t, a.GetAs(cookie, "/account/security"))
	if d.Find(`[data-testid="factor-totp"][data-on]`).Length() != 0 || d.Find(`input[name="start_code"]`).Length() != 0 {
		t.Fatal("a new account shows an app, or asks a code to set one up")
	}
	w := a.PostAs(cookie, "/account/security/totp", url.Values{"start_password": {"wrong password!"}})
	if w.Code != http.StatusUnprocessableEntity || doc(t, w).Find(`[data-testid="error-start_password"]`).Length() != 1 {
		t.Fatalf("wrong password: %d, want 422 with the error next to the field", w.Code)
	}
	w = a.PostAs(cookie, "/account/security/totp", url.Values{"start_password": {apptest.Password}})
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("start: %d, Cache-Control %q", w.Code, w.Header().Get("Cache-Control"))
	}
	d = doc(t, w)
	qr := d.Find(`svg[data-testid="totp-qr"][role="img"]`)
	if label, _ := qr.Attr("aria-label"); qr.Length() != 1 || label == "" || qr.Find("path").AttrOr("d", "") == "" {
		t.Fatal("no labelled QR code drawn as an SVG path")
	}
	if _, ok := qr.Attr("style"); ok {
		t.Error("the QR code has an inline style")
	}
	secret, _ := d.Find(`[data-testid="totp-secret"]`).Attr("data-secret")
	token, _ := d.Find(`input[name="token"]`).Attr("value")
	if len(secret) < 16 || strings.Contains(token, secret) {
		t.Fatalf("secret %q, token %q", secret, token)
	}

	wrong := "000000"
	if a.code(t, secret) == wrong {
		wrong = "111111"
	}
	w = a.PostAs(cookie, "/account/security/totp/confirm", url.Values{"token": {token}, "code": {wrong}})
	d = doc(t, w)
	if w.Code != http.StatusUnprocessableEntity || d.Find(`[data-testid="error-code"]`).Length() != 1 {
		t.Fatalf("wrong code: %d, want 422 with the error next to the field", w.Code)
	}
	if again, _ := d.Find(`[data-testid="totp-secret"]`).Attr("data-secret"); again != secret {
		t.Error("the enrolment page came back with another secret")
	}
	if a.count(t, `SELECT count(*) FROM user_totps`) != 0 {
		t.Fatal("a wrong code stored the app")
	}

	w = a.PostAs(cookie, "/account/security/totp/confirm", url.Values{"token": {token}, "code": {a.code(t, secret)}})
	if w.Code != http.StatusOK {
		t.Fatalf("confirm: %d", w.Code)
	}
	d = doc(t, w)
	if n := d.Find(`[data-testid="recovery-code"]`).Length(); n != 10 {
		t.Fatalf("%d recovery codes, want 10", n)
	}
	first := d.Find(`[data-testid="recovery-code"]`).First().Text()
	if href, _ := d.Find(`[data-testid="recovery-saved"]`).Attr("href"); href != "/account/security" {
		t.Errorf("'I saved them' goes to %q", href)
	}
	var details string
	if err := a.DB.QueryRow(`SELECT coalesce(details::text, '') FROM audit_events WHERE action = 'factor.totp_enrolled'`).Scan(&details); err != nil {
		t.Fatalf("no factor.totp_enrolled event: %v", err)
	}
	if strings.Contains(details, secret) || strings.Contains(details, first) {
		t.Error("the audit details hold a secret")
	}
	if a.count(t, `SELECT count(*) FROM user_totps WHERE confirmed_at IS NOT NULL AND secret NOT LIKE '%'||$1||'%'`, secret) != 1 {
		t.Error("the app is not stored sealed")
	}
	d = doc(t, a.GetAs(cookie, "/account"))
	if d.Find(`[data-testid="factor-totp"][data-on]`).Length() != 1 || d.Find(`[data-testid="factor-recovery"][data-left="10"]`).Length() != 1 {
		t.Error("the account page does not show the app and 10 recovery codes")
	}
}

// TestSecondFactorSignIn: with an app, the password opens no session but
// a pending sign-in; a wrong code is refused and audited; the right one
// signs in with the method password+totp; the same code again (in its
// window) is refused, and the pending sign-in works once.
func TestSecondFactorSignIn(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	secret, _ := a.enrol(t, a.SignedIn(t, "ada@example.com", "observer"))
	a.step()

	pending := a.passwordStep(t, "ada@example.com")
	if w := a.GetAs(pending, "/login/second-factor"); w.Code != http.StatusOK || doc(t, w).Find(`[data-testid="second-factor-form"]`).Length() != 1 {
		t.Fatalf("second-factor page: %d", w.Code)
	}
	if w := a.Get("/login/second-factor"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
		t.Errorf("second-factor page without a pending sign-in: %d to %q", w.Code, w.Header().Get("Location"))
	}
	good := a.code(t, secret)
	wrong := "123456"
	if good == wrong {
		wrong = "654321"
	}
	w := a.PostAs(pending, "/login/second-factor", url.Values{"code": {wrong}})
	if w.Code != http.StatusUnauthorized || doc(t, w).Find(`[data-testid="error-code"]`).Length() != 1 || cookieNamed(w, a.Sessions.Name()) != nil {
		t.Fatalf("wrong code: %d, want 401 with the error next to the field and no session", w.Code)
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.second_factor_failed' AND target_label = 'ada@example.com'`) != 1 {
		t.Error("the wrong code is not audited")
	}

	w = a.PostAs(pending, "/login/second-factor", url.Values{"code": {good}, "next": {"/diag"}})
	session := cookieNamed(w, a.Sessions.Name())
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/diag" || session == nil {
		t.Fatalf("right code: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if c := cookieNamed(w, "violet_pending"); c != nil {
		t.Error("the pending cookie is not cleared")
	}
	d := doc(t, a.GetAs(session, "/account"))
	if m, _ := d.Find(`[data-testid="session-row"][data-current] [data-testid="session-method"]`).Attr("data-method"); m != "password+totp" {
		t.Errorf("session method %q, want password+totp", m)
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.succeeded' AND details->>'method' = 'password+totp'`) != 1 {
		t.Error("login.succeeded without its method")
	}

	// The pending sign-in is spent.
	w = a.PostAs(pending, "/login/second-factor", url.Values{"code": {good}})
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") || cookieNamed(w, a.Sessions.Name()) != nil {
		t.Errorf("a spent pending sign-in: %d to %q", w.Code, w.Header().Get("Location"))
	}
	// The same code in its window, with a new password step, is refused.
	again := a.passwordStep(t, "ada@example.com")
	if w := a.PostAs(again, "/login/second-factor", url.Values{"code": {good}}); w.Code != http.StatusUnauthorized {
		t.Errorf("the same code again: %d, want 401", w.Code)
	}
	a.step()
	if w := a.PostAs(again, "/login/second-factor", url.Values{"code": {a.code(t, secret)}}); w.Code != http.StatusSeeOther {
		t.Errorf("the next step's code: %d, want 303", w.Code)
	}
}

// TestRecoveryCodeSignIn: each recovery code signs in exactly once, with
// the method password+recovery, audited; the next page says how many are
// left.
func TestRecoveryCodeSignIn(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	_, codes := a.enrol(t, a.SignedIn(t, "ada@example.com", "observer"))
	for i, c := range codes {
		w := a.PostAs(a.passwordStep(t, "ada@example.com"), "/login/second-factor", url.Values{"code": {strings.ToLower(c)}})
		session := cookieNamed(w, a.Sessions.Name())
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account/security" || session == nil {
			t.Fatalf("recovery code %d: %d to %q", i, w.Code, w.Header().Get("Location"))
		}
		if i == 0 {
			d := doc(t, a.GetAs(session, "/account/security"))
			if d.Find(`[data-testid="factor-recovery"][data-left="9"]`).Length() != 1 {
				t.Error("the page after sign-in does not say 9 codes are left")
			}
			d = doc(t, a.GetAs(session, "/account"))
			if m, _ := d.Find(`[data-testid="session-row"][data-current] [data-testid="session-method"]`).Attr("data-method"); m != "password+recovery" {
				t.Errorf("session method %q", m)
			}
		}
	}
	for _, c := range codes[:2] {
		if w := a.PostAs(a.passwordStep(t, "ada@example.com"), "/login/second-factor", url.Values{"code": {c}}); w.Code != http.StatusUnauthorized {
			t.Errorf("a recovery code used twice: %d, want 401", w.Code)
		}
	}
	if n := a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'factor.recovery_used'`); n != 10 {
		t.Errorf("%d factor.recovery_used events, want 10", n)
	}
	if n := a.count(t, `SELECT count(*) FROM audit_events WHERE details::text ILIKE '%'||$1||'%'`, strings.ReplaceAll(codes[0], "-", "")); n != 0 {
		t.Error("a recovery code is in the audit log")
	}
}

// TestSecondFactorThrottling: wrong codes count with wrong passwords:
// after ten, even the right code is refused with 429 and Retry-After.
func TestSecondFactorThrottling(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	secret, _ := a.enrol(t, a.SignedIn(t, "ada@example.com", "observer"))
	a.step()
	pending := a.passwordStep(t, "ada@example.com")
	first429 := 0
	for i := 1; i <= 12; i++ {
		wrong := "00000" + string(rune('0'+i%10))
		if wrong == a.code(t, secret) {
			wrong = "999999"
		}
		w := a.PostAs(pending, "/login/second-factor", url.Values{"code": {wrong}})
		if w.Code == http.StatusTooManyRequests {
			if first429 == 0 {
				first429 = i
			}
			if ra := w.Header().Get("Retry-After"); ra == "" || ra == "0" {
				t.Fatalf("429 without Retry-After")
			}
		} else if w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, w.Code)
		}
	}
	if first429 == 0 || first429 > 11 {
		t.Fatalf("first 429 at attempt %d, want by the 11th", first429)
	}
	if w := a.PostAs(pending, "/login/second-factor", url.Values{"code": {a.code(t, secret)}}); w.Code != http.StatusTooManyRequests {
		t.Errorf("right code while throttled: %d, want 429", w.Code)
	}
	if w := postLogin(a.App, "ada@example.com", apptest.Password); w.Code != http.StatusTooManyRequests {
		t.Errorf("the password while throttled: %d, want 429", w.Code)
	}
}

// TestPendingSignInExpires: a pending sign-in is refused after five
// minutes, and after the password changed.
func TestPendingSignInExpires(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	secret, _ := a.enrol(t, a.SignedIn(t, "ada@example.com", "observer"))
	a.step()
	pending := a.passwordStep(t, "ada@example.com")
	a.offset.Add(int64(5*time.Minute + time.Second))
	w := a.PostAs(pending, "/login/second-factor", url.Values{"code": {a.code(t, secret)}})
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") || cookieNamed(w, a.Sessions.Name()) != nil {
		t.Errorf("after 5 minutes: %d to %q", w.Code, w.Header().Get("Location"))
	}

	a.step()
	pending = a.passwordStep(t, "ada@example.com")
	if _, err := a.DB.Exec(`UPDATE users SET password_hash = password_hash || 'x' WHERE email = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	w = a.PostAs(pending, "/login/second-factor", url.Values{"code": {a.code(t, secret)}})
	if w.Code != http.StatusSeeOther || cookieNamed(w, a.Sessions.Name()) != nil {
		t.Errorf("after a password change: %d to %q", w.Code, w.Header().Get("Location"))
	}
}

// TestReauthBeforeFactorChanges: with an app, starting a new enrolment,
// new recovery codes and removing the app each ask the password and a
// code; wrong ones are refused next to their field and counted.
func TestReauthBeforeFactorChanges(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	cookie := a.SignedIn(t, "ada@example.com", "observer")
	secret, codes := a.enrol(t, cookie)
	a.step()
	for _, tc := range []struct {
		path, prefix string
		form         url.Values
		field        string
	}{
		{"/account/security/totp", "start_", url.Values{"start_password": {apptest.Password}}, "start_code"},
		{"/account/security/recovery-codes", "regen_", url.Values{"regen_password": {apptest.Password}, "regen_code": {"000000"}}, "regen_code"},
		{"/account/security/totp/remove", "remove_", url.Values{"remove_password": {"not my password"}, "remove_code": {a.code(t, secret)}}, "remove_password"},
	} {
		w := a.PostAs(cookie, tc.path, tc.form)
		if w.Code != http.StatusUnprocessableEntity || doc(t, w).Find(`[data-testid="error-`+tc.field+`"]`).Length() != 1 {
			t.Errorf("%s: %d, want 422 with an error next to %s", tc.path, w.Code, tc.field)
		}
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action IN ('login.failed', 'login.second_factor_failed') AND details->>'via' = 'factor_change'`) != 2 {
		t.Error("re-authentication failures are not recorded")
	}
	w := a.PostAs(cookie, "/account/security/recovery-codes", url.Values{"regen_password": {apptest.Password}, "regen_code": {codes[0]}})
	if w.Code != http.StatusOK || doc(t, w).Find(`[data-testid="recovery-code"]`).Length() != 10 {
		t.Fatalf("regenerate: %d", w.Code)
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'factor.recovery_regenerated'`) != 1 {
		t.Error("regeneration not audited")
	}
	w = a.PostAs(cookie, "/account/security/totp/remove", url.Values{"remove_password": {apptest.Password}, "remove_code": {a.code(t, secret)}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", w.Code, w.Body)
	}
	if a.count(t, `SELECT count(*) FROM user_totps`)+a.count(t, `SELECT count(*) FROM recovery_codes`) != 0 {
		t.Error("the app or its codes are left")
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'factor.totp_removed'`) != 1 {
		t.Error("removal not audited")
	}
	// Without an app, the password alone signs in again.
	if w := postLogin(a.App, "ada@example.com", apptest.Password); w.Code != http.StatusSeeOther || cookieNamed(w, a.Sessions.Name()) == nil {
		t.Errorf("password sign-in after removal: %d", w.Code)
	}
}

// TestSecondFactorPolicy: an admin requires a second factor of a group
// (audited); a member without one signs in to a session that reaches only
// the enrolment pages until an app is confirmed, and cannot remove it.
func TestSecondFactorPolicy(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	admin := a.SignedIn(t, "root@example.com", "admin")
	a.User(t, "red@example.com", "redteam")
	var groupID string
	if err := a.DB.QueryRow(`SELECT id FROM groups WHERE name = 'redteam'`).Scan(&groupID); err != nil {
		t.Fatal(err)
	}
	d := doc(t, a.GetAs(admin, "/admin/groups/"+groupID))
	name, _ := d.Find(`input[name="name"]`).Attr("value")
	if d.Find(`[data-testid="group-require-second-factor"]`).Length() != 1 {
		t.Fatal("no policy checkbox on the group form")
	}
	w := a.PostAs(admin, "/admin/groups/"+groupID, url.Values{"name": {name}, "require_second_factor": {"1"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("save group: %d\n%s", w.Code, w.Body)
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'group.updated' AND details->'require_second_factor'->>'to' = 'true'`) != 1 {
		t.Error("the policy change is not in the group's audit")
	}

	w = postLogin(a.App, "red@example.com", apptest.Password)
	session := cookieNamed(w, a.Sessions.Name())
	if w.Code != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in: %d", w.Code)
	}
	for _, path := range []string{"/", "/missions", "/account", "/notifications"} {
		if w := a.GetAs(session, path); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account/security" {
			t.Errorf("GET %s: %d to %q, want the enrolment page", path, w.Code, w.Header().Get("Location"))
		}
	}
	if w := a.GetAs(session, "/missions", "HX-Request", "true"); w.Header().Get("HX-Redirect") != "/account/security" {
		t.Errorf("htmx GET: %d, HX-Redirect %q", w.Code, w.Header().Get("HX-Redirect"))
	}
	if w := a.PostAs(session, "/account/language", url.Values{"locale": {"fr"}}); w.Code != http.StatusForbidden {
		t.Errorf("a write: %d, want 403", w.Code)
	}
	d = doc(t, a.GetAs(session, "/account/security"))
	if d.Find(`[data-testid="enrol-required"]`).Length() != 1 {
		t.Error("the enrolment page does not say why")
	}
	secret, _ := a.enrol(t, session)
	for _, path := range []string{"/", "/account"} {
		if w := a.GetAs(session, path); w.Code != http.StatusOK {
			t.Errorf("GET %s after enrolment: %d, want 200", path, w.Code)
		}
	}
	if m, _ := doc(t, a.GetAs(session, "/account")).Find(`[data-testid="session-row"][data-current] [data-testid="session-method"]`).Attr("data-method"); m != "password+totp" {
		t.Errorf("session method after enrolment %q, want password+totp", m)
	}
	a.step()
	w = a.PostAs(session, "/account/security/totp/remove", url.Values{"remove_password": {apptest.Password}, "remove_code": {a.code(t, secret)}})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "cannot remove your last one") {
		t.Errorf("removing the last factor: %d, want 422 with the reason", w.Code)
	}
	if a.count(t, `SELECT count(*) FROM user_totps`) != 1 {
		t.Error("the required factor was removed")
	}
	if w := a.PostAs(session, "/logout", nil); w.Code != http.StatusSeeOther {
		t.Errorf("sign out: %d", w.Code)
	}
}
