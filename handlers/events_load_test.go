package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"violet/ent/missiontest"
	"violet/internal/live"
)

// liveMemory is the memory in use (heap and goroutine stacks) after a
// collection.
func liveMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// waitSubscribers waits until the hub has n open streams.
func waitSubscribers(t testing.TB, hub *live.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for hub.Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want %d", hub.Subscribers(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestManyStreams: 200 streams on one instance — half the lead's, half
// blue's — while tests keep changing. Every stream gets every event it may
// see (blue: only the released test's), and memory stays bounded: what an
// idle stream costs is measured here too (over bare connections, so that
// it is the server's cost; BenchmarkLiveDelivery reports it without the
// race detector, which makes goroutines dearer).
func TestManyStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("200 streams")
	}
	const clients, changes = 200, 40
	w := newMTWorld(t)
	srv := httptest.NewServer(w.app)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	shown := w.mk(t, missiontest.StateExecuted, true)
	hidden := w.mk(t, missiontest.StateExecuted, false)
	path := "/events?mission=" + w.mission.String()

	before := liveMemory()
	streams := make([]*rawStream, clients)
	for i := range streams {
		role := "lead"
		if i%2 == 1 {
			role = "blue"
		}
		streams[i] = dialStream(t, addr, path, w.cookies[role])
	}
	waitSubscribers(t, w.app.Live, clients)
	idle := liveMemory()
	perStream := int64(idle-before) / clients
	t.Logf("%d idle streams: %.1f KiB each", clients, float64(perStream)/1024)
	if perStream > 40*1024 {
		t.Errorf("an idle stream costs %.1f KiB", float64(perStream)/1024)
	}

	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want, blue := changes, i%2 == 1
			if blue {
				want = changes / 2
			}
			_ = s.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for got := 0; got < want; {
				e, err := s.next()
				if err != nil {
					errs <- fmt.Sprintf("stream %d: %d of %d events, then %v", i, got, want, err)
					return
				}
				if blue && isTest(e, hidden) {
					errs <- fmt.Sprintf("blue stream %d heard of the unreleased test", i)
					return
				}
				if e.Name == "test" {
					got++
				}
			}
		}()
	}
	for i := range changes {
		id := shown
		if i%2 == 1 {
			id = hidden
		}
		mustPost(t, w.post("red", id, "red", url.Values{"command": {fmt.Sprint("step ", i)}}), "red save")
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	after := liveMemory()
	t.Logf("memory: %d KiB before the streams, %d KiB idle, %d KiB after %d changes",
		before/1024, idle/1024, after/1024, changes)
	if after > idle+8<<20 {
		t.Errorf("memory grew by %d KiB while delivering", (after-idle)/1024)
	}

	// Clients that went away are noticed when writing to them fails (TCP
	// takes a write or two to tell: events or the heartbeats) and let go.
	for _, s := range streams {
		s.conn.Close()
	}
	for i := 0; i < 5 && w.app.Live.Subscribers() > 0; i++ {
		mustPost(t, w.post("red", shown, "red", url.Values{"command": {fmt.Sprint("after ", i)}}), "red save")
		time.Sleep(100 * time.Millisecond)
	}
	waitSubscribers(t, w.app.Live, 0)
}

// rawStream is a stream read over a bare connection: no HTTP client
// machinery, so that what an idle stream costs the server can be measured
// in the same process.
type rawStream struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialStream(b testing.TB, addr, path string, cookie *http.Cookie) *rawStream {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\nAccept: text/event-stream\r\n\r\n",
		path, addr, cookie.Name, cookie.Value)
	s := &rawStream{conn: conn, r: bufio.NewReaderSize(conn, 256)}
	status, err := s.r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		b.Fatalf("stream: %q %v", status, err)
	}
	return s
}

// next reads the next event (comments, retry lines and, were the body
// chunked, chunk sizes are skipped).
func (s *rawStream) next() (sseEvent, error) {
	var e sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && e.Name != "":
			e.At = time.Now()
			return e, nil
		case strings.HasPrefix(line, "id: "):
			e.ID, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			e.Name = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.Data = line[6:]
		}
	}
}

// BenchmarkLiveDelivery measures, with 200 streams open on one instance,
// what an idle stream costs the server (idle-KiB/stream: memory in use
// after opening them, over bare connections whose client side is a few
// hundred bytes) and how long an event takes from its commit to each
// client (p50-ms, p99-ms over every client and event). One committed
// event per iteration:
//
//	go test -run '^$' -bench LiveDelivery -benchtime 200x ./handlers
func BenchmarkLiveDelivery(b *testing.B) {
	const clients = 200
	w := newMTWorld(b)
	srv := httptest.NewServer(w.app)
	b.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	path := "/events?mission=" + w.mission.String()

	before := liveMemory()
	streams := make([]*rawStream, clients)
	for i := range streams {
		streams[i] = dialStream(b, addr, path, w.cookies["lead"])
	}
	waitSubscribers(b, w.app.Live, clients)
	idle := liveMemory()
	b.Cleanup(func() {
		for _, s := range streams {
			s.conn.Close()
		}
	})

	// Each client records when each event (by order) reached it.
	arrivals := make([][]time.Time, clients)
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(arrivals[i]) < b.N {
				if _, err := s.next(); err != nil {
					return
				}
				arrivals[i] = append(arrivals[i], time.Now())
			}
		}()
	}
	commits := make([]time.Time, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		tx, err := w.app.DB.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := live.Publish(ctx, tx, live.Event{Kind: live.KindMission, MissionID: w.mission}); err != nil {
			b.Fatal(err)
		}
		commits[i] = time.Now() // from the commit's start: the latency is an upper bound
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // a steady stream of changes, not one burst
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatal("not every client got every event")
	}
	b.StopTimer()
	var lat []time.Duration
	for _, a := range arrivals {
		if len(a) != b.N {
			b.Fatalf("a client got %d of %d events", len(a), b.N)
		}
		for k, at := range a {
			lat = append(lat, at.Sub(commits[k]))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(int64(idle)-int64(before))/clients/1024, "idle-KiB/stream")
}
