package attack_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/google/uuid"

	"violet/internal/app"
	"violet/internal/attack"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
	attackviews "violet/views/attack"
	scaleview "violet/views/scale"
)

// overlayWorld is a small catalogue (TA0002 with T1059 and its
// T1059.001, and T1106), templates, two missions and a member of one.
type overlayWorld struct {
	db          *sql.DB
	cat         *attack.Catalogue
	viewer      context.Context // a member of "Mine" with mission.read and template.read
	mine, other string
	high, low   string // two levels of the seeded scale, high scoring more
	highN, lowN string
}

func newOverlayWorld(t *testing.T) overlayWorld {
	t.Helper()
	db, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	w := overlayWorld{db: db, cat: attack.NewCatalogue(client)}
	one := func(q string, args ...any) string {
		t.Helper()
		var s string
		if err := db.QueryRowContext(ctx, q, args...).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	ta := client.MitreTactic.Create().SetStixID("x-mitre-tactic--" + uuid.NewString()).SetExternalID("TA0002").
		SetName("Execution").SetShortname("execution").SetPosition(1).SaveX(ctx)
	t1059 := client.MitreTechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1059").
		SetName("Command and Scripting Interpreter").AddTactics(ta).SaveX(ctx)
	client.MitreTechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1106").
		SetName("Native API").AddTactics(ta).SaveX(ctx)
	ps := client.MitreSubtechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1059.001").
		SetName("PowerShell").SetTechnique(t1059).SaveX(ctx)

	tpl := func(name, deleted string) string {
		return one(`INSERT INTO test_templates (name, platforms, deleted_at) VALUES ($1, '[]', `+deleted+`) RETURNING id`, name)
	}
	a, b, gone := tpl("A", "NULL"), tpl("B", "NULL"), tpl("Gone", "now()")
	one(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) VALUES ($1, $2) RETURNING id`, a, ps.ID)
	one(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) VALUES ($1, $2) RETURNING id`, b, ps.ID)
	one(`INSERT INTO test_template_mitre_tags (test_template_id, technique_id) VALUES ($1, $2) RETURNING id`, b, t1059.ID)
	one(`INSERT INTO test_template_mitre_tags (test_template_id, technique_id) VALUES ($1, $2) RETURNING id`, gone, t1059.ID)

	w.high = one(`SELECT id FROM detection_levels ORDER BY score DESC, position LIMIT 1`)
	w.highN = one(`SELECT name FROM detection_levels WHERE id = $1`, w.high)
	w.low = one(`SELECT id FROM detection_levels ORDER BY score, position LIMIT 1`)
	w.lowN = one(`SELECT name FROM detection_levels WHERE id = $1`, w.low)

	user := one(`INSERT INTO users (email, password_hash, display_name) VALUES ('m@example.com', 'x', 'Member') RETURNING id`)
	w.mine = one(`INSERT INTO missions (name) VALUES ('Mine') RETURNING id`)
	w.other = one(`INSERT INTO missions (name) VALUES ('Other') RETURNING id`)
	one(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'observer') RETURNING id`, w.mine, user)
	test := func(mission, state string, level any, tags ...string) {
		id := one(`INSERT INTO mission_tests (mission_id, name, platforms, state, detection_level_id) VALUES ($1, 'x', '[]', $2, $3) RETURNING id`,
			mission, state, level)
		for _, tag := range tags {
			kind := "technique"
			if len(tag) > 5 {
				kind = "subtechnique"
			}
			one(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name) VALUES ($1, $2, $3, 'n') RETURNING id`, id, kind, tag)
		}
	}
	// T1059.001: detected at the high level; T1059: its own test at the
	// low level, plus the sub-technique's (the best wins); a test tagged
	// with both counts once. T1106: planned only.
	test(w.mine, "executed", w.high, "T1059.001", "T1059")
	test(w.mine, "reviewed", w.low, "T1059")
	test(w.mine, "pending", nil, "T1106")
	// A rated test that is no longer executed does not count.
	test(w.mine, "pending", w.high, "T1106")
	test(w.other, "executed", w.high, "T1106")

	v := auth.NewViewer(uuid.MustParse(user), "m@example.com", "Member", "en", uuid.New(), []string{"observer"},
		[]string{string(auth.MissionRead), string(auth.TemplateRead), string(auth.AttackRead)})
	w.viewer = auth.NewContext(context.Background(), v)
	return w
}

// covers maps each technique and sub-technique of the matrix to its cover.
func covers(m attackviews.Matrix) map[string]*attackviews.Cover {
	out := map[string]*attackviews.Cover{}
	for _, col := range m.Columns {
		for _, t := range col.Techniques {
			out[t.ExternalID] = t.Cover
			for _, s := range t.Subtechniques {
				out[s.ExternalID] = s.Cover
			}
		}
	}
	return out
}

func TestMatrixLibraryOverlayRollsUp(t *testing.T) {
	w := newOverlayWorld(t)
	m, err := w.cat.Matrix(w.viewer, attackviews.MatrixFilter{Overlay: attackviews.OverlayLibrary})
	if err != nil {
		t.Fatal(err)
	}
	c := covers(m)
	// T1059: B (own and sub-technique, once) and A (sub-technique only);
	// the deleted template is left out.
	if c["T1059"] == nil || c["T1059"].Count != 2 || c["T1059"].Class != attackviews.CoverClass(2) {
		t.Errorf("T1059 cover %+v, want 2 templates", c["T1059"])
	}
	if c["T1059.001"] == nil || c["T1059.001"].Count != 2 {
		t.Errorf("T1059.001 cover %+v, want 2", c["T1059.001"])
	}
	if c["T1106"] != nil {
		t.Errorf("T1106 cover %+v, want none", c["T1106"])
	}
	if len(m.Overlay.Legend) != 4 || m.Filter.Overlay != attackviews.OverlayLibrary {
		t.Errorf("legend %+v, filter %+v", m.Overlay.Legend, m.Filter)
	}
}

