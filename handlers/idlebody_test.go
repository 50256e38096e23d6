package handlers_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"violet/ent/missiontest"
	"violet/internal/config"
	"violet/internal/testkit/apptest"
)

// lockedBuffer is a bytes.Buffer the server's goroutines write while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stalledRequest sends the request's headers and the first sent bytes
// of its body over a raw connection, then nothing more, and reads until
// the server closes the connection (at most limit). It returns how long
// the connection lasted and what the server sent.
func stalledRequest(t *testing.T, addr string, head string, body []byte, sent int, limit time.Duration) (time.Duration, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head+fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body[:sent]); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(start.Add(limit))
	got, err := io.ReadAll(bufio.NewReader(conn))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the stalled connection for %v (read %q)", limit, got)
	}
	return time.Since(start), string(got)
}

// TestBodyIdleTimeout (issue 16, defect 5): a request body that stops
// sending is cut off after BODY_IDLE_TIMEOUT: the connection is closed
// and the handler sees the error (logged 408, nothing stored), where it
// used to be held for ever; a body the handler never reads is bounded
// the same way; a slow body that keeps moving completes however long it
// takes. A real http.Server on loopback (the deadline is the
// connection's).
func TestBodyIdleTimeout(t *testing.T) {
	const idle = 400 * time.Millisecond
	log := &lockedBuffer{}
	w := newMTWorld(t, apptest.WithLog(log), apptest.WithConfig(func(c *config.Config) {
		c.BodyIdleTimeout = idle
		c.RequestTimeout = 2 * time.Second
	}))
	srv := httptest.NewServer(w.app)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	test := w.mk(t, missiontest.StateRunning, false)
	body, ct := evMultipart(t, []evFile{{"run.log", bytes.Repeat([]byte("powershell -enc SQBFAFgA\n"), 20000)}})
	head := func(role string) string {
		return "POST " + w.url(test, "evidence") + " HTTP/1.1\r\nHost: " + addr + "\r\n" +
			"Content-Type: " + ct + "\r\nSec-Fetch-Site: same-origin\r\n" +
			"Cookie: " + w.cookies[role].Name + "=" + w.cookies[role].Value + "\r\n"
	}

	t.Run("stalled upload cut off", func(t *testing.T) {
		took, answer := stalledRequest(t, addr, head("red"), body, len(body)/2, 10*time.Second)
		t.Logf("connection closed %v after the request began; answer %q", took.Round(time.Millisecond), firstLine(answer))
		if took < idle {
			t.Errorf("closed after %v, before the idle time %v", took, idle)
		}
		if took > idle+3*time.Second {
			t.Errorf("closed after %v, long after the idle time %v", took, idle)
		}
		deadline := time.Now().Add(2 * time.Second)
		for !strings.Contains(log.String(), "status=408") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(log.String(), "status=408") {
			t.Errorf("the handler did not fail with 408 on the stalled body; log:\n%s", log)
		}
		if rows := w.evidenceRows(t, test); len(rows) != 0 {
			t.Errorf("%d rows kept from the stalled upload", len(rows))
		}
		if files := w.storeFiles(t); len(files) != 0 {
			t.Errorf("the store kept %v", files)
		}
	})

	t.Run("unread body cut off", func(t *testing.T) {
		// An outsider's upload is refused (404) before its body is read;
		// the server then reads what is left of it to keep the connection.
		small := body[:2000]
		took, answer := stalledRequest(t, addr, head("outsider"), small, 1000, 10*time.Second)
		t.Logf("connection closed %v after the request began; answer %q", took.Round(time.Millisecond), firstLine(answer))
		if !strings.HasPrefix(answer, "HTTP/1.1 404") {
			t.Errorf("answer %q, want the 404", firstLine(answer))
		}
		if took > idle+3*time.Second {
			t.Errorf("closed after %v, long after the idle time %v", took, idle)
		}
	})

	t.Run("slow moving upload completes", func(t *testing.T) {
		// 32 KB every 150 ms: no pause reaches the idle time, the whole
		// takes several times it.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+w.url(test, "evidence"),
			&slowReader{r: bytes.NewReader(body), pause: 150 * time.Millisecond})
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.AddCookie(w.cookies["red"])
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		took := time.Since(start)
		if took < 3*idle {
			t.Fatalf("the upload took %v: not slow enough to prove anything", took)
		}
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %s after %v", res.Status, took)
		}
		if rows := w.evidenceRows(t, test); len(rows) != 1 || rows[0].Size != int64(len("powershell -enc SQBFAFgA\n")*20000) {
			t.Errorf("rows after the slow upload: %+v", rows)
		}
	})
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
