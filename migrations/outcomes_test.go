package migrations_test

// The data step of 20261205203307_tools_outcomes_rules.sql (issue 20):
// each mission test's detection recorded before outcomes per tool becomes
// its outcome without a tool, nothing lost.

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"

	"violet/internal/demo"
	"violet/internal/migration"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
	"violet/migrations"
)

const outcomesMigration = "20261205203307_tools_outcomes_rules.sql"

// blueRecord is a test's blue columns, or its outcome's, as text (NULL as
// "∅", times in UTC).
type blueRecord struct{ Level, At, Alert, Source, Notes string }

// testRecords reads every mission test's blue columns, deleted tests
// included.
func testRecords(t *testing.T, db *sql.DB) map[string]blueRecord {
	t.Helper()
	return blueRecords(t, db, `SELECT id::text, coalesce(detection_level_id::text, '∅'),
		coalesce(to_char(detected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '∅'), alert_name, log_source, blue_notes
		FROM mission_tests`)
}

// outcomeRecords reads every outcome without a tool by its test, with
// what the migration leaves in its other columns.
func outcomeRecords(t *testing.T, db *sql.DB) map[string]blueRecord {
	t.Helper()
	if n := count(t, db, `SELECT count(*) FROM mission_test_outcomes
		WHERE tool_id IS NOT NULL OR recorded_by_id IS NOT NULL OR version <> 1`); n != 0 {
		t.Errorf("%d migrated outcomes with a tool, an author or a version other than 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM mission_test_outcomes o JOIN mission_tests t ON t.id = o.mission_test_id
		WHERE o.created_at <> t.updated_at OR o.updated_at <> t.updated_at`); n != 0 {
		t.Errorf("%d migrated outcomes not dated by their test's last change", n)
	}
	return blueRecords(t, db, `SELECT mission_test_id::text, coalesce(detection_level_id::text, '∅'),
		coalesce(to_char(detected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '∅'), alert_name, log_source, notes
		FROM mission_test_outcomes WHERE tool_id IS NULL`)
}

func blueRecords(t *testing.T, db *sql.DB, q string) map[string]blueRecord {
	t.Helper()
	out := map[string]blueRecord{}
	for _, r := range queryRows(t, db, q) {
		out[r[0]] = blueRecord{Level: r[1], At: r[2], Alert: r[3], Source: r[4], Notes: r[5]}
	}
	return out
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// compareMigrated checks that every test recording anything on the blue
// side has one outcome without a tool holding exactly that, and that the
// others have none.
func compareMigrated(t *testing.T, tests, outcomes map[string]blueRecord) (migrated int) {
	t.Helper()
	for id, rec := range tests {
		o, ok := outcomes[id]
		recorded := rec != blueRecord{Level: "∅", At: "∅"}
		switch {
		case recorded && !ok:
			t.Errorf("test %s: %+v has no outcome", id, rec)
		case !recorded && ok:
			t.Errorf("test %s: nothing recorded, outcome %+v", id, o)
		case ok && o != rec:
			t.Errorf("test %s: outcome %+v, test %+v", id, o, rec)
		case ok:
			migrated++
		}
	}
	if len(outcomes) > migrated {
		t.Errorf("%d outcomes for %d tests recording something", len(outcomes), migrated)
	}
	return migrated
}

// TestOutcomesMigrationMovesEachDetection: a database at the revision
// before the outcomes, holding tests with every kind of blue record (a
// full one, notes only, a level only, a time only, a deleted test's, none),
// migrated to head: each test recording anything has one outcome without
// a tool with exactly its record, the others none.
func TestOutcomesMigrationMovesEachDetection(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("postgres", testdb.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	full, err := migrations.Dir()
	if err != nil {
		t.Fatal(err)
	}
	before := withoutFrom(t, full, outcomesMigration)
	quiet := slog.New(slog.DiscardHandler)
	if _, err := migration.Apply(ctx, db, before, quiet); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'mission_test_outcomes'`); n != 0 {
		t.Fatal("the outcomes table exists before its migration")
	}
	mission := insertID(t, db, `INSERT INTO missions (name) VALUES ('M') RETURNING id`)
	level := insertID(t, db, `INSERT INTO detection_levels (name, score, colour, position) VALUES ('Alerted', 80, '#F59E0B', 1) RETURNING id`)
	at := time.Date(2026, 3, 29, 1, 30, 12, 345678000, time.UTC)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO mission_tests (mission_id, name, platforms, detection_level_id, detected_at, alert_name, log_source, blue_notes)
			VALUES ($1, 'full', '[]', $2, $3, 'Encoded PowerShell', 'Sysmon', 'Seen in the *SIEM*')`, []any{mission, level, at}},
		{`INSERT INTO mission_tests (mission_id, name, platforms, blue_notes) VALUES ($1, 'notes only', '[]', 'nothing fired')`, []any{mission}},
		{`INSERT INTO mission_tests (mission_id, name, platforms, detection_level_id) VALUES ($1, 'level only', '[]', $2)`, []any{mission, level}},
		{`INSERT INTO mission_tests (mission_id, name, platforms, detected_at) VALUES ($1, 'time only', '[]', $2)`, []any{mission, at}},
		{`INSERT INTO mission_tests (mission_id, name, platforms, log_source, deleted_at) VALUES ($1, 'deleted', '[]', 'EDR', now())`, []any{mission}},
		{`INSERT INTO mission_tests (mission_id, name, platforms, updated_at) VALUES ($1, 'nothing', '[]', now() - interval '3 days')`, []any{mission}},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	tests := testRecords(t, db)
	applied, err := migration.Apply(ctx, db, full, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != outcomesMigration {
		t.Fatalf("applied %v, want %s first", applied, outcomesMigration)
	}
	if got := compareMigrated(t, tests, outcomeRecords(t, db)); got != 5 {
		t.Errorf("%d tests migrated, want 5", got)
	}
	if after := testRecords(t, db); len(after) != len(tests) {
		t.Errorf("%d tests after the migration, %d before", len(after), len(tests))
	} else {
		for id, rec := range tests {
			if after[id] != rec {
				t.Errorf("test %s changed: %+v, was %+v", id, after[id], rec)
			}
		}
	}
}

// TestOutcomesMigrationOnTheDemo: the demo mission, made at head (its
// workflows write outcomes), with its outcomes removed as before the
// migration, then the migration's data statement run as the file has it:
// every test's detection is back as its outcome without a tool.
func TestOutcomesMigrationOnTheDemo(t *testing.T) {
	app := apptest.New(t)
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	if _, err := demo.Run(context.Background(), app.Ent, app.Steps, app.Hasher.Hash, now); err != nil {
		t.Fatal(err)
	}
	tests := testRecords(t, app.DB)
	if n := count(t, app.DB, `SELECT count(*) FROM mission_tests WHERE detection_level_id IS NOT NULL`); n < 2 {
		t.Fatalf("the demo rates %d tests, want some", n)
	}
	if _, err := app.DB.Exec(`DELETE FROM mission_test_outcomes`); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB.Exec(dataStatement(t)); err != nil {
		t.Fatal(err)
	}
	if got := compareMigrated(t, tests, outcomeRecords(t, app.DB)); got == 0 {
		t.Error("no demo test migrated")
	}
}

// dataStatement is the outcomes migration's last statement, as the file
// has it.
func dataStatement(t *testing.T) string {
	t.Helper()
	dir, err := migrations.Dir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := dir.Open(outcomesMigration)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := b.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	_, stmt, ok := strings.Cut(sb.String(), "-- Each test's detection so far becomes its outcome without a tool, nothing lost\n")
	if !ok || !strings.HasPrefix(stmt, `INSERT INTO "mission_test_outcomes"`) {
		t.Fatalf("no data statement in %s", outcomesMigration)
	}
	return stmt
}

// withoutFrom is dir without file name and those after it, with its sum.
func withoutFrom(t *testing.T, dir migrate.Dir, name string) migrate.Dir {
	t.Helper()
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	out := &migrate.MemDir{}
	for _, f := range files {
		if f.Name() >= name {
			break
		}
		if err := out.WriteFile(f.Name(), f.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := out.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.WriteSumFile(out, sum); err != nil {
		t.Fatal(err)
	}
	return out
}