func TestMatrixMissionOverlay(t *testing.T) {
	w := newOverlayWorld(t)
	m, err := w.cat.Matrix(w.viewer, attackviews.MatrixFilter{Overlay: attackviews.OverlayMission, Mission: w.mine})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Overlay.Missions) != 1 || m.Overlay.Missions[0].ID != w.mine || m.Overlay.Mission != "Mine" {
		t.Errorf("missions offered %+v (chosen %q), want Mine only", m.Overlay.Missions, m.Overlay.Mission)
	}
	c := covers(m)
	high, low := scaleview.Class(uuid.MustParse(w.high)), scaleview.Class(uuid.MustParse(w.low))
	if cv := c["T1059"]; cv == nil || cv.Class != high || cv.Level != w.highN || cv.Count != 2 {
		t.Errorf("T1059 cover %+v, want %s (%s) over 2 tests", cv, w.highN, high)
	}
	if cv := c["T1059.001"]; cv == nil || cv.Class != high || cv.Count != 1 {
		t.Errorf("T1059.001 cover %+v, want %s over 1 test", cv, high)
	}
	if cv := c["T1106"]; cv == nil || cv.Class != attackviews.CoverUntested || cv.Count != 2 {
		t.Errorf("T1106 cover %+v, want not executed over 2 tests", cv)
	}
	var classes []string
	for _, it := range m.Overlay.Legend {
		classes = append(classes, it.Class)
	}
	if len(classes) != 3 || classes[0] != high || classes[1] != attackviews.CoverUnrated || classes[2] != attackviews.CoverUntested {
		t.Errorf("legend classes %v, want the shown level then unrated, untested (low %s unused)", classes, low)
	}

	// The other mission is neither offered nor readable; nor is a
	// malformed id.
	for _, id := range []string{w.other, "not-a-uuid", uuid.NewString()} {
		_, err := w.cat.Matrix(w.viewer, attackviews.MatrixFilter{Overlay: attackviews.OverlayMission, Mission: id})
		if !errors.Is(err, app.ErrNotFound) {
			t.Errorf("mission %s: %v, want not found", id, err)
		}
	}
	// A blue member sees the released tests only (the test privacy
	// policy): the executed, released one; not T1106's.
	var blue string
	if err := w.db.QueryRow(`INSERT INTO users (email, password_hash, display_name) VALUES ('b@example.com', 'x', 'Blue') RETURNING id`).Scan(&blue); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'blue')`, w.mine, blue); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(`UPDATE mission_tests SET released_to_blue = true WHERE mission_id = $1 AND state = 'executed'`, w.mine); err != nil {
		t.Fatal(err)
	}
	bv := auth.NewViewer(uuid.MustParse(blue), "b@example.com", "Blue", "en", uuid.New(), []string{"blueteam"},
		[]string{string(auth.MissionRead), string(auth.AttackRead)})
	m, err = w.cat.Matrix(auth.NewContext(context.Background(), bv), attackviews.MatrixFilter{Overlay: attackviews.OverlayMission, Mission: w.mine})
	if err != nil {
		t.Fatal(err)
	}
	if c := covers(m); c["T1059"] == nil || c["T1059"].Count != 1 || c["T1059"].Class != high || c["T1106"] != nil {
		t.Errorf("blue member: T1059 %+v, T1106 %+v; want the released test only", c["T1059"], c["T1106"])
	}

	// Without mission.read the overlay is dropped.
	v := auth.NewViewer(uuid.New(), "c@example.com", "C", "en", uuid.New(), nil, []string{string(auth.AttackRead)})
	m, err = w.cat.Matrix(auth.NewContext(context.Background(), v), attackviews.MatrixFilter{Overlay: attackviews.OverlayMission, Mission: w.mine})
	if err != nil || m.Filter.Overlay != "" || m.Overlay.CanMission || m.Overlay.CanLibrary || covers(m)["T1059"] != nil {
		t.Errorf("catalogue reader: %v, filter %+v, overlay %+v", err, m.Filter, m.Overlay)
	}
}

func TestDetailRollsUpSubtechniques(t *testing.T) {
	w := newOverlayWorld(t)
	d, err := w.cat.Detail(w.viewer, "T1059")
	if err != nil {
		t.Fatal(err)
	}
	// Templates A and B (A through T1059.001 only); tests: both of Mine
	// tagged with T1059 or T1059.001.
	if !d.RollsUp || d.TemplateCount != 2 || d.MissionTestCount != 2 {
		t.Errorf("T1059: rolls up %v, %d templates, %d mission tests; want 2 and 2", d.RollsUp, d.TemplateCount, d.MissionTestCount)
	}
	d, err = w.cat.Detail(w.viewer, "T1059.001")
	if err != nil {
		t.Fatal(err)
	}
	if d.RollsUp || d.TemplateCount != 2 || d.MissionTestCount != 1 {
		t.Errorf("T1059.001: rolls up %v, %d templates, %d mission tests; want 2 and 1", d.RollsUp, d.TemplateCount, d.MissionTestCount)
	}
}
