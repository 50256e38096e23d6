package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent/evidencefile"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/evidence"
)

// TestSoftDeletedAbsentEverywhere: a soft-deleted mission, mission test or
// evidence file is absent from every page that could show it (lists, the htmx
// search, the mission and test pages, the evidence section, the report, the
// three exports), and its own URLs answer 404. Each deleted thing carries a
// marker no live row has, so "absent" is a plain search of the answer.
func TestSoftDeletedAbsentEverywhere(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	deleted := time.Now().Add(-time.Hour)
	evidenceRow := func(test uuid.UUID, name, ctype string, gone bool) uuid.UUID {
		c := w.app.Ent.EvidenceFile.Create().SetMissionTestID(test).SetSide(evidencefile.SideRed).
			SetUploadedByID(w.users["red"]).SetOriginalName(name).SetStoredKey(evidence.NewKey()).
			SetContentType(ctype).SetSize(int64(len(name))).SetSha256(sha([]byte(name))).
			SetCaption("caption of " + name)
		if gone {
			c.SetDeletedAt(deleted)
		}
		return c.SaveX(w.ctx).ID
	}

	// The live mission: a live test with a live and a deleted evidence
	// file, and a deleted test (its own technique, its own evidence).
	live := w.mk(t, missiontest.StateExecuted, true)
	w.app.Ent.MissionTest.UpdateOneID(live).SetName("Live test").ExecX(w.ctx)
	evidenceRow(live, "kept-evidence.txt", "text/plain", false)
	goneEv := evidenceRow(live, "gone-evidence-marker.png", "image/png", true)
	goneTest := w.app.Ent.MissionTest.Create().SetMissionID(w.mission).SetName("Gone test marker").
		SetState(missiontest.StateExecuted).SetReleasedToBlue(true).SetAlertName("gone alert marker").
		SetDeletedAt(deleted).SaveX(w.ctx).ID
	w.app.Ent.MissionTestMitreTag.Create().SetMissionTestID(goneTest).SetKind("technique").
		SetExternalID("T1003").SetName("OS Credential Dumping").ExecX(w.ctx)
	goneTestEv := evidenceRow(goneTest, "gone-test-evidence-marker.txt", "text/plain", false)

	// A deleted mission the viewers were members of, with a test.
	goneMission := w.app.Ent.Mission.Create().SetName("Gone mission marker").SetDeletedAt(deleted).SaveX(w.ctx).ID
	for _, role := range []string{"lead", "red", "blue", "observer"} {
		w.app.Ent.MissionMember.Create().SetMissionID(goneMission).SetUserID(w.users[role]).
			SetRole(missionmember.Role(role)).ExecX(w.ctx)
	}
	goneMissionTest := w.app.Ent.MissionTest.Create().SetMissionID(goneMission).SetName("Gone mission test").
		SetReleasedToBlue(true).SaveX(w.ctx).ID

	m := "/missions/" + w.mission.String()
	gm := "/missions/" + goneMission.String()
	liveTest := m + "/tests/" + live.String()
	testMarkers := []string{"Gone test marker", "gone alert marker", "T1003", "gone-test-evidence-marker", "gone-evidence-marker"}
	missionMarkers := []string{"Gone mission marker", goneMission.String()}
	goneName := missionMarkers[:1] // its own URLs name its id, of course
	hx := []string{"HX-Request", "true"}
	rows := []struct {
		role, path string
		header     []string
		status     int
		absent     []string
		present    string // a live thing the answer shows, so that absence proves something
	}{
		// Where missions are listed.
		{"lead", "/", nil, 200, missionMarkers, ""},
		{"lead", "/missions", nil, 200, missionMarkers, "Operation Violet"},
		{"admin", "/missions", nil, 200, missionMarkers, "Operation Violet"},
		{"lead", "/missions?q=o", hx, 200, missionMarkers, "Operation Violet"},
		{"lead", "/missions?q=ion&mine=1", hx, 200, missionMarkers, "Operation Violet"},
		{"lead", "/notifications", nil, 200, missionMarkers, ""},
		// The live mission: page, plan, report, exports.
		{"lead", m, nil, 200, testMarkers, "Live test"},
		{"blue", m, nil, 200, testMarkers, "Live test"},
		{"lead", m + "/figures", hx, 200, testMarkers, ""},
		{"lead", m + "/report", nil, 200, testMarkers, "Live test"},
		{"observer", m + "/report", nil, 200, testMarkers, "Live test"},
		{"lead", m + "/export/tests.csv", nil, 200, testMarkers, "Live test"},
		{"lead", m + "/export/mission.json", nil, 200, testMarkers, "Live test"},
		{"lead", m + "/export/navigator.json", nil, 200, testMarkers, "Live test"},
		{"admin", m + "/export/mission.json", nil, 200, testMarkers, "Live test"},
		// The live test: its page and its evidence section.
		{"lead", liveTest, nil, 200, testMarkers, "Live test"},
		{"blue", liveTest, nil, 200, testMarkers, "Live test"},
		{"lead", liveTest + "/evidence", hx, 200, testMarkers, "kept-evidence.txt"},
		// The deleted things' own URLs.
		{"lead", m + "/tests/" + goneTest.String(), nil, 404, testMarkers, ""},
		{"lead", m + "/tests/" + goneTest.String() + "/evidence", hx, 404, testMarkers, ""},
		{"lead", m + "/tests/" + goneTest.String() + "/evidence/" + goneTestEv.String(), nil, 404, testMarkers, ""},
		{"lead", liveTest + "/evidence/" + goneEv.String(), nil, 404, testMarkers, ""},
		{"lead", liveTest + "/evidence/" + goneEv.String() + "/preview", nil, 404, testMarkers, ""},
		{"lead", gm, nil, 404, goneName, ""},
		{"admin", gm, nil, 404, goneName, ""},
		{"lead", gm + "/report", nil, 404, goneName, ""},
		{"lead", gm + "/export/tests.csv", nil, 404, goneName, ""},
		{"lead", gm + "/export/mission.json", nil, 404, goneName, ""},
		{"lead", gm + "/export/navigator.json", nil, 404, goneName, ""},
		{"lead", gm + "/tests/" + goneMissionTest.String(), nil, 404, append(goneName, "Gone mission test"), ""},
	}
	for _, row := range rows {
		t.Run(row.role+" "+row.path, func(t *testing.T) {
			resp := w.app.GetAs(w.cookies[row.role], row.path, row.header...)
			if resp.Code != row.status {
				t.Fatalf("status %d, want %d\n%.2000s", resp.Code, row.status, resp.Body)
			}
			body := resp.Body.String()
			for _, s := range row.absent {
				if strings.Contains(body, s) {
					t.Errorf("the answer shows %q", s)
				}
			}
			if !strings.Contains(body, row.present) {
				t.Errorf("the answer lacks the live %q: it proves nothing", row.present)
			}
		})
	}
}
