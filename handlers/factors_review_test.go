package handlers_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"

	"violet/ent/group"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/invite"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

// requireFactorOf makes group require a second factor.
func (a *clockedApp) requireFactorOf(t *testing.T, group string) {
	t.Helper()
	if _, err := a.DB.Exec(`UPDATE groups SET require_second_factor = true WHERE name = $1`, group); err != nil {
		t.Fatal(err)
	}
}

// methodOf is the sign-in method of the newest session of email.
func (a *clockedApp) methodOf(t *testing.T, email string) string {
	t.Helper()
	var m string
	if err := a.DB.QueryRow(`SELECT rt.method FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id
		WHERE u.email = $1 AND rt.revoked_at IS NULL ORDER BY rt.issued_at DESC LIMIT 1`, email).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// acceptReset makes a reset link for email as admin and sets a new
// password through it.
func (a *clockedApp) acceptReset(t *testing.T, admin *http.Cookie, userID uuid.UUID) *resetResult {
	t.Helper()
	token := invToken(t, a.App, a.PostAs(admin, "/admin/users/"+userID.String()+"/reset-invitation", nil))
	w := a.PostAs(nil, "/invitations/"+token, url.Values{
		"password": {"my brand new passphrase"}, "password_confirm": {"my brand new passphrase"},
	})
	return &resetResult{w.Code, w.Header().Get("Location"), cookieNamed(w, a.Sessions.Name())}
}

type resetResult struct {
	code     int
	location string
	session  *http.Cookie
}

// TestResetLinkWithTOTPDoesNotSignIn: a reset link proves the mailbox,
// not the app: the password is set, no session starts, and the sign-in
// page says to sign in (password, then a code).
func TestResetLinkWithTOTPDoesNotSignIn(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	admin := a.SignedIn(t, "root@example.com", "admin")
	u := a.User(t, "ada@example.com", "observer")
	secret, _ := a.enrol(t, a.Login(t, "ada@example.com", apptest.Password))
	a.step()

	r := a.acceptReset(t, admin, u.ID)
	if r.code != http.StatusSeeOther || r.location != paths.Login || r.session != nil {
		t.Fatalf("reset with an app: %d to %q, session %v; want /login and no session", r.code, r.location, r.session != nil)
	}
	if n := a.count(t, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`, u.ID); n != 0 {
		t.Errorf("%d live sessions after the reset", n)
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'invitation.accepted' AND actor_id = $1`, u.ID) != 1 {
		t.Error("the acceptance is not recorded with the account as actor")
	}
	// The new password leads to the second step, and a code finishes it.
	w := postLogin(a.App, "ada@example.com", "my brand new passphrase")
	pending := cookieNamed(w, "violet_pending")
	if pending == nil || cookieNamed(w, a.Sessions.Name()) != nil {
		t.Fatalf("new password: %d to %q, want the second step", w.Code, w.Header().Get("Location"))
	}
	w = a.PostAs(pending, "/login/second-factor", url.Values{"code": {a.code(t, secret)}})
	if w.Code != http.StatusSeeOther || cookieNamed(w, a.Sessions.Name()) == nil {
		t.Errorf("code after the reset: %d", w.Code)
	}
}

// TestResetLinkUnderPolicyGivesEnrolSession: someone whose group requires
// a factor they do not have gets an enrolment-only session from a reset
// link (and a new account from an invitation alike).
func TestResetLinkUnderPolicyGivesEnrolSession(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	admin := a.SignedIn(t, "root@example.com", "admin")
	u := a.User(t, "red@example.com", "redteam")
	a.requireFactorOf(t, "redteam")

	r := a.acceptReset(t, admin, u.ID)
	if r.code != http.StatusSeeOther || r.session == nil {
		t.Fatalf("reset: %d to %q, session %v", r.code, r.location, r.session != nil)
	}
	if m := a.methodOf(t, "red@example.com"); m != "password:enrol" {
		t.Errorf("session method %q, want password:enrol", m)
	}
	if w := a.GetAs(r.session, "/missions"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != paths.AccountSecurity {
		t.Errorf("GET /missions: %d to %q, want the enrolment page", w.Code, w.Header().Get("Location"))
	}

	// A new account of an invitation into that group.
	var groupID uuid.UUID
	if err := a.DB.QueryRow(`SELECT id FROM groups WHERE name = 'redteam'`).Scan(&groupID); err != nil {
		t.Fatal(err)
	}
	_, token, err := invite.Create(rule.SystemContext(context.Background()), a.Ent, a.now(), invite.Params{GroupIDs: []uuid.UUID{groupID}})
	if err != nil {
		t.Fatal(err)
	}
	w := a.PostAs(nil, "/invitations/"+token, invAcceptForm("new@example.com", "Newcomer"))
	if w.Code != http.StatusSeeOther || cookieNamed(w, a.Sessions.Name()) == nil {
		t.Fatalf("accept: %d", w.Code)
	}
	if m := a.methodOf(t, "new@example.com"); m != "password:enrol" {
		t.Errorf("new account's session method %q, want password:enrol", m)
	}
}

// TestSecondFactorBurstIsThrottled: wrong codes sent at once with one
// pending sign-in take turns on the account's lock; at most the
// throttle's limit (10 per email) are checked, the others are refused as
// throttled, and no more failures than that are recorded.
func TestSecondFactorBurstIsThrottled(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	secret, _ := a.enrol(t, a.SignedIn(t, "ada@example.com", "observer"))
	a.step()
	pending := a.passwordStep(t, "ada@example.com")
	wrong := "000000"
	if wrong == a.code(t, secret) {
		wrong = "999999"
	}
	const n = 24
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = a.PostAs(pending, "/login/second-factor", url.Values{"code": {wrong}}).Code
		}()
	}
	close(start)
	wg.Wait()
	checked, throttled := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Errorf("status %d", c)
		}
	}
	if checked > 10 || checked+throttled != n {
		t.Errorf("%d codes checked, %d throttled; want at most 10 checked", checked, throttled)
	}
	if f := a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.second_factor_failed'`); f != checked || f > 10 {
		t.Errorf("%d failures recorded for %d checked", f, checked)
	}
}

