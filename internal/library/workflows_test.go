package library_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/library"
	"violet/internal/testkit/testdb"
)

// libraryWorld is a database with a catalogue of one tactic, technique and
// sub-technique, and a librarian (template.write) and a trash manager.
type libraryWorld struct {
	db                 *sql.DB
	client             *ent.Client
	librarian, cleaner context.Context
	tactic, technique  uuid.UUID
	sub                uuid.UUID
}

func newLibraryWorld(t *testing.T) *libraryWorld {
	t.Helper()
	db, client, _ := testdb.Open(t)
	w := &libraryWorld{db: db, client: client}
	sys := rule.SystemContext(context.Background())
	cat, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	// The copies' names are in the viewer's language.
	base := i18n.NewContext(context.Background(), cat.Pick("en", ""))
	viewer := func(name string, perms ...auth.Permission) context.Context {
		id := client.User.Create().SetEmail(name + "@example.com").SetDisplayName(name).SetPasswordHash("x").SaveX(sys).ID
		codes := []string{}
		for _, p := range perms {
			codes = append(codes, string(p))
		}
		return auth.NewContext(base, auth.NewViewer(id, name+"@example.com", name, "en", uuid.New(), nil, codes))
	}
	w.librarian = viewer("librarian", auth.TemplateRead, auth.TemplateWrite)
	w.cleaner = viewer("cleaner", auth.TemplateRead, auth.TemplateWrite, auth.TrashManage)
	row := func(q string, args ...any) uuid.UUID {
		var id uuid.UUID
		if err := db.QueryRow(q, args...).Scan(&id); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return id
	}
	w.tactic = row(`INSERT INTO mitre_tactics (stix_id, external_id, name, shortname, position, platforms)
		VALUES ('x-mitre-tactic--1', 'TA0002', 'Execution', 'execution', 0, '[]') RETURNING id`)
	w.technique = row(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms)
		VALUES ('attack-pattern--1', 'T1059', 'Command and Scripting Interpreter', '[]') RETURNING id`)
	if _, err := db.Exec(`INSERT INTO mitre_technique_tactics VALUES ($1, $2)`, w.technique, w.tactic); err != nil {
		t.Fatal(err)
	}
	w.sub = row(`INSERT INTO mitre_subtechniques (stix_id, external_id, name, technique_id, platforms)
		VALUES ('attack-pattern--2', 'T1059.001', 'PowerShell', $1, '[]') RETURNING id`, w.technique)
	return w
}

// audits lists the audit events of a target as "action:label".
func (w *libraryWorld) audits(t *testing.T, target uuid.UUID) []string {
	t.Helper()
	rows, err := w.db.Query(`SELECT action || ':' || target_label FROM audit_events WHERE target_id = $1 ORDER BY created_at, id`, target.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func invalidFields(t *testing.T, err error) map[string]string {
	t.Helper()
	var inv *app.Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("want *app.Invalid, got %v", err)
	}
	return inv.Fields
}

func TestTemplateWorkflows(t *testing.T) {
	w := newLibraryWorld(t)
	ctx := w.librarian
	valid := library.TemplateInput{
		Name: "  Run PowerShell  ", Procedure: " powershell -c whoami ", Platforms: []string{"Linux", "Windows"},
		Opsec: "high", Labels: "q3, Q3, creds", Tags: []string{"subtechnique:" + w.sub.String(), "tactic:" + w.tactic.String()},
	}

	t.Run("invalid input is refused field by field with the input kept", func(t *testing.T) {
		in := valid
		in.Name, in.Platforms, in.Opsec = " ", []string{"Windows", "Amiga"}, "loud"
		in.Labels = strings.Repeat("x", 51)
		in.Tags = []string{"technique:" + uuid.NewString()}
		res, err := library.CreateTemplate(ctx, w.client, in)
		got := invalidFields(t, err)
		want := map[string]string{
			"name": "form.required", "platforms": "library.templates.platform_unknown",
			"opsec_level": "library.templates.opsec_unknown", "labels": "library.templates.label_too_long",
			"tags": "library.templates.tags_unknown",
		}
		for f, k := range want {
			if got[f] != k {
				t.Errorf("%s: %q, want %q", f, got[f], k)
			}
		}
		if res.Form.Procedure != "powershell -c whoami" || !slices.Equal(res.Form.Platforms, []string{"Windows"}) {
			t.Errorf("form not kept as checked: %+v", res.Form)
		}
		in.Tags = []string{"nonsense"}
		if _, err := library.CreateTemplate(ctx, w.client, in); invalidFields(t, err)["tags"] != "library.templates.tags_invalid" {
			t.Errorf("a pick that is no pick: %v", err)
		}
	})

	var id uuid.UUID
	t.Run("create", func(t *testing.T) {
		res, err := library.CreateTemplate(ctx, w.client, valid)
		if err != nil {
			t.Fatal(err)
		}
		id = res.ID
		tpl := w.client.TestTemplate.Query().Where().WithMitreTags().AllX(rule.SystemContext(context.Background()))
		if len(tpl) != 1 || tpl[0].Name != "Run PowerShell" || !slices.Equal(tpl[0].Labels, []string{"q3", "creds"}) ||
			!slices.Equal(tpl[0].Platforms, []string{"Windows", "Linux"}) || len(tpl[0].Edges.MitreTags) != 2 ||
			tpl[0].Source != "manual" {
			t.Fatalf("stored %+v", tpl)
		}
		if got := w.audits(t, id); !slices.Equal(got, []string{"template.created:Run PowerShell"}) {
			t.Errorf("audit %v", got)
		}
	})

	t.Run("update at the shown version, then a stale one", func(t *testing.T) {
		in := valid
		in.Name, in.Version, in.Tags = "Run pwsh", 1, []string{"technique:" + w.technique.String()}
		if _, err := library.UpdateTemplate(ctx, w.client, id, in); err != nil {
			t.Fatal(err)
		}
		in.Name = "Someone else's name"
		res, err := library.UpdateTemplate(ctx, w.client, id, in)
		if !errors.Is(err, app.ErrConflict) {
			t.Fatalf("stale save: %v", err)
		}
		c := res.Form.Conflict
		if c == nil || c.Name != "Run pwsh" || c.Version != 2 || res.Form.Version != 2 || res.Form.Name != "Someone else's name" {
			t.Fatalf("conflict %+v, form %+v", c, res.Form)
		}
		if len(c.Fields) != 1 || c.Fields[0].Label != "library.templates.name" || c.Fields[0].Value != "Run pwsh" {
			t.Errorf("differing fields %+v", c.Fields)
		}
		in.Version = 0
		if _, err := library.UpdateTemplate(ctx, w.client, id, in); !errors.Is(err, library.ErrNoVersion) {
			t.Errorf("no version: %v", err)
		}
		if _, err := library.UpdateTemplate(ctx, w.client, uuid.New(), in); !ent.IsNotFound(err) {
			t.Errorf("a missing template: %v", err)
		}
		f, err := library.TemplateFormFor(ctx, w.client, id, "", nil)
		if err != nil || f.Version != 2 || len(f.Tags) != 1 || f.Tags[0].ExternalID != "T1059" {
			t.Errorf("edit form %+v %v", f, err)
		}
	})

	var copyID uuid.UUID
	t.Run("duplicate", func(t *testing.T) {
		var err error
		if copyID, err = library.DuplicateTemplate(ctx, w.client, id); err != nil {
			t.Fatal(err)
		}
		d, err := library.TemplateDetail(ctx, w.client, copyID)
		if err != nil || d.Name != "Run pwsh (copy)" || len(d.Tags) != 1 {
			t.Errorf("copy %+v %v", d, err)
		}
	})

	t.Run("delete twice, restore twice", func(t *testing.T) {
		for range 2 {
			if err := library.DeleteTemplate(ctx, w.client, id); err != nil {
				t.Fatal(err)
			}
		}
		if err := library.DeleteTemplate(ctx, w.client, uuid.New()); !ent.IsNotFound(err) {
			t.Errorf("deleting a missing template: %v", err)
		}
		if _, err := library.TemplateDetail(ctx, w.client, id); !ent.IsNotFound(err) {
			t.Errorf("a deleted template without trash.manage: %v", err)
		}
		if d, err := library.TemplateDetail(w.cleaner, w.client, id); err != nil || !d.Deleted() {
			t.Errorf("a deleted template with trash.manage: %+v %v", d, err)
		}
		for range 2 {
			if err := library.RestoreTemplate(w.cleaner, w.client, id); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"template.created:Run PowerShell", "template.updated:Run pwsh", "template.deleted:Run pwsh", "template.restored:Run pwsh"}
		if got := w.audits(t, id); !slices.Equal(got, want) {
			t.Errorf("audit %v, want %v", got, want)
		}
	})

	t.Run("bulk actions", func(t *testing.T) {
		sc, err := library.CreateScenario(ctx, w.client, library.ScenarioInput{Name: "Bulk"})
		if err != nil {
			t.Fatal(err)
		}
		key := func(err error) string {
			var inv *app.Invalid
			if errors.As(err, &inv) {
				return inv.Key
			}
			return ""
		}
		for _, c := range []struct {
			scenario uuid.UUID
			ids      []uuid.UUID
			want     string
		}{
			{sc.ID, nil, "library.templates.bulk_none"},
			{uuid.Nil, []uuid.UUID{id}, "library.templates.bulk_no_scenario"},
			{uuid.New(), []uuid.UUID{id}, "library.templates.bulk_no_scenario"},
			{sc.ID, []uuid.UUID{id, uuid.New()}, "library.templates.bulk_gone"},
		} {
			if got := key(library.AddTemplatesToScenario(ctx, w.client, c.scenario, c.ids)); got != c.want {
				t.Errorf("%v to %v: %q, want %q", c.ids, c.scenario, got, c.want)
			}
		}
		if err := library.AddTemplatesToScenario(ctx, w.client, sc.ID, []uuid.UUID{copyID, id}); err != nil {
			t.Fatal(err)
		}
		d, err := library.ScenarioDetail(ctx, w.client, sc.ID, "")
		if err != nil || len(d.Tests.Entries) != 2 || d.Tests.Entries[0].TemplateName != "Run pwsh (copy)" {
			t.Fatalf("scenario %+v %v", d.Tests, err)
		}
		if got := key(library.DeleteTemplates(ctx, w.client, nil)); got != "library.templates.bulk_none" {
			t.Errorf("deleting nothing: %q", got)
		}
		if err := library.DeleteTemplates(ctx, w.client, []uuid.UUID{copyID, id}); err != nil {
			t.Fatal(err)
		}
		if n := w.client.TestTemplate.Query().CountX(ctx); n != 0 {
			t.Errorf("%d templates left", n)
		}
	})
}

func TestListTemplates(t *testing.T) {
	w := newLibraryWorld(t)
	ctx := w.librarian
	mk := func(name string, platforms []string, labels string, tags ...string) {
		t.Helper()
		if _, err := library.CreateTemplate(ctx, w.client, library.TemplateInput{
			Name: name, Platforms: platforms, Opsec: "low", Labels: labels, Tags: tags,
		}); err != nil {
			t.Fatal(err)
		}
	}
	mk("Alpha", []string{"Windows"}, "blue", "subtechnique:"+w.sub.String())
	mk("Beta", []string{"Linux"}, "red", "technique:"+w.technique.String())
	mk("Gamma", []string{"Linux"}, "red")
	names := func(query string) []string {
		t.Helper()
		q, _ := url.ParseQuery(query)
		l, err := library.ListTemplates(ctx, w.client, library.TemplateFilterOf(q), true)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, r := range l.Rows {
			out = append(out, r.Name)
		}
		return out
	}
	for q, want := range map[string][]string{
		"":                          {"Alpha", "Beta", "Gamma"},
		"tactic=ta0002":             {"Alpha", "Beta"},
		"technique=T1059.001":       {"Alpha"},
		"platform=Linux&label=red":  {"Beta", "Gamma"},
		"q=t1059":                   {"Alpha", "Beta"},
		"q=amm":                     {"Gamma"},
		"platform=Amiga&opsec=loud": {"Alpha", "Beta", "Gamma"},
	} {
		if got := names(q); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
	l, err := library.ListTemplates(ctx, w.client, library.TemplateFilterOf(url.Values{"page": {"9"}}), true)
	if err != nil || l.Filter.Page != 1 || len(l.Tactics) != 1 || !l.Bulk() {
		t.Errorf("a page past the end: %+v %v", l, err)
	}
	if _, err := library.ListTemplates(ctx, w.client, library.TemplateFilterOf(url.Values{"deleted": {"1"}}), true); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("the trash without trash.manage: %v", err)
	}
}

func TestScenarioWorkflows(t *testing.T) {
	w := newLibraryWorld(t)
	ctx := w.librarian
	if _, err := library.CreateScenario(ctx, w.client, library.ScenarioInput{Name: " ", Description: strings.Repeat("é", 20001)}); len(invalidFields(t, err)) != 2 {
		t.Errorf("invalid scenario: %v", err)
	}
	sc, err := library.CreateScenario(ctx, w.client, library.ScenarioInput{Name: " Foothold ", Description: "First steps"})
	if err != nil || sc.Name != "Foothold" {
		t.Fatalf("create %+v %v", sc, err)
	}

	t.Run("update, then a stale update keeps the input", func(t *testing.T) {
		if _, err := library.UpdateScenario(ctx, w.client, sc.ID, library.ScenarioInput{Name: "Foothold 2", Description: "x", Version: 1}); err != nil {
			t.Fatal(err)
		}
		d, err := library.UpdateScenario(ctx, w.client, sc.ID, library.ScenarioInput{Name: " Mine ", Description: "y", Version: 1})
		if !errors.Is(err, app.ErrConflict) {
			t.Fatalf("stale: %v", err)
		}
		if d.Name != "Foothold 2" || d.Form.Name != "Mine" || !d.Form.Open || d.NoticeKey != "library.scenarios.stale_edit" || d.Tests.Version != 2 {
			t.Errorf("stale page %+v", d)
		}
		d, err = library.UpdateScenario(ctx, w.client, sc.ID, library.ScenarioInput{Name: "", Version: 2})
		if invalidFields(t, err)["name"] != "form.required" || !d.Form.Open {
			t.Errorf("invalid: %+v %v", d.Form, err)
		}
	})

	t.Run("add a test, search, copy", func(t *testing.T) {
		res, err := library.CreateTemplate(ctx, w.client, library.TemplateInput{Name: "Whoami", Opsec: "low"})
		if err != nil {
			t.Fatal(err)
		}
		var inv *app.Invalid
		if err := library.AddTest(ctx, w.client, sc.ID, 2, uuid.New()); !errors.As(err, &inv) || inv.Key != "library.scenarios.template_missing" {
			t.Errorf("a missing template: %v", err)
		}
		if err := library.AddTest(ctx, w.client, sc.ID, 2, res.ID); err != nil {
			t.Fatal(err)
		}
		if err := library.AddTest(ctx, w.client, sc.ID, 2, res.ID); !errors.Is(err, library.ErrStale) {
			t.Errorf("an add at an old version: %v", err)
		}
		c, err := library.ScenarioCandidates(ctx, w.client, sc.ID, "WHO")
		if err != nil || len(c.Hits) != 1 {
			t.Errorf("candidates %+v %v", c, err)
		}
		copyID, err := library.CopyScenario(ctx, w.client, sc.ID)
		if err != nil {
			t.Fatal(err)
		}
		d, err := library.ScenarioDetail(ctx, w.client, copyID, "")
		if err != nil || d.Name != "Foothold 2 (copy)" || len(d.Tests.Entries) != 1 {
			t.Errorf("copy %+v %v", d, err)
		}
		l, err := library.ListScenarios(ctx, w.client, library.ScenarioFilterOf(url.Values{"q": {"foot"}}))
		if err != nil || l.Total != 2 || l.Rows[0].Tests != 1 {
			t.Errorf("list %+v %v", l, err)
		}
	})

	t.Run("delete twice, restore twice", func(t *testing.T) {
		for range 2 {
			if err := library.DeleteScenario(ctx, w.client, sc.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := library.DeleteScenario(ctx, w.client, uuid.New()); !ent.IsNotFound(err) {
			t.Errorf("deleting a missing scenario: %v", err)
		}
		if _, err := library.UpdateScenario(w.cleaner, w.client, sc.ID, library.ScenarioInput{Name: "x", Version: 3}); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("editing a deleted scenario: %v", err)
		}
		if _, err := library.ListScenarios(ctx, w.client, library.ScenarioFilterOf(url.Values{"deleted": {"1"}})); !errors.Is(err, app.ErrForbidden) {
			t.Errorf("the trash without trash.manage: %v", err)
		}
		for range 2 {
			if err := library.RestoreScenario(w.cleaner, w.client, sc.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := library.RestoreScenario(w.cleaner, w.client, uuid.New()); !ent.IsNotFound(err) {
			t.Errorf("restoring a missing scenario: %v", err)
		}
		want := []string{"scenario.created:Foothold", "scenario.updated:Foothold 2", "scenario.deleted:Foothold 2", "scenario.restored:Foothold 2"}
		if got := w.audits(t, sc.ID); !slices.Equal(got, want) {
			t.Errorf("audit %v, want %v", got, want)
		}
	})
}
