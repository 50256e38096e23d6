package database_test

import (
	"context"
	"testing"

	"violet/internal/database"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// preparedOnConn counts the statements the connection holds prepared on
// the server (the cache's, named by lib/pq).
const preparedOnConn = `SELECT count(*) FROM pg_prepared_statements`

// TestStatementCache: on one connection, a parameterised statement is
// prepared once and reused, the cache never holds more than its size
// (evicted statements are closed on the server), results stay right, and
// statements without parameters are not prepared.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, client, err := database.Open(testdb.URL(t), 2, database.WithStatementCache(2))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := db.Conn(ctx) // one connection for the whole test
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prepared := func() int {
		var n int
		if err := conn.QueryRowContext(ctx, preparedOnConn).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := prepared(); n != 0 {
		t.Fatalf("%d statements prepared before any parameterised query", n)
	}
	queries := []string{`SELECT $1::int + 1`, `SELECT $1::int + 2`, `SELECT $1::int + 3`}
	for round := range 3 {
		for i, q := range queries {
			var got int
			if err := conn.QueryRowContext(ctx, q, 10*round).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := 10*round + i + 1; got != want {
				t.Fatalf("%s with %d = %d, want %d", q, 10*round, got, want)
			}
			if n := prepared(); n > 2 {
				t.Fatalf("%d statements prepared, the cache holds 2", n)
			}
		}
	}
	// The same statement again and again stays one prepared statement.
	for i := range 5 {
		if _, err := conn.ExecContext(ctx, `SELECT pg_sleep(0) WHERE $1::int >= 0`, i); err != nil {
			t.Fatal(err)
		}
	}
	var named int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement = $1`,
		`SELECT pg_sleep(0) WHERE $1::int >= 0`).Scan(&named); err != nil {
		t.Fatal(err)
	}
	if named != 1 {
		t.Errorf("the repeated exec is prepared %d times, want once", named)
	}
}

// TestStatementCacheAfterSchemaChange: a cached statement whose result
// type a migration changed fails at most once on a connection, then is
// prepared again.
func TestStatementCacheAfterSchemaChange(t *testing.T) {
	ctx := context.Background()
	db, client, err := database.Open(testdb.URL(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE cache_probe (a int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO cache_probe VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	count := func() (int, error) {
		rows, err := conn.QueryContext(ctx, `SELECT * FROM cache_probe WHERE a = $1`, 1)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		return len(cols), rows.Err()
	}
	if n, err := count(); err != nil || n != 1 {
		t.Fatalf("before: %d columns, %v", n, err)
	}
	if _, err := conn.ExecContext(ctx, `ALTER TABLE cache_probe ADD COLUMN b int`); err != nil {
		t.Fatal(err)
	}
	_, _ = count() // may fail once: "cached plan must not change result type"
	if n, err := count(); err != nil || n != 2 {
		t.Fatalf("after the change: %d columns, %v; want 2 and no error", n, err)
	}
}

// TestPingReachesTheServer: the connection wrappers keep the driver's
// Ping, so a ping over a pooled connection fails once the server is gone
// (without it database/sql only checks a pooled connection out, and
// /readyz reported the database as fine during an outage).
func TestPingReachesTheServer(t *testing.T) {
	cluster := testdb.NewCluster(t)
	db, client, err := database.Open(cluster.MigratedURL(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("ping before the outage: %v", err)
	}
	if _, err := db.ExecContext(ctx, `SELECT $1::int`, 1); err != nil { // a pooled, cached connection
		t.Fatal(err)
	}
	cluster.StopAndWait(t)
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping succeeded with the server stopped")
	}
}