// TestReauthBurstIsThrottled: the same for wrong passwords before a
// change of factors.
func TestReauthBurstIsThrottled(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	cookie := a.SignedIn(t, "ada@example.com", "observer")
	const n = 16
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = a.PostAs(cookie, "/account/security/totp", url.Values{"start_password": {"not my password"}}).Code
		}()
	}
	close(start)
	wg.Wait()
	checked := 0
	for _, c := range codes {
		if c == http.StatusUnprocessableEntity {
			checked++
		} else if c != http.StatusTooManyRequests {
			t.Errorf("status %d", c)
		}
	}
	if f := a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.failed'`); checked > 10 || f != checked {
		t.Errorf("%d passwords checked, %d failures recorded; want at most 10", checked, f)
	}
}

// TestEnrolmentEndsOtherSessions: confirming an app ends the account's
// other sessions (audited as session.ended), the page says so first; the
// enrolment's token cannot confirm a second time.
func TestEnrolmentEndsOtherSessions(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	laptop := a.SignedIn(t, "ada@example.com", "observer")
	phone := a.Login(t, "ada@example.com", apptest.Password)

	w := a.PostAs(laptop, "/account/security/totp", url.Values{"start_password": {apptest.Password}})
	d := doc(t, w)
	if d.Find(`[data-testid="enrol-ends-sessions"]`).Length() != 1 {
		t.Error("the enrolment page does not say other sessions end")
	}
	secret, _ := d.Find(`[data-testid="totp-secret"]`).Attr("data-secret")
	token, _ := d.Find(`input[name="token"]`).Attr("value")
	if w := a.PostAs(laptop, "/account/security/totp/confirm", url.Values{"token": {token}, "code": {a.code(t, secret)}}); w.Code != http.StatusOK {
		t.Fatalf("confirm: %d", w.Code)
	}
	if w := a.GetAs(phone, "/"); w.Code != http.StatusSeeOther {
		t.Errorf("the other session still works: %d", w.Code)
	}
	if w := a.GetAs(laptop, "/"); w.Code != http.StatusOK {
		t.Errorf("the current session ended: %d", w.Code)
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'session.ended' AND details->>'via' = 'factor_enrolled' AND (details->>'sessions_ended')::int = 1`) != 1 {
		t.Error("the ended sessions are not audited")
	}

	// The same token again (the form sent twice, an old tab): refused,
	// the app confirmed stays.
	a.step()
	w = a.PostAs(laptop, "/account/security/totp/confirm", url.Values{"token": {token}, "code": {a.code(t, secret)}})
	if w.Code != http.StatusUnprocessableEntity {
		t.Errorf("token used again: %d, want 422", w.Code)
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'factor.totp_enrolled'`) != 1 {
		t.Error("a token confirmed twice")
	}
}

