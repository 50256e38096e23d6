package testdb

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster is a throwaway PostgreSQL cluster in a temporary directory,
// listening on 127.0.0.1 and on a unix socket inside its data directory.
// As root, the server runs as the postgres user (initdb refuses root).
type Cluster struct {
	root    string // temporary directory holding data/
	binDir  string
	port    int
	asOwner []string // command prefix that runs a program as the cluster owner
	extra   []string // server settings of ClusterOptions, as name=value
}

// ClusterOptions are opt-in server settings. The tests' clusters use none;
// the benchmark program asks for pg_stat_statements, which must be loaded
// at start.
type ClusterOptions struct {
	// Settings are extra server settings as "name=value", passed as -c
	// options at every start (e.g. shared_preload_libraries=pg_stat_statements).
	Settings []string
}

// StatStatementsSettings are the settings that make pg_stat_statements
// record every statement with its planning time (not BEGIN, COMMIT or SET:
// the statement counts stay those of sqltrace and the query budgets).
func StatStatementsSettings() []string {
	return []string{"shared_preload_libraries=pg_stat_statements",
		"pg_stat_statements.track_planning=on", "pg_stat_statements.track_utility=off",
		"pg_stat_statements.max=10000"}
}

// StartCluster initialises and starts a new cluster.
func StartCluster() (*Cluster, error) { return StartClusterWith(ClusterOptions{}) }

// StartClusterWith initialises and starts a new cluster with o's settings.
func StartClusterWith(o ClusterOptions) (*Cluster, error) {
	for _, s := range o.Settings {
		if !regexp.MustCompile(`^[a-z_.]+=[A-Za-z0-9_.,]+$`).MatchString(s) {
			return nil, fmt.Errorf("cluster setting %q: want name=value", s)
		}
	}
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "violet-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{root: root, binDir: binDir, extra: o.Settings}
	if os.Geteuid() == 0 {
		if err := c.handToPostgres(); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
	}
	out, err := c.owner("initdb", "-D", c.data(), "-U", "violet", "-A", "trust",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err == nil {
			if err = c.Start(); err == nil {
				c.watch()
				return c, nil
			}
		}
		if attempt == 2 {
			c.Remove()
			return nil, err
		}
	}
}

// URL returns a connection URL for database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://violet@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// watch starts a small shell process, in its own session, that stops the
// server and deletes its files once this process is gone. Remove does that
// on a normal exit; the watchdog covers a test binary killed by -timeout, a
// panic or Ctrl-C, which would otherwise leave a postmaster running.
func (c *Cluster) watch() {
	stop := append(append([]string{}, c.asOwner...), filepath.Join(c.binDir, "pg_ctl"), "-D", c.data(), "-m", "immediate", "stop")
	for i, a := range stop {
		stop[i] = shellQuote(a)
	}
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf %s",
		os.Getpid(), strings.Join(stop, " "), shellQuote(c.root))
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err == nil {
		go cmd.Wait() //nolint:errcheck // only reaps the watchdog if it ends first
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Addr returns the cluster's host:port.
func (c *Cluster) Addr() string { return "127.0.0.1:" + strconv.Itoa(c.port) }

// Start starts the server (again) on its port.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off "+
		"-c synchronous_commit=off -c full_page_writes=off -c max_connections=300", c.port, c.data())
	for _, s := range c.extra {
		opts += " -c " + s
	}
	out, err := c.owner("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.data(), "server.log"),
		"-w", "-t", "30", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.data(), "server.log"))
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, tail(string(log), 2000))
	}
	return nil
}

// Stop stops the server at once, as a crash or an outage would.
func (c *Cluster) Stop() error {
	out, err := c.owner("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Remove stops the server if it runs and deletes its files.
func (c *Cluster) Remove() {
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
		_ = c.Stop()
	}
	os.RemoveAll(c.root)
}

func (c *Cluster) data() string { return filepath.Join(c.root, "data") }

func (c *Cluster) owner(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.binDir, prog)
	if len(c.asOwner) > 0 {
		return exec.Command(c.asOwner[0], append(append(c.asOwner[1:], path), args...)...)
	}
	return exec.Command(path, args...)
}

// handToPostgres makes the temporary directory the postgres user's, for
// running the server as root's tests.
func (c *Cluster) handToPostgres() error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return errors.New("running as root needs a postgres OS user to own the test cluster: useradd --system postgres")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.root, uid, gid); err != nil {
		return err
	}
	c.asOwner = []string{"runuser", "-u", "postgres", "--"}
	return nil
}

// findBinDir finds PostgreSQL's server programs on PATH or where Debian
// puts them.
func findBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server programs (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; install them or set TEST_DATABASE_URL")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}

// waitGone waits until nothing accepts connections on addr, so a test that
// stopped a cluster knows it is really down.
func waitGone(addr string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(20 * time.Millisecond)
	}
}
