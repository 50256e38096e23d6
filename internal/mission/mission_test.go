package mission_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/privacy"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	msn "violet/internal/mission"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world is a mission with a member of each role, a catalogue of three
// entries and a scenario template of three tests.
type world struct {
	db       *sql.DB
	client   *ent.Client
	mission  uuid.UUID
	users    map[string]uuid.UUID
	scenario uuid.UUID
	tpl      []uuid.UUID
}

var rolePerms = map[string][]auth.Permission{
	"lead":     {auth.MissionRead, auth.MissionCreate, auth.MissionTestRedWrite},
	"red":      {auth.MissionRead, auth.MissionTestRedWrite},
	"blue":     {auth.MissionRead, auth.MissionTestBlueWrite},
	"observer": {auth.MissionRead},
	"outsider": {auth.MissionRead, auth.MissionTestRedWrite, auth.MissionTestBlueWrite},
	"admin":    {auth.MissionRead, auth.MissionReadAll, auth.MissionManage},
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	w := &world{db: db, client: client, users: map[string]uuid.UUID{}}
	for role := range rolePerms {
		w.users[role] = client.User.Create().SetEmail(role + "@example.com").SetDisplayName(role).SetPasswordHash("x").SaveX(sys).ID
	}
	w.mission = client.Mission.Create().SetName("Operation Violet").SaveX(sys).ID
	for _, role := range []string{"lead", "red", "blue", "observer"} {
		client.MissionMember.Create().SetMissionID(w.mission).SetUserID(w.users[role]).SetRole(missionmember.Role(role)).ExecX(sys)
	}
	exec := func(q string, args ...any) {
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO mitre_tactics (stix_id, external_id, name, shortname, position, platforms)
		VALUES ('x-mitre-tactic--1', 'TA0002', 'Execution', 'execution', 0, '[]'),
		       ('x-mitre-tactic--2', 'TA0006', 'Credential Access', 'credential-access', 1, '[]')`)
	exec(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms) VALUES ('attack-pattern--1', 'T1059', 'Command and Scripting Interpreter', '[]')`)
	exec(`INSERT INTO mitre_technique_tactics SELECT t.id, a.id FROM mitre_techniques t, mitre_tactics a WHERE a.external_id = 'TA0002'`)
	exec(`INSERT INTO mitre_subtechniques (stix_id, external_id, name, technique_id, platforms)
		SELECT 'attack-pattern--2', 'T1059.001', 'PowerShell', id, '[]' FROM mitre_techniques`)
	for i, name := range []string{"Run PowerShell", "Run a script", "Dump credentials"} {
		id := uuid.New()
		exec(`INSERT INTO test_templates (id, name, procedure, platforms, opsec_level) VALUES ($1, $2, 'do it', '["Windows"]', 'high')`, id, name)
		switch i {
		case 0:
			exec(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) SELECT $1, id FROM mitre_subtechniques`, id)
		case 1:
			exec(`INSERT INTO test_template_mitre_tags (test_template_id, technique_id) SELECT $1, id FROM mitre_techniques`, id)
		case 2:
			exec(`INSERT INTO test_template_mitre_tags (test_template_id, tactic_id) SELECT $1, id FROM mitre_tactics WHERE external_id = 'TA0006'`, id)
		}
		w.tpl = append(w.tpl, id)
	}
	w.scenario = uuid.New()
	exec(`INSERT INTO scenario_templates (id, name, description) VALUES ($1, 'Initial foothold', 'Three steps')`, w.scenario)
	for i, id := range []uuid.UUID{w.tpl[0], w.tpl[1], w.tpl[2], w.tpl[0]} {
		exec(`INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position) VALUES ($1, $2, $3)`, w.scenario, id, i)
	}
	return w
}

func (w *world) as(role string) context.Context {
	codes := []string{}
	for _, p := range rolePerms[role] {
		codes = append(codes, string(p))
	}
	return auth.NewContext(context.Background(), auth.NewViewer(w.users[role], role+"@example.com", role, "en", uuid.New(), nil, codes))
}

func (w *world) access(t *testing.T, role string) *msn.Access {
	t.Helper()
	ctx := w.as(role)
	a, err := msn.Load(ctx, w.client, auth.FromContext(ctx), w.mission)
	if err != nil {
		t.Fatalf("%s: %v", role, err)
	}
	return a
}

// inProgress moves the mission in progress, where its tests may start.
func (w *world) inProgress(t *testing.T) {
	t.Helper()
	w.client.Mission.UpdateOneID(w.mission).SetStatus(mission.StatusInProgress).ExecX(rule.SystemContext(context.Background()))
}

func (w *world) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoadHidesMissionsFromOutsiders(t *testing.T) {
	w := setup(t)
	ctx := w.as("outsider")
	if _, err := msn.Load(ctx, w.client, auth.FromContext(ctx), w.mission); !ent.IsNotFound(err) {
		t.Errorf("outsider: %v, want not found", err)
	}
	if _, err := msn.Load(ctx, w.client, auth.FromContext(ctx), uuid.New()); !ent.IsNotFound(err) {
		t.Errorf("missing mission: %v", err)
	}
	if a := w.access(t, "admin"); a.Role != "" || !a.CanManage() {
		t.Errorf("admin access %+v", a)
	}
}

func TestInstantiate(t *testing.T) {
	w := setup(t)
	created, err := msn.Instantiate(w.as("lead"), w.client, w.access(t, "lead"), []uuid.UUID{w.scenario})
	if err != nil || len(created) != 1 {
		t.Fatal(created, err)
	}
	if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE mission_id = $1 AND mission_scenario_id = $2`, w.mission, created[0]); n != 4 {
		t.Errorf("%d tests copied, want 4 (one template twice)", n)
	}
	var tactics string
	if err := w.db.QueryRow(`SELECT g.tactics::text FROM mission_test_mitre_tags g WHERE g.external_id = 'T1059.001' LIMIT 1`).Scan(&tactics); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tactics, `"TA0002"`) || !strings.Contains(tactics, `"execution"`) {
		t.Errorf("a sub-technique's tag carries its parent's tactics, got %s", tactics)
	}
	if n := w.count(t, `SELECT count(*) FROM mission_test_mitre_tags`); n != 4 {
		t.Errorf("%d tags copied, want 4", n)
	}
	if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE opsec_level = 'high' AND procedure = 'do it'`); n != 4 {
		t.Errorf("content not copied (%d)", n)
	}
	t.Run("later edits and syncs never rewrite the mission", func(t *testing.T) {
		w.db.Exec(`UPDATE test_templates SET name = 'changed', procedure = 'other'`)
		w.db.Exec(`UPDATE mitre_subtechniques SET name = 'Renamed'`)
		w.db.Exec(`DELETE FROM test_template_mitre_tags`)
		if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE name = 'Run PowerShell' AND procedure = 'do it'`); n != 2 {
			t.Errorf("mission tests changed with their template")
		}
		if n := w.count(t, `SELECT count(*) FROM mission_test_mitre_tags WHERE name = 'PowerShell'`); n != 2 {
			t.Errorf("mission tags changed with the catalogue")
		}
	})
	t.Run("only leads", func(t *testing.T) {
		for _, role := range []string{"red", "blue", "observer"} {
			if _, err := msn.Instantiate(w.as(role), w.client, w.access(t, role), []uuid.UUID{w.scenario}); !errors.Is(err, msn.ErrForbidden) {
				t.Errorf("%s: %v", role, err)
			}
		}
	})
	t.Run("unknown scenario", func(t *testing.T) {
		if _, err := msn.Instantiate(w.as("lead"), w.client, w.access(t, "lead"), []uuid.UUID{uuid.New()}); !ent.IsNotFound(err) {
			t.Errorf("%v", err)
		}
	})
}

