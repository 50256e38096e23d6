package handlers_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/ent/auditevent"
	"violet/ent/detectionlevel"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/internal/attackid"
	"violet/internal/i18n"
	"violet/views/missionpage"
)

// validateLayer checks a layer against the required fields and types of the
// ATT&CK Navigator layer format 4.5 (as internal/navigator writes it) and
// returns what is wrong.
func validateLayer(raw []byte) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	var l map[string]any
	if err := json.Unmarshal(raw, &l); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	hexColour := regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	str := func(m map[string]any, k, where string, required bool) (string, bool) {
		v, ok := m[k]
		if !ok {
			if required {
				fail("%s: %s missing", where, k)
			}
			return "", false
		}
		s, isStr := v.(string)
		if !isStr {
			fail("%s: %s is %T, not a string", where, k, v)
		}
		return s, isStr
	}
	str(l, "name", "layer", true)
	if d, _ := str(l, "domain", "layer", true); !slices.Contains([]string{"enterprise-attack", "mobile-attack", "ics-attack"}, d) {
		fail("domain %q", d)
	}
	str(l, "description", "layer", false)
	if v, ok := l["versions"].(map[string]any); !ok {
		fail("versions is not an object")
	} else {
		if s, _ := str(v, "layer", "versions", true); s != "4.5" {
			fail("versions.layer %q", s)
		}
		if s, _ := str(v, "navigator", "versions", true); !regexp.MustCompile(`^4\.(9|\d\d)\.\d+$`).MatchString(s) {
			fail("versions.navigator %q is not at least 4.9.0", s)
		}
		str(v, "attack", "versions", false)
	}
	ts, ok := l["techniques"].([]any)
	if !ok {
		fail("techniques is not an array")
	}
	for i, raw := range ts {
		where := fmt.Sprintf("techniques[%d]", i)
		e, ok := raw.(map[string]any)
		if !ok {
			fail("%s is not an object", where)
			continue
		}
		if id, _ := str(e, "techniqueID", where, true); !attackid.IsTechniqueOrSub(id) {
			fail("%s: techniqueID %q", where, id)
		}
		str(e, "tactic", where, false)
		str(e, "comment", where, false)
		if s, ok := e["score"]; ok {
			if _, isNum := s.(float64); !isNum {
				fail("%s: score is %T", where, s)
			}
		}
		if c, ok := str(e, "color", where, false); ok && !hexColour.MatchString(c) {
			fail("%s: color %q", where, c)
		}
		if v, ok := e["enabled"]; ok {
			if _, isBool := v.(bool); !isBool {
				fail("%s: enabled is %T", where, v)
			}
		}
		checkMetadata(e["metadata"], where, fail)
	}
	if g, ok := l["gradient"]; ok {
		gm, ok := g.(map[string]any)
		if !ok {
			fail("gradient is not an object")
		} else {
			cs, _ := gm["colors"].([]any)
			if len(cs) < 2 {
				fail("gradient.colors has %d colours", len(cs))
			}
			for _, c := range cs {
				if s, _ := c.(string); !hexColour.MatchString(s) {
					fail("gradient colour %v", c)
				}
			}
			for _, k := range []string{"minValue", "maxValue"} {
				if _, isNum := gm[k].(float64); !isNum {
					fail("gradient.%s is %T", k, gm[k])
				}
			}
		}
	}
	if li, ok := l["legendItems"]; ok {
		items, ok := li.([]any)
		if !ok {
			fail("legendItems is not an array")
		}
		for i, it := range items {
			m, _ := it.(map[string]any)
			str(m, "label", fmt.Sprintf("legendItems[%d]", i), true)
			if c, _ := str(m, "color", fmt.Sprintf("legendItems[%d]", i), true); !hexColour.MatchString(c) {
				fail("legendItems[%d].color %q", i, c)
			}
		}
	}
	checkMetadata(l["metadata"], "layer", fail)
	return bad
}

func checkMetadata(v any, where string, fail func(string, ...any)) {
	if v == nil {
		return
	}
	list, ok := v.([]any)
	if !ok {
		fail("%s: metadata is not an array", where)
		return
	}
	for _, it := range list {
		m, _ := it.(map[string]any)
		if m["divider"] == true {
			continue
		}
		if _, ok := m["name"].(string); !ok {
			fail("%s: metadata name %v", where, m["name"])
		}
		if _, ok := m["value"].(string); !ok {
			fail("%s: metadata value %v", where, m["value"])
		}
	}
}

// exportLayer is the part of a layer the tests read back.
type exportLayer struct {
	Name       string
	Versions   struct{ Attack, Navigator, Layer string }
	Domain     string
	Techniques []struct {
		TechniqueID string
		Tactic      string
		Score       *int
		Color       string
		Comment     string
		Enabled     bool
	}
	LegendItems []struct{ Label, Color string }
	Gradient    struct {
		Colors             []string
		MinValue, MaxValue int
	}
	Metadata []struct{ Name, Value string }
}

// levelsByScore returns the seeded active levels, highest score first.
func levelsByScore(t *testing.T, w *mtWorld) []*ent.DetectionLevel {
	t.Helper()
	return w.app.Ent.DetectionLevel.Query().Where(detectionlevel.Retired(false)).
		Order(ent.Desc(detectionlevel.FieldScore)).AllX(w.ctx)
}

