package vectr_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/attack"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/insights"
	"violet/internal/testkit/testdb"
	"violet/internal/vectr"
	insightsviews "violet/views/insights"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const (
	shared = "../../../shared/data/"
	sample = shared + "vectr/DEMO_PURPLE_CE.csv"
)

func requireReal(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("VIOLET_REAL_DATA_REQUIRED") == "1" {
			t.Fatalf("real data required: %v", err)
		}
		t.Skipf("no real data here: %v", err)
	}
}

func readSample(t testing.TB) *vectr.Export {
	t.Helper()
	requireReal(t, sample)
	f, err := os.Open(sample)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := vectr.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// syncCatalogue loads ATT&CK 16.1, the smaller bundle that holds every
// technique the sample names.
func syncCatalogue(t testing.TB, client *ent.Client) {
	t.Helper()
	path := shared + "attack/enterprise-attack-16.1.json"
	requireReal(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := attack.Read(f, attack.ReadOptions{Version: "16.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := rule.SystemContext(context.Background())
	if err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		_, err := attack.Sync(ctx, tx, b, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// viewer is an account holding codes, as the context of a request.
func viewer(t *testing.T, client *ent.Client, email string, codes ...auth.Permission) context.Context {
	t.Helper()
	u := client.User.Create().SetEmail(email).SetDisplayName(email).SetPasswordHash("x").
		SaveX(rule.SystemContext(context.Background()))
	list := make([]string, len(codes))
	for i, c := range codes {
		list[i] = string(c)
	}
	return auth.NewContext(context.Background(), auth.NewViewer(u.ID, u.Email, u.DisplayName, "en", uuid.New(), nil, list))
}

func admin(t *testing.T, client *ent.Client) context.Context {
	var codes []auth.Permission
	for _, p := range auth.Permissions() {
		codes = append(codes, p.Code)
	}
	return viewer(t, client, "admin@example.com", codes...)
}

func count(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestParseSample: the real export reads as five assessments of 153 test
// cases, its BOM and multi-line cells handled, nothing reported.
func TestParseSample(t *testing.T) {
	e := readSample(t)
	if e.Rows != 765 || e.Tests() != 765 || len(e.Assessments) != 5 {
		t.Fatalf("%d rows, %d tests, %d assessments; want 765, 765, 5", e.Rows, e.Tests(), len(e.Assessments))
	}
	if len(e.Problems) != 0 {
		t.Errorf("problems: %v", e.Problems)
	}
	if got := e.Assessments[0].Name; got != "Enterprise Purple – 2017 Q1" {
		t.Errorf("first assessment %q (the BOM must not stick to the header)", got)
	}
	untagged, tools := 0, map[string]bool{}
	for _, a := range e.Assessments {
		if len(a.Tests) != 153 {
			t.Errorf("%s: %d tests", a.Name, len(a.Tests))
		}
		for _, tc := range a.Tests {
			if tc.MitreID == "" {
				untagged++
			}
			if tc.Start == nil || tc.Stop == nil || tc.Detection == nil {
				t.Errorf("line %d: times missing", tc.Line)
			}
			for _, n := range tc.Tools {
				tools[n] = true
			}
		}
	}
	if untagged != 85 {
		t.Errorf("%d test cases without MitreID, want 85", untagged)
	}
	if len(e.Tools) != 18 || len(tools) != 18 {
		t.Errorf("tools %v", e.Tools)
	}
	first := e.Assessments[0].Tests[0]
	if first.Variant != "Basic Auth & WPAD" || first.MitreID != "T1040" || first.Outcome != "Blocked" ||
		first.Line != 2 || !first.Start.Equal(time.Date(2017, 1, 17, 9, 20, 25, 930e6, time.UTC)) {
		t.Errorf("first test case %+v", first)
	}
}

// TestParseRefusesMalformedCSV: a file that is not a readable export is
// refused whole, with the line at fault.
func TestParseRefusesMalformedCSV(t *testing.T) {
	header := "AssessmentGroup,Campaign,Variant,Outcome\n"
	cases := []struct {
		name, csv string
		line      int
	}{
		{"an unclosed quote", header + "A,C,V1,Blocked\nA,C,\"V2,Detected\n", 3},
		{"a quote inside a bare cell", header + "A,C,V1,Blocked\nA,C,V\"2,Detected\n", 3},
		{"no variant column", "AssessmentGroup,Campaign,Outcome\nA,C,Blocked\n", 1},
		{"empty", "\ufeff", 0},
	}
	for _, tc := range cases {
		_, err := vectr.Parse(strings.NewReader(tc.csv))
		var refused *vectr.Refused
		if !errors.As(err, &refused) || refused.Line != tc.line {
			t.Errorf("%s: %v, want refused at line %d", tc.name, err, tc.line)
		}
	}
	big := strings.NewReader(header + strings.Repeat("x", vectr.MaxBytes))
	if _, err := vectr.Parse(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file over the limit: %v", err)
	}
}

// TestParseReportsRowsThatCannotMap: each row that cannot map is reported
// with the line it starts on (a multi-line cell before it counts its
// lines), skipped or kept as its problem says.
func TestParseReportsRowsThatCannotMap(t *testing.T) {
	csv := "\ufeffCampaign,AssessmentGroup,Variant,Outcome,Start Time,MitreID,Objective\n" + // line 1, columns in another order
		"C,A,V1,Blocked,2020-01-01T10:00:00Z,T1059.001,\"two\nlines\"\n" + // 2-3
		"C,A,,Detected,,,\n" + // 4: no variant, skipped
		"C,A,V1,Detected,,,\n" + // 5: duplicate, skipped
		"C,A,V2,Maybe,yesterday,X123,\n" + // 6: outcome, time and id reported, kept
		"C2,B,V1,NotDetected,,,\n" // 7
	e, err := vectr.Parse(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if e.Rows != 5 || e.Tests() != 3 || len(e.Assessments) != 2 {
		t.Fatalf("%d rows, %d tests, %d assessments", e.Rows, e.Tests(), len(e.Assessments))
	}
	want := []vectr.Problem{
		{Line: 4, Key: vectr.ProblemMissing}, {Line: 5, Key: vectr.ProblemDuplicate},
		{Line: 6, Key: vectr.ProblemOutcome}, {Line: 6, Key: vectr.ProblemTechnique}, {Line: 6, Key: vectr.ProblemTime},
	}
	if len(e.Problems) != len(want) {
		t.Fatalf("problems %+v", e.Problems)
	}
	for i, p := range e.Problems {
		if p.Line != want[i].Line || p.Key != want[i].Key {
			t.Errorf("problem %d: %+v, want line %d %s", i, p, want[i].Line, want[i].Key)
		}
	}
	v1 := e.Assessments[0].Tests[0]
	if v1.Objective != "two\nlines" || v1.MitreID != "T1059.001" || v1.Start == nil {
		t.Errorf("V1: %+v", v1)
	}
	if v2 := e.Assessments[0].Tests[1]; v2.Line != 6 || v2.Outcome != "" || v2.MitreID != "" || v2.Start != nil {
		t.Errorf("V2: %+v", v2)
	}
}

// TestProposeMapsByMeaning: the default mapping puts each outcome on the
// level of the seeded scale that means it and matches tools by name
// ignoring case, proposing to create the others.
func TestProposeMapsByMeaning(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := admin(t, client)
	sys := rule.SystemContext(ctx)
	existing := client.DefensiveTool.Create().SetName("PROGEAR").SaveX(sys)
	e := readSample(t)
	p, err := vectr.NewService(client).Propose(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	names := map[uuid.UUID]string{}
	for _, l := range p.Levels {
		names[l.ID] = l.Name
	}
	for outcome, want := range map[string]string{"Blocked": "Blocked", "Detected": "Alerted", "NotDetected": "Not detected", "TBD": ""} {
		if got := names[p.Mapping.Outcomes[outcome]]; got != want {
			t.Errorf("%s → %q, want %q", outcome, got, want)
		}
	}
	if c := p.Mapping.Tools["Progear"]; c.Action != vectr.ToolUse || c.ToolID != existing.ID {
		t.Errorf("Progear → %+v, want the existing PROGEAR", c)
	}
	if c := p.Mapping.Tools["MUSHA"]; c.Action != vectr.ToolCreate {
		t.Errorf("MUSHA → %+v, want create", c)
	}
	// Someone who may not make missions is refused.
	red := viewer(t, client, "tpl@example.com", auth.TemplateWrite)
	if _, err := vectr.NewService(client).Propose(red, e); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("without mission.create: %v", err)
	}
}

// TestImportChecksTheMapping: a level that is not on the scale, a tool
// that is not in the registry, or a tool to create without
// settings.manage, is refused per field and nothing is written.
func TestImportChecksTheMapping(t *testing.T) {
	db, client, _ := testdb.Open(t)
	ctx := admin(t, client)
	svc := vectr.NewService(client)
	e, err := vectr.Parse(strings.NewReader("AssessmentGroup,Campaign,Variant,Outcome,DetectingTools\nA,C,V,Detected,\"EDR,SIEM\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Propose(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	m := p.Mapping
	m.Outcomes["Detected"] = uuid.New()
	m.Tools["EDR"] = vectr.ToolChoice{Action: vectr.ToolUse, ToolID: uuid.New()}
	_, err = svc.Import(ctx, e, m, nil)
	var invalid *app.Invalid
	if !errors.As(err, &invalid) || invalid.Fields["outcome_Detected"] != "vectr.mapping.level_unknown" ||
		invalid.Fields["tool_0"] != "vectr.mapping.tool_unknown" {
		t.Fatalf("%v", err)
	}
	red := viewer(t, client, "red@example.com", auth.TemplateWrite, auth.MissionCreate)
	_, err = svc.Import(red, e, p.Mapping, nil)
	if !errors.As(err, &invalid) || invalid.Fields["tool_1"] != "vectr.mapping.tool_create_forbidden" {
		t.Fatalf("creating a tool without settings.manage: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM missions`); n != 0 {
		t.Errorf("%d missions written", n)
	}
}

// TestImportSample: the real export imports as five completed missions of
// 153 reviewed tests each, tagged, timed, with their outcomes per tool; a
// second import changes nothing; the insights show the five assessments
// as a trend in date order.
func TestImportSample(t *testing.T) {
	db, client, _ := testdb.Open(t)
	syncCatalogue(t, client)
	ctx := admin(t, client)
	svc := vectr.NewService(client)
	e := readSample(t)
	p, err := svc.Propose(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	var calls, lastDone int
	res, err := svc.Import(ctx, e, p.Mapping, func(done, total int) {
		calls++
		lastDone = done
		if total != 765 {
			t.Errorf("total %d", total)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first import of 765 test cases: %v", res.Took)
	if res.MissionsCreated != 5 || res.TestsCreated != 765 || res.TestsUnchanged != 0 || res.ToolsCreated != 18 {
		t.Errorf("result %+v", res)
	}
	if calls != 6 || lastDone != 765 {
		t.Errorf("progress called %d times, last %d", calls, lastDone)
	}
	if len(res.Problems) != 0 {
		t.Errorf("problems %v", res.Problems)
	}
	checks := []struct {
		what string
		q    string
		want int
	}{
		{"missions", `SELECT count(*) FROM missions WHERE status = 'completed' AND import_key LIKE 'vectr:%'`, 5},
		{"tests", `SELECT count(*) FROM mission_tests WHERE state = 'reviewed' AND released_to_blue AND import_key LIKE 'vectr:%'
			AND started_at IS NOT NULL AND ended_at IS NOT NULL AND reviewed_by_id IS NOT NULL`, 765},
		{"categories", `SELECT count(*) FROM mission_categories`, 5 * 21},
		{"tests in a category", `SELECT count(*) FROM mission_tests WHERE category_id IS NOT NULL`, 765},
		{"tags", `SELECT count(*) FROM mission_test_mitre_tags`, 765 - 85},
		{"sub-technique tags", `SELECT count(*) FROM mission_test_mitre_tags WHERE kind = 'subtechnique' AND tactics <> '[]'::jsonb`,
			count(t, db, `SELECT count(*) FROM mission_test_mitre_tags WHERE external_id LIKE '%.%'`)},
		{"tests with a level", `SELECT count(*) FROM mission_tests WHERE detection_level_id IS NOT NULL`, 765},
		{"detected tests with a time", `SELECT count(*) FROM mission_tests mt JOIN detection_levels l ON l.id = mt.detection_level_id
			WHERE l.counts_as_detected AND mt.detected_at IS NOT NULL`, 187 + 174},
		{"missed tests without a time", `SELECT count(*) FROM mission_tests mt JOIN detection_levels l ON l.id = mt.detection_level_id
			WHERE NOT l.counts_as_detected AND mt.detected_at IS NULL`, 404},
		{"one outcome per detecting tool, else one without a tool", `SELECT count(*) FROM mission_tests mt
			WHERE (SELECT count(*) FROM mission_test_outcomes o WHERE o.mission_test_id = mt.id) <> 1 AND NOT EXISTS (
				SELECT 1 FROM mission_test_outcomes o WHERE o.mission_test_id = mt.id AND o.tool_id IS NULL)
			AND (SELECT count(*) FROM mission_test_outcomes o WHERE o.mission_test_id = mt.id) = 0`, 0},
		{"outcomes agree with the test", `SELECT count(*) FROM mission_test_outcomes o JOIN mission_tests mt ON mt.id = o.mission_test_id
			WHERE o.detection_level_id IS DISTINCT FROM mt.detection_level_id OR o.detected_at IS DISTINCT FROM mt.detected_at`, 0},
		{"leads", `SELECT count(*) FROM mission_members WHERE role = 'lead'`, 5},
		{"tools in scope are tools used", `SELECT count(*) FROM mission_test_outcomes o JOIN mission_tests mt ON mt.id = o.mission_test_id
			WHERE o.tool_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM mission_tools s WHERE s.mission_id = mt.mission_id AND s.defensive_tool_id = o.tool_id)`, 0},
		{"audit events", `SELECT count(*) FROM audit_events WHERE action = 'library.imported' AND target_type = 'mission'`, 5},
	}
	for _, c := range checks {
		if got := count(t, db, c.q); got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
	// The outcome per tool of a test VECTR saw with two tools.
	if n := count(t, db, `SELECT count(*) FROM mission_tests mt WHERE (SELECT count(*) FROM mission_test_outcomes o
		WHERE o.mission_test_id = mt.id AND o.tool_id IS NOT NULL) > 1`); n == 0 {
		t.Error("no test with outcomes from several tools")
	}

	again, err := svc.Import(ctx, e, p.Mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second import: %v", again.Took)
	if again.MissionsCreated != 0 || again.MissionsUnchanged != 5 || again.TestsCreated != 0 || again.TestsUnchanged != 765 || again.ToolsCreated != 0 {
		t.Errorf("second import %+v", again)
	}
	if n := count(t, db, `SELECT count(*) FROM mission_tests`); n != 765 {
		t.Errorf("%d tests after the second import", n)
	}
	if n := count(t, db, `SELECT count(*) FROM audit_events WHERE action = 'library.imported'`); n != 5 {
		t.Errorf("%d import events after the second import", n)
	}

	data, err := insights.Read(ctx, db, insightsviews.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range data.Missions {
		names = append(names, m.Name)
	}
	want := []string{"Enterprise Purple – 2017 Q1", "Enterprise Purple – 2017 Q3", "Enterprise Purple – 2018 Q1",
		"Enterprise Purple – 2018 Q3", "Enterprise Purple – 2019 Q1"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("insights missions %q, want %q", names, want)
	}
	for i := 1; i < len(data.Missions); i++ {
		if !data.Missions[i].Day.After(data.Missions[i-1].Day) {
			t.Errorf("mission %d not after the one before: %v", i, data.Missions[i].Day)
		}
	}
	if len(data.Tactics) == 0 || len(data.Tools) == 0 {
		t.Errorf("insights figures: %d per tactic, %d per tool", len(data.Tactics), len(data.Tools))
	}
}

// TestImportSmallExport: a TBD test case records no outcome, one without
// detecting tools records the outcome without a tool, a tool ignored
// records nothing of its own, and a MitreID the catalogue lacks is
// reported with its line, the test kept without a tag.
func TestImportSmallExport(t *testing.T) {
	db, client, _ := testdb.Open(t)
	ctx := admin(t, client)
	svc := vectr.NewService(client)
	e, err := vectr.Parse(strings.NewReader("AssessmentGroup,Campaign,Variant,Outcome,DetectingTools,MitreID,Start Time,Stop Time\n" +
		"A,C,pending,TBD,,,2021-03-01T10:00:00Z,2021-03-01T10:05:00Z\n" +
		"A,C,untooled,Detected,,T9999,2021-03-01T11:00:00Z,2021-03-01T11:05:00Z\n" +
		"A,C,ignored,NotDetected,Noise,,2021-03-02T11:00:00Z,2021-03-02T11:05:00Z\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Propose(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	p.Mapping.Tools["Noise"] = vectr.ToolChoice{Action: vectr.ToolIgnore}
	res, err := svc.Import(ctx, e, p.Mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.TestsCreated != 3 || res.ToolsCreated != 0 || len(res.Problems) != 1 ||
		res.Problems[0] != (vectr.Problem{Line: 3, Key: vectr.ProblemTechnique, Value: "T9999"}) {
		t.Errorf("result %+v", res)
	}
	outcomes := func(name string) int {
		return count(t, db, `SELECT count(*) FROM mission_test_outcomes o JOIN mission_tests mt ON mt.id = o.mission_test_id
			WHERE mt.name = $1 AND o.tool_id IS NULL`, name)
	}
	if outcomes("pending") != 0 || outcomes("untooled") != 1 || outcomes("ignored") != 1 {
		t.Errorf("outcomes without a tool: %d %d %d", outcomes("pending"), outcomes("untooled"), outcomes("ignored"))
	}
	if n := count(t, db, `SELECT count(*) FROM mission_tools`); n != 0 {
		t.Errorf("%d tools in scope", n)
	}
	if n := count(t, db, `SELECT count(*) FROM missions WHERE start_date = '2021-03-01' AND end_date = '2021-03-02'`); n != 1 {
		t.Error("the mission is not dated from its tests")
	}
}
