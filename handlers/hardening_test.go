package handlers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent/evidencefile"
	"violet/ent/missiontest"
	"violet/internal/config"
	"violet/internal/evidence"
	"violet/internal/testkit/apptest"
)

// TestRefusedWriteAudited: a write refused with 403 (by a role on the mission,
// or by the route table's permission) is audited exactly once with the actor,
// the route template and the target; nothing is written; refused reads and a
// 404 are not audited.
func TestRefusedWriteAudited(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	running := w.mk(t, missiontest.StateRunning, true)
	m := "/missions/" + w.mission.String()
	version := func() string { return strconv.Itoa(w.get(running).Version) }
	cases := []struct {
		name, role, method, path string
		form                     url.Values
		header                   []string
		status                   int
		audited                  bool
		route, kind, target      string
	}{
		{"blue posts a red action", "blue", http.MethodPost, w.url(running, "red"),
			url.Values{"command": {"forged"}, "version": {version()}}, nil,
			403, true, "/missions/:id/tests/:test/red", "mission_test", running.String()},
		{"blue stops the red test, htmx", "blue", http.MethodPost, w.url(running, "stop"),
			url.Values{"version": {version()}}, []string{"HX-Request", "true"},
			403, true, "/missions/:id/tests/:test/stop", "mission_test", running.String()},
		{"observer changes the plan", "observer", http.MethodPost, m + "/plan/tests/new",
			url.Values{"name": {"Sneaky"}}, nil,
			403, true, "/missions/:id/plan/tests/new", "mission", w.mission.String()},
		{"observer adds a category", "observer", http.MethodPost, m + "/categories",
			url.Values{"name": {"Sneaky"}, "colour": {"#112233"}}, nil,
			403, true, "/missions/:id/categories", "mission", w.mission.String()},
		{"blue without template.write writes the library", "blue", http.MethodPost, "/library/tests",
			url.Values{"name": {"Sneaky"}}, nil,
			403, true, "/library/tests", "", ""},
		{"a path parameter PostgreSQL would refuse", "blue", http.MethodPost, "/library/tests/%00%ff" + strings.Repeat("x", 100) + "/delete",
			url.Values{}, nil,
			403, true, "/library/tests/:id/delete", "test_template", "*"},
		{"a refused read is not audited", "blue", http.MethodGet, "/library/tests/new", nil, nil,
			403, false, "", "", ""},
		{"an outsider's 404 is not audited", "outsider", http.MethodPost, w.url(running, "red"),
			url.Values{"command": {"forged"}, "version": {version()}}, nil,
			404, false, "", "", ""},
	}
	denied := func() int {
		var n int
		if err := w.app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'access.denied'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, testBefore := denied(), w.get(running)
			var resp *httptest.ResponseRecorder
			if tc.method == http.MethodGet {
				resp = w.app.GetAs(w.cookies[tc.role], tc.path, tc.header...)
			} else {
				resp = w.app.PostAs(w.cookies[tc.role], tc.path, tc.form, tc.header...)
			}
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d\n%.1000s", resp.Code, tc.status, resp.Body)
			}
			if after := w.get(running); after.Version != testBefore.Version || after.Command != testBefore.Command {
				t.Error("the refused write changed the test")
			}
			if w.app.Ent.MissionTest.Query().Where(missiontest.Name("Sneaky")).ExistX(w.ctx) {
				t.Error("the refused write planted a test")
			}
			if !tc.audited {
				if n := denied() - before; n != 0 {
					t.Errorf("%d access.denied events, want none", n)
				}
				return
			}
			if n := denied() - before; n != 1 {
				t.Fatalf("%d access.denied events, want exactly 1", n)
			}
			var actorID uuid.UUID
			var actor, kind, target, route, method, ip, rid, testParam string
			err := w.app.DB.QueryRow(`SELECT actor_id, actor_label, target_type, target_id,
				details->>'route', details->>'method', ip, request_id, coalesce(details->'params'->>'test', '')
				FROM audit_events WHERE action = 'access.denied' ORDER BY created_at DESC, id DESC LIMIT 1`).
				Scan(&actorID, &actor, &kind, &target, &route, &method, &ip, &rid, &testParam)
			if err != nil {
				t.Fatal(err)
			}
			if actorID != w.users[tc.role] || actor != tc.role+"@example.com" {
				t.Errorf("actor %s %q, want %s", actorID, actor, tc.role)
			}
			if route != tc.route || method != tc.method {
				t.Errorf("route %s %q, want %s %q", method, route, tc.method, tc.route)
			}
			if kind != tc.kind || (target != tc.target && tc.target != "*") || !utf8.ValidString(target) || len(target) > 64 {
				t.Errorf("target %s %q, want %s %q", kind, target, tc.kind, tc.target)
			}
			if strings.Contains(tc.route, ":test") && testParam != running.String() {
				t.Errorf("details name test %q", testParam)
			}
			if rid == "" || rid != resp.Header().Get("X-Request-Id") || ip == "" {
				t.Errorf("request id %q (answer's %q), address %q", rid, resp.Header().Get("X-Request-Id"), ip)
			}
		})
	}
	t.Run("the audit log shows it", func(t *testing.T) {
		d := doc(t, w.app.GetAs(w.cookies["admin"], "/admin/audit?action=access.denied"))
		if n := d.Find(`[data-testid="audit-target"]`).Length(); n != 6 {
			t.Errorf("%d refused writes listed, want 6", n)
		}
		if !strings.Contains(d.Text(), "Write refused") {
			t.Error("the action has no label")
		}
	})
}

