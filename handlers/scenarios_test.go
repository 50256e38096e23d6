package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/library"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// scenarioFixture is an app with a user per role, three test templates
// (Alpha tagged T1059 and TA0002, Bravo, Charlie) and helpers reading
// scenarios back from the database.
type scenarioFixture struct {
	t                                   *testing.T
	app                                 *apptest.App
	red, red2, blue, observer, admin    *http.Cookie
	none                                *http.Cookie // signed in, no groups
	tpl                                 map[string]uuid.UUID
	tacticID, techniqueID, retiredSubID uuid.UUID
}

func newScenarioFixture(t *testing.T) *scenarioFixture {
	t.Helper()
	app := apptest.New(t)
	f := &scenarioFixture{t: t, app: app, tpl: map[string]uuid.UUID{}}
	f.red = app.SignedIn(t, "red@example.com", "redteam")
	f.red2 = app.SignedIn(t, "red2@example.com", "redteam")
	f.blue = app.SignedIn(t, "blue@example.com", "blueteam")
	f.observer = app.SignedIn(t, "observer@example.com", "observer")
	f.admin = app.SignedIn(t, "admin@example.com", "admin")
	f.none = app.SignedIn(t, "none@example.com")

	ctx := rule.SystemContext(context.Background())
	tactic := app.Ent.MitreTactic.Create().SetStixID("x-mitre-tactic--" + uuid.NewString()).
		SetExternalID("TA0002").SetName("Execution").SetShortname("execution").SaveX(ctx)
	technique := app.Ent.MitreTechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).
		SetExternalID("T1059").SetName("Command and Scripting Interpreter").SaveX(ctx)
	retired := app.Ent.MitreSubtechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).
		SetExternalID("T1059.099").SetName("Old Shell").SetTechniqueID(technique.ID).SetRevoked(true).SaveX(ctx)
	f.tacticID, f.techniqueID, f.retiredSubID = tactic.ID, technique.ID, retired.ID
	f.template("Alpha")
	f.template("Bravo")
	f.template("Charlie")
	app.Ent.TestTemplateMitreTag.Create().SetTestTemplateID(f.tpl["Alpha"]).SetTechniqueID(technique.ID).ExecX(ctx)
	app.Ent.TestTemplateMitreTag.Create().SetTestTemplateID(f.tpl["Alpha"]).SetTacticID(tactic.ID).ExecX(ctx)
	app.Ent.TestTemplateMitreTag.Create().SetTestTemplateID(f.tpl["Charlie"]).SetSubtechniqueID(retired.ID).ExecX(ctx)
	return f
}

// template makes a test template named name.
func (f *scenarioFixture) template(name string) uuid.UUID {
	f.t.Helper()
	id := uuid.New()
	if _, err := f.app.DB.Exec(`INSERT INTO test_templates (id, name, platforms) VALUES ($1, $2, '[]')`, id, name); err != nil {
		f.t.Fatal(err)
	}
	f.tpl[name] = id
	return id
}

// scenario makes a scenario holding the named templates in order.
func (f *scenarioFixture) scenario(name string, tests ...string) uuid.UUID {
	f.t.Helper()
	id := uuid.New()
	if _, err := f.app.DB.Exec(`INSERT INTO scenario_templates (id, name, description) VALUES ($1, $2, 'About **it**')`, id, name); err != nil {
		f.t.Fatal(err)
	}
	if len(tests) > 0 {
		ids := make([]uuid.UUID, len(tests))
		for i, n := range tests {
			ids[i] = f.tpl[n]
		}
		if _, err := library.AddTests(rule.SystemContext(context.Background()), f.app.Ent, id, 0, ids); err != nil {
			f.t.Fatal(err)
		}
	}
	return id
}

