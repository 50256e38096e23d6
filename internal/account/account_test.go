package account_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const password = "correct horse battery staple"

// world is a database with one account, Ada, whose password is password,
// and the account workflows with a throttle of three failures.
type world struct {
	db       *sql.DB
	client   *ent.Client
	sessions *auth.SessionStore
	svc      *account.Service
	ada      uuid.UUID
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	hasher, err := auth.NewHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(context.Background(), password)
	if err != nil {
		t.Fatal(err)
	}
	sys := rule.SystemContext(context.Background())
	w := &world{db: db, client: client, sessions: auth.NewSessionStore(db, make([]byte, 32), false, time.Now)}
	w.svc = account.NewService(client, db, w.sessions, hasher, auth.NewThrottle(db, time.Minute, 3, 100, time.Now), time.Now)
	w.ada = client.User.Create().SetEmail("ada@example.com").SetDisplayName("Ada").SetPasswordHash(hash).SaveX(sys).ID
	client.User.Create().SetEmail("grace@example.com").SetDisplayName("Grace Hopper").SetPasswordHash(hash).SaveX(sys)
	return w
}

// signIn signs Ada in and returns her context on the new session.
func (w *world) signIn(t *testing.T) (context.Context, *auth.SessionRecord) {
	t.Helper()
	s, err := w.svc.SignIn(context.Background(), account.SignInInput{Email: "Ada@Example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewContext(context.Background(), s.Session.Viewer()), s.Session
}

func (w *world) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// keys returns the message keys of an invalid input, the form's under "".
func keys(err error) map[string]string {
	var inv *app.Invalid
	if !errors.As(err, &inv) {
		return nil
	}
	out := map[string]string{}
	for f, k := range inv.Fields {
		out[f] = k
	}
	if inv.Key != "" {
		out[""] = inv.Key
	}
	return out
}

func TestSignIn(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	_, err := w.svc.SignIn(ctx, account.SignInInput{Email: "ada@example.com", Password: string(make([]byte, auth.MaxPasswordBytes+1))})
	if !errors.Is(err, account.ErrOversized) || keys(err)["password"] != "auth.login.password_too_long" {
		t.Errorf("oversized password: %v", err)
	}
	if _, err := w.svc.SignIn(ctx, account.SignInInput{}); keys(err)["email"] != "form.required" || keys(err)["password"] != "form.required" {
		t.Errorf("empty form: %v", err)
	}
	for _, email := range []string{"grace@example.com", "nobody@example.com", "grace@example.com", "grace@example.com"} {
		_, err := w.svc.SignIn(ctx, account.SignInInput{Email: email, Password: "wrong password"})
		if !errors.Is(err, account.ErrSignInFailed) || keys(err)[""] != "auth.login.failed" {
			t.Errorf("%s, wrong password: %v", email, err)
		}
	}
	var th *account.Throttled
	if _, err := w.svc.SignIn(ctx, account.SignInInput{Email: "grace@example.com", Password: password}); !errors.As(err, &th) || th.Wait <= 0 || keys(err)[""] != "auth.login.throttled" {
		t.Errorf("after three failures: %v", err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.failed'`); n != 4 {
		t.Errorf("%d failures recorded, want 4", n)
	}

	// Grace is throttled, Ada is not.
	vctx, first := w.signIn(t)
	if auth.FromContext(vctx).UserID != w.ada {
		t.Fatal("signed in as someone else")
	}
	// Signing in again from the same browser ends the session it had.
	again, err := w.svc.SignIn(ctx, account.SignInInput{Email: "ada@example.com", Password: password, Replace: first.ID})
	if err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL`); n != 1 {
		t.Errorf("%d live sessions, want 1", n)
	}
	if err := w.svc.SignOut(auth.NewContext(ctx, again.Session.Viewer()), again.Session); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL`); n != 0 {
		t.Errorf("%d live sessions after signing out", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action IN ('login.succeeded', 'logout') AND actor_id = $1`, w.ada); n != 3 {
		t.Errorf("%d sign-in and sign-out events by Ada, want 3", n)
	}
}

func TestProfile(t *testing.T) {
	w := setup(t)
	ctx, _ := w.signIn(t)
	if _, err := w.svc.UpdateProfile(ctx, account.ProfileInput{DisplayName: " ", Locale: "xx"}); keys(err)["display_name"] != "form.required" || keys(err)["locale"] != "account.profile.locale_invalid" {
		t.Errorf("empty name, unknown language: %v", err)
	}
	if _, err := w.svc.UpdateProfile(ctx, account.ProfileInput{DisplayName: "Grace  Hopper", Locale: "en"}); keys(err)["display_name"] != "identity.name.look_alike" {
		t.Errorf("another account's name: %v", err)
	}
	if changed, err := w.svc.UpdateProfile(ctx, account.ProfileInput{DisplayName: "Ada", Locale: "en"}); err != nil || changed {
		t.Errorf("nothing new: %v, %v", changed, err)
	}
	if changed, err := w.svc.UpdateProfile(ctx, account.ProfileInput{DisplayName: "Ada Lovelace", Locale: "fr"}); err != nil || !changed {
		t.Errorf("new name and language: %v, %v", changed, err)
	}
	if err := w.svc.SetLanguage(ctx, "xx"); !errors.Is(err, app.ErrInvalid) {
		t.Errorf("unknown language: %v", err)
	}
	if err := w.svc.SetLanguage(ctx, "en"); err != nil {
		t.Fatal(err)
	}
	p, err := w.svc.Page(ctx, uuid.Nil)
	if err != nil || p.Profile.DisplayName != "Ada Lovelace" || p.Profile.Locale != "en" || len(p.Sessions.Rows) != 1 {
		t.Errorf("page %+v, %v", p, err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'account.updated'`); n != 2 {
		t.Errorf("%d account events, want 2", n)
	}
}

func TestPasswordAndSessions(t *testing.T) {
	w := setup(t)
	ctx, current := w.signIn(t)
	w.signIn(t)
	_, third := w.signIn(t)
	rows, err := w.svc.Sessions(ctx, current.ID)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d sessions, %v", len(rows), err)
	}

	in := account.PasswordInput{Current: "wrong", New: "a much better password", Confirm: "a much better password"}
	if err := w.svc.ChangePassword(ctx, in, current.ID); keys(err)["current_password"] != "account.password.current_wrong" {
		t.Errorf("wrong current password: %v", err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.failed' AND details->>'via' = 'password_change'`); n != 1 {
		t.Errorf("%d failures recorded, want 1", n)
	}
	in.Confirm = "something else"
	if err := w.svc.ChangePassword(ctx, in, current.ID); keys(err)["new_password_confirm"] != "account.password.mismatch" {
		t.Errorf("confirmation differs: %v", err)
	}

	// Ending one session, then ending it again.
	ended, err := w.svc.EndSession(ctx, third.ID, current.ID)
	if err != nil || !ended.Ended || ended.Current {
		t.Errorf("end a session: %+v, %v", ended, err)
	}
	if ended, err := w.svc.EndSession(ctx, third.ID, current.ID); err != nil || ended.Ended {
		t.Errorf("end it again: %+v, %v", ended, err)
	}
	if _, err := w.svc.EndSession(ctx, uuid.New(), current.ID); !ent.IsNotFound(err) {
		t.Errorf("someone else's session: %v", err)
	}

	in = account.PasswordInput{Current: password, New: "a much better password", Confirm: "a much better password"}
	if err := w.svc.ChangePassword(ctx, in, current.ID); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'password.changed' AND details->>'sessions_ended' = '1'`); n != 1 {
		t.Errorf("%d password events ending one session, want 1", n)
	}
	if n, err := w.svc.EndOthers(ctx, current.ID); err != nil || n != 0 {
		t.Errorf("no other session left: %d, %v", n, err)
	}
	if rows, err := w.svc.Sessions(ctx, current.ID); err != nil || len(rows) != 1 || !rows[0].Current {
		t.Errorf("sessions left %+v, %v", rows, err)
	}
	if _, err := w.svc.SignIn(context.Background(), account.SignInInput{Email: "ada@example.com", Password: "a much better password"}); err != nil {
		t.Errorf("sign in with the new password: %v", err)
	}
}

// TestTimeZone: the first sign-in takes the browser's zone into the
// account and the session (so the viewer of the very next request has
// it); a later one does not replace it; the profile sets it, refusing a
// name that is not a zone, and the language switch leaves it alone.
func TestTimeZone(t *testing.T) {
	w := setup(t)
	in := account.SignInInput{Email: "ada@example.com", Password: password, TimeZone: "Europe/Paris"}
	s, err := w.svc.SignIn(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if s.Session.TimeZone != "Europe/Paris" || s.Session.Viewer().TimeZone != "Europe/Paris" {
		t.Errorf("the new session's zone is %q, want Europe/Paris", s.Session.TimeZone)
	}
	in.TimeZone = "Asia/Tokyo"
	if s, err = w.svc.SignIn(context.Background(), in); err != nil || s.Session.TimeZone != "Europe/Paris" {
		t.Errorf("a later sign-in: zone %q (%v), want Europe/Paris kept", s.Session.TimeZone, err)
	}
	ctx := auth.NewContext(context.Background(), s.Session.Viewer())
	if _, err := w.svc.UpdateProfile(ctx, account.ProfileInput{DisplayName: "Ada", Locale: "en", TimeZone: "Europe/Nowhere"}); keys(err)["time_zone"] != "timezone.invalid" {
		t.Errorf("unknown zone: %v", err)
	}
	if changed, err := w.svc.UpdateProfile(ctx, account.ProfileInput{DisplayName: "Ada", Locale: "en", TimeZone: "Asia/Tokyo"}); err != nil || !changed {
		t.Errorf("new zone: %v, %v", changed, err)
	}
	if err := w.svc.SetLanguage(ctx, "fr"); err != nil {
		t.Fatal(err)
	}
	p, err := w.svc.Page(ctx, uuid.Nil)
	if err != nil || p.Profile.TimeZone != "Asia/Tokyo" {
		t.Errorf("page zone %q (%v), want Asia/Tokyo", p.Profile.TimeZone, err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'account.updated' AND details->'time_zone'->>'to' = 'Asia/Tokyo'`); n != 1 {
		t.Errorf("%d audited zone changes, want 1", n)
	}
}