// behindProxy trusts the address httptest requests come from
// (192.0.2.1) as a reverse proxy, as TRUSTED_PROXIES does.
func behindProxy(c *config.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
}

// loginFrom posts a sign-in through the trusted proxy for the client at ip.
func loginFrom(app *apptest.App, ip, email, password string) *httptest.ResponseRecorder {
	return postLogin(app, email, password, "X-Forwarded-For", ip)
}

// TestLoginThrottleBehindProxy is the login throttle with a configured trusted
// proxy: the address throttled is the client's from X-Forwarded-For; rotating
// it does not escape the per-email limit, the per-address limit holds across
// emails, and other clients behind the same proxy are not locked out with the
// attacker.
func TestLoginThrottleBehindProxy(t *testing.T) {
	t.Parallel()
	t.Run("per email, rotating X-Forwarded-For", func(t *testing.T) {
		app := apptest.New(t, apptest.WithConfig(behindProxy))
		app.User(t, "target@example.com", "observer")
		app.User(t, "bystander@example.com", "observer")
		first429 := 0
		for i := 1; i <= 30; i++ {
			resp := loginFrom(app, fmt.Sprintf("203.0.113.%d", i), "target@example.com", "wrong password")
			switch {
			case resp.Code == http.StatusTooManyRequests:
				if first429 == 0 {
					first429 = i
				}
				if ra, _ := strconv.Atoi(resp.Header().Get("Retry-After")); ra < 1 {
					t.Fatalf("429 without a useful Retry-After (%q)", resp.Header().Get("Retry-After"))
				}
			case resp.Code != http.StatusUnauthorized:
				t.Fatalf("attempt %d: %d", i, resp.Code)
			}
		}
		if first429 != 11 {
			t.Fatalf("first 429 at attempt %d, want the 11th (10 failures allowed per email)", first429)
		}
		// The failures were counted under the clients' addresses, not the
		// proxy's: the rotation was real.
		var addrs int
		if err := app.DB.QueryRow(`SELECT count(DISTINCT ip) FROM audit_events WHERE action = 'login.failed'
			AND ip LIKE '203.0.113.%'`).Scan(&addrs); err != nil || addrs != 10 {
			t.Fatalf("%d client addresses recorded (%v), want 10", addrs, err)
		}
		if resp := loginFrom(app, "203.0.113.200", "target@example.com", apptest.Password); resp.Code != http.StatusTooManyRequests {
			t.Errorf("right password while throttled, from a new address: %d, want 429", resp.Code)
		}
		if resp := loginFrom(app, "203.0.113.201", "bystander@example.com", apptest.Password); resp.Code != http.StatusSeeOther {
			t.Errorf("another account: %d, want a normal login", resp.Code)
		}
	})
	t.Run("per address, across emails", func(t *testing.T) {
		app := apptest.New(t, apptest.WithConfig(behindProxy))
		app.User(t, "real@example.com", "observer")
		for i := 1; i <= 50; i++ {
			if resp := loginFrom(app, "198.51.100.77", fmt.Sprintf("guess%d@example.com", i), "wrong"); resp.Code != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d, want 401 (50 failures allowed per address)", i, resp.Code)
			}
		}
		resp := loginFrom(app, "198.51.100.77", "real@example.com", apptest.Password)
		if resp.Code != http.StatusTooManyRequests || resp.Header().Get("Retry-After") == "" {
			t.Errorf("51st attempt from the address, right password: %d (Retry-After %q), want 429",
				resp.Code, resp.Header().Get("Retry-After"))
		}
		// The same proxy, another client: not throttled.
		if resp := loginFrom(app, "198.51.100.78", "real@example.com", apptest.Password); resp.Code != http.StatusSeeOther {
			t.Errorf("another client behind the proxy: %d, want a normal login", resp.Code)
		}
	})
	t.Run("X-Forwarded-For from an untrusted sender is ignored", func(t *testing.T) {
		app := apptest.New(t) // no trusted proxy
		for i := 1; i <= 50; i++ {
			loginFrom(app, fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("guess%d@example.com", i), "wrong")
		}
		if resp := loginFrom(app, "203.0.113.99", "other@example.com", "wrong"); resp.Code != http.StatusTooManyRequests {
			t.Errorf("51st failure from one connection address with forged headers: %d, want 429", resp.Code)
		}
	})
}

