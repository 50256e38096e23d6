package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/testtemplate"
	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/library"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// templateFixture is an app with the small ATT&CK fixture bundle synced
// (TA0001-3, T1001-T1004 with T1003 revoked and T1004 deprecated,
// T1001.001, T1002.001, T1002.002 revoked) and one user per role.
type templateFixture struct {
	t                                testing.TB
	app                              *apptest.App
	red, blue, observer, admin, none *http.Cookie
	pick                             map[string]string // ATT&CK ID → picker value "kind:uuid"
	ref                              map[string]uuid.UUID
	tpl                              map[string]uuid.UUID
}

func newTemplateFixture(t testing.TB) *templateFixture {
	t.Helper()
	app := apptest.New(t)
	f := &templateFixture{t: t, app: app, pick: map[string]string{}, ref: map[string]uuid.UUID{}, tpl: map[string]uuid.UUID{}}
	f.red = app.SignedIn(t, "red@example.com", "redteam")
	f.blue = app.SignedIn(t, "blue@example.com", "blueteam")
	f.observer = app.SignedIn(t, "observer@example.com", "observer")
	f.admin = app.SignedIn(t, "admin@example.com", "admin")
	f.none = app.SignedIn(t, "none@example.com")
	templateMiniCatalogue(t, app)
	ctx := rule.SystemContext(context.Background())
	for _, e := range app.Ent.MitreTactic.Query().AllX(ctx) {
		f.pick[e.ExternalID], f.ref[e.ExternalID] = "tactic:"+e.ID.String(), e.ID
	}
	for _, e := range app.Ent.MitreTechnique.Query().AllX(ctx) {
		f.pick[e.ExternalID], f.ref[e.ExternalID] = "technique:"+e.ID.String(), e.ID
	}
	for _, e := range app.Ent.MitreSubtechnique.Query().AllX(ctx) {
		f.pick[e.ExternalID], f.ref[e.ExternalID] = "subtechnique:"+e.ID.String(), e.ID
	}
	if len(f.pick) != 10 {
		t.Fatalf("catalogue has %d entries, want 10", len(f.pick))
	}
	return f
}

