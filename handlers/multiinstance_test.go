package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent/evidencefile"
	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/evidence"
	"violet/internal/evidence/storetest"
	"violet/internal/testkit/apptest"
)

// balancer is a round-robin load balancer in front of Violet instances,
// as a real one behaves: it takes a backend out of rotation while its
// /readyz does not answer 200 (a draining instance), and when a backend
// refuses the connection it sends the request to the next one.
type balancer struct {
	backends []*url.URL
	up       []atomic.Bool
	served   []atomic.Int64
	next     atomic.Uint64
	retried  atomic.Int64
	paused   atomic.Bool // health checks off: the balancer has not noticed yet
	tr       *http.Transport
}

func newBalancer(t *testing.T, urls ...string) *balancer {
	t.Helper()
	lb := &balancer{up: make([]atomic.Bool, len(urls)), served: make([]atomic.Int64, len(urls)),
		tr: &http.Transport{MaxIdleConnsPerHost: 16}}
	for i, u := range urls {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		lb.backends = append(lb.backends, p)
		lb.up[i].Store(true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); lb.checkHealth(ctx, 50*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done; lb.tr.CloseIdleConnections() })
	return lb
}

// checkHealth polls each backend's /readyz until ctx ends: two failed
// checks in a row take a backend out of rotation (one slow answer on a
// busy machine does not), one good check puts it back.
func (lb *balancer) checkHealth(ctx context.Context, every time.Duration) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	failed := make([]int, len(lb.backends))
	for {
		for i, b := range lb.backends {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.String()+"/readyz", nil)
			resp, err := client.Do(req)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				resp.Body.Close()
			}
			if ctx.Err() != nil {
				return
			}
			if lb.paused.Load() {
				continue
			}
			if ok {
				failed[i] = 0
			} else {
				failed[i]++
			}
			lb.up[i].Store(failed[i] < 2)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// rewrite picks the next backend in turn among those in rotation (all of
// them when none is).
func (lb *balancer) rewrite(r *httputil.ProxyRequest) {
	n := uint64(len(lb.backends))
	start := lb.next.Add(1) - 1
	pick := start % n
	for k := range n {
		if i := (start + k) % n; lb.up[i].Load() {
			pick = i
			break
		}
	}
	r.SetURL(lb.backends[pick])
	r.SetXForwarded()
}