// TestLoginLockoutEnds: a locked email is refused with a Retry-After that
// counts down the 15-minute window, and signs in again once the window has
// passed (the server's injected clock, not a sleep).
func TestLoginLockoutEnds(t *testing.T) {
	clk := newClock()
	app := apptest.New(t, apptest.WithNow(clk.Now))
	app.User(t, "locked@example.com", "observer")
	for i := 1; i <= 10; i++ {
		if resp := postLogin(app, "locked@example.com", "wrong"); resp.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, resp.Code)
		}
	}
	retryAfter := func(resp *httptest.ResponseRecorder) int {
		t.Helper()
		if resp.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", resp.Code)
		}
		n, err := strconv.Atoi(resp.Header().Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q", resp.Header().Get("Retry-After"))
		}
		return n
	}
	// The failures are stamped by the real clock while the server's stands
	// still, so the wait may exceed the window by the test's running time:
	// a few seconds of slack.
	const slack = 10
	if ra := retryAfter(postLogin(app, "locked@example.com", apptest.Password)); ra < 14*60 || ra > 15*60+slack {
		t.Errorf("Retry-After %ds at once, want about 900", ra)
	}
	clk.Advance(14 * time.Minute)
	if ra := retryAfter(postLogin(app, "locked@example.com", apptest.Password)); ra < 1 || ra > 60+slack {
		t.Errorf("Retry-After %ds 14 minutes later, want about 60", ra)
	}
	clk.Advance(time.Minute + (slack+1)*time.Second)
	if resp := postLogin(app, "locked@example.com", apptest.Password); resp.Code != http.StatusSeeOther {
		t.Fatalf("after the window: %d, want a normal login\n%.1000s", resp.Code, resp.Body)
	}
}

