package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// findTool returns the path of a PostgreSQL client program (pg_dump,
// pg_restore): in binDir when given, else on PATH, else in the newest
// /usr/lib/postgresql/*/bin (where Debian and Ubuntu put them without a
// wrapper on PATH).
func findTool(binDir, name string) (string, error) {
	if binDir != "" {
		p := filepath.Join(binDir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s not found in %s", name, binDir)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: a pg_dump must be at least as new as the
	// server it dumps. The names are numbers; sort them as numbers.
	sort.Slice(dirs, func(i, j int) bool { return versionLess(dirs[j], dirs[i]) })
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin; install the PostgreSQL client programs (postgresql-client)", name)
}

// versionLess compares /usr/lib/postgresql/N/bin paths by N.
func versionLess(a, b string) bool {
	na, nb := filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b))
	if len(na) != len(nb) {
		return len(na) < len(nb)
	}
	return na < nb
}

// conn is how a client program reaches the database: the URL without its
// password (command lines are visible to every user of the machine in
// ps), and the password for the program's environment (PGPASSWORD, which
// only the process's owner can read).
type conn struct {
	url      string // without the password
	password string // "" when the URL has none
	redacted string // for messages
}

func newConn(rawURL string) (conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return conn{}, errors.New("the database URL must be a postgres:// URL")
	}
	c := conn{redacted: u.Redacted()}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			c.password = p
			u.User = url.User(u.User.Username())
		}
	}
	c.url = u.String()
	return c, nil
}

// env is the environment of a client program: this process's, with
// PGPASSWORD replaced when the URL carries a password (otherwise a
// PGPASSWORD or ~/.pgpass the operator set up is used as usual).
func (c conn) env() []string {
	env := os.Environ()
	if c.password == "" {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PGPASSWORD=") {
			out = append(out, kv)
		}
	}
	return append(out, "PGPASSWORD="+c.password)
}

// runTool runs a client program with stdout sent to out (nil: discarded)
// and returns an error carrying the end of its stderr.
func runTool(ctx context.Context, c conn, path string, args []string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = c.env()
	cmd.Stdout = out
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if c.password != "" {
			msg = strings.ReplaceAll(msg, c.password, "xxxxx")
		}
		if msg == "" {
			return fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		return fmt.Errorf("%s: %w: %s", filepath.Base(path), err, msg)
	}
	return nil
}

// tailBuffer keeps the last few kilobytes written to it: enough for a
// client program's error, without holding a flood of warnings.
type tailBuffer struct{ b []byte }

const tailSize = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.ToValidUTF8(t.b, []byte("?"))) }