// tagTest adds an ATT&CK tag to a test, with its tactics.
func tagTest(w *mtWorld, id uuid.UUID, kind, extID, name string, tactics ...map[string]string) {
	c := w.app.Ent.MissionTestMitreTag.Create().SetMissionTestID(id).SetKind(missiontestmitretag.Kind(kind)).
		SetExternalID(extID).SetName(name)
	if len(tactics) > 0 {
		c.SetTactics(tactics)
	}
	c.ExecX(w.ctx)
}

func exportURL(w *mtWorld, mission uuid.UUID, what string) string {
	return "/missions/" + mission.String() + "/export/" + what
}

func TestExportNavigatorLayer(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	levels := levelsByScore(t, w)
	high, low := levels[0], levels[len(levels)-1]
	execution := map[string]string{"id": "TA0002", "shortname": "execution", "name": "Execution"}
	a := w.mk(t, missiontest.StateReviewed, true) // tagged T1059.001 by mk
	w.app.Ent.MissionTest.UpdateOneID(a).SetDetectionLevelID(low.ID).ExecX(w.ctx)
	b := w.mk(t, missiontest.StateExecuted, true)
	w.app.Ent.MissionTest.UpdateOneID(b).SetDetectionLevelID(high.ID).SetName("Encoded PowerShell").ExecX(w.ctx)
	c := w.mk(t, missiontest.StatePending, true)
	w.app.Ent.MissionTest.UpdateOneID(c).SetDetectionLevelID(w.retired).ExecX(w.ctx) // not run: not counted
	hidden := w.app.Ent.MissionTest.Create().SetMissionID(w.mission).SetName("SMB lateral move").
		SetState(missiontest.StateExecuted).SetDetectionLevelID(high.ID).SaveX(w.ctx).ID
	tagTest(w, hidden, "subtechnique", "T1021.002", "SMB/Windows Admin Shares",
		map[string]string{"id": "TA0008", "shortname": "lateral-movement", "name": "Lateral Movement"})
	cmd := w.app.Ent.MissionTest.Create().SetMissionID(w.mission).SetName("cmd").SetState(missiontest.StateExecuted).
		SetReleasedToBlue(true).SaveX(w.ctx).ID // executed, no level: listed, no score
	tagTest(w, cmd, "technique", "T1059", "Command and Scripting Interpreter", execution)
	tagTest(w, cmd, "tactic", "TA0002", "Execution")
	w.app.Ent.AttackSync.Create().SetSource("enterprise-attack-16.1.json").SetAttackVersion("16.1").
		SetStatus(attacksync.StatusSucceeded).SetFinishedAt(time.Now().Add(-time.Hour)).ExecX(w.ctx)
	w.app.Ent.AttackSync.Create().SetSource("broken.json").SetAttackVersion("18.0").
		SetStatus(attacksync.StatusFailed).SetFinishedAt(time.Now()).ExecX(w.ctx)

	for _, tc := range []struct {
		role    string
		status  int
		entries []string // techniqueID/tactic, in order
	}{
		{"lead", 200, []string{"T1021.002/", "T1059/execution", "T1059.001/"}},
		{"red", 200, []string{"T1021.002/", "T1059/execution", "T1059.001/"}},
		{"observer", 200, []string{"T1021.002/", "T1059/execution", "T1059.001/"}},
		{"admin", 200, []string{"T1021.002/", "T1059/execution", "T1059.001/"}},
		{"blue", 200, []string{"T1059/execution", "T1059.001/"}}, // released tests only
		{"outsider", 404, nil},
	} {
		t.Run(tc.role, func(t *testing.T) {
			resp := w.app.GetAs(w.cookies[tc.role], exportURL(w, w.mission, "navigator.json"))
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d", resp.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if cd := resp.Header().Get("Content-Disposition"); cd != `attachment; filename="Operation-Violet-navigator.json"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			if ct := resp.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if bad := validateLayer(resp.Body.Bytes()); len(bad) > 0 {
				t.Fatalf("layer invalid:\n%s", strings.Join(bad, "\n"))
			}
			var l exportLayer
			if err := json.Unmarshal(resp.Body.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			if l.Name != "Operation Violet" || l.Domain != "enterprise-attack" || l.Versions.Attack != "16" || l.Versions.Layer != "4.5" {
				t.Errorf("layer header %+v", l)
			}
			var got []string
			for _, e := range l.Techniques {
				got = append(got, e.TechniqueID+"/"+e.Tactic)
			}
			if !slices.Equal(got, tc.entries) {
				t.Fatalf("entries %v, want %v", got, tc.entries)
			}
			// The rule: the highest score among executed or reviewed tests
			// with a level, coloured like that level.
			ps := l.Techniques[len(l.Techniques)-1]
			if ps.Score == nil || *ps.Score != high.Score || ps.Color != high.Colour {
				t.Errorf("T1059.001 score %v colour %q, want %d %q", ps.Score, ps.Color, high.Score, high.Colour)
			}
			for _, name := range []string{"Run PowerShell", "Encoded PowerShell", high.Name, low.Name, "Old level"} {
				if !strings.Contains(ps.Comment, name) {
					t.Errorf("comment %q lacks %q", ps.Comment, name)
				}
			}
			if e := l.Techniques[len(l.Techniques)-2]; e.Score != nil || e.Color != "" || !strings.Contains(e.Comment, "cmd") {
				t.Errorf("T1059 without a level: %+v", e)
			}
			if tc.role == "lead" {
				if e := l.Techniques[0]; e.Score == nil || *e.Score != high.Score {
					t.Errorf("T1021.002: %+v", e)
				}
			}
			if len(l.LegendItems) != len(levels) || !strings.HasPrefix(l.LegendItems[0].Label, levels[0].Name) {
				t.Errorf("legend %+v", l.LegendItems)
			}
			if l.Gradient.MinValue != 0 || l.Gradient.MaxValue != 100 {
				t.Errorf("gradient %+v", l.Gradient)
			}
			if len(l.Metadata) < 2 || l.Metadata[0].Value != "Operation Violet" {
				t.Errorf("metadata %+v", l.Metadata)
			} else if _, err := time.Parse(time.RFC3339, l.Metadata[1].Value); err != nil {
				t.Errorf("export date %q: %v", l.Metadata[1].Value, err)
			}
		})
	}
	t.Run("a name with quotes, slashes and accents", func(t *testing.T) {
		w.app.Ent.Mission.UpdateOneID(w.other).SetName("Opération « Été » /\"2026\"").ExecX(w.ctx)
		resp := w.app.GetAs(w.cookies["lead"], exportURL(w, w.other, "tests.csv"))
		want := `attachment; filename="Op-ration-t-2026-tests.csv"; filename*=UTF-8''Op%C3%A9ration-%C3%89t%C3%A9-2026-tests.csv`
		if got := resp.Header().Get("Content-Disposition"); resp.Code != 200 || got != want {
			t.Errorf("%d %q, want %q", resp.Code, got, want)
		}
	})
	t.Run("another mission's id for an outsider, a malformed id", func(t *testing.T) {
		for _, u := range []string{"/missions/nope/export/navigator.json", exportURL(w, uuid.New(), "navigator.json")} {
			if resp := w.app.GetAs(w.cookies["lead"], u); resp.Code != 404 {
				t.Errorf("%s: status %d", u, resp.Code)
			}
		}
	})
}