// order returns the scenario's tests as "Alpha,Bravo,Alpha" from the
// database, failing unless positions are exactly 0…n-1.
func (f *scenarioFixture) order(id uuid.UUID) string {
	f.t.Helper()
	rows, err := f.app.DB.Query(`SELECT t.name, e.position FROM scenario_template_tests e
		JOIN test_templates t ON t.id = e.test_template_id WHERE e.scenario_template_id = $1 ORDER BY e.position`, id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for i := 0; rows.Next(); i++ {
		var name string
		var pos int
		if err := rows.Scan(&name, &pos); err != nil {
			f.t.Fatal(err)
		}
		if pos != i {
			f.t.Errorf("position %d at index %d: positions are not dense", pos, i)
		}
		names = append(names, name)
	}
	return strings.Join(names, ",")
}

// entries returns the scenario's entry ids in order.
func (f *scenarioFixture) entries(id uuid.UUID) []string {
	f.t.Helper()
	rows, err := f.app.DB.Query(`SELECT id FROM scenario_template_tests WHERE scenario_template_id = $1 ORDER BY position`, id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// state returns a scenario's name, description, version and whether it is
// deleted.
func (f *scenarioFixture) state(id uuid.UUID) (name, description string, version int, deleted bool) {
	f.t.Helper()
	if err := f.app.DB.QueryRow(`SELECT name, description, version, deleted_at IS NOT NULL FROM scenario_templates WHERE id = $1`, id).
		Scan(&name, &description, &version, &deleted); err != nil {
		f.t.Fatalf("scenario %s: %v", id, err)
	}
	return
}

func (f *scenarioFixture) version(id uuid.UUID) int {
	f.t.Helper()
	_, _, v, _ := f.state(id)
	return v
}

// post sends form to the scenario's path; hx makes it an htmx request.
func (f *scenarioFixture) post(cookie *http.Cookie, id uuid.UUID, path string, form url.Values, hx bool) *httptest.ResponseRecorder {
	var header []string
	if hx {
		header = hxRequest
	}
	return f.app.PostAs(cookie, "/library/scenarios/"+id.String()+path, form, header...)
}

// pageOrder reads the ordered list of a page or fragment: template names
// in order, the version the list carries, and whether every form in it
// carries that same version.
func pageOrder(d *goquery.Document) (names string, version int, consistent bool) {
	block := d.Find(`[data-testid="scenario-tests"]`)
	version, _ = strconv.Atoi(block.AttrOr("data-version", ""))
	var out []string
	block.Find(`[data-testid="scenario-entry"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimSpace(s.Find(`[data-testid="scenario-entry-link"]`).Text()))
	})
	consistent = true
	d.Find(`input[name="version"]`).Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("value", "") != strconv.Itoa(version) {
			consistent = false
		}
	})
	return strings.Join(out, ","), version, consistent
}

// TestListScenarios: the list shows each scenario's name, description
// excerpt and number of tests; searches by name (htmx gets only the
// results); pages by 50; leaves deleted scenarios out; its trash is for
// trash.manage only.
func TestListScenarios(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	app := f.app
	ops := f.scenario("Ops night", "Alpha", "Bravo", "Alpha")
	f.scenario("Empty one")
	gone := f.scenario("Gone scenario", "Bravo")
	if _, err := app.DB.Exec(`UPDATE scenario_templates SET deleted_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	rows := func(d *goquery.Document) map[string]string {
		out := map[string]string{}
		d.Find(`[data-testid="scenario-row"]`).Each(func(_ int, s *goquery.Selection) {
			out[strings.TrimSpace(s.Find(`[data-testid="scenario-link"]`).Text())] =
				strings.TrimSpace(s.Find(`[data-testid="scenario-tests"]`).Text()) + "|" +
					strings.TrimSpace(s.Find(`[data-testid="scenario-excerpt"]`).Text())
		})
		return out
	}

	cases := []struct {
		name   string
		cookie *http.Cookie
		path   string
		header []string
		status int
		want   map[string]string // name → "tests|excerpt"; nil when status is not 200
		frag   bool
	}{
		{"observer reads the list", f.observer, "/library/scenarios", nil, 200,
			map[string]string{"Ops night": "3|About **it**", "Empty one": "0|About **it**"}, false},
		{"search by name, any case", f.red, "/library/scenarios?q=OPS", nil, 200, map[string]string{"Ops night": "3|About **it**"}, false},
		{"search as you type gets the results only", f.red, "/library/scenarios?q=empty", hxRequest, 200, map[string]string{"Empty one": "0|About **it**"}, true},
		{"search with no match", f.red, "/library/scenarios?q=nothing", nil, 200, map[string]string{}, false},
		{"the trash for trash.manage", f.admin, "/library/scenarios?deleted=1", nil, 200, map[string]string{"Gone scenario": "1|About **it**"}, false},
		{"no trash for the red team", f.red, "/library/scenarios?deleted=1", nil, 403, nil, false},
		{"no groups, no library", f.none, "/library/scenarios", nil, 403, nil, false},
		{"anonymous goes to sign in", nil, "/library/scenarios", nil, 303, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := app.GetAs(tc.cookie, tc.path, tc.header...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status == 303 && !strings.HasPrefix(w.Header().Get("Location"), "/login") {
				t.Errorf("redirected to %q", w.Header().Get("Location"))
			}
			if tc.want == nil {
				return
			}
			if isFragment(w.Body.String()) != tc.frag {
				t.Errorf("fragment = %v, want %v", !tc.frag, tc.frag)
			}
			got := rows(doc(t, w))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("the link opens the scenario, writers get the new button", func(t *testing.T) {
		d := doc(t, app.GetAs(f.red, "/library/scenarios"))
		if href := d.Find(`[data-testid="scenario-row"][data-id="`+ops.String()+`"] a`).AttrOr("href", ""); href != "/library/scenarios/"+ops.String() {
			t.Errorf("link %q", href)
		}
		if d.Find(`[data-testid="scenario-new"]`).Length() != 1 || d.Find(`[data-testid="scenario-trash-link"]`).Length() != 0 {
			t.Error("red team: want the new button and no trash link")
		}
		if d := doc(t, app.GetAs(f.observer, "/library/scenarios")); d.Find(`[data-testid="scenario-new"]`).Length() != 0 {
			t.Error("observer sees the new button")
		}
	})

	t.Run("pages of 50 with the count", func(t *testing.T) {
		if _, err := app.DB.Exec(`INSERT INTO scenario_templates (name) SELECT 'Bulk ' || lpad(n::text, 3, '0') FROM generate_series(1, 60) n`); err != nil {
			t.Fatal(err)
		}
		w := app.GetAs(f.red, "/library/scenarios?q=bulk&page=2")
		d := doc(t, w)
		if n := d.Find(`[data-testid="scenario-row"]`).Length(); n != 10 {
			t.Errorf("%d rows on page 2, want 10", n)
		}
		if total := d.Find(`[data-testid="scenario-count"]`).AttrOr("data-total", ""); total != "60" {
			t.Errorf("total %q", total)
		}
		if first := strings.TrimSpace(d.Find(`[data-testid="scenario-link"]`).First().Text()); first != "Bulk 051" {
			t.Errorf("page 2 starts with %q", first)
		}
		if prev := d.Find(`[data-testid="pager-prev"]`).AttrOr("href", ""); prev != "/library/scenarios?q=bulk" {
			t.Errorf("previous page link %q", prev)
		}
	})
}

// TestCreateScenario: the form creates an empty scenario owned by its
// author; bad input gets 422 with the input kept and nothing written.
func TestCreateScenario(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	app := f.app
	if w := app.GetAs(f.red, "/library/scenarios/new"); w.Code != 200 || doc(t, w).Find(`[data-testid="scenario-form"]`).Length() != 1 {
		t.Fatalf("new scenario page: %d", w.Code)
	}
	cases := []struct {
		name, scName, description string
		status                    int
		field                     string // the field with an error
		stored                    string // the name stored
	}{
		{"valid, trimmed", "  Ransomware drill  ", "  Step **one**  ", 303, "", "Ransomware drill"},
		{"same name again is fine", "Ransomware drill", "", 303, "", "Ransomware drill"},
		{"name required", "   ", "kept description", 422, "name", ""},
		{"name too long", strings.Repeat("n", 301), "", 422, "name", ""},
		{"300 characters is the limit", strings.Repeat("n", 300), "", 303, "", strings.Repeat("n", 300)},
		{"the database counts bytes", strings.Repeat("é", 151), "", 422, "name", ""},
		{"description too long", "Verbose", strings.Repeat("d", 20001), 422, "description", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before int
			app.DB.QueryRow(`SELECT count(*) FROM scenario_templates`).Scan(&before)
			w := app.PostAs(f.red, "/library/scenarios", url.Values{
				"name": {tc.scName}, "description": {tc.description},
				// Fields the form does not have are ignored.
				"version": {"99"}, "created_by_id": {uuid.NewString()}, "deleted_at": {"2020-01-01"},
			})
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.status, w.Body)
			}
			if tc.status == 303 {
				id, err := uuid.Parse(strings.TrimPrefix(w.Header().Get("Location"), "/library/scenarios/"))
				if err != nil {
					t.Fatalf("redirected to %q", w.Header().Get("Location"))
				}
				var name, description, author string
				var version int
				var deleted bool
				if err := app.DB.QueryRow(`SELECT s.name, s.description, s.version, s.deleted_at IS NOT NULL, u.email
					FROM scenario_templates s JOIN users u ON u.id = s.created_by_id WHERE s.id = $1`, id).
					Scan(&name, &description, &version, &deleted, &author); err != nil {
					t.Fatal(err)
				}
				if name != tc.stored || description != strings.TrimSpace(tc.description) || version != 1 || deleted || author != "red@example.com" {
					t.Errorf("stored %q %q v%d deleted=%v by %s", name, description, version, deleted, author)
				}
				return
			}
			var after int
			app.DB.QueryRow(`SELECT count(*) FROM scenario_templates`).Scan(&after)
			if after != before {
				t.Errorf("refused form wrote a scenario (%d → %d)", before, after)
			}
			d := doc(t, w)
			if d.Find(`[data-testid="error-`+tc.field+`"]`).Length() != 1 || d.Find(`[data-testid="error-summary"]`).Length() != 1 {
				t.Errorf("no error next to %s or no summary", tc.field)
			}
			if got := d.Find(`#field-name`).AttrOr("value", ""); got != strings.TrimSpace(tc.scName) {
				t.Errorf("name not kept: %q", got)
			}
			if got := d.Find(`#field-description`).Text(); got != strings.TrimSpace(tc.description) {
				t.Errorf("description not kept (%d characters)", len(got))
			}
		})
	}
}

// TestUpdateScenario: name and description are saved when the scenario is
// still at the version the page showed; a stale save gets 409 with the
// input kept and nothing overwritten.
func TestUpdateScenario(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	app := f.app
	id := f.scenario("Before", "Alpha")

	t.Run("the page's version saves", func(t *testing.T) {
		d := doc(t, app.GetAs(f.red, "/library/scenarios/"+id.String()))
		// The edit form's version lives in the list block, tied to the form.
		v := d.Find(`input[name="version"][form="scenario-edit-form"]`).AttrOr("value", "")
		if v != "2" {
			t.Fatalf("edit form version %q, want 2 (1 + the add)", v)
		}
		w := f.post(f.red, id, "", url.Values{"name": {" After "}, "description": {"New *text*"}, "version": {v}}, false)
		if w.Code != 303 || w.Header().Get("Location") != "/library/scenarios/"+id.String() {
			t.Fatalf("status %d → %q", w.Code, w.Header().Get("Location"))
		}
		if name, desc, version, _ := f.state(id); name != "After" || desc != "New *text*" || version != 3 {
			t.Errorf("stored %q %q v%d", name, desc, version)
		}
	})
	t.Run("validation keeps the input", func(t *testing.T) {
		w := f.post(f.red, id, "", url.Values{"name": {""}, "description": {"typed"}, "version": {"3"}}, false)
		if w.Code != 422 {
			t.Fatalf("status %d", w.Code)
		}
		d := doc(t, w)
		if d.Find(`[data-testid="error-name"]`).Length() != 1 || d.Find(`#field-description`).Text() != "typed" ||
			d.Find(`[data-testid="scenario-edit"][open]`).Length() != 1 {
			t.Error("want the error next to the name, the description kept, the form open")
		}
		if name, _, version, _ := f.state(id); name != "After" || version != 3 {
			t.Errorf("a refused save changed the scenario: %q v%d", name, version)
		}
	})
	t.Run("a stale version is refused with the input kept", func(t *testing.T) {
		w := f.post(f.red2, id, "", url.Values{"name": {"Mine"}, "description": {"my words"}, "version": {"2"}}, false)
		if w.Code != 409 {
			t.Fatalf("status %d, want 409", w.Code)
		}
		d := doc(t, w)
		if d.Find(`[data-testid="scenario-notice"]`).Length() != 1 {
			t.Error("no notice")
		}
		if d.Find(`#field-name`).AttrOr("value", "") != "Mine" || d.Find(`#field-description`).Text() != "my words" {
			t.Error("input not kept")
		}
		if got := testid(d, "scenario-name"); got != "After" {
			t.Errorf("page title %q, want the stored name", got)
		}
		if v := d.Find(`input[name="version"][form="scenario-edit-form"]`).AttrOr("value", ""); v != "3" {
			t.Errorf("the page now carries version %q, want the current 3", v)
		}
		if name, desc, version, _ := f.state(id); name != "After" || desc != "New *text*" || version != 3 {
			t.Errorf("stale save overwrote: %q %q v%d", name, desc, version)
		}
	})
	t.Run("a reorder makes the edit stale too", func(t *testing.T) {
		if _, err := library.AddTests(rule.SystemContext(context.Background()), app.Ent, id, 3, []uuid.UUID{f.tpl["Bravo"]}); err != nil {
			t.Fatal(err)
		}
		if w := f.post(f.red, id, "", url.Values{"name": {"Later"}, "version": {"3"}}, false); w.Code != 409 {
			t.Errorf("status %d, want 409", w.Code)
		}
	})
	for _, v := range []string{"", "0", "-1", "x"} {
		t.Run("version "+strconv.Quote(v)+" is a bad request", func(t *testing.T) {
			if w := f.post(f.red, id, "", url.Values{"name": {"X"}, "version": {v}}, false); w.Code != 400 {
				t.Errorf("status %d, want 400", w.Code)
			}
		})
	}
	t.Run("unknown scenario", func(t *testing.T) {
		if w := f.post(f.red, uuid.New(), "", url.Values{"name": {"X"}, "version": {"1"}}, false); w.Code != 404 {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestScenarioOrder builds a scenario through HTTP: the same template added
// twice, moved up and down, removed, reordered by drag; each step checked
// in the database (positions dense from 0) and in the response (htmx: the
// list fragment with the new version in every form; plain POST: 303).
func TestScenarioOrder(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	id := f.scenario("Build")
	steps := []struct {
		name string
		path string
		form func(e []string) url.Values
		hx   bool
		want string
	}{
		{"add Alpha", "/tests", func([]string) url.Values { return url.Values{"template_id": {f.tpl["Alpha"].String()}} }, true, "Alpha"},
		{"add Bravo", "/tests", func([]string) url.Values { return url.Values{"template_id": {f.tpl["Bravo"].String()}} }, true, "Alpha,Bravo"},
		{"add Alpha again", "/tests", func([]string) url.Values { return url.Values{"template_id": {f.tpl["Alpha"].String()}} }, true, "Alpha,Bravo,Alpha"},
		{"add Charlie without JavaScript", "/tests", func([]string) url.Values { return url.Values{"template_id": {f.tpl["Charlie"].String()}} }, false, "Alpha,Bravo,Alpha,Charlie"},
		{"move the last up", "/tests/move", func(e []string) url.Values { return url.Values{"entry": {e[3]}, "direction": {"up"}} }, true, "Alpha,Bravo,Charlie,Alpha"},
		{"move the first down", "/tests/move", func(e []string) url.Values { return url.Values{"entry": {e[0]}, "direction": {"down"}} }, true, "Bravo,Alpha,Charlie,Alpha"},
		{"move the first up: no change", "/tests/move", func(e []string) url.Values { return url.Values{"entry": {e[0]}, "direction": {"up"}} }, true, "Bravo,Alpha,Charlie,Alpha"},
		{"move down without JavaScript", "/tests/move", func(e []string) url.Values { return url.Values{"entry": {e[2]}, "direction": {"down"}} }, false, "Bravo,Alpha,Alpha,Charlie"},
		{"remove the second", "/tests/remove", func(e []string) url.Values { return url.Values{"entry": {e[1]}} }, true, "Bravo,Alpha,Charlie"},
		{"drag: the whole order", "/order", func(e []string) url.Values { return url.Values{"entry": {e[2], e[0], e[1]}} }, true, "Charlie,Bravo,Alpha"},
		{"drag without JavaScript", "/order", func(e []string) url.Values { return url.Values{"entry": {e[1], e[2], e[0]}} }, false, "Bravo,Alpha,Charlie"},
		{"remove without JavaScript", "/tests/remove", func(e []string) url.Values { return url.Values{"entry": {e[0]}} }, false, "Alpha,Charlie"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			v := f.version(id)
			form := st.form(f.entries(id))
			form.Set("version", strconv.Itoa(v))
			w := f.post(f.red, id, st.path, form, st.hx)
			if got := f.order(id); got != st.want {
				t.Errorf("database order %s, want %s", got, st.want)
			}
			if nv := f.version(id); nv != v+1 {
				t.Errorf("version %d → %d, want +1", v, nv)
			}
			if !st.hx {
				if w.Code != 303 || w.Header().Get("Location") != "/library/scenarios/"+id.String()+"#scenario-tests" {
					t.Fatalf("plain POST: %d → %q", w.Code, w.Header().Get("Location"))
				}
				return
			}
			if w.Code != 200 {
				t.Fatalf("status %d\n%s", w.Code, w.Body)
			}
			body := w.Body.String()
			if !isFragment(body) || !strings.HasPrefix(strings.TrimSpace(body), `<div id="scenario-tests"`) {
				t.Fatalf("htmx response is not the list fragment:\n%.300s", body)
			}
			names, version, consistent := pageOrder(doc(t, w))
			if names != st.want || version != v+1 || !consistent {
				t.Errorf("fragment order %s v%d (forms agree: %v), want %s v%d", names, version, consistent, st.want, v+1)
			}
		})
	}

	t.Run("the page shows the order with links and tags", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.observer, "/library/scenarios/"+id.String()))
		if names, _, _ := pageOrder(d); names != "Alpha,Charlie" {
			t.Errorf("page order %s", names)
		}
		first := d.Find(`[data-testid="scenario-entry"]`).First()
		if href := first.Find(`[data-testid="scenario-entry-link"]`).AttrOr("href", ""); href != "/library/tests/"+f.tpl["Alpha"].String() {
			t.Errorf("link %q", href)
		}
		var tags []string
		first.Find(`[data-testid="scenario-tag"]`).Each(func(_ int, s *goquery.Selection) {
			tags = append(tags, s.AttrOr("data-external-id", "")+"="+s.AttrOr("href", ""))
		})
		if strings.Join(tags, " ") != "T1059=/attack/T1059 TA0002=/attack/TA0002" {
			t.Errorf("tags %v", tags)
		}
		retired := d.Find(`[data-testid="scenario-entry"]`).Last().Find(`[data-testid="scenario-tag"]`)
		if retired.AttrOr("data-external-id", "") != "T1059.099" || !retired.HasClass("badge--warn") || retired.AttrOr("title", "") != "Revoked" {
			t.Errorf("a revoked tag is not shown as such: %v %q", retired.AttrOr("class", ""), retired.AttrOr("title", ""))
		}
		if d.Find(`[data-testid="scenario-entry-up"], [data-testid="scenario-entry-remove"], [data-testid="scenario-add"], [data-testid="scenario-edit"], [data-testid="scenario-delete"]`).Length() != 0 {
			t.Error("an observer sees buttons that change the scenario")
		}
	})

	t.Run("the first cannot go up nor the last down", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.red, "/library/scenarios/"+id.String()))
		up := d.Find(`[data-testid="scenario-entry-up"]`)
		down := d.Find(`[data-testid="scenario-entry-down"]`)
		if _, ok := up.First().Attr("disabled"); !ok {
			t.Error("first entry's up button is enabled")
		}
		if _, ok := down.Last().Attr("disabled"); !ok {
			t.Error("last entry's down button is enabled")
		}
		if _, ok := up.Last().Attr("disabled"); ok {
			t.Error("last entry's up button is disabled")
		}
	})
}

// TestScenarioStaleChanges: two people load the same version; the first
// change wins (200), the second — whatever it is — gets 409 with the
// current order and version in the body, and the database keeps the first
// change only.
func TestScenarioStaleChanges(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	seconds := []struct {
		name string
		path string
		form func(e []string) url.Values
	}{
		{"move", "/tests/move", func(e []string) url.Values { return url.Values{"entry": {e[2]}, "direction": {"up"}} }},
		{"remove", "/tests/remove", func(e []string) url.Values { return url.Values{"entry": {e[1]}} }},
		{"add", "/tests", func([]string) url.Values { return url.Values{"template_id": {f.tpl["Charlie"].String()}} }},
		{"drag", "/order", func(e []string) url.Values { return url.Values{"entry": {e[2], e[1], e[0]}} }},
	}
	for _, second := range seconds {
		for _, hx := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, htmx %v", second.name, hx), func(t *testing.T) {
				id := f.scenario("Shared", "Alpha", "Bravo", "Alpha")
				// Both open the page at the same version.
				_, v1, _ := pageOrder(doc(t, f.app.GetAs(f.red, "/library/scenarios/"+id.String())))
				_, v2, _ := pageOrder(doc(t, f.app.GetAs(f.red2, "/library/scenarios/"+id.String())))
				if v1 != v2 || v1 == 0 {
					t.Fatalf("versions %d and %d", v1, v2)
				}
				e := f.entries(id)
				first := f.post(f.red, id, "/tests/move", url.Values{"entry": {e[1]}, "direction": {"down"}, "version": {strconv.Itoa(v1)}}, true)
				if first.Code != 200 {
					t.Fatalf("first change: %d", first.Code)
				}
				after := f.order(id)
				if after != "Alpha,Alpha,Bravo" {
					t.Fatalf("first change gave %s", after)
				}
				form := second.form(e)
				form.Set("version", strconv.Itoa(v2))
				w := f.post(f.red2, id, second.path, form, hx)
				if w.Code != 409 {
					t.Fatalf("second change: status %d, want 409", w.Code)
				}
				if got := f.order(id); got != after || f.version(id) != v1+1 {
					t.Errorf("the stale change reached the database: %s v%d", got, f.version(id))
				}
				d := doc(t, w)
				names, version, consistent := pageOrder(d)
				if names != after || version != v1+1 || !consistent {
					t.Errorf("409 body shows %s v%d (forms agree: %v), want the current %s v%d", names, version, consistent, after, v1+1)
				}
				notice := d.Find(`[data-testid="scenario-tests-notice"]`)
				if notice.AttrOr("data-notice", "") != "stale" || !strings.Contains(notice.Text(), "Someone else changed this scenario") {
					t.Errorf("notice %q", notice.Text())
				}
				if isFragment(w.Body.String()) != hx {
					t.Errorf("htmx %v but fragment %v", hx, isFragment(w.Body.String()))
				}
				// Trying again from the list the 409 showed works.
				form = second.form(f.entries(id))
				form.Set("version", strconv.Itoa(version))
				if w := f.post(f.red2, id, second.path, form, true); w.Code != 200 {
					t.Errorf("retry with the current version: %d", w.Code)
				}
			})
		}
	}
	t.Run("a drag that misses an entry is stale", func(t *testing.T) {
		id := f.scenario("Partial", "Alpha", "Bravo", "Charlie")
		e := f.entries(id)
		w := f.post(f.red, id, "/order", url.Values{"entry": {e[2], e[0]}, "version": {strconv.Itoa(f.version(id))}}, true)
		if w.Code != 409 || f.order(id) != "Alpha,Bravo,Charlie" {
			t.Errorf("status %d, order %s", w.Code, f.order(id))
		}
	})
}

