package missionarchive_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	"violet/ent/detectionlevel"
	"violet/ent/evidencefile"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/evidence"
	"violet/internal/export"
	"violet/internal/mission"
	"violet/internal/missionarchive"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// instance is one Violet's database and evidence store.
type instance struct {
	db     *sql.DB
	client *ent.Client
	store  evidence.Store
	users  map[string]uuid.UUID // by role name
	sys    context.Context
}

// people are the accounts both instances have, by e-mail, with the same
// names (what the exports show of a person).
var people = []string{"lead", "red", "blue", "observer"}

func newInstance(t *testing.T) *instance {
	t.Helper()
	db, client, _ := testdb.Open(t)
	in := &instance{db: db, client: client, store: evidence.NewDir(t.TempDir()), users: map[string]uuid.UUID{},
		sys: rule.SystemContext(context.Background())}
	for _, p := range people {
		u := client.User.Create().SetEmail(p + "@example.com").SetPasswordHash("x").SetDisplayName("Agent " + strings.ToUpper(p[:1]) + p[1:]).
			SaveX(in.sys)
		in.users[p] = u.ID
	}
	return in
}

// as is the context of a person of the instance, with permissions.
func (in *instance) as(t *testing.T, who string, perms ...auth.Permission) (context.Context, *auth.Viewer) {
	t.Helper()
	codes := []string{string(auth.MissionRead)}
	for _, p := range perms {
		codes = append(codes, string(p))
	}
	v := auth.NewViewer(in.users[who], who+"@example.com", "Agent "+who, "en", uuid.New(), nil, codes)
	return auth.NewContext(context.Background(), v), v
}

func (in *instance) service(now time.Time) *missionarchive.Service {
	return missionarchive.NewService(missionarchive.Deps{Ent: in.client, Store: in.store, Now: func() time.Time { return now }})
}

// level is the id of the instance's level named name.
func (in *instance) level(t *testing.T, name string) uuid.UUID {
	t.Helper()
	return in.client.DetectionLevel.Query().Where(detectionlevel.Name(name)).OnlyIDX(in.sys)
}

