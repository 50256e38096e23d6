package home_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/home"
	"violet/internal/testkit/testdb"
	view "violet/views/home"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world: Alpha (in progress) with a lead, two red members and a blue one,
// and a test in each state the queues tell apart; Bravo (a draft), Delta
// (completed last week) and Charlie (completed two months ago) of the
// first red member; Echo (in progress) of nobody here.
type world struct {
	db     *sql.DB
	client *ent.Client
	users  map[string]uuid.UUID
	tests  map[string]uuid.UUID
	alpha  uuid.UUID
	now    time.Time
}

var perms = map[string][]auth.Permission{
	"lead":  {auth.MissionRead, auth.MissionCreate},
	"red":   {auth.MissionRead, auth.MissionTestRedWrite},
	"red2":  {auth.MissionRead, auth.MissionTestRedWrite},
	"blue":  {auth.MissionRead, auth.MissionTestBlueWrite},
	"admin": {auth.MissionRead, auth.SettingsManage, auth.AttackSync, auth.TemplateWrite},
	"none":  {auth.MissionRead},
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	w := &world{db: db, client: client, users: map[string]uuid.UUID{}, tests: map[string]uuid.UUID{}, now: time.Now()}
	id := func(q string, args ...any) uuid.UUID {
		t.Helper()
		var v uuid.UUID
		if err := db.QueryRow(q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for name := range perms {
		w.users[name] = id(`INSERT INTO users (email, password_hash, display_name) VALUES ($1, 'x', $2) RETURNING id`,
			name+"@example.com", "User "+name)
	}
	mission := func(name, status string, age time.Duration, members ...string) uuid.UUID {
		m := id(`INSERT INTO missions (name, status, updated_at) VALUES ($1, $2, $3) RETURNING id`, name, status, w.now.Add(-age))
		for i := 0; i < len(members); i += 2 {
			exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, $3)`, m, w.users[members[i]], members[i+1])
		}
		return m
	}
	w.alpha = mission("Alpha", "in_progress", 0, "lead", "lead", "red", "red", "red2", "red", "blue", "blue")
	bravo := mission("Bravo", "draft", 0, "red", "red")
	mission("Charlie", "completed", 60*24*time.Hour, "red", "red")
	mission("Delta", "completed", 7*24*time.Hour, "red", "red")
	echo := mission("Echo", "in_progress", 0, "lead", "observer")
	level := id(`SELECT id FROM detection_levels ORDER BY position LIMIT 1`)
	test := func(m uuid.UUID, name, state string, released bool, assignee string, age int, extra string) {
		var who any
		if assignee != "" {
			who = w.users[assignee]
		}
		w.tests[name] = id(`INSERT INTO mission_tests (mission_id, name, platforms, state, released_to_blue, assignee_id, created_at)
			VALUES ($1, $2, '[]', $3, $4, $5, now() - $6 * interval '1 minute') RETURNING id`, m, name, state, released, who, age)
		if extra != "" {
			exec(`UPDATE mission_tests SET `+extra+` WHERE id = $1`, w.tests[name])
		}
	}
	test(w.alpha, "P unassigned", "pending", false, "", 90, "")
	test(w.alpha, "P mine", "pending", false, "red", 80, "")
	test(w.alpha, "P other", "pending", false, "red2", 70, "")
	test(w.alpha, "R released", "running", true, "", 60, "")
	test(w.alpha, "E released", "executed", true, "", 50, "")
	test(w.alpha, "E unreleased", "executed", false, "", 40, "")
	test(w.alpha, "E detected", "executed", true, "", 30, "detection_level_id = '"+level.String()+"'")
	test(w.alpha, "Reviewed", "reviewed", true, "", 20, "")
	test(w.alpha, "Skipped", "skipped", true, "", 10, "")
	test(w.alpha, "Deleted", "pending", true, "", 5, "deleted_at = now()")
	test(bravo, "Draft test", "pending", true, "", 5, "")
	test(echo, "Echo test", "pending", true, "", 5, "")
	exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name)
		VALUES ($1, 'subtechnique', 'T1059.001', 'PowerShell'), ($1, 'technique', 'T1003', 'OS Credential Dumping')`, w.tests["R released"])
	// The history: a released test's steps, an unreleased test's start, a
	// status change of Alpha and a step on Echo's test.
	event := func(actor, action, typ string, target uuid.UUID, label string, age int) {
		exec(`INSERT INTO audit_events (actor_id, actor_label, action, target_type, target_id, target_label, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, now() - $7 * interval '1 minute')`,
			w.users[actor], actor+"@example.com", action, typ, target.String(), label, age)
	}
	event("red", "mission_test.released", "mission_test", w.tests["R released"], "R released", 3)
	event("red", "mission_test.started", "mission_test", w.tests["P unassigned"], "P unassigned", 2)
	event("lead", "mission.status_changed", "mission", w.alpha, "Alpha", 4)
	event("lead", "mission_test.started", "mission_test", w.tests["Echo test"], "Echo test", 1)
	return w
}

func (w *world) load(t *testing.T, who string) view.Props {
	t.Helper()
	codes := make([]string, len(perms[who]))
	for i, p := range perms[who] {
		codes[i] = string(p)
	}
	v := auth.NewViewer(w.users[who], who+"@example.com", "User "+who, "en", uuid.New(), nil, codes)
	p, err := home.Load(auth.NewContext(context.Background(), v), w.client, w.db, w.now)
	if err != nil {
		t.Fatalf("load home of %s: %v", who, err)
	}
	return p
}

func names(p view.Props) []string {
	var out []string
	for _, m := range p.Missions {
		out = append(out, m.Name)
	}
	return out
}

// queues maps each queue the viewer has to the names of its tests.
func queues(p view.Props) map[string][]string {
	out := map[string][]string{}
	for _, q := range p.Queues {
		out[q.Name] = []string{}
		for _, r := range q.Rows {
			out[q.Name] = append(out[q.Name], r.Name)
		}
	}
	return out
}

func TestQueues(t *testing.T) {
	t.Parallel()
	w := setup(t)
	cases := []struct {
		who  string
		want map[string][]string // oldest first
	}{
		// Red: pending or running, mine or nobody's; not another's, not
		// the draft's, not the deleted one.
		{"red", map[string][]string{view.QueueRed: {"P unassigned", "P mine", "R released"}}},
		{"red2", map[string][]string{view.QueueRed: {"P unassigned", "P other", "R released"}}},
		// Blue: released without a detection level, still open; never
		// the unreleased executed test.
		{"blue", map[string][]string{view.QueueBlue: {"R released", "E released"}}},
		// Lead: every executed test, released or not, detected or not.
		{"lead", map[string][]string{view.QueueReview: {"E released", "E unreleased", "E detected"}}},
		{"none", map[string][]string{}},
	}
	for _, c := range cases {
		t.Run(c.who, func(t *testing.T) {
			p := w.load(t, c.who)
			got := queues(p)
			if len(got) != len(c.want) {
				t.Fatalf("queues %v, want %v", got, c.want)
			}
			for name, want := range c.want {
				if !slices.Equal(got[name], want) {
					t.Errorf("%s queue %v, want %v", name, got[name], want)
				}
			}
			for _, q := range p.Queues {
				if q.Total != len(q.Rows) {
					t.Errorf("%s queue total %d, want %d", q.Name, q.Total, len(q.Rows))
				}
				if len(q.PerMission) != 1 || q.PerMission[0].ID != w.alpha.String() || q.PerMission[0].Count != q.Total {
					t.Errorf("%s queue's links %+v, want Alpha's %d", q.Name, q.PerMission, q.Total)
				}
			}
		})
	}
	red := w.load(t, "red")
	for _, r := range red.Queues[0].Rows {
		if r.Assigned != (r.Name == "P mine") {
			t.Errorf("%s: assigned to me = %v", r.Name, r.Assigned)
		}
		if r.MissionName != "Alpha" {
			t.Errorf("%s: mission %q", r.Name, r.MissionName)
		}
		if r.Name == "R released" && (r.AttackID != "T1003" || r.AttackName != "OS Credential Dumping") {
			t.Errorf("R released: tag %q %q, want the first by ID", r.AttackID, r.AttackName)
		}
	}
}

func TestMissions(t *testing.T) {
	t.Parallel()
	w := setup(t)
	red := w.load(t, "red")
	// In progress first, then drafts, then the recently completed; not
	// the one completed two months ago, nor anyone else's.
	if got, want := names(red), []string{"Alpha", "Bravo", "Delta"}; !slices.Equal(got, want) {
		t.Errorf("red's missions %v, want %v", got, want)
	}
	a := red.Missions[0]
	if a.Role != "red" || a.Status != "in_progress" || a.Done != 2 || a.Total != 9 {
		t.Errorf("Alpha for red: %+v, want red, in progress, 2 of 9 done", a)
	}
	blue := w.load(t, "blue")
	if len(blue.Missions) != 1 || blue.Missions[0].Total != 5 || blue.Missions[0].Done != 2 || blue.Missions[0].Role != "blue" {
		t.Errorf("blue's missions %+v, want Alpha with its 5 released tests, 2 done", blue.Missions)
	}
	none := w.load(t, "none")
	if len(none.Missions) != 0 || none.CanCreate {
		t.Errorf("a member of nothing: %+v", none)
	}
	if lead := w.load(t, "lead"); !lead.CanCreate || !slices.Equal(names(lead), []string{"Alpha", "Echo"}) {
		t.Errorf("lead: may create %v, missions %v", lead.CanCreate, names(lead))
	}
}

func TestActivity(t *testing.T) {
	t.Parallel()
	w := setup(t)
	lines := func(p view.Props) []string {
		var out []string
		for _, e := range p.Activity {
			out = append(out, e.Action+" "+e.Target)
		}
		return out
	}
	// Red sees the steps of Alpha's tests, newest first; not Echo's (not
	// a member). The mission's own events are in the audit log, which
	// only audit.read opens.
	if got, want := lines(w.load(t, "red")), []string{"mission_test.started P unassigned", "mission_test.released R released"}; !slices.Equal(got, want) {
		t.Errorf("red's activity %v, want %v", got, want)
	}
	// Blue never sees the history of an unreleased test.
	blue := w.load(t, "blue")
	if got, want := lines(blue), []string{"mission_test.released R released"}; !slices.Equal(got, want) {
		t.Fatalf("blue's activity %v, want %v", got, want)
	}
	e := blue.Activity[0]
	if e.Actor != "User red" || e.MissionName != "Alpha" || e.MissionID != w.alpha.String() ||
		e.TestID != w.tests["R released"].String() || e.AttackID != "T1003" {
		t.Errorf("event %+v", e)
	}
	if len(w.load(t, "none").Activity) != 0 {
		t.Error("a member of nothing sees activity")
	}
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	w := setup(t)
	if _, err := w.db.Exec(`INSERT INTO attack_syncs (source, status, progress) VALUES ('enterprise-attack.json', 'running', 40)`); err != nil {
		t.Fatal(err)
	}
	p := w.load(t, "admin")
	if p.Admin == nil || !p.Admin.Card.Reachable {
		t.Fatalf("admin sees %+v, want the Database card", p.Admin)
	}
	if len(p.Admin.Jobs) != 1 || p.Admin.Jobs[0].Kind != view.JobAttackSync || p.Admin.Jobs[0].Status != "running" || p.Admin.Jobs[0].Progress != 40 {
		t.Errorf("jobs %+v", p.Admin.Jobs)
	}
	if w.load(t, "lead").Admin != nil {
		t.Error("a lead sees the instance's health and jobs")
	}
}
