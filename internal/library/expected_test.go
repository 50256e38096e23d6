package library_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/auth/rule"
	"violet/internal/library"
	"violet/internal/testkit/testdb"
	"violet/views/expectedrules"
)

// toolRow inserts a defensive tool and returns its id.
func toolRow(t *testing.T, w *libraryWorld, name string, active, deleted bool) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	q := `INSERT INTO defensive_tools (name, kind, active, deleted_at) VALUES ($1, 'edr', $2, CASE WHEN $3 THEN now() END) RETURNING id`
	if err := w.db.QueryRow(q, name, active, deleted).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// storedExpected reads a template's expected_rules column as "tool id:name".
func storedExpected(t *testing.T, w *libraryWorld, id uuid.UUID) []string {
	t.Helper()
	var raw []byte
	if err := w.db.QueryRow(`SELECT expected_rules FROM test_templates WHERE id = $1`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range rows {
		out = append(out, r["tool_id"]+":"+r["name"])
	}
	return out
}

// TestTemplateExpectedRules: the template form's free rule names per tool
// are checked row by row (a tool of the registry, a name, no repeat),
// refused rows come back as typed with their errors, and a save stores
// them with the template, its audit record naming the change; the
// template's page and edit form show them, a copy keeps them.
func TestTemplateExpectedRules(t *testing.T) {
	w := newLibraryWorld(t)
	ctx := w.librarian
	edr := toolRow(t, w, "Defender", true, false)
	siem := toolRow(t, w, "Sentinel", true, false)
	old := toolRow(t, w, "Old EDR", false, false)
	gone := toolRow(t, w, "Gone", true, true)
	base := library.TemplateInput{Name: "Encoded PowerShell", Opsec: "medium"}

	t.Run("rows refused one by one, input kept", func(t *testing.T) {
		in := base
		in.ExpectedTools = []string{edr.String(), "", uuid.NewString(), gone.String(), edr.String(), siem.String(), edr.String(), ""}
		in.ExpectedNames = []string{"Encoded command", "No tool", "Unknown tool", "Deleted tool", " encoded COMMAND ", strings.Repeat("x", 301), "", ""}
		res, err := library.CreateTemplate(ctx, w.client, in)
		if got := invalidFields(t, err)[expectedrules.Field]; got != "expectedrules.rows_invalid" {
			t.Errorf("editor error %q", got)
		}
		var errs, names []string
		for _, r := range res.Form.Expected.Rows {
			errs, names = append(errs, r.Error), append(names, r.Name)
		}
		wantErrs := []string{"", "expectedrules.tool_required", "expectedrules.tool_unknown", "expectedrules.tool_unknown",
			"expectedrules.duplicate", "expectedrules.name_too_long", "expectedrules.name_required"}
		if !slices.Equal(errs, wantErrs) {
			t.Errorf("row errors %q, want %q", errs, wantErrs)
		}
		if names[0] != "Encoded command" || names[4] != "encoded COMMAND" || len(names) != 7 {
			t.Errorf("rows not kept as typed (the empty one dropped): %q", names)
		}
		// The tools offered: the active ones, not the deleted nor the inactive.
		var offered []string
		for _, tl := range res.Form.Expected.Tools {
			offered = append(offered, tl.Name)
		}
		if !slices.Equal(offered, []string{"Defender", "Sentinel"}) {
			t.Errorf("tools offered %q", offered)
		}
		var n int
		if err := w.db.QueryRow(`SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d audit events after a refusal, %v", n, err)
		}
	})

	var id uuid.UUID
	t.Run("create stores them with the audit record", func(t *testing.T) {
		in := base
		in.ExpectedTools = []string{edr.String(), "", siem.String()}
		in.ExpectedNames = []string{" Encoded command ", "", "Suspicious logon"}
		res, err := library.CreateTemplate(ctx, w.client, in)
		if err != nil {
			t.Fatal(err)
		}
		id = res.ID
		want := []string{edr.String() + ":Encoded command", siem.String() + ":Suspicious logon"}
		if got := storedExpected(t, w, id); !slices.Equal(got, want) {
			t.Errorf("stored %q, want %q", got, want)
		}
		var details string
		if err := w.db.QueryRow(`SELECT details->>'expected_rules' FROM audit_events WHERE target_id = $1`, id.String()).Scan(&details); err != nil {
			t.Fatal(err)
		}
		if details != `["Defender: Encoded command", "Sentinel: Suspicious logon"]` {
			t.Errorf("audit details %s", details)
		}
	})

	t.Run("update records what was added and removed", func(t *testing.T) {
		f, err := library.TemplateFormFor(ctx, w.client, id, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Expected.Rows) != 2 || f.Expected.Rows[0].Name != "Encoded command" {
			t.Errorf("edit form rows %+v", f.Expected.Rows)
		}
		in := base
		in.Version = f.Version
		in.ExpectedTools = []string{edr.String(), old.String()}
		in.ExpectedNames = []string{"Encoded command", "Legacy alert"}
		// An inactive tool no stored rule names is refused to a new rule,
		// even posted by a crafted form.
		res, err := library.UpdateTemplate(ctx, w.client, id, in)
		if got := invalidFields(t, err)[expectedrules.Field]; got != "expectedrules.rows_invalid" ||
			res.Form.Expected.Rows[1].Error != "expectedrules.tool_inactive_refused" {
			t.Fatalf("a new rule of an inactive tool: %v, rows %+v", err, res.Form.Expected.Rows)
		}
		// Active when the rule is added, taken out of use since.
		setActive := func(active bool) {
			t.Helper()
			if _, err := w.db.Exec(`UPDATE defensive_tools SET active = $2 WHERE id = $1`, old, active); err != nil {
				t.Fatal(err)
			}
		}
		setActive(true)
		if _, err := library.UpdateTemplate(ctx, w.client, id, in); err != nil {
			t.Fatal(err)
		}
		setActive(false)
		var added, removed string
		if err := w.db.QueryRow(`SELECT details->'expected_rules'->>'added', details->'expected_rules'->>'removed'
			FROM audit_events WHERE target_id = $1 AND action LIKE '%updated'`, id.String()).Scan(&added, &removed); err != nil {
			t.Fatal(err)
		}
		if added != `["Old EDR: Legacy alert"]` || removed != `["Sentinel: Suspicious logon"]` {
			t.Errorf("audit: added %s, removed %s", added, removed)
		}
		f, err = library.TemplateFormFor(ctx, w.client, id, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var offered []string
		for _, tl := range f.Expected.Tools {
			offered = append(offered, tl.Name)
		}
		// The inactive tool a row names is offered to that row.
		if !slices.Equal(offered, []string{"Defender", "Old EDR", "Sentinel"}) {
			t.Errorf("tools offered %q", offered)
		}
	})

	t.Run("the page shows them beside the Sigma rules; a copy keeps them", func(t *testing.T) {
		if _, err := w.db.Exec(`WITH r AS (INSERT INTO detection_rules (rule_uid, title, level, tags, techniques, "references")
			VALUES ('6d2d0d3c-0000-4000-8000-000000000001', 'Encoded PowerShell command line', 'high', '[]', '["T1059.001"]', '[]') RETURNING id)
			INSERT INTO test_template_rules SELECT $1, id FROM r`, id); err != nil {
			t.Fatal(err)
		}
		d, err := library.TemplateDetail(ctx, w.client, id)
		if err != nil {
			t.Fatal(err)
		}
		var shown []string
		for _, r := range d.Expected {
			shown = append(shown, r.Tool+": "+r.Name)
		}
		if !slices.Equal(shown, []string{"Defender: Encoded command", "Old EDR: Legacy alert"}) || len(d.Rules) != 1 ||
			d.Rules[0].Title != "Encoded PowerShell command line" {
			t.Errorf("page shows %q and %+v", shown, d.Rules)
		}
		cp, err := library.DuplicateTemplate(ctx, w.client, id)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := storedExpected(t, w, cp), storedExpected(t, w, id); !slices.Equal(got, want) {
			t.Errorf("copy %q, original %q", got, want)
		}
	})

	// save posts the template's rows as its edit form shows them, plus
	// extra rows, with another description.
	save := func(t *testing.T, description string, extraTools, extraNames []string) (library.TemplateSave, error) {
		t.Helper()
		f, err := library.TemplateFormFor(ctx, w.client, id, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		in := base
		in.Version, in.Description = f.Version, description
		for _, r := range f.Expected.Rows {
			in.ExpectedTools, in.ExpectedNames = append(in.ExpectedTools, r.Tool), append(in.ExpectedNames, r.Name)
		}
		in.ExpectedTools, in.ExpectedNames = append(in.ExpectedTools, extraTools...), append(in.ExpectedNames, extraNames...)
		return library.UpdateTemplate(ctx, w.client, id, in)
	}

	t.Run("a stored rule of an inactive tool is kept; that tool may take another", func(t *testing.T) {
		if _, err := save(t, "Inactive kept", []string{old.String()}, []string{"Legacy alert 2"}); err != nil {
			t.Fatal(err)
		}
		want := []string{edr.String() + ":Encoded command", old.String() + ":Legacy alert", old.String() + ":Legacy alert 2"}
		if got := storedExpected(t, w, id); !slices.Equal(got, want) {
			t.Errorf("stored %q, want %q", got, want)
		}
	})

	t.Run("a stored rule of a deleted tool is kept as it is; no other row may name it", func(t *testing.T) {
		if _, err := w.db.Exec(`UPDATE defensive_tools SET deleted_at = now() WHERE id = $1`, old); err != nil {
			t.Fatal(err)
		}
		f, err := library.TemplateFormFor(ctx, w.client, id, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Expected.Rows) != 3 || f.Expected.Known(old.String()) {
			t.Fatalf("edit form rows %+v, the deleted tool offered: %v", f.Expected.Rows, f.Expected.Known(old.String()))
		}
		// Editing the rest: the deleted tool's rules come back unchanged.
		if _, err := save(t, "Deleted kept", nil, nil); err != nil {
			t.Fatal(err)
		}
		want := []string{edr.String() + ":Encoded command", old.String() + ":Legacy alert", old.String() + ":Legacy alert 2"}
		if got := storedExpected(t, w, id); !slices.Equal(got, want) {
			t.Errorf("stored %q, want %q", got, want)
		}
		// A new rule of the deleted tool, and a stored one renamed: refused.
		res, err := save(t, "Deleted, new rule", []string{old.String()}, []string{"Legacy alert 3"})
		if got := invalidFields(t, err)[expectedrules.Field]; got != "expectedrules.rows_invalid" ||
			res.Form.Expected.Rows[3].Error != "expectedrules.tool_unknown" {
			t.Errorf("a new rule of a deleted tool: %v, rows %+v", err, res.Form.Expected.Rows)
		}
		f, err = library.TemplateFormFor(ctx, w.client, id, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		in := base
		in.Version, in.Description = f.Version, "Deleted, renamed"
		for _, r := range f.Expected.Rows {
			if r.Name == "Legacy alert" {
				r.Name = "Legacy alert, renamed"
			}
			in.ExpectedTools, in.ExpectedNames = append(in.ExpectedTools, r.Tool), append(in.ExpectedNames, r.Name)
		}
		res, err = library.UpdateTemplate(ctx, w.client, id, in)
		if got := invalidFields(t, err)[expectedrules.Field]; got != "expectedrules.rows_invalid" {
			t.Errorf("a deleted tool's rule renamed: %v, rows %+v", err, res.Form.Expected.Rows)
		}
		for _, r := range res.Form.Expected.Rows {
			if want := map[bool]string{true: "expectedrules.tool_unknown"}[r.Name == "Legacy alert, renamed"]; r.Error != want {
				t.Errorf("row %q: error %q, want %q", r.Name, r.Error, want)
			}
		}
		// Removing the rows of the deleted tool is a change like another.
		if _, err := library.UpdateTemplate(ctx, w.client, id, library.TemplateInput{Name: base.Name, Opsec: base.Opsec,
			Version: f.Version, ExpectedTools: []string{edr.String()}, ExpectedNames: []string{"Encoded command"}}); err != nil {
			t.Fatal(err)
		}
		if got := storedExpected(t, w, id); !slices.Equal(got, []string{edr.String() + ":Encoded command"}) {
			t.Errorf("stored %q after removing the deleted tool's rules", got)
		}
	})
}

// TestExchangeRules: a template's Sigma rules (by rule id) and free rules
// (by tool name) travel in the library document; an instance with some of
// the rules and tools links those (tools matched ignoring case), reports
// the others and fails on none; importing again changes nothing; a
// document without the keys (older) leaves the rules as they are.
func TestExchangeRules(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	srcDB, src, _ := testdb.Open(t)
	mustExec := func(t *testing.T, q string, args ...any) {
		t.Helper()
		if _, err := srcDB.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tpl, edr, siem := uuid.New(), uuid.New(), uuid.New()
	mustExec(t, `INSERT INTO defensive_tools (id, name, kind) VALUES ($1, 'Defender', 'edr'), ($2, 'Sentinel', 'siem')`, edr, siem)
	mustExec(t, `INSERT INTO detection_rules (rule_uid, title, tags, techniques, "references")
		VALUES ('uid-known', 'Known rule', '[]', '[]', '[]'), ('uid-unknown', 'Rule only the source has', '[]', '[]', '[]')`)
	mustExec(t, `INSERT INTO test_templates (id, name, platforms, expected_rules) VALUES ($1, 'Encoded PowerShell', '["Windows"]', $2)`,
		tpl, `[{"tool_id":"`+edr.String()+`","name":"Encoded command"},{"tool_id":"`+siem.String()+`","name":"Logon burst"}]`)
	mustExec(t, `INSERT INTO test_template_rules SELECT $1, id FROM detection_rules`, tpl)
	plain := uuid.New()
	mustExec(t, `INSERT INTO test_templates (id, name, platforms) VALUES ($1, 'No rules', '[]')`, plain)

	doc, err := library.Export(ctx, src, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sigma_rules:", "- uid-known", "- uid-unknown", "tool: Defender", "name: Encoded command", "tool: Sentinel", "sigma_rules: []", "expected_rules: []"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("export lacks %q:\n%s", want, doc)
		}
	}

	dstDB, dst, _ := testdb.Open(t)
	dstExec := func(q string, args ...any) {
		t.Helper()
		if _, err := dstDB.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The destination knows one of the rules, and the EDR under another case.
	dstExec(`INSERT INTO defensive_tools (name, kind) VALUES ('DEFENDER', 'edr')`)
	dstExec(`INSERT INTO detection_rules (rule_uid, title, tags, techniques, "references") VALUES ('uid-known', 'Known rule', '[]', '[]', '[]')`)
	parsed, err := library.ParseDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := library.ImportDocument(ctx, dst, parsed, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var unlinked []string
	for _, u := range sum.Unlinked {
		unlinked = append(unlinked, u.Test+"|"+u.Kind+"|"+u.Ref+"|"+u.Name)
	}
	if want := []string{"Encoded PowerShell|rule|uid-unknown|", "Encoded PowerShell|tool|Sentinel|Logon burst"}; sum.Created != 2 || !slices.Equal(unlinked, want) {
		t.Errorf("summary %+v, unlinked %q, want %q", sum, unlinked, want)
	}
	var rules, expected string
	if err := dstDB.QueryRow(`SELECT (SELECT string_agg(r.rule_uid, ',') FROM test_template_rules tr JOIN detection_rules r ON r.id = tr.detection_rule_id
		WHERE tr.test_template_id = t.id), (SELECT string_agg(d.name || ':' || (e.value->>'name'), ',') FROM jsonb_array_elements(t.expected_rules) e
		JOIN defensive_tools d ON d.id::text = e.value->>'tool_id') FROM test_templates t WHERE t.id = $1`, tpl).Scan(&rules, &expected); err != nil {
		t.Fatal(err)
	}
	if rules != "uid-known" || expected != "DEFENDER:Encoded command" {
		t.Errorf("imported rules %q, expected rules %q", rules, expected)
	}

	// Again: nothing changes, the same references are reported.
	sum, err = library.ImportDocument(ctx, dst, parsed, nil, nil)
	if err != nil || sum.Unchanged != 2 || sum.Updated != 0 || len(sum.Unlinked) != 2 {
		t.Errorf("second import %+v, %v", sum, err)
	}

	// A document written before the rules were exported: the template's
	// rules stay as they are, and it is unchanged.
	old, err := library.ParseDocument([]byte(`violet_library: 1
templates:
- id: ` + tpl.String() + `
  name: Encoded PowerShell
  platforms: [Windows]
  opsec_level: medium
  source: manual
`))
	if err != nil {
		t.Fatal(err)
	}
	sum, err = library.ImportDocument(ctx, dst, old, nil, nil)
	if err != nil || sum.Unchanged != 1 || len(sum.Unlinked) != 0 {
		t.Errorf("older document %+v, %v", sum, err)
	}
	var n int
	if err := dstDB.QueryRow(`SELECT count(*) FROM test_template_rules WHERE test_template_id = $1`, tpl).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d rules left after an older document, %v", n, err)
	}

	// A document's rules replace the template's: none in it, none left.
	for i := range parsed.Templates {
		empty, none := []string{}, []library.ExpectedRule{}
		parsed.Templates[i].SigmaRules, parsed.Templates[i].ExpectedRules = &empty, &none
	}
	sum, err = library.ImportDocument(ctx, dst, parsed, nil, nil)
	if err != nil || sum.Updated != 1 || sum.Unchanged != 1 {
		t.Errorf("rules removed: %+v, %v", sum, err)
	}
	if err := dstDB.QueryRow(`SELECT (SELECT count(*) FROM test_template_rules WHERE test_template_id = $1)
		+ jsonb_array_length(expected_rules) FROM test_templates WHERE id = $1`, tpl).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rules left, %v", n, err)
	}

	// Malformed references refuse the document, naming the place.
	for _, bad := range []string{"sigma_rules: ['']", "expected_rules: [{tool: '', name: x}]", "expected_rules: [{tool: EDR, name: '" + strings.Repeat("x", 301) + "'}]"} {
		_, err := library.ParseDocument([]byte("violet_library: 1\ntemplates:\n- id: " + tpl.String() + "\n  name: T\n  " + bad + "\n"))
		if err == nil || !strings.Contains(err.Error(), "template 1") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
