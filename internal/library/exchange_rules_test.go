package library_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/auth/rule"
	"violet/internal/library"
	"violet/internal/testkit/testdb"
)

// TestExchangeKeepsTrashedRuleLinks: a template's link to a Sigma rule in
// the trash is neither exported nor the document's business: importing
// the template's own export, written before or after the rule was
// trashed, leaves it unchanged (version kept) with the link; a document
// changing the live rules replaces those only, the trashed link staying
// to come back with its rule.
func TestExchangeKeepsTrashedRuleLinks(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	mustExec := func(t *testing.T, q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tpl := uuid.New()
	mustExec(t, `INSERT INTO detection_rules (rule_uid, title, tags, techniques, "references")
		VALUES ('uid-a', 'Rule A', '[]', '[]', '[]'), ('uid-b', 'Rule B', '[]', '[]', '[]'), ('uid-c', 'Rule C', '[]', '[]', '[]')`)
	mustExec(t, `INSERT INTO test_templates (id, name, platforms) VALUES ($1, 'Encoded PowerShell', '["Windows"]')`, tpl)
	mustExec(t, `INSERT INTO test_template_rules SELECT $1, id FROM detection_rules WHERE rule_uid IN ('uid-a', 'uid-b')`, tpl)
	state := func(t *testing.T) (int, string) {
		t.Helper()
		var (
			version int
			uids    string
		)
		if err := db.QueryRow(`SELECT t.version, (SELECT string_agg(r.rule_uid, ',' ORDER BY r.rule_uid) FROM test_template_rules tr
			JOIN detection_rules r ON r.id = tr.detection_rule_id WHERE tr.test_template_id = t.id) FROM test_templates t WHERE t.id = $1`,
			tpl).Scan(&version, &uids); err != nil {
			t.Fatal(err)
		}
		return version, uids
	}
	export := func(t *testing.T) *library.Document {
		t.Helper()
		data, err := library.Export(ctx, client, nil, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		doc, err := library.ParseDocument(data)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	importDoc := func(t *testing.T, doc *library.Document) library.ExchangeSummary {
		t.Helper()
		sum, err := library.ImportDocument(ctx, client, doc, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	version, _ := state(t)

	before := export(t)
	mustExec(t, `UPDATE detection_rules SET deleted_at = now() WHERE rule_uid = 'uid-b'`)
	after := export(t)
	if got := *after.Templates[0].SigmaRules; !slices.Equal(got, []string{"uid-a"}) {
		t.Fatalf("export after the trash names %q", got)
	}

	t.Run("the export written before the rule was trashed", func(t *testing.T) {
		sum := importDoc(t, before)
		if sum.Unchanged != 1 || sum.Updated != 0 || len(sum.Unlinked) != 1 || sum.Unlinked[0].Ref != "uid-b" {
			t.Errorf("summary %+v", sum)
		}
		if v, uids := state(t); v != version || uids != "uid-a,uid-b" {
			t.Errorf("version %d (was %d), links %q", v, version, uids)
		}
	})

	t.Run("the export written after", func(t *testing.T) {
		sum := importDoc(t, after)
		if sum.Unchanged != 1 || sum.Updated != 0 || len(sum.Unlinked) != 0 {
			t.Errorf("summary %+v", sum)
		}
		if v, uids := state(t); v != version || uids != "uid-a,uid-b" {
			t.Errorf("version %d (was %d), links %q", v, version, uids)
		}
	})

	t.Run("a document changing the live rules replaces those only", func(t *testing.T) {
		doc := export(t)
		doc.Templates[0].SigmaRules = &[]string{"uid-c"}
		sum := importDoc(t, doc)
		if sum.Updated != 1 || sum.Unchanged != 0 {
			t.Errorf("summary %+v", sum)
		}
		if v, uids := state(t); v != version+1 || uids != "uid-b,uid-c" {
			t.Errorf("version %d (was %d), links %q", v, version, uids)
		}
		// None at all: the trashed link still stays.
		doc.Templates[0].SigmaRules = &[]string{}
		if sum := importDoc(t, doc); sum.Updated != 1 {
			t.Errorf("summary %+v", sum)
		}
		if _, uids := state(t); uids != "uid-b" {
			t.Errorf("links %q", uids)
		}
		// Restored, the rule is the template's again, and exported.
		mustExec(t, `UPDATE detection_rules SET deleted_at = NULL WHERE rule_uid = 'uid-b'`)
		if got := *export(t).Templates[0].SigmaRules; !slices.Equal(got, []string{"uid-b"}) {
			t.Errorf("export after the restore names %q", got)
		}
		if n := count(t, db, `SELECT count(*) FROM test_template_rules WHERE test_template_id = $1`, tpl); n != 1 {
			t.Errorf("%d links", n)
		}
	})
}