// TestLoginBurstProductionHasher is a burst of logins with the hasher
// `violet serve` builds (argon2id, production parameters, one hash per
// CPU): 100 failed logins at once from 100 clients behind the proxy get 401,
// 429 or 503 with Retry-After, never a 500; every 401 is audited once; and a
// correct login afterwards works.
func TestLoginBurstProductionHasher(t *testing.T) {
	if testing.Short() {
		t.Skip("100 argon2id hashes")
	}
	app := apptest.New(t, apptest.WithProductionHasher(), apptest.WithConfig(behindProxy))
	app.User(t, "victim@example.com", "observer")
	app.User(t, "real@example.com", "observer")
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[int]int{}
		bad    []string
	)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "victim@example.com"
			if i%2 == 1 {
				email = fmt.Sprintf("ghost%d@example.com", i)
			}
			resp := loginFrom(app, fmt.Sprintf("203.0.113.%d", i+1), email, "wrong password")
			mu.Lock()
			defer mu.Unlock()
			counts[resp.Code]++
			switch resp.Code {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				if ra, _ := strconv.Atoi(resp.Header().Get("Retry-After")); ra < 1 {
					bad = append(bad, fmt.Sprintf("%d without Retry-After", resp.Code))
				}
			default:
				bad = append(bad, fmt.Sprintf("status %d", resp.Code))
			}
		}()
	}
	wg.Wait()
	t.Logf("statuses: %v", counts)
	for _, b := range bad {
		t.Error(b)
	}
	if counts[http.StatusUnauthorized] == 0 {
		t.Error("no attempt was checked at all")
	}
	var failed int
	if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'login.failed'`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed != counts[http.StatusUnauthorized] {
		t.Errorf("%d login.failed events for %d refused logins", failed, counts[http.StatusUnauthorized])
	}
	if resp := loginFrom(app, "198.51.100.1", "real@example.com", apptest.Password); resp.Code != http.StatusSeeOther {
		t.Errorf("correct login after the burst: %d, want 303\n%.1000s", resp.Code, resp.Body)
	}
}

// markupName is a mission name that is markup in every context: an
// element with a handler, and both quotes and an ampersand for attributes.
const markupName = `<img src=x onerror=alert(1)>"'&`

