package seed_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/migration"
	"violet/internal/seed"
	"violet/internal/testkit/testdb"
	"violet/migrations"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// seededTables are the tables Ensure writes.
var seededTables = []string{"permissions", "groups", "group_permissions", "detection_levels", "settings"}

// snapshot returns every row of every seeded table as JSON text, in a
// stable order, timestamps included.
func snapshot(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	out := make(map[string][]string, len(seededTables))
	for _, table := range seededTables {
		out[table] = column(t, db, `SELECT to_jsonb(t)::text FROM `+table+` t ORDER BY 1`)
	}
	return out
}

// column returns the single text column of every row of q.
func column(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// groupCodes returns the sorted permission codes group name holds.
func groupCodes(t *testing.T, db *sql.DB, name string) []string {
	t.Helper()
	return column(t, db, `SELECT p.code FROM group_permissions gp
		JOIN groups g ON g.id = gp.group_id JOIN permissions p ON p.id = gp.permission_id
		WHERE g.name = $1 AND g.deleted_at IS NULL ORDER BY p.code`, name)
}

func allCodes() []string {
	var codes []string
	for _, p := range auth.Permissions() {
		codes = append(codes, string(p.Code))
	}
	slices.Sort(codes)
	return codes
}

func codesOf(perms []auth.Permission) []string {
	out := []string{}
	for _, p := range perms {
		out = append(out, string(p))
	}
	slices.Sort(out)
	return out
}

// defaultCodes returns the codes a system group holds by default.
func defaultCodes(t *testing.T, name string) []string {
	t.Helper()
	for _, g := range auth.SystemGroups() {
		if g.Name == name {
			if g.Permissions == nil {
				return allCodes()
			}
			return codesOf(g.Permissions)
		}
	}
	t.Fatalf("no system group %s", name)
	return nil
}

func ensure(t *testing.T, client *ent.Client) {
	t.Helper()
	if err := seed.Ensure(context.Background(), client); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
}

func TestEnsureTwiceChangesNothing(t *testing.T) {
	db, client, _ := testdb.Open(t)
	before := snapshot(t, db)
	for _, table := range seededTables {
		if len(before[table]) == 0 {
			t.Fatalf("%s is empty on a seeded database", table)
		}
	}
	ensure(t, client)
	ensure(t, client)
	after := snapshot(t, db)
	for _, table := range seededTables {
		t.Run(table, func(t *testing.T) {
			if len(after[table]) != len(before[table]) {
				t.Fatalf("%d rows after re-seeding, %d before", len(after[table]), len(before[table]))
			}
			if !slices.Equal(after[table], before[table]) {
				t.Fatalf("rows changed by re-seeding:\nbefore %v\nafter  %v", before[table], after[table])
			}
		})
	}
}

func TestPermissionsMatchCode(t *testing.T) {
	db, _, _ := testdb.Open(t)
	want := map[string]string{}
	for _, p := range auth.Permissions() {
		if _, dup := want[string(p.Code)]; dup {
			t.Fatalf("auth.Permissions() lists %s twice", p.Code)
		}
		want[string(p.Code)] = p.Description
	}
	rows, err := db.Query(`SELECT code, description FROM permissions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var code, desc string
		if err := rows.Scan(&code, &desc); err != nil {
			t.Fatal(err)
		}
		got[code] = desc
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("permissions table\n%v\nwant auth.Permissions()\n%v", got, want)
	}
}

func TestSystemGroups(t *testing.T) {
	db, _, _ := testdb.Open(t)
	groups := auth.SystemGroups()
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	if want := []string{"admin", "blueteam", "observer", "redteam"}; !slices.Equal(names, want) {
		t.Fatalf("auth.SystemGroups() names %v, want %v", names, want)
	}
	if got := column(t, db, `SELECT name FROM groups WHERE deleted_at IS NULL ORDER BY name`); !slices.Equal(got, names) {
		t.Fatalf("groups %v, want %v", got, names)
	}
	for _, g := range groups {
		t.Run(g.Name, func(t *testing.T) {
			var desc string
			var system bool
			if err := db.QueryRow(`SELECT description, is_system FROM groups WHERE name = $1`, g.Name).Scan(&desc, &system); err != nil {
				t.Fatal(err)
			}
			if !system || desc != g.Description {
				t.Errorf("is_system %v description %q, want true %q", system, desc, g.Description)
			}
			want := defaultCodes(t, g.Name)
			if g.Name == auth.GroupAdmin && !slices.Equal(want, allCodes()) {
				t.Fatal("admin's default is not every permission")
			}
			if got := groupCodes(t, db, g.Name); !slices.Equal(got, want) {
				t.Errorf("holds %v\nwant %v", got, want)
			}
		})
	}
}

func TestDetectionLevels(t *testing.T) {
	db, _, _ := testdb.Open(t)
	type level struct {
		name     string
		score    int
		colour   string
		position int
		detected bool
	}
	want := []level{
		{"Blocked", 100, "#15803d", 0, true},
		{"Alerted", 75, "#2563eb", 1, true},
		{"Logged", 25, "#ca8a04", 2, false},
		{"Not detected", 0, "#b91c1c", 3, false},
	}
	rows, err := db.Query(`SELECT name, score, colour, position, counts_as_detected
		FROM detection_levels ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []level
	for rows.Next() {
		var l level
		if err := rows.Scan(&l.name, &l.score, &l.colour, &l.position, &l.detected); err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("detection levels\n%+v\nwant\n%+v", got, want)
	}
	if defaults := seed.DetectionLevels(); len(defaults) != len(want) {
		t.Errorf("seed.DetectionLevels() has %d levels, want %d", len(defaults), len(want))
	}
}

// wantSettings is every default setting with its JSON value, written out.
var wantSettings = map[string]string{
	"session.idle_timeout_minutes":    `120`,
	"session.absolute_timeout_hours":  `12`,
	"invitation.default_expiry_hours": `72`,
	"evidence.max_upload_bytes":       `52428800`,
	"attack.source_url":               `"https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack.json"`,
	"instance.organisation_name":      `""`,
	"instance.default_locale":         `"en"`,
	"sso_required":                    `false`,
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestDefaultSettings(t *testing.T) {
	db, _, _ := testdb.Open(t)
	defaults := seed.Settings()
	if len(defaults) != len(wantSettings) {
		t.Errorf("seed.Settings() has %d keys, want %d", len(defaults), len(wantSettings))
	}
	if n := count(t, db, `SELECT count(*) FROM settings`); n != len(wantSettings) {
		t.Errorf("%d settings rows, want %d", n, len(wantSettings))
	}
	for key, want := range wantSettings {
		t.Run(key, func(t *testing.T) {
			def, ok := defaults[key]
			if !ok {
				t.Fatalf("seed.Settings() lacks %s", key)
			}
			b, err := json.Marshal(def)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, string(b), want) {
				t.Errorf("seed.Settings()[%s] = %s, want %s", key, b, want)
			}
			var got string
			if err := db.QueryRow(`SELECT value::text FROM settings WHERE key = $1`, key).Scan(&got); err != nil {
				t.Fatalf("setting %s: %v", key, err)
			}
			if !jsonEqual(t, got, want) {
				t.Errorf("value %s, want %s", got, want)
			}
		})
	}
}

func TestAdminChangesSurviveReseed(t *testing.T) {
	db, client, _ := testdb.Open(t)
	const (
		setting   = "session.idle_timeout_minutes"
		revoked   = string(auth.MissionCreate)
		reGranted = string(auth.UserManage)
	)
	// The admin's changes.
	if n := exec(t, db, `UPDATE settings SET value = '30' WHERE key = $1`, setting); n != 1 {
		t.Fatalf("updated %d settings", n)
	}
	removeGrant := `DELETE FROM group_permissions WHERE
		group_id = (SELECT id FROM groups WHERE name = $1) AND
		permission_id = (SELECT id FROM permissions WHERE code = $2)`
	if n := exec(t, db, removeGrant, auth.GroupRedTeam, revoked); n != 1 {
		t.Fatalf("removed %d grants from redteam", n)
	}
	if n := exec(t, db, removeGrant, auth.GroupAdmin, reGranted); n != 1 {
		t.Fatalf("removed %d grants from admin", n)
	}
	if n := exec(t, db, `UPDATE detection_levels SET name = 'Telemetry only', score = 30 WHERE name = 'Logged'`); n != 1 {
		t.Fatalf("updated %d detection levels", n)
	}
	if n := exec(t, db, `DELETE FROM settings WHERE key = $1`, seed.SettingAttackSourceURL); n != 1 {
		t.Fatalf("deleted %d settings", n)
	}
	if n := exec(t, db, `UPDATE permissions SET description = 'stale' WHERE code = $1`, auth.AttackSync); n != 1 {
		t.Fatalf("updated %d permissions", n)
	}

	ensure(t, client)

	t.Run("changed setting value kept", func(t *testing.T) {
		var v string
		if err := db.QueryRow(`SELECT value::text FROM settings WHERE key = $1`, setting).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != "30" {
			t.Errorf("%s = %s after re-seed, want the admin's 30", setting, v)
		}
	})
	t.Run("permission removed from redteam stays removed", func(t *testing.T) {
		got := groupCodes(t, db, auth.GroupRedTeam)
		if slices.Contains(got, revoked) {
			t.Errorf("redteam was given %s back", revoked)
		}
		want := slices.DeleteFunc(defaultCodes(t, auth.GroupRedTeam), func(c string) bool { return c == revoked })
		if !slices.Equal(got, want) {
			t.Errorf("redteam holds %v, want %v", got, want)
		}
	})
	t.Run("permission removed from admin is re-granted", func(t *testing.T) {
		if got := groupCodes(t, db, auth.GroupAdmin); !slices.Equal(got, allCodes()) {
			t.Errorf("admin holds %v, want every permission", got)
		}
	})
	t.Run("other groups untouched", func(t *testing.T) {
		for _, g := range []string{auth.GroupBlueTeam, auth.GroupObserver} {
			if got, want := groupCodes(t, db, g), defaultCodes(t, g); !slices.Equal(got, want) {
				t.Errorf("%s holds %v, want %v", g, got, want)
			}
		}
	})
	t.Run("edited detection scale kept", func(t *testing.T) {
		got := column(t, db, `SELECT name || ':' || score FROM detection_levels ORDER BY position`)
		want := []string{"Blocked:100", "Alerted:75", "Telemetry only:30", "Not detected:0"}
		if !slices.Equal(got, want) {
			t.Errorf("detection levels %v, want %v", got, want)
		}
	})
	t.Run("missing setting restored with its default", func(t *testing.T) {
		var v string
		if err := db.QueryRow(`SELECT value::text FROM settings WHERE key = $1`, seed.SettingAttackSourceURL).Scan(&v); err != nil {
			t.Fatalf("setting %s not restored: %v", seed.SettingAttackSourceURL, err)
		}
		if !jsonEqual(t, v, wantSettings[seed.SettingAttackSourceURL]) {
			t.Errorf("restored value %s, want %s", v, wantSettings[seed.SettingAttackSourceURL])
		}
	})
	t.Run("permission description refreshed from code", func(t *testing.T) {
		var desc string
		if err := db.QueryRow(`SELECT description FROM permissions WHERE code = $1`, auth.AttackSync).Scan(&desc); err != nil {
			t.Fatal(err)
		}
		for _, p := range auth.Permissions() {
			if p.Code == auth.AttackSync && desc != p.Description {
				t.Errorf("description %q, want %q", desc, p.Description)
			}
		}
	})
}

func TestConcurrentEnsureOnFreshDatabase(t *testing.T) {
	const instances = 4
	for round := range 3 {
		t.Run(fmt.Sprintf("round %d", round+1), func(t *testing.T) {
			ctx := context.Background()
			url := testdb.EmptyURL(t)
			db, client, err := database.Open(url, 4)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close() })
			dir, err := migrations.Dir()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := migration.Apply(ctx, db, dir, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			if n := count(t, db, `SELECT count(*) FROM permissions`); n != 0 {
				t.Fatalf("%d permissions before seeding, want 0", n)
			}

			// One client per goroutine, as separate instances would have.
			clients := make([]*ent.Client, instances)
			for i := range clients {
				_, c, err := database.Open(url, 2)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				clients[i] = c
			}
			start := make(chan struct{})
			errs := make([]error, instances)
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Go(func() {
					<-start
					errs[i] = seed.Ensure(ctx, c)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Ensure #%d: %v", i, err)
				}
			}

			checks := []struct {
				name  string
				query string
				want  int
			}{
				{"permissions", `SELECT count(*) FROM permissions`, len(auth.Permissions())},
				{"distinct permission codes", `SELECT count(DISTINCT code) FROM permissions`, len(auth.Permissions())},
				{"groups", `SELECT count(*) FROM groups`, len(auth.SystemGroups())},
				{"distinct group names", `SELECT count(DISTINCT name) FROM groups`, len(auth.SystemGroups())},
				{"detection levels", `SELECT count(*) FROM detection_levels`, len(seed.DetectionLevels())},
				{"distinct detection level names", `SELECT count(DISTINCT name) FROM detection_levels`, len(seed.DetectionLevels())},
				{"settings", `SELECT count(*) FROM settings`, len(seed.Settings())},
				{"distinct setting keys", `SELECT count(DISTINCT key) FROM settings`, len(seed.Settings())},
			}
			for _, c := range checks {
				if got := count(t, db, c.query); got != c.want {
					t.Errorf("%s: %d, want %d", c.name, got, c.want)
				}
			}
			for _, g := range auth.SystemGroups() {
				if got, want := groupCodes(t, db, g.Name), defaultCodes(t, g.Name); !slices.Equal(got, want) {
					t.Errorf("%s holds %v, want %v", g.Name, got, want)
				}
			}
		})
	}
}

// TestUnknownCodesAreLeftAlone: a code this binary does not know may come
// from a newer release running beside it (a rolling deploy); seeding must
// neither delete it nor take its grants away.
func TestUnknownCodesAreLeftAlone(t *testing.T) {
	db, client, _ := testdb.Open(t)
	exec(t, db, `INSERT INTO permissions (code, description) VALUES ('future.thing', 'from a newer release')`)
	exec(t, db, `INSERT INTO group_permissions (group_id, permission_id)
		SELECT g.id, p.id FROM groups g, permissions p WHERE g.name = 'observer' AND p.code = 'future.thing'`)
	ensure(t, client)
	if n := count(t, db, `SELECT count(*) FROM permissions WHERE code = 'future.thing'`); n != 1 {
		t.Errorf("unknown permission deleted (%d rows)", n)
	}
	if n := count(t, db, `SELECT count(*) FROM group_permissions gp JOIN permissions p ON p.id = gp.permission_id
		JOIN groups g ON g.id = gp.group_id WHERE g.name = 'observer' AND p.code = 'future.thing'`); n != 1 {
		t.Error("the grant of the unknown permission was taken away")
	}
}

// TestSoftDeletedSystemGroupIsRestored: seeding never creates a second
// group with a system group's name.
func TestSoftDeletedSystemGroupIsRestored(t *testing.T) {
	db, client, _ := testdb.Open(t)
	exec(t, db, `UPDATE groups SET deleted_at = now() WHERE name = 'blueteam'`)
	ensure(t, client)
	if n := count(t, db, `SELECT count(*) FROM groups WHERE name = 'blueteam'`); n != 1 {
		t.Errorf("%d blueteam rows, want the one restored", n)
	}
	if n := count(t, db, `SELECT count(*) FROM groups WHERE name = 'blueteam' AND deleted_at IS NULL AND is_system`); n != 1 {
		t.Error("blueteam not restored")
	}
}

// TestUpgradeGrantsNewPermissions: a permission code new to the database
// (here: removed, as if the previous release did not have it) is granted
// on the next seed to the existing system groups whose defaults hold it,
// and only to them; grants an admin removed from older codes stay removed.
func TestUpgradeGrantsNewPermissions(t *testing.T) {
	db, client, _ := testdb.Open(t)
	const removedByAdmin = string(auth.MissionCreate)
	if n := exec(t, db, `DELETE FROM group_permissions WHERE
		group_id = (SELECT id FROM groups WHERE name = $1) AND
		permission_id = (SELECT id FROM permissions WHERE code = $2)`, auth.GroupRedTeam, removedByAdmin); n != 1 {
		t.Fatalf("removed %d grants", n)
	}
	// The "previous release": no template.read at all.
	exec(t, db, `DELETE FROM group_permissions WHERE permission_id = (SELECT id FROM permissions WHERE code = $1)`, string(auth.TemplateRead))
	if n := exec(t, db, `DELETE FROM permissions WHERE code = $1`, string(auth.TemplateRead)); n != 1 {
		t.Fatalf("deleted %d permissions", n)
	}
	if err := seed.Ensure(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	holders := func(code string) string {
		t.Helper()
		var s string
		if err := db.QueryRow(`SELECT coalesce(string_agg(g.name, ',' ORDER BY g.name), '') FROM groups g
			JOIN group_permissions gp ON gp.group_id = g.id JOIN permissions p ON p.id = gp.permission_id
			WHERE p.code = $1`, code).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var want []string
	for _, g := range auth.SystemGroups() {
		if g.Permissions == nil || slices.Contains(g.Permissions, auth.TemplateRead) {
			want = append(want, g.Name)
		}
	}
	slices.Sort(want)
	if got := holders(string(auth.TemplateRead)); got != strings.Join(want, ",") {
		t.Errorf("template.read held by %q after the upgrade, want %q", got, strings.Join(want, ","))
	}
	if strings.Contains(holders(removedByAdmin), auth.GroupRedTeam) {
		t.Error("a grant the admin removed came back")
	}
}