// tricky holds what a CSV must carry intact, and formulas it must defuse.
var tricky = struct{ name, command, notes, host, alert string }{
	name:    "Exécuter, \"vite\"\nligne 2 — 日本",
	command: "=cmd|' /C calc'!A0",
	notes:   "+1 then \"quoted\", comma",
	host:    "-10.0.0.1",
	alert:   "@SUM(A1)",
}

func TestExportTestsCSV(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	level := levelsByScore(t, w)[0]
	released := w.mk(t, missiontest.StateExecuted, true)
	w.app.Ent.MissionTest.UpdateOneID(released).SetName(tricky.name).SetCommand(tricky.command).
		SetRedNotes(tricky.notes).SetSourceHost(tricky.host).SetAlertName(tricky.alert).
		SetBlueNotes("\ttab first").SetDetectionLevelID(level.ID).SetLogSource("Sysmon\r\nEID 1\rEID 3").
		SetPlatforms([]string{"windows", "linux"}).ExecX(w.ctx)
	tagTest(w, released, "tactic", "TA0002", "Execution")
	unreleased := w.mk(t, missiontest.StatePending, false)
	w.app.Ent.MissionTest.UpdateOneID(unreleased).SetPosition(1).ExecX(w.ctx)
	rt := w.get(released)
	red := w.app.Ent.User.GetX(w.ctx, w.users["red"])

	for _, tc := range []struct {
		role   string
		status int
		ids    []uuid.UUID
	}{
		{"lead", 200, []uuid.UUID{released, unreleased}},
		{"observer", 200, []uuid.UUID{released, unreleased}},
		{"blue", 200, []uuid.UUID{released}},
		{"outsider", 404, nil},
	} {
		t.Run(tc.role, func(t *testing.T) {
			resp := w.app.GetAs(w.cookies[tc.role], exportURL(w, w.mission, "tests.csv"))
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d", resp.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if ct := resp.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := resp.Header().Get("Content-Disposition"); cd != `attachment; filename="Operation-Violet-tests.csv"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			records, err := csv.NewReader(bytes.NewReader(resp.Body.Bytes())).ReadAll()
			if err != nil {
				t.Fatalf("not RFC 4180: %v", err)
			}
			if len(records) != len(tc.ids)+1 {
				t.Fatalf("%d records, want %d", len(records), len(tc.ids)+1)
			}
			col := map[string]int{}
			for i, h := range records[0] {
				col[h] = i
			}
			for i, id := range tc.ids {
				if got := records[i+1][col["id"]]; got != id.String() {
					t.Errorf("row %d id %s, want %s", i+1, got, id)
				}
			}
			row := records[1]
			for field, want := range map[string]string{
				"name":             tricky.name,
				"command":          "'" + tricky.command,
				"red_notes":        "'" + tricky.notes,
				"source_host":      "'" + tricky.host,
				"alert_name":       "'" + tricky.alert,
				"blue_notes":       "'\ttab first",
				"log_source":       "Sysmon\nEID 1\nEID 3", // line breaks as LF
				"procedure":        rt.Procedure,
				"objective":        rt.Objective,
				"state":            "executed",
				"released_to_blue": "true",
				"detection_level":  level.Name,
				"platforms":        "windows; linux",
				"tags":             "T1059.001 PowerShell; TA0002 Execution",
				"executed_by":      red.DisplayName,
				"started_at":       "2026-03-14T09:30:00Z",
				"ended_at":         "2026-03-14T09:35:00Z",
			} {
				if got := row[col[field]]; got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			if _, ok := col["detected_at"]; !ok || len(records[0]) != len(row) {
				t.Errorf("header %v", records[0])
			}
		})
	}
}

// exportArchive is the JSON archive as the test reads it back.
type exportArchive struct {
	Format       string `json:"format"`
	Version      int    `json:"version"`
	ExportedAt   string `json:"exported_at"`
	ReleasedOnly bool   `json:"released_only"`
	Mission      struct {
		ID, Name, Status string
	} `json:"mission"`
	Members []struct{ Name, Email, Role string } `json:"members"`
	Tests   []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Procedure string `json:"procedure"`
		Tags      []struct {
			Kind       string `json:"kind"`
			ExternalID string `json:"external_id"`
		} `json:"tags"`
		Red struct {
			Command   string  `json:"command"`
			StartedAt *string `json:"started_at"`
		} `json:"red"`
		Blue struct {
			DetectionLevel *struct{ Name string } `json:"detection_level"`
			AlertName      string                 `json:"alert_name"`
		} `json:"blue"`
		Evidence []struct {
			Name, Side, SHA256, Caption string
			Size                        int64
			UploadedBy                  struct{ Email string } `json:"uploaded_by"`
		} `json:"evidence"`
	} `json:"tests"`
}