// TestMissionNameEscaped: a mission name with markup is text on the list, the
// htmx search partial, the mission page, the report and a 409 page; and an
// outsider's 404 on the mission is byte for byte the 404 of an unknown id
// (request id blanked).
func TestMissionNameEscaped(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	w.app.Ent.Mission.UpdateOneID(w.mission).SetName(markupName).ExecX(w.ctx)
	m := "/missions/" + w.mission.String()
	stale := url.Values{"name": {markupName}, "description": {"x"}, "scope": {"x"},
		"version": {strconv.Itoa(w.app.Ent.Mission.GetX(w.ctx, w.mission).Version + 1)}}
	pages := []struct {
		name   string
		resp   func() *httptest.ResponseRecorder
		status int
	}{
		{"list", func() *httptest.ResponseRecorder { return w.app.GetAs(w.cookies["lead"], "/missions") }, 200},
		{"htmx search", func() *httptest.ResponseRecorder {
			return w.app.GetAs(w.cookies["lead"], "/missions?q="+url.QueryEscape("onerror"), "HX-Request", "true")
		}, 200},
		{"mission page", func() *httptest.ResponseRecorder { return w.app.GetAs(w.cookies["lead"], m) }, 200},
		{"settings", func() *httptest.ResponseRecorder { return w.app.GetAs(w.cookies["lead"], m+"/settings") }, 200},
		{"report", func() *httptest.ResponseRecorder { return w.app.GetAs(w.cookies["lead"], m+"/report") }, 200},
		{"409 page", func() *httptest.ResponseRecorder { return w.app.PostAs(w.cookies["lead"], m+"/settings", stale) }, 409},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			resp := p.resp()
			if resp.Code != p.status {
				t.Fatalf("status %d, want %d\n%.1000s", resp.Code, p.status, resp.Body)
			}
			body := resp.Body.String()
			if strings.Contains(body, "<img src=x") || strings.Contains(body, "onerror=alert") && !strings.Contains(body, "&lt;img") {
				t.Errorf("the name is markup in the page")
			}
			d := doc(t, resp)
			if n := d.Find(`[onerror], img[src="x"]`).Length(); n != 0 {
				t.Errorf("%d elements made of the name", n)
			}
			if !strings.Contains(d.Text(), markupName) {
				t.Error("the name is not shown as text")
			}
		})
	}

	t.Run("an outsider's 404 is an unknown id's", func(t *testing.T) {
		test := w.mk(t, missiontest.StatePending, true)
		unknown := uuid.NewString()
		blank := func(resp *httptest.ResponseRecorder) string {
			rid := resp.Header().Get("X-Request-Id")
			if rid == "" {
				t.Fatal("no request id")
			}
			// The page links back to its own URL (the language form), so
			// the ids in it are blanked too.
			body := strings.ReplaceAll(resp.Body.String(), rid, "")
			return strings.ReplaceAll(strings.ReplaceAll(body, w.mission.String(), "ID"), unknown, "ID")
		}
		for _, suffix := range []string{"", "/settings", "/report", "/figures", "/export/tests.csv",
			"/export/mission.json", "/tests/" + test.String(), "/tests/" + test.String() + "/evidence"} {
			for _, hx := range []bool{false, true} {
				var header []string
				if hx {
					header = []string{"HX-Request", "true"}
				}
				name := suffix + map[bool]string{true: " htmx"}[hx]
				t.Run(name, func(t *testing.T) {
					real := w.app.GetAs(w.cookies["outsider"], m+suffix, header...)
					missing := w.app.GetAs(w.cookies["outsider"], "/missions/"+unknown+suffix, header...)
					if real.Code != http.StatusNotFound || missing.Code != http.StatusNotFound {
						t.Fatalf("status %d and %d, want 404", real.Code, missing.Code)
					}
					if a, b := blank(real), blank(missing); a != b {
						t.Errorf("the bodies differ:\n%s\n---\n%s", a, b)
					}
					if real.Header().Get("Content-Type") != missing.Header().Get("Content-Type") {
						t.Error("content types differ")
					}
					if strings.Contains(real.Body.String(), "onerror") || strings.Contains(real.Body.String(), "&lt;img") {
						t.Error("the 404 names the mission")
					}
				})
			}
		}
		post := func(id string) *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["outsider"], "/missions/"+id+"/plan/tests/new", url.Values{"name": {"x"}})
		}
		real, missing := post(w.mission.String()), post(unknown)
		if real.Code != http.StatusNotFound || blank(real) != blank(missing) {
			t.Errorf("POST: %d, bodies equal %v", real.Code, blank(real) == blank(missing))
		}
	})
}

