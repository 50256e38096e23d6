package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"violet/internal/paths"
)

// measureProcess runs the built binary as an operator would (`violet
// serve`, migrations on start, already at head) three times, timing exec
// to the first 200 from /readyz; on the last start it drives the 10-test
// mission page at concurrency 16 while sampling the process's own RSS,
// then sends SIGTERM and expects exit status 0.
func measureProcess(ctx context.Context, binary, dbURL string, d *Dataset, o Options) (*ProcessResult, error) {
	res := &ProcessResult{}
	const starts = 3
	key := sessionKey()
	for i := range starts {
		p, ready, err := startProcess(ctx, binary, dbURL, key)
		if err != nil {
			return nil, err
		}
		res.Ready = append(res.Ready, ready)
		if i == starts-1 {
			c := NewClient(p.base, 16)
			if err := c.Login(ctx, "lead", d.LeadEmail, Password); err != nil {
				p.kill()
				return nil, err
			}
			page := Page{Name: "small mission", Path: paths.URL(paths.Mission, d.Small), As: "lead"}
			Load(ctx, 16, 0, o.Warmup, c.Op(page))
			res.PeakRSS = peakRSSDuring(p.cmd.Process.Pid, func() { res.Small = Load(ctx, 16, 0, o.Duration, c.Op(page)) })
		}
		clean, err := p.stop()
		if err != nil {
			return nil, err
		}
		res.ExitClean = clean
		if !clean {
			return res, fmt.Errorf("violet serve did not exit cleanly after SIGTERM:\n%s", p.log.String())
		}
	}
	return res, nil
}

type process struct {
	cmd      *exec.Cmd
	base     string
	log      *strings.Builder
	done     chan error
	evidence string
}

// startProcess starts `binary serve` on a free loopback port and waits for
// /readyz; it returns the time from exec to ready. Instances meant to
// serve one user in turn share sessionKey, as behind a load balancer.
func startProcess(ctx context.Context, binary, dbURL, sessionKey string) (*process, time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	evidenceDir, err := os.MkdirTemp("", "violet-bench-serve-")
	if err != nil {
		return nil, 0, err
	}
	p := &process{base: "http://" + addr, log: &strings.Builder{}, done: make(chan error, 1), evidence: evidenceDir}
	p.cmd = exec.Command(binary, "serve")
	p.cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "SESSION_KEY="+sessionKey,
		"EVIDENCE_DIR="+evidenceDir, "LISTEN_ADDR="+addr, "BASE_URL=http://"+addr,
		"LOG_LEVEL=warn", "MIGRATE_ON_START=true")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(evidenceDir)
		return nil, 0, err
	}
	go func() { p.done <- p.cmd.Wait() }()
	client := &http.Client{Timeout: time.Second}
	deadline := start.Add(30 * time.Second)
	for {
		if res, err := client.Get(p.base + paths.Readyz); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, time.Since(start), nil
			}
		}
		select {
		case err := <-p.done:
			os.RemoveAll(evidenceDir)
			return nil, 0, fmt.Errorf("violet serve exited before it was ready (%v):\n%s", err, p.log.String())
		case <-ctx.Done():
			p.kill()
			return nil, 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, 0, errors.New("violet serve was not ready within 30 s:\n" + p.log.String())
		}
	}
}

// stop sends SIGTERM and reports whether the process exited with status 0.
func (p *process) stop() (bool, error) {
	defer os.RemoveAll(p.evidence)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return false, err
	}
	select {
	case err := <-p.done:
		return err == nil, nil
	case <-time.After(40 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return false, errors.New("violet serve still running 40 s after SIGTERM")
	}
}

func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.done
	os.RemoveAll(p.evidence)
}
