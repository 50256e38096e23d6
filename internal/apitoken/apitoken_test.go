package apitoken_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/internal/apitoken"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// clock is a settable clock shared by the service and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world: a red-team operator, an observer, an admin, an operator holding
// user.manage only, and a service account in the blue team.
type world struct {
	db     *sql.DB
	client *ent.Client
	svc    *apitoken.Service
	clock  *clock
	users  map[string]uuid.UUID
	groups map[string][]string // the users' groups
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	w := &world{db: db, client: client, clock: c, svc: apitoken.NewService(client, db, c.now),
		users: map[string]uuid.UUID{}, groups: map[string][]string{}}
	ids := map[string]uuid.UUID{}
	for _, g := range client.Group.Query().Where(group.IsSystem(true)).AllX(sys) {
		ids[g.Name] = g.ID
	}
	for _, u := range []struct {
		name, group string
		service     bool
	}{
		{"red", auth.GroupRedTeam, false},
		{"observer", auth.GroupObserver, false},
		{"admin", auth.GroupAdmin, false},
		{"operator", "", false},
		{"ci", auth.GroupBlueTeam, true},
	} {
		create := client.User.Create().SetEmail(u.name + "@example.com").SetDisplayName(u.name).
			SetPasswordHash("x").SetServiceAccount(u.service)
		if u.group != "" {
			create.AddGroupIDs(ids[u.group])
			w.groups[u.name] = []string{u.group}
		}
		w.users[u.name] = create.SaveX(sys).ID
	}
	return w
}

// as is the context of a signed-in user with the permissions of their
// group (the operator: user.manage alone).
func (w *world) as(t *testing.T, name string) context.Context {
	t.Helper()
	var codes []string
	if name == "operator" {
		codes = []string{string(auth.UserManage)}
	} else {
		codes = w.codes(t, name)
	}
	v := auth.NewViewer(w.users[name], name+"@example.com", name, "en", uuid.New(), w.groups[name], codes)
	return auth.NewContext(context.Background(), v)
}