func TestExportMissionJSON(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	level := levelsByScore(t, w)[0]
	released := w.mk(t, missiontest.StateExecuted, true)
	w.app.Ent.MissionTest.UpdateOneID(released).SetCommand(tricky.command).SetAlertName("Sigma: PS encoded").
		SetDetectionLevelID(level.ID).ExecX(w.ctx)
	unreleased := w.mk(t, missiontest.StatePending, false)
	w.app.Ent.MissionTest.UpdateOneID(unreleased).SetPosition(1).ExecX(w.ctx)
	sha := strings.Repeat("ab", 32)
	w.app.Ent.EvidenceFile.Create().SetMissionTestID(released).SetSide("red").SetUploadedByID(w.users["red"]).
		SetOriginalName("screen.png").SetStoredKey("k1").SetContentType("image/png").SetSize(1234).
		SetSha256(sha).SetCaption("the prompt").ExecX(w.ctx)
	w.app.Ent.EvidenceFile.Create().SetMissionTestID(released).SetSide("blue").SetUploadedByID(w.users["blue"]).
		SetOriginalName("gone.log").SetStoredKey("k2").SetContentType("text/plain").SetSize(1).
		SetSha256(sha).SetDeletedAt(time.Now()).ExecX(w.ctx)

	for _, tc := range []struct {
		role   string
		status int
		tests  []uuid.UUID
	}{
		{"lead", 200, []uuid.UUID{released, unreleased}},
		{"admin", 200, []uuid.UUID{released, unreleased}},
		{"blue", 200, []uuid.UUID{released}},
		{"outsider", 404, nil},
	} {
		t.Run(tc.role, func(t *testing.T) {
			resp := w.app.GetAs(w.cookies[tc.role], exportURL(w, w.mission, "mission.json"))
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d", resp.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if cd := resp.Header().Get("Content-Disposition"); cd != `attachment; filename="Operation-Violet-mission.json"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			var a exportArchive
			if err := json.Unmarshal(resp.Body.Bytes(), &a); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if a.Format != "violet-mission" || a.Version != 1 || a.Mission.Name != "Operation Violet" || a.Mission.ID != w.mission.String() {
				t.Errorf("header %+v", a)
			}
			if a.ReleasedOnly != (tc.role == "blue") {
				t.Errorf("released_only %v", a.ReleasedOnly)
			}
			if ts, err := time.Parse(time.RFC3339, a.ExportedAt); err != nil || ts.Location() != time.UTC {
				t.Errorf("exported_at %q", a.ExportedAt)
			}
			var roles []string
			for _, m := range a.Members {
				roles = append(roles, strings.TrimSuffix(m.Email, "@example.com")+"="+m.Role)
			}
			if strings.Join(roles, ",") != "blue=blue,lead=lead,observer=observer,red=red" {
				t.Errorf("members %v", roles)
			}
			if len(a.Tests) != len(tc.tests) {
				t.Fatalf("%d tests, want %d", len(a.Tests), len(tc.tests))
			}
			for i, id := range tc.tests {
				if a.Tests[i].ID != id.String() {
					t.Errorf("test %d is %s, want %s", i, a.Tests[i].ID, id)
				}
			}
			got := a.Tests[0]
			if got.Red.Command != tricky.command || got.Blue.AlertName != "Sigma: PS encoded" ||
				got.Blue.DetectionLevel == nil || got.Blue.DetectionLevel.Name != level.Name ||
				got.Procedure != "Run **encoded** commands" || got.Red.StartedAt == nil || *got.Red.StartedAt != "2026-03-14T09:30:00Z" {
				t.Errorf("test fields %+v", got)
			}
			if len(got.Tags) != 1 || got.Tags[0].ExternalID != "T1059.001" || got.Tags[0].Kind != "subtechnique" {
				t.Errorf("tags %+v", got.Tags)
			}
			if len(got.Evidence) != 1 {
				t.Fatalf("evidence %+v (the deleted file must not appear)", got.Evidence)
			}
			if e := got.Evidence[0]; e.Name != "screen.png" || e.Size != 1234 || e.SHA256 != sha || e.Side != "red" ||
				e.Caption != "the prompt" || e.UploadedBy.Email != "red@example.com" {
				t.Errorf("evidence %+v", e)
			}
		})
	}
}

// navigatorWorld adds a small catalogue and library to a mission world:
// T1059 with its sub-technique T1059.001, T1003 (no template), and three
// templates (one tagged with both T1059 and T1059.001).
type navigatorWorld struct {
	*mtWorld
	psTemplate, cmdTemplate, bothTemplate uuid.UUID
}