// TestScenarioOrderBadInput: malformed forms are refused and change
// nothing; ids from elsewhere are not found.
func TestScenarioOrderBadInput(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	id := f.scenario("Target", "Alpha", "Bravo")
	other := f.scenario("Other", "Charlie")
	e := f.entries(id)
	v := strconv.Itoa(f.version(id))
	gone := f.template("Deleted template")
	if _, err := f.app.DB.Exec(`UPDATE test_templates SET deleted_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		path   string
		form   url.Values
		status int
	}{
		{"no version", "/tests/move", url.Values{"entry": {e[1]}, "direction": {"up"}}, 400},
		{"version 0 would skip the check", "/tests", url.Values{"template_id": {f.tpl["Alpha"].String()}, "version": {"0"}}, 400},
		{"entry not an id", "/tests/remove", url.Values{"entry": {"nope"}, "version": {v}}, 400},
		{"two entries to move", "/tests/move", url.Values{"entry": {e[0], e[1]}, "direction": {"up"}, "version": {v}}, 400},
		{"unknown direction", "/tests/move", url.Values{"entry": {e[1]}, "direction": {"sideways"}, "version": {v}}, 400},
		{"template not an id", "/tests", url.Values{"template_id": {"x"}, "version": {v}}, 400},
		{"unknown template", "/tests", url.Values{"template_id": {uuid.NewString()}, "version": {v}}, 422},
		{"deleted template", "/tests", url.Values{"template_id": {gone.String()}, "version": {v}}, 422},
		{"entry of another scenario", "/tests/remove", url.Values{"entry": {f.entries(other)[0]}, "version": {v}}, 404},
		{"drag with a foreign entry", "/order", url.Values{"entry": {e[1], f.entries(other)[0]}, "version": {v}}, 409},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.post(f.red, id, tc.path, tc.form, true)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d\n%.300s", w.Code, tc.status, w.Body)
			}
			if got := f.order(id); got != "Alpha,Bravo" || strconv.Itoa(f.version(id)) != v {
				t.Errorf("refused change wrote: %s v%d", got, f.version(id))
			}
			if f.order(other) != "Charlie" {
				t.Error("the other scenario changed")
			}
			if tc.status == 422 {
				d := doc(t, w)
				if d.Find(`[data-testid="scenario-tests-notice"][data-notice="error"]`).Length() != 1 {
					t.Error("422 without the notice in the list")
				}
			}
		})
	}
	t.Run("unknown scenario", func(t *testing.T) {
		w := f.post(f.red, uuid.New(), "/tests", url.Values{"template_id": {f.tpl["Alpha"].String()}, "version": {"1"}}, true)
		if w.Code != 404 {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestScenarioCandidates: the "add a test" search finds templates by name
// (htmx: the results only; otherwise the page with them), offers each
// with a button submitting the list's add form, and leaves deleted
// templates out.
func TestScenarioCandidates(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	id := f.scenario("Search", "Alpha")
	gone := f.template("Alphabet soup")
	if _, err := f.app.DB.Exec(`UPDATE test_templates SET deleted_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		f.template(fmt.Sprintf("Many %02d", i))
	}
	hits := func(d *goquery.Document) string {
		var out []string
		d.Find(`[data-testid="scenario-candidate"]`).Each(func(_ int, s *goquery.Selection) {
			btn := s.Find(`[data-testid="scenario-candidate-add"]`)
			if btn.AttrOr("form", "") != "scenario-add-form" || btn.AttrOr("name", "") != "template_id" ||
				btn.AttrOr("value", "") != s.AttrOr("data-template-id", "") {
				t.Errorf("add button %v does not submit the add form with its template", btn.Nodes)
			}
			out = append(out, strings.TrimSpace(s.Find(".scenario-candidates__name").Text()))
		})
		return strings.Join(out, ",")
	}
	base := "/library/scenarios/" + id.String()
	t.Run("as you type", func(t *testing.T) {
		w := f.app.GetAs(f.red, base+"/candidates?q=ALP", hxRequest...)
		if w.Code != 200 || !isFragment(w.Body.String()) {
			t.Fatalf("status %d, fragment %v", w.Code, isFragment(w.Body.String()))
		}
		d := doc(t, w)
		if got := hits(d); got != "Alpha" {
			t.Errorf("hits %q", got)
		}
		if d.Find(`[data-testid="scenario-tag"][data-external-id="T1059"]`).Length() != 1 {
			t.Error("the hit's ATT&CK tags are missing")
		}
	})
	t.Run("no match", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.red, base+"/candidates?q=zzz", hxRequest...))
		if hits(d) != "" || d.Find(`[data-testid="scenario-candidates-none"]`).Length() != 1 {
			t.Error("want the no-match message")
		}
	})
	t.Run("at most 20, with a hint", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.red, base+"/candidates?q=many", hxRequest...))
		if n := d.Find(`[data-testid="scenario-candidate"]`).Length(); n != 20 || d.Find(`[data-testid="scenario-candidates-more"]`).Length() != 1 {
			t.Errorf("%d hits", n)
		}
	})
	t.Run("without JavaScript: the page with the results", func(t *testing.T) {
		for _, path := range []string{base + "?q=bravo", base + "/candidates?q=bravo"} {
			w := f.app.GetAs(f.red, path)
			d := doc(t, w)
			if w.Code != 200 || isFragment(w.Body.String()) || hits(d) != "Bravo" {
				t.Errorf("%s: %d, hits %q", path, w.Code, hits(d))
			}
			if d.Find(`form#scenario-add-form input[name="version"]`).AttrOr("value", "") != strconv.Itoa(f.version(id)) {
				t.Errorf("%s: the add form does not carry the current version", path)
			}
		}
	})
	t.Run("observers get no search", func(t *testing.T) {
		if w := f.app.GetAs(f.observer, base+"/candidates?q=alpha", hxRequest...); w.Code != 403 {
			t.Errorf("status %d", w.Code)
		}
		if d := doc(t, f.app.GetAs(f.observer, base+"?q=alpha")); d.Find(`[data-testid="scenario-candidate"]`).Length() != 0 {
			t.Error("observer page lists candidates")
		}
	})
	t.Run("unknown scenario", func(t *testing.T) {
		if w := f.app.GetAs(f.red, "/library/scenarios/"+uuid.NewString()+"/candidates?q=a", hxRequest...); w.Code != 404 {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestDuplicateScenario: the copy has the same description and the same
// tests in the same order, under "<name> (copy)", and is independent.
func TestDuplicateScenario(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	id := f.scenario("Original", "Bravo", "Alpha", "Bravo")
	w := f.post(f.red, id, "/duplicate", url.Values{"name": {"ignored"}}, false)
	if w.Code != 303 {
		t.Fatalf("status %d", w.Code)
	}
	copyID, err := uuid.Parse(strings.TrimPrefix(w.Header().Get("Location"), "/library/scenarios/"))
	if err != nil || copyID == id {
		t.Fatalf("redirected to %q", w.Header().Get("Location"))
	}
	name, desc, version, deleted := f.state(copyID)
	if name != "Original (copy)" || desc != "About **it**" || version != 1 || deleted {
		t.Errorf("copy %q %q v%d deleted=%v", name, desc, version, deleted)
	}
	if got := f.order(copyID); got != "Bravo,Alpha,Bravo" {
		t.Errorf("copy order %s", got)
	}
	// Changing the copy leaves the original alone.
	e := f.entries(copyID)
	f.post(f.red, copyID, "/tests/remove", url.Values{"entry": {e[0]}, "version": {"1"}}, true)
	if f.order(copyID) != "Alpha,Bravo" || f.order(id) != "Bravo,Alpha,Bravo" {
		t.Errorf("copy %s, original %s", f.order(copyID), f.order(id))
	}
	t.Run("a long name is cut to fit", func(t *testing.T) {
		for _, long := range []string{strings.Repeat("x", 300), strings.Repeat("é", 150)} {
			w := f.post(f.red, f.scenario(long), "/duplicate", nil, false)
			copyID, _ := uuid.Parse(strings.TrimPrefix(w.Header().Get("Location"), "/library/scenarios/"))
			if name, _, _, _ := f.state(copyID); len(name) > 300 || !utf8.ValidString(name) || !strings.HasSuffix(name, " (copy)") {
				t.Errorf("%d: name %q", w.Code, name)
			}
		}
	})
	t.Run("in French", func(t *testing.T) {
		f.app.DB.Exec(`UPDATE users SET locale = 'fr' WHERE email = 'red2@example.com'`)
		w := f.post(f.red2, id, "/duplicate", nil, false)
		copyID, _ := uuid.Parse(strings.TrimPrefix(w.Header().Get("Location"), "/library/scenarios/"))
		if name, _, _, _ := f.state(copyID); name != "Original (copie)" {
			t.Errorf("%d: name %q", w.Code, name)
		}
	})
	t.Run("a deleted scenario cannot be copied", func(t *testing.T) {
		f.app.DB.Exec(`UPDATE scenario_templates SET deleted_at = now() WHERE id = $1`, id)
		if w := f.post(f.red, id, "/duplicate", nil, false); w.Code != 404 {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestDeleteRestoreScenario: delete moves a scenario to the trash — gone
// from the list, 404 for viewers without trash.manage, frozen for order
// changes — and restore brings it back with its tests.
func TestDeleteRestoreScenario(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	id := f.scenario("Doomed", "Alpha", "Bravo")
	page := "/library/scenarios/" + id.String()

	w := f.post(f.red, id, "/delete", nil, false)
	if w.Code != 303 || w.Header().Get("Location") != "/library/scenarios" {
		t.Fatalf("delete: %d → %q", w.Code, w.Header().Get("Location"))
	}
	if _, _, _, deleted := f.state(id); !deleted || f.order(id) != "Alpha,Bravo" {
		t.Fatal("not soft-deleted with its tests kept")
	}
	t.Run("a second click lands the same way", func(t *testing.T) {
		if w := f.post(f.red, id, "/delete", nil, false); w.Code != 303 {
			t.Errorf("status %d", w.Code)
		}
	})
	t.Run("gone from the list", func(t *testing.T) {
		if d := doc(t, f.app.GetAs(f.red, "/library/scenarios")); d.Find(`[data-id="`+id.String()+`"]`).Length() != 0 {
			t.Error("deleted scenario listed")
		}
	})
	for name, cookie := range map[string]*http.Cookie{"red team": f.red, "observer": f.observer, "blue team": f.blue} {
		t.Run(name+" gets 404", func(t *testing.T) {
			if w := f.app.GetAs(cookie, page); w.Code != 404 {
				t.Errorf("status %d", w.Code)
			}
		})
	}
	t.Run("order changes are 404", func(t *testing.T) {
		w := f.post(f.red, id, "/tests", url.Values{"template_id": {f.tpl["Alpha"].String()}, "version": {strconv.Itoa(f.version(id))}}, true)
		if w.Code != 404 || f.order(id) != "Alpha,Bravo" {
			t.Errorf("status %d, order %s", w.Code, f.order(id))
		}
		if w := f.post(f.red, id, "", url.Values{"name": {"Revived"}, "version": {strconv.Itoa(f.version(id))}}, false); w.Code != 404 {
			t.Errorf("edit: status %d", w.Code)
		}
	})
	t.Run("the trash shows it to admins, read-only with restore", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.admin, "/library/scenarios?deleted=1"))
		if d.Find(`[data-id="`+id.String()+`"] [data-testid="scenario-row-restore"]`).Length() != 1 {
			t.Error("not in the trash")
		}
		w := f.app.GetAs(f.admin, page)
		d = doc(t, w)
		if w.Code != 200 || d.Find(`[data-testid="scenario-deleted"]`).Length() != 1 || d.Find(`[data-testid="scenario-restore"]`).Length() != 1 {
			t.Errorf("admin page of a deleted scenario: %d", w.Code)
		}
		if d.Find(`[data-testid="scenario-entry-up"], [data-testid="scenario-edit"], [data-testid="scenario-delete"]`).Length() != 0 {
			t.Error("a deleted scenario can be edited")
		}
	})
	t.Run("the red team cannot restore", func(t *testing.T) {
		if w := f.post(f.red, id, "/restore", nil, false); w.Code != 403 {
			t.Errorf("status %d", w.Code)
		}
		if _, _, _, deleted := f.state(id); !deleted {
			t.Error("restored anyway")
		}
	})
	t.Run("restore", func(t *testing.T) {
		w := f.post(f.admin, id, "/restore", nil, false)
		if w.Code != 303 || w.Header().Get("Location") != page {
			t.Fatalf("restore: %d → %q", w.Code, w.Header().Get("Location"))
		}
		if _, _, _, deleted := f.state(id); deleted {
			t.Fatal("still deleted")
		}
		if w := f.app.GetAs(f.observer, page); w.Code != 200 {
			t.Errorf("observer after restore: %d", w.Code)
		}
		if names, _, _ := pageOrder(doc(t, f.app.GetAs(f.red, page))); names != "Alpha,Bravo" {
			t.Errorf("restored order %s", names)
		}
		if w := f.post(f.admin, id, "/restore", nil, false); w.Code != 303 {
			t.Errorf("second restore: %d", w.Code)
		}
		if w := f.post(f.admin, uuid.New(), "/restore", nil, false); w.Code != 404 {
			t.Errorf("restore of nothing: %d", w.Code)
		}
	})
}

// TestScenarioPermissions: observers and the blue team read scenarios and
// get 403 on every change, with nothing written; anonymous viewers are
// sent to sign in; users without template.read see nothing.
func TestScenarioPermissions(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	id := f.scenario("Guarded", "Alpha", "Bravo")
	page := "/library/scenarios/" + id.String()
	e := f.entries(id)
	v := strconv.Itoa(f.version(id))
	changes := []struct {
		path string
		form url.Values
	}{
		{"/library/scenarios", url.Values{"name": {"Sneaky"}}},
		{page, url.Values{"name": {"Renamed"}, "version": {v}}},
		{page + "/tests", url.Values{"template_id": {f.tpl["Charlie"].String()}, "version": {v}}},
		{page + "/tests/move", url.Values{"entry": {e[1]}, "direction": {"up"}, "version": {v}}},
		{page + "/tests/remove", url.Values{"entry": {e[0]}, "version": {v}}},
		{page + "/order", url.Values{"entry": {e[1], e[0]}, "version": {v}}},
		{page + "/duplicate", nil},
		{page + "/delete", nil},
		{page + "/restore", nil},
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		var n int
		f.app.DB.QueryRow(`SELECT count(*) FROM scenario_templates`).Scan(&n)
		name, _, version, deleted := f.state(id)
		if n != 1 || name != "Guarded" || strconv.Itoa(version) != v || deleted || f.order(id) != "Alpha,Bravo" {
			t.Errorf("a refused change wrote: %d scenarios, %q v%d deleted=%v %s", n, name, version, deleted, f.order(id))
		}
	}
	for name, cookie := range map[string]*http.Cookie{"observer": f.observer, "blue team": f.blue} {
		t.Run(name+" reads", func(t *testing.T) {
			for _, path := range []string{"/library/scenarios", page} {
				if w := f.app.GetAs(cookie, path); w.Code != 200 {
					t.Errorf("GET %s: %d", path, w.Code)
				}
			}
			if w := f.app.GetAs(cookie, "/library/scenarios/new"); w.Code != 403 {
				t.Errorf("new form: %d", w.Code)
			}
		})
		for _, ch := range changes {
			t.Run(name+" POST "+strings.TrimPrefix(ch.path, page), func(t *testing.T) {
				for _, hx := range [][]string{nil, hxRequest} {
					if w := f.app.PostAs(cookie, ch.path, ch.form, hx...); w.Code != 403 {
						t.Errorf("status %d, want 403", w.Code)
					}
				}
				unchanged(t)
			})
		}
	}
	t.Run("anonymous", func(t *testing.T) {
		for _, path := range []string{"/library/scenarios", page} {
			w := f.app.GetAs(nil, path)
			if w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
				t.Errorf("GET %s: %d → %q", path, w.Code, w.Header().Get("Location"))
			}
		}
		for _, ch := range changes {
			if w := f.app.PostAs(nil, ch.path, ch.form); w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
				t.Errorf("POST %s: %d", ch.path, w.Code)
			}
		}
		unchanged(t)
	})
	t.Run("no groups", func(t *testing.T) {
		if w := f.app.GetAs(f.none, page); w.Code != 403 {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestScenarioEscapesNames: a scenario or template name holding HTML is
// shown as text in the list, the page, the list fragment, the search
// results and the page title.
func TestScenarioEscapesNames(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	const payload = `"><img src=x onerror=alert(1)><script>alert(2)</script>`
	f.template(payload)
	id := f.scenario(payload, payload)
	if _, err := f.app.DB.Exec(`UPDATE scenario_templates SET description = $2 WHERE id = $1`, id,
		"[click](javascript:alert(3)) <img src=x onerror=alert(4)>"); err != nil {
		t.Fatal(err)
	}
	page := "/library/scenarios/" + id.String()
	responses := map[string]*httptest.ResponseRecorder{
		"list":       f.app.GetAs(f.red, "/library/scenarios"),
		"search":     f.app.GetAs(f.red, "/library/scenarios?q=img", hxRequest...),
		"page":       f.app.GetAs(f.red, page),
		"fragment":   f.post(f.red, id, "/tests", url.Values{"template_id": {f.tpl[payload].String()}, "version": {strconv.Itoa(f.version(id))}}, true),
		"candidates": f.app.GetAs(f.red, page+"/candidates?q=onerror", hxRequest...),
	}
	for name, w := range responses {
		t.Run(name, func(t *testing.T) {
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			body := w.Body.String()
			d := doc(t, w)
			if n := d.Find(`[onerror], script:not([src]), a[href^="javascript"], img[src="x"]`).Length(); n > 0 {
				t.Errorf("%s: %d live elements from the payload", name, n)
			}
			for _, bad := range []string{"<img src=x", "<script>alert"} {
				if strings.Contains(body, bad) {
					t.Errorf("%s: unescaped %q", name, bad)
				}
			}
			if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
				t.Errorf("%s: the name is not shown escaped", name)
			}
		})
	}
}

// TestBrowserScenario: in a real Chromium, a red-team operator creates a
// scenario, adds one template twice and another once through the search
// (the same add button twice: it always sends the list's current version),
// moves the last entry up with its button (keeping the keyboard focus on
// it), drags the first entry to the end with the mouse (HTML5 drag and
// drop), and meets a change someone else made meanwhile (409: the list
// shows the current order with the notice). The order is checked on the
// page and in the database at every step; screenshots are kept.
func TestBrowserScenario(t *testing.T) {
	app, base := browsertest.Server(t)
	ctx := browsertest.New(t)
	app.User(t, "red@example.com", "redteam")
	f := &scenarioFixture{t: t, app: app, tpl: map[string]uuid.UUID{}}
	f.template("Alpha PowerShell download")
	f.template("Bravo credential dump")
	console := browsertest.WatchConsole(ctx)
	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }
	const entries = `[...document.querySelectorAll('#scenario-tests [data-testid="scenario-entry"]')]`
	count := func(n int) chromedp.Action[chromedp.Void] {
		return poll(fmt.Sprintf(`%s.length === %d`, entries, n))
	}
	// onPage returns the list as the page shows it: names in order and
	// the version its forms carry.
	onPage := func() (string, int) {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({names: `+entries+`.map(e =>
			e.querySelector('[data-testid="scenario-entry-link"]').textContent.trim().split(" ")[0]).join(","),
			version: document.getElementById("scenario-tests").dataset.version})`))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Names   string `json:"names"`
			Version string `json:"version"`
		}
		if err := json.Unmarshal([]byte(s), &got); err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(got.Version)
		return got.Names, v
	}
	// inDB returns the order stored, by first word of each name.
	inDB := func(id uuid.UUID) string {
		t.Helper()
		var out []string
		for _, n := range strings.Split(f.order(id), ",") {
			out = append(out, strings.Fields(n)[0])
		}
		return strings.Join(out, ",")
	}
	search := func(q string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := chromedp.Evaluate[chromedp.Void](`document.getElementById("scenario-candidate-q").value = ""`)(ctx, t); err != nil {
				return err
			}
			_, err := chromedp.SendKeys(chromedp.CSS(`#scenario-candidate-q`), q)(ctx, t)
			return err
		})
	}
	// settled waits until htmx has no request in flight and has processed
	// what it swapped in: a click on a button it has not processed yet is a
	// plain form submission (which works, but reloads the page).
	settled := browsertest.Settled()
	addButton := func(name string) string {
		return `[data-testid="scenario-candidate"][data-template-id="` + f.tpl[name].String() + `"] [data-testid="scenario-candidate-add"]`
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/library/scenarios/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="scenario-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-name`), "Browser drill"),
		chromedp.SendKeys(chromedp.CSS(`#field-description`), "Built in **Chromium**"),
		chromedp.Click(chromedp.CSS(`[data-testid="scenario-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="scenario-tests-empty"]`)),
	); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(strings.TrimPrefix(loc, base+"/library/scenarios/"))
	if err != nil {
		t.Fatalf("after create the browser is at %q", loc)
	}

	// Add Alpha twice with the same button, then Bravo.
	if err := chromedp.Do(ctx,
		search("alpha"),
		chromedp.WaitVisible(chromedp.CSS(addButton("Alpha PowerShell download"))),
		settled,
		chromedp.Click(chromedp.CSS(addButton("Alpha PowerShell download"))),
		count(1),
		settled,
		chromedp.Click(chromedp.CSS(addButton("Alpha PowerShell download"))),
		count(2),
		search("credential"),
		// Wait for the search to settle: a click on a button that a late
		// swap replaces would be lost.
		poll(`document.querySelectorAll('[data-testid="scenario-candidate"]').length === 1`),
		chromedp.WaitVisible(chromedp.CSS(addButton("Bravo credential dump"))),
		settled,
		chromedp.Click(chromedp.CSS(addButton("Bravo credential dump"))),
		count(3),
	); err != nil {
		browsertest.Screenshot(t, ctx, "scenario-add-failed")
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").outerHTML`))
		t.Fatalf("%v\n%s\n%v\n%s", err, f.order(id), console.Errors(), html)
	}
	if names, v := onPage(); names != "Alpha,Alpha,Bravo" || inDB(id) != names || v != f.version(id) {
		t.Errorf("after adding: page %s v%d, database %s v%d", names, v, inDB(id), f.version(id))
	}
	browsertest.Screenshot(t, ctx, "scenario-built")

	// Move the last up with its button; focus stays on that button.
	last := f.entries(id)[2]
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#entry-`+last+`-up`)),
		poll(entries+`[1] && `+entries+`[1].dataset.entryId === "`+last+`"`),
	); err != nil {
		t.Fatal(err)
	}
	if names, v := onPage(); names != "Alpha,Bravo,Alpha" || inDB(id) != names || v != f.version(id) {
		t.Errorf("after moving up: page %s v%d, database %s v%d", names, v, inDB(id), f.version(id))
	}
	if focus, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`)); focus != "entry-"+last+"-up" {
		t.Errorf("after the swap, focus is on %q, want the same up button", focus)
	}
	browsertest.Screenshot(t, ctx, "scenario-moved-up")

	// Drag the first entry below the last one.
	rect := func(sel string) (x, y, h float64) {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector(`+strconv.Quote(sel)+`).getBoundingClientRect();
			return [r.x + r.width / 2, r.y + r.height / 2, r.height]; })()`))
		if err != nil || len(r) != 3 {
			t.Fatalf("rect of %s: %v %v", sel, r, err)
		}
		return r[0], r[1], r[2]
	}
	first := f.entries(id)[0]
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("scenario-tests").scrollIntoView()`)); err != nil {
		t.Fatal(err)
	}
	fx, fy, _ := rect(`#entry-` + first + ` .scenario-entry__position`)
	// Drop on the lower part of the last row: the dragged entry lands after it.
	lx, ly, lh := rect(`#scenario-tests [data-testid="scenario-entry"]:last-child`)
	before := f.version(id)
	if err := chromedp.Do(ctx,
		chromedp.DragAndDropXY(fx, fy, lx, ly+lh/2-2),
		poll(entries+`.length === 3 && `+entries+`[2].dataset.entryId === "`+first+`"`),
		// The swap has brought the new version.
		poll(fmt.Sprintf(`document.getElementById("scenario-tests").dataset.version !== "%d"`, before)),
	); err != nil {
		t.Fatalf("drag and drop: %v (page order %v)", err, func() string { n, _ := onPage(); return n }())
	}
	if names, v := onPage(); names != "Bravo,Alpha,Alpha" || inDB(id) != names || v != f.version(id) {
		t.Errorf("after dragging: page %s v%d, database %s v%d", names, v, inDB(id), f.version(id))
	}
	browsertest.Screenshot(t, ctx, "scenario-dragged")

	// Someone else moves an entry meanwhile; removing from the stale page
	// is refused and the list comes back as it now is.
	e := f.entries(id)
	if _, err := library.MoveTest(rule.SystemContext(context.Background()), app.Ent, id, f.version(id), uuid.MustParse(e[2]), -1); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#entry-`+e[0]+`-remove`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="scenario-tests-notice"][data-notice="stale"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if names, v := onPage(); names != "Bravo,Alpha,Alpha" || len(f.entries(id)) != 3 || v != f.version(id) ||
		f.entries(id)[1] != e[2] {
		t.Errorf("after a stale remove: page %s v%d, database %v v%d", names, v, f.entries(id), f.version(id))
	}
	if ids, _ := chromedp.Run(ctx, chromedp.Evaluate[string](entries+`.map(e => e.dataset.entryId).join(",")`)); ids != strings.Join(f.entries(id), ",") {
		t.Errorf("page entries %s, database %v", ids, f.entries(id))
	}
	browsertest.Screenshot(t, ctx, "scenario-stale")
	for _, m := range console.Errors() {
		// The refused change is a 409 response, which the browser logs.
		if !strings.Contains(m, "409") {
			t.Errorf("console error: %s", m)
		}
	}
}