// TestSealedSecretCountsAsWrongCode: a secret this instance cannot open
// (the session key changed) makes an app code a counted wrong code with a
// hint to use a recovery code, not a 500; a recovery code still works.
func TestSealedSecretCountsAsWrongCode(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	secret, codes := a.enrol(t, a.SignedIn(t, "ada@example.com", "observer"))
	a.step()
	if _, err := a.DB.Exec(`UPDATE user_totps SET secret = 'sealed-under-another-key'`); err != nil {
		t.Fatal(err)
	}
	pending := a.passwordStep(t, "ada@example.com")
	w := a.PostAs(pending, "/login/second-factor", url.Values{"code": {a.code(t, secret)}})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "recovery codes") {
		t.Errorf("code against a sealed secret: %d, want 401 with the hint", w.Code)
	}
	if a.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.second_factor_failed' AND details->>'reason' IS NOT NULL`) != 1 {
		t.Error("the failure is not counted")
	}
	if w := a.PostAs(pending, "/login/second-factor", url.Values{"code": {codes[0]}}); w.Code != http.StatusSeeOther {
		t.Errorf("recovery code: %d", w.Code)
	}
}

// TestEventsDuringEnrolment: an enrolment-only session keeps the bare
// event stream but not a mission's.
func TestEventsDuringEnrolment(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	a.User(t, "red@example.com", "redteam")
	a.requireFactorOf(t, "redteam")
	session := cookieNamed(postLogin(a.App, "red@example.com", apptest.Password), a.Sessions.Name())
	if session == nil {
		t.Fatal("no session")
	}
	if w := a.GetAs(session, "/events?mission="+uuid.NewString()); w.Code != http.StatusForbidden {
		t.Errorf("a mission's stream during enrolment: %d, want 403", w.Code)
	}
}

// ssoForm posts form from browser b (same-origin, as a page's form) and
// returns the final status, path and body.
func ssoForm(t *testing.T, b *http.Client, u string, form url.Values) (int, string, string) {
	t.Helper()
	resp, err := b.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.Path, string(body)
}

var (
	enrolSecret = regexp.MustCompile(`data-secret="([A-Z2-7]+)"`)
	enrolToken  = regexp.MustCompile(`name="token" value="([^"]+)"`)
	shownCode   = regexp.MustCompile(`data-testid="recovery-code"[^>]*>([^<]+)<`)
)