// attach stores content as an evidence file of test, uploaded by who at.
func (in *instance) attach(t *testing.T, test uuid.UUID, side, who, name, content string, at time.Time) {
	t.Helper()
	st, err := evidence.Ingest(context.Background(), in.store, name, strings.NewReader(content), evidence.Limits{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	in.client.EvidenceFile.Create().SetMissionTestID(test).SetSide(evidencefile.Side(side)).SetUploadedByID(in.users[who]).
		SetOriginalName(st.Name).SetStoredKey(st.Key).SetContentType(st.Kind.ContentType).SetSize(st.Size).
		SetSha256(st.SHA256).SetCaption("caption of " + name).SetCreatedAt(at).ExecX(in.sys)
}

// sourceMission builds, in the source instance, a mission with every
// kind of thing an archive carries: members of each role, categories, a
// scenario, tests in several states (one unreleased), red and blue fields,
// reviews, outcomes per tool and without one, ATT&CK tags of three kinds,
// a template with an external reference, evidence (two files with the
// same bytes, two uploaded within the same second).
func sourceMission(t *testing.T, in *instance) uuid.UUID {
	t.Helper()
	sys, c := in.sys, in.client
	edr := c.DefensiveTool.Create().SetName("EDR").SetVendor("Acme").SetKind(defensivetool.KindEdr).SaveX(sys)
	siem := c.DefensiveTool.Create().SetName("SIEM").SetVendor("Logs Inc").SetKind(defensivetool.KindSiem).SaveX(sys)
	tpl := c.TestTemplate.Create().SetName("PowerShell download cradle").SetExternalRef("a1b2c3d4-atomic").
		SetSource("atomic").SetPlatforms([]string{"windows"}).SaveX(sys)
	start, end := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	created := time.Date(2026, 10, 30, 8, 15, 42, 123456000, time.UTC)
	m := c.Mission.Create().SetName("Opération Violet").SetDescription("Purple **week**").SetScope("Windows estate").
		SetStatus("in_progress").SetLabels([]string{"client-a", "2026"}).SetStartDate(start).SetEndDate(end).
		AddTools(edr, siem).SetCreatedAt(created).SetUpdatedAt(created.Add(time.Hour)).SaveX(sys)
	for _, p := range people {
		c.MissionMember.Create().SetMissionID(m.ID).SetUserID(in.users[p]).SetRole(missionmember.Role(p)).ExecX(sys)
	}
	initial := c.MissionCategory.Create().SetMissionID(m.ID).SetName("Initial access").SetColour("#0f766e").SetPosition(0).SaveX(sys)
	execution := c.MissionCategory.Create().SetMissionID(m.ID).SetName("Execution").SetPosition(1).SaveX(sys)
	phishing := c.MissionScenario.Create().SetMissionID(m.ID).SetName("Phishing").SetDescription("A mail, a macro").SaveX(sys)

	at := func(h, min int) *time.Time { t := time.Date(2026, 11, 3, h, min, 7, 500000000, time.UTC); return &t }
	tactics := []map[string]string{{"id": "TA0002", "shortname": "execution", "name": "Execution"}}
	mk := func(pos int, name string, state missiontest.State, released bool) *ent.MissionTestCreate {
		return c.MissionTest.Create().SetMissionID(m.ID).SetPosition(pos).SetName(name).SetState(state).
			SetReleasedToBlue(released).SetDescription("Why " + name).SetPlatforms([]string{"windows"}).
			SetCreatedAt(created.Add(time.Duration(pos) * time.Minute)).SetUpdatedAt(created.Add(time.Duration(pos) * time.Hour))
	}
	reviewed := mk(0, "Encoded PowerShell", missiontest.StateReviewed, true).SetCategoryID(execution.ID).
		SetTestTemplateID(tpl.ID).SetProcedure("powershell -enc …").SetOpsecLevel("high").
		SetExecutedByID(in.users["red"]).SetStartedAt(*at(10, 0)).SetEndedAt(*at(10, 5)).SetCommand("=cmd /c whoami").
		SetSourceHost("kali").SetTargetHost("WS-042").SetTargetUser("CORP\\alice").SetExecutor("powershell").
		SetRedNotes("ran twice").SetDetectionLevelID(in.level(t, "Alerted")).SetDetectedAt(*at(10, 7)).
		SetAlertName("Sigma: encoded PS").SetLogSource("Sysmon\nEID 1").SetBlueNotes("seen").
		SetReviewedByID(in.users["lead"]).SetReviewedAt(*at(12, 0)).SaveX(sys)
	executed := mk(1, "Macro document", missiontest.StateExecuted, true).SetCategoryID(initial.ID).
		SetMissionScenarioID(phishing.ID).SetExecutedByID(in.users["red"]).SetStartedAt(*at(11, 0)).
		SetDetectionLevelID(in.level(t, "Not detected")).SaveX(sys)
	pending := mk(2, "Kerberoasting", missiontest.StatePending, false).SetMissionScenarioID(phishing.ID).SaveX(sys)
	mk(3, "Skipped on purpose", missiontest.StateSkipped, false).SetStateReason("out of scope").SaveX(sys)
	running := mk(4, "Still running", missiontest.StateRunning, false).SetStartedAt(*at(13, 0)).SaveX(sys)

	tag := func(test uuid.UUID, kind, id, name string) {
		c.MissionTestMitreTag.Create().SetMissionTestID(test).SetKind(missiontestmitretag.Kind(kind)).SetExternalID(id).SetName(name).
			SetURL("https://attack.mitre.org/" + id).SetTactics(tactics).ExecX(sys)
	}
	tag(reviewed.ID, "subtechnique", "T1059.001", "PowerShell")
	tag(reviewed.ID, "technique", "T1059", "Command and Scripting Interpreter")
	tag(executed.ID, "technique", "T1566", "Phishing")
	tag(pending.ID, "tactic", "TA0006", "Credential Access")
	tag(running.ID, "technique", "T9999", "A technique this catalogue never had")

	outcome := func(test uuid.UUID, tool *ent.DefensiveTool, level string, alert string) {
		q := c.MissionTestOutcome.Create().SetMissionTestID(test).SetDetectionLevelID(in.level(t, level)).
			SetAlertName(alert).SetLogSource("src").SetNotes("n").SetDetectedAt(*at(10, 7))
		if tool != nil {
			q.SetToolID(tool.ID)
		}
		q.ExecX(sys)
	}
	outcome(reviewed.ID, edr, "Blocked", "EDR prevention")
	outcome(reviewed.ID, siem, "Alerted", "Sigma: encoded PS")
	outcome(executed.ID, nil, "Not detected", "")

	second := time.Date(2026, 11, 3, 10, 6, 1, 0, time.UTC)
	in.attach(t, reviewed.ID, "red", "red", "output.txt", "whoami\ncorp\\alice\n", second.Add(900*time.Millisecond))
	in.attach(t, reviewed.ID, "blue", "blue", "alert.json", `{"rule": "encoded PS"}`, second.Add(100*time.Millisecond))
	in.attach(t, reviewed.ID, "red", "lead", "notes.log", "# Notes\n", second.Add(500*time.Millisecond))
	in.attach(t, executed.ID, "red", "red", "same-output.txt", "whoami\ncorp\\alice\n", second.Add(time.Hour))
	return m.ID
}

// exportsOf are the mission's CSV (both variants) and JSON exports as
// who sees them.
func exportsOf(t *testing.T, in *instance, who string, id uuid.UUID, now time.Time) map[string][]byte {
	t.Helper()
	ctx, v := in.as(t, who)
	a, err := mission.Load(ctx, in.client, v, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, f := range map[string]func() (export.File, error){
		"tests.csv":       func() (export.File, error) { return export.TestsCSV(ctx, in.client, a) },
		"tests-excel.csv": func() (export.File, error) { return export.TestsCSVForExcel(ctx, in.client, a) },
		"mission.json":    func() (export.File, error) { return export.MissionJSON(ctx, in.client, a, now) },
	} {
		file, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if out[name], err = file.Bytes(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// exportArchive writes the source mission's archive as who.
func exportArchive(t *testing.T, in *instance, who string, id uuid.UUID, now time.Time) []byte {
	t.Helper()
	ctx, v := in.as(t, who)
	a, err := mission.Load(ctx, in.client, v, id)
	if err != nil {
		t.Fatal(err)
	}
	f, err := in.service(now).Export(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if f.ContentType != "application/zip" || f.Name != "Op-ration-Violet-mission.zip" {
		t.Errorf("file %q %q", f.ContentType, f.Name)
	}
	data, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestArchiveRoundTripGivesIdenticalExports is issue 22's "done when": a
// mission exported from one instance and imported into a second (another
// database, another evidence store, accounts of the same people with
// other ids, a detection scale seeded separately, one tool already
// registered there) gives byte-identical CSV and JSON exports.
func TestArchiveRoundTripGivesIdenticalExports(t *testing.T) {
	src, dst := newInstance(t), newInstance(t)
	id := sourceMission(t, src)
	// The second instance was seeded on its own: its scale's ids are not
	// the source's. It already knows the EDR (another id), not the SIEM.
	if _, err := dst.db.Exec(`UPDATE detection_levels SET id = gen_random_uuid()`); err != nil {
		t.Fatal(err)
	}
	dst.client.DefensiveTool.Create().SetName("EDR").SetVendor("Acme").SetKind(defensivetool.KindEdr).ExecX(dst.sys)
	// Its catalogue knows T1059.001, not T1059: the template the import
	// creates is tagged with what it knows.
	var tech uuid.UUID
	if err := dst.db.QueryRow(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms)
		VALUES ('attack-pattern--1', 'T1000', 'Other', '[]') RETURNING id`).Scan(&tech); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.db.Exec(`INSERT INTO mitre_subtechniques (stix_id, external_id, name, technique_id, platforms)
		VALUES ('attack-pattern--2', 'T1059.001', 'PowerShell', $1, '[]')`, tech); err != nil {
		t.Fatal(err)
	}

	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	data := exportArchive(t, src, "lead", id, now)
	arc, err := missionarchive.Read(bytes.NewReader(data), int64(len(data)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := dst.as(t, "lead", auth.MissionCreate)
	svc := dst.service(now)
	plan, err := svc.Preview(ctx, arc)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Tests != 5 || plan.Files != 4 || len(plan.Members) != 4 || len(plan.LeftOut) != 0 || plan.ImporterAdded || plan.NewIDs || plan.Already != nil {
		t.Errorf("plan %+v", plan)
	}
	if got := matches(plan.Tools); got != "EDR=found SIEM=created" {
		t.Errorf("tools %s", got)
	}
	if got := matches(plan.Templates); got != "PowerShell download cradle=created" {
		t.Errorf("templates %s", got)
	}
	if got := matches(plan.Levels); got != "Alerted=found Blocked=found Not detected=found" {
		t.Errorf("levels %s", got)
	}
	imp, err := svc.Import(ctx, arc)
	if err != nil {
		t.Fatal(err)
	}
	if imp.MissionID != id {
		t.Errorf("imported as %s, want the source's id %s", imp.MissionID, id)
	}

	for _, who := range []string{"lead", "blue"} {
		want, got := exportsOf(t, src, who, id, now), exportsOf(t, dst, who, imp.MissionID, now)
		for name := range want {
			if !bytes.Equal(want[name], got[name]) {
				t.Errorf("%s's %s differs:\n%s", who, name, firstDifference(want[name], got[name]))
			}
		}
	}

	// The evidence is the same bytes, under keys of the second store.
	files := dst.client.EvidenceFile.Query().AllX(dst.sys)
	if len(files) != 4 {
		t.Fatalf("%d evidence rows", len(files))
	}
	for _, f := range files {
		r, err := dst.store.Open(context.Background(), f.StoredKey)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if int64(len(b)) != f.Size || !strings.Contains(string(data), string(b)) {
			t.Errorf("evidence %s: %q", f.OriginalName, b)
		}
	}
	var tags int
	if err := dst.db.QueryRow(`SELECT count(*) FROM test_template_mitre_tags g JOIN test_templates t ON t.id = g.test_template_id
		JOIN mitre_subtechniques s ON s.id = g.subtechnique_id
		WHERE t.external_ref = 'a1b2c3d4-atomic' AND s.external_id = 'T1059.001'`).Scan(&tags); err != nil || tags != 1 {
		t.Errorf("the created template's tags: %d %v", tags, err)
	}
	var key string
	if err := dst.db.QueryRow(`SELECT import_key FROM missions WHERE id = $1`, imp.MissionID).Scan(&key); err != nil || key != "archive:"+id.String() {
		t.Errorf("import key %q %v", key, err)
	}

	// Importing the same archive again is refused, naming the mission.
	_, err = svc.Import(ctx, arc)
	var already *missionarchive.AlreadyImported
	if !errors.As(err, &already) || !errors.Is(err, missionarchive.ErrAlreadyImported) || already.MissionName != "Opération Violet" {
		t.Fatalf("second import: %v", err)
	}
	var n int
	dst.db.QueryRow(`SELECT count(*) FROM missions`).Scan(&n)
	if n != 1 {
		t.Errorf("%d missions after the second import", n)
	}
}

// matches lists a plan's matches as name=found|created.
func matches(ms []missionarchive.Match) string {
	var parts []string
	for _, m := range ms {
		state := "found"
		if m.Created {
			state = "created"
		}
		parts = append(parts, m.Name+"="+state)
	}
	return strings.Join(parts, " ")
}

// firstDifference shows where two files part.
func firstDifference(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return "want …" + string(a[lo:min(len(a), i+200)]) + "\n got …" + string(b[lo:min(len(b), i+200)])
}