func newNavigatorWorld(t *testing.T) *navigatorWorld {
	w := &navigatorWorld{mtWorld: newMTWorld(t)}
	e := w.app.Ent
	exec := e.MitreTactic.Create().SetStixID("x-mitre-tactic--1").SetExternalID("TA0002").SetName("Execution").
		SetShortname("execution").SaveX(w.ctx)
	t1059 := e.MitreTechnique.Create().SetStixID("attack-pattern--1").SetExternalID("T1059").
		SetName("Command and Scripting Interpreter").AddTactics(exec).SaveX(w.ctx)
	ps := e.MitreSubtechnique.Create().SetStixID("attack-pattern--2").SetExternalID("T1059.001").
		SetName("PowerShell").SetTechnique(t1059).SaveX(w.ctx)
	e.MitreTechnique.Create().SetStixID("attack-pattern--3").SetExternalID("T1003").SetName("OS Credential Dumping").ExecX(w.ctx)
	mk := func(name string) uuid.UUID { return e.TestTemplate.Create().SetName(name).SaveX(w.ctx).ID }
	w.psTemplate, w.cmdTemplate, w.bothTemplate = mk("PowerShell download cradle"), mk("cmd.exe whoami"), mk("Script both ways")
	e.TestTemplateMitreTag.Create().SetTestTemplateID(w.psTemplate).SetSubtechniqueID(ps.ID).ExecX(w.ctx)
	e.TestTemplateMitreTag.Create().SetTestTemplateID(w.cmdTemplate).SetTechniqueID(t1059.ID).ExecX(w.ctx)
	e.TestTemplateMitreTag.Create().SetTestTemplateID(w.bothTemplate).SetTechniqueID(t1059.ID).ExecX(w.ctx)
	e.TestTemplateMitreTag.Create().SetTestTemplateID(w.bothTemplate).SetSubtechniqueID(ps.ID).ExecX(w.ctx)
	deleted := mk("Deleted template")
	e.TestTemplateMitreTag.Create().SetTestTemplateID(deleted).SetTechniqueID(t1059.ID).ExecX(w.ctx)
	e.TestTemplate.UpdateOneID(deleted).SetDeletedAt(time.Now()).ExecX(w.ctx)
	return w
}

// navigatorPost uploads a layer as a file (name != "") or as text.
func navigatorPost(w *navigatorWorld, role, name, layer string) *httptest.ResponseRecorder {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if name != "" {
		f, _ := mw.CreateFormFile("layer", name)
		f.Write([]byte(layer))
		mw.WriteField("layer_text", "")
	} else {
		mw.WriteField("layer_text", layer)
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, "/missions/"+w.mission.String()+"/plan/navigator", &b)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(w.cookies[role])
	return w.app.Do(r)
}

// missionTestCount counts the mission's live tests.
func missionTestCount(t *testing.T, w *mtWorld) int {
	t.Helper()
	return w.app.Ent.MissionTest.Query().Where(missiontest.MissionID(w.mission)).CountX(w.ctx)
}

const goodLayer = `{"name":"APT demo","domain":"enterprise-attack","versions":{"layer":"4.5","navigator":"4.9.1","attack":"16"},
"techniques":[{"techniqueID":"T1059.001","tactic":"execution","score":50},{"techniqueID":"T1059","color":"#ff0000"},
{"techniqueID":"T1003","comment":"dumped lsass"},{"techniqueID":"T1105","showSubtechniques":true}]}`

