package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/ent/notification"
	"violet/ent/user"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/notify"
	"violet/internal/testkit/apptest"
)

// sseEvent is one server-sent event as a browser would see it.
type sseEvent struct {
	ID   int64
	Name string
	Data string
	At   time.Time
}

// sseClient reads one event stream.
type sseClient struct {
	resp   *http.Response
	events chan sseEvent
}

// openStream opens GET path on base as the cookie's user, with a
// Last-Event-ID when lastID is not empty, and reads it in the background.
func openStream(t testing.TB, base, path string, cookie *http.Cookie, lastID string) *sseClient {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{resp: resp, events: make(chan sseEvent, 1024)}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) read() {
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	var e sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if e.Name != "" {
				e.At = time.Now()
				c.events <- e
			}
			e = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			e.ID, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			e.Name = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.Data = line[6:]
		}
	}
}

func (c *sseClient) close() { c.resp.Body.Close() }

// next returns the next event within d, or fails.
func (c *sseClient) next(t testing.TB, d time.Duration) sseEvent {
	t.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return sseEvent{}
}

// quiet fails if an event arrives within d.
func (c *sseClient) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case e, ok := <-c.events:
		if ok {
			t.Fatalf("unexpected event %+v", e)
		}
	case <-time.After(d):
	}
}

// secondInstance is another Violet instance on w's database, sharing its
// session key as instances behind one load balancer do.
func secondInstance(t *testing.T, w *mtWorld) *apptest.App {
	t.Helper()
	return apptest.New(t, apptest.WithDatabaseURL(w.app.Config.DatabaseURL),
		apptest.WithConfig(func(c *config.Config) { c.SessionKey = w.app.Config.SessionKey }))
}

// postVia sends a test action's form as role through another instance.
func (w *mtWorld) postVia(app *apptest.App, role string, id uuid.UUID, action string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	form.Set("version", strconv.Itoa(w.get(id).Version))
	return app.PostAs(w.cookies[role], w.url(id, action), form)
}

// mustPost fails unless the action is accepted (303).
func mustPost(t *testing.T, r *httptest.ResponseRecorder, what string) {
	t.Helper()
	if r.Code != http.StatusSeeOther {
		t.Fatalf("%s: %d %s", what, r.Code, r.Body.String())
	}
}

// isTest reports whether e is a change of test id.
func isTest(e sseEvent, id uuid.UUID) bool {
	return e.Name == "test" && strings.Contains(e.Data, `"test":"`+id.String()+`"`)
}

func TestEventStreamAcrossInstances(t *testing.T) {
	w := newMTWorld(t)
	b := secondInstance(t, w)
	srvA := httptest.NewServer(w.app)
	t.Cleanup(srvA.Close) // after the streams close (cleanups run last first)
	stream := "/events?mission=" + w.mission.String()
	lead := openStream(t, srvA.URL, stream, w.cookies["lead"], "")
	blue := openStream(t, srvA.URL, stream, w.cookies["blue"], "")
	hidden := w.mk(t, missiontest.StatePending, false)
	shown := w.mk(t, missiontest.StateExecuted, true)

	// A change made through the other instance reaches the first one's
	// streams within a second; an unreleased test's never reaches blue.
	start := time.Now()
	mustPost(t, w.postVia(b, "red", hidden, "start", nil), "start an unreleased test")
	if e := lead.next(t, time.Second); !isTest(e, hidden) || e.At.Sub(start) > time.Second {
		t.Fatalf("lead got %+v after %v", e, e.At.Sub(start))
	}
	blue.quiet(t, 300*time.Millisecond)

	start = time.Now()
	mustPost(t, w.postVia(b, "red", shown, "red", url.Values{"command": {"whoami"}}), "red save")
	var blueLast int64
	for name, c := range map[string]*sseClient{"lead": lead, "blue": blue} {
		e := c.next(t, time.Second)
		if !isTest(e, shown) || e.At.Sub(start) > time.Second {
			t.Fatalf("%s got %+v after %v", name, e, e.At.Sub(start))
		}
		if strings.Contains(e.Data, `"self"`) {
			t.Errorf("%s was told it made red's change: %s", name, e.Data)
		}
		blueLast = e.ID
	}
	leadLast := strconv.FormatInt(blueLast, 10)

	// Blue's and lead's connections drop; meanwhile an unreleased test
	// and a released one change. On reconnecting with Last-Event-ID each
	// gets what it missed — blue only the released test.
	blue.close()
	lead.close()
	mustPost(t, w.postVia(b, "red", hidden, "stop", nil), "stop the unreleased test")
	mustPost(t, w.postVia(b, "red", shown, "red", url.Values{"command": {"id"}}), "second red save")
	blue = openStream(t, srvA.URL, stream, w.cookies["blue"], leadLast)
	if e := blue.next(t, time.Second); !isTest(e, shown) {
		t.Fatalf("blue's replay starts with %+v", e)
	}
	blue.quiet(t, 300*time.Millisecond)
	lead = openStream(t, srvA.URL, stream, w.cookies["lead"], leadLast)
	// The lead missed the stop, its bell (an execution concerns the leads)
	// and the save, in that order.
	for i, want := range []func(sseEvent) bool{
		func(e sseEvent) bool { return isTest(e, hidden) },
		func(e sseEvent) bool { return e.Name == "bell" },
		func(e sseEvent) bool { return isTest(e, shown) },
	} {
		if e := lead.next(t, time.Second); !want(e) {
			t.Fatalf("lead's replay, event %d: %+v", i+1, e)
		}
	}

	// Releasing the test shows it to blue at once, and rings blue's bell.
	mustPost(t, w.postVia(b, "red", hidden, "release", nil), "release")
	if e := blue.next(t, time.Second); !isTest(e, hidden) {
		t.Fatalf("blue got %+v after the release", e)
	}
	if e := blue.next(t, time.Second); e.Name != "bell" {
		t.Fatalf("blue got %+v, want its bell", e)
	}
	if e := lead.next(t, time.Second); !isTest(e, hidden) {
		t.Fatalf("lead got %+v after the release", e)
	}
	lead.quiet(t, 200*time.Millisecond) // red released it: no bell for the lead
}

