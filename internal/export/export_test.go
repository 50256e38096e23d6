package export_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/export"
	"violet/internal/mission"
	"violet/internal/navigator"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world is a mission with a lead and a blue member, one released and one
// unreleased test, a catalogue of T1059 and T1059.001 and three templates
// (one tagged with both).
type world struct {
	db                   *sql.DB
	client               *ent.Client
	mission              uuid.UUID
	users                map[string]uuid.UUID
	ps, cmd, both, other uuid.UUID // templates; other is tagged with nothing the layer names
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	w := &world{db: db, client: client, users: map[string]uuid.UUID{}}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	id := func(q string, args ...any) uuid.UUID {
		t.Helper()
		var v uuid.UUID
		if err := db.QueryRow(q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	for _, role := range []string{"lead", "blue"} {
		w.users[role] = id(`INSERT INTO users (email, password_hash, display_name) VALUES ($1, 'x', $2) RETURNING id`,
			role+"@example.com", "User "+role)
	}
	w.mission = id(`INSERT INTO missions (name, start_date) VALUES ('Opération Violet', '2026-11-02') RETURNING id`)
	exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'lead'), ($1, $3, 'blue')`,
		w.mission, w.users["lead"], w.users["blue"])
	for i, released := range []bool{true, false} {
		tid := id(`INSERT INTO mission_tests (mission_id, position, name, platforms, state, released_to_blue, detection_level_id, executed_by_id, started_at)
			VALUES ($1, $2, $3, '[]', 'executed', $4, (SELECT id FROM detection_levels ORDER BY score DESC LIMIT 1), $5, '2026-11-20T10:00:00Z')
			RETURNING id`, w.mission, i, "Test "+string(rune('A'+i)), released, w.users["lead"])
		exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, tactics)
			VALUES ($1, 'technique', 'T1059', 'Command and Scripting Interpreter', '[{"id": "TA0002", "shortname": "execution"}]')`, tid)
	}
	exec(`INSERT INTO attack_syncs (source, attack_version, status, finished_at) VALUES ('enterprise-attack.json', '16.1', 'succeeded', now())`)
	exec(`INSERT INTO mitre_tactics (stix_id, external_id, name, shortname, position, platforms) VALUES ('x-mitre-tactic--1', 'TA0002', 'Execution', 'execution', 0, '[]')`)
	tech := id(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms) VALUES ('attack-pattern--1', 'T1059', 'Command and Scripting Interpreter', '[]') RETURNING id`)
	sub := id(`INSERT INTO mitre_subtechniques (stix_id, external_id, name, technique_id, platforms) VALUES ('attack-pattern--2', 'T1059.001', 'PowerShell', $1, '[]') RETURNING id`, tech)
	tpl := func(name string) uuid.UUID {
		return id(`INSERT INTO test_templates (name, platforms) VALUES ($1, '["windows"]') RETURNING id`, name)
	}
	w.ps, w.cmd, w.both, w.other = tpl("PowerShell cradle"), tpl("cmd whoami"), tpl("Both ways"), tpl("Untagged")
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) VALUES ($1, $3), ($2, $3)`, w.ps, w.both, sub)
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, technique_id) VALUES ($1, $3), ($2, $3)`, w.cmd, w.both, tech)
	return w
}

func (w *world) access(t *testing.T, role string, perms ...auth.Permission) (context.Context, *mission.Access) {
	t.Helper()
	codes := []string{string(auth.MissionRead)}
	for _, p := range perms {
		codes = append(codes, string(p))
	}
	v := auth.NewViewer(w.users[role], role+"@example.com", role, "en", uuid.New(), nil, codes)
	ctx := auth.NewContext(context.Background(), v)
	a, err := mission.Load(ctx, w.client, v, w.mission)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, a
}

func TestExportsReadWhatTheViewerSees(t *testing.T) {
	w := setup(t)
	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	for role, want := range map[string][]string{"lead": {"Test A", "Test B"}, "blue": {"Test A"}} {
		ctx, a := w.access(t, role)
		f, err := export.TestsCSV(ctx, w.client, a)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name != "Op-ration-Violet-tests.csv" || f.UnicodeName != "Opération-Violet-tests.csv" || f.ContentType != "text/csv; charset=utf-8" {
			t.Errorf("%s: file %q %q %q", role, f.Name, f.UnicodeName, f.ContentType)
		}
		if n := strings.Count(string(fileBytes(t, f)), "\r\n"); n != len(want)+1 {
			t.Errorf("%s: %d records, want %d", role, n, len(want)+1)
		}

		f, err = export.MissionJSON(ctx, w.client, a, now)
		if err != nil {
			t.Fatal(err)
		}
		var archive struct {
			ExportedAt   string `json:"exported_at"`
			ReleasedOnly bool   `json:"released_only"`
			Mission      struct {
				StartDate *string `json:"start_date"`
			} `json:"mission"`
			Tests []struct {
				Name string `json:"name"`
				Red  struct {
					ExecutedBy *struct{ Email string } `json:"executed_by"`
				} `json:"red"`
				Evidence []any `json:"evidence"`
			} `json:"tests"`
		}
		if err := json.Unmarshal(fileBytes(t, f), &archive); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tt := range archive.Tests {
			names = append(names, tt.Name)
			if tt.Red.ExecutedBy == nil || tt.Red.ExecutedBy.Email != "lead@example.com" || tt.Evidence == nil {
				t.Errorf("%s: test %+v", role, tt)
			}
		}
		if !slices.Equal(names, want) || archive.ReleasedOnly != (role == "blue") || archive.ExportedAt != "2027-01-02T03:04:05Z" ||
			archive.Mission.StartDate == nil || *archive.Mission.StartDate != "2026-11-02" {
			t.Errorf("%s: archive %+v", role, archive)
		}

		f, err = export.NavigatorLayer(ctx, w.client, a, now)
		if err != nil {
			t.Fatal(err)
		}
		var layer navigator.Layer
		if err := json.Unmarshal(f.Data, &layer); err != nil {
			t.Fatal(err)
		}
		if len(layer.Techniques) != 1 || layer.Techniques[0].TechniqueID != "T1059" || layer.Versions.Attack != "16" ||
			strings.Count(layer.Techniques[0].Comment, "Test ") != len(want) {
			t.Errorf("%s: layer %+v", role, layer)
		}
	}
}

func TestPreviewLayer(t *testing.T) {
	w := setup(t)
	ctx, _ := w.access(t, "lead")
	var pe *navigator.ParseError
	if _, err := export.PreviewLayer(ctx, w.client, []byte(" \n")); !errors.As(err, &pe) || pe.Reason != "exports.import.error.missing" {
		t.Errorf("empty layer: %v", err)
	}
	layer := `{"name":"APT","domain":"enterprise-attack","techniques":[{"techniqueID":"T1059.001","score":1},{"techniqueID":"T9999","score":1}]}`
	if _, err := export.PreviewLayer(ctx, w.client, []byte(layer)); !errors.As(err, &pe) || !slices.Equal(pe.IDs, []string{"T9999"}) {
		t.Errorf("unknown technique: %v", err)
	}
	layer = `{"name":"APT","domain":"enterprise-attack","techniques":[{"techniqueID":"T1059.001","score":1},{"techniqueID":"T1059","score":1}]}`
	p, err := export.PreviewLayer(ctx, w.client, []byte(layer))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Rows {
		for _, tpl := range r.Templates {
			got = append(got, r.TechniqueID+"="+tpl.Name+map[bool]string{true: "+", false: ""}[tpl.Listed && tpl.Checked])
		}
	}
	want := []string{"T1059.001=Both ways+", "T1059.001=PowerShell cradle+", "T1059=Both ways", "T1059=cmd whoami+"}
	if p.LayerName != "APT" || !slices.Equal(got, want) {
		t.Errorf("preview %q %v, want %v", p.LayerName, got, want)
	}
}

func TestAddFromLayer(t *testing.T) {
	w := setup(t)
	ctx, a := w.access(t, "lead")
	count := func() int {
		var n int
		if err := w.db.QueryRow(`SELECT count(*) FROM mission_tests WHERE mission_id = $1 AND deleted_at IS NULL`, w.mission).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	in := export.LayerChoice{LayerName: "APT " + strings.Repeat("x", 400), Techniques: []string{"T1059.001", "T1059"}}
	var refused *export.Refused
	if err := export.AddFromLayer(ctx, w.client, a, in); !errors.As(err, &refused) || !errors.Is(err, app.ErrInvalid) ||
		refused.Preview.Error != "exports.import.error.choose" || len(refused.Preview.Rows) != 2 || len([]rune(refused.Preview.LayerName)) != 300 {
		t.Fatalf("nothing chosen: %v", err)
	}
	if _, err := w.db.Exec(`UPDATE test_templates SET deleted_at = now() WHERE id = $1`, w.cmd); err != nil {
		t.Fatal(err)
	}
	in.Templates = []uuid.UUID{w.ps, w.cmd}
	if err := export.AddFromLayer(ctx, w.client, a, in); !errors.As(err, &refused) || refused.Preview.Error != "exports.import.error.template_gone" {
		t.Fatalf("deleted template: %v", err)
	}
	for _, r := range refused.Preview.Rows {
		for _, tpl := range r.Templates {
			if tpl.Checked != (tpl.ID == w.ps.String()) {
				t.Errorf("%s checked %v", tpl.Name, tpl.Checked)
			}
		}
	}
	if n := count(); n != before {
		t.Fatalf("%d tests added by a refused import", n-before)
	}
	in.Templates = []uuid.UUID{w.ps, w.both}
	if err := export.AddFromLayer(ctx, w.client, a, in); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != before+2 {
		t.Errorf("%d tests added, want 2", n-before)
	}
	var details string
	if err := w.db.QueryRow(`SELECT details::text FROM audit_events WHERE target_id = $1 ORDER BY created_at DESC LIMIT 1`,
		w.mission.String()).Scan(&details); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"change": "navigator_import"`, `"techniques": ["T1059.001", "T1059"]`, w.both.String()} {
		if !strings.Contains(details, want) {
			t.Errorf("audit details %s lack %s", details, want)
		}
	}

	// Only leads change the plan.
	ctx, a = w.access(t, "blue")
	if err := export.AddFromLayer(ctx, w.client, a, in); !errors.Is(err, mission.ErrForbidden) {
		t.Errorf("blue member: %v, want forbidden", err)
	}
}
