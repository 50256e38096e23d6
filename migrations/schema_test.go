package migrations_test

// These tests read the catalogue of a database migrated to head and check it
// against the data model (ent/schema), written out here by hand from the
// migration files (the initial schema, then audit_events): a change to the
// schema that is not mirrored in these lists fails the build.

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lib/pq"

	"violet/internal/migration"
	"violet/internal/testkit/testdb"
	"violet/migrations"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// openDB returns a pool on a fresh database migrated to head and seeded.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, _, _ := testdb.Open(t)
	return db
}

// queryRows runs q and returns every row as a slice of strings.
func queryRows(t *testing.T, db *sql.DB, q string, args ...any) [][]string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// insertID runs an INSERT … RETURNING id and returns the id.
func insertID(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	var id string
	if err := db.QueryRow(q, args...).Scan(&id); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return id
}

// pqError returns err as a *pq.Error, failing t when it is not one.
func pqError(t *testing.T, err error) *pq.Error {
	t.Helper()
	if err == nil {
		t.Fatal("statement succeeded, want a constraint violation")
	}
	var pqe *pq.Error
	if !errors.As(err, &pqe) {
		t.Fatalf("error %v (%T) is not a *pq.Error", err, err)
	}
	return pqe
}

// wantViolation asserts that err is a violation of constraint with the
// given SQLSTATE.
func wantViolation(t *testing.T, err error, code pq.ErrorCode, constraint string) {
	t.Helper()
	pqe := pqError(t, err)
	if pqe.Code != code || pqe.Constraint != constraint {
		t.Fatalf("error code %s constraint %q (%v), want code %s constraint %q",
			pqe.Code, pqe.Constraint, pqe, code, constraint)
	}
}

const (
	checkViolation  pq.ErrorCode = "23514"
	uniqueViolation pq.ErrorCode = "23505"
)

// diffSets reports the elements only in want and only in got.
func diffSets(want, got []string) (missing, unexpected []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			unexpected = append(unexpected, g)
		}
	}
	return missing, unexpected
}

var wantTables = []string{
	"api_tokens",
	"attack_syncs",
	"audit_events",
	"defensive_tools",
	"detection_levels",
	"detection_rules",
	"evidence_files",
	"execution_records",
	"group_permissions",
	"groups",
	"import_jobs",
	"invitation_groups",
	"invitations",
	"library_import_files",
	"live_events",
	"mission_categories",
	"mission_members",
	"mission_scenarios",
	"mission_test_mitre_tags",
	"mission_test_outcomes",
	"mission_test_rules",
	"mission_tests",
	"mission_tools",
	"missions",
	"mitre_subtechniques",
	"mitre_tactics",
	"mitre_technique_tactics",
	"mitre_techniques",
	"notifications",
	"permissions",
	"recovery_codes",
	"refresh_tokens",
	"saml_assertions",
	"scenario_template_tests",
	"scenario_templates",
	"settings",
	"sign_in_providers",
	"test_template_mitre_tags",
	"test_template_rules",
	"test_templates",
	"user_groups",
	"user_identities",
	"user_totps",
	"users",
	"webauthn_credentials",
}

