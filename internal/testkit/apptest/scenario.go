package apptest

// Scenarios: a shared world (the app, the people every test needs, signed
// in, and builders for missions, tests and templates) and a step runner
// that sends one request as one of those people and checks its status,
// the data-testids of the answer and the rows it changed.

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/detectionlevel"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/permission"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// Everyone names the people of a World, in the order role tables list
// them: the four mission roles (members of every mission Mission makes),
// an operator of the red team who is a member of nothing, an admin who is
// a member of nothing either, and a user without groups.
var Everyone = []string{"lead", "red", "blue", "observer", "outsider", "admin", "none"}

// cast gives each person of Everyone their groups.
var cast = map[string][]string{
	"lead": {"redteam"}, "red": {"redteam"}, "blue": {"blueteam"}, "observer": {"observer"},
	"outsider": {"redteam"}, "admin": {"admin"}, "none": nil,
}

// Crew are the people Mission makes members, each with the mission role
// of their name.
var Crew = []string{"lead", "red", "blue", "observer"}

// World is an app with people in it, by name: each has an account
// <name>@example.com with Password and a session cookie.
type World struct {
	*App
	people map[string]*person
}

type person struct {
	id     uuid.UUID
	cookie *http.Cookie
}

// NewWorld builds the app (opts as for New) with Everyone signed in.
func NewWorld(t testing.TB, opts ...Option) *World {
	t.Helper()
	return NewWorldOf(t, Everyone, opts...)
}

// NewWorldOf builds the app with only the named people of Everyone signed
// in (none for an empty list), for tests that count users.
func NewWorldOf(t testing.TB, people []string, opts ...Option) *World {
	t.Helper()
	w := &World{App: New(t, opts...), people: map[string]*person{}}
	for _, name := range people {
		groups, ok := cast[name]
		if !ok {
			t.Fatalf("apptest: %q is not one of %v", name, Everyone)
		}
		w.Person(t, name, groups...)
	}
	return w
}

// AsWorld is the world of an app built elsewhere (browsertest.Server),
// with nobody in it yet: add people with Person.
func AsWorld(app *App) *World { return &World{App: app, people: map[string]*person{}} }

// Sys is the system's context, which every rule lets through: for
// fixtures and checks.
func (w *World) Sys() context.Context { return rule.SystemContext(context.Background()) }

// Person adds a signed-in person: an account <name>@example.com in groups.
func (w *World) Person(t testing.TB, name string, groups ...string) uuid.UUID {
	t.Helper()
	if _, dup := w.people[name]; dup {
		t.Fatalf("apptest: %q is already in the world", name)
	}
	u := w.App.User(t, w.Email(name), groups...)
	w.people[name] = &person{id: u.ID, cookie: w.Login(t, u.Email, Password)}
	return u.ID
}

// Email is the address of the named person.
func (w *World) Email(name string) string { return name + "@example.com" }

// User is the id of the named person. It panics on a name not in the
// world: a mistake in the test, not an outcome.
func (w *World) User(name string) uuid.UUID { return w.get(name).id }

// Cookie is the named person's session cookie; nil (anonymous) for "".
func (w *World) Cookie(name string) *http.Cookie {
	if name == "" {
		return nil
	}
	return w.get(name).cookie
}

// SignIn opens another session for the named person.
func (w *World) SignIn(t testing.TB, name string) *http.Cookie {
	t.Helper()
	w.get(name)
	return w.Login(t, w.Email(name), Password)
}

func (w *World) get(name string) *person {
	p, ok := w.people[name]
	if !ok {
		panic(fmt.Sprintf("apptest: no %q in the world", name))
	}
	return p
}

