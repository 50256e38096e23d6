package handlers_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

// faultWrite is one write request of the outage test and how it ended.
type faultWrite struct {
	name       string
	start, end time.Time
	status     int    // 0 when the request failed at the transport
	err        error  // transport error
	location   string // the 303's Location
	retryAfter string // the 503's Retry-After
	body       string // the start of the body of an unexpected answer
}

func (w faultWrite) latency() time.Duration { return w.end.Sub(w.start) }

// acknowledged: the server said the mission was created (303 to its page).
func (w faultWrite) acknowledged() bool {
	return w.status == http.StatusSeeOther && createdMission.MatchString(w.location)
}

var createdMission = regexp.MustCompile(`^/missions/([0-9a-f-]{36})$`)

// faultOutageBound is how long any request may take while the database is
// down: a refused connection fails at once, and database.Open's
// connect_timeout (2 s) bounds one that is not answered.
const faultOutageBound = 2 * time.Second

// TestFaultDatabaseOutageUnderWriteLoad: PostgreSQL stopped for 10 s and
// restarted under a steady write load. Six writers create missions through the
// real router over loopback HTTP, with the real pool, for 2 s before the
// outage, the 10 s of the outage and until after the recovery. While the
// database is down every write fails fast with 503 and /readyz answers 503;
// once it is back writes succeed within 5 s; every acknowledged mission is in
// the database afterwards, complete (its lead membership and its audit event),
// and no failed write left part of one.
func TestFaultDatabaseOutageUnderWriteLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 15 s")
	}
	cluster := testdb.NewCluster(t)
	dbURL := cluster.MigratedURL(t)
	// The shared test clusters run with synchronous_commit=off (speed); a
	// crash may then lose commits already acknowledged, which production
	// (synchronous_commit=on, the default) never does. Sessions of this
	// database use the production setting, so the test checks Violet and
	// not the test cluster's settings.
	check, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	if _, err := check.Exec(`ALTER DATABASE violet SET synchronous_commit = on`); err != nil {
		t.Fatal(err)
	}
	check.SetMaxIdleConns(0) // no connection of the checker lives through the outage

	app := apptest.New(t, apptest.WithDatabaseURL(dbURL))
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	app.User(t, "lead@example.com", "redteam")
	cookie := app.Login(t, "lead@example.com", apptest.Password)

	const writers = 6
	ctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	var (
		mu      sync.Mutex
		results []faultWrite
		wg      sync.WaitGroup
	)
	record := func(w faultWrite) {
		mu.Lock()
		results = append(results, w)
		mu.Unlock()
	}
	snapshot := func() []faultWrite {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(results)
	}
	for g := range writers {
		wg.Go(func() {
			client := &http.Client{
				Timeout:       15 * time.Second, // far beyond the bound: a hang shows as a long latency
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			for i := 0; ctx.Err() == nil; i++ {
				record(faultCreateMission(client, srv.URL, cookie, fmt.Sprintf("fault w%d n%d", g, i)))
				time.Sleep(20 * time.Millisecond)
			}
		})
	}

	time.Sleep(2 * time.Second)
	stopAt := time.Now()
	cluster.StopAndWait(t)
	downAt := time.Now() // from here the port refuses connections

	// /readyz while the database is down.
	type probe struct {
		status int
		body   string
		took   time.Duration
	}
	var probes []probe
	outageEnd := stopAt.Add(10 * time.Second)
	for time.Now().Before(outageEnd.Add(-300 * time.Millisecond)) {
		start := time.Now()
		resp, err := http.Get(srv.URL + "/readyz")
		p := probe{took: time.Since(start)}
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p.status, p.body = resp.StatusCode, string(b)
		} else {
			p.body = err.Error()
		}
		probes = append(probes, p)
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(time.Until(outageEnd))
	startAt := time.Now()
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()

	// Wait for a write begun after the restart to be acknowledged.
	var recovered time.Time
	for deadline := upAt.Add(10 * time.Second); time.Now().Before(deadline) && recovered.IsZero(); {
		time.Sleep(50 * time.Millisecond)
		for _, w := range snapshot() {
			if !w.start.Before(upAt) && w.acknowledged() && (recovered.IsZero() || w.end.Before(recovered)) {
				recovered = w.end
			}
		}
	}
	time.Sleep(time.Second) // a steady state after the recovery
	stopWriters()
	wg.Wait()
	all := snapshot()

	// The numbers, for the record.
	var (
		acked, failed, outageReqs, unexpected int
		maxOutage, maxAll                     time.Duration
	)
	statuses := map[string]int{}
	for _, w := range all {
		if w.latency() > maxAll {
			maxAll = w.latency()
		}
		key := fmt.Sprint(w.status)
		if w.err != nil {
			key = "transport error"
		}
		statuses[key]++
		switch {
		case w.acknowledged():
			acked++
		case w.status == http.StatusServiceUnavailable:
			failed++
		default:
			unexpected++
		}
		if !w.start.Before(downAt) && !w.end.After(startAt) {
			outageReqs++
			if w.latency() > maxOutage {
				maxOutage = w.latency()
			}
		}
	}
	t.Logf("writes: %d sent by %d writers, %d acknowledged, %d failed with 503, %d otherwise; statuses %v",
		len(all), writers, acked, failed, unexpected, statuses)
	t.Logf("outage: stop took %v; %d writes wholly inside it, slowest %v; slowest write of the run %v",
		downAt.Sub(stopAt).Round(time.Millisecond), outageReqs, maxOutage.Round(time.Millisecond), maxAll.Round(time.Millisecond))
	t.Logf("restart: pg_ctl start took %v; first write acknowledged %v after it returned",
		upAt.Sub(startAt).Round(time.Millisecond), recovered.Sub(upAt).Round(time.Millisecond))

	// Fail fast, with 503, never 500 nor a hang.
	if outageReqs < 20 {
		t.Errorf("only %d writes fell wholly inside the outage: the test proves little", outageReqs)
	}
	for _, w := range all {
		inOutage := !w.start.Before(downAt) && !w.end.After(startAt)
		switch {
		case w.err != nil:
			t.Errorf("%s: transport error after %v: %v", w.name, w.latency(), w.err)
		case !w.acknowledged() && w.status != http.StatusServiceUnavailable:
			t.Errorf("%s: status %d (Location %q) after %v, want 303 to the mission or 503\n%s",
				w.name, w.status, w.location, w.latency(), w.body)
		case inOutage && w.status != http.StatusServiceUnavailable:
			t.Errorf("%s: status %d during the outage, want 503", w.name, w.status)
		case w.status == http.StatusServiceUnavailable && w.retryAfter == "":
			t.Errorf("%s: 503 without Retry-After", w.name)
		}
		if w.latency() > faultOutageBound {
			t.Errorf("%s: took %v (status %d), want at most %v", w.name, w.latency(), w.status, faultOutageBound)
		}
	}

	// /readyz says so.
	if len(probes) < 10 {
		t.Errorf("only %d readiness probes during the outage", len(probes))
	}
	for i, p := range probes {
		if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, `"database":"unreachable"`) || p.took > faultOutageBound {
			t.Errorf("readyz probe %d during the outage: %d %s after %v, want 503 database unreachable within %v",
				i, p.status, p.body, p.took, faultOutageBound)
		}
	}

	// Recovery within 5 s, readiness included.
	if recovered.IsZero() {
		t.Fatal("no write begun after the restart was acknowledged within 10 s")
	}
	if d := recovered.Sub(upAt); d > 5*time.Second {
		t.Errorf("writes succeeded again %v after the database came back, want within 5 s", d)
	}
	if resp, err := http.Get(srv.URL + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("readyz after the recovery: %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	// Every acknowledged write is in the database, whole; a failed one left
	// a whole mission (committed, answer lost in the crash) or nothing.
	rows, err := check.Query(`SELECT m.id, m.name,
			(SELECT count(*) FROM mission_members mm WHERE mm.mission_id = m.id AND mm.role = 'lead'),
			(SELECT count(*) FROM audit_events a WHERE a.action = 'mission.created' AND a.target_id = m.id::text)
		FROM missions m WHERE m.name LIKE 'fault w%'`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{} // id → name
	for rows.Next() {
		var id, name string
		var leads, events int
		if err := rows.Scan(&id, &name, &leads, &events); err != nil {
			t.Fatal(err)
		}
		stored[id] = name
		if leads != 1 || events != 1 {
			t.Errorf("mission %q is partial: %d lead memberships, %d audit events", name, leads, events)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	failedNames := map[string]bool{}
	for _, w := range all {
		if !w.acknowledged() {
			failedNames[w.name] = true
			continue
		}
		id := createdMission.FindStringSubmatch(w.location)[1]
		if got, ok := stored[id]; !ok || got != w.name {
			t.Errorf("acknowledged write %s (mission %s) is not in the database (found %q)", w.name, id, got)
		}
		delete(stored, id)
	}
	var inDoubt []string
	for _, name := range stored {
		if !failedNames[name] {
			t.Errorf("mission %q is in the database but no write of that name was sent", name)
		}
		inDoubt = append(inDoubt, name)
	}
	sort.Strings(inDoubt)
	t.Logf("after the run: all %d acknowledged missions stored whole; %d failed writes committed before their answer was lost %v",
		acked, len(inDoubt), inDoubt)
}

// faultCreateMission posts the new-mission form and records the outcome.
func faultCreateMission(client *http.Client, base string, cookie *http.Cookie, name string) faultWrite {
	w := faultWrite{name: name, start: time.Now()}
	form := url.Values{"name": {name}, "description": {"written under load"}}
	req, err := http.NewRequest(http.MethodPost, base+"/missions", strings.NewReader(form.Encode()))
	if err != nil {
		w.err = err
		return w
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(cookie)
	resp, err := client.Do(req)
	if err != nil {
		w.end, w.err = time.Now(), err
		return w
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	w.end, w.status, w.location = time.Now(), resp.StatusCode, resp.Header.Get("Location")
	w.retryAfter = resp.Header.Get("Retry-After")
	if !w.acknowledged() && w.status != http.StatusServiceUnavailable {
		w.body = string(b[:min(len(b), 300)])
	}
	return w
}

// faultRowCounts counts the rows of every application table.
func faultRowCounts(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	out := make(map[string]int, len(tables))
	for _, name := range tables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM "` + name + `"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[name] = n
	}
	return out
}

// faultSameRows fails t for every table whose row count changed.
func faultSameRows(t *testing.T, before, after map[string]int) {
	t.Helper()
	for name, n := range after {
		if before[name] != n {
			t.Errorf("table %s: %d rows before the failed write, %d after", name, before[name], n)
		}
	}
}

// faultFailNth installs a trigger that raises on the nth insert into table
// (counting from its installation) for which cond (SQL on NEW) holds, and
// removes it when t ends or when the returned function is called.
func faultFailNth(t *testing.T, db *sql.DB, table, cond string, nth int) (remove func()) {
	t.Helper()
	stmt := fmt.Sprintf(`CREATE SEQUENCE fault_seq;
		CREATE FUNCTION fault_inject() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF (%s) AND nextval('fault_seq') >= %d THEN
				RAISE EXCEPTION 'injected failure';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER fault_inject BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION fault_inject();`, cond, nth, table)
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	remove = func() {
		once.Do(func() {
			if _, err := db.Exec(`DROP TRIGGER fault_inject ON ` + table + `;
				DROP FUNCTION fault_inject(); DROP SEQUENCE fault_seq`); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(remove)
	return remove
}

// faultErrorPage checks that w is the 500 page (not a success, not a blank
// answer).
func faultErrorPage(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500\n%s", w.Code, w.Body)
	}
	if got := testid(doc(t, w), "error-status"); got != "500" {
		t.Errorf("error page shows status %q, want 500", got)
	}
}

// TestFaultWriteFailsMidTransaction: a write that fails part way, after
// some of its rows are written (a PostgreSQL trigger raises on a later
// insert), leaves nothing behind: no row in any table, no file in the
// evidence store, an invitation still usable. Each case then succeeds once
// the fault is gone, so the fault, not the input, made it fail.
func TestFaultWriteFailsMidTransaction(t *testing.T) {
	t.Run("mission creation fails at its audit event", func(t *testing.T) {
		app := apptest.New(t)
		lead := app.SignedIn(t, "lead@example.com", "redteam")
		before := faultRowCounts(t, app.DB)
		// The mission and its lead membership are written before the
		// audit event.
		remove := faultFailNth(t, app.DB, "audit_events", "NEW.action = 'mission.created'", 1)
		form := url.Values{"name": {"Half a mission"}, "description": {"never whole"}}
		faultErrorPage(t, app.PostAs(lead, "/missions", form))
		faultSameRows(t, before, faultRowCounts(t, app.DB))

		remove()
		if w := app.PostAs(lead, "/missions", form); w.Code != http.StatusSeeOther {
			t.Fatalf("without the fault: status %d", w.Code)
		}
		var n int
		app.DB.QueryRow(`SELECT count(*) FROM missions m JOIN mission_members mm ON mm.mission_id = m.id
			WHERE m.name = 'Half a mission' AND mm.role = 'lead'`).Scan(&n)
		if n != 1 {
			t.Errorf("without the fault: %d missions with their lead, want 1", n)
		}
	})

	t.Run("invitation acceptance fails at its audit event", func(t *testing.T) {
		app := apptest.New(t)
		token := invAdminToken(t, app, "", "redteam", "observer")
		before := faultRowCounts(t, app.DB)
		// Claiming the link, the user, its two groups, the link's use and
		// the session are written before the audit event.
		remove := faultFailNth(t, app.DB, "audit_events", "NEW.action = 'invitation.accepted'", 1)
		form := invAcceptForm("new.person@example.com", "New Person")
		w := app.PostAs(nil, "/invitations/"+token, form)
		faultErrorPage(t, w)
		if c := invSession(app, w); c != nil {
			t.Errorf("a failed acceptance set a session cookie %q", c.Name)
		}
		faultSameRows(t, before, faultRowCounts(t, app.DB))
		if n := invCount(t, app, `SELECT count(*) FROM invitations WHERE consumed_at IS NOT NULL OR consumed_by_id IS NOT NULL`); n != 0 {
			t.Errorf("%d invitations marked used by a failed acceptance", n)
		}

		remove()
		w = app.PostAs(nil, "/invitations/"+token, form)
		if w.Code != http.StatusSeeOther || invSession(app, w) == nil {
			t.Fatalf("the same link without the fault: status %d, want 303 with a session\n%s", w.Code, w.Body)
		}
		if n := invCount(t, app, `SELECT count(*) FROM users u JOIN user_groups ug ON ug.user_id = u.id
			WHERE u.email = 'new.person@example.com'`); n != 2 {
			t.Errorf("without the fault: the account has %d groups, want 2", n)
		}
	})

	t.Run("evidence upload fails at its second row", func(t *testing.T) {
		w := newMTWorld(t)
		test := w.mk(t, "running", false)
		before := faultRowCounts(t, w.app.DB)
		// Both files are in the store, with the PNG's preview, and the
		// first row written when the second insert fails.
		remove := faultFailNth(t, w.app.DB, "evidence_files", "true", 2)
		files := []evFile{{"shot.png", evPNG(t, 40, 30)}, {"run.log", []byte("whoami\nnt authority\\system\n")}}
		faultErrorPage(t, w.upload(t, "red", test, files, "caption", "one", "caption", "two"))
		faultSameRows(t, before, faultRowCounts(t, w.app.DB))
		if left := faultStoreFiles(t, w.app.Config.EvidenceDir); len(left) != 0 {
			t.Errorf("the evidence store holds %v after a failed upload, want nothing", left)
		}

		remove()
		if res := w.upload(t, "red", test, files, "caption", "one", "caption", "two"); res.Code != http.StatusSeeOther {
			t.Fatalf("without the fault: status %d", res.Code)
		}
		if rows := w.evidenceRows(t, test); len(rows) != 2 {
			t.Errorf("without the fault: %d rows, want 2", len(rows))
		}
		if left := faultStoreFiles(t, w.app.Config.EvidenceDir); len(left) != 3 {
			t.Errorf("without the fault the store holds %v, want the two files and the preview", left)
		}
	})
}

// faultStoreFiles lists every regular file under dir, staging files
// included.
func faultStoreFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, strings.TrimPrefix(path, dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