func TestTables(t *testing.T) {
	db := openDB(t)
	var got []string
	for _, r := range queryRows(t, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`) {
		got = append(got, r[0])
	}
	// The 26 tables of the v1 data model plus audit_events, attack_syncs,
	// import_jobs, live_events and library_import_files, and issue 20's
	// defensive_tools, mission_tools, mission_test_outcomes,
	// detection_rules, test_template_rules and mission_test_rules, and issue
	// 21's user_totps, recovery_codes, user_identities and
	// webauthn_credentials, and sign_in_providers and saml_assertions, and
	// issue 22's api_tokens and execution_records.
	if len(wantTables) != 45 {
		t.Fatalf("expected list has %d tables, want 45", len(wantTables))
	}
	if !slices.IsSorted(wantTables) {
		t.Fatal("expected table list is not sorted")
	}
	if !slices.Equal(got, wantTables) {
		missing, unexpected := diffSets(wantTables, got)
		t.Fatalf("tables in public differ: missing %v, unexpected %v\ngot %v", missing, unexpected, got)
	}
}

// foreignKey is one single-column foreign key.
type foreignKey struct {
	table, column, refTable, name, onDelete string
}

var wantForeignKeys = []foreignKey{
	{"evidence_files", "mission_test_id", "mission_tests", "fk_evidence_files_mission_test_id", "CASCADE"},
	{"evidence_files", "uploaded_by_id", "users", "fk_evidence_files_uploaded_by_id", "RESTRICT"},
	{"group_permissions", "group_id", "groups", "fk_group_permissions_group_id", "CASCADE"},
	{"group_permissions", "permission_id", "permissions", "fk_group_permissions_permission_id", "CASCADE"},
	{"invitation_groups", "group_id", "groups", "fk_invitation_groups_group_id", "CASCADE"},
	{"invitation_groups", "invitation_id", "invitations", "fk_invitation_groups_invitation_id", "CASCADE"},
	{"invitations", "consumed_by_id", "users", "fk_invitations_consumed_by_id", "SET NULL"},
	{"invitations", "created_by_id", "users", "fk_invitations_created_by_id", "SET NULL"},
	{"invitations", "reset_user_id", "users", "fk_invitations_reset_user_id", "CASCADE"},
	{"attack_syncs", "started_by_id", "users", "fk_attack_syncs_started_by_id", "SET NULL"},
	{"import_jobs", "started_by_id", "users", "fk_import_jobs_started_by_id", "SET NULL"},
	{"mission_categories", "mission_id", "missions", "fk_mission_categories_mission_id", "CASCADE"},
	{"mission_members", "mission_id", "missions", "fk_mission_members_mission_id", "CASCADE"},
	{"mission_members", "user_id", "users", "fk_mission_members_user_id", "CASCADE"},
	{"mission_scenarios", "mission_id", "missions", "fk_mission_scenarios_mission_id", "CASCADE"},
	{"mission_scenarios", "scenario_template_id", "scenario_templates", "fk_mission_scenarios_scenario_template_id", "SET NULL"},
	{"mission_test_mitre_tags", "mission_test_id", "mission_tests", "fk_mission_test_mitre_tags_mission_test_id", "CASCADE"},
	{"mission_tests", "category_id", "mission_categories", "fk_mission_tests_category_id", "SET NULL"},
	{"mission_tests", "detection_level_id", "detection_levels", "fk_mission_tests_detection_level_id", "RESTRICT"},
	{"mission_tests", "executed_by_id", "users", "fk_mission_tests_executed_by_id", "SET NULL"},
	{"mission_tests", "mission_id", "missions", "fk_mission_tests_mission_id", "CASCADE"},
	{"mission_tests", "mission_scenario_id", "mission_scenarios", "fk_mission_tests_mission_scenario_id", "CASCADE"},
	{"mission_tests", "reviewed_by_id", "users", "fk_mission_tests_reviewed_by_id", "SET NULL"},
	{"mission_tests", "assignee_id", "users", "fk_mission_tests_assignee_id", "SET NULL"},
	{"mission_tests", "test_template_id", "test_templates", "fk_mission_tests_test_template_id", "SET NULL"},
	{"missions", "created_by_id", "users", "fk_missions_created_by_id", "SET NULL"},
	{"missions", "retest_of_id", "missions", "fk_missions_retest_of_id", "SET NULL"},
	{"mission_tests", "retest_of_id", "mission_tests", "fk_mission_tests_retest_of_id", "SET NULL"},
	{"mitre_subtechniques", "technique_id", "mitre_techniques", "fk_mitre_subtechniques_technique_id", "RESTRICT"},
	{"mitre_technique_tactics", "tactic_id", "mitre_tactics", "fk_mitre_technique_tactics_tactic_id", "CASCADE"},
	{"mitre_technique_tactics", "technique_id", "mitre_techniques", "fk_mitre_technique_tactics_technique_id", "CASCADE"},
	{"notifications", "user_id", "users", "fk_notifications_user_id", "CASCADE"},
	{"refresh_tokens", "replaced_by_id", "refresh_tokens", "fk_refresh_tokens_replaced_by_id", "SET NULL"},
	{"refresh_tokens", "user_id", "users", "fk_refresh_tokens_user_id", "CASCADE"},
	{"api_tokens", "user_id", "users", "fk_api_tokens_user_id", "CASCADE"},
	{"execution_records", "mission_id", "missions", "fk_execution_records_mission_id", "CASCADE"},
	{"execution_records", "mission_test_id", "mission_tests", "fk_execution_records_mission_test_id", "CASCADE"},
	{"user_totps", "user_id", "users", "fk_user_totps_user_id", "CASCADE"},
	{"user_identities", "user_id", "users", "fk_user_identities_user_id", "CASCADE"},
	{"recovery_codes", "user_id", "users", "fk_recovery_codes_user_id", "CASCADE"},
	{"webauthn_credentials", "user_id", "users", "fk_webauthn_credentials_user_id", "CASCADE"},
	{"scenario_template_tests", "scenario_template_id", "scenario_templates", "fk_scenario_template_tests_scenario_template_id", "CASCADE"},
	{"scenario_template_tests", "test_template_id", "test_templates", "fk_scenario_template_tests_test_template_id", "RESTRICT"},
	{"scenario_templates", "created_by_id", "users", "fk_scenario_templates_created_by_id", "SET NULL"},
	{"test_template_mitre_tags", "subtechnique_id", "mitre_subtechniques", "fk_test_template_mitre_tags_subtechnique_id", "RESTRICT"},
	{"test_template_mitre_tags", "tactic_id", "mitre_tactics", "fk_test_template_mitre_tags_tactic_id", "RESTRICT"},
	{"test_template_mitre_tags", "technique_id", "mitre_techniques", "fk_test_template_mitre_tags_technique_id", "RESTRICT"},
	{"test_template_mitre_tags", "test_template_id", "test_templates", "fk_test_template_mitre_tags_test_template_id", "CASCADE"},
	{"test_templates", "created_by_id", "users", "fk_test_templates_created_by_id", "SET NULL"},
	{"mission_test_outcomes", "detection_level_id", "detection_levels", "fk_mission_test_outcomes_detection_level_id", "RESTRICT"},
	{"mission_test_outcomes", "mission_test_id", "mission_tests", "fk_mission_test_outcomes_mission_test_id", "CASCADE"},
	{"mission_test_outcomes", "recorded_by_id", "users", "fk_mission_test_outcomes_recorded_by_id", "SET NULL"},
	{"mission_test_outcomes", "tool_id", "defensive_tools", "fk_mission_test_outcomes_tool_id", "RESTRICT"},
	{"mission_test_rules", "detection_rule_id", "detection_rules", "fk_mission_test_rules_detection_rule_id", "CASCADE"},
	{"mission_test_rules", "mission_test_id", "mission_tests", "fk_mission_test_rules_mission_test_id", "CASCADE"},
	{"mission_tools", "defensive_tool_id", "defensive_tools", "fk_mission_tools_defensive_tool_id", "CASCADE"},
	{"mission_tools", "mission_id", "missions", "fk_mission_tools_mission_id", "CASCADE"},
	{"test_template_rules", "detection_rule_id", "detection_rules", "fk_test_template_rules_detection_rule_id", "CASCADE"},
	{"test_template_rules", "test_template_id", "test_templates", "fk_test_template_rules_test_template_id", "CASCADE"},
	{"user_groups", "group_id", "groups", "fk_user_groups_group_id", "CASCADE"},
	{"user_groups", "user_id", "users", "fk_user_groups_user_id", "CASCADE"},
}

// actualForeignKeys reads every foreign key of schema public, keyed by
// constraint name. A multi-column key is reported with its columns joined
// by commas (none is expected).
func actualForeignKeys(t *testing.T, db *sql.DB) map[string]foreignKey {
	t.Helper()
	rows := queryRows(t, db, `
		SELECT t.relname,
		       (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
		          FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
		          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
		       r.relname,
		       c.conname,
		       CASE c.confdeltype
		            WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
		            WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END,
		       CASE c.confupdtype WHEN 'a' THEN 'NO ACTION' ELSE c.confupdtype::text END
		  FROM pg_constraint c
		  JOIN pg_class t ON t.oid = c.conrelid
		  JOIN pg_class r ON r.oid = c.confrelid
		  JOIN pg_namespace n ON n.oid = c.connamespace
		 WHERE c.contype = 'f' AND n.nspname = 'public'
		 ORDER BY t.relname, c.conname`)
	got := make(map[string]foreignKey, len(rows))
	for _, r := range rows {
		if r[5] != "NO ACTION" {
			t.Errorf("foreign key %s: ON UPDATE %s, want NO ACTION", r[3], r[5])
		}
		got[r[3]] = foreignKey{table: r[0], column: r[1], refTable: r[2], name: r[3], onDelete: r[4]}
	}
	return got
}

func TestForeignKeys(t *testing.T) {
	db := openDB(t)
	got := actualForeignKeys(t, db)
	for _, want := range wantForeignKeys {
		t.Run(want.name, func(t *testing.T) {
			if !strings.HasPrefix(want.name, "fk_") {
				t.Fatalf("expected name %q does not start with fk_", want.name)
			}
			if wantName := "fk_" + want.table + "_" + want.column; want.name != wantName {
				t.Errorf("expected name %q, convention says %q", want.name, wantName)
			}
			fk, ok := got[want.name]
			if !ok {
				t.Fatalf("foreign key %s is missing", want.name)
			}
			if fk != want {
				t.Errorf("got %+v, want %+v", fk, want)
			}
		})
	}
	t.Run("no unexpected foreign keys", func(t *testing.T) {
		var wantNames []string
		for _, fk := range wantForeignKeys {
			wantNames = append(wantNames, fk.name)
		}
		for name, fk := range got {
			if !strings.HasPrefix(name, "fk_") {
				t.Errorf("foreign key %s on %s does not start with fk_", name, fk.table)
			}
			if !slices.Contains(wantNames, name) {
				t.Errorf("unexpected foreign key %+v", fk)
			}
		}
		if len(got) != len(wantForeignKeys) {
			t.Errorf("%d foreign keys in the database, %d expected", len(got), len(wantForeignKeys))
		}
	})
}

// wantChecks is every CHECK constraint as "table.name".
var wantChecks = []string{
	"api_tokens.ck_api_tokens_token_hash_hex",
	"attack_syncs.ck_attack_syncs_progress",
	"attack_syncs.ck_attack_syncs_status",
	"defensive_tools.ck_defensive_tools_kind",
	"detection_levels.ck_detection_levels_colour",
	"detection_levels.ck_detection_levels_score",
	"detection_rules.ck_detection_rules_revision",
	"evidence_files.ck_evidence_files_sha256_hex",
	"evidence_files.ck_evidence_files_side",
	"evidence_files.ck_evidence_files_size",
	"import_jobs.ck_import_jobs_kind",
	"import_jobs.ck_import_jobs_progress",
	"import_jobs.ck_import_jobs_status",
	"invitations.ck_invitations_token_hash_hex",
	"live_events.ck_live_events_kind",
	"mission_categories.ck_mission_categories_colour",
	"mission_members.ck_mission_members_role",
	"mission_test_mitre_tags.ck_mission_test_mitre_tags_kind",
	"mission_test_outcomes.ck_mission_test_outcomes_version",
	"mission_tests.ck_mission_tests_opsec_level",
	"mission_tests.ck_mission_tests_state",
	"mission_tests.ck_mission_tests_times",
	"mission_tests.ck_mission_tests_version",
	"missions.ck_missions_dates",
	"missions.ck_missions_status",
	"missions.ck_missions_version",
	"permissions.ck_permissions_code_format",
	"recovery_codes.ck_recovery_codes_code_hash_hex",
	"refresh_tokens.ck_refresh_tokens_token_hash_hex",
	"scenario_template_tests.ck_scenario_template_tests_position",
	"scenario_templates.ck_scenario_templates_version",
	"sign_in_providers.ck_sign_in_providers_key",
	"sign_in_providers.ck_sign_in_providers_kind",
	"test_template_mitre_tags.ck_test_template_mitre_tags_exactly_one_mitre_fk",
	"test_templates.ck_test_templates_opsec_level",
	"test_templates.ck_test_templates_source",
	"test_templates.ck_test_templates_version",
	"users.ck_users_email_lower",
	"users.ck_users_locale",
}

func TestCheckConstraintList(t *testing.T) {
	db := openDB(t)
	var got []string
	for _, r := range queryRows(t, db, `
		SELECT t.relname || '.' || c.conname
		  FROM pg_constraint c
		  JOIN pg_class t ON t.oid = c.conrelid
		  JOIN pg_namespace n ON n.oid = c.connamespace
		 WHERE c.contype = 'c' AND n.nspname = 'public'
		 ORDER BY 1`) {
		got = append(got, r[0])
	}
	if !slices.IsSorted(wantChecks) {
		t.Fatal("expected check list is not sorted")
	}
	for _, w := range wantChecks {
		table, name, _ := strings.Cut(w, ".")
		if !strings.HasPrefix(name, "ck_"+table+"_") {
			t.Errorf("expected check %s is not named ck_%s_…", w, table)
		}
	}
	if !slices.Equal(got, wantChecks) {
		missing, unexpected := diffSets(wantChecks, got)
		t.Fatalf("check constraints differ: missing %v, unexpected %v", missing, unexpected)
	}
}

// fixtures are rows the CHECK tests hang their inserts on.
type fixtures struct {
	user, mission, missionTest, testTemplate, tactic, technique, subtechnique string
}

func insertFixtures(t *testing.T, db *sql.DB) fixtures {
	t.Helper()
	var f fixtures
	f.user = insertID(t, db, `INSERT INTO users (email, password_hash, display_name)
		VALUES ('fixture@example.com', 'x', 'Fixture') RETURNING id`)
	f.mission = insertID(t, db, `INSERT INTO missions (name) VALUES ('Fixture mission') RETURNING id`)
	f.missionTest = insertID(t, db, `INSERT INTO mission_tests (mission_id, name, platforms)
		VALUES ($1, 'Fixture test', '[]') RETURNING id`, f.mission)
	f.testTemplate = insertID(t, db, `INSERT INTO test_templates (name, platforms)
		VALUES ('Fixture template', '["windows"]') RETURNING id`)
	f.tactic = insertID(t, db, `INSERT INTO mitre_tactics (stix_id, external_id, name, platforms, shortname)
		VALUES ('x-mitre-tactic--1', 'TA0002', 'Execution', '[]', 'execution') RETURNING id`)
	f.technique = insertID(t, db, `INSERT INTO mitre_techniques (stix_id, external_id, name, platforms)
		VALUES ('attack-pattern--1', 'T1059', 'Command and Scripting Interpreter', '[]') RETURNING id`)
	f.subtechnique = insertID(t, db, `INSERT INTO mitre_subtechniques (stix_id, external_id, name, platforms, technique_id)
		VALUES ('attack-pattern--2', 'T1059.001', 'PowerShell', '[]', $1) RETURNING id`, f.technique)
	return f
}

// execRolledBack runs q inside a transaction that is rolled back, so an
// accepted row leaves nothing behind for the next case.
func execRolledBack(db *sql.DB, q string, args ...any) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // nothing to keep
	_, err = tx.Exec(q, args...)
	return err
}

func TestCheckConstraintsFire(t *testing.T) {
	db := openDB(t)
	f := insertFixtures(t, db)
	sha := strings.Repeat("ab", 32)
	// Each case inserts one row whose column under test is $1, every
	// other value valid: each accepted value must insert (so the row is
	// otherwise fine) and each rejected one must fail on the named CHECK.
	cases := []struct {
		name       string
		constraint string
		query      string
		args       []any // $2…
		accept     []any
		reject     []any
	}{
		{
			name:       "mission status",
			constraint: "ck_missions_status",
			query:      `INSERT INTO missions (name, status) VALUES ('m', $1)`,
			accept:     []any{"draft", "planned", "in_progress", "completed", "archived"},
			reject:     []any{"bogus", "Draft", "", "deleted"},
		},
		{
			name:       "mission test state",
			constraint: "ck_mission_tests_state",
			query:      `INSERT INTO mission_tests (mission_id, name, platforms, state) VALUES ($2, 't', '[]', $1)`,
			args:       []any{f.mission},
			accept:     []any{"pending", "running", "executed", "reviewed", "skipped", "blocked"},
			reject:     []any{"done", "Pending", ""},
		},
		{
			name:       "test template opsec level",
			constraint: "ck_test_templates_opsec_level",
			query:      `INSERT INTO test_templates (name, platforms, opsec_level) VALUES ('t', '[]', $1)`,
			accept:     []any{"low", "medium", "high"},
			reject:     []any{"critical", "LOW", ""},
		},
		{
			name:       "mission test opsec level",
			constraint: "ck_mission_tests_opsec_level",
			query:      `INSERT INTO mission_tests (mission_id, name, platforms, opsec_level) VALUES ($2, 't', '[]', $1)`,
			args:       []any{f.mission},
			accept:     []any{"low", "medium", "high"},
			reject:     []any{"critical", "High", ""},
		},
		{
			name:       "mission test mitre tag kind",
			constraint: "ck_mission_test_mitre_tags_kind",
			query: `INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name)
				VALUES ($2, $1, 'T1059', 'Command and Scripting Interpreter')`,
			args:   []any{f.missionTest},
			accept: []any{"tactic", "technique", "subtechnique"},
			reject: []any{"mitigation", "Technique", ""},
		},
		{
			name:       "evidence side",
			constraint: "ck_evidence_files_side",
			query: `INSERT INTO evidence_files (side, original_name, stored_key, content_type, size, sha256, uploaded_by_id, mission_test_id)
				VALUES ($1, 'a.png', 'key-1', 'image/png', 10, $2, $3, $4)`,
			args:   []any{sha, f.user, f.missionTest},
			accept: []any{"red", "blue"},
			reject: []any{"purple", "Red", ""},
		},
		{
			name:       "member role",
			constraint: "ck_mission_members_role",
			query:      `INSERT INTO mission_members (role, mission_id, user_id) VALUES ($1, $2, $3)`,
			args:       []any{f.mission, f.user},
			accept:     []any{"lead", "red", "blue", "observer"},
			reject:     []any{"admin", "Lead", ""},
		},
		{
			name:       "user locale",
			constraint: "ck_users_locale",
			query:      `INSERT INTO users (email, password_hash, display_name, locale) VALUES ('locale@example.com', 'x', 'L', $1)`,
			accept:     []any{"en", "fr"},
			reject:     []any{"de", "EN", "en-GB", ""},
		},
		{
			name:       "detection score",
			constraint: "ck_detection_levels_score",
			query:      `INSERT INTO detection_levels (name, score, colour) VALUES ('Check level', $1, '#000000')`,
			accept:     []any{0, 50, 100},
			reject:     []any{-1, 101},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.accept {
				if err := execRolledBack(db, tc.query, append([]any{v}, tc.args...)...); err != nil {
					t.Errorf("value %v refused: %v", v, err)
				}
			}
			for _, v := range tc.reject {
				_, err := db.Exec(tc.query, append([]any{v}, tc.args...)...)
				if err == nil {
					t.Errorf("value %v accepted, want %s to refuse it", v, tc.constraint)
					continue
				}
				pqe := pqError(t, err)
				if pqe.Code != checkViolation || pqe.Constraint != tc.constraint {
					t.Errorf("value %v: code %s constraint %q (%v), want code %s constraint %q",
						v, pqe.Code, pqe.Constraint, pqe, checkViolation, tc.constraint)
				}
			}
		})
	}
}

func TestExactlyOneMitreFK(t *testing.T) {
	db := openDB(t)
	f := insertFixtures(t, db)
	const q = `INSERT INTO test_template_mitre_tags (test_template_id, tactic_id, technique_id, subtechnique_id)
		VALUES ($1, $2, $3, $4)`
	null := sql.NullString{}
	id := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	cases := []struct {
		name                            string
		tactic, technique, subtechnique sql.NullString
		ok                              bool
	}{
		{"no mitre fk", null, null, null, false},
		{"tactic and technique", id(f.tactic), id(f.technique), null, false},
		{"technique and subtechnique", null, id(f.technique), id(f.subtechnique), false},
		{"all three", id(f.tactic), id(f.technique), id(f.subtechnique), false},
		{"tactic only", id(f.tactic), null, null, true},
		{"technique only", null, id(f.technique), null, true},
		{"subtechnique only", null, null, id(f.subtechnique), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.Exec(q, f.testTemplate, tc.tactic, tc.technique, tc.subtechnique)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantViolation(t, err, checkViolation, "ck_test_template_mitre_tags_exactly_one_mitre_fk")
		})
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM test_template_mitre_tags WHERE test_template_id = $1`, f.testTemplate).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d tags stored, want the 3 accepted ones", n)
	}
}

