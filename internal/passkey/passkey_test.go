package passkey

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/webauthncredential"
	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/factor"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const password = "correct horse battery staple"

type world struct {
	db     *sql.DB
	client *ent.Client
	svc    *Service
	ada    *ent.User
	now    time.Time
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
	w := &world{db: db, client: client, now: time.Now()}
	clock := func() time.Time { return w.now }
	sessions := auth.NewSessionStore(db, make([]byte, 32), false, clock)
	throttle := auth.NewThrottle(db, time.Minute, 3, 100, clock)
	accounts := account.NewService(client, db, sessions, hasher, throttle, clock).WithFactors(make([]byte, 32))
	base, _ := url.Parse("http://localhost:8080")
	if w.svc, err = New(client, db, accounts, throttle, Config{BaseURL: base, SessionKey: make([]byte, 32), Now: clock}); err != nil {
		t.Fatal(err)
	}
	sys := rule.SystemContext(context.Background())
	w.ada = client.User.Create().SetEmail("ada@example.com").SetDisplayName("Ada").SetPasswordHash(hash).SaveX(sys)
	return w
}

func (w *world) passkey(t *testing.T, name string) *ent.WebAuthnCredential {
	t.Helper()
	return w.client.WebAuthnCredential.Create().SetUserID(w.ada.ID).SetName(name).
		SetCredentialID([]byte(uuid.NewString())).SetPublicKey([]byte{1, 2, 3}).
		SaveX(rule.SystemContext(context.Background()))
}

func (w *world) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCounterOK: a counter that does not go up is refused, unless the
// authenticator does not count at all (zero, stored and new).
func TestCounterOK(t *testing.T) {
	for _, c := range []struct {
		stored int64
		got    uint32
		ok     bool
	}{{0, 0, true}, {0, 1, true}, {5, 6, true}, {5, 5, false}, {5, 4, false}, {5, 0, false}, {0, 7, true}} {
		if CounterOK(c.stored, c.got) != c.ok {
			t.Errorf("stored %d, got %d: want %v", c.stored, c.got, c.ok)
		}
	}
}

// TestCeremonyCookie: a ceremony's cookie is sealed, of one kind, lives
// TTL, and is spent by the success that completes it; a refused answer
// is audited as a failed sign-in.
func TestCeremonyCookie(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	opts, ck, err := w.svc.BeginLogin()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts), `"userVerification":"required"`) || !ck.HttpOnly || ck.SameSite != 3 || ck.MaxAge != 300 {
		t.Fatalf("options %s, cookie %+v", opts, ck)
	}
	finish := func(cookie string) error {
		_, err := w.svc.FinishLogin(ctx, LoginInput{Cookie: cookie, Body: strings.NewReader(`{}`)})
		return err
	}
	// A live cookie reaches the check of the answer: a malformed one is
	// a failed sign-in, audited.
	if err := finish(ck.Value); !errors.Is(err, ErrSignInFailed) {
		t.Fatalf("live ceremony, bad answer: %v", err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'login.failed' AND details->>'method' = 'passkey'`); n != 1 {
		t.Errorf("%d login.failed events", n)
	}
	if err := finish(ck.Value[:len(ck.Value)-2] + "xx"); !errors.Is(err, ErrCeremony) {
		t.Errorf("altered cookie: %v", err)
	}
	if err := w.svc.FinishRegistration(auth.NewContext(ctx, auth.NewViewer(w.ada.ID, w.ada.Email, "", "en", uuid.Nil, nil, nil)),
		ck.Value, strings.NewReader(`{}`), uuid.Nil); !errors.Is(err, ErrCeremony) {
		t.Errorf("a sign-in's cookie finishing a registration: %v", err)
	}
	// Spent: the success that completed it keeps its challenge's hash.
	c, err := w.svc.open(ck.Value, kindLogin)
	if err != nil {
		t.Fatal(err)
	}
	sys := rule.SystemContext(ctx)
	if err := audit.Record(sys, w.client.AuditEvent, audit.Event{Action: audit.LoginSucceeded, TargetType: "user",
		TargetID: w.ada.ID.String(), TargetLabel: w.ada.Email, Details: map[string]any{"ceremony": c.spentHash()}}); err != nil {
		t.Fatal(err)
	}
	if err := finish(ck.Value); !errors.Is(err, ErrCeremony) {
		t.Errorf("spent ceremony: %v", err)
	}
	// Expired: older than TTL on the server's clock.
	_, ck2, err := w.svc.BeginLogin()
	if err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(TTL + time.Second)
	if err := finish(ck2.Value); !errors.Is(err, ErrCeremony) {
		t.Errorf("expired ceremony: %v", err)
	}
}

// TestRemoveLastFactor: under a group's policy the last factor stays (a
// passkey or the app counts); otherwise a passkey goes, audited.
func TestRemoveLastFactor(t *testing.T) {
	w := setup(t)
	sys := rule.SystemContext(context.Background())
	g := w.client.Group.Create().SetName("strict").SetRequireSecondFactor(true).SaveX(sys)
	w.client.User.UpdateOne(w.ada).AddGroups(g).ExecX(sys)
	first := w.passkey(t, "Laptop")
	if n, err := factor.NeedOf(sys, w.client, w.ada.ID); err != nil || n != factor.NeedCode {
		t.Fatalf("a passkey under the policy: need %v, %v; want NeedCode", n, err)
	}
	ctx := auth.NewContext(context.Background(), auth.NewViewer(w.ada.ID, w.ada.Email, "Ada", "en", uuid.Nil, nil, nil))
	in := account.Reauth{Password: password}
	var inv *app.Invalid
	if err := w.svc.Remove(ctx, in, first.ID); !errors.As(err, &inv) || inv.Key != "passkeys.remove.required" {
		t.Fatalf("last factor: %v", err)
	}
	second := w.passkey(t, "Phone")
	if err := w.svc.Remove(ctx, in, first.ID); err != nil {
		t.Fatalf("one of two: %v", err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'factor.passkey_removed' AND target_id = $1`, w.ada.ID.String()); n != 1 {
		t.Errorf("%d factor.passkey_removed events", n)
	}
	if err := w.svc.Remove(ctx, account.Reauth{Password: "wrong"}, second.ID); !errors.As(err, &inv) || inv.Fields["password"] == "" {
		t.Errorf("wrong password: %v", err)
	}
	if err := w.svc.Rename(ctx, second.ID, strings.Repeat("x", MaxName+1)); !errors.As(err, &inv) || inv.Fields["name"] != "passkeys.name_too_long" {
		t.Errorf("long name: %v", err)
	}
	if err := w.svc.Rename(ctx, second.ID, "  Work phone "); err != nil {
		t.Fatal(err)
	}
	if got := w.client.WebAuthnCredential.Query().Where(webauthncredential.ID(second.ID)).OnlyX(sys).Name; got != "Work phone" {
		t.Errorf("renamed %q", got)
	}
	// Another's passkey is not found.
	grace := w.client.User.Create().SetEmail("grace@example.com").SetDisplayName("Grace").SetPasswordHash("x").SaveX(sys)
	gctx := auth.NewContext(context.Background(), auth.NewViewer(grace.ID, grace.Email, "Grace", "en", uuid.Nil, nil, nil))
	if err := w.svc.Rename(gctx, second.ID, "Mine"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("another's passkey: %v", err)
	}
}
