package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/defensivetool"
	"violet/internal/testkit/apptest"
)

// TestMissionSettingsToolScope: the settings page lists the active tools
// and the inactive ones in scope (marked), with the scope checked; saving
// sets the scope, which the overview shows; an inactive tool cannot be
// newly added (422, the choice kept), a stale save is 409 with the choice
// kept and the stored scope beside it; blue cannot change it; an empty
// registry says where tools are added.
func TestMissionSettingsToolScope(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	settings := missionURL(m, "/settings")
	w.Run(t,
		apptest.Step{Name: "empty registry, lead", As: "lead", Path: settings,
			TestIDs: []string{"mission-tools-empty"}, NoTestIDs: []string{"mission-tool-choice", "mission-tools-registry"},
			Text: map[string]string{"mission-tools-empty": "An administrator adds them"}},
		apptest.Step{Name: "empty registry, admin", As: "admin", Path: settings,
			TestIDs: []string{"mission-tools-registry"}, Text: map[string]string{"mission-tools-registry": "Add them under Administration"}},
	)

	tool := func(name string, kind defensivetool.Kind, active bool) uuid.UUID {
		tl, err := w.Ent.DefensiveTool.Create().SetName(name).SetVendor("Acme").SetKind(kind).SetActive(active).Save(w.Sys())
		if err != nil {
			t.Fatal(err)
		}
		return tl.ID
	}
	edr, siem, oldAV, gone := tool("EDR X", "edr", true), tool("SIEM Y", "siem", true), tool("Old AV", "av", false), tool("Gone NDR", "ndr", true)
	w.Ent.Mission.UpdateOneID(m).AddToolIDs(oldAV, gone).ExecX(w.Sys())
	w.Exec(t, `UPDATE defensive_tools SET deleted_at = now() WHERE id = $1`, gone)

	// choices are the page's tools: id → "checked" or "", "inactive" added.
	choices := func(t *testing.T, r *httptest.ResponseRecorder) map[string]string {
		out := map[string]string{}
		doc(t, r).Find(`[data-testid="mission-tool-choice"]`).Each(func(_ int, s *goquery.Selection) {
			v := ""
			if _, ok := s.Find("input").Attr("checked"); ok {
				v = "checked"
			}
			if s.Find(`[data-testid="mission-tool-inactive"]`).Length() > 0 {
				v += " inactive"
			}
			out[s.AttrOr("data-id", "")] = strings.TrimSpace(v)
		})
		return out
	}
	// form is the settings form with ids checked, at the mission's version
	// when it is built: each save runs before the next form is built.
	form := func(ids ...uuid.UUID) url.Values {
		f := validMission("Operation Violet")
		f.Set("version", missionVersion(t, w, m))
		f.Set("tools_shown", "1")
		for _, id := range ids {
			f.Add("tools", id.String())
		}
		return f
	}
	inScope := "mission_tools WHERE mission_id = " + apptest.Lit(m)
	w.Run(t,
		apptest.Step{Name: "settings list the tools", As: "lead", Path: settings,
			NoTestIDs: []string{"mission-tools-empty"},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				got := choices(t, r)
				want := map[string]string{edr.String(): "", siem.String(): "", oldAV.String(): "checked inactive"}
				if len(got) != len(want) {
					t.Errorf("choices %v, want %v", got, want)
				}
				for id, v := range want {
					if got[id] != v {
						t.Errorf("tool %s: %q, want %q", id, got[id], v)
					}
				}
			}},
		apptest.Step{Name: "blue cannot change the scope", As: "blue", Path: settings, Form: form(edr), Status: http.StatusForbidden,
			Rows: apptest.Rows{inScope: 0}},
	)
	w.Run(t,
		apptest.Step{Name: "lead sets the scope", As: "lead", Path: settings, Form: form(edr, siem, oldAV), Status: http.StatusSeeOther,
			Rows: apptest.Rows{inScope: +2, actions("mission.updated"): +1}},
		apptest.Step{Name: "the overview shows it", As: "blue", Path: missionURL(m, ""),
			TestIDs: []string{"mission-tools"},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				var names []string
				doc(t, r).Find(`[data-testid="mission-tool"]`).Each(func(_ int, s *goquery.Selection) { names = append(names, s.Text()) })
				if strings.Join(names, ", ") != "EDR X, Old AV, SIEM Y" {
					t.Errorf("overview tools %v", names)
				}
			}},
	)
	stale := form(edr)
	w.Run(t,
		apptest.Step{Name: "lead removes the inactive tool", As: "lead", Path: settings, Form: form(edr, siem), Status: http.StatusSeeOther,
			Rows: apptest.Rows{inScope: -1}},
	)
	w.Run(t,
		apptest.Step{Name: "the inactive tool cannot come back", As: "lead", Path: settings, Form: form(siem, oldAV),
			Status: http.StatusUnprocessableEntity, TestIDs: []string{"error-tools"}, Rows: apptest.Rows{inScope: 0},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				got := choices(t, r)
				if len(got) != 2 || got[edr.String()] != "" || got[siem.String()] != "checked" {
					t.Errorf("the choice is not kept: %v", got)
				}
			}},
	)
	w.Run(t,
		apptest.Step{Name: "a stale save keeps the choice", As: "lead", Path: settings, Form: stale,
			Status: http.StatusConflict, TestIDs: []string{"mission-notice"}, Rows: apptest.Rows{inScope: 0},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				got := choices(t, r)
				if len(got) != 2 || got[edr.String()] != "checked" || got[siem.String()] != "" {
					t.Errorf("the choice is not kept: %v", got)
				}
				saved := strings.TrimSpace(doc(t, r).Find(`[data-testid="mission-saved"] [data-testid="value-tools"]`).Text())
				if !strings.Contains(saved, "EDR X") || !strings.Contains(saved, "SIEM Y") {
					t.Errorf("the stored scope shows %q", saved)
				}
			}},
	)
	if d := w.Value(t, `SELECT details->>'tools_removed' FROM audit_events WHERE action = 'mission.updated' ORDER BY created_at DESC, id LIMIT 1`); d != `["Old AV"]` {
		t.Errorf("audit details %s", d)
	}
}