// TestForeignMissionIDChangesNothing: ids the user may not set are ignored by
// the mission forms: another mission's test, category or evidence named in a
// URL of this mission, or a mission_id field naming another mission, changes
// nothing of that mission (its rows are compared before and after).
func TestForeignMissionIDChangesNothing(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	own := w.mk(t, missiontest.StateRunning, true)
	ownBlue := w.mk(t, missiontest.StateExecuted, true)
	foreignCat := w.app.Ent.MissionCategory.Create().SetMissionID(w.other).SetName("Foreign").
		SetColour("#123456").SaveX(w.ctx).ID
	foreignEv := w.app.Ent.EvidenceFile.Create().SetMissionTestID(w.otherTst).SetSide(evidencefile.SideRed).
		SetUploadedByID(w.users["red"]).SetOriginalName("foreign.txt").SetStoredKey(evidence.NewKey()).
		SetContentType("text/plain").SetSize(1).SetSha256(sha([]byte("x"))).SaveX(w.ctx).ID
	foreign := w.other.String()

	// snapshot is every row of the other mission as text, in a fixed order.
	snapshot := func() string {
		var s string
		err := w.app.DB.QueryRow(`SELECT string_agg(r, E'\n' ORDER BY r) FROM (
			SELECT m::text AS r FROM missions m WHERE m.id = $1
			UNION ALL SELECT t::text FROM mission_tests t WHERE t.mission_id = $1
			UNION ALL SELECT c::text FROM mission_categories c WHERE c.mission_id = $1
			UNION ALL SELECT e::text FROM evidence_files e JOIN mission_tests t ON t.id = e.mission_test_id
				WHERE t.mission_id = $1
			UNION ALL SELECT mm::text FROM mission_members mm WHERE mm.mission_id = $1) x`, w.other).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()
	m := "/missions/" + w.mission.String()
	ot := w.otherTst.String()
	withForeign := func(v url.Values) url.Values { v.Set("mission_id", foreign); return v }
	upload := func(test uuid.UUID, fields ...string) *httptest.ResponseRecorder {
		body, ct := evMultipart(t, []evFile{{"note.txt", []byte("whoami\n")}}, fields...)
		return w.uploadBody("red", test, bytes.NewReader(body), ct)
	}
	cases := []struct {
		name string
		do   func() *httptest.ResponseRecorder
		ok   bool // the request is for this mission and succeeds here
	}{
		{"red form, the other mission's test", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["red"], m+"/tests/"+ot+"/red", withForeign(url.Values{"command": {"forged"}, "version": {"1"}}))
		}, false},
		{"red form, mission_id of the other mission", func() *httptest.ResponseRecorder {
			return w.post("red", own, "red", withForeign(url.Values{"command": {"whoami"}}))
		}, true},
		{"start, the other mission's test", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["red"], m+"/tests/"+ot+"/start", withForeign(url.Values{"version": {"1"}}))
		}, false},
		{"blue form, the other mission's test", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["blue"], m+"/tests/"+ot+"/blue", withForeign(url.Values{"alert_name": {"forged"}, "version": {"1"}}))
		}, false},
		{"blue form, mission_id of the other mission", func() *httptest.ResponseRecorder {
			return w.post("blue", ownBlue, "blue", withForeign(url.Values{"alert_name": {"EDR 7"}, "detection_level": {""}}))
		}, true},
		{"plan: new test with mission_id", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/plan/tests/new", withForeign(url.Values{"name": {"Planted"}}))
		}, true},
		{"plan: move the other mission's test", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/plan/tests/"+ot+"/move", withForeign(url.Values{"direction": {"up"}}))
		}, false},
		{"plan: remove the other mission's test", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/plan/tests/"+ot+"/remove", withForeign(url.Values{}))
		}, false},
		{"plan: categorise the other mission's test", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/plan/tests/"+ot+"/category", url.Values{"category_id": {foreignCat.String()}})
		}, false},
		{"plan: the other mission's category on this test", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/plan/tests/"+own.String()+"/category", url.Values{"category_id": {foreignCat.String()}})
		}, false},
		{"category: rename the other mission's", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/categories/"+foreignCat.String(), url.Values{"name": {"Taken"}, "colour": {"#000000"}})
		}, false},
		{"category: move the other mission's", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/categories/"+foreignCat.String()+"/move", url.Values{"direction": {"up"}})
		}, false},
		{"category: delete the other mission's", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/categories/"+foreignCat.String()+"/delete", nil)
		}, false},
		{"category: add with mission_id", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/categories", withForeign(url.Values{"name": {"Added"}, "colour": {"#abcdef"}}))
		}, true},
		{"evidence: upload to the other mission's test", func() *httptest.ResponseRecorder {
			return upload(w.otherTst, "mission_id", foreign)
		}, false},
		{"evidence: upload with mission_id", func() *httptest.ResponseRecorder {
			return upload(own, "mission_id", foreign, "side", "red")
		}, true},
		{"evidence: delete the other mission's", func() *httptest.ResponseRecorder {
			return w.app.PostAs(w.cookies["lead"], m+"/tests/"+own.String()+"/evidence/"+foreignEv.String()+"/delete", nil)
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.do()
			switch {
			case resp.Code >= 500:
				t.Fatalf("status %d", resp.Code)
			case tc.ok && resp.Code >= 400:
				t.Fatalf("status %d, want the change made here\n%.1000s", resp.Code, resp.Body)
			case !tc.ok && resp.Code < 400:
				t.Fatalf("status %d, want a refusal", resp.Code)
			}
			if after := snapshot(); after != before {
				t.Errorf("the other mission changed:\n%s\n---\n%s", before, after)
			}
		})
	}
	// What was made went to this mission.
	if !w.app.Ent.MissionTest.Query().Where(missiontest.Name("Planted"), missiontest.MissionID(w.mission)).ExistX(w.ctx) {
		t.Error("the planned test is not on this mission")
	}
	if w.get(own).Command != "whoami" || w.get(ownBlue).AlertName != "EDR 7" || w.get(own).CategoryID != nil {
		t.Errorf("this mission's tests: command %q, alert %q, category %v", w.get(own).Command, w.get(ownBlue).AlertName, w.get(own).CategoryID)
	}
	if n := len(w.evidenceRows(t, own)); n != 1 {
		t.Errorf("%d evidence files on this mission's test, want 1", n)
	}
}