// TestInstantiateAllOrNothing: an instantiation failing at its 7th insert
// leaves no row behind.
func TestInstantiateAllOrNothing(t *testing.T) {
	w := setup(t)
	// Two copies of the scenario: 8 tests. A trigger refuses the 7th.
	if _, err := w.db.Exec(`CREATE FUNCTION fail_seventh() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF (SELECT count(*) FROM mission_tests WHERE mission_id = NEW.mission_id) >= 6 THEN
				RAISE EXCEPTION 'injected failure';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER fail_seventh BEFORE INSERT ON mission_tests FOR EACH ROW EXECUTE FUNCTION fail_seventh();`); err != nil {
		t.Fatal(err)
	}
	second := uuid.New()
	w.db.Exec(`INSERT INTO scenario_templates (id, name) VALUES ($1, 'Again')`, second)
	w.db.Exec(`INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position)
		SELECT $1, test_template_id, position FROM scenario_template_tests WHERE scenario_template_id = $2`, second, w.scenario)
	_, err := msn.Instantiate(w.as("lead"), w.client, w.access(t, "lead"), []uuid.UUID{w.scenario, second})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err = %v", err)
	}
	for _, table := range []string{"mission_scenarios", "mission_tests", "mission_test_mitre_tags"} {
		if n := w.count(t, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s: %d rows after a failed instantiation", table, n)
		}
	}
}

