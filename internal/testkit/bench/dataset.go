package bench

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/missionmember"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretechnique"
	"violet/ent/permission"
	"violet/ent/testtemplate"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/evidence"
	"violet/internal/mission"
	"violet/internal/notify"
	"violet/internal/paths"
)

// Scale is the size of the generated dataset. Everything generated is a
// function of it: two runs at one scale hold the same rows (ids aside).
type Scale struct {
	Users       int // accounts besides the lead, red and blue members
	Missions    int // missions in the list, besides the two measured ones
	SmallTests  int // tests of the small measured mission (and of every other mission)
	BigTests    int // tests of the big measured mission
	TagsPerTest int // ATT&CK tags of every generated template, copied to the mission tests
	Evidence    int // evidence files on each of the first Evidence tests of the big mission, and on the drawer's test
}

// DefaultScale is the budgets' scale: a 10-test and a 1,000-test mission.
func DefaultScale() Scale {
	return Scale{Users: 200, Missions: 50, SmallTests: 10, BigTests: 1000, TagsPerTest: 3, Evidence: 20}
}

// Password is the password of every generated account.
const Password = "bench-password-violet-2026"

// Dataset names what the pages are measured on.
type Dataset struct {
	Scale                Scale
	LeadEmail, BlueEmail string
	Small, Big           uuid.UUID // the measured missions
	DrawerTest           uuid.UUID // a test of the big mission with evidence
	TechniqueID          string    // an ATT&CK ID for the entry page
	Templates            int       // test templates in the library (generated + imported)
	Rows                 map[string]int
}

type accountSpec struct {
	email, name string
	group       string
}