// TestSecurityHeadersSignedIn is TestSecurityHeaders beyond the anonymous
// pages: signed-in pages, htmx partials, exports, the report's stylesheet,
// evidence downloads and signed-in error pages all refuse framing, carry the
// CSP and are not stored by the browser.
func TestSecurityHeadersSignedIn(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	test := w.mk(t, missiontest.StateRunning, true)
	if resp := w.upload(t, "red", test, []evFile{{"run.log", []byte("whoami\n")}}); resp.Code >= 400 {
		t.Fatalf("upload: %d", resp.Code)
	}
	ev := w.evidenceRows(t, test)[0].ID
	m := "/missions/" + w.mission.String()
	hx := []string{"HX-Request", "true"}
	cases := []struct {
		role, path string
		header     []string
		status     int
	}{
		{"lead", "/", nil, 200},
		{"lead", "/missions", nil, 200},
		{"lead", "/missions?q=op", hx, 200},
		{"lead", m, nil, 200},
		{"lead", m + "/figures", hx, 200},
		{"lead", m + "/plan/tests?tq=x", hx, 200},
		{"lead", m + "/report", nil, 200},
		{"lead", m + "/report/page.css", nil, 200},
		{"lead", m + "/export/tests.csv", nil, 200},
		{"lead", m + "/export/mission.json", nil, 200},
		{"lead", m + "/export/navigator.json", nil, 200},
		{"red", w.url(test, ""), nil, 200},
		{"red", w.url(test, "evidence"), hx, 200},
		{"red", w.url(test, "evidence/"+ev.String()), nil, 200},
		{"lead", "/notifications/bell", hx, 200},
		{"lead", "/account", nil, 200},
		{"admin", "/admin/audit?actor=a", hx, 200},
		{"admin", "/admin/users", nil, 200},
		{"outsider", m, nil, 404},
		{"blue", "/library/tests/new", nil, 403},
	}
	for _, tc := range cases {
		t.Run(tc.role+" "+tc.path+strings.Join(tc.header, ""), func(t *testing.T) {
			resp := w.app.GetAs(w.cookies[tc.role], tc.path, tc.header...)
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d", resp.Code, tc.status)
			}
			h := resp.Header()
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src") ||
				(!strings.Contains(csp, "frame-ancestors 'none'") && !strings.Contains(csp, "sandbox")) {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if got := h.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options %q", got)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if !hasDirective(h.Get("Cache-Control"), "no-store") {
				t.Errorf("Cache-Control %q, want no-store", h.Get("Cache-Control"))
			}
		})
	}
}

// hasDirective reports whether a Cache-Control value has directive d.
func hasDirective(value, d string) bool {
	for _, part := range strings.Split(value, ",") {
		if strings.EqualFold(strings.TrimSpace(part), d) {
			return true
		}
	}
	return false
}