// partialIndex is an index with a WHERE clause.
type partialIndex struct {
	table     string
	unique    bool
	columns   string
	predicate string
}

var wantPartialIndexes = map[string]partialIndex{
	"ix_users_active":                {"users", false, "display_name", "deleted_at IS NULL"},
	"ix_groups_active":               {"groups", false, "name", "deleted_at IS NULL"},
	"ix_test_templates_active":       {"test_templates", false, "name", "deleted_at IS NULL"},
	"ix_scenario_templates_active":   {"scenario_templates", false, "name", "deleted_at IS NULL"},
	"ix_missions_active":             {"missions", false, "created_at", "deleted_at IS NULL"},
	"ix_mission_scenarios_active":    {"mission_scenarios", false, "mission_id, \"position\"", "deleted_at IS NULL"},
	"ix_mission_tests_active":        {"mission_tests", false, "mission_id, \"position\"", "deleted_at IS NULL"},
	"ix_mission_categories_active":   {"mission_categories", false, "mission_id, \"position\"", "deleted_at IS NULL"},
	"ix_evidence_files_active":       {"evidence_files", false, "mission_test_id", "deleted_at IS NULL"},
	"ix_notifications_unread":        {"notifications", false, "user_id, created_at", "read_at IS NULL"},
	"uq_users_email_active":          {"users", true, "email", "deleted_at IS NULL"},
	"uq_groups_name_active":          {"groups", true, "name", "deleted_at IS NULL"},
	"uq_defensive_tools_name_active": {"defensive_tools", true, "name", "deleted_at IS NULL"},
	// An imported mission, and an imported test in its mission, exist once
	// (issue 22: a second import changes nothing).
	"uq_missions_import_key":      {"missions", true, "import_key", "((import_key)::text <> ''::text) AND (deleted_at IS NULL)"},
	"uq_mission_tests_import_key": {"mission_tests", true, "mission_id, import_key", "((import_key)::text <> ''::text) AND (deleted_at IS NULL)"},
	// A test has at most one outcome without a tool (issue 20).
	"uq_mission_test_outcomes_test_untooled": {"mission_test_outcomes", true, "mission_test_id", "tool_id IS NULL"},
	// Login throttling counts recent failures by email and by address.
	"ix_audit_events_login_failed_email": {"audit_events", false, "target_label, created_at", "(action)::text = 'login.failed'::text"},
	"ix_audit_events_login_failed_ip":    {"audit_events", false, "ip, created_at", "(action)::text = 'login.failed'::text"},
	// …and wrong second-factor codes, which share the throttle.
	"ix_audit_events_second_factor_failed_email": {"audit_events", false, "target_label, created_at", "(action)::text = 'login.second_factor_failed'::text"},
	"ix_audit_events_second_factor_failed_ip":    {"audit_events", false, "ip, created_at", "(action)::text = 'login.second_factor_failed'::text"},
}