// Generate writes the dataset through ent and the mission workflows (the
// mission tests are copied from templates by mission.AddTemplates, as the
// plan editor does). The ATT&CK catalogue must be synced first: templates
// are tagged with its entries. Evidence files are real objects in store.
func Generate(ctx context.Context, client *ent.Client, db *sql.DB, store evidence.Store, s Scale) (*Dataset, error) {
	sys := rule.SystemContext(ctx)
	// One hash with production parameters serves every account: the
	// logins measured pay the real argon2id cost.
	hasher, err := auth.NewHasher(auth.DefaultArgon2Params(), 1, time.Minute)
	if err != nil {
		return nil, err
	}
	hash, err := hasher.Hash(ctx, Password)
	if err != nil {
		return nil, err
	}
	groups := map[string]uuid.UUID{}
	for _, g := range client.Group.Query().Where(group.NameIn(auth.GroupRedTeam, auth.GroupBlueTeam)).AllX(sys) {
		groups[g.Name] = g.ID
	}
	if len(groups) != 2 {
		return nil, fmt.Errorf("the seeded red and blue team groups are missing")
	}
	specs := []accountSpec{
		{"lead@bench.example", "Lee Lead", auth.GroupRedTeam},
		{"red@bench.example", "Robin Red", auth.GroupRedTeam},
		{"blue@bench.example", "Bailey Blue", auth.GroupBlueTeam},
	}
	for i := range s.Users {
		g := auth.GroupRedTeam
		if i%2 == 1 {
			g = auth.GroupBlueTeam
		}
		specs = append(specs, accountSpec{fmt.Sprintf("user%04d@bench.example", i), fmt.Sprintf("Bench User %04d", i), g})
	}
	users := make([]*ent.User, 0, len(specs))
	for from := 0; from < len(specs); from += 500 {
		var bulk []*ent.UserCreate
		for _, a := range specs[from:min(len(specs), from+500)] {
			bulk = append(bulk, client.User.Create().SetEmail(a.email).SetDisplayName(a.name).
				SetPasswordHash(hash).AddGroupIDs(groups[a.group]))
		}
		made, err := client.User.CreateBulk(bulk...).Save(sys)
		if err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		users = append(users, made...)
	}
	lead, red, blue := users[0], users[1], users[2]
	// The lead also reads the insights (the "insights" page), through a
	// group of its own: its other pages keep the red team's permissions.
	insightsRead, err := client.Permission.Query().Where(permission.Code(string(auth.InsightsRead))).OnlyID(sys)
	if err != nil {
		return nil, fmt.Errorf("the seeded insights.read permission: %w", err)
	}
	if err := client.Group.Create().SetName("Bench insights").AddPermissionIDs(insightsRead).
		AddUserIDs(lead.ID).Exec(sys); err != nil {
		return nil, fmt.Errorf("insights group: %w", err)
	}

	templates, technique, err := generateTemplates(sys, client, lead.ID, max(s.BigTests, s.SmallTests), s.TagsPerTest)
	if err != nil {
		return nil, err
	}
	levels, err := client.DetectionLevel.Query().IDs(sys)
	if err != nil || len(levels) == 0 {
		return nil, fmt.Errorf("the seeded detection levels are missing (%v)", err)
	}
	d := &Dataset{Scale: s, LeadEmail: lead.Email, BlueEmail: blue.Email, TechniqueID: technique, Rows: map[string]int{}}
	leadViewer, err := mission.ViewerOf(sys, client, lead)
	if err != nil {
		return nil, err
	}
	vctx := auth.NewContext(ctx, leadViewer)
	// The measured missions are made last so that they are the newest,
	// the first the mission list shows.
	for i := range s.Missions + 2 {
		name, n := fmt.Sprintf("Bench mission %03d", i), s.SmallTests
		switch i {
		case s.Missions:
			name = fmt.Sprintf("Bench: %d tests", s.SmallTests)
		case s.Missions + 1:
			name, n = fmt.Sprintf("Bench: %d tests", s.BigTests), s.BigTests
		}
		id, err := makeMission(vctx, client, db, leadViewer, name, []*ent.User{lead, red, blue}, templates[:n], levels, red.ID)
		if err != nil {
			return nil, fmt.Errorf("mission %q: %w", name, err)
		}
		switch i {
		case s.Missions:
			d.Small = id
		case s.Missions + 1:
			d.Big = id
		}
	}
	if d.DrawerTest, err = addEvidence(sys, client, db, store, d.Big, red.ID, s.Evidence); err != nil {
		return nil, err
	}
	if err := addNotifications(sys, client, lead.ID, d.Big); err != nil {
		return nil, err
	}
	for _, table := range []string{"users", "missions", "mission_tests", "mission_test_mitre_tags", "test_templates",
		"evidence_files", "notifications", "mitre_techniques", "mitre_subtechniques"} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			return nil, err
		}
		d.Rows[table] = n
	}
	d.Templates = d.Rows["test_templates"]
	// Statistics as autovacuum would have them after the bulk inserts.
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return nil, err
	}
	return d, nil
}