// RoundTrip sends the request to the backend rewrite picked and, when it
// refuses the connection, to the next ones. The body is read first so
// that it can be sent again (the test's bodies are small).
func (lb *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	first := 0
	for i, b := range lb.backends {
		if b.Host == req.URL.Host {
			first = i
		}
	}
	var err error
	for k := range lb.backends {
		i := (first + k) % len(lb.backends)
		out := req.Clone(req.Context())
		out.URL.Host, out.Host = lb.backends[i].Host, lb.backends[i].Host
		if body != nil {
			out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		var resp *http.Response
		resp, err = lb.tr.RoundTrip(out)
		if err == nil {
			lb.served[i].Add(1)
			resp.Header.Set("X-Backend", strconv.Itoa(i))
			return resp, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
		lb.up[i].Store(false)
		lb.retried.Add(1)
	}
	return nil, err
}

// lbClient is a client with a cookie jar that does not follow redirects.
type lbClient struct {
	t      *testing.T
	client *http.Client
}

type page struct {
	status   int
	location string
	backend  string
	body     string
}

func (b *lbClient) do(req *http.Request) (page, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"),
		backend: resp.Header.Get("X-Backend"), body: string(data)}, err
}

func (b *lbClient) get(base, path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	p, err := b.do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	return p
}

func (b *lbClient) postBody(base, path, contentType string, body []byte) (page, error) {
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

func (b *lbClient) post(base, path string, form url.Values) (page, error) {
	return b.postBody(base, path, "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// see fails unless the post was answered with a redirect (303).
func (b *lbClient) see(what string, p page, err error) page {
	b.t.Helper()
	if err != nil || p.status != http.StatusSeeOther {
		b.t.Fatalf("%s: %d %v\n%.500s", what, p.status, err, p.body)
	}
	return p
}

func (b *lbClient) mustPost(what, base, path string, form url.Values) page {
	b.t.Helper()
	p, err := b.post(base, path, form)
	return b.see(what, p, err)
}

func (b *lbClient) mustPostBody(what, base, path, contentType string, body []byte) page {
	b.t.Helper()
	p, err := b.postBody(base, path, contentType, body)
	return b.see(what, p, err)
}

func multipartBody(t *testing.T, field, name string, data []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

var syncStatusRE = regexp.MustCompile(`data-testid="sync-job"[^>]*data-status="(\w+)"|data-status="(\w+)"[^>]*data-testid="sync-job"`)

// TestMultiInstance runs two Violet instances on one database — each its
// own server, pool and live events hub, sharing the session key and the
// evidence bucket (an in-process S3 server) — behind a round-robin load
// balancer, and uses them as
// one: signing in, missions, evidence, live updates and an ATT&CK sync
// work whichever instance answers, and one instance shutting down
// gracefully under a write load loses no acknowledged write.
func TestMultiInstance(t *testing.T) {
	// The evidence bucket both instances share, each through its own
	// client as two processes would.
	bucket, _ := storetest.FakeS3(t, nil)
	newStore := func() evidence.Store {
		s, err := evidence.NewS3(bucket)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	a := apptest.New(t, apptest.WithEvidence(newStore()))
	b := apptest.New(t, apptest.WithEvidence(newStore()), apptest.WithDatabaseURL(a.Config.DatabaseURL),
		apptest.WithConfig(func(c *config.Config) { c.SessionKey = a.Config.SessionKey }))
	srvA, srvB := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(srvB.Close)
	var closeA sync.Once
	t.Cleanup(func() { closeA.Do(srvA.Close) })
	lb := newBalancer(t, srvA.URL, srvB.URL)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: lb.rewrite, Transport: lb})
	t.Cleanup(proxy.Close)
	lbURL := proxy.URL
	sys := rule.SystemContext(context.Background())

	a.User(t, "lead@example.com", "redteam", "admin")
	jar, _ := cookiejar.New(nil)
	br := &lbClient{t: t, client: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	// Signing in on one instance holds on the other.
	login := br.mustPost("sign in", lbURL, "/login", url.Values{"email": {"lead@example.com"}, "password": {apptest.Password}})
	next := br.get(lbURL, "/missions")
	if next.status != http.StatusOK || next.backend == login.backend {
		t.Fatalf("after signing in on instance %s: /missions on instance %s answered %d", login.backend, next.backend, next.status)
	}

	// A mission and a test, then evidence uploaded through one instance
	// and downloaded through the other.
	created := br.mustPost("create a mission", lbURL, "/missions", url.Values{"name": {"Across instances"}})
	missionID, err := uuid.Parse(strings.TrimPrefix(created.location, "/missions/"))
	if err != nil {
		t.Fatalf("mission redirect %q", created.location)
	}
	br.mustPost("add a test", lbURL, "/missions/"+missionID.String()+"/plan/tests/new", url.Values{"name": {"Dump LSASS"}})
	test := a.Ent.MissionTest.Query().Where(missiontest.MissionID(missionID)).OnlyX(sys)
	testURL := fmt.Sprintf("/missions/%s/tests/%s", missionID, test.ID)
	shot := bytes.Repeat([]byte("evidence across instances\n"), 4096)
	body, ct := multipartBody(t, "file", "proof.txt", shot)
	up := br.mustPostBody("upload evidence", lbURL, testURL+"/evidence", ct, body)
	ev := a.Ent.EvidenceFile.Query().Where(evidencefile.MissionTestID(test.ID)).OnlyX(sys)
	down := br.get(lbURL, testURL+"/evidence/"+ev.ID.String())
	if down.status != http.StatusOK || down.backend == up.backend || !bytes.Equal([]byte(down.body), shot) {
		t.Fatalf("evidence uploaded on instance %s, downloaded on %s: %d, %d bytes (want %d identical)",
			up.backend, down.backend, down.status, len(down.body), len(shot))
	}

	// A change made on instance B reaches a live stream served by A.
	var session *http.Cookie
	for _, c := range jar.Cookies(mustURL(t, lbURL)) {
		if c.Name == a.Sessions.Name() {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie in the jar")
	}
	// Tests start only in a mission in progress.
	a.Ent.Mission.UpdateOneID(missionID).SetStatus(mission.StatusInProgress).ExecX(sys)
	stream := openStream(t, srvA.URL, "/events?mission="+missionID.String(), session, "")
	start := time.Now()
	version := a.Ent.MissionTest.GetX(sys, test.ID).Version
	br.mustPost("start the test on instance B", srvB.URL, testURL+"/start", url.Values{"version": {strconv.Itoa(version)}})
	for {
		e := stream.next(t, 3*time.Second)
		if isTest(e, test.ID) {
			t.Logf("event from instance B seen on instance A's stream after %v", e.At.Sub(start).Round(time.Millisecond))
			break
		}
	}
	stream.close()

	// An ATT&CK sync started on one instance, watched to the end on both.
	bundle, err := os.ReadFile(miniBundle)
	if err != nil {
		t.Fatal(err)
	}
	body, ct = multipartBody(t, "bundle", "enterprise-attack-16.1.json", bundle)
	started := br.mustPostBody("start a sync", lbURL, "/admin/attack-sync/upload", ct, body)
	if !strings.HasPrefix(started.location, "/admin/attack-sync/") {
		t.Fatalf("sync redirect %q", started.location)
	}
	seen, polls, status := map[string]bool{}, 0, ""
	deadline := time.Now().Add(30 * time.Second)
	for done := 0; done < 2; { // past the end, once more: both instances show it
		p := br.get(lbURL, started.location)
		polls++
		m := syncStatusRE.FindStringSubmatch(p.body)
		if p.status != http.StatusOK || m == nil {
			t.Fatalf("job page on instance %s: %d without a status", p.backend, p.status)
		}
		seen[p.backend], status = true, m[1]+m[2]
		if status != "running" {
			done++
			if status != "succeeded" {
				t.Fatalf("sync ended %s on instance %s", status, p.backend)
			}
		} else if time.Now().After(deadline) {
			t.Fatal("sync still running after 30 s")
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(seen) != 2 {
		t.Errorf("job page served by instances %v, want both", seen)
	}
	t.Logf("ATT&CK sync started on instance %s, watched over %d polls, ended %s", started.backend, polls, status)

	// A steady write load through the balancer while instance A shuts
	// down gracefully: readiness off, a drain delay, then its server
	// closes once its requests are answered.
	var (
		mu          sync.Mutex
		acked       []uuid.UUID
		failures    []string
		afterStop   int
		afterStopOn = map[string]int{}
		stopped     atomic.Bool
	)
	load, stopLoad := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for w := range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for n := 0; load.Err() == nil; n++ {
				// Sent once instance A had stopped (a write it was still
				// answering is acknowledged a moment after).
				late := stopped.Load()
				p, err := br.post(lbURL, "/missions", url.Values{"name": {fmt.Sprintf("Load %d-%d", w, n)}})
				mu.Lock()
				if err != nil || p.status != http.StatusSeeOther {
					failures = append(failures, fmt.Sprintf("%d %v", p.status, err))
				} else if id, perr := uuid.Parse(strings.TrimPrefix(p.location, "/missions/")); perr == nil {
					acked = append(acked, id)
					if late {
						afterStop++
						afterStopOn[p.backend]++
					}
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	shutdown := time.Now()
	a.Drain()
	// The drain delay: until the balancer has seen /readyz answer 503.
	for lb.up[0].Load() {
		if time.Since(shutdown) > 10*time.Second {
			t.Fatal("the balancer kept the draining instance in rotation")
		}
		time.Sleep(10 * time.Millisecond)
	}
	closeA.Do(srvA.Close)
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 5*time.Second)
	a.Wait(waitCtx)
	cancelWait()
	stopped.Store(true)
	t.Logf("instance A drained and stopped in %v", time.Since(shutdown).Round(time.Millisecond))
	time.Sleep(time.Second)
	stopLoad()
	workers.Wait()

	// An instance that vanished before its health check noticed (a
	// crash): its refused connections send the requests to the other.
	lb.paused.Store(true)
	lb.up[0].Store(true)
	retried := lb.retried.Load()
	for n := range 2 { // in turn: one of them is sent to instance A first
		p := br.mustPost("write with instance A gone unnoticed", lbURL, "/missions", url.Values{"name": {fmt.Sprintf("Unnoticed %d", n)}})
		if id, err := uuid.Parse(strings.TrimPrefix(p.location, "/missions/")); err != nil || p.backend != "1" {
			t.Errorf("write %d acknowledged by instance %s (%q)", n, p.backend, p.location)
		} else {
			acked = append(acked, id)
		}
	}
	if lb.retried.Load() == retried {
		t.Error("no request met instance A's refused connection")
	}
	lb.paused.Store(false)

	if len(failures) > 0 {
		t.Errorf("%d writes failed, first: %s", len(failures), failures[0])
	}
	if afterStop == 0 || afterStopOn["0"] != 0 {
		t.Errorf("after instance A stopped: %d writes acknowledged, by instance %v", afterStop, afterStopOn)
	}
	var stored int
	ids := make([]string, len(acked))
	for i, id := range acked {
		ids[i] = id.String()
	}
	if err := b.DB.QueryRow(`SELECT count(*) FROM missions WHERE id::text = ANY(string_to_array($1, ','))`,
		strings.Join(ids, ",")).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != len(acked) {
		t.Errorf("%d acknowledged writes, %d in the database", len(acked), stored)
	}
	t.Logf("write load: %d acknowledged (%d before the shutdown, %d after instance A stopped), %d failed, %d in the database; "+
		"balancer: instance A served %d, B %d, %d refused connections retried",
		len(acked), before, afterStop, len(failures), stored, lb.served[0].Load(), lb.served[1].Load(), lb.retried.Load())
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