func TestNavigatorImport(t *testing.T) {
	t.Parallel()
	w := newNavigatorWorld(t)
	base := "/missions/" + w.mission.String() + "/plan/navigator"

	t.Run("refused files: 422 next to the field, input kept, nothing created", func(t *testing.T) {
		for _, tc := range []struct {
			name, file, text, errorKey string
			ids                        string
		}{
			{"nothing sent", "", "", "Choose a layer file", ""},
			{"not JSON", "layer.json", `{"name": "half`, "This is not JSON", ""},
			{"wrong domain", "", `{"name":"m","domain":"mobile-attack","techniques":[{"techniqueID":"T1404","score":1}]}`, "Only Enterprise", "mobile-attack"},
			{"no techniques", "layer.json", `{"name":"m","domain":"enterprise-attack","techniques":[]}`, "marks no technique", ""},
			{"unknown IDs", "", `{"name":"m","domain":"enterprise-attack","techniques":[{"techniqueID":"T1059","score":1},{"techniqueID":"T9999","score":1}]}`, "does not hold", "T9999"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := missionTestCount(t, w.mtWorld)
				resp := navigatorPost(w, "lead", tc.file, tc.text)
				if resp.Code != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, want 422", resp.Code)
				}
				d := doc(t, resp)
				if got := testid(d, "error-layer"); !strings.Contains(got, tc.errorKey) {
					t.Errorf("error %q, want %q", got, tc.errorKey)
				}
				if d.Find(`[data-testid="error-summary"] a[href="#field-layer"]`).Length() != 1 {
					t.Error("no error summary linking to the field")
				}
				if got := testid(d, "error-layer-ids"); got != tc.ids {
					t.Errorf("ids %q, want %q", got, tc.ids)
				}
				if got := d.Find("#field-layer_text").Text(); got != tc.text {
					t.Errorf("input not kept: %q", got)
				}
				if n := missionTestCount(t, w.mtWorld); n != before {
					t.Errorf("%d tests created", n-before)
				}
			})
		}
	})

	t.Run("preview lists templates per technique and creates nothing", func(t *testing.T) {
		before := missionTestCount(t, w.mtWorld)
		resp := navigatorPost(w, "lead", "apt.json", goodLayer)
		if resp.Code != http.StatusOK {
			t.Fatalf("status %d", resp.Code)
		}
		d := doc(t, resp)
		var rows []string
		d.Find(`[data-testid="navigator-technique"]`).Each(func(_ int, s *goquery.Selection) {
			id, _ := s.Attr("data-technique")
			var names []string
			s.Find(`[data-testid="navigator-template"]`).Each(func(_ int, l *goquery.Selection) {
				in := l.Find("input")
				_, checked := in.Attr("checked")
				names = append(names, fmt.Sprintf("%s:%v", strings.TrimSpace(l.Text()), checked))
			})
			if s.Find(`[data-testid="navigator-no-template"]`).Length() == 1 {
				names = append(names, "none")
			}
			rows = append(rows, id+"="+strings.Join(names, "|"))
		})
		want := []string{
			"T1059.001=PowerShell download cradle:true|Script both ways:true",
			"T1059=cmd.exe whoami:true",
			"T1003=none",
		}
		if !slices.Equal(rows, want) {
			t.Errorf("preview\n got %v\nwant %v", rows, want)
		}
		if d.Find(`[data-testid="navigator-template-again"]`).Length() != 1 {
			t.Error("the template tagged with both techniques should be listed once with a checkbox")
		}
		if n := missionTestCount(t, w.mtWorld); n != before {
			t.Errorf("the preview created %d tests", n-before)
		}
	})

	confirm := func(role string, templates ...uuid.UUID) *httptest.ResponseRecorder {
		f := url.Values{"layer_name": {"APT demo"}, "technique": {"T1059.001", "T1059", "T1003"}}
		for _, id := range templates {
			f.Add("template_id", id.String())
		}
		return w.app.PostAs(w.cookies[role], base+"/confirm", f)
	}

	t.Run("confirming nothing is refused", func(t *testing.T) {
		before := missionTestCount(t, w.mtWorld)
		resp := confirm("lead")
		if resp.Code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", resp.Code)
		}
		d := doc(t, resp)
		if testid(d, "error-template_id") == "" || d.Find(`[data-testid="navigator-template"] input[checked]`).Length() != 0 {
			t.Error("the preview should come back with the error and nothing ticked")
		}
		if n := missionTestCount(t, w.mtWorld); n != before {
			t.Errorf("%d tests created", n-before)
		}
	})

	t.Run("roles", func(t *testing.T) {
		before := missionTestCount(t, w.mtWorld)
		for _, tc := range []struct {
			role   string
			status int
		}{{"red", 403}, {"blue", 403}, {"observer", 403}, {"outsider", 404}} {
			if resp := w.app.GetAs(w.cookies[tc.role], base); resp.Code != tc.status {
				t.Errorf("%s GET: %d, want %d", tc.role, resp.Code, tc.status)
			}
			if resp := navigatorPost(w, tc.role, "", goodLayer); resp.Code != tc.status {
				t.Errorf("%s preview: %d, want %d", tc.role, resp.Code, tc.status)
			}
			if resp := confirm(tc.role, w.psTemplate); resp.Code != tc.status {
				t.Errorf("%s confirm: %d, want %d", tc.role, resp.Code, tc.status)
			}
		}
		for _, role := range []string{"lead", "admin"} {
			if resp := w.app.GetAs(w.cookies[role], base); resp.Code != 200 || doc(t, resp).Find(`[data-testid="navigator-upload-form"]`).Length() != 1 {
				t.Errorf("%s GET: %d", role, resp.Code)
			}
		}
		if resp := navigatorPost(w, "admin", "", goodLayer); resp.Code != 200 {
			t.Errorf("admin preview: %d", resp.Code)
		}
		if n := missionTestCount(t, w.mtWorld); n != before {
			t.Errorf("%d tests created", n-before)
		}
	})

	t.Run("confirm creates exactly the chosen tests with their tags", func(t *testing.T) {
		before := missionTestCount(t, w.mtWorld)
		resp := confirm("lead", w.psTemplate, w.bothTemplate, w.psTemplate)
		if resp.Code != http.StatusSeeOther {
			t.Fatalf("status %d", resp.Code)
		}
		created := w.app.Ent.MissionTest.Query().Where(missiontest.MissionID(w.mission),
			missiontest.TestTemplateIDIn(w.psTemplate, w.bothTemplate, w.cmdTemplate)).
			Order(ent.Asc(missiontest.FieldPosition)).WithMitreTags(func(q *ent.MissionTestMitreTagQuery) {
			q.Order(ent.Asc(missiontestmitretag.FieldExternalID))
		}).AllX(w.ctx)
		if n := missionTestCount(t, w.mtWorld); n != before+2 || len(created) != 2 {
			t.Fatalf("%d tests created (%d from the templates), want 2", n-before, len(created))
		}
		var got []string
		for _, c := range created {
			var tags []string
			for _, g := range c.Edges.MitreTags {
				tags = append(tags, g.ExternalID)
			}
			got = append(got, c.Name+"="+strings.Join(tags, ","))
		}
		want := []string{"PowerShell download cradle=T1059.001", "Script both ways=T1059,T1059.001"}
		if !slices.Equal(got, want) {
			t.Errorf("created %v, want %v", got, want)
		}
		ev := w.app.Ent.AuditEvent.Query().Where(auditevent.TargetID(w.mission.String())).
			Order(ent.Desc(auditevent.FieldCreatedAt)).FirstX(w.ctx)
		if ev.Details["change"] != "navigator_import" || ev.Details["layer"] != "APT demo" {
			t.Errorf("audit %s %v", ev.Action, ev.Details)
		}
	})

	t.Run("an archived mission refuses the import", func(t *testing.T) {
		w.app.Ent.Mission.UpdateOneID(w.other).SetStatus("archived").ExecX(w.ctx)
		other := "/missions/" + w.other.String() + "/plan/navigator"
		if resp := w.app.GetAs(w.cookies["lead"], other); resp.Code != http.StatusConflict {
			t.Errorf("GET: %d, want 409", resp.Code)
		}
		f := url.Values{"technique": {"T1059"}, "template_id": {w.psTemplate.String()}}
		if resp := w.app.PostAs(w.cookies["lead"], other+"/confirm", f); resp.Code != http.StatusConflict {
			t.Errorf("confirm: %d, want 409", resp.Code)
		}
		if n := w.app.Ent.MissionTest.Query().Where(missiontest.MissionID(w.other)).CountX(w.ctx); n != 1 {
			t.Errorf("%d tests in the archived mission, want its 1", n)
		}
	})

	t.Run("a template deleted since the preview: nothing created", func(t *testing.T) {
		w.app.Ent.TestTemplate.UpdateOneID(w.cmdTemplate).SetDeletedAt(time.Now()).ExecX(w.ctx)
		before := missionTestCount(t, w.mtWorld)
		if resp := confirm("lead", w.psTemplate, w.cmdTemplate); resp.Code != http.StatusUnprocessableEntity {
			t.Errorf("status %d, want 422", resp.Code)
		}
		if n := missionTestCount(t, w.mtWorld); n != before {
			t.Errorf("%d tests created", n-before)
		}
	})
}