// generateTemplates writes n test templates, each tagged with tags
// catalogue entries picked by a fixed stride over the techniques and
// sub-techniques in ATT&CK ID order. It returns the templates' ids in
// order and the ATT&CK ID of the first entry picked.
func generateTemplates(ctx context.Context, client *ent.Client, author uuid.UUID, n, tags int) ([]uuid.UUID, string, error) {
	techs, err := client.MitreTechnique.Query().Where(mitretechnique.Revoked(false), mitretechnique.Deprecated(false)).
		Order(ent.Asc(mitretechnique.FieldExternalID)).All(ctx)
	if err != nil {
		return nil, "", err
	}
	subs, err := client.MitreSubtechnique.Query().Where(mitresubtechnique.Revoked(false), mitresubtechnique.Deprecated(false)).
		Order(ent.Asc(mitresubtechnique.FieldExternalID)).All(ctx)
	if err != nil {
		return nil, "", err
	}
	if len(techs) == 0 {
		return nil, "", fmt.Errorf("the ATT&CK catalogue is empty: sync it before generating the dataset")
	}
	type entry struct {
		id  uuid.UUID
		sub bool
	}
	entries := make([]entry, 0, len(techs)+len(subs))
	for _, t := range techs {
		entries = append(entries, entry{t.ID, false})
	}
	for _, s := range subs {
		entries = append(entries, entry{s.ID, true})
	}
	platforms := [][]string{{"windows"}, {"linux"}, {"macos"}, {"windows", "linux"}}
	opsec := []string{"low", "medium", "high"}
	ids := make([]uuid.UUID, 0, n)
	for from := 0; from < n; from += 500 {
		var bulk []*ent.TestTemplateCreate
		for i := from; i < min(n, from+500); i++ {
			bulk = append(bulk, client.TestTemplate.Create().SetName(fmt.Sprintf("Bench template %04d", i)).
				SetDescription(fmt.Sprintf("Generated test %d: runs a **command** and checks what the defences saw.", i)).
				SetObjective("See whether the EDR raises an alert.").
				SetProcedure("1. Open a shell\n2. Run `whoami /all`\n3. Note the time").
				SetExpectedDetection("An alert on the process tree.").
				SetPlatforms(platforms[i%len(platforms)]).SetOpsecLevel(testtemplate.OpsecLevel(opsec[i%len(opsec)])).
				SetLabels([]string{"bench"}).SetCreatedByID(author))
		}
		made, err := client.TestTemplate.CreateBulk(bulk...).Save(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("templates: %w", err)
		}
		var tagBulk []*ent.TestTemplateMitreTagCreate
		for k, t := range made {
			i := from + k
			seen := map[uuid.UUID]bool{}
			for j := range tags {
				e := entries[(i*7+j*131)%len(entries)]
				if seen[e.id] {
					continue
				}
				seen[e.id] = true
				c := client.TestTemplateMitreTag.Create().SetTestTemplateID(t.ID)
				if e.sub {
					c.SetSubtechniqueID(e.id)
				} else {
					c.SetTechniqueID(e.id)
				}
				tagBulk = append(tagBulk, c)
			}
			ids = append(ids, t.ID)
		}
		if err := client.TestTemplateMitreTag.CreateBulk(tagBulk...).Exec(ctx); err != nil {
			return nil, "", fmt.Errorf("template tags: %w", err)
		}
	}
	return ids, techs[0].ExternalID, nil
}

// makeMission creates an in-progress mission with lead, red and blue
// members, copies the templates into its plan and moves its tests through
// the states: every sixth pending, running, executed, reviewed, skipped
// and blocked; two in three released; the executed and reviewed ones
// rated on the detection scale.
func makeMission(ctx context.Context, client *ent.Client, db *sql.DB, lead *auth.Viewer, name string,
	members []*ent.User, templates []uuid.UUID, levels []uuid.UUID, red uuid.UUID) (uuid.UUID, error) {
	sys := rule.SystemContext(ctx)
	m, err := client.Mission.Create().SetName(name).SetScope("Lab Active Directory domain and two workstations").
		SetDescription("A generated mission for the benchmark.").SetStatus("in_progress").
		SetCreatedByID(members[0].ID).Save(sys)
	if err != nil {
		return uuid.Nil, err
	}
	for i, role := range []string{rule.RoleLead, rule.RoleRed, rule.RoleBlue} {
		if err := client.MissionMember.Create().SetMissionID(m.ID).SetUserID(members[i].ID).
			SetRole(missionmember.Role(role)).Exec(sys); err != nil {
			return uuid.Nil, err
		}
	}
	a, err := mission.Load(ctx, client, lead, m.ID)
	if err != nil {
		return uuid.Nil, err
	}
	if _, err := mission.AddTemplates(ctx, client, a, templates, map[string]any{"source": "bench"}); err != nil {
		return uuid.Nil, err
	}
	_, err = db.ExecContext(ctx, `WITH t AS (
			SELECT id, row_number() OVER (ORDER BY position, id) - 1 AS i FROM mission_tests WHERE mission_id = $1)
		UPDATE mission_tests mt SET
			state = (ARRAY['pending','running','executed','reviewed','skipped','blocked'])[t.i % 6 + 1],
			state_reason = CASE WHEN t.i % 6 >= 4 THEN 'Out of scope for this run' ELSE '' END,
			released_to_blue = t.i % 3 <> 0,
			executed_by_id = CASE WHEN t.i % 6 BETWEEN 1 AND 3 THEN $2::uuid END,
			started_at = CASE WHEN t.i % 6 BETWEEN 1 AND 3 THEN timestamptz '2026-11-20 09:00Z' + t.i * interval '5 minutes' END,
			ended_at = CASE WHEN t.i % 6 BETWEEN 2 AND 3 THEN timestamptz '2026-11-20 09:02Z' + t.i * interval '5 minutes' END,
			command = CASE WHEN t.i % 6 BETWEEN 1 AND 3 THEN 'powershell -enc SQBFAFgA' ELSE '' END,
			detection_level_id = CASE WHEN t.i % 6 BETWEEN 2 AND 3 AND t.i % 3 <> 0 THEN ($3::uuid[])[t.i % cardinality($3::uuid[]) + 1] END,
			detected_at = CASE WHEN t.i % 6 BETWEEN 2 AND 3 AND t.i % 3 <> 0 THEN timestamptz '2026-11-20 09:10Z' + t.i * interval '5 minutes' END,
			alert_name = CASE WHEN t.i % 6 BETWEEN 2 AND 3 AND t.i % 3 <> 0 THEN 'Suspicious PowerShell' ELSE '' END
		FROM t WHERE mt.id = t.id`, m.ID, red, pq.Array(levels))
	return m.ID, err
}

