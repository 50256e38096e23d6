package mission_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"violet/ent/defensivetool"
	entmission "violet/ent/mission"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	msn "violet/internal/mission"
)

// TestMissionToolScope: the settings save sets the defensive tools in
// scope in its transaction, with the names added and removed in its audit
// event and a live event; an inactive tool stays but is never newly
// added, a deleted or unknown one is refused, a stale form changes
// nothing, and only leads change it, not on an archived mission.
func TestMissionToolScope(t *testing.T) {
	w := setup(t)
	s := msn.NewService(w.client, notifier(t))
	sys := rule.SystemContext(context.Background())
	tool := func(name, kind string, active bool) uuid.UUID {
		return w.client.DefensiveTool.Create().SetName(name).SetVendor("Acme").SetKind(defensivetool.Kind(kind)).
			SetActive(active).SaveX(sys).ID
	}
	edr, siem, oldAV, gone := tool("EDR X", "edr", true), tool("SIEM Y", "siem", true), tool("Old AV", "av", false), tool("Gone NDR", "ndr", true)
	if _, err := w.db.Exec(`UPDATE defensive_tools SET deleted_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	lctx := w.as("lead")
	version := func() int { return w.count(t, `SELECT version FROM missions WHERE id = $1`, w.mission) }
	scope := func() map[uuid.UUID]bool {
		t.Helper()
		rows, err := w.db.Query(`SELECT defensive_tool_id FROM mission_tools WHERE mission_id = $1`, w.mission)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[uuid.UUID]bool{}
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out[id] = true
		}
		return out
	}
	save := func(ctx context.Context, role string, v int, ids ...uuid.UUID) error {
		in := msn.MissionInput{Name: "Operation Violet", SetTools: true, Tools: []string{}}
		for _, id := range ids {
			in.Tools = append(in.Tools, id.String())
		}
		return s.Update(ctx, w.access(t, role), v, in)
	}
	lastDetails := func() string {
		var d string
		if err := w.db.QueryRow(`SELECT coalesce(details->>'tools_added', '-') || ' / ' || coalesce(details->>'tools_removed', '-')
			FROM audit_events WHERE action = $1 ORDER BY created_at DESC, id LIMIT 1`, audit.MissionUpdated).Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d
	}

	// The form offers the active tools only, none checked.
	choices, err := msn.ScopeChoices(lctx, w.client, w.mission)
	if err != nil {
		t.Fatal(err)
	}
	if len(choices) != 2 || choices[0].Name != "EDR X" || choices[1].Name != "SIEM Y" || choices[0].Checked || choices[0].Kind != "edr" {
		t.Errorf("choices %+v, want EDR X and SIEM Y unchecked", choices)
	}

	if err := save(lctx, "lead", version(), siem, edr); err != nil {
		t.Fatal(err)
	}
	if got := scope(); len(got) != 2 || !got[edr] || !got[siem] {
		t.Errorf("scope %v, want EDR X and SIEM Y", got)
	}
	if d := lastDetails(); d != `["EDR X", "SIEM Y"] / -` {
		t.Errorf("audit details %s", d)
	}
	if got := w.traces(t, audit.MissionUpdated, "mission"); got != [3]int{1, 1, 0} {
		t.Errorf("save left audit, live, notifications %v, want [1 1 0]", got)
	}

	// An inactive tool already in scope is listed (checked, inactive) and
	// kept by a save; removing another is recorded.
	w.client.Mission.UpdateOneID(w.mission).AddToolIDs(oldAV).ExecX(sys)
	choices, err = msn.ScopeChoices(lctx, w.client, w.mission)
	if err != nil {
		t.Fatal(err)
	}
	if len(choices) != 3 || choices[1].Name != "Old AV" || choices[1].Active || !choices[1].Checked || !choices[0].Checked {
		t.Errorf("choices %+v, want EDR X, Old AV (inactive) and SIEM Y, all checked", choices)
	}
	if err := save(lctx, "lead", version(), edr, oldAV); err != nil {
		t.Fatal(err)
	}
	if got := scope(); len(got) != 2 || !got[edr] || !got[oldAV] {
		t.Errorf("scope %v, want EDR X and Old AV", got)
	}
	if d := lastDetails(); d != `- / ["SIEM Y"]` {
		t.Errorf("audit details %s", d)
	}

	// Removed, the inactive tool cannot come back; deleted and unknown
	// tools are refused; nothing changes.
	if err := save(lctx, "lead", version(), edr); err != nil {
		t.Fatal(err)
	}
	v := version()
	for name, ids := range map[string][]uuid.UUID{
		"inactive": {edr, oldAV}, "deleted": {edr, gone}, "unknown": {uuid.New()},
	} {
		key := "mission_tools.form.unknown"
		if name == "inactive" {
			key = "mission_tools.form.inactive"
		}
		if got := invalidKeys(t, save(lctx, "lead", v, ids...)); got["tools"] != key {
			t.Errorf("%s tool: %v, want tools: %s", name, got, key)
		}
	}
	bad := msn.MissionInput{Name: "", SetTools: true, Tools: []string{"not-an-id"}}
	if got := invalidKeys(t, s.Update(lctx, w.access(t, "lead"), v, bad)); got["tools"] != "mission_tools.form.unknown" || got["name"] != "form.required" {
		t.Errorf("bad id and no name: %v", got)
	}
	// A stale form, blue, and a form without the tools change nothing.
	if err := save(lctx, "lead", v-1, siem); !errors.Is(err, msn.ErrConflict) {
		t.Errorf("stale save: %v", err)
	}
	if err := save(w.as("blue"), "blue", v, siem); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("blue save: %v", err)
	}
	if got := scope(); len(got) != 1 || !got[edr] || version() != v {
		t.Errorf("refused saves changed the scope to %v (version %d, was %d)", got, version(), v)
	}
	if err := s.Update(lctx, w.access(t, "lead"), v, msn.MissionInput{Name: "Renamed"}); err != nil {
		t.Fatal(err)
	}
	if got := scope(); len(got) != 1 || !got[edr] {
		t.Errorf("a save without the tools changed the scope to %v", got)
	}
	// The deleted tool is not shown; the completed mission is still
	// editable, the archived one is not.
	w.client.Mission.UpdateOneID(w.mission).SetStatus(entmission.StatusCompleted).ExecX(sys)
	if err := save(lctx, "lead", version(), edr, siem); err != nil {
		t.Errorf("completed mission: %v", err)
	}
	w.client.Mission.UpdateOneID(w.mission).SetStatus(entmission.StatusArchived).ExecX(sys)
	if err := save(lctx, "lead", version()); !errors.Is(err, msn.ErrReadOnly) {
		t.Errorf("archived mission: %v", err)
	}
	if got := scope(); len(got) != 2 || !got[edr] || !got[siem] {
		t.Errorf("scope %v after the archived save", got)
	}
}
