package library_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/auth/rule"
	"violet/internal/library"
	"violet/internal/testkit/testdb"
)

// TestExchangeRoundTrip: a library exported from one instance and imported
// into another exports again to the same document; importing it twice
// changes nothing but versions.
func TestExchangeRoundTrip(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	srcDB, src, _ := testdb.Open(t)
	syncCatalogue(t, src)
	importAll(t, src, []library.Source{{Name: "T9999.001.yaml", Data: fixture(t)}}, library.AtomicOptions{})
	// A manual template with every field and three kinds of tag, and a
	// scenario holding a test twice.
	manual := uuid.New()
	if _, err := srcDB.Exec(`INSERT INTO test_templates (id, name, description, objective, procedure, prerequisites,
		cleanup, expected_detection, platforms, opsec_level, source, labels)
		VALUES ($1, 'Dump LSASS', 'Uses **procdump**.', 'Get credentials', 'procdump -ma lsass.exe',
		'admin rights', 'del lsass.dmp', 'EDR alert on LSASS access', '["Windows"]', 'high', 'manual', '["creds","q3"]')`, manual); err != nil {
		t.Fatal(err)
	}
	if _, err := srcDB.Exec(`INSERT INTO test_template_mitre_tags (test_template_id, tactic_id)
		SELECT $1, id FROM mitre_tactics WHERE external_id = 'TA0006'`, manual); err != nil {
		t.Fatal(err)
	}
	if _, err := srcDB.Exec(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id)
		SELECT $1, id FROM mitre_subtechniques WHERE external_id = 'T1003.001'`, manual); err != nil {
		t.Fatal(err)
	}
	scenario := uuid.New()
	if _, err := srcDB.Exec(`INSERT INTO scenario_templates (id, name, description) VALUES ($1, 'Credential theft', 'Twice.')`, scenario); err != nil {
		t.Fatal(err)
	}
	if _, err := srcDB.Exec(`INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position)
		SELECT $1, $2, p FROM generate_series(0, 1) p`, scenario, manual); err != nil {
		t.Fatal(err)
	}
	if _, err := srcDB.Exec(`INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position)
		SELECT $1, id, 2 FROM test_templates WHERE name = 'Do it by hand'`, scenario); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	first, err := library.Export(ctx, src, nil, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"violet_library: 1", "name: Dump LSASS", "kind: subtechnique", "id: T1003.001", "id: TA0006", "- creds"} {
		if !strings.Contains(string(first), want) {
			t.Errorf("export lacks %q:\n%s", want, first)
		}
	}

	dstDB, dst, _ := testdb.Open(t)
	syncCatalogue(t, dst)
	doc, err := library.ParseDocument(first)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := library.ImportDocument(ctx, dst, doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 3 || sum.Updated != 0 || sum.Scenarios != 1 || len(sum.Untagged) != 0 {
		t.Errorf("summary %+v", sum)
	}
	second, err := library.Export(ctx, dst, nil, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(second) != string(first) {
		t.Errorf("round trip is not lossless:\n--- first\n%s\n--- second\n%s", first, second)
	}
	var positions string
	if err := dstDB.QueryRow(`SELECT string_agg(t.name || '@' || e.position, ',' ORDER BY e.position)
		FROM scenario_template_tests e JOIN test_templates t ON t.id = e.test_template_id`).Scan(&positions); err != nil {
		t.Fatal(err)
	}
	if positions != "Dump LSASS@0,Dump LSASS@1,Do it by hand@2" {
		t.Errorf("scenario order %q", positions)
	}

	t.Run("importing again leaves what is unchanged, never duplicates", func(t *testing.T) {
		sum, err := library.ImportDocument(ctx, dst, doc, nil, nil)
		if err != nil || sum.Created != 0 || sum.Updated != 0 || sum.Unchanged != 3 {
			t.Fatalf("%+v %v", sum, err)
		}
		if n := count(t, dstDB, `SELECT count(*) FROM test_templates`); n != 3 {
			t.Errorf("%d templates", n)
		}
		if n := count(t, dstDB, `SELECT count(*) FROM scenario_template_tests`); n != 3 {
			t.Errorf("%d scenario places", n)
		}
	})
}

func TestParseDocumentRefusesBadInput(t *testing.T) {
	id := uuid.NewString()
	good := "violet_library: 1\ntemplates:\n- id: " + id + "\n  name: A\n  opsec_level: low\n  source: manual\n"
	cases := []struct{ name, body, want string }{
		{"not YAML", "violet_library: [", "not a Violet library document"},
		{"wrong version", "violet_library: 7\ntemplates: []\n", "version 1"},
		{"wrong types", "violet_library: 1\ntemplates: yes\n", "not a Violet library document"},
		{"unknown field", good + "  weapon: x\n", "not a Violet library document"},
		{"missing name", strings.Replace(good, "name: A", "name: ''", 1), "has no name"},
		{"id not a UUID", strings.Replace(good, id, "abc", 1), "is not a UUID"},
		{"opsec level", strings.Replace(good, "opsec_level: low", "opsec_level: extreme", 1), "opsec_level"},
		{"technique ID that is not one", good + "  attack:\n  - kind: technique\n    id: T10\n", `"T10" is not the ATT&CK ID of a technique`},
		{"unknown kind", good + "  attack:\n  - kind: group\n    id: G0001\n", "is not tactic, technique or subtechnique"},
		{"scenario naming a missing test", good + "scenarios:\n- id: " + uuid.NewString() + "\n  name: S\n  tests: [" + uuid.NewString() + "]\n", "does not hold"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := library.ParseDocument([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := library.ParseDocument([]byte(good)); err != nil {
		t.Errorf("the good document: %v", err)
	}
}

// TestImportDocumentAllOrNothing: a document failing half-way leaves the
// library as it was.
func TestImportDocumentAllOrNothing(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	id1, id2 := uuid.New(), uuid.New()
	doc := &library.Document{Violet: 1, Templates: []library.Template{
		{ID: id1.String(), Name: "Fine", OpsecLevel: "low", Source: "manual"},
		// Longer than the name limit: the database refuses the second.
		{ID: id2.String(), Name: strings.Repeat("x", 400), OpsecLevel: "low", Source: "manual"},
	}}
	if _, err := library.ImportDocument(ctx, client, doc, nil, nil); err == nil {
		t.Fatal("import succeeded")
	}
	if n := count(t, db, `SELECT count(*) FROM test_templates`); n != 0 {
		t.Errorf("%d templates left by a failed import", n)
	}
}

// TestImportDocumentReportsMissingTags: an ATT&CK ID this instance's
// catalogue lacks is reported and left off; the template comes in.
func TestImportDocumentReportsMissingTags(t *testing.T) {
	ctx := rule.SystemContext(context.Background())
	db, client, _ := testdb.Open(t)
	syncCatalogue(t, client)
	doc := &library.Document{Violet: 1, Templates: []library.Template{{
		ID: uuid.NewString(), Name: "Future", OpsecLevel: "low", Source: "manual",
		Tags: []library.Tag{{Kind: "technique", ID: "T1059"}, {Kind: "subtechnique", ID: "T9999.999"}},
	}}}
	sum, err := library.ImportDocument(ctx, client, doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Untagged) != 1 || sum.Untagged[0].TechniqueID != "T9999.999" {
		t.Errorf("untagged %+v", sum.Untagged)
	}
	if n := count(t, db, `SELECT count(*) FROM test_template_mitre_tags`); n != 1 {
		t.Errorf("%d tags, want T1059's", n)
	}
}