func TestEventStreamRefusals(t *testing.T) {
	w := newMTWorld(t)
	srv := httptest.NewServer(w.app)
	t.Cleanup(srv.Close) // after the streams close (cleanups run last first)
	get := func(path string, cookie *http.Cookie, header ...string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	mission := "/events?mission=" + w.mission.String()
	for _, tc := range []struct {
		name   string
		path   string
		cookie *http.Cookie
		header []string
		want   int
	}{
		{"anonymous", mission, nil, nil, http.StatusSeeOther},
		{"not a member", mission, w.cookies["outsider"], nil, http.StatusNotFound},
		{"no such mission", "/events?mission=" + uuid.NewString(), w.cookies["lead"], nil, http.StatusNotFound},
		{"not a mission id", "/events?mission=x", w.cookies["lead"], nil, http.StatusNotFound},
		{"bad event id", mission, w.cookies["lead"], []string{"Last-Event-ID", "-3"}, http.StatusBadRequest},
		{"bad since", mission + "&since=abc", w.cookies["lead"], nil, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := get(tc.path, tc.cookie, tc.header...); resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}

	// A reconnect after the events it names were pruned is told to reload.
	id := w.mk(t, missiontest.StatePending, true)
	lead := openStream(t, srv.URL, mission, w.cookies["lead"], "")
	mustPost(t, w.post("red", id, "start", nil), "start")
	first := lead.next(t, time.Second)
	lead.close()
	if _, err := w.app.DB.Exec(`DELETE FROM live_events WHERE id <= $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	lead = openStream(t, srv.URL, mission, w.cookies["lead"], strconv.FormatInt(first.ID, 10))
	if e := lead.next(t, time.Second); e.Name != "reset" {
		t.Fatalf("got %+v, want reset", e)
	}

	// Someone taken off the mission is told so, and the stream ends.
	blue := openStream(t, srv.URL, mission, w.cookies["blue"], "")
	r := w.app.PostAs(w.cookies["lead"], "/missions/"+w.mission.String()+"/members/"+w.users["blue"].String()+"/remove", url.Values{})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("remove blue: %d", r.Code)
	}
	if e := blue.next(t, time.Second); e.Name != "gone" {
		t.Fatalf("got %+v, want gone", e)
	}
	select {
	case _, open := <-blue.events:
		if open {
			t.Fatal("the stream went on")
		}
	case <-time.After(time.Second):
		t.Fatal("the stream did not end")
	}
}

// TestNotificationsGoToThePeopleConcerned drives each step that notifies
// through the router and checks who got what.
func TestNotificationsGoToThePeopleConcerned(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	missionURL := "/missions/" + w.mission.String()
	counts := func() map[string]map[string]int {
		out := map[string]map[string]int{}
		for role, id := range w.users {
			out[role] = map[string]int{}
			for _, n := range w.app.Ent.Notification.Query().Where(notification.UserID(id)).AllX(w.ctx) {
				out[role][n.Kind]++
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		do   func(t *testing.T)
		kind notify.Kind
		want []string // roles notified, once each
	}{
		{"release → blue", func(t *testing.T) {
			mustPost(t, w.post("red", w.mk(t, missiontest.StateExecuted, false), "release", nil), "release")
		}, notify.TestReleased, []string{"blue"}},
		{"execution → leads", func(t *testing.T) {
			mustPost(t, w.post("red", w.mk(t, missiontest.StateRunning, false), "stop", nil), "stop")
		}, notify.TestExecuted, []string{"lead"}},
		{"review of a released test → its red operator and blue", func(t *testing.T) {
			mustPost(t, w.post("lead", w.mk(t, missiontest.StateExecuted, true), "review", nil), "review")
		}, notify.TestReviewed, []string{"red", "blue"}},
		{"review of an unreleased test → its red operator only", func(t *testing.T) {
			mustPost(t, w.post("lead", w.mk(t, missiontest.StateExecuted, false), "review", nil), "review")
		}, notify.TestReviewed, []string{"red"}},
		{"status change → every other member", func(t *testing.T) {
			mustPost(t, w.app.PostAs(w.cookies["lead"], missionURL+"/status", url.Values{"to": {"completed"}}), "complete")
		}, notify.MissionStatus, []string{"red", "blue", "observer"}},
		{"added to a mission → that person", func(t *testing.T) {
			mustPost(t, w.app.PostAs(w.cookies["lead"], missionURL+"/members",
				url.Values{"user_id": {w.users["outsider"].String()}, "role": {"observer"}}), "add member")
		}, notify.MemberAdded, []string{"outsider"}},
		{"nobody is told of their own step", func(t *testing.T) {
			mustPost(t, w.post("lead", w.mk(t, missiontest.StateRunning, false), "stop", nil), "stop as lead")
		}, notify.TestExecuted, nil},
		{"a muted kind is not written", func(t *testing.T) {
			w.app.Ent.User.UpdateOneID(w.users["blue"]).SetMutedNotifications([]string{string(notify.TestReleased)}).ExecX(w.ctx)
			defer w.app.Ent.User.UpdateOneID(w.users["blue"]).SetMutedNotifications([]string{}).ExecX(w.ctx)
			mustPost(t, w.post("red", w.mk(t, missiontest.StateExecuted, false), "release", nil), "release")
		}, notify.TestReleased, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.kind == notify.MissionStatus {
				// Completing needs every test finished.
				w.app.Ent.MissionTest.Update().SetState(missiontest.StateReviewed).ExecX(w.ctx)
			}
			before := counts()
			tc.do(t)
			after := counts()
			for role := range w.users {
				want := 0
				for _, r := range tc.want {
					if r == role {
						want = 1
					}
				}
				for kind, n := range after[role] {
					got := n - before[role][kind]
					switch {
					case kind == string(tc.kind) && got != want:
						t.Errorf("%s got %d %s notifications, want %d", role, got, kind, want)
					case kind != string(tc.kind) && got != 0:
						t.Errorf("%s got %d %s notifications, want none", role, got, kind)
					}
				}
				if want == 1 && after[role][string(tc.kind)] == 0 {
					t.Errorf("%s got no %s notification", role, tc.kind)
				}
			}
		})
	}
	// Titles are in the recipient's language, and links lead to the thing.
	w.app.Ent.User.UpdateOneID(w.users["blue"]).SetLocale("fr").ExecX(w.ctx)
	id := w.mk(t, missiontest.StateExecuted, false)
	mustPost(t, w.post("red", id, "release", nil), "release")
	n := w.app.Ent.Notification.Query().Where(notification.UserID(w.users["blue"]), notification.Kind(string(notify.TestReleased))).
		Order(notification.ByCreatedAt()).AllX(w.ctx)
	last := n[len(n)-1]
	if !strings.Contains(last.Title, "transmis à l’équipe bleue") || last.Link != w.url(id, "") {
		t.Errorf("blue's notification: %q → %q", last.Title, last.Link)
	}
}

// TestLivePagesNameTheirStream checks the test page carries the live
// notice (hidden) and the mission's stream, and the mission page its
// stream and figures region.
func TestLivePagesNameTheirStream(t *testing.T) {
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StatePending, true)
	d := doc(t, w.app.GetAs(w.cookies["blue"], w.url(id, "")))
	live, _ := d.Find("body").Attr("data-live")
	if !strings.HasPrefix(live, "/events?since=") || !strings.Contains(live, "mission="+w.mission.String()) {
		t.Errorf("test page stream %q", live)
	}
	notice := d.Find(`[data-testid="live-notice"]`)
	if _, hidden := notice.Attr("hidden"); !hidden || notice.AttrOr("data-live-test", "") != id.String() {
		t.Errorf("live notice: %v", notice.Nodes)
	}
	d = doc(t, w.app.GetAs(w.cookies["lead"], "/missions/"+w.mission.String()))
	if live, _ := d.Find("body").Attr("data-live"); !strings.Contains(live, "mission="+w.mission.String()) {
		t.Errorf("mission page stream %q", live)
	}
	if d.Find("#mission-figures").Length() != 1 {
		t.Error("the mission page has no #mission-figures region")
	}
	r := w.app.GetAs(w.cookies["blue"], "/missions/"+w.mission.String()+"/figures", "HX-Request", "true")
	if r.Code != http.StatusOK || !strings.Contains(r.Body.String(), `id="mission-figures"`) {
		t.Errorf("figures partial: %d", r.Code)
	}
	// Elsewhere the stream carries the bell only.
	d = doc(t, w.app.GetAs(w.cookies["blue"], "/missions"))
	if live, _ := d.Find("body").Attr("data-live"); strings.Contains(live, "mission=") || live == "" {
		t.Errorf("missions list stream %q", live)
	}
}

// TestJobNotifications: whoever starts an ATT&CK sync or an Atomic import
// is told when it ends, succeeded or failed, with a link to its page.
func TestJobNotifications(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	red := app.SignedIn(t, "red@example.com", "redteam")
	sys := rule.SystemContext(context.Background())
	of := func(email string) []*ent.Notification {
		return app.Ent.Notification.Query().Where(notification.HasUserWith(user.Email(email))).
			Order(notification.ByCreatedAt()).AllX(sys)
	}
	check := func(t *testing.T, email string, n int, kind notify.Kind, link, title string) {
		t.Helper()
		got := of(email)
		if len(got) != n {
			t.Fatalf("%s has %d notifications, want %d", email, len(got), n)
		}
		last := got[n-1]
		if last.Kind != string(kind) || last.Link != link || !strings.Contains(last.Title, title) {
			t.Errorf("notification %s %q → %q", last.Kind, last.Title, last.Link)
		}
	}

	data, err := os.ReadFile(miniBundle)
	if err != nil {
		t.Fatal(err)
	}
	id, status, _, _, _ := waitSync(t, app, uploadBundle(app, admin, "enterprise-attack-99.1.json", bytes.NewReader(data)))
	if status != "succeeded" {
		t.Fatalf("sync %s", status)
	}
	check(t, "admin@example.com", 1, notify.SyncFinished, "/admin/attack-sync/"+id, "10 added")
	id, status, _, _, _ = waitSync(t, app, uploadBundle(app, admin, "broken.json", strings.NewReader(`{"type": "bundle", "objects": [`)))
	if status != "failed" {
		t.Fatalf("broken sync %s", status)
	}
	check(t, "admin@example.com", 2, notify.SyncFinished, "/admin/attack-sync/"+id, "failed")

	j := importWait(t, app, importPost(app, red, "/library/import/atomic", importFile("T9999.001.yaml", importFixtureBytes(t))))
	if j.Status != "succeeded" {
		t.Fatalf("import %s", j.Status)
	}
	check(t, "red@example.com", 1, notify.ImportFinished, "/library/import/"+j.ID, "T9999.001.yaml")
	j = importWait(t, app, importPost(app, red, "/library/import/atomic", importFile("broken.yml", []byte("attack_technique: [oops"))))
	if j.Status != "failed" {
		t.Fatalf("broken import %s", j.Status)
	}
	check(t, "red@example.com", 2, notify.ImportFinished, "/library/import/"+j.ID, "failed")
	if n := len(of("admin@example.com")); n != 2 {
		t.Errorf("the admin got %d notifications, want 2 (the imports are red's)", n)
	}
}