// Group creates a group holding perms and returns its id.
func (w *World) Group(t testing.TB, name string, perms ...auth.Permission) uuid.UUID {
	t.Helper()
	codes := make([]string, len(perms))
	for i, p := range perms {
		codes[i] = string(p)
	}
	ids, err := w.Ent.Permission.Query().Where(permission.CodeIn(codes...)).IDs(w.Sys())
	if err != nil || len(ids) != len(perms) {
		t.Fatalf("permissions %v: %d found (%v)", perms, len(ids), err)
	}
	g, err := w.Ent.Group.Create().SetName(name).AddPermissionIDs(ids...).Save(w.Sys())
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

// Mission makes a mission (draft unless a status is given) with the Crew
// as members, each in the role of their name, and returns its id.
func (w *World) Mission(t testing.TB, name string, status ...mission.Status) uuid.UUID {
	t.Helper()
	members := map[string]string{}
	for _, p := range Crew {
		if _, ok := w.people[p]; ok {
			members[p] = p
		}
	}
	return w.MissionWith(t, name, members, status...)
}

// MissionWith makes a mission with the given members (person → mission
// role: lead, red, blue or observer).
func (w *World) MissionWith(t testing.TB, name string, members map[string]string, status ...mission.Status) uuid.UUID {
	t.Helper()
	c := w.Ent.Mission.Create().SetName(name)
	if len(status) > 0 {
		c.SetStatus(status[0])
	}
	m, err := c.Save(w.Sys())
	if err != nil {
		t.Fatalf("mission %q: %v", name, err)
	}
	for _, p := range Everyone { // a stable order
		if role, ok := members[p]; ok {
			w.Member(t, m.ID, p, role)
		}
	}
	for p, role := range members {
		if _, ok := cast[p]; !ok {
			w.Member(t, m.ID, p, role)
		}
	}
	return m.ID
}

// Member makes the named person a member of the mission in role.
func (w *World) Member(t testing.TB, missionID uuid.UUID, name, role string) {
	t.Helper()
	if err := w.Ent.MissionMember.Create().SetMissionID(missionID).SetUserID(w.User(name)).
		SetRole(missionmember.Role(role)).Exec(w.Sys()); err != nil {
		t.Fatalf("member %s as %s: %v", name, role, err)
	}
}

// TestOpts describes a mission test for World.Test.
type TestOpts struct {
	Name                 string            // "Test" when empty
	State                missiontest.State // pending when empty
	Released             bool              // released to the blue team
	Procedure, Objective string
	// Technique, when set, tags the test with an ATT&CK sub-technique
	// ("T1059.001") named TechniqueName.
	Technique, TechniqueName string
	Level                    uuid.UUID // the detection level, when not uuid.Nil
	Category                 uuid.UUID // the mission category, when not uuid.Nil
}

// TestStart is when the run of a test made by World.Test started.
var TestStart = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// Test makes a test of the mission. Its run follows its state, as the
// workflow would have left it: a running test was started by "red", an
// executed or reviewed one ran for five minutes, a reviewed one was
// reviewed by "lead" an hour after the start, a skipped or blocked one
// says "no access". ("red" and "lead" only when they are in the world.)
func (w *World) Test(t testing.TB, missionID uuid.UUID, o TestOpts) uuid.UUID {
	t.Helper()
	if o.Name == "" {
		o.Name = "Test"
	}
	if o.State == "" {
		o.State = missiontest.StatePending
	}
	c := w.Ent.MissionTest.Create().SetMissionID(missionID).SetName(o.Name).SetState(o.State).
		SetReleasedToBlue(o.Released).SetProcedure(o.Procedure).SetObjective(o.Objective)
	red, hasRed := w.people["red"]
	lead, hasLead := w.people["lead"]
	switch o.State {
	case missiontest.StateRunning:
		c.SetStartedAt(TestStart)
	case missiontest.StateExecuted, missiontest.StateReviewed:
		c.SetStartedAt(TestStart).SetEndedAt(TestStart.Add(5 * time.Minute))
	case missiontest.StateSkipped, missiontest.StateBlocked:
		c.SetStateReason("no access")
	}
	if hasRed && (o.State == missiontest.StateRunning || o.State == missiontest.StateExecuted || o.State == missiontest.StateReviewed) {
		c.SetExecutedByID(red.id)
	}
	if o.State == missiontest.StateReviewed {
		c.SetReviewedAt(TestStart.Add(time.Hour))
		if hasLead {
			c.SetReviewedByID(lead.id)
		}
	}
	if o.Level != uuid.Nil {
		c.SetDetectionLevelID(o.Level)
	}
	if o.Category != uuid.Nil {
		c.SetCategoryID(o.Category)
	}
	mt, err := c.Save(w.Sys())
	if err != nil {
		t.Fatalf("test %q: %v", o.Name, err)
	}
	if o.Technique != "" {
		if err := w.Ent.MissionTestMitreTag.Create().SetMissionTestID(mt.ID).SetKind("subtechnique").
			SetExternalID(o.Technique).SetName(o.TechniqueName).Exec(w.Sys()); err != nil {
			t.Fatal(err)
		}
	}
	return mt.ID
}

// Template makes a test template in the library and returns its id.
func (w *World) Template(t testing.TB, name string) uuid.UUID {
	t.Helper()
	tpl, err := w.Ent.TestTemplate.Create().SetName(name).Save(w.Sys())
	if err != nil {
		t.Fatalf("template %q: %v", name, err)
	}
	return tpl.ID
}

// Level is the id of the detection level named name.
func (w *World) Level(t testing.TB, name string) uuid.UUID {
	t.Helper()
	id, err := w.Ent.DetectionLevel.Query().Where(detectionlevel.Name(name)).OnlyID(w.Sys())
	if err != nil {
		t.Fatalf("level %q: %v", name, err)
	}
	return id
}

// Count runs `SELECT count(*) FROM <from>`: from is a table, or a table
// with a WHERE clause using args ("missions WHERE name = $1").
func (w *World) Count(t testing.TB, from string, args ...any) int {
	t.Helper()
	var n int
	if err := w.DB.QueryRow(`SELECT count(*) FROM `+from, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return n
}

// Value runs a query for one value and returns it as text ("" for NULL).
func (w *World) Value(t testing.TB, query string, args ...any) string {
	t.Helper()
	var s sql.NullString
	if err := w.DB.QueryRow(query, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s.String
}

// Exec runs statements on the database, failing the test on an error.
func (w *World) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := w.DB.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// Lit is v as an SQL string literal, quotes doubled, for a Rows key
// ("missions WHERE name = " + Lit(name)).
func Lit(v any) string { return "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'" }

// Rows are the wanted changes of row counts, by table: +1 for a row
// added, 0 for a table that must not change (how a refused write is shown
// to change nothing). A key may narrow the table with a WHERE clause
// ("audit_events WHERE action = 'mission.created'").
type Rows map[string]int

// Step is one request of a scenario and what it must do.
type Step struct {
	Name   string     // the description; "<As> <Method> <Path>" when empty
	As     string     // the person sending it; "" for anonymous
	Method string     // GET when empty and there is no Form, else POST
	Path   string     // the URL path and query
	Form   url.Values // the form posted (URL-encoded), as a same-origin browser would
	HX     bool       // an htmx request (HX-Request: true)
	Header []string   // more header pairs ("Name", "value", …)

	Status   int    // the wanted status; 200 when zero
	Location string // the wanted Location header, when set
	// TestIDs must each be found exactly once in the answer, Some at
	// least once, NoTestIDs not at all. An entry is a data-testid, or a
	// CSS selector when it holds one of ` [#>:,*` or starts with "."
	// ("#bell[hx-swap-oob]", ".site-header", `[data-testid="x"] strong`).
	TestIDs, Some, NoTestIDs []string
	// Text wants, for each data-testid (or selector), its first match's
	// trimmed text to hold the string; "" wants any non-empty text.
	Text map[string]string
	// Rows are the wanted changes of row counts, counted before and after.
	Rows Rows
	// Check, when set, runs after the other checks for what a Step does
	// not express.
	Check func(t *testing.T, r *httptest.ResponseRecorder)
}

// Describe is the step's description.
func (s Step) Describe() string {
	if s.Name != "" {
		return s.Name
	}
	who := s.As
	if who == "" {
		who = "anonymous"
	}
	return who + " " + s.method() + " " + s.Path
}

func (s Step) method() string {
	switch {
	case s.Method != "":
		return s.Method
	case s.Form != nil:
		return http.MethodPost
	default:
		return http.MethodGet
	}
}

// Request builds the step's request.
func (w *World) Request(s Step) *http.Request {
	method := s.method()
	var r *http.Request
	if method == http.MethodGet || method == http.MethodHead {
		r = httptest.NewRequest(method, s.Path, nil)
	} else {
		r = httptest.NewRequest(method, s.Path, strings.NewReader(s.Form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if c := w.Cookie(s.As); c != nil {
		r.AddCookie(c)
	}
	if s.HX {
		r.Header.Set("HX-Request", "true")
	}
	for i := 0; i+1 < len(s.Header); i += 2 {
		r.Header.Set(s.Header[i], s.Header[i+1])
	}
	return r
}

// Do sends the step's request and checks its outcome, reporting each
// miss with t.Errorf (the step's description and an excerpt of the body).
// It returns the response for further checks.
func (w *World) Do(t testing.TB, s Step) *httptest.ResponseRecorder {
	t.Helper()
	before := w.counts(t, s.Rows)
	resp := w.App.Do(w.Request(s))
	after := w.counts(t, s.Rows)
	desc := s.Describe()

	want := s.Status
	if want == 0 {
		want = http.StatusOK
	}
	if resp.Code != want {
		t.Errorf("%s: status %d, want %d\n%s", desc, resp.Code, want, Excerpt(resp.Body.String()))
	}
	if s.Location != "" {
		if got := resp.Header().Get("Location"); got != s.Location {
			t.Errorf("%s: Location %q, want %q", desc, got, s.Location)
		}
	}
	for table, delta := range s.Rows {
		if got := after[table] - before[table]; got != delta {
			t.Errorf("%s: %s changed by %+d, want %+d", desc, table, got, delta)
		}
	}
	if len(s.TestIDs)+len(s.Some)+len(s.NoTestIDs)+len(s.Text) > 0 {
		d := Doc(t, resp)
		for _, id := range s.TestIDs {
			if n := d.Find(Selector(id)).Length(); n != 1 {
				t.Errorf("%s: %d %s in the answer, want exactly one\n%s", desc, n, id, Excerpt(resp.Body.String()))
			}
		}
		for _, id := range s.Some {
			if d.Find(Selector(id)).Length() == 0 {
				t.Errorf("%s: no %s in the answer\n%s", desc, id, Excerpt(resp.Body.String()))
			}
		}
		for _, id := range s.NoTestIDs {
			if n := d.Find(Selector(id)).Length(); n != 0 {
				t.Errorf("%s: %d %s in the answer, want none", desc, n, id)
			}
		}
		for id, sub := range s.Text {
			got := strings.TrimSpace(d.Find(Selector(id)).First().Text())
			if got == "" || !strings.Contains(got, sub) {
				t.Errorf("%s: %s says %q, want %q", desc, id, got, sub)
			}
		}
	}
	if s.Check != nil {
		tt, ok := t.(*testing.T)
		if !ok {
			t.Fatalf("%s: a Check needs a *testing.T", desc)
		}
		s.Check(tt, resp)
	}
	return resp
}

// Follow requests the page r redirected to as the named person (""
// for anonymous) with the cookies r set (a flash message), as a browser
// would.
func (w *World) Follow(as string, r *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, r.Header().Get("Location"), nil)
	if c := w.Cookie(as); c != nil {
		req.AddCookie(c)
	}
	for _, c := range r.Result().Cookies() {
		req.AddCookie(c)
	}
	return w.App.Do(req)
}

// Run runs the steps in order, each as a subtest named by its
// description.
func (w *World) Run(t *testing.T, steps ...Step) {
	t.Helper()
	for _, s := range steps {
		t.Run(s.Describe(), func(t *testing.T) {
			t.Helper()
			w.Do(t, s)
		})
	}
}

func (w *World) counts(t testing.TB, rows Rows) map[string]int {
	t.Helper()
	if len(rows) == 0 {
		return nil
	}
	out := make(map[string]int, len(rows))
	for table := range rows {
		out[table] = w.Count(t, table)
	}
	return out
}

// Selector turns a data-testid into its CSS selector, and leaves a
// selector (holding one of ` [#>:,*` or starting with ".") as it is.
func Selector(id string) string {
	if strings.ContainsAny(id, " [#>:,*") || strings.HasPrefix(id, ".") {
		return id
	}
	return `[data-testid="` + id + `"]`
}

// Doc parses an answer. An htmx answer that starts with table rows is
// parsed inside a table, where an HTML parser keeps them.
func Doc(t testing.TB, r *httptest.ResponseRecorder) *goquery.Document {
	t.Helper()
	body := r.Body.String()
	if trimmed := strings.TrimSpace(body); strings.HasPrefix(trimmed, "<tr") {
		body = "<table><tbody>" + body + "</tbody></table>"
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Excerpt is the start of a body (of its <main> on a whole page), its
// white space folded, for failure messages.
func Excerpt(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	s := []rune(strings.Join(strings.Fields(body), " "))
	const limit = 400
	if len(s) > limit {
		return string(s[:limit]) + "…"
	}
	return string(s)
}