// ssoEnrol sets up an app from browser b, signed in through the provider
// (no password asked), and returns the recovery codes.
func ssoEnrol(t *testing.T, w *ssoWorld, b *http.Client) []string {
	t.Helper()
	status, _, body := ssoForm(t, b, w.base+paths.AccountTOTP, url.Values{})
	s, tok := enrolSecret.FindStringSubmatch(body), enrolToken.FindStringSubmatch(body)
	if status != http.StatusOK || s == nil || tok == nil {
		t.Fatalf("start enrolment without a password: %d\n%s", status, body)
	}
	code, err := totp.GenerateCode(s[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, _, body = ssoForm(t, b, w.base+paths.AccountTOTPConfirm, url.Values{"token": {html.UnescapeString(tok[1])}, "code": {code}})
	var codes []string
	for _, m := range shownCode.FindAllStringSubmatch(body, -1) {
		codes = append(codes, strings.TrimSpace(m[1]))
	}
	if status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirm: %d, %d codes\n%s", status, len(codes), body)
	}
	return codes
}

func (w *ssoWorld) methodOf(t *testing.T, email string) string {
	t.Helper()
	var m string
	if err := w.app.DB.QueryRow(`SELECT rt.method FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id
		WHERE u.email = $1 AND rt.revoked_at IS NULL ORDER BY rt.issued_at DESC LIMIT 1`, email).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSSOSecondFactor: someone with an app who signs in through the
// provider gets Violet's second step too (oidc:corp+recovery); an account
// the provider made is never asked a password: its fresh sign-in starts
// the first enrolment, a code alone the later changes.
func TestSSOSecondFactor(t *testing.T) {
	w := newSSOWorld(t, "", nil)
	sys := rule.SystemContext(context.Background())
	if _, _, err := invite.Create(sys, w.app.Ent, time.Now(), invite.Params{EmailHint: "alice@invited.test"}); err != nil {
		t.Fatal(err)
	}
	w.users.add("alice", "alice@invited.test")
	b := ssoBrowser(t)
	if status, path, body := w.signIn(t, b, "alice"); status != http.StatusOK || path != paths.Home {
		t.Fatalf("first sign-in: %d at %s\n%s", status, path, body)
	}
	if _, _, body := ssoGet(t, b, w.base+paths.AccountSecurity); strings.Contains(body, `name="start_password"`) ||
		!strings.Contains(body, `data-testid="security-start-fresh-sign-in"`) {
		t.Error("the security page asks a provider's account for a password")
	}
	codes := ssoEnrol(t, w, b)

	b2 := ssoBrowser(t)
	status, path, body := w.signIn(t, b2, "alice")
	if status != http.StatusOK || path != paths.LoginSecondFactor {
		t.Fatalf("sign-in with an app: %d at %s, want the second step\n%s", status, path, body)
	}
	// Only the first browser's session (where the app was set up) lives.
	var live int
	if err := w.app.DB.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL`).Scan(&live); err != nil || live != 1 {
		t.Errorf("%d live sessions before the second step, want 1: %v", live, err)
	}
	if status, path, _ := ssoForm(t, b2, w.base+paths.LoginSecondFactor, url.Values{"code": {codes[0]}}); status != http.StatusOK || path != paths.AccountSecurity {
		t.Fatalf("recovery code: %d at %s", status, path)
	}
	if m := w.methodOf(t, "alice@invited.test"); m != "oidc:corp+recovery" {
		t.Errorf("session method %q, want oidc:corp+recovery", m)
	}
	// A later change: a code alone, no password.
	if status, _, _ := ssoForm(t, b2, w.base+paths.AccountRecoveryCodes, url.Values{"regen_code": {"000000"}}); status != http.StatusUnprocessableEntity {
		t.Errorf("wrong code: %d, want 422", status)
	}
	if status, _, body := ssoForm(t, b2, w.base+paths.AccountRecoveryCodes, url.Values{"regen_code": {codes[1]}}); status != http.StatusOK ||
		len(shownCode.FindAllString(body, -1)) != 10 {
		t.Errorf("new recovery codes with a code alone: %d", status)
	}
}

// TestSSOPolicyEnrolSession: a provider's sign-in by someone whose group
// requires a factor they have not set up gets an enrolment-only session
// (oidc:corp:enrol), which a fresh sign-in lets enrol without a password;
// an older one must sign in again.
func TestSSOPolicyEnrolSession(t *testing.T) {
	w := newSSOWorld(t, "", nil)
	sys := rule.SystemContext(context.Background())
	red, err := w.app.Ent.Group.Query().Where(group.Name(auth.GroupRedTeam)).Only(sys)
	if err != nil {
		t.Fatal(err)
	}
	if err := red.Update().SetRequireSecondFactor(true).Exec(sys); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"bob@invited.test", "carol@invited.test"} {
		if _, _, err := invite.Create(sys, w.app.Ent, time.Now(), invite.Params{EmailHint: email, GroupIDs: []uuid.UUID{red.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	w.users.add("bob", "bob@invited.test")
	w.users.add("carol", "carol@invited.test")

	b := ssoBrowser(t)
	if status, path, _ := w.signIn(t, b, "bob"); status != http.StatusOK || path != paths.AccountSecurity {
		t.Fatalf("sign-in: %d at %s, want the enrolment page", status, path)
	}
	if m := w.methodOf(t, "bob@invited.test"); m != "oidc:corp:enrol" {
		t.Errorf("session method %q, want oidc:corp:enrol", m)
	}
	if status, path, _ := ssoGet(t, b, w.base+"/missions"); status != http.StatusOK || path != paths.AccountSecurity {
		t.Errorf("GET /missions: %d at %s, want the enrolment page", status, path)
	}
	ssoEnrol(t, w, b)
	if m := w.methodOf(t, "bob@invited.test"); m != "oidc:corp+totp" {
		t.Errorf("session method after enrolment %q, want oidc:corp+totp", m)
	}
	if status, path, _ := ssoGet(t, b, w.base+"/missions"); status != http.StatusOK || path != "/missions" {
		t.Errorf("GET /missions after enrolment: %d at %s", status, path)
	}

	// A sign-in more than 15 minutes old no longer stands for the password.
	b2 := ssoBrowser(t)
	w.signIn(t, b2, "carol")
	if _, err := w.app.DB.Exec(`UPDATE refresh_tokens SET issued_at = issued_at - interval '16 minutes'
		WHERE user_id = (SELECT id FROM users WHERE email = 'carol@invited.test')`); err != nil {
		t.Fatal(err)
	}
	if status, _, body := ssoForm(t, b2, w.base+paths.AccountTOTP, url.Values{}); status != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "less than 15 minutes") {
		t.Errorf("enrolment after 16 minutes: %d, want 422 asking to sign in again", status)
	}
}

// TestAdminRemovesLostApp: a user manager removes the app of someone who
// lost it: the app and recovery codes go, their sessions end, audited
// with the administrator as actor; the password alone signs in again.
func TestAdminRemovesLostApp(t *testing.T) {
	t.Parallel()
	a := newClockedApp(t)
	admin := a.SignedIn(t, "root@example.com", "admin")
	u := a.User(t, "ada@example.com", "observer")
	ada := a.Login(t, "ada@example.com", apptest.Password)
	a.enrol(t, ada)

	d := doc(t, a.GetAs(admin, "/admin/users/"+u.ID.String()))
	if confirm, _ := d.Find(`form:has([data-testid="user-remove-totp"])`).Attr("hx-confirm"); confirm == "" {
		t.Fatal("no confirmed removal button on the user's page")
	}
	w := a.PostAs(admin, "/admin/users/"+u.ID.String()+"/remove-totp", nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", w.Code, w.Body)
	}
	if a.count(t, `SELECT count(*) FROM user_totps`)+a.count(t, `SELECT count(*) FROM recovery_codes`) != 0 {
		t.Error("the app or its codes are left")
	}
	if w := a.GetAs(ada, "/"); w.Code != http.StatusSeeOther {
		t.Errorf("the user's session still works: %d", w.Code)
	}
	if a.count(t, `SELECT count(*) FROM audit_events e JOIN users r ON r.id = e.actor_id
		WHERE e.action = 'factor.totp_removed' AND r.email = 'root@example.com' AND e.target_id = $1`, u.ID.String()) != 1 {
		t.Error("the removal is not audited with the administrator as actor")
	}
	if w := postLogin(a.App, "ada@example.com", apptest.Password); cookieNamed(w, a.Sessions.Name()) == nil {
		t.Errorf("password alone after the removal: %d", w.Code)
	}
	if doc(t, a.GetAs(admin, "/admin/users/"+u.ID.String())).Find(`[data-testid="user-remove-totp"]`).Length() != 0 {
		t.Error("the button stays without an app")
	}
}