func TestStatusTransitions(t *testing.T) {
	w := setup(t)
	lead := w.access(t, "lead")
	move := func(a *msn.Access, to mission.Status) error {
		return msn.Transition(w.as(a.Viewer.Email[:strings.Index(a.Viewer.Email, "@")]), w.client, a, to)
	}
	steps := []struct {
		name string
		a    *msn.Access
		to   mission.Status
		want string // "" ok, else part of the error
	}{
		{"red cannot move it", w.access(t, "red"), mission.StatusPlanned, "does not allow"},
		{"planned needs a test", lead, mission.StatusPlanned, "at least one test"},
		{"draft cannot jump to in progress", lead, mission.StatusInProgress, "cannot become"},
	}
	for _, st := range steps {
		if err := move(st.a, st.to); err == nil || !strings.Contains(err.Error(), st.want) {
			t.Errorf("%s: %v", st.name, err)
		}
	}
	if _, err := msn.Instantiate(w.as("lead"), w.client, lead, []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []mission.Status{mission.StatusPlanned, mission.StatusInProgress} {
		if err := move(lead, to); err != nil {
			t.Fatalf("→ %s: %v", to, err)
		}
	}
	if err := move(lead, mission.StatusCompleted); err == nil || !strings.Contains(err.Error(), "not reviewed, skipped or blocked") {
		t.Errorf("completing with open tests: %v", err)
	}
	w.db.Exec(`UPDATE mission_tests SET state = 'skipped'`)
	for _, to := range []mission.Status{mission.StatusCompleted, mission.StatusArchived} {
		if err := move(lead, to); err != nil {
			t.Fatalf("→ %s: %v", to, err)
		}
	}
	t.Run("archived is read-only", func(t *testing.T) {
		a := w.access(t, "lead")
		if _, err := msn.Instantiate(w.as("lead"), w.client, a, []uuid.UUID{w.scenario}); !errors.Is(err, msn.ErrReadOnly) {
			t.Errorf("instantiate in an archived mission: %v", err)
		}
		var id uuid.UUID
		w.db.QueryRow(`SELECT id FROM mission_tests LIMIT 1`).Scan(&id)
		if _, err := msn.SaveRed(w.as("lead"), w.client, a, id, 1, msn.RedFields{Command: "x"}); !errors.Is(err, msn.ErrReadOnly) {
			t.Errorf("save in an archived mission: %v", err)
		}
	})
	t.Run("a lead reopens", func(t *testing.T) {
		a := w.access(t, "lead")
		for _, to := range []mission.Status{mission.StatusCompleted, mission.StatusInProgress} {
			if err := msn.Transition(w.as("lead"), w.client, a, to); err != nil {
				t.Fatalf("→ %s: %v", to, err)
			}
		}
	})
}

func TestTestStateMachine(t *testing.T) {
	w := setup(t)
	lead := w.access(t, "lead")
	if _, err := msn.Instantiate(w.as("lead"), w.client, lead, []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	w.db.QueryRow(`SELECT id FROM mission_tests ORDER BY position LIMIT 1`).Scan(&id)
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	// A test starts only in a mission in progress: not in a draft.
	if _, err := msn.Start(w.as("red"), w.client, w.access(t, "red"), id, 1, now); !errors.Is(err, msn.ErrNotInProgress) || !msn.IsState(err) {
		t.Errorf("starting a test of a draft mission: %v, want ErrNotInProgress", err)
	}
	w.inProgress(t)
	red, blue, obs := w.access(t, "red"), w.access(t, "blue"), w.access(t, "observer")
	rctx, bctx := w.as("red"), w.as("blue")
	v := 1
	var err error
	step := func(name string, f func() (int, error)) {
		t.Helper()
		if v, err = f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := msn.Stop(rctx, w.client, red, id, v, now); !msn.IsState(err) {
		t.Errorf("stopping a pending test: %v", err)
	}
	if _, err := msn.Start(w.as("observer"), w.client, obs, id, v, now); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("observer starting: %v", err)
	}
	if _, err := msn.SaveBlue(bctx, w.client, blue, id, v, msn.BlueFields{AlertName: "x"}, now); !ent.IsNotFound(err) {
		t.Errorf("blue on an unreleased test: %v, want not found", err)
	}
	step("start", func() (int, error) { return msn.Start(rctx, w.client, red, id, v, now) })
	step("save red", func() (int, error) {
		return msn.SaveRed(rctx, w.client, red, id, v, msn.RedFields{Command: "powershell -enc …", SourceHost: "ws01", TargetHost: "dc01"})
	})
	if _, err := msn.SaveRed(rctx, w.client, red, id, v-1, msn.RedFields{Command: "stale"}); !errors.Is(err, msn.ErrConflict) {
		t.Errorf("stale save: %v", err)
	}
	step("stop", func() (int, error) { return msn.Stop(rctx, w.client, red, id, v, now.Add(5*time.Minute)) })
	step("release", func() (int, error) { return msn.Release(rctx, w.client, red, id, v) })
	var level uuid.UUID
	w.db.QueryRow(`SELECT id FROM detection_levels WHERE name = 'Alerted'`).Scan(&level)
	detected := now.Add(12 * time.Minute)
	step("save blue", func() (int, error) {
		return msn.SaveBlue(bctx, w.client, blue, id, v, msn.BlueFields{DetectionLevelID: &level, DetectedAt: &detected, AlertName: "PowerShell encoded"}, now.Add(time.Hour))
	})
	if _, err := msn.Review(rctx, w.client, red, id, v, now); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("red reviewing: %v", err)
	}
	step("review", func() (int, error) { return msn.Review(w.as("lead"), w.client, lead, id, v, now.Add(time.Hour)) })
	if n := w.count(t, `SELECT count(*) FROM mission_tests WHERE id = $1 AND state = 'reviewed' AND version = $2
		AND command = 'powershell -enc …' AND alert_name = 'PowerShell encoded' AND reviewed_by_id = $3`, id, v, w.users["lead"]); n != 1 {
		t.Error("the test does not hold what was recorded")
	}
	step("reopen", func() (int, error) { return msn.Reopen(w.as("lead"), w.client, lead, id, v) })
	t.Run("skipped and blocked need pending or running", func(t *testing.T) {
		var other uuid.UUID
		w.db.QueryRow(`SELECT id FROM mission_tests ORDER BY position OFFSET 1 LIMIT 1`).Scan(&other)
		if _, err := msn.SetAside(rctx, w.client, red, other, 1, missiontest.StateBlocked, "no VPN"); err != nil {
			t.Fatal(err)
		}
		if _, err := msn.SetAside(rctx, w.client, red, id, v, missiontest.StateSkipped, "x"); !msn.IsState(err) {
			t.Errorf("skipping an executed test: %v", err)
		}
	})
	t.Run("field-level rules below the workflow", func(t *testing.T) {
		// A red member going around the workflow to write a blue field.
		err := w.client.MissionTest.UpdateOneID(id).SetAlertName("forged").Exec(rctx)
		if !errors.Is(err, privacy.Deny) {
			t.Errorf("red writing a blue field directly: %v", err)
		}
	})
}

func TestFigures(t *testing.T) {
	w := setup(t)
	lead := w.access(t, "lead")
	if _, err := msn.Instantiate(w.as("lead"), w.client, lead, []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	levels := map[string]uuid.UUID{}
	rows, _ := w.db.Query(`SELECT name, id FROM detection_levels`)
	for rows.Next() {
		var n string
		var id uuid.UUID
		rows.Scan(&n, &id)
		levels[n] = id
	}
	rows.Close()
	// Tests by position: 0 PowerShell (T1059.001→TA0002), 1 script
	// (T1059→TA0002), 2 credentials (TA0006), 3 PowerShell again.
	set := func(pos int, state, level string, startMin, detectMin int, released bool) {
		_, err := w.db.Exec(`UPDATE mission_tests SET state = $2, detection_level_id = $3,
			started_at = $4::timestamptz, detected_at = $5::timestamptz, released_to_blue = $6 WHERE position = $1`,
			pos, state, nullable(levels, level), ts(startMin), ts(detectMin), released)
		if err != nil {
			t.Fatal(err)
		}
	}
	set(0, "reviewed", "Alerted", 0, 10, true)
	set(1, "executed", "Not detected", 0, -1, true)
	set(2, "reviewed", "Blocked", 0, 30, true)
	set(3, "pending", "", -1, -1, false)
	f, err := msn.ComputeFigures(context.Background(), w.db, w.mission, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Total != 4 || f.Executed != 3 || f.Reviewed != 2 || f.Rated != 3 || f.Detected != 2 || f.Rate() != 67 {
		t.Errorf("figures %+v rate %d", f, f.Rate())
	}
	if f.MedianTimeToDetect != 20*time.Minute || f.TimedDetections != 2 {
		t.Errorf("median time to detect %v over %d", f.MedianTimeToDetect, f.TimedDetections)
	}
	want := map[string][3]int{"TA0002": {2, 1, 50}, "TA0006": {1, 1, 100}}
	if len(f.PerTactic) != 2 {
		t.Fatalf("per tactic %+v", f.PerTactic)
	}
	for _, tf := range f.PerTactic {
		if w := want[tf.ID]; tf.Rated != w[0] || tf.Detected != w[1] || tf.Rate() != w[2] {
			t.Errorf("%s: %+v rate %d, want %v", tf.ID, tf, tf.Rate(), w)
		}
	}
	blue, err := msn.ComputeFigures(context.Background(), w.db, w.mission, true)
	if err != nil || blue.Total != 3 {
		t.Errorf("released only: %+v %v", blue, err)
	}
}

func nullable(levels map[string]uuid.UUID, name string) any {
	if name == "" {
		return nil
	}
	return levels[name]
}

func ts(min int) any {
	if min < 0 {
		return nil
	}
	return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute).Format(time.RFC3339)
}

// TestDetectionTimeRule: the workflow itself refuses a detection time
// before the run started or beyond the clock skew ahead of now, whoever
// calls it; the bounds are inclusive to the minute.
func TestDetectionTimeRule(t *testing.T) {
	start := time.Date(2026, 3, 14, 9, 30, 40, 0, time.UTC)
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at      time.Time
		started *time.Time
		want    error
	}{
		{time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), &start, nil}, // the start's minute
		{time.Date(2026, 3, 14, 9, 29, 0, 0, time.UTC), &start, msn.ErrDetectedBeforeStart},
		{now.Add(msn.DetectionSkew), &start, nil},
		{now.Add(msn.DetectionSkew + time.Minute), &start, msn.ErrDetectedInFuture},
		{now.Add(2 * time.Hour), nil, msn.ErrDetectedInFuture},
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), nil, nil}, // not started: no lower bound
	} {
		if err := msn.CheckDetectedAt(tc.at, tc.started, now); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("detected %v, started %v: %v, want %v", tc.at, tc.started, err, tc.want)
		}
	}

	w := setup(t)
	sys := rule.SystemContext(context.Background())
	id := w.client.MissionTest.Create().SetMissionID(w.mission).SetName("Run").SetState(missiontest.StateExecuted).
		SetStartedAt(start).SetReleasedToBlue(true).SaveX(sys).ID
	blue, bctx := w.access(t, "blue"), w.as("blue")
	for _, at := range []time.Time{start.Add(-time.Minute), now.Add(time.Hour)} {
		if _, err := msn.SaveBlue(bctx, w.client, blue, id, 1, msn.BlueFields{DetectedAt: &at, AlertName: "x"}, now); err == nil {
			t.Errorf("detected at %v saved", at)
		}
	}
	if got := w.client.MissionTest.GetX(sys, id); got.Version != 1 || got.DetectedAt != nil || got.AlertName != "" {
		t.Errorf("a refused detection time changed the test: v%d %v %q", got.Version, got.DetectedAt, got.AlertName)
	}
	at := now.Add(4 * time.Minute)
	if v, err := msn.SaveBlue(bctx, w.client, blue, id, 1, msn.BlueFields{DetectedAt: &at}, now); err != nil || v != 2 {
		t.Errorf("detection within the skew: v%d %v", v, err)
	}
}
