package health_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"violet/internal/evidence"
	"violet/internal/health"
	"violet/internal/testkit/testdb"
	"violet/migrations"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestReady: ready at head with a usable store; migrations pending on an
// empty database; the store unusable once its directory is gone (with
// the cause for the log); never ready while draining.
func TestReady(t *testing.T) {
	dir, err := migrations.Dir()
	if err != nil {
		t.Fatal(err)
	}
	db, _, _ := testdb.Open(t)
	store := t.TempDir()
	d := health.Deps{DB: db, Migrations: dir, Evidence: evidence.NewDir(store)}
	ctx := context.Background()
	if r := health.Ready(ctx, d); !r.Ready || r.Database != "ok" || r.Migrations != "ok" || r.Evidence != "ok" {
		t.Errorf("at head: %+v", r)
	}
	d.Draining = true
	if r := health.Ready(ctx, d); r.Ready || !r.Draining {
		t.Errorf("draining: %+v", r)
	}
	d.Draining = false

	empty, err := sql.Open("postgres", testdb.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if r := health.Ready(ctx, health.Deps{DB: empty, Migrations: dir, Evidence: d.Evidence}); r.Ready || r.Migrations != "pending" {
		t.Errorf("empty database: %+v", r)
	}

	os.Remove(store)
	if r := health.Ready(ctx, d); r.Ready || r.Evidence != "unusable" || r.EvidenceErr == nil {
		t.Errorf("store gone: %+v", r)
	}
}

// TestCardAndDB: the probes report the head revision and the tables.
func TestCardAndDB(t *testing.T) {
	db, _, _ := testdb.Open(t)
	at := time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	card, err := health.Card(context.Background(), db, func() time.Time { return at })
	if err != nil || !card.Reachable || card.Revision == "" || card.TableCount == 0 || !card.CheckedAt.Equal(at) || card.CheckedAt.Location() != time.UTC {
		t.Errorf("card %+v (%v)", card, err)
	}
	r, err := health.DB(context.Background(), db)
	if err != nil || !r.Reachable || r.MigrationRevision != card.Revision || r.TableCount != card.TableCount {
		t.Errorf("report %+v (%v), card %+v", r, err, card)
	}
}