// TestScenarioAudit: creating, editing, deleting and restoring a scenario
// each leave their audit event (written in the change's transaction), and
// a refused stale edit leaves none.
func TestScenarioAudit(t *testing.T) {
	t.Parallel()
	f := newScenarioFixture(t)
	events := func(action string) int {
		t.Helper()
		var n int
		if err := f.app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = $1 AND target_type = 'scenario_template'`,
			action).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	w := f.app.PostAs(f.red, "/library/scenarios", url.Values{"name": {"Audited"}})
	if w.Code != 303 {
		t.Fatalf("create: %d", w.Code)
	}
	id := uuid.MustParse(strings.TrimPrefix(w.Header().Get("Location"), "/library/scenarios/"))
	if w := f.post(f.red, id, "", url.Values{"name": {"Audited again"}, "version": {strconv.Itoa(f.version(id))}}, false); w.Code != 303 {
		t.Fatalf("edit: %d", w.Code)
	}
	if w := f.post(f.red, id, "", url.Values{"name": {"Stale"}, "version": {"1"}}, false); w.Code != 409 {
		t.Fatalf("stale edit: %d", w.Code)
	}
	if w := f.post(f.red, id, "/delete", nil, false); w.Code != 303 {
		t.Fatalf("delete: %d", w.Code)
	}
	if w := f.post(f.admin, id, "/restore", nil, false); w.Code != 303 {
		t.Fatalf("restore: %d", w.Code)
	}
	for action, want := range map[string]int{
		audit.ScenarioCreated: 1, audit.ScenarioUpdated: 1, audit.ScenarioDeleted: 1, audit.ScenarioRestored: 1,
	} {
		if got := events(action); got != want {
			t.Errorf("%s: %d events, want %d", action, got, want)
		}
	}
}