// templateMiniCatalogue syncs the fixture bundle, as the CLI would.
func templateMiniCatalogue(t testing.TB, app *apptest.App) {
	t.Helper()
	file, err := os.Open("../internal/attack/testdata/mini-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	b, err := attack.Read(file, attack.ReadOptions{Version: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := rule.SystemContext(context.Background())
	if err := database.WithTx(ctx, app.Ent, func(tx *ent.Tx) error {
		_, err := attack.Sync(ctx, tx, b, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// templateSeed is what a fixture template holds beyond its name.
type templateSeed struct {
	platforms []string
	opsec     string
	source    string
	labels    []string
	tags      []string // ATT&CK IDs
	text      string   // the description
}

// template creates a template named name with its tags.
func (f *templateFixture) template(name string, s templateSeed) uuid.UUID {
	f.t.Helper()
	ctx := rule.SystemContext(context.Background())
	c := f.app.Ent.TestTemplate.Create().SetName(name).SetDescription(s.text)
	if s.platforms != nil {
		c.SetPlatforms(s.platforms)
	}
	if s.opsec != "" {
		c.SetOpsecLevel(testtemplate.OpsecLevel(s.opsec))
	}
	if s.source != "" {
		c.SetSource(testtemplate.Source(s.source))
	}
	if s.labels != nil {
		c.SetLabels(s.labels)
	}
	t := c.SaveX(ctx)
	for _, id := range s.tags {
		f.tag(t.ID, id)
	}
	f.tpl[name] = t.ID
	return t.ID
}

// tag tags template id with the ATT&CK entry id.
func (f *templateFixture) tag(id uuid.UUID, attackID string) {
	f.t.Helper()
	ctx := rule.SystemContext(context.Background())
	c := f.app.Ent.TestTemplateMitreTag.Create().SetTestTemplateID(id)
	switch kind, _, _ := strings.Cut(f.pick[attackID], ":"); kind {
	case "tactic":
		c.SetTacticID(f.ref[attackID])
	case "technique":
		c.SetTechniqueID(f.ref[attackID])
	case "subtechnique":
		c.SetSubtechniqueID(f.ref[attackID])
	default:
		f.t.Fatalf("no ATT&CK entry %s", attackID)
	}
	c.ExecX(ctx)
}

// tags returns the ATT&CK IDs template id is tagged with, sorted.
func (f *templateFixture) tags(id uuid.UUID) []string {
	f.t.Helper()
	rows, err := f.app.DB.Query(`SELECT coalesce(ta.external_id, te.external_id, st.external_id)
		FROM test_template_mitre_tags g
		LEFT JOIN mitre_tactics ta ON ta.id = g.tactic_id
		LEFT JOIN mitre_techniques te ON te.id = g.technique_id
		LEFT JOIN mitre_subtechniques st ON st.id = g.subtechnique_id
		WHERE g.test_template_id = $1 ORDER BY 1`, id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// row reads one template's stored name, version and deletion.
func (f *templateFixture) row(id uuid.UUID) (name string, version int, deleted bool) {
	f.t.Helper()
	if err := f.app.DB.QueryRow(`SELECT name, version, deleted_at IS NOT NULL FROM test_templates WHERE id = $1`, id).
		Scan(&name, &version, &deleted); err != nil {
		f.t.Fatal(err)
	}
	return name, version, deleted
}

// audits counts the audit events of action on template id.
func (f *templateFixture) audits(action string, id uuid.UUID) int {
	f.t.Helper()
	var n int
	if err := f.app.DB.QueryRow(`SELECT count(*) FROM audit_events WHERE action = $1 AND target_type = 'test_template' AND target_id = $2`,
		action, id.String()).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// templateNames lists the names of the list's rows, in order.
func templateNames(d *goquery.Document) []string {
	out := []string{}
	d.Find(`[data-testid="template-row"] [data-testid="template-link"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimSpace(s.Text()))
	})
	return out
}

// templateFormValues is a complete, valid template form.
func templateFormValues(name string, tags ...string) url.Values {
	return url.Values{
		"name": {name}, "description": {"Runs **things**"}, "objective": {"Prove execution"},
		"procedure": {"```\nwhoami\n```"}, "prerequisites": {""}, "cleanup": {"Nothing"},
		"expected_detection": {"EDR alert"}, "platforms": {"Windows", "Linux"}, "opsec_level": {"high"},
		"labels": {"smoke, Lab , smoke"}, "tags": tags,
	}
}

func TestListTemplates(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app
	f.template("Alpha phishing", templateSeed{platforms: []string{"Windows"}, opsec: "low", tags: []string{"T1001.001"}, labels: []string{"mail"}})
	f.template("Bravo script", templateSeed{platforms: []string{"Linux", "macOS"}, opsec: "high", source: "atomic", tags: []string{"T1002", "TA0003"}})
	f.template("Charlie shell", templateSeed{platforms: []string{"Linux"}, tags: []string{"T1002.001"}, labels: []string{"lab", "mail"}})
	f.template("Delta retired", templateSeed{tags: []string{"T1003", "T1004"}})
	f.template("Echo untagged", templateSeed{})
	gone := f.template("Foxtrot gone", templateSeed{tags: []string{"T1002"}})
	if _, err := app.DB.Exec(`UPDATE test_templates SET deleted_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	all := []string{"Alpha phishing", "Bravo script", "Charlie shell", "Delta retired", "Echo untagged"}

	cases := []struct {
		name   string
		cookie *http.Cookie
		path   string
		status int
		want   []string
	}{
		{"observer reads the list, by name, deleted left out", f.observer, "/library/tests", 200, all},
		{"search by name, any case", f.red, "/library/tests?q=SCRIPT", 200, []string{"Bravo script"}},
		{"search by ATT&CK ID matches sub-techniques", f.red, "/library/tests?q=t1002", 200, []string{"Bravo script", "Charlie shell"}},
		{"search by sub-technique ID", f.red, "/library/tests?q=T1001.001", 200, []string{"Alpha phishing"}},
		{"tactic: its own tags, its techniques and their sub-techniques", f.red, "/library/tests?tactic=TA0002", 200,
			[]string{"Bravo script", "Charlie shell", "Delta retired"}},
		{"tactic tagged directly", f.red, "/library/tests?tactic=ta0003", 200, []string{"Bravo script", "Charlie shell", "Delta retired"}},
		{"technique includes its sub-techniques", f.red, "/library/tests?technique=T1001", 200, []string{"Alpha phishing"}},
		{"one sub-technique", f.red, "/library/tests?technique=T1002.001", 200, []string{"Charlie shell"}},
		{"platform", f.red, "/library/tests?platform=Linux", 200, []string{"Bravo script", "Charlie shell"}},
		{"opsec", f.red, "/library/tests?opsec=high", 200, []string{"Bravo script"}},
		{"source", f.red, "/library/tests?source=atomic", 200, []string{"Bravo script"}},
		{"label", f.red, "/library/tests?label=mail", 200, []string{"Alpha phishing", "Charlie shell"}},
		{"filters combine", f.red, "/library/tests?label=mail&platform=Linux", 200, []string{"Charlie shell"}},
		{"unknown values are ignored", f.red, "/library/tests?platform=Amiga&opsec=loud&source=x&tactic=nope", 200, all},
		{"nothing matches", f.red, "/library/tests?q=zzz", 200, []string{}},
		{"the trash for trash.manage", f.admin, "/library/tests?deleted=1", 200, []string{"Foxtrot gone"}},
		{"no trash for the red team", f.red, "/library/tests?deleted=1", 403, nil},
		{"no groups, no library", f.none, "/library/tests", 403, nil},
		{"anonymous goes to sign in", nil, "/library/tests", 303, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := app.GetAs(tc.cookie, tc.path)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.want == nil {
				return
			}
			if got := templateNames(doc(t, w)); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("rows show tags as badges, retired ones marked, and the other columns", func(t *testing.T) {
		d := doc(t, app.GetAs(f.red, "/library/tests"))
		row := func(name string) *goquery.Selection {
			return d.Find(`[data-testid="template-row"][data-id="` + f.tpl[name].String() + `"]`)
		}
		badges := func(s *goquery.Selection) []string {
			var out []string
			s.Find(`[data-testid="template-tag"]`).Each(func(_ int, b *goquery.Selection) {
				out = append(out, strings.Join(strings.Fields(b.Text()), " ")+"|"+b.AttrOr("data-retired", ""))
			})
			return out
		}
		if got := badges(row("Bravo script")); !slices.Equal(got, []string{"T1002 Script Runner|", "TA0003 Persistence|"}) {
			t.Errorf("Bravo badges %v", got)
		}
		if got := badges(row("Charlie shell")); !slices.Equal(got, []string{"T1002.001 Shell Scripts|"}) {
			t.Errorf("Charlie badges %v", got)
		}
		if got := badges(row("Delta retired")); !slices.Equal(got, []string{"T1003 Old Script Runner (Revoked)|revoked", "T1004 Forgotten Trick (Deprecated)|deprecated"}) {
			t.Errorf("retired badges %v", got)
		}
		b := row("Bravo script")
		if got := strings.TrimSpace(b.Find(`[data-testid="template-platforms"]`).Text()); got != "Linux, macOS" {
			t.Errorf("platforms %q", got)
		}
		if got := strings.TrimSpace(b.Find(`[data-testid="template-source"]`).Text()); got != "Atomic Red Team" {
			t.Errorf("source %q", got)
		}
		if got := strings.TrimSpace(b.Find(`[data-testid="template-opsec"]`).Text()); got != "High" {
			t.Errorf("opsec %q", got)
		}
		if d.Find(`[data-testid="template-select"]`).Length() != 5 || d.Find(`#template-bulk-form`).Length() != 1 {
			t.Error("writers get no selection boxes or bulk form")
		}
		if opts := d.Find(`#template-tactic option`).Length(); opts != 4 {
			t.Errorf("tactic filter offers %d choices, want any + 3", opts)
		}
	})

	t.Run("readers get no bulk actions", func(t *testing.T) {
		d := doc(t, app.GetAs(f.blue, "/library/tests"))
		if d.Find(`[data-testid="template-select"]`).Length() != 0 || d.Find(`#template-bulk-form`).Length() != 0 ||
			d.Find(`[data-testid="template-new"]`).Length() != 0 {
			t.Error("blue team sees write actions")
		}
	})

	t.Run("htmx gets the results only", func(t *testing.T) {
		w := app.GetAs(f.red, "/library/tests?platform=Linux", hxRequest...)
		if w.Code != 200 || !isFragment(w.Body.String()) ||
			!strings.HasPrefix(strings.TrimSpace(w.Body.String()), `<div id="template-results"`) {
			t.Fatalf("status %d, partial %.200s", w.Code, w.Body)
		}
		if got := templateNames(doc(t, w)); !slices.Equal(got, []string{"Bravo script", "Charlie shell"}) {
			t.Errorf("rows %v", got)
		}
		w = app.GetAs(f.red, "/library/tests?q=&tactic=&technique=&platform=Linux&opsec=&source=&label=", hxRequest...)
		if got := w.Header().Get("HX-Push-Url"); got != "/library/tests?platform=Linux" {
			t.Errorf("pushed URL %q", got)
		}
	})

	t.Run("the filter form is wired for htmx", func(t *testing.T) {
		form := doc(t, app.GetAs(f.red, "/library/tests")).Find(`[data-testid="template-filters"]`)
		if form.AttrOr("method", "") != "get" || form.AttrOr("hx-get", "") != "/library/tests" ||
			form.AttrOr("hx-push-url", "") != "true" || form.AttrOr("hx-target", "") != "#template-results" {
			t.Errorf("filter form %v", form.Nodes[0].Attr)
		}
	})

	t.Run("/library goes to the test templates", func(t *testing.T) {
		w := app.GetAs(f.observer, "/library")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/library/tests" {
			t.Errorf("status %d to %q", w.Code, w.Header().Get("Location"))
		}
	})
}

func TestListTemplatesPaging(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	ctx := rule.SystemContext(context.Background())
	creates := make([]*ent.TestTemplateCreate, 120)
	for i := range creates {
		creates[i] = f.app.Ent.TestTemplate.Create().SetName(fmt.Sprintf("Test %03d", i)).
			SetPlatforms([]string{[]string{"Windows", "Linux"}[i%2]})
	}
	f.app.Ent.TestTemplate.CreateBulk(creates...).ExecX(ctx)

	cases := []struct {
		path        string
		first, last string
		rows        int
		prev, next  string
	}{
		{"/library/tests", "Test 000", "Test 049", 50, "", "/library/tests?page=2"},
		{"/library/tests?page=2", "Test 050", "Test 099", 50, "/library/tests", "/library/tests?page=3"},
		{"/library/tests?page=3", "Test 100", "Test 119", 20, "/library/tests?page=2", ""},
		{"/library/tests?page=99", "Test 100", "Test 119", 20, "/library/tests?page=2", ""},
		{"/library/tests?platform=Linux&page=2", "Test 101", "Test 119", 10, "/library/tests?platform=Linux", ""},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			w := f.app.GetAs(f.red, tc.path)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			d := doc(t, w)
			if tc.path == "/library/tests" && testid(d, "template-count") != "1–50 of 120 test templates" {
				t.Errorf("count %q", testid(d, "template-count"))
			}
			names := templateNames(d)
			if len(names) != tc.rows || names[0] != tc.first || names[len(names)-1] != tc.last {
				t.Errorf("%d rows %s…%s, want %d %s…%s", len(names), names[0], names[len(names)-1], tc.rows, tc.first, tc.last)
			}
			if got := d.Find(`[data-testid="pager-prev"]`).AttrOr("href", ""); got != tc.prev {
				t.Errorf("previous %q, want %q", got, tc.prev)
			}
			if got := d.Find(`[data-testid="pager-next"]`).AttrOr("href", ""); got != tc.next {
				t.Errorf("next %q, want %q", got, tc.next)
			}
		})
	}
}

// seedTemplates creates n templates quickly (bulk inserts), each with one
// or two tags.
func (f *templateFixture) seedTemplates(n int) {
	f.t.Helper()
	ctx := rule.SystemContext(context.Background())
	ids := []string{"T1001", "T1002", "T1002.001", "T1001.001", "TA0001", "T1003"}
	for start := 0; start < n; start += 500 {
		end := min(n, start+500)
		creates := make([]*ent.TestTemplateCreate, 0, end-start)
		for i := start; i < end; i++ {
			creates = append(creates, f.app.Ent.TestTemplate.Create().SetName(fmt.Sprintf("Seeded %05d", i)).
				SetPlatforms([]string{"Windows"}).SetLabels([]string{"seed"}))
		}
		tpls := f.app.Ent.TestTemplate.CreateBulk(creates...).SaveX(ctx)
		var tags []*ent.TestTemplateMitreTagCreate
		for i, t := range tpls {
			for j := 0; j <= i%2; j++ {
				id := ids[(i+j)%len(ids)]
				c := f.app.Ent.TestTemplateMitreTag.Create().SetTestTemplateID(t.ID)
				switch kind, _, _ := strings.Cut(f.pick[id], ":"); kind {
				case "tactic":
					c.SetTacticID(f.ref[id])
				case "technique":
					c.SetTechniqueID(f.ref[id])
				default:
					c.SetSubtechniqueID(f.ref[id])
				}
				tags = append(tags, c)
			}
		}
		f.app.Ent.TestTemplateMitreTag.CreateBulk(tags...).ExecX(ctx)
	}
}

// TestTemplateQueryCount: the list sends as many SQL statements for 200
// templates as for 10 (tags eager-loaded, no query per row), full page and
// htmx partial alike.
func TestTemplateQueryCount(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	f.seedTemplates(10)
	srv, n := countingServer(t, f.app)
	count := func(path string, header ...string) (int64, int) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.AddCookie(f.red)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		before := n.Count()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
		return n.Count() - before, doc(t, w).Find(`[data-testid="template-tag"]`).Length()
	}
	type probe struct {
		path string
		hx   bool
	}
	probes := []probe{{"/library/tests", false}, {"/library/tests?label=seed&tactic=TA0002", false}, {"/library/tests?q=seeded", true}}
	small := map[probe]int64{}
	for _, p := range probes {
		var tags int
		if p.hx {
			small[p], tags = count(p.path, hxRequest...)
		} else {
			small[p], tags = count(p.path)
		}
		if tags == 0 && !strings.Contains(p.path, "tactic") {
			t.Errorf("%s: no tags shown", p.path)
		}
	}
	f.seedTemplates(190)
	for _, p := range probes {
		var big int64
		var tags int
		if p.hx {
			big, tags = count(p.path, hxRequest...)
		} else {
			big, tags = count(p.path)
		}
		if big != small[p] {
			t.Errorf("%s: %d statements for 10 templates, %d for 200", p.path, small[p], big)
		}
		if tags < 50 && !strings.Contains(p.path, "tactic") {
			t.Errorf("%s: %d tags on a full page", p.path, tags)
		}
		t.Logf("%s (htmx %v): %d statements", p.path, p.hx, big)
	}
}

func TestCreateTemplate(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app

	t.Run("two tags through the picker", func(t *testing.T) {
		w := app.PostAs(f.red, "/library/tests", templateFormValues("Run a script", f.pick["T1002.001"], f.pick["TA0002"]))
		if w.Code != http.StatusSeeOther {
			t.Fatalf("status %d\n%s", w.Code, w.Body)
		}
		id, err := uuid.Parse(strings.TrimPrefix(w.Header().Get("Location"), "/library/tests/"))
		if err != nil {
			t.Fatalf("redirected to %q", w.Header().Get("Location"))
		}
		tpl := app.Ent.TestTemplate.GetX(rule.SystemContext(context.Background()), id)
		if tpl.Name != "Run a script" || tpl.Source != "manual" || tpl.Version != 1 || string(tpl.OpsecLevel) != "high" ||
			!slices.Equal(tpl.Platforms, []string{"Windows", "Linux"}) || !slices.Equal(tpl.Labels, []string{"smoke", "Lab"}) ||
			tpl.Procedure != "```\nwhoami\n```" || tpl.CreatedByID == nil {
			t.Errorf("stored %+v", tpl)
		}
		if got := f.tags(id); !slices.Equal(got, []string{"T1002.001", "TA0002"}) {
			t.Errorf("tags %v", got)
		}
		if f.audits("template.created", id) != 1 {
			t.Error("no audit event")
		}
		d := doc(t, app.GetAs(f.red, "/library/tests/"+id.String()))
		var badges []string
		d.Find(`[data-testid="template-tags"] [data-testid="template-tag"]`).Each(func(_ int, s *goquery.Selection) {
			badges = append(badges, strings.Join(strings.Fields(s.Text()), " "))
		})
		if !slices.Equal(badges, []string{"T1002.001 Shell Scripts", "TA0002 Execution"}) {
			t.Errorf("page badges %v", badges)
		}
		if d.Find(`[data-testid="template-procedure"] pre code`).Length() != 1 {
			t.Error("the procedure is not rendered as markdown")
		}
	})

	bad := []struct {
		name   string
		change func(v url.Values)
		field  string
	}{
		{"no name", func(v url.Values) { v.Set("name", "   ") }, "name"},
		{"name too long", func(v url.Values) { v.Set("name", strings.Repeat("é", 151)) }, "name"},
		{"a tag that is not kind:uuid", func(v url.Values) { v["tags"] = []string{f.pick["T1001"], "technique:T1001"} }, "tags"},
		{"a tag naming two entries", func(v url.Values) {
			v["tags"] = []string{"technique:" + f.ref["T1001"].String() + ",tactic:" + f.ref["TA0001"].String()}
		}, "tags"},
		{"a tag of an unknown kind", func(v url.Values) { v["tags"] = []string{"group:" + uuid.NewString()} }, "tags"},
		{"a tactic id sent as a technique", func(v url.Values) { v["tags"] = []string{f.pick["T1001"], "technique:" + f.ref["TA0001"].String()} }, "tags"},
		{"an unknown platform", func(v url.Values) { v["platforms"] = []string{"Windows", "Amiga"} }, "platforms"},
		{"an unknown opsec level", func(v url.Values) { v.Set("opsec_level", "loud") }, "opsec_level"},
		{"a label too long", func(v url.Values) { v.Set("labels", "ok, "+strings.Repeat("x", 51)) }, "labels"},
		{"a text too long", func(v url.Values) { v.Set("cleanup", strings.Repeat("x", 50001)) }, "cleanup"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			var before int
			_ = app.DB.QueryRow(`SELECT count(*) FROM test_templates`).Scan(&before)
			v := templateFormValues("Kept "+tc.name, f.pick["T1001"])
			tc.change(v)
			w := app.PostAs(f.red, "/library/tests", v)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", w.Code)
			}
			d := doc(t, w)
			if d.Find(`[data-testid="error-`+tc.field+`"]`).Length() != 1 || d.Find(`[data-testid="error-summary"]`).Length() != 1 {
				t.Errorf("no error next to %s or no summary", tc.field)
			}
			if tc.field != "name" && d.Find(`#field-name`).AttrOr("value", "") != "Kept "+tc.name {
				t.Errorf("name not kept: %q", d.Find(`#field-name`).AttrOr("value", ""))
			}
			if d.Find(`#field-objective`).Text() != "Prove execution" {
				t.Error("objective not kept")
			}
			if tc.field != "tags" && d.Find(`[data-testid="picker-selected"] input[value="`+f.pick["T1001"]+`"][checked]`).Length() != 1 {
				t.Error("picked tag not kept")
			}
			var after int
			_ = app.DB.QueryRow(`SELECT count(*) FROM test_templates`).Scan(&after)
			if after != before {
				t.Errorf("a template was created")
			}
		})
	}

	t.Run("the unknown-kind tag keeps the known ones", func(t *testing.T) {
		w := app.PostAs(f.red, "/library/tests", templateFormValues("Kept", f.pick["T1001"], "technique:"+uuid.NewString()))
		d := doc(t, w)
		if w.Code != 422 || d.Find(`[data-testid="picker-selected"] input[value="`+f.pick["T1001"]+`"]`).Length() != 1 {
			t.Errorf("status %d, known tag not kept", w.Code)
		}
	})

	t.Run("blue team may not create", func(t *testing.T) {
		if w := app.PostAs(f.blue, "/library/tests", templateFormValues("Blue")); w.Code != http.StatusForbidden {
			t.Errorf("status %d", w.Code)
		}
		if w := app.GetAs(f.blue, "/library/tests/new"); w.Code != http.StatusForbidden {
			t.Errorf("new form: status %d", w.Code)
		}
	})
}

// TestTemplateTagExactlyOne: the database refuses a tag naming two
// entries (or none), whatever the form does.
func TestTemplateTagExactlyOne(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	id := f.template("Target", templateSeed{})
	ctx := rule.SystemContext(context.Background())
	err := f.app.Ent.TestTemplateMitreTag.Create().SetTestTemplateID(id).
		SetTechniqueID(f.ref["T1001"]).SetTacticID(f.ref["TA0001"]).Exec(ctx)
	if err == nil || !strings.Contains(err.Error(), "ck_test_template_mitre_tags_exactly_one_mitre_fk") {
		t.Errorf("two entries on one tag: %v", err)
	}
	err = f.app.Ent.TestTemplateMitreTag.Create().SetTestTemplateID(id).Exec(ctx)
	if err == nil || !strings.Contains(err.Error(), "ck_test_template_mitre_tags_exactly_one_mitre_fk") {
		t.Errorf("no entry on a tag: %v", err)
	}
	if got := f.tags(id); len(got) != 0 {
		t.Errorf("tags stored: %v", got)
	}
}

func TestUpdateTemplate(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app
	id := f.template("Original", templateSeed{tags: []string{"T1001"}, text: "first"})
	path := "/library/tests/" + id.String()

	t.Run("the edit form shows the stored values and version", func(t *testing.T) {
		d := doc(t, app.GetAs(f.red, path+"/edit"))
		if d.Find(`#field-name`).AttrOr("value", "") != "Original" || d.Find(`input[name="version"]`).AttrOr("value", "") != "1" ||
			d.Find(`[data-testid="picker-selected"] input[value="`+f.pick["T1001"]+`"][checked]`).Length() != 1 {
			t.Errorf("edit form does not show the template")
		}
	})

	t.Run("save replaces the tags and bumps the version", func(t *testing.T) {
		v := templateFormValues("Renamed", f.pick["T1002"], f.pick["TA0003"])
		v.Set("version", "1")
		w := app.PostAs(f.red, path, v)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != path {
			t.Fatalf("status %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
		}
		if name, version, _ := f.row(id); name != "Renamed" || version != 2 {
			t.Errorf("stored %q v%d", name, version)
		}
		if got := f.tags(id); !slices.Equal(got, []string{"T1002", "TA0003"}) {
			t.Errorf("tags %v", got)
		}
		if f.audits("template.updated", id) != 1 {
			t.Error("no audit event")
		}
	})

	t.Run("a stale version is 409 with the input kept and what is saved now", func(t *testing.T) {
		v := templateFormValues("My stale edit", f.pick["T1004"])
		v.Set("version", "1")
		v.Set("objective", "typed objective")
		w := app.PostAs(f.red, path, v)
		if w.Code != http.StatusConflict {
			t.Fatalf("status %d, want 409", w.Code)
		}
		d := doc(t, w)
		if d.Find(`#field-name`).AttrOr("value", "") != "My stale edit" || d.Find(`#field-objective`).Text() != "typed objective" ||
			d.Find(`[data-testid="picker-selected"] input[value="`+f.pick["T1004"]+`"]`).Length() != 1 {
			t.Error("input not kept")
		}
		conflict := d.Find(`[data-testid="template-conflict"]`)
		if !strings.Contains(conflict.Text(), "Renamed") || conflict.Find(`[data-testid="template-conflict-updated"]`).Length() != 1 {
			t.Errorf("notice does not show the saved state: %q", strings.Join(strings.Fields(conflict.Text()), " "))
		}
		var values []string
		conflict.Find(`[data-testid="template-conflict-value"]`).Each(func(_ int, s *goquery.Selection) { values = append(values, s.Text()) })
		if !slices.Contains(values, "Renamed") || !slices.Contains(values, "T1002, TA0003") || !slices.Contains(values, "Prove execution") {
			t.Errorf("differing fields %q", values)
		}
		if d.Find(`input[name="version"]`).AttrOr("value", "") != "2" {
			t.Error("the form does not carry the current version for the next save")
		}
		if name, version, _ := f.row(id); name != "Renamed" || version != 2 {
			t.Errorf("stored %q v%d after a stale save", name, version)
		}
		if got := f.tags(id); !slices.Equal(got, []string{"T1002", "TA0003"}) {
			t.Errorf("tags changed by a stale save: %v", got)
		}
	})

	t.Run("invalid input is 422 and changes nothing", func(t *testing.T) {
		v := templateFormValues("", f.pick["T1001"])
		v.Set("version", "2")
		if w := app.PostAs(f.red, path, v); w.Code != http.StatusUnprocessableEntity {
			t.Errorf("status %d", w.Code)
		}
		if name, version, _ := f.row(id); name != "Renamed" || version != 2 {
			t.Errorf("stored %q v%d", name, version)
		}
	})

	t.Run("no version is a bad request", func(t *testing.T) {
		if w := app.PostAs(f.red, path, templateFormValues("X")); w.Code != http.StatusBadRequest {
			t.Errorf("status %d", w.Code)
		}
	})

	t.Run("blue team may read, not write", func(t *testing.T) {
		v := templateFormValues("Blue edit")
		v.Set("version", "2")
		if w := app.PostAs(f.blue, path, v); w.Code != http.StatusForbidden {
			t.Errorf("save: status %d", w.Code)
		}
		if w := app.GetAs(f.blue, path+"/edit"); w.Code != http.StatusForbidden {
			t.Errorf("edit form: status %d", w.Code)
		}
		d := doc(t, app.GetAs(f.blue, path))
		if testid(d, "template-name") != "Renamed" || d.Find(`[data-testid="template-edit"]`).Length() != 0 {
			t.Error("blue team does not read the page, or sees edit")
		}
	})

	t.Run("an unknown template is 404", func(t *testing.T) {
		v := templateFormValues("X")
		v.Set("version", "1")
		if w := app.PostAs(f.red, "/library/tests/"+uuid.NewString(), v); w.Code != http.StatusNotFound {
			t.Errorf("status %d", w.Code)
		}
	})
}

func TestDuplicateTemplate(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app
	id := f.template("Imported", templateSeed{source: "atomic", tags: []string{"T1002.001", "T1003"}, labels: []string{"x"}, text: "About"})
	if _, err := app.DB.Exec(`UPDATE test_templates SET external_ref = 'guid-1' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	w := app.PostAs(f.red, "/library/tests/"+id.String()+"/duplicate", nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("status %d", w.Code)
	}
	cp, err := uuid.Parse(strings.TrimPrefix(w.Header().Get("Location"), "/library/tests/"))
	if err != nil || cp == id {
		t.Fatalf("redirected to %q", w.Header().Get("Location"))
	}
	tpl := app.Ent.TestTemplate.GetX(rule.SystemContext(context.Background()), cp)
	if tpl.Name != "Imported (copy)" || tpl.Source != "manual" || tpl.ExternalRef != "" || tpl.Description != "About" ||
		!slices.Equal(tpl.Labels, []string{"x"}) {
		t.Errorf("copy %+v", tpl)
	}
	if got := f.tags(cp); !slices.Equal(got, []string{"T1002.001", "T1003"}) {
		t.Errorf("copy tags %v", got)
	}
	if got := f.tags(id); !slices.Equal(got, []string{"T1002.001", "T1003"}) {
		t.Errorf("original tags %v", got)
	}
	if f.audits("template.created", cp) != 1 {
		t.Error("no audit event")
	}
	if w := app.PostAs(f.observer, "/library/tests/"+id.String()+"/duplicate", nil); w.Code != http.StatusForbidden {
		t.Errorf("observer: status %d", w.Code)
	}
}

func TestDeleteRestoreTemplate(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app
	id := f.template("Doomed", templateSeed{tags: []string{"T1001"}})
	path := "/library/tests/" + id.String()

	steps := []struct {
		name    string
		cookie  *http.Cookie
		method  string
		path    string
		status  int
		deleted bool
	}{
		{"blue team may not delete", f.blue, http.MethodPost, path + "/delete", 403, false},
		{"red team deletes", f.red, http.MethodPost, path + "/delete", 303, true},
		{"a second delete is the same answer", f.red, http.MethodPost, path + "/delete", 303, true},
		{"a deleted template is gone for the red team", f.red, http.MethodGet, path, 404, true},
		{"and cannot be edited", f.red, http.MethodGet, path + "/edit", 404, true},
		{"the red team may not restore", f.red, http.MethodPost, path + "/restore", 403, true},
		{"an admin sees it in the trash", f.admin, http.MethodGet, path, 200, true},
		{"an admin restores", f.admin, http.MethodPost, path + "/restore", 303, false},
		{"a second restore is the same answer", f.admin, http.MethodPost, path + "/restore", 303, false},
		{"back for the red team", f.red, http.MethodGet, path, 200, false},
		{"unknown template", f.red, http.MethodPost, "/library/tests/" + uuid.NewString() + "/delete", 404, false},
	}
	for _, st := range steps {
		var w *httptest.ResponseRecorder
		if st.method == http.MethodGet {
			w = app.GetAs(st.cookie, st.path)
		} else {
			w = app.PostAs(st.cookie, st.path, nil)
		}
		if w.Code != st.status {
			t.Errorf("%s: status %d, want %d", st.name, w.Code, st.status)
		}
		if _, _, deleted := f.row(id); deleted != st.deleted {
			t.Errorf("%s: deleted = %v", st.name, deleted)
		}
	}
	if f.audits("template.deleted", id) != 1 || f.audits("template.restored", id) != 1 {
		t.Errorf("audit events: %d deleted, %d restored", f.audits("template.deleted", id), f.audits("template.restored", id))
	}
	if got := f.tags(id); !slices.Equal(got, []string{"T1001"}) {
		t.Errorf("tags after restore %v", got)
	}

	t.Run("bulk delete of a selection in one go", func(t *testing.T) {
		a := f.template("Bulk A", templateSeed{})
		b := f.template("Bulk B", templateSeed{})
		keep := f.template("Bulk keep", templateSeed{})
		back := "/library/tests?q=bulk"
		if w := app.PostAs(f.blue, "/library/tests/bulk/delete", url.Values{"id": {a.String()}}); w.Code != 403 {
			t.Errorf("blue bulk delete: %d", w.Code)
		}
		w := app.PostAs(f.red, "/library/tests/bulk/delete", url.Values{"id": {a.String(), b.String()}, "back": {back}})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != back {
			t.Fatalf("status %d to %q", w.Code, w.Header().Get("Location"))
		}
		for _, x := range []uuid.UUID{a, b} {
			if _, _, deleted := f.row(x); !deleted || f.audits("template.deleted", x) != 1 {
				t.Errorf("%s not deleted with its audit event", x)
			}
		}
		if _, _, deleted := f.row(keep); deleted {
			t.Error("an unselected template was deleted")
		}
		if got := templateNames(doc(t, app.GetAs(f.admin, "/library/tests?deleted=1"))); !slices.Equal(got, []string{"Bulk A", "Bulk B"}) {
			t.Errorf("trash %v", got)
		}
		if w := app.PostAs(f.red, "/library/tests/bulk/delete", url.Values{"back": {back}}); w.Code != 422 ||
			testid(doc(t, w), "template-notice") == "" {
			t.Errorf("empty selection: %d", w.Code)
		}
		if w := app.PostAs(f.red, "/library/tests/bulk/delete", url.Values{"id": {"nope"}}); w.Code != 400 {
			t.Errorf("bad id: %d", w.Code)
		}
		if w := app.PostAs(f.red, "/library/tests/bulk/delete", url.Values{"id": {keep.String()}, "back": {"https://evil.example/library/tests"}}); w.Code != 303 ||
			w.Header().Get("Location") != "/library/tests" {
			t.Errorf("foreign back: %d to %q", w.Code, w.Header().Get("Location"))
		}
	})
}

func TestBulkAddTemplatesToScenario(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app
	a := f.template("Alpha", templateSeed{})
	b := f.template("Bravo", templateSeed{})
	sc := uuid.New()
	if _, err := app.DB.Exec(`INSERT INTO scenario_templates (id, name, description) VALUES ($1, 'Night', '')`, sc); err != nil {
		t.Fatal(err)
	}
	if _, err := library.AddTests(rule.SystemContext(context.Background()), app.Ent, sc, 0, []uuid.UUID{a}); err != nil {
		t.Fatal(err)
	}
	order := func() string {
		rows, err := app.DB.Query(`SELECT t.name FROM scenario_template_tests e JOIN test_templates t ON t.id = e.test_template_id
			WHERE e.scenario_template_id = $1 ORDER BY e.position`, sc)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			out = append(out, s)
		}
		return strings.Join(out, ",")
	}
	d := doc(t, app.GetAs(f.red, "/library/tests"))
	if d.Find(`#template-bulk-scenario option[value="`+sc.String()+`"]`).Length() != 1 {
		t.Fatal("the scenario is not offered")
	}
	cases := []struct {
		name   string
		cookie *http.Cookie
		form   url.Values
		status int
		order  string
	}{
		{"blue team may not", f.blue, url.Values{"id": {b.String()}, "scenario": {sc.String()}}, 403, "Alpha"},
		{"appended in the order sent", f.red, url.Values{"id": {b.String(), a.String(), b.String()}, "scenario": {sc.String()}}, 303, "Alpha,Bravo,Alpha"},
		{"no scenario chosen", f.red, url.Values{"id": {a.String()}}, 422, "Alpha,Bravo,Alpha"},
		{"unknown scenario", f.red, url.Values{"id": {a.String()}, "scenario": {uuid.NewString()}}, 422, "Alpha,Bravo,Alpha"},
		{"unknown template", f.red, url.Values{"id": {a.String(), uuid.NewString()}, "scenario": {sc.String()}}, 422, "Alpha,Bravo,Alpha"},
		{"nothing selected", f.red, url.Values{"scenario": {sc.String()}}, 422, "Alpha,Bravo,Alpha"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := app.PostAs(tc.cookie, "/library/tests/bulk/add", tc.form)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status == 303 && w.Header().Get("Location") != "/library/scenarios/"+sc.String() {
				t.Errorf("redirected to %q", w.Header().Get("Location"))
			}
			if tc.status == 422 && testid(doc(t, w), "template-notice") == "" {
				t.Error("no notice")
			}
			if got := order(); got != tc.order {
				t.Errorf("scenario %s, want %s", got, tc.order)
			}
		})
	}
	t.Run("a refused bulk form keeps its selection and scenario", func(t *testing.T) {
		w := app.PostAs(f.red, "/library/tests/bulk/add", url.Values{"id": {b.String()}, "back": {"/library/tests?q=bravo"}})
		d := doc(t, w)
		if w.Code != 422 || d.Find(`[data-testid="template-select"][value="`+b.String()+`"][checked]`).Length() != 1 ||
			!slices.Equal(templateNames(d), []string{"Bravo"}) {
			t.Errorf("status %d, selection or filter lost", w.Code)
		}
		w = app.PostAs(f.red, "/library/tests/bulk/add", url.Values{"id": {b.String(), uuid.NewString()}, "scenario": {sc.String()}})
		if d := doc(t, w); d.Find(`#template-bulk-scenario option[value="`+sc.String()+`"][selected]`).Length() != 1 {
			t.Error("chosen scenario lost")
		}
	})

	t.Run("the template page names its scenarios", func(t *testing.T) {
		d := doc(t, app.GetAs(f.observer, "/library/tests/"+b.String()))
		if got := testid(d, "template-scenario"); got != "Night" {
			t.Errorf("used by %q", got)
		}
	})
}

// TestTemplateMarkdownIsEscaped: what people type never runs as script,
// on the page, in the list and in the preview.
func TestTemplateMarkdownIsEscaped(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app
	evil := "**bold**\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)> [x](javascript:alert(3))"
	id := f.template(`<b>Name</b><script>alert(4)</script>`, templateSeed{text: evil, labels: []string{`<i>l</i>`}})
	check := func(t *testing.T, w *httptest.ResponseRecorder) *goquery.Document {
		t.Helper()
		d := doc(t, w)
		if n := d.Find(`main script, main img, main [onerror], main a[href^="javascript"]`).Length(); n != 0 {
			t.Errorf("%d live elements from user input", n)
		}
		return d
	}
	d := check(t, app.GetAs(f.red, "/library/tests/"+id.String()))
	if d.Find(`[data-testid="template-description"] strong`).Text() != "bold" {
		t.Error("markdown not rendered")
	}
	if testid(d, "template-name") != `<b>Name</b><script>alert(4)</script>` {
		t.Errorf("name shown as %q", testid(d, "template-name"))
	}
	check(t, app.GetAs(f.red, "/library/tests"))
	w := app.PostAs(f.red, "/library/tests/preview", url.Values{"field": {"procedure"}, "procedure": {evil}}, hxRequest...)
	if w.Code != 200 || !isFragment(w.Body.String()) {
		t.Fatalf("preview: status %d", w.Code)
	}
	pd := check(t, w)
	if pd.Find(`#preview-procedure .markdown strong`).Text() != "bold" {
		t.Errorf("preview %s", w.Body)
	}
	if w := app.PostAs(f.red, "/library/tests/preview", url.Values{"field": {"name"}}); w.Code != 400 {
		t.Errorf("preview of a field that is not markdown: %d", w.Code)
	}
	if w := app.PostAs(f.blue, "/library/tests/preview", url.Values{"field": {"procedure"}}); w.Code != 403 {
		t.Errorf("blue preview: %d", w.Code)
	}
}

// TestTemplatesInFrench: every page of the test templates speaks French
// to a French user, and none shows a raw message ID.
func TestTemplatesInFrench(t *testing.T) {
	t.Parallel()
	f := newTemplateFixture(t)
	app := f.app
	id := f.template("Script", templateSeed{tags: []string{"T1003", "T1002.001"}, text: "Texte", platforms: []string{"Linux"}})
	if _, err := app.DB.Exec(`UPDATE users SET locale = 'fr'`); err != nil {
		t.Fatal(err)
	}
	stale := templateFormValues("Périmé", f.pick["T1001"])
	stale.Set("version", "7")
	invalid := templateFormValues("", "technique:x")
	cases := []struct {
		name string
		w    *httptest.ResponseRecorder
		want []string
	}{
		{"list", app.GetAs(f.red, "/library/tests"), []string{"Modèles de test", "1–1 sur 1 modèle de test", "Révoquée", "Ajouter au scénario", "Niveau d&#39;opsec"}},
		{"trash", app.GetAs(f.admin, "/library/tests?deleted=1"), []string{"Modèles de test supprimés", "La corbeille est vide"}},
		{"page", app.GetAs(f.red, "/library/tests/"+id.String()), []string{"Étiquettes ATT&amp;CK", "Scénarios qui utilisent ce test", "Dupliquer"}},
		{"new form", app.GetAs(f.red, "/library/tests/new"), []string{"Nouveau modèle de test", "Détection attendue", "Aperçu"}},
		{"invalid form", app.PostAs(f.red, "/library/tests", invalid), []string{"Chaque étiquette ATT&amp;CK doit être exactement une tactique"}},
		{"stale form", app.PostAs(f.red, "/library/tests/"+id.String(), stale), []string{"Quelqu&#39;un d&#39;autre a enregistré ce modèle de test"}},
		{"preview", app.PostAs(f.red, "/library/tests/preview", url.Values{"field": {"cleanup"}}), []string{"Rien à afficher."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.w.Body.String()
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("status %d, no %q", tc.w.Code, s)
				}
			}
			if i := strings.Index(body, "library.templates."); i >= 0 {
				t.Errorf("raw message ID: %.80s", body[i:])
			}
		})
	}
}

// TestBrowserTemplateCreate creates a template with two ATT&CK tags
// through the picker in Chromium, previews a field, saves, and finds the
// two tags on the template's page.
func TestBrowserTemplateCreate(t *testing.T) {
	app, base := browsertest.Server(t)
	ctx := browsertest.New(t)
	templateMiniCatalogue(t, app)
	app.User(t, "red@example.com", "redteam")
	console := browsertest.WatchConsole(ctx)
	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }
	settled := browsertest.Settled()
	search := func(q string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := chromedp.Evaluate[chromedp.Void](`document.getElementById("picker-tags-q").value = ""`)(ctx, t); err != nil {
				return err
			}
			_, err := chromedp.SendKeys(chromedp.CSS(`#picker-tags-q`), q)(ctx, t)
			return err
		})
	}
	result := func(id string) string {
		return `#picker-tags-results [data-testid="picker-row"][data-external-id="` + id + `"] input`
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/library/tests/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="template-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-name`), "Browser script run"),
		chromedp.SendKeys(chromedp.CSS(`#field-procedure`), "Run **bash**"),
		chromedp.Click(chromedp.CSS(`[data-testid="preview-procedure-button"]`)),
		poll(`document.querySelector("#preview-procedure strong") && document.querySelector("#preview-procedure strong").textContent === "bash"`),
		settled,
		search("T1002.001"),
		chromedp.WaitVisible(chromedp.CSS(result("T1002.001"))),
		settled,
		chromedp.Click(chromedp.CSS(result("T1002.001"))),
		poll(`document.querySelectorAll('#picker-tags-selected input:checked').length === 1`),
		search("TA0002"),
		chromedp.WaitVisible(chromedp.CSS(result("TA0002"))),
		settled,
		chromedp.Click(chromedp.CSS(result("TA0002"))),
		poll(`document.querySelectorAll('#picker-tags-selected input:checked, #picker-tags-results input:checked').length >= 2`),
	); err != nil {
		browsertest.Screenshot(t, ctx, "template-form-failed")
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").outerHTML`))
		t.Fatalf("%v\n%v\n%s", err, console.Errors(), html)
	}
	browsertest.Screenshot(t, ctx, "template-form")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="template-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="template-facts"]`)),
	); err != nil {
		browsertest.Screenshot(t, ctx, "template-save-failed")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "template-page")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(strings.TrimPrefix(loc, base+"/library/tests/"))
	if err != nil {
		t.Fatalf("after saving the browser is at %q", loc)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="template-facts"] [data-testid="template-tag"]')].map(e => e.textContent.trim().replace(/\s+/g, " "))`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, []string{"T1002.001 Shell Scripts", "TA0002 Execution"}) {
		t.Errorf("page shows tags %v", shown)
	}
	f := &templateFixture{t: t, app: app}
	if got := f.tags(id); !slices.Equal(got, []string{"T1002.001", "TA0002"}) {
		t.Errorf("stored tags %v", got)
	}

	// The list filters as you type and keeps the filter in the URL.
	app.Ent.TestTemplate.Create().SetName("Unrelated phishing").SaveX(rule.SystemContext(context.Background()))
	const rows = `document.querySelectorAll('#template-results [data-testid="template-row"]')`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/library/tests"),
		poll(rows+`.length === 2`),
		chromedp.SendKeys(chromedp.CSS(`#template-q`), "script"),
		poll(rows+`.length === 1 && location.search === "?q=script"`),
		settled,
	); err != nil {
		browsertest.Screenshot(t, ctx, "template-list-failed")
		t.Fatal(err)
	}
	if name, _ := chromedp.Run(ctx, chromedp.Evaluate[string](rows+`[0].querySelector('[data-testid="template-link"]').textContent`)); name != "Browser script run" {
		t.Errorf("filtered list shows %q", name)
	}
	browsertest.Screenshot(t, ctx, "template-list")
	for _, m := range console.Errors() {
		t.Errorf("console error: %s", m)
	}
}

// BenchmarkTemplateList renders the first page of a 5,000-template
// library (each with one or two tags) for a signed-in red team member,
// and reports the SQL statements per request.
func BenchmarkTemplateList(b *testing.B) {
	f := newTemplateFixture(b)
	f.seedTemplates(5000)
	srv, n := countingServer(b, f.app)
	get := func() {
		r := httptest.NewRequest(http.MethodGet, "/library/tests", nil)
		r.AddCookie(f.red)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	get() // warm up
	before := n.Count()
	b.ResetTimer()
	for b.Loop() {
		get()
	}
	b.StopTimer()
	b.ReportMetric(float64(n.Count()-before)/float64(b.N), "queries/op")
}