var indexDefRE = regexp.MustCompile(`^CREATE (UNIQUE )?INDEX (\S+) ON public\.(\S+) USING btree \((.*)\) WHERE \((.*)\)$`)

func TestPartialIndexes(t *testing.T) {
	db := openDB(t)
	got := map[string]partialIndex{}
	for _, r := range queryRows(t, db, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = 'public' AND indexdef LIKE '% WHERE %' ORDER BY indexname`) {
		m := indexDefRE.FindStringSubmatch(r[1])
		if m == nil || m[2] != r[0] {
			t.Errorf("index %s: cannot parse definition %q", r[0], r[1])
			continue
		}
		got[r[0]] = partialIndex{table: m[3], unique: m[1] != "", columns: m[4], predicate: m[5]}
	}
	activeTables := []string{"users", "groups", "test_templates", "scenario_templates", "missions",
		"mission_scenarios", "mission_tests", "mission_categories", "evidence_files"}
	for _, table := range activeTables {
		if w, ok := wantPartialIndexes["ix_"+table+"_active"]; !ok || w.table != table {
			t.Errorf("expected list lacks ix_%s_active", table)
		}
	}
	if len(wantPartialIndexes) != 20 {
		t.Errorf("expected list has %d partial indexes, want 20", len(wantPartialIndexes))
	}
	names := make([]string, 0, len(wantPartialIndexes))
	for name := range wantPartialIndexes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		want := wantPartialIndexes[name]
		t.Run(name, func(t *testing.T) {
			idx, ok := got[name]
			if !ok {
				t.Fatalf("partial index %s is missing", name)
			}
			if idx != want {
				t.Errorf("got %+v, want %+v", idx, want)
			}
		})
	}
	t.Run("no unexpected partial indexes", func(t *testing.T) {
		for name, idx := range got {
			if _, ok := wantPartialIndexes[name]; !ok {
				t.Errorf("unexpected partial index %s %+v", name, idx)
			}
		}
	})
}

func TestNaming(t *testing.T) {
	db := openDB(t)
	prefixes := []string{"fk_", "ck_", "uq_", "ix_"}
	t.Run("constraints", func(t *testing.T) {
		// contype 'n' (NOT NULL, PostgreSQL 18+) constraints are named by
		// the server and are not ours to name.
		rows := queryRows(t, db, `
			SELECT t.relname, c.conname, c.contype::text
			  FROM pg_constraint c
			  JOIN pg_class t ON t.oid = c.conrelid
			  JOIN pg_namespace n ON n.oid = c.connamespace
			 WHERE n.nspname = 'public' AND c.contype <> 'n'
			 ORDER BY 1, 2`)
		if len(rows) == 0 {
			t.Fatal("no constraints found")
		}
		pkeys := 0
		for _, r := range rows {
			table, name, kind := r[0], r[1], r[2]
			want := map[string]string{"f": "fk_", "c": "ck_", "u": "uq_"}[kind]
			switch {
			case kind == "p":
				pkeys++
				if name != table+"_pkey" {
					t.Errorf("primary key of %s is named %s, want %s_pkey", table, name, table)
				}
			case want == "":
				t.Errorf("constraint %s on %s has unexpected type %s", name, table, kind)
			case !strings.HasPrefix(name, want):
				t.Errorf("constraint %s on %s (type %s) does not start with %s", name, table, kind, want)
			}
		}
		if pkeys != len(wantTables) {
			t.Errorf("%d primary keys, want one per table (%d)", pkeys, len(wantTables))
		}
	})
	t.Run("indexes", func(t *testing.T) {
		rows := queryRows(t, db, `
			SELECT t.relname, ic.relname, i.indisunique, i.indisprimary
			  FROM pg_index i
			  JOIN pg_class ic ON ic.oid = i.indexrelid
			  JOIN pg_class t ON t.oid = i.indrelid
			  JOIN pg_namespace n ON n.oid = t.relnamespace
			 WHERE n.nspname = 'public'
			 ORDER BY 1, 2`)
		if len(rows) == 0 {
			t.Fatal("no indexes found")
		}
		for _, r := range rows {
			table, name, unique, primary := r[0], r[1], r[2] == "true", r[3] == "true"
			switch {
			case primary:
				if name != table+"_pkey" {
					t.Errorf("primary key index of %s is named %s, want %s_pkey", table, name, table)
				}
			case !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }):
				t.Errorf("index %s on %s does not start with one of %v", name, table, prefixes)
			case unique && !strings.HasPrefix(name, "uq_"):
				t.Errorf("unique index %s on %s does not start with uq_", name, table)
			case !unique && !strings.HasPrefix(name, "ix_"):
				t.Errorf("non-unique index %s on %s does not start with ix_", name, table)
			}
		}
	})
}

func TestSettingsValueIsJSONB(t *testing.T) {
	db := openDB(t)
	var typ string
	err := db.QueryRow(`SELECT data_type FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = 'settings' AND column_name = 'value'`).Scan(&typ)
	if err != nil {
		t.Fatal(err)
	}
	if typ != "jsonb" {
		t.Fatalf("settings.value is %s, want jsonb", typ)
	}
}

func TestScenarioTemplateTests(t *testing.T) {
	db := openDB(t)
	t.Run("uuid primary key on id", func(t *testing.T) {
		rows := queryRows(t, db, `
			SELECT a.attname, format_type(a.atttypid, a.atttypmod)
			  FROM pg_index i
			  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
			 WHERE i.indrelid = 'public.scenario_template_tests'::regclass AND i.indisprimary`)
		if len(rows) != 1 || rows[0][0] != "id" || rows[0][1] != "uuid" {
			t.Fatalf("primary key columns %v, want [[id uuid]]", rows)
		}
	})
	t.Run("unique index on scenario and position", func(t *testing.T) {
		var def string
		err := db.QueryRow(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
			AND tablename = 'scenario_template_tests' AND indexname = 'uq_scenario_template_tests_scenario_position'`).Scan(&def)
		if err != nil {
			t.Fatalf("uq_scenario_template_tests_scenario_position: %v", err)
		}
		const want = `CREATE UNIQUE INDEX uq_scenario_template_tests_scenario_position ON public.scenario_template_tests USING btree (scenario_template_id, "position")`
		if def != want {
			t.Fatalf("definition\n%s\nwant\n%s", def, want)
		}
	})

	scenario := insertID(t, db, `INSERT INTO scenario_templates (name) VALUES ('Scenario') RETURNING id`)
	tmplA := insertID(t, db, `INSERT INTO test_templates (name, platforms) VALUES ('A', '[]') RETURNING id`)
	tmplB := insertID(t, db, `INSERT INTO test_templates (name, platforms) VALUES ('B', '[]') RETURNING id`)
	const ins = `INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position) VALUES ($1, $2, $3)`
	t.Run("same test template at two positions is accepted", func(t *testing.T) {
		for _, pos := range []int{0, 1} {
			if _, err := db.Exec(ins, scenario, tmplA, pos); err != nil {
				t.Fatalf("position %d: %v", pos, err)
			}
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM scenario_template_tests
			WHERE scenario_template_id = $1 AND test_template_id = $2`, scenario, tmplA).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("%d rows, want 2", n)
		}
	})
	t.Run("duplicate position is refused", func(t *testing.T) {
		if _, err := db.Exec(ins, scenario, tmplA, 5); err != nil {
			t.Fatal(err)
		}
		_, err := db.Exec(ins, scenario, tmplB, 5)
		wantViolation(t, err, uniqueViolation, "uq_scenario_template_tests_scenario_position")
	})
	t.Run("same position in another scenario is accepted", func(t *testing.T) {
		other := insertID(t, db, `INSERT INTO scenario_templates (name) VALUES ('Other') RETURNING id`)
		if _, err := db.Exec(ins, other, tmplB, 5); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMissionTestMitreTagsHaveNoCatalogueFK(t *testing.T) {
	db := openDB(t)
	var targets []string
	for _, r := range queryRows(t, db, `
		SELECT r.relname FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid
		 WHERE c.contype = 'f' AND c.conrelid = 'public.mission_test_mitre_tags'::regclass
		 ORDER BY 1`) {
		targets = append(targets, r[0])
	}
	for _, target := range targets {
		if strings.HasPrefix(target, "mitre_") {
			t.Errorf("mission_test_mitre_tags has a foreign key to %s", target)
		}
	}
	if !slices.Equal(targets, []string{"mission_tests"}) {
		t.Errorf("mission_test_mitre_tags references %v, want only [mission_tests]", targets)
	}
	// A tag naming a technique absent from the catalogue is stored.
	mission := insertID(t, db, `INSERT INTO missions (name) VALUES ('m') RETURNING id`)
	mt := insertID(t, db, `INSERT INTO mission_tests (mission_id, name, platforms) VALUES ($1, 't', '[]') RETURNING id`, mission)
	if _, err := db.Exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name)
		VALUES ($1, 'technique', 'T9999', 'Not in the catalogue')`, mt); err != nil {
		t.Fatalf("tag without catalogue entry refused: %v", err)
	}
}

func TestMigrationsAtHead(t *testing.T) {
	db := openDB(t)
	dir, err := migrations.Dir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no embedded migration files")
	}
	st, err := migration.ReadStatus(context.Background(), db, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.AtHead() {
		t.Fatalf("pending migrations: %v", st.Pending)
	}
	head := files[len(files)-1].Version()
	if st.Head != head || st.Current != head {
		t.Errorf("status current %q head %q, want both %q", st.Current, st.Head, head)
	}
	if st.Applied != len(files) {
		t.Errorf("%d revisions recorded, want %d", st.Applied, len(files))
	}
	if files[0].Version() != "20261126161406" {
		t.Errorf("first migration version %s, want 20261126161406 (the initial schema)", files[0].Version())
	}
}

// TestAuditEventsAreAppendOnly: whoever connects, the audit log can only
// grow; the trigger refuses UPDATE, DELETE and TRUNCATE.
func TestAuditEventsAreAppendOnly(t *testing.T) {
	db := openDB(t)
	if _, err := db.Exec(`INSERT INTO audit_events (action, target_label) VALUES ('login.failed', 'a@example.com')`); err != nil {
		t.Fatalf("insert refused: %v", err)
	}
	for _, stmt := range []string{
		`UPDATE audit_events SET action = 'x'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
	} {
		t.Run(stmt, func(t *testing.T) {
			_, err := db.Exec(stmt)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("err = %v, want the append-only refusal", err)
			}
		})
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'login.failed'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("audit rows = %d (%v), want the one inserted", n, err)
	}
}