// codes are the user's permission codes as the database has them.
func (w *world) codes(t *testing.T, name string) []string {
	t.Helper()
	rows, err := w.db.Query(`SELECT DISTINCT p.code FROM user_groups ug
		JOIN group_permissions gp ON gp.group_id = ug.group_id JOIN permissions p ON p.id = gp.permission_id
		WHERE ug.user_id = $1`, w.users[name])
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func (w *world) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (w *world) create(t *testing.T, name string, in apitoken.Input) apitoken.Created {
	t.Helper()
	c, err := w.svc.Create(w.as(t, name), in)
	if err != nil {
		t.Fatalf("create %s's token: %v", name, err)
	}
	return c
}

func perms(v *auth.Viewer) []string {
	var out []string
	for _, p := range v.Permissions() {
		out = append(out, string(p))
	}
	return out
}

// TestCreateThenAuthenticate: a token is made, shown once in its format,
// stored hashed, and authenticates as its owner with the permissions its
// scopes name that the owner holds.
func TestCreateThenAuthenticate(t *testing.T) {
	t.Parallel()
	w := setup(t)
	c := w.create(t, "red", apitoken.Input{Name: " deploy ", Scopes: []string{"read"}, ExpiresIn: "30d"})
	if !strings.HasPrefix(c.Token, "vlt_") || len(c.Token) != 47 {
		t.Fatalf("token %q: want vlt_ and 43 characters", c.Token)
	}
	if c.Row.Prefix != c.Token[:12] || c.Row.Name != "deploy" || c.Row.UserID != w.users["red"] ||
		c.Row.CreatedByID == nil || *c.Row.CreatedByID != w.users["red"] {
		t.Errorf("row %+v", c.Row)
	}
	if got := c.Row.ExpiresAt.Sub(w.clock.now()); got != 30*24*time.Hour {
		t.Errorf("expires in %s, want 30 days", got)
	}
	if n := w.count(t, `SELECT count(*) FROM api_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex')`, c.Token); n != 1 {
		t.Errorf("%d rows hold the token's SHA-256", n)
	}
	if n := w.count(t, `SELECT count(*) FROM api_tokens WHERE token_hash = $1 OR prefix = $1`, c.Token); n != 0 {
		t.Error("the raw token is stored")
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'api_token.created' AND target_id = $1
		AND actor_id = $2 AND NOT details::text LIKE '%' || $3 || '%'`, c.Row.ID.String(), w.users["red"], c.Token); n != 1 {
		t.Errorf("%d api_token.created events without the token", n)
	}

	p, err := w.svc.Authenticate(context.Background(), c.Token)
	if err != nil {
		t.Fatal(err)
	}
	if p.TokenID != c.Row.ID || p.TokenName != "deploy" || p.Viewer.UserID != w.users["red"] ||
		p.Viewer.SessionID != uuid.Nil || p.Viewer.Email != "red@example.com" {
		t.Errorf("principal %+v, viewer %+v", p, p.Viewer)
	}
	want := []string{"attack.read", "mission.read", "template.read"}
	if got := perms(p.Viewer); !slices.Equal(got, want) {
		t.Errorf("a red-team member's read token holds %v, want %v", got, want)
	}
	if !p.Has(apitoken.ScopeRead) || p.Has(apitoken.ScopeRed) {
		t.Errorf("Has: read %v, red %v", p.Has(apitoken.ScopeRead), p.Has(apitoken.ScopeRed))
	}

	// Red adds the red side's writes, which the owner holds.
	red := w.create(t, "red", apitoken.Input{Name: "ci red", Scopes: []string{"red", "read"}, ExpiresIn: "7d"})
	p, err = w.svc.Authenticate(context.Background(), red.Token)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []auth.Permission{auth.MissionTestRedWrite, auth.EvidenceUpload, auth.MissionCreate, auth.MissionRead} {
		if !p.Viewer.Can(code) {
			t.Errorf("red+read token lacks %s", code)
		}
	}
	if p.Viewer.Can(auth.TemplateWrite) {
		t.Error("red+read token may write templates")
	}
	if !slices.Equal(p.Scopes, []string{"read", "red"}) {
		t.Errorf("scopes %v, want read, red", p.Scopes)
	}
}

// TestAuthenticateRefuses: unknown, malformed, revoked and expired tokens
// and tokens of deactivated or deleted owners all get ErrUnauthenticated.
func TestAuthenticateRefuses(t *testing.T) {
	t.Parallel()
	w := setup(t)
	sys := rule.SystemContext(context.Background())
	in := func(name string) apitoken.Input {
		return apitoken.Input{Name: name, Scopes: []string{"read"}, ExpiresIn: "7d"}
	}
	revoked := w.create(t, "red", in("revoked"))
	if err := w.svc.Revoke(w.as(t, "red"), revoked.Row.ID); err != nil {
		t.Fatal(err)
	}
	expired := w.create(t, "red", in("expired"))
	w.client.APIToken.UpdateOneID(expired.Row.ID).SetExpiresAt(w.clock.now()).ExecX(sys)
	inactive := w.create(t, "observer", in("inactive"))
	w.client.User.UpdateOneID(w.users["observer"]).SetIsActive(false).ExecX(sys)
	deleted := w.create(t, "ci", in("deleted"))
	w.client.User.UpdateOneID(w.users["ci"]).SetDeletedAt(w.clock.now()).ExecX(sys)
	live := w.create(t, "red", in("live"))

	unknown := "vlt_" + strings.Repeat("A", 43)
	for name, raw := range map[string]string{
		"unknown": unknown, "empty": "", "malformed": "vlt_short", "no prefix": live.Token[4:] + "xxxx",
		"bad characters": live.Token[:46] + "!", "revoked": revoked.Token, "expired": expired.Token,
		"owner deactivated": inactive.Token, "owner deleted": deleted.Token,
	} {
		if p, err := w.svc.Authenticate(context.Background(), raw); !errors.Is(err, apitoken.ErrUnauthenticated) || p != nil {
			t.Errorf("%s: %v, %v; want ErrUnauthenticated", name, p, err)
		}
	}
	if _, err := w.svc.Authenticate(context.Background(), live.Token); err != nil {
		t.Errorf("live token: %v", err)
	}
	w.clock.add(7 * 24 * time.Hour)
	if _, err := w.svc.Authenticate(context.Background(), live.Token); !errors.Is(err, apitoken.ErrUnauthenticated) {
		t.Errorf("a token at its expiry: %v", err)
	}
}

// TestScopesNeverWiden: whatever the scopes, a token holds no permission
// its owner lacks, and admin keeps exactly the owner's.
func TestScopesNeverWiden(t *testing.T) {
	t.Parallel()
	w := setup(t)
	all := apitoken.Scopes()
	for _, owner := range []string{"observer", "red", "ci", "admin"} {
		ownerCodes := w.codes(t, owner)
		for mask := 1; mask < 1<<len(all); mask++ {
			var scopes []string
			for i, s := range all {
				if mask&(1<<i) != 0 {
					scopes = append(scopes, s)
				}
			}
			var c apitoken.Created
			var err error
			in := apitoken.Input{Name: strings.Join(scopes, "+"), Scopes: scopes, ExpiresIn: "7d"}
			if owner == "ci" {
				c, err = w.svc.CreateFor(w.as(t, "admin"), w.users["ci"], in)
			} else {
				c, err = w.svc.Create(w.as(t, owner), in)
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := w.svc.Authenticate(context.Background(), c.Token)
			if err != nil {
				t.Fatal(err)
			}
			got := perms(p.Viewer)
			for _, code := range got {
				if !slices.Contains(ownerCodes, code) {
					t.Errorf("%s's %v token holds %s, which %s lacks", owner, scopes, code, owner)
				}
			}
			if slices.Contains(scopes, "admin") && len(got) != len(ownerCodes) {
				t.Errorf("%s's admin token holds %d permissions, the owner %d", owner, len(got), len(ownerCodes))
			}
		}
	}
	// The observer's library token: the observer may not write templates,
	// so the token may not either; it reads what the observer reads (every
	// scope reads).
	if got := apitoken.Narrow([]string{"mission.read", "template.read"}, []string{"library", "red"}); !slices.Equal(got, []string{"mission.read", "template.read"}) {
		t.Errorf("Narrow gave %v to an observer's library+red token", got)
	}
	if got := apitoken.Narrow([]string{"mission.read", "template.write"}, []string{"red"}); !slices.Equal(got, []string{"mission.read"}) {
		t.Errorf("Narrow gave %v to a red token of an owner who writes templates", got)
	}
}

// TestLastUsedThrottled: the use is written at the first call and then
// at most once a minute.
func TestLastUsedThrottled(t *testing.T) {
	t.Parallel()
	w := setup(t)
	c := w.create(t, "red", apitoken.Input{Name: "busy", Scopes: []string{"read"}, ExpiresIn: "7d"})
	lastUsed := func() time.Time {
		var at sql.NullTime
		if err := w.db.QueryRow(`SELECT last_used_at FROM api_tokens WHERE id = $1`, c.Row.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at.Time
	}
	if !lastUsed().IsZero() {
		t.Fatal("a new token has been used")
	}
	auth := func() {
		t.Helper()
		if _, err := w.svc.Authenticate(context.Background(), c.Token); err != nil {
			t.Fatal(err)
		}
	}
	first := w.clock.now()
	auth()
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("last used %s, want %s", got, first)
	}
	w.clock.add(30 * time.Second)
	auth()
	auth()
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("last used moved to %s within the minute", got)
	}
	w.clock.add(31 * time.Second)
	auth()
	if got := lastUsed(); !got.Equal(w.clock.now()) {
		t.Errorf("last used %s after a minute, want %s", got, w.clock.now())
	}
}

// TestCreateValidation: each rule's message key on its field, several at
// once, and nothing written.
func TestCreateValidation(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.create(t, "red", apitoken.Input{Name: "taken", Scopes: []string{"read"}, ExpiresIn: "7d"})
	gone := w.create(t, "red", apitoken.Input{Name: "revoked name", Scopes: []string{"read"}, ExpiresIn: "7d"})
	if err := w.svc.Revoke(w.as(t, "red"), gone.Row.ID); err != nil {
		t.Fatal(err)
	}
	// Another person's name is theirs to use.
	w.create(t, "observer", apitoken.Input{Name: "mine", Scopes: []string{"read"}, ExpiresIn: "7d"})
	now := w.clock.now()
	ok := apitoken.Input{Name: "fine", Scopes: []string{"read"}, ExpiresIn: "30d"}
	with := func(f func(*apitoken.Input)) apitoken.Input { in := ok; f(&in); return in }
	for name, tc := range map[string]struct {
		in   apitoken.Input
		want map[string]string
	}{
		"no name":      {with(func(i *apitoken.Input) { i.Name = "  " }), map[string]string{"name": apitoken.KeyNameRequired}},
		"long name":    {with(func(i *apitoken.Input) { i.Name = strings.Repeat("n", 101) }), map[string]string{"name": apitoken.KeyNameTooLong}},
		"taken name":   {with(func(i *apitoken.Input) { i.Name = "taken" }), map[string]string{"name": apitoken.KeyNameTaken}},
		"no scope":     {with(func(i *apitoken.Input) { i.Scopes = nil }), map[string]string{"scopes": apitoken.KeyScopesRequired}},
		"blank scope":  {with(func(i *apitoken.Input) { i.Scopes = []string{""} }), map[string]string{"scopes": apitoken.KeyScopesRequired}},
		"unknown":      {with(func(i *apitoken.Input) { i.Scopes = []string{"read", "root"} }), map[string]string{"scopes": apitoken.KeyScopesUnknown}},
		"no expiry":    {with(func(i *apitoken.Input) { i.ExpiresIn = "" }), map[string]string{"expires": apitoken.KeyExpiresRequired}},
		"junk expiry":  {with(func(i *apitoken.Input) { i.ExpiresIn = "soon" }), map[string]string{"expires": apitoken.KeyExpiresInvalid}},
		"zero days":    {with(func(i *apitoken.Input) { i.ExpiresIn = "0d" }), map[string]string{"expires": apitoken.KeyExpiresPast}},
		"past date":    {with(func(i *apitoken.Input) { i.ExpiresIn = now.AddDate(0, 0, -1).Format(time.DateOnly) }), map[string]string{"expires": apitoken.KeyExpiresPast}},
		"367 days":     {with(func(i *apitoken.Input) { i.ExpiresIn = "367d" }), map[string]string{"expires": apitoken.KeyExpiresTooFar}},
		"far date":     {with(func(i *apitoken.Input) { i.ExpiresIn = now.AddDate(1, 1, 0).Format(time.DateOnly) }), map[string]string{"expires": apitoken.KeyExpiresTooFar}},
		"all at once":  {apitoken.Input{Name: "", Scopes: nil, ExpiresIn: ""}, map[string]string{"name": apitoken.KeyNameRequired, "scopes": apitoken.KeyScopesRequired, "expires": apitoken.KeyExpiresRequired}},
		"taken and ..": {apitoken.Input{Name: "taken", Scopes: []string{"x"}, ExpiresIn: "1y"}, map[string]string{"name": apitoken.KeyNameTaken, "scopes": apitoken.KeyScopesUnknown, "expires": apitoken.KeyExpiresInvalid}},
	} {
		_, err := w.svc.Create(w.as(t, "red"), tc.in)
		var bad *app.Invalid
		if !errors.As(err, &bad) || !errors.Is(err, app.ErrInvalid) {
			t.Errorf("%s: %v, want *app.Invalid", name, err)
			continue
		}
		if len(bad.Fields) != len(tc.want) {
			t.Errorf("%s: fields %v, want %v", name, bad.Fields, tc.want)
		}
		for f, key := range tc.want {
			if bad.Fields[f] != key {
				t.Errorf("%s: %s = %q, want %q", name, f, bad.Fields[f], key)
			}
		}
	}
	if n := w.count(t, `SELECT count(*) FROM api_tokens WHERE user_id = $1`, w.users["red"]); n != 2 {
		t.Errorf("%d tokens after refusals, want 2", n)
	}
	// What passes: a revoked token's name, another person's name, a date.
	for _, in := range []apitoken.Input{
		with(func(i *apitoken.Input) { i.Name = "revoked name" }),
		with(func(i *apitoken.Input) { i.Name = "mine" }),
		with(func(i *apitoken.Input) { i.ExpiresIn = now.AddDate(0, 0, 300).Format(time.DateOnly) }),
		with(func(i *apitoken.Input) { i.Name = strings.Repeat("n", 100); i.ExpiresIn = "365d" }),
	} {
		if _, err := w.svc.Create(w.as(t, "red"), in); err != nil {
			t.Errorf("%+v: %v", in, err)
		}
	}
	if _, err := w.svc.Create(context.Background(), ok); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("nobody signed in: %v", err)
	}
}

// TestWhoMayDoWhat: CreateFor is for service accounts and user.manage (or
// the system, for anyone); List and Revoke are the owner's or
// user.manage's.
func TestWhoMayDoWhat(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := apitoken.Input{Name: "pipeline", Scopes: []string{"blue", "read"}, ExpiresIn: "90d"}
	// user.manage alone does not make a token of an account whose groups
	// grant more: that token would be signing in as it.
	if _, err := w.svc.CreateFor(w.as(t, "operator"), w.users["ci"], in); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("an operator minting a blue-team account's token: %v", err)
	}
	ci, err := w.svc.CreateFor(w.as(t, "admin"), w.users["ci"], in)
	if err != nil {
		t.Fatal(err)
	}
	if *ci.Row.CreatedByID != w.users["admin"] || ci.Row.UserID != w.users["ci"] {
		t.Errorf("row %+v", ci.Row)
	}
	if _, err := w.svc.CreateFor(w.as(t, "red"), w.users["ci"], in); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("without user.manage: %v", err)
	}
	if _, err := w.svc.CreateFor(w.as(t, "admin"), w.users["red"], in); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("an admin making a person's token: %v", err)
	}
	if _, err := w.svc.CreateFor(w.as(t, "admin"), uuid.New(), in); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("nobody's: %v", err)
	}
	sys := rule.SystemContext(context.Background())
	person, err := w.svc.CreateFor(sys, w.users["red"], in)
	if err != nil {
		t.Fatalf("the system making a person's token: %v", err)
	}
	if person.Row.CreatedByID != nil {
		t.Errorf("the system's token names a maker")
	}
	// Service account tokens authenticate with the blue side's rights.
	p, err := w.svc.Authenticate(context.Background(), ci.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Viewer.Can(auth.MissionTestBlueWrite) || p.Viewer.Can(auth.MissionTestRedWrite) {
		t.Errorf("ci's blue token: %v", perms(p.Viewer))
	}

	if _, err := w.svc.List(w.as(t, "observer"), w.users["red"]); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("listing another's tokens: %v", err)
	}
	for _, who := range []string{"red", "operator"} {
		rows, err := w.svc.List(w.as(t, who), w.users["red"])
		if err != nil || len(rows) != 1 || rows[0].ID != person.Row.ID {
			t.Errorf("%s lists red's tokens: %v, %v", who, rows, err)
		}
	}
	if err := w.svc.Revoke(w.as(t, "observer"), person.Row.ID); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("revoking another's token: %v", err)
	}
	if err := w.svc.Revoke(w.as(t, "operator"), ci.Row.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Revoke(w.as(t, "red"), person.Row.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Revoke(w.as(t, "red"), person.Row.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := w.svc.Revoke(w.as(t, "red"), uuid.New()); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("revoking nothing: %v", err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'api_token.revoked'`); n != 2 {
		t.Errorf("%d api_token.revoked events, want 2", n)
	}
	if n := w.count(t, `SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL`); n != 2 {
		t.Errorf("%d revoked tokens, want 2", n)
	}
}

// TestRecordCall: one api.call event per call, by the token's owner,
// naming the token.
func TestRecordCall(t *testing.T) {
	t.Parallel()
	w := setup(t)
	c := w.create(t, "red", apitoken.Input{Name: "nightly", Scopes: []string{"read"}, ExpiresIn: "7d"})
	p, err := w.svc.Authenticate(context.Background(), c.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc.RecordCall(context.Background(), p, "GET", "/api/v1/missions", 200); err != nil {
		t.Fatal(err)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'api.call' AND actor_id = $1
		AND target_label = 'nightly' AND details->>'token' = 'nightly' AND details->>'method' = 'GET'
		AND details->>'route' = '/api/v1/missions' AND (details->>'status')::int = 200`, w.users["red"]); n != 1 {
		t.Errorf("%d api.call events", n)
	}
}
