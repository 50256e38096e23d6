package handlers_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
)

// matrixWorld is a small catalogue (TA0002: T1059 with T1059.001, T1106),
// a template on T1059.001, and two missions: "Mine", where member is an
// observer and T1059.001 was executed and rated at the scale's best
// level, and "Other".
type matrixWorld struct {
	app         *apptest.App
	member      *http.Cookie
	mine, other string
	best        string // the level's id
}

func newMatrixWorld(t *testing.T) matrixWorld {
	t.Helper()
	app := apptest.New(t)
	ctx := rule.SystemContext(context.Background())
	ta := app.Ent.MitreTactic.Create().SetStixID("x-mitre-tactic--" + uuid.NewString()).SetExternalID("TA0002").
		SetName("Execution").SetShortname("execution").SetPosition(1).SaveX(ctx)
	te := app.Ent.MitreTechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1059").
		SetName("Command and Scripting Interpreter").AddTactics(ta).SaveX(ctx)
	app.Ent.MitreTechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1106").
		SetName("Native API").AddTactics(ta).SaveX(ctx)
	ps := app.Ent.MitreSubtechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1059.001").
		SetName("PowerShell").SetTechnique(te).SaveX(ctx)
	seedMatrixUse(t, app, ps)
	w := matrixWorld{app: app}
	w.member = app.SignedIn(t, "member@example.com", "observer")
	w.best = attackOne(t, app.DB, `SELECT id FROM detection_levels ORDER BY score DESC, position LIMIT 1`)
	w.mine = attackOne(t, app.DB, `INSERT INTO missions (name) VALUES ('Mine') RETURNING id`)
	w.other = attackOne(t, app.DB, `INSERT INTO missions (name) VALUES ('Other') RETURNING id`)
	attackOne(t, app.DB, `INSERT INTO mission_members (mission_id, user_id, role)
		SELECT $1, id, 'observer' FROM users WHERE email = 'member@example.com' RETURNING id`, w.mine)
	test := attackOne(t, app.DB, `INSERT INTO mission_tests (mission_id, name, platforms, state, detection_level_id)
		VALUES ($1, 'Run PowerShell', '[]', 'executed', $2) RETURNING id`, w.mine, w.best)
	attackOne(t, app.DB, `INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name)
		VALUES ($1, 'subtechnique', 'T1059.001', 'PowerShell') RETURNING id`, test)
	return w
}

// seedMatrixUse tags a template with the sub-technique sub.
func seedMatrixUse(t *testing.T, app *apptest.App, sub *ent.MitreSubtechnique) {
	t.Helper()
	tpl := attackOne(t, app.DB, `INSERT INTO test_templates (name, platforms) VALUES ('PowerShell download', '[]') RETURNING id`)
	attackOne(t, app.DB, `INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) VALUES ($1, $2) RETURNING id`, tpl, sub.ID)
}

