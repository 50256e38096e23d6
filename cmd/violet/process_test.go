package main

import (
	"bufio"
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"violet/internal/evidence"
	"violet/internal/evidence/imagetest"
	"violet/internal/testkit/testdb"
)

// buildViolet builds this command into a temporary directory: main()
// itself, not run, is what these tests start.
func buildViolet(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "violet")
	start := time.Now()
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// violetProcess is `violet serve` running as a process of its own.
type violetProcess struct {
	base   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error
}

func startProcess(t *testing.T, bin string, env map[string]string) *violetProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &violetProcess{base: "http://" + env["LISTEN_ADDR"], cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-p.exited:
			p.exited <- err
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *violetProcess) waitReady(t *testing.T, client *http.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			t.Fatalf("violet serve exited before it was ready: %v\n%s", err, p.stderr)
		default:
		}
		if resp, err := client.Get(p.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("violet serve not ready within 30 s\n%s", p.stderr)
}

// memory reads the process's resident set and its peak so far (Linux).
func (p *violetProcess) memory(t *testing.T) (rss, peak int64) {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Skipf("no /proc to measure the process's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

const mb = 1 << 20

// TestProcess builds violet and runs `violet serve` as a process on a
// throwaway database (issue 16):
//
//   - images within the memory budget: four uploads at once of a 16-bit
//     PNG that decodes to 160 MB (accepted, one decode at a time) and four
//     of the 311 KB PNG of 12000 × 3333 that decodes to 320 MB (refused
//     before decoding): the process's peak resident memory grows by less
//     than 300 MB (it went from 104 MB to 1.5 GB, and kept it), and what
//     the decodes took is given back;
//   - SIGTERM, the real signal, during a long upload: the upload is
//     answered with its success and kept, and the process exits 0.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and decodes images of 160 MB")
	}
	bin := buildViolet(t)
	dbURL := testdb.URL(t)
	w := newUploadWorld(t, dbURL)
	evidenceDir := filepath.Join(t.TempDir(), "evidence")
	p := startProcess(t, bin, map[string]string{
		"DATABASE_URL": dbURL,
		"SESSION_KEY":  sessionKey(t),
		"EVIDENCE_DIR": evidenceDir,
		"LISTEN_ADDR":  freeAddr(t),
		"LOG_LEVEL":    "warn",
	})
	client := uploadClient()
	p.waitReady(t, client)
	cookies := faultLogin(t, client, p.base, w.email, w.password)

	t.Run("images within the memory budget", func(t *testing.T) {
		ok := imagetest.PNG16(5000, 4000) // 160 MB decoded: within the budget alone
		giant := imagetest.PNG16(12000, 3333)
		rssBefore, _ := p.memory(t)
		var wg sync.WaitGroup
		status := make([]int, 8)
		errs := make([]error, 8)
		for i := range 8 {
			img, name := ok, "tall.png"
			if i%2 == 1 {
				img, name = giant, "wide.png"
			}
			wg.Go(func() {
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				fw, _ := mw.CreateFormFile("file", name)
				fw.Write(img)
				mw.Close()
				resp, err := w.post(client, p.base, cookies, &body, mw.FormDataContentType())
				if err != nil {
					errs[i] = err
					return
				}
				resp.Body.Close()
				status[i] = resp.StatusCode
			})
		}
		wg.Wait()
		rssAfter, peak := p.memory(t)
		t.Logf("resident memory: %d MB before, peak %d MB (+%d MB), %d MB after",
			rssBefore/mb, peak/mb, (peak-rssBefore)/mb, rssAfter/mb)
		for i := range 8 {
			want := http.StatusSeeOther
			if i%2 == 1 {
				want = http.StatusUnprocessableEntity
			}
			if errs[i] != nil || status[i] != want {
				t.Errorf("upload %d: %d %v, want %d", i, status[i], errs[i], want)
			}
		}
		if growth := peak - rssBefore; growth > 300*mb {
			t.Errorf("the peak resident memory grew by %d MB (over 300 MB) for a decode budget of %d MB",
				growth/mb, evidence.DefaultDecodeBudget/mb)
		}
		if rssAfter-rssBefore > 100*mb {
			t.Errorf("the process kept %d MB after the decodes ended", (rssAfter-rssBefore)/mb)
		}
		if n := w.client.EvidenceFile.Query().CountX(w.ctx); n != 4 {
			t.Errorf("%d images kept, want the 4 within the budget", n)
		}
		w.client.EvidenceFile.Delete().ExecX(w.ctx) // for the next subtest's count
	})

	t.Run("SIGTERM during an upload", func(t *testing.T) {
		u := w.startLongUpload(client, p.base, cookies)
		first := <-u.firstSent
		time.Sleep(200 * time.Millisecond)
		sigterm := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		w.checkAnswered(t, u, first, sigterm, p.stderr)
		select {
		case err := <-p.exited:
			p.exited <- err
			var exit *exec.ExitError
			if errors.As(err, &exit) || err != nil {
				t.Fatalf("violet serve exited with %v after SIGTERM, want status 0\n%s", err, p.stderr)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("violet serve still running 15 s after SIGTERM\n%s", p.stderr)
		}
		w.checkStored(t, evidenceDir, u)
	})
}
