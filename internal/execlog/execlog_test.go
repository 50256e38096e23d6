package execlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/ent/mission"
	"violet/ent/testtemplate"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/evidence"
	"violet/internal/execlog"
	"violet/internal/library"
	imission "violet/internal/mission"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const atomics = "../../../shared/data/atomic-red-team/atomics/"

// The three Atomic tests of the fixtures' mission, by GUID; the logs also
// hold T1201 #6, which the mission does not plan.
var planned = []string{
	"8f7578c4-9863-4d83-875c-a565573bbdf0", // T1012 #1 Query Registry
	"85321a9c-897f-4a60-9f20-29788e50bccd", // T1018 #1 Remote System Discovery - net
	"5c2571d0-1572-416d-9676-812e64ca9f44", // T1003.002 #1 Registry dump of SAM, creds, and secrets
}

const unmatchedKey = "4588d243-f24e-4549-b2e3-e627acc089f6"

type fixture struct {
	w       *apptest.World
	svc     *execlog.Service
	mission uuid.UUID
	tests   map[string]uuid.UUID // by GUID
}

// as is the context of the named person of the world.
func (f *fixture) as(t *testing.T, name string) context.Context {
	t.Helper()
	u, err := f.w.Ent.User.Get(f.w.Sys(), f.w.User(name))
	if err != nil {
		t.Fatal(err)
	}
	v, err := imission.ViewerOf(context.Background(), f.w.Ent, u)
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewContext(context.Background(), v)
}