// TestExportQueryCount: each export runs the same number of statements
// for 3 and for 60 tests (tags, levels, people and evidence included).
func TestExportQueryCount(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	srv, n := countingServer(t, w.app)
	level := levelsByScore(t, w)[0]
	add := func(k int) {
		for range k {
			id := w.mk(t, missiontest.StateExecuted, true)
			w.app.Ent.MissionTest.UpdateOneID(id).SetDetectionLevelID(level.ID).SetReviewedByID(w.users["lead"]).ExecX(w.ctx)
			w.app.Ent.EvidenceFile.Create().SetMissionTestID(id).SetSide("red").SetUploadedByID(w.users["red"]).
				SetOriginalName("e.txt").SetStoredKey(uuid.NewString()).SetContentType("text/plain").SetSize(1).
				SetSha256(strings.Repeat("0", 64)).ExecX(w.ctx)
		}
	}
	paths := []string{"navigator.json", "tests.csv", "mission.json"}
	count := func() map[string]int64 {
		out := map[string]int64{}
		for _, p := range paths {
			status, q := countQueries(srv, n, w.cookies["lead"], exportURL(w, w.mission, p))
			if status != http.StatusOK {
				t.Fatalf("%s: status %d", p, status)
			}
			out[p] = q
		}
		return out
	}
	add(3)
	few := count()
	add(57)
	many := count()
	for _, p := range paths {
		if few[p] != many[p] {
			t.Errorf("%s: %d statements for 60 tests, %d for 3", p, many[p], few[p])
		}
		t.Logf("%s: %d statements", p, many[p])
	}
}

