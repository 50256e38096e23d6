package joblock_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/joblock"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// dead asks, in a transaction of its own as a reaper does, whether id's
// job has nobody left.
func dead(t *testing.T, db *sql.DB, ns int32, id uuid.UUID) bool {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	got, err := joblock.Dead(context.Background(), tx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestLiveness: a held job is alive to every other connection, in its own
// namespace only; released, or with its connection gone, it is dead.
func TestLiveness(t *testing.T) {
	db, _, _ := testdb.Open(t)
	ctx := context.Background()
	job, other := uuid.New(), uuid.New()
	held, err := joblock.Hold(ctx, db, joblock.AttackSync, job)
	if err != nil {
		t.Fatal(err)
	}
	if dead(t, db, joblock.AttackSync, job) {
		t.Error("a held job is taken for dead")
	}
	if !dead(t, db, joblock.ImportJob, job) || !dead(t, db, joblock.AttackSync, other) {
		t.Error("the lock covers another namespace or job")
	}
	held.Release()
	held.Release() // twice is harmless
	if !dead(t, db, joblock.AttackSync, job) {
		t.Error("a released job is alive")
	}

	// The instance dies: its connection ends without releasing.
	held, err = joblock.Hold(ctx, db, joblock.ImportJob, job)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if dead(t, db, joblock.ImportJob, job) {
		t.Fatal("a held job is taken for dead")
	}
	if _, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2`); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if dead(t, db, joblock.ImportJob, job) {
			return
		}
		time.Sleep(20 * time.Millisecond) // the backend ends a moment later
	}
	t.Error("a job whose connection ended is still alive")
}