// newFixture imports T1012, T1018 and T1003.002 from Atomic Red Team into
// the library, as `violet atomic import` does, and plans the first test of
// each in a mission in progress.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := os.Stat(atomics); err != nil {
		t.Skipf("no Atomic Red Team files here: %v", err)
	}
	w := apptest.NewWorld(t)
	var sources []library.Source
	for _, id := range []string{"T1012", "T1018", "T1003.002"} {
		data, err := os.ReadFile(filepath.Join(atomics, id, id+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, library.Source{Name: id + ".yaml", Data: data})
	}
	if _, err := library.ImportAtomic(w.Sys(), w.Ent, sources, library.AtomicOptions{}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{w: w, svc: execlog.NewService(w.Ent, evidence.Deps{Ent: w.Ent, Store: w.Evidence, Decodes: w.Decodes}),
		mission: w.Mission(t, "Purple week", mission.StatusInProgress), tests: map[string]uuid.UUID{}}
	ctx := f.as(t, "lead")
	a, err := imission.Load(ctx, w.Ent, auth.FromContext(ctx), f.mission)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	for _, g := range planned {
		id, err := w.Ent.TestTemplate.Query().Where(testtemplate.ExternalRef(g)).OnlyID(w.Sys())
		if err != nil {
			t.Fatalf("template %s: %v", g, err)
		}
		ids = append(ids, id)
	}
	tests, err := imission.AddTemplates(ctx, w.Ent, a, ids, map[string]any{"change": "add_templates"})
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range planned {
		f.tests[g] = tests[i]
	}
	return f
}

func parse(t *testing.T, name string) *execlog.Log {
	t.Helper()
	r, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	log, err := execlog.Parse(name, r)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return log
}

// snapshot is what an import may change: every test's version, the
// evidence files, the audit events.
func (f *fixture) snapshot(t *testing.T) string {
	return f.w.Value(t, `SELECT concat_ws('|',
		(SELECT string_agg(id::text || ':' || version, ',' ORDER BY id) FROM mission_tests WHERE mission_id = $1),
		(SELECT count(*) FROM evidence_files), (SELECT count(*) FROM audit_events),
		(SELECT count(*) FROM execution_records), (SELECT count(*) FROM mission_tests))`, f.mission)
}

func TestBothFormatsImportOnceAndOnlyOnce(t *testing.T) {
	for _, tc := range []struct {
		file, host, user, executor string
		evidence                   int
	}{
		{"attire.json", "WS-FIN-042", `CORP\alice.redteam`, "command_prompt", 3},
		{"invoke-atomic.csv", "WS-FIN-043", `CORP\bob.redteam`, "", 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := newFixture(t)
			log := parse(t, tc.file)
			ctx := f.as(t, "red")
			pl, err := f.svc.Preview(ctx, f.mission, log)
			if err != nil {
				t.Fatal(err)
			}
			if len(pl.Items) != 3 || len(pl.Unmatched) != 1 || pl.Unmatched[0].Key != unmatchedKey {
				t.Fatalf("plan: %d matched, unmatched %+v", len(pl.Items), pl.Unmatched)
			}
			for _, it := range pl.Items {
				if !it.Matched || it.Already || it.TestID != f.tests[it.Key] || len(it.Changes) == 0 {
					t.Errorf("item %+v", it)
				}
			}
			before := f.snapshot(t)
			res, err := f.svc.Apply(ctx, f.mission, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Updated != 3 || res.Skipped != 1 || res.Evidence != tc.evidence {
				t.Errorf("result %+v", res)
			}
			for _, g := range planned {
				row := f.w.Value(t, `SELECT concat_ws('|', state, target_host, target_user, executor,
					started_at IS NOT NULL AND ended_at IS NOT NULL AND ended_at >= started_at, version > 1,
					executed_by_id = $2) FROM mission_tests WHERE id = $1`, f.tests[g], f.w.User("red"))
				want := strings.Join([]string{"executed", tc.host, tc.user, tc.executor, "t", "t", "t"}, "|")
				if row != want {
					t.Errorf("test %s: %s, want %s", g, row, want)
				}
			}
			if tc.evidence > 0 {
				got := f.w.Value(t, `SELECT command FROM mission_tests WHERE id = $1`, f.tests[planned[1]])
				if got != "net view /domain\nnet view" {
					t.Errorf("command %q", got)
				}
				if n := f.w.Count(t, `evidence_files WHERE mission_test_id = $1 AND side = 'red'
					AND content_type LIKE 'text/plain%'`, f.tests[planned[0]]); n != 1 {
					t.Errorf("%d output files on T1012", n)
				}
			}
			if n := f.w.Count(t, `audit_events WHERE action = 'mission_test.red_saved' AND details->>'source' = 'execution_log'`); n != 3 {
				t.Errorf("%d audit events, want one per changed test", n)
			}
			if f.snapshot(t) == before {
				t.Fatal("the first import changed nothing")
			}

			// The same log again: nothing at all changes.
			after := f.snapshot(t)
			again := parse(t, tc.file)
			pl, err = f.svc.Preview(ctx, f.mission, again)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range pl.Items {
				if !it.Already || len(it.Changes) > 0 {
					t.Errorf("second preview: %+v", it)
				}
			}
			res, err = f.svc.Apply(ctx, f.mission, again, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Updated != 0 || res.Unchanged != 3 || res.Evidence != 0 {
				t.Errorf("second result %+v", res)
			}
			if got := f.snapshot(t); got != after {
				t.Errorf("the second import changed something:\n%s\n%s", after, got)
			}
		})
	}
}

func TestUnmatchedAddedOnRequest(t *testing.T) {
	f := newFixture(t)
	log := parse(t, "attire.json")
	// Adding tests changes the plan: a red member may not.
	if _, err := f.svc.Apply(f.as(t, "red"), f.mission, log, []string{unmatchedKey}); !errors.Is(err, imission.ErrForbidden) {
		t.Fatalf("red adding a test: %v", err)
	}
	res, err := f.svc.Apply(f.as(t, "lead"), f.mission, log, []string{unmatchedKey})
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 1 || res.Updated != 4 || res.Skipped != 0 {
		t.Errorf("result %+v", res)
	}
	got := f.w.Value(t, `SELECT concat_ws('|', name, state, command, target_host) FROM mission_tests
		WHERE mission_id = $1 AND test_template_id IS NULL`, f.mission)
	if got != "Examine local password policy - Windows|executed|net accounts|WS-FIN-042" {
		t.Errorf("added test: %s", got)
	}
	pl, err := f.svc.Preview(f.as(t, "lead"), f.mission, parse(t, "attire.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Unmatched) != 0 || len(pl.Items) != 4 {
		t.Errorf("after adding: %d items, unmatched %+v", len(pl.Items), pl.Unmatched)
	}
}

func TestBlueAndObserverAreRefused(t *testing.T) {
	f := newFixture(t)
	log := parse(t, "attire.json")
	before := f.snapshot(t)
	for _, who := range []string{"blue", "observer"} {
		if _, err := f.svc.Preview(f.as(t, who), f.mission, log); !errors.Is(err, imission.ErrForbidden) {
			t.Errorf("%s preview: %v", who, err)
		}
		if _, err := f.svc.Apply(f.as(t, who), f.mission, log, nil); !errors.Is(err, imission.ErrForbidden) {
			t.Errorf("%s apply: %v", who, err)
		}
	}
	if _, err := f.svc.Apply(f.as(t, "outsider"), f.mission, log, nil); err == nil {
		t.Error("an outsider applied a log")
	}
	if got := f.snapshot(t); got != before {
		t.Errorf("a refused import changed something")
	}
}

func TestOlderCSVAndMatchByTechnique(t *testing.T) {
	f := newFixture(t)
	log := parse(t, "invoke-atomic-old.csv")
	if len(log.Procedures) != 1 || log.Procedures[0].Host != "WS-FIN-044" {
		t.Fatalf("%+v", log.Procedures)
	}
	// Without its GUID, the row matches by technique and name (the
	// library here has no catalogue: the tag is added by hand).
	if err := f.w.Ent.MissionTestMitreTag.Create().SetMissionTestID(f.tests[planned[0]]).SetKind("technique").
		SetExternalID("T1012").SetName("Query Registry").Exec(f.w.Sys()); err != nil {
		t.Fatal(err)
	}
	log.Procedures[0].GUID = ""
	log.Procedures[0].Key = "t1012#1"
	pl, err := f.svc.Preview(f.as(t, "red"), f.mission, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Items) != 1 || pl.Items[0].TestID != f.tests[planned[0]] {
		t.Errorf("plan %+v", pl)
	}
}

func TestMalformedFilesAreRefusedWhole(t *testing.T) {
	good, err := os.ReadFile("testdata/attire.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file, body, key string }{
		{"empty", "log.json", "  ", execlog.KeyEmpty},
		{"broken JSON", "log.json", `{"attire-version": "1.1", "procedures": [`, execlog.KeyJSON},
		{"other version", "log.json", `{"attire-version": "2.0", "procedures": []}`, execlog.KeyVersion},
		{"no procedures", "log.json", `{"attire-version": "1.1", "execution-data": {"execution-id": "x"}, "procedures": []}`, execlog.KeyEmpty},
		{"bad time", "log.json", strings.Replace(string(good), "2026-03-16T10:05:40.000Z", "yesterday", 1), execlog.KeyTime},
		{"far future", "log.json", strings.Replace(string(good), "2026-03-16T10:05:40.000Z", "9999-03-16T10:05:40.000Z", 1), execlog.KeyTime},
		{"bad technique", "log.json", strings.Replace(string(good), `"T1018"`, `"X1018"`, 1), execlog.KeyProcedure},
		{"no execution id", "log.json", strings.Replace(string(good), "7b0e3a4c-2f53-4d8e-9b1a-5e6f7a8b9c0d", "", 1), execlog.KeyExecution},
		{"deep", "log.json", `{"attire-version":"1.1","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}", execlog.KeyJSON},
		{"NUL", "log.json", strings.Replace(string(good), "net accounts", `net\u0000accounts`, 1), execlog.KeyText},
		{"missing columns", "log.csv", "Execution Time (UTC),Technique,Test Number,Test Name\n2026-03-18T08:00:00Z,T1012,1,Q\n", execlog.KeyColumns},
		{"not a log", "notes.txt", "hello", execlog.KeyFormat},
		{"bad number", "log.csv", "Execution Time (UTC),Technique,Test Number,Test Name,Hostname,Username,GUID\n2026-03-18T08:00:00Z,T1012,one,Q,h,u,\n", execlog.KeyProcedure},
		{"bad CSV", "log.csv", "Execution Time (UTC),Technique,Test Number,Test Name,Hostname,Username,GUID\n\"2026,T1012\n", execlog.KeyCSV},
		{"too large", "log.csv", strings.Repeat("a", execlog.MaxBytes+1), execlog.KeyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := execlog.Parse(tc.file, strings.NewReader(tc.body))
			var inv *app.Invalid
			if !errors.As(err, &inv) || inv.Fields["file"] != tc.key {
				t.Errorf("got %v, want %s on file", err, tc.key)
			}
		})
	}
}

func TestParseReadsTheFixtures(t *testing.T) {
	log := parse(t, "attire.json")
	if log.Format != execlog.FormatATTiRe || log.ExecutionID != "7b0e3a4c-2f53-4d8e-9b1a-5e6f7a8b9c0d" ||
		log.Host != "WS-FIN-042" || len(log.Procedures) != 4 {
		t.Fatalf("%+v", log)
	}
	p := log.Procedures[0]
	if p.Key != planned[0] || p.TechniqueID != "T1012" || p.Executor != "command_prompt" ||
		!strings.Contains(p.Output, "SecurityHealth") || !strings.Contains(p.Output, "ERROR:") ||
		p.EndedAt.Sub(p.StartedAt).Seconds() != 3 {
		t.Errorf("%+v", p)
	}
	csv := parse(t, "invoke-atomic.csv")
	if csv.Format != execlog.FormatCSV || !strings.HasPrefix(csv.ExecutionID, "csv:") || len(csv.Procedures) != 4 ||
		csv.Procedures[3].TestNumber != 6 || csv.Procedures[3].Key != unmatchedKey || csv.IP != "10.20.30.43" {
		t.Errorf("%+v", csv)
	}
	if again := parse(t, "invoke-atomic.csv"); again.ExecutionID != csv.ExecutionID {
		t.Error("the same CSV log has two execution ids")
	}
}