// TestExportLinks: the overview's export block links to routes that
// answer, and offers the import to leads only.
func TestExportLinks(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	w.mk(t, missiontest.StateExecuted, true)
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	ctx := i18n.NewContext(context.Background(), catalog.Pick("en", ""))
	for _, tc := range []struct {
		role      string
		canManage bool
		links     int
	}{{"lead", true, 6}, {"blue", false, 5}} { // the tests CSV twice: for tools and for Excel; the archive
		var buf bytes.Buffer
		if err := missionpage.Exports(w.mission.String(), tc.canManage).Render(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		d, err := goquery.NewDocumentFromReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		links := d.Find(`[data-testid="mission-exports"] a`)
		if links.Length() != tc.links {
			t.Errorf("%s: %d links, want %d", tc.role, links.Length(), tc.links)
		}
		links.Each(func(_ int, a *goquery.Selection) {
			href, _ := a.Attr("href")
			if resp := w.app.GetAs(w.cookies[tc.role], href); resp.Code != http.StatusOK {
				t.Errorf("%s: %s answers %d", tc.role, href, resp.Code)
			}
		})
	}
}

// previewRows reads the preview: per technique row, its templates as
// "name:ticked" (and "none" for a row without any).
func previewRows(d *goquery.Document) []string {
	var rows []string
	d.Find(`[data-testid="navigator-technique"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-technique")
		var names []string
		s.Find(`[data-testid="navigator-template"]`).Each(func(_ int, l *goquery.Selection) {
			in := l.Find("input")
			_, checked := in.Attr("checked")
			name := strings.TrimSpace(l.Contents().FilterFunction(func(_ int, n *goquery.Selection) bool { return goquery.NodeName(n) == "#text" }).Text())
			names = append(names, name+":"+map[bool]string{true: "ticked", false: "unticked"}[checked])
		})
		if s.Find(`[data-testid="navigator-no-template"]`).Length() == 1 {
			names = append(names, "none")
		}
		rows = append(rows, id+"="+strings.Join(names, "|"))
	})
	return rows
}

// TestNavigatorImportFormats reads the layers the Navigator itself writes
// (formats 3.x and 4.x, the old domain name), honours the layer's
// platforms and lists the marked techniques without a template as gaps,
// through the real router.
func TestNavigatorImportFormats(t *testing.T) {
	t.Parallel()
	w := newNavigatorWorld(t)
	e := w.app.Ent
	e.TestTemplate.UpdateOneID(w.psTemplate).SetPlatforms([]string{"Windows"}).ExecX(w.ctx)
	e.TestTemplate.UpdateOneID(w.cmdTemplate).SetPlatforms([]string{"Linux", "macOS"}).ExecX(w.ctx)
	v3, err := os.ReadFile("../internal/navigator/testdata/layer-v3.0.json")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("format 3.0, domain mitre-enterprise, Windows only", func(t *testing.T) {
		before := missionTestCount(t, w.mtWorld)
		resp := navigatorPost(w, "lead", "old.json", string(v3))
		if resp.Code != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Code, testid(doc(t, resp), "error-layer"))
		}
		d := doc(t, resp)
		want := []string{
			"T1059=Script both ways:ticked|cmd.exe whoami:unticked",
			"T1059.001=PowerShell download cradle:ticked",
			"T1003=none",
		}
		if got := previewRows(d); !slices.Equal(got, want) {
			t.Errorf("preview\n got %v\nwant %v", got, want)
		}
		if got := testid(d, "navigator-layer-platforms"); !strings.Contains(got, "Windows") {
			t.Errorf("layer platforms %q", got)
		}
		var shown []string
		d.Find(`[data-testid="navigator-template-platforms"]`).Each(func(_ int, s *goquery.Selection) { shown = append(shown, s.Text()) })
		if !slices.Equal(shown, []string{"(Linux, macOS)", "(Windows)"}) {
			t.Errorf("template platforms %v", shown)
		}
		if d.Find(`[data-testid="navigator-off-platform"]`).Length() != 1 {
			t.Error("the Linux/macOS template should be marked as off the layer's platforms")
		}
		// Gaps: the marked technique without a template, with a link to
		// create one; the unmarked (T1105) and disabled (T1110) ones are not.
		var gaps []string
		d.Find(`[data-testid="navigator-gap"]`).Each(func(_ int, s *goquery.Selection) {
			id, _ := s.Attr("data-technique")
			href, _ := s.Find(`[data-testid="navigator-gap-new"]`).Attr("href")
			gaps = append(gaps, id+" "+href)
		})
		if !slices.Equal(gaps, []string{"T1003 /library/tests/new"}) {
			t.Errorf("gaps %v", gaps)
		}
		if n := missionTestCount(t, w.mtWorld); n != before {
			t.Errorf("the preview created %d tests", n-before)
		}
	})

	t.Run("a refused confirmation shows the preview again with the layer's platforms", func(t *testing.T) {
		f := url.Values{"layer_name": {"Format 3.0 layer"}, "technique": {"T1059", "T1059.001", "T1003"}, "platform": {"windows"}}
		resp := w.app.PostAs(w.cookies["lead"], "/missions/"+w.mission.String()+"/plan/navigator/confirm", f)
		if resp.Code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", resp.Code)
		}
		d := doc(t, resp)
		if d.Find(`[data-testid="navigator-off-platform"]`).Length() != 1 || !strings.Contains(testid(d, "navigator-layer-platforms"), "Windows") {
			t.Error("the layer's platforms were lost")
		}
		if len(d.Find(`[data-testid="navigator-gap"]`).Nodes) != 1 {
			t.Error("the gap was lost")
		}
	})

	t.Run("format 4.x and no platform filter: everything ticked, no gap", func(t *testing.T) {
		for _, head := range []string{
			`"versions":{"layer":"4.1","navigator":"4.3"},"domain":"enterprise-attack"`,
			`"version":"4.2","domain":"mitre-enterprise"`,
		} {
			resp := navigatorPost(w, "lead", "", `{"name":"x",`+head+`,"techniques":[{"techniqueID":"T1059","score":1}]}`)
			if resp.Code != http.StatusOK {
				t.Fatalf("%s: status %d", head, resp.Code)
			}
			d := doc(t, resp)
			if got := previewRows(d); !slices.Equal(got, []string{"T1059=Script both ways:ticked|cmd.exe whoami:ticked"}) {
				t.Errorf("%s: preview %v", head, got)
			}
			if d.Find(`[data-testid="navigator-gaps"]`).Length() != 0 || d.Find(`[data-testid="navigator-layer-platforms"]`).Length() != 0 {
				t.Errorf("%s: gaps or platforms shown", head)
			}
		}
	})

	t.Run("other formats and domains are refused with the reason", func(t *testing.T) {
		for _, tc := range []struct{ head, message, ids string }{
			{`"version":"2.2","domain":"mitre-enterprise"`, "format 3.x or 4.x", "2.2"},
			{`"versions":{"layer":"5.0"},"domain":"enterprise-attack"`, "format 3.x or 4.x", "5.0"},
			{`"version":"3.0","domain":"mitre-mobile"`, "Only Enterprise", "mitre-mobile"},
			{`"versions":{"layer":"4.5"},"domain":"ics-attack"`, "Only Enterprise", "ics-attack"},
		} {
			resp := navigatorPost(w, "lead", "", `{"name":"x",`+tc.head+`,"techniques":[{"techniqueID":"T1059","score":1}]}`)
			if resp.Code != http.StatusUnprocessableEntity {
				t.Fatalf("%s: status %d", tc.head, resp.Code)
			}
			d := doc(t, resp)
			if got := testid(d, "error-layer"); !strings.Contains(got, tc.message) {
				t.Errorf("%s: error %q", tc.head, got)
			}
			if got := testid(d, "error-layer-ids"); got != tc.ids {
				t.Errorf("%s: ids %q", tc.head, got)
			}
		}
	})
}