// addEvidence stores n small text files on each of the first n tests of
// the mission (n×n files, red side) and returns the first test's id.
func addEvidence(ctx context.Context, client *ent.Client, db *sql.DB, store evidence.Store, missionID, uploader uuid.UUID, n int) (uuid.UUID, error) {
	rows, err := db.QueryContext(ctx, `SELECT id FROM mission_tests WHERE mission_id = $1 ORDER BY position LIMIT $2`, missionID, max(n, 1))
	if err != nil {
		return uuid.Nil, err
	}
	var tests []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return uuid.Nil, err
		}
		tests = append(tests, id)
	}
	rows.Close()
	if len(tests) == 0 {
		return uuid.Nil, fmt.Errorf("the big mission has no tests")
	}
	var bulk []*ent.EvidenceFileCreate
	for i, t := range tests[:min(n, len(tests))] {
		for j := range n {
			name := fmt.Sprintf("edr-export-%02d-%02d.log", i, j)
			body := bytes.Repeat([]byte(fmt.Sprintf("2026-11-20T09:%02d:00Z host-%02d process created: powershell.exe\n", j%60, i)), 40)
			st, err := evidence.Ingest(ctx, store, name, bytes.NewReader(body), evidence.Limits{MaxBytes: 1 << 20, MaxSide: evidence.DefaultMaxSide, MaxPixels: evidence.DefaultMaxPixels})
			if err != nil {
				return uuid.Nil, fmt.Errorf("evidence %s: %w", name, err)
			}
			bulk = append(bulk, client.EvidenceFile.Create().SetMissionTestID(t).SetSide("red").
				SetUploadedByID(uploader).SetOriginalName(name).SetStoredKey(st.Key).
				SetContentType(st.Kind.ContentType).SetSize(st.Size).SetSha256(st.SHA256).
				SetCaption("EDR export"))
		}
	}
	if len(bulk) > 0 {
		if err := client.EvidenceFile.CreateBulk(bulk...).Exec(ctx); err != nil {
			return uuid.Nil, err
		}
	}
	return tests[0], nil
}

// addNotifications gives the lead 60 notifications, half of them read,
// for the bell and the notification list.
func addNotifications(ctx context.Context, client *ent.Client, userID, missionID uuid.UUID) error {
	var bulk []*ent.NotificationCreate
	for i := range 60 {
		c := client.Notification.Create().SetUserID(userID).SetKind(string(notify.TestReleased)).
			SetTitle(fmt.Sprintf("Bench template %04d was released to the blue team", i)).
			SetLink(paths.URL(paths.Mission, missionID))
		if i%2 == 0 {
			c.SetReadAt(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
		}
		bulk = append(bulk, c)
	}
	return client.Notification.CreateBulk(bulk...).Exec(ctx)
}
