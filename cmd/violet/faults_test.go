package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/testkit/testdb"
)

// faultLogin signs in over HTTP and returns the session cookies.
func faultLogin(t *testing.T, client *http.Client, base, email, password string) []*http.Cookie {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Fatalf("login as %s: %s with cookies %v, want 303 with a session", email, resp.Status, resp.Cookies())
	}
	return resp.Cookies()
}

// uploadWorld is a red operator on a running test of a mission, in the
// database at dbURL: what an evidence upload needs.
type uploadWorld struct {
	client   *ent.Client
	ctx      context.Context
	mission  uuid.UUID
	test     uuid.UUID
	email    string
	password string
}

func newUploadWorld(t *testing.T, dbURL string) *uploadWorld {
	t.Helper()
	w := &uploadWorld{ctx: rule.SystemContext(context.Background()), email: "red@example.com", password: "a long upload passphrase"}
	_, client, err := database.Open(dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	w.client = client
	hasher, err := auth.NewHasher(auth.DefaultArgon2Params(), 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(w.ctx, w.password)
	if err != nil {
		t.Fatal(err)
	}
	red := client.User.Create().SetEmail(w.email).SetDisplayName("Red").SetPasswordHash(hash).
		AddGroups(client.Group.Query().Where(group.Name("redteam")).OnlyX(w.ctx)).SaveX(w.ctx)
	m := client.Mission.Create().SetName("Long upload").SetStatus(mission.StatusInProgress).SaveX(w.ctx)
	client.MissionMember.Create().SetMissionID(m.ID).SetUserID(red.ID).SetRole(missionmember.RoleRed).ExecX(w.ctx)
	test := client.MissionTest.Create().SetMissionID(m.ID).SetName("Collect logs").
		SetState(missiontest.StateRunning).SetStartedAt(time.Now()).SetExecutedByID(red.ID).SaveX(w.ctx)
	w.mission, w.test = m.ID, test.ID
	return w
}

// uploadURL is the path evidence is posted to, and redirected to after.
func (w *uploadWorld) uploadURL() string {
	return "/missions/" + w.mission.String() + "/tests/" + w.test.String() + "/evidence"
}

// uploadClient does not follow redirects: the 303 is the answer checked.
func uploadClient() *http.Client {
	return &http.Client{
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// post sends one multipart upload to the test and returns its answer.
func (w *uploadWorld) post(client *http.Client, base string, cookies []*http.Cookie, body io.Reader, contentType string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, base+w.uploadURL(), body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return client.Do(req)
}

// longUpload is an evidence upload of a 4 MiB log streamed in 32 chunks
// 80 ms apart (about 2.5 s), under way.
type longUpload struct {
	wantSHA   string
	size      int64
	firstSent chan time.Time
	lastSent  chan time.Time
	answered  chan uploadAnswer
}

type uploadAnswer struct {
	resp *http.Response
	err  error
	at   time.Time
}

func (w *uploadWorld) startLongUpload(client *http.Client, base string, cookies []*http.Cookie) *longUpload {
	const chunks, chunkSize = 32, 128 << 10
	line := []byte("2026-03-14T09:30:00Z host=ws01 event=4688 cmd=powershell.exe -enc SQBFAFgA\n")
	chunk := make([]byte, 0, chunkSize)
	for len(chunk)+len(line) <= chunkSize {
		chunk = append(chunk, line...)
	}
	sum := sha256.New()
	for range chunks {
		sum.Write(chunk)
	}
	u := &longUpload{
		wantSHA: hex.EncodeToString(sum.Sum(nil)), size: chunks * int64(len(chunk)),
		firstSent: make(chan time.Time, 1), lastSent: make(chan time.Time, 1), answered: make(chan uploadAnswer, 1),
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fail := func(err error) { pw.CloseWithError(err) }
		if err := mw.WriteField("caption", "a long capture"); err != nil {
			fail(err)
			return
		}
		fw, err := mw.CreateFormFile("file", "capture.log")
		if err != nil {
			fail(err)
			return
		}
		for i := range chunks {
			// A write returns once the transport has taken the bytes.
			if _, err := fw.Write(chunk); err != nil {
				fail(err)
				return
			}
			if i == 0 {
				u.firstSent <- time.Now()
			}
			time.Sleep(80 * time.Millisecond)
		}
		u.lastSent <- time.Now()
		if err := mw.Close(); err != nil {
			fail(err)
			return
		}
		pw.Close()
	}()
	go func() {
		resp, err := w.post(client, base, cookies, pr, mw.FormDataContentType())
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		u.answered <- uploadAnswer{resp, err, time.Now()}
	}()
	return u
}

// checkAnswered: the upload, under way when SIGTERM came at sigterm,
// was answered with its success (303 back to the evidence page).
func (w *uploadWorld) checkAnswered(t *testing.T, u *longUpload, first, sigterm time.Time, log fmt.Stringer) {
	t.Helper()
	a := <-u.answered
	if a.err != nil {
		t.Fatalf("the upload failed after SIGTERM: %v\n%s", a.err, log)
	}
	last := <-u.lastSent
	if !sigterm.Before(last) {
		t.Fatalf("SIGTERM at %v was not before the end of the upload (%v): the test proves nothing", sigterm, last)
	}
	t.Logf("SIGTERM %v after the first chunk; the last chunk was sent %v after SIGTERM, the answer came %v after it",
		sigterm.Sub(first).Round(time.Millisecond), last.Sub(sigterm).Round(time.Millisecond),
		a.at.Sub(sigterm).Round(time.Millisecond))
	if a.resp.StatusCode != http.StatusSeeOther || a.resp.Header.Get("Location") != w.uploadURL() {
		t.Errorf("upload answered %s to %q, want 303 to %s", a.resp.Status, a.resp.Header.Get("Location"), w.uploadURL())
	}
}

// checkStored: the upload's one row and its file, with the SHA-256 of
// what was sent.
func (w *uploadWorld) checkStored(t *testing.T, evidenceDir string, u *longUpload) {
	t.Helper()
	rows := w.client.EvidenceFile.Query().AllX(w.ctx)
	if len(rows) != 1 {
		t.Fatalf("%d evidence rows, want 1", len(rows))
	}
	if r := rows[0]; r.Sha256 != u.wantSHA || r.Size != u.size || r.MissionTestID != w.test {
		t.Errorf("row %s, %d bytes, test %s; want %s, %d bytes, test %s", r.Sha256, r.Size, r.MissionTestID, u.wantSHA, u.size, w.test)
	}
	f, err := os.Open(filepath.Join(evidenceDir, rows[0].StoredKey))
	if err != nil {
		t.Fatalf("the stored file: %v", err)
	}
	defer f.Close()
	got := sha256.New()
	if _, err := io.Copy(got, f); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got.Sum(nil)) != u.wantSHA {
		t.Errorf("the stored file's SHA-256 is %x, want %s", got.Sum(nil), u.wantSHA)
	}
}

// TestFaultSIGTERMDuringLongUpload: an evidence upload streamed over
// about 2.5 s is under way when serve gets SIGTERM; the upload completes
// with its success answer, its row and file are kept with the right
// SHA-256, and serve returns nil (exit status 0).
//
// main turns SIGTERM into the cancellation of run's context
// (signal.NotifyContext) and does nothing else with it, so cancelling the
// context here is what the signal does; TestProcess sends the real signal
// to the built binary.
func TestFaultSIGTERMDuringLongUpload(t *testing.T) {
	dbURL := testdb.URL(t)
	w := newUploadWorld(t, dbURL)
	evidenceDir := filepath.Join(t.TempDir(), "evidence")
	s := startServe(t, map[string]string{
		"DATABASE_URL": dbURL,
		"SESSION_KEY":  sessionKey(t),
		"EVIDENCE_DIR": evidenceDir,
		"LISTEN_ADDR":  freeAddr(t),
		"LOG_LEVEL":    "warn",
	})
	httpClient := uploadClient()
	s.waitFor(t, httpClient, "/readyz", 10*time.Second)
	cookies := faultLogin(t, httpClient, s.base, w.email, w.password)

	u := w.startLongUpload(httpClient, s.base, cookies)
	first := <-u.firstSent
	time.Sleep(200 * time.Millisecond)
	sigterm := time.Now()
	s.cancel() // SIGTERM

	w.checkAnswered(t, u, first, sigterm, s.stderr)
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Fatalf("run returned %v after SIGTERM, want nil (exit 0)\n%s", err, s.stderr)
	}
	w.checkStored(t, evidenceDir, u)
}

// TestFaultTwoInstancesStartOnEmptyDatabase: two `violet serve` with
// MIGRATE_ON_START starting together on one empty database both become ready;
// every migration is applied once, the reference data exists once, and neither
// logs an error.
func TestFaultTwoInstancesStartOnEmptyDatabase(t *testing.T) {
	files := sourceFiles(t)
	dbURL := testdb.EmptyURL(t)
	env := func() map[string]string {
		return map[string]string{
			"DATABASE_URL":     dbURL,
			"MIGRATE_ON_START": "true",
			"SESSION_KEY":      sessionKey(t),
			"EVIDENCE_DIR":     filepath.Join(t.TempDir(), "evidence"),
			"LISTEN_ADDR":      freeAddr(t),
			"LOG_LEVEL":        "info",
		}
	}
	start := time.Now()
	servers := []*servedProcess{startServe(t, env()), startServe(t, env())}
	client := newClient()
	var wg sync.WaitGroup
	ready := make([]time.Duration, len(servers))
	for i, s := range servers {
		wg.Go(func() {
			// waitFor may call t.Fatalf; from another goroutine only
			// t.Errorf is allowed, so poll here.
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				if resp, err := client.Get(s.base + "/readyz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ready[i] = time.Since(start)
						return
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Errorf("instance %d not ready within 60 s\n%s", i, s.stderr)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("both ready: after %v and %v", ready[0].Round(time.Millisecond), ready[1].Round(time.Millisecond))

	applied := 0
	for i, s := range servers {
		log := s.stderr.String()
		applied += strings.Count(log, "migration applied")
		if strings.Contains(log, "level=ERROR") {
			t.Errorf("instance %d logged an error:\n%s", i, log)
		}
	}
	if applied != len(files) {
		t.Errorf("the two logs report %d migrations applied between them, want each of the %d once", applied, len(files))
	}

	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM atlas_schema_revisions.atlas_schema_revisions WHERE error IS NULL AND applied = total`); n != len(files) {
		t.Errorf("%d complete revisions recorded, want %d", n, len(files))
	}
	if n := count(`SELECT count(*) FROM atlas_schema_revisions.atlas_schema_revisions`); n != len(files) {
		t.Errorf("%d revisions recorded, want %d", n, len(files))
	}

	// The reference data, compared with a database migrated and seeded
	// once.
	ref, err := sql.Open("postgres", testdb.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, q := range []string{
		`SELECT count(*) FROM groups`,
		`SELECT count(*) FROM permissions`,
		`SELECT count(*) FROM group_permissions`,
		`SELECT count(*) FROM detection_levels`,
		`SELECT count(*) FROM settings`,
		`SELECT count(DISTINCT name) FROM groups`,
		`SELECT count(DISTINCT code) FROM permissions`,
		`SELECT count(DISTINCT name) FROM detection_levels`,
		`SELECT count(DISTINCT key) FROM settings`,
	} {
		var want int
		if err := ref.QueryRow(q).Scan(&want); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got := count(q); got != want || want == 0 {
			t.Errorf("%s = %d, want %d as after one start", q, got, want)
		}
	}
	// Each instance may print a first-administrator link; only one link
	// is live.
	if n := count(`SELECT count(*) FROM invitations WHERE consumed_at IS NULL AND revoked_at IS NULL`); n != 1 {
		t.Errorf("%d live first-administrator links, want 1", n)
	}
	for i, s := range servers {
		if err := s.stop(t, 10*time.Second); err != nil {
			t.Errorf("instance %d: run returned %v, want nil", i, err)
		}
	}
}
