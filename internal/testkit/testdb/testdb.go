// Package testdb gives tests a real PostgreSQL. Each test binary gets its
// own throwaway cluster (or the server named by TEST_DATABASE_URL), one
// template database migrated and seeded once, and each test its own
// database cloned from that template in about a hundred milliseconds.
//
// A test package that uses it calls Main from TestMain:
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"violet/ent"
	"violet/internal/database"
	"violet/internal/migration"
	"violet/internal/seed"
	"violet/migrations"
)

// server is the PostgreSQL server of this test binary. It is the one piece
// of package state, because testing.M gives TestMain no other way to share
// a resource with the tests; it is created on first use and removed by Main.
type server struct {
	admin    string   // URL of a maintenance database for CREATE/DROP DATABASE
	template string   // name of the migrated, seeded template database
	cluster  *Cluster // nil when TEST_DATABASE_URL is used
	create   sync.Mutex
	seq      atomic.Int64
}

var (
	mainCalled atomic.Bool
	once       sync.Once
	shared     *server
	sharedErr  error
)

// Main runs the tests and then removes the database server they used.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if shared != nil {
		shared.close()
	}
	os.Exit(code)
}

func get(t testing.TB) *server {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("testdb: call testdb.Main(m) from this package's TestMain")
	}
	once.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		t.Fatalf("testdb: %v", sharedErr)
	}
	return shared
}

func start() (*server, error) {
	s := &server{}
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		s.admin = u
		s.template = fmt.Sprintf("violet_tmpl_%d", os.Getpid())
	} else {
		c, err := StartCluster()
		if err != nil {
			return nil, err
		}
		s.cluster, s.admin, s.template = c, c.URL("postgres"), "violet_tmpl"
	}
	if err := s.buildTemplate(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// buildTemplate creates the template database with every migration applied
// and the reference data seeded, then closes all connections to it so it
// can be cloned.
func (s *server) buildTemplate() error {
	if err := s.exec(context.Background(), `CREATE DATABASE `+s.template); err != nil {
		return err
	}
	return MigrateAndSeed(withDB(s.admin, s.template))
}

// MigrateAndSeed applies every migration and the reference data to the
// database at dbURL, then closes its connections.
func MigrateAndSeed(dbURL string) error {
	ctx := context.Background()
	db, client, err := database.Open(dbURL, 4)
	if err != nil {
		return err
	}
	defer client.Close()
	dir, err := migrations.Dir()
	if err != nil {
		return err
	}
	if _, err := migration.Apply(ctx, db, dir, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := seed.Ensure(ctx, client); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

func (s *server) close() {
	if s.cluster != nil {
		s.cluster.Remove()
		return
	}
	_ = s.exec(context.Background(), `DROP DATABASE IF EXISTS `+s.template+` WITH (FORCE)`)
}

func (s *server) exec(ctx context.Context, stmt string) error {
	db, err := sql.Open("postgres", s.admin)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", strings.Fields(stmt)[0]+" "+strings.Fields(stmt)[1], err)
	}
	return nil
}

// newDatabase creates a database for t from template and drops it when t
// ends.
func (s *server) newDatabase(t testing.TB, prefix, template string) string {
	t.Helper()
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), s.seq.Add(1))
	// Cloning takes a lock on the template; one clone at a time avoids
	// "source database is being accessed by other users".
	s.create.Lock()
	err := s.exec(context.Background(), `CREATE DATABASE `+name+` TEMPLATE `+template)
	s.create.Unlock()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		if err := s.exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("testdb: %v", err)
		}
	})
	return withDB(s.admin, name)
}

// URL returns the URL of a new database for t, migrated to head and seeded
// with the reference data, dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	s := get(t)
	return s.newDatabase(t, "t", s.template)
}

// EmptyURL returns the URL of a new, empty database for t (no tables), for
// migration tests.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return get(t).newDatabase(t, "e", "template0")
}

// Open returns a pool and an ent client on a new migrated database for t.
func Open(t testing.TB) (*sql.DB, *ent.Client, string) {
	t.Helper()
	u := URL(t)
	db, client, err := database.Open(u, 10)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return db, client, u
}

// NewCluster starts a cluster of t's own, for tests that stop and restart
// the database; it is removed when t ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	if _, err := findBinDir(); err != nil && os.Getenv("TEST_DATABASE_URL") != "" {
		t.Skipf("this test stops and starts a cluster of its own: %v", err)
	}
	c, err := StartCluster()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(c.Remove)
	return c
}

// MigratedURL creates a database named violet on the cluster, migrated and
// seeded, and returns its URL.
func (c *Cluster) MigratedURL(t testing.TB) string {
	t.Helper()
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE violet`); err != nil {
		t.Fatalf("testdb: create database: %v", err)
	}
	if err := MigrateAndSeed(c.URL("violet")); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return c.URL("violet")
}

// StopAndWait stops the cluster and waits until its port refuses
// connections.
func (c *Cluster) StopAndWait(t testing.TB) {
	t.Helper()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	waitGone(c.Addr(), 5*time.Second)
}

func withDB(rawURL, db string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + db
	return u.String()
}