func TestMatrixOverlays(t *testing.T) {
	t.Parallel()
	w := newMatrixWorld(t)
	cell := func(ext string) string {
		return `[data-testid="matrix-technique"][data-external-id="` + ext + `"]`
	}

	t.Run("library", func(t *testing.T) {
		_, d := attackGet(t, w.app, w.member, "/attack?overlay=library")
		// The template on T1059.001 counts for T1059 too.
		if got := d.Find(cell("T1059")+` > [data-testid="matrix-cover"]`).AttrOr("data-count", ""); got != "1" {
			t.Errorf("T1059 count %q, want 1", got)
		}
		if got := d.Find(`[data-testid="matrix-subtechnique"][data-external-id="T1059.001"] [data-testid="matrix-cover"]`).Text(); got != "1" {
			t.Errorf("T1059.001 count %q, want 1", got)
		}
		if d.Find(cell("T1106")+` [data-testid="matrix-cover"]`).Length() != 0 {
			t.Error("T1106 has a count")
		}
		if !d.Find(cell("T1059")).HasClass("cover--1") || d.Find(`[data-testid="matrix-legend"]`).AttrOr("data-overlay", "") != "library" {
			t.Errorf("T1059 class %q; legend %q", d.Find(cell("T1059")).AttrOr("class", ""), d.Find(`[data-testid="matrix-legend"]`).Text())
		}
		if d.Find(`[data-testid="matrix-overlay"] option[selected]`).AttrOr("value", "") != "library" || d.Find(`[data-testid="matrix-mission"]`).Length() != 0 {
			t.Error("the form does not show the library overlay chosen, or offers a mission")
		}
	})

	t.Run("mission picker lists readable missions only", func(t *testing.T) {
		_, d := attackGet(t, w.app, w.member, "/attack?overlay=mission")
		if got := attackAttrs(d.Selection, `[data-testid="matrix-mission"] option`, "value"); len(got) != 2 || got[1] != w.mine {
			t.Errorf("missions offered %v, want only Mine", got)
		}
		if testid(d, "matrix-mission-hint") == "" || d.Find(`[data-testid="matrix-cover"]`).Length() != 0 {
			t.Error("no hint, or cells coloured before a mission is chosen")
		}
	})

	t.Run("mission results", func(t *testing.T) {
		_, d := attackGet(t, w.app, w.member, "/attack?overlay=mission&mission="+w.mine)
		class := "level-" + w.best
		if !d.Find(cell("T1059")).HasClass(class) || !d.Find(`[data-testid="matrix-subtechnique"][data-external-id="T1059.001"]`).HasClass(class) {
			t.Errorf("T1059 class %q, want %s", d.Find(cell("T1059")).AttrOr("class", ""), class)
		}
		if d.Find(`[data-testid="matrix-mission"] option[selected]`).AttrOr("value", "") != w.mine {
			t.Error("the chosen mission is not selected")
		}
		if d.Find(`[data-testid="matrix-legend"] .`+class).Length() != 1 {
			t.Error("the legend does not show the level")
		}
	})

	t.Run("htmx gets the matrix only", func(t *testing.T) {
		w2, d := attackGet(t, w.app, w.member, "/attack?overlay=library", "HX-Request", "true")
		if d.Find("header.site-header").Length() != 0 || d.Find(`[data-testid="matrix-cover"]`).Length() == 0 {
			t.Errorf("htmx answer:\n%.300s", w2.Body)
		}
	})

	t.Run("unknown overlay is dropped", func(t *testing.T) {
		_, d := attackGet(t, w.app, w.member, "/attack?overlay=bogus&mission="+w.mine)
		if d.Find(`[data-testid="matrix-cover"], [data-testid="matrix-legend"], [data-testid="matrix-mission"]`).Length() != 0 {
			t.Error("an unknown overlay coloured the matrix")
		}
	})

	for _, id := range []string{w.other, "not-a-uuid", uuid.NewString()} {
		if code := w.app.GetAs(w.member, "/attack?overlay=mission&mission="+id).Code; code != http.StatusNotFound {
			t.Errorf("mission %s: %d, want 404", id, code)
		}
	}

	// A catalogue reader is offered no overlay and gets none.
	catalogueReader(t, w.app, "catalogue-only")
	w.app.User(t, "catalogue@example.com", "catalogue-only")
	_, d := attackGet(t, w.app, w.app.Login(t, "catalogue@example.com", apptest.Password), "/attack?overlay=library")
	if d.Find(`[data-testid="matrix-overlay"], [data-testid="matrix-cover"]`).Length() != 0 {
		t.Error("a catalogue reader sees the library overlay")
	}
}

// TestAttackDetailSaysItRollsUp: a technique's page says its counts
// include its sub-techniques' uses, and counts the template on T1059.001.
func TestAttackDetailSaysItRollsUp(t *testing.T) {
	t.Parallel()
	w := newMatrixWorld(t)
	_, d := attackGet(t, w.app, w.member, "/attack/T1059")
	if testid(d, "attack-used-by-rollup") == "" || testid(d, "attack-templates-count") != "1" || testid(d, "attack-mission-tests-count") != "1" {
		t.Errorf("T1059: roll-up note %q, templates %q, mission tests %q", testid(d, "attack-used-by-rollup"),
			testid(d, "attack-templates-count"), testid(d, "attack-mission-tests-count"))
	}
	_, d = attackGet(t, w.app, w.member, "/attack/T1059.001")
	if d.Find(`[data-testid="attack-used-by-rollup"]`).Length() != 0 {
		t.Error("a sub-technique's page claims to roll up")
	}
}
