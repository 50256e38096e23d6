package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"

	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// sourceMigrations is the migration directory of the source tree.
var sourceMigrations = filepath.Join("..", "..", "migrations")

// allVariables is every environment variable `serve -h` must document.
var allVariables = []string{
	"DATABASE_URL", "LISTEN_ADDR", "BASE_URL", "SESSION_KEY", "EVIDENCE_DIR",
	"DEFAULT_LOCALE", "LOG_LEVEL", "LOG_FORMAT", "TRUSTED_PROXIES",
	"MIGRATE_ON_START", "REQUEST_TIMEOUT", "SHUTDOWN_TIMEOUT", "DB_MAX_CONNS",
	"BODY_IDLE_TIMEOUT",
}

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines
// while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runCmd runs violet with args and returns its stdout, stderr and error.
func runCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, append([]string{"violet"}, args...), envOf(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestRun(t *testing.T) {
	t.Run("serve -h documents every variable", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, nil, "serve", "-h")
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("serve -h returned %v, want flag.ErrHelp (which main treats as success)", err)
		}
		out := stdout + stderr
		for _, name := range allVariables {
			if !strings.Contains(out, name) {
				t.Errorf("serve -h does not mention %s:\n%s", name, out)
			}
		}
	})
	t.Run("serve without environment names the required variables", func(t *testing.T) {
		_, _, err := runCmd(t, nil, "serve")
		if err == nil || errors.Is(err, flag.ErrHelp) {
			t.Fatalf("serve with no environment returned %v, want a configuration error", err)
		}
		for _, name := range []string{"DATABASE_URL", "SESSION_KEY", "EVIDENCE_DIR"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error does not name %s:\n%v", name, err)
			}
		}
	})
	t.Run("migrate apply without DATABASE_URL", func(t *testing.T) {
		_, _, err := runCmd(t, nil, "migrate", "apply")
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Fatalf("migrate apply with no environment returned %v, want an error naming DATABASE_URL", err)
		}
	})
	t.Run("version", func(t *testing.T) {
		stdout, _, err := runCmd(t, nil, "version")
		if err != nil || strings.TrimSpace(stdout) != version {
			t.Fatalf("version = %q, %v; want %q", stdout, err, version)
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		_, stderr, err := runCmd(t, nil, "frobnicate")
		if err == nil || !strings.Contains(err.Error(), "frobnicate") || !strings.Contains(stderr, "Usage") {
			t.Fatalf("unknown command returned %v with stderr %q, want an error naming it and the usage", err, stderr)
		}
	})
	t.Run("no command", func(t *testing.T) {
		if _, _, err := runCmd(t, nil); err == nil {
			t.Fatal("no command succeeded")
		}
	})
}

// sourceFiles returns the migration files of the source tree, oldest first.
func sourceFiles(t *testing.T) []migrate.File {
	t.Helper()
	dir, err := migrate.NewLocalDir(sourceMigrations)
	if err != nil {
		t.Fatal(err)
	}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no migration files in %s", sourceMigrations)
	}
	return files
}

func TestMigrateApplyAndStatus(t *testing.T) {
	files := sourceFiles(t)
	head := files[len(files)-1].Version()
	env := map[string]string{"DATABASE_URL": testdb.EmptyURL(t)}

	t.Run("status of an empty database", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, env, "migrate", "status")
		if err != nil {
			t.Fatalf("migrate status: %v\n%s", err, stderr)
		}
		if !strings.Contains(stdout, "current: none") || strings.Contains(stdout, "at head") {
			t.Errorf("status of an empty database:\n%s", stdout)
		}
		if got := strings.Count(stdout, "pending:"); got != len(files) {
			t.Errorf("status lists %d pending files, want %d:\n%s", got, len(files), stdout)
		}
	})
	t.Run("first apply applies every file", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, env, "migrate", "apply")
		if err != nil {
			t.Fatalf("migrate apply: %v\n%s", err, stderr)
		}
		if want := strconv.Itoa(len(files)) + " migration(s) applied"; !strings.Contains(stdout, want) {
			t.Errorf("stdout = %q, want %q", stdout, want)
		}
	})
	t.Run("second apply applies nothing", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, env, "migrate", "apply")
		if err != nil {
			t.Fatalf("migrate apply: %v\n%s", err, stderr)
		}
		if want := "0 migration(s) applied"; !strings.Contains(stdout, want) {
			t.Errorf("stdout = %q, want %q", stdout, want)
		}
	})
	t.Run("status at head", func(t *testing.T) {
		stdout, stderr, err := runCmd(t, env, "migrate", "status")
		if err != nil {
			t.Fatalf("migrate status: %v\n%s", err, stderr)
		}
		for _, want := range []string{"current: " + head, "head:    " + head, "status:  at head"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("status does not say %q:\n%s", want, stdout)
			}
		}
		if strings.Contains(stdout, "pending:") {
			t.Errorf("status lists pending files after apply:\n%s", stdout)
		}
	})
}

