package mission_test

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	msn "violet/internal/mission"
)

// TestExpectedRulesCopiedAndShown: a template added to the plan gives its
// test its free rule names per tool with its Sigma rules, and the test's
// page shows them in the blue panel: all of them before the release,
// then each tool's names in its outcome row, the rules of tools outside
// the scope beside them.
func TestExpectedRulesCopiedAndShown(t *testing.T) {
	w := setup(t)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	edr, siem := uuid.New(), uuid.New()
	exec(`INSERT INTO defensive_tools (id, name, kind) VALUES ($1, 'Defender', 'edr'), ($2, 'Sentinel', 'siem')`, edr, siem)
	exec(`UPDATE test_templates SET expected_rules = $2 WHERE id = $1`, w.tpl[0],
		`[{"tool_id":"`+edr.String()+`","name":"Encoded command"},{"tool_id":"`+siem.String()+`","name":"Logon burst"}]`)
	exec(`WITH r AS (INSERT INTO detection_rules (rule_uid, title, level, tags, techniques, "references")
		VALUES ('uid-1', 'Encoded PowerShell command line', 'high', '[]', '["T1059.001"]', '[]') RETURNING id)
		INSERT INTO test_template_rules SELECT $1, id FROM r`, w.tpl[0])

	s := msn.NewService(w.client, notifier(t))
	lead := w.access(t, "lead")
	id, err := s.AddTemplate(w.as("lead"), lead, w.tpl[0])
	if err != nil {
		t.Fatal(err)
	}
	var copied, original string
	if err := w.db.QueryRow(`SELECT m.expected_rules::text, t.expected_rules::text FROM mission_tests m, test_templates t
		WHERE m.id = $1 AND t.id = $2`, id, w.tpl[0]).Scan(&copied, &original); err != nil {
		t.Fatal(err)
	}
	if copied != original {
		t.Errorf("mission test expects %s, template %s", copied, original)
	}

	p, err := msn.TestPage(w.as("lead"), w.client, lead, id)
	if err != nil {
		t.Fatal(err)
	}
	e := p.Work.Blue.Expected
	var free []string
	for _, r := range e.Free {
		free = append(free, r.Tool+": "+r.Name)
	}
	if len(e.Sigma) != 1 || e.Sigma[0].UID != "uid-1" || !slices.Equal(free, []string{"Defender: Encoded command", "Sentinel: Logon burst"}) {
		t.Errorf("unreleased test shows %+v, free %q", e.Sigma, free)
	}

	// Released, with the EDR in scope: its names go to its row.
	exec(`INSERT INTO mission_tools (mission_id, defensive_tool_id) VALUES ($1, $2)`, w.mission, edr)
	exec(`UPDATE mission_tests SET released_to_blue = true WHERE id = $1`, id)
	p, err = msn.TestPage(w.as("blue"), w.client, w.access(t, "blue"), id)
	if err != nil {
		t.Fatal(err)
	}
	e = p.Work.Blue.Expected
	if got := e.ByTool[edr.String()]; !slices.Equal(got, []string{"Encoded command"}) {
		t.Errorf("the EDR's row expects %q", got)
	}
	if len(e.Others) != 1 || e.Others[0].Tool != "Sentinel" || e.Others[0].Name != "Logon burst" {
		t.Errorf("other tools' rules %+v", e.Others)
	}
}