// copyMigrations copies the source tree's migration files and atlas.sum
// into a temporary directory.
func copyMigrations(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(sourceMigrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") && e.Name() != "atlas.sum" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(sourceMigrations, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestMigrateValidateAndHash(t *testing.T) {
	t.Run("source directory is valid", func(t *testing.T) {
		stdout, _, err := runCmd(t, nil, "migrate", "validate", "--dir", sourceMigrations)
		if err != nil {
			t.Fatalf("validate %s: %v", sourceMigrations, err)
		}
		if !strings.Contains(stdout, "valid") {
			t.Errorf("stdout = %q", stdout)
		}
	})
	t.Run("one changed byte is refused naming the file", func(t *testing.T) {
		dir := copyMigrations(t)
		name := sourceFiles(t)[0].Name()
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.IndexAny(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
		if i < 0 {
			t.Fatalf("%s has no letter to change", name)
		}
		b[i] ^= 0x20 // flip the case of one letter
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = runCmd(t, nil, "migrate", "validate", "--dir", dir)
		if err == nil {
			t.Fatal("validate accepted a modified file")
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	})
	t.Run("hash accepts a new file", func(t *testing.T) {
		dir := copyMigrations(t)
		const name = "29991231235959_test_extra.sql"
		if err := os.WriteFile(filepath.Join(dir, name), []byte("-- added by a test\nSELECT 1;\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := runCmd(t, nil, "migrate", "validate", "--dir", dir)
		if err == nil {
			t.Fatal("validate accepted a file missing from atlas.sum")
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
		if _, stderr, err := runCmd(t, nil, "migrate", "hash", "--dir", dir); err != nil {
			t.Fatalf("hash: %v\n%s", err, stderr)
		}
		sum, err := os.ReadFile(filepath.Join(dir, "atlas.sum"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(sum), name) {
			t.Errorf("atlas.sum does not list %s after hash:\n%s", name, sum)
		}
		if _, _, err := runCmd(t, nil, "migrate", "validate", "--dir", dir); err != nil {
			t.Errorf("validate after hash: %v", err)
		}
	})
}

// freeAddr returns a 127.0.0.1 address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func sessionKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// servedProcess is a `violet serve` running in the test process.
type servedProcess struct {
	base   string
	cancel context.CancelFunc
	done   chan error
	stderr *syncBuffer
}

// startServe runs `violet serve` with env in a goroutine. It is stopped,
// if the test did not stop it, when the test ends.
func startServe(t *testing.T, env map[string]string) *servedProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedProcess{base: "http://" + env["LISTEN_ADDR"], cancel: cancel, done: make(chan error, 1), stderr: &syncBuffer{}}
	go func() { s.done <- run(ctx, []string{"violet", "serve"}, envOf(env), io.Discard, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10 s of the end of the test")
		}
	})
	return s
}

// waitFor polls path until it answers 200, failing after timeout or when
// serve exits.
func (s *servedProcess) waitFor(t *testing.T, client *http.Client, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("serve exited before %s answered 200: %v\n%s", path, err, s.stderr)
		default:
		}
		resp, err := client.Get(s.base + path)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status + " " + string(body)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %v (last: %s)\n%s", path, timeout, last, s.stderr)
}

// stop cancels serve's context, as SIGTERM does, and returns run's result.
func (s *servedProcess) stop(t *testing.T, within time.Duration) error {
	t.Helper()
	s.cancel()
	return s.wait(t, within)
}

func (s *servedProcess) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(within):
		t.Fatalf("run did not return within %v of the cancellation\n%s", within, s.stderr)
		return nil
	}
}

func newClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
}

// publicTables counts the tables the migration files create in the public
// schema, which is what /api/v1/diag/db must report.
func publicTables(t *testing.T) int {
	t.Helper()
	create := regexp.MustCompile(`(?m)^CREATE TABLE "[^".]+" \(`)
	drop := regexp.MustCompile(`(?m)^DROP TABLE "[^".]+"`)
	n := 0
	for _, f := range sourceFiles(t) {
		n += len(create.FindAll(f.Bytes(), -1)) - len(drop.FindAll(f.Bytes(), -1))
	}
	return n
}

func TestServeEndToEnd(t *testing.T) {
	files := sourceFiles(t)
	head := files[len(files)-1].Version()
	wantTables := publicTables(t)
	if wantTables < 26 {
		t.Fatalf("the migrations create %d tables; the v1 data model has at least 26", wantTables)
	}
	addr := freeAddr(t)
	evidence := filepath.Join(t.TempDir(), "evidence")
	s := startServe(t, map[string]string{
		"DATABASE_URL": testdb.URL(t),
		"SESSION_KEY":  sessionKey(t),
		"EVIDENCE_DIR": evidence,
		"LISTEN_ADDR":  addr,
		"LOG_LEVEL":    "warn",
	})
	client := newClient()

	if !t.Run("ready", func(t *testing.T) { s.waitFor(t, client, "/readyz", 10*time.Second) }) {
		t.FailNow()
	}
	t.Run("diag db", func(t *testing.T) {
		resp, err := client.Get(s.base + "/api/v1/diag/db")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/diag/db = %s %s", resp.Status, body)
		}
		var got struct {
			Reachable         *bool  `json:"reachable"`
			MigrationRevision string `json:"migration_revision"`
			TableCount        *int   `json:"table_count"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		if got.Reachable == nil || !*got.Reachable {
			t.Errorf("reachable is not true: %s", body)
		}
		if got.TableCount == nil || *got.TableCount != wantTables {
			t.Errorf("table_count is not %d: %s", wantTables, body)
		}
		if got.MigrationRevision != head {
			t.Errorf("migration_revision is not %s: %s", head, body)
		}
	})
	t.Run("evidence directory created", func(t *testing.T) {
		fi, err := os.Stat(evidence)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("EVIDENCE_DIR %s: %v, %v; want a directory with mode 0700", evidence, fi, err)
		}
	})
	t.Run("stops on cancel", func(t *testing.T) {
		if err := s.stop(t, 5*time.Second); err != nil {
			t.Fatalf("run returned %v after cancellation, want nil\n%s", err, s.stderr)
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after run returned", addr)
		}
	})
}

func TestServeShutdownWaitsForInFlightRequest(t *testing.T) {
	s := startServe(t, map[string]string{
		"DATABASE_URL":     testdb.HangingURL(t),
		"MIGRATE_ON_START": "false",
		"SESSION_KEY":      sessionKey(t),
		"EVIDENCE_DIR":     filepath.Join(t.TempDir(), "evidence"),
		"LISTEN_ADDR":      freeAddr(t),
		"LOG_LEVEL":        "error",
	})
	client := newClient()
	if !t.Run("alive", func(t *testing.T) { s.waitFor(t, client, "/healthz", 10*time.Second) }) {
		t.FailNow()
	}

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Get(s.base + "/api/v1/diag/db")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		res <- result{status: resp.StatusCode, body: string(body), err: err}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-res:
		t.Fatalf("the request ended before the shutdown began (%+v): the test proves nothing", r)
	default:
	}
	s.cancel() // as SIGTERM does

	t.Run("in-flight request completes", func(t *testing.T) {
		var r result
		select {
		case r = <-res:
		case <-time.After(5 * time.Second):
			t.Fatal("the in-flight request did not complete within 5 s")
		}
		if r.err != nil {
			t.Fatalf("in-flight request failed during shutdown: %v", r.err)
		}
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503", r.status)
		}
		if strings.TrimSpace(r.body) != `{"reachable":false}` {
			t.Errorf("body = %q, want {\"reachable\":false}", r.body)
		}
	})
	t.Run("run returns nil", func(t *testing.T) {
		if err := s.wait(t, 5*time.Second); err != nil {
			t.Fatalf("run returned %v, want nil\n%s", err, s.stderr)
		}
	})
}

// TestServeDrainDelay: after SIGTERM, /readyz answers 503 while the server
// still serves for DRAIN_DELAY, so a load balancer stops sending traffic
// before the listener closes; then run returns nil.
func TestServeDrainDelay(t *testing.T) {
	s := startServe(t, map[string]string{
		"DATABASE_URL": testdb.URL(t),
		"SESSION_KEY":  sessionKey(t),
		"EVIDENCE_DIR": filepath.Join(t.TempDir(), "evidence"),
		"LISTEN_ADDR":  freeAddr(t),
		"LOG_LEVEL":    "warn",
		"DRAIN_DELAY":  "1s",
	})
	client := newClient()
	s.waitFor(t, client, "/readyz", 10*time.Second)
	s.cancel()
	time.Sleep(200 * time.Millisecond)
	resp, err := client.Get(s.base + "/readyz")
	if err != nil {
		t.Fatalf("readyz during the drain: %v (the listener must stay open for DRAIN_DELAY)", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"draining":true`) {
		t.Errorf("readyz during the drain = %s %s, want 503 draining", resp.Status, body)
	}
	if h, err := client.Get(s.base + "/healthz"); err != nil || h.StatusCode != http.StatusOK {
		t.Errorf("healthz during the drain: %v %v, want 200", h, err)
	} else {
		h.Body.Close()
	}
	if err := s.wait(t, 5*time.Second); err != nil {
		t.Fatalf("run returned %v, want nil", err)
	}
}
