// Package libraryimport is the library import job: an Atomic Red Team
// import (archives, folders, technique files), a Sigma rules import
// (sigma.go) or a library document recorded as an import job, the same from the web (in the background)
// and from the command line. Begin records the running job under its
// liveness lock (see joblock), Run imports with the job's progress kept
// up to date and finishes it (succeeded with its audit event, or failed),
// telling whoever started it; Reap fails the jobs whose instance died.
package libraryimport

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/importjob"
	"violet/ent/predicate"
	"violet/ent/testtemplate"
	"violet/internal/atomic"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/job"
	"violet/internal/joblock"
	"violet/internal/library"
	"violet/internal/notify"
	"violet/internal/paths"
)

// interrupted is the error of an import whose process stopped before it
// finished (files done by then stay imported: one transaction per batch
// of files).
const interrupted = "interrupted: Violet stopped before the import finished; the files done by then are imported, import again to finish"

// File is one thing an Atomic Red Team import reads: what the
// person uploaded or named (its extension says how to read it: .zip,
// .tar.gz or .tgz, .yaml or .yml) and where it is on disk. Dir marks a
// folder (the command line's atomics folder).
type File struct {
	Name string
	Path string
	Dir  bool
}

// format tells how to read a file by its name: "zip", "tgz",
// "yaml", or "" for anything else.
func format(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".zip"):
		return "zip"
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return "tgz"
	case strings.HasSuffix(n, ".yaml"), strings.HasSuffix(n, ".yml"):
		return "yaml"
	}
	return ""
}

// CanImport reports whether a file name has an extension an Atomic
// import reads.
func CanImport(name string) bool { return format(name) != "" }

// Scenario asks an Atomic import to build a scenario template from
// the tests it imported: all of them, or those of one tactic
// ("tactic:TA0002") or platform ("platform:Windows").
type Scenario struct {
	Name   string
	Filter string
}

// Summary is what an import job keeps in its summary column: the
// library's summary of an Atomic import, or a library document's counts,
// and the scenario built from the import.
type Summary struct {
	library.Summary
	DocTemplates  int    `json:"templates,omitempty"`
	DocScenarios  int    `json:"scenarios,omitempty"`
	ScenarioID    string `json:"scenario_id,omitempty"`
	ScenarioName  string `json:"scenario_name,omitempty"`
	ScenarioTests int    `json:"scenario_tests,omitempty"`
	ScenarioEmpty bool   `json:"scenario_empty,omitempty"`
}

// column is the summary as the job row's JSON column holds it.
func (s Summary) column() map[string]any {
	b, _ := json.Marshal(s)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}

// SummaryOf reads a job row's summary column back (a column it cannot
// read gives the zero summary: the page then shows no counts).
func SummaryOf(m map[string]any) Summary {
	var s Summary
	if b, err := json.Marshal(m); err == nil {
		_ = json.Unmarshal(b, &s)
	}
	return s
}

// Job is an Atomic Red Team import recorded as an import job, the same
// from the web (in the background, Start) and from the command line (in
// the foreground): Begin records the running job, Run reads the files,
// imports them with the job's progress kept up to date, and finishes the
// job. With Document set it imports that library document instead, the
// same way.
type Job struct {
	// Jobs is the runner the import runs on: a server's, whose notifier
	// tells the person who started it that it ended. Nil means one of its
	// own built from Client, DB, Notifier, Now and Log, as on the command
	// line.
	Jobs *job.Runner

	Client *ent.Client
	Log    *slog.Logger
	Now    func() time.Time
	// Notifier tells the person who started the import that it finished
	// (nil: nobody to tell, as on the command line).
	Notifier *notify.Notifier
	// DB holds the job's liveness lock while it runs (see joblock); nil
	// takes none, and a running job without its lock is taken for dead
	// by any server's reaper.
	DB *sql.DB

	Actor     *auth.Viewer // nil for the command line
	Source    string       // what the history shows: the file names or the path
	Files     []File
	Overwrite bool
	Scenario  *Scenario
	// Document is a library document already read (library.ParseDocument)
	// to import instead of Files.
	Document *library.Document
	// Sigma reads Files as Sigma rules into the detection rule catalogue
	// (sigma.go) instead of Atomic Red Team files.
	Sigma bool

	job *job.Job // begun, until Run ends it
}

// runner is the runner of j's job.
func (j *Job) runner() *job.Runner {
	if j.Jobs == nil {
		j.Jobs = job.NewRunner(j.Client, j.DB, j.Notifier, j.Now, j.Log)
	}
	return j.Jobs
}

// Begin records the import as a running job. Its liveness lock is taken
// before the row exists, so no instance ever sees it running and
// unlocked; Run lets it go.
func (j *Job) Begin(ctx context.Context) (*ent.ImportJob, error) {
	kind := importjob.KindAtomic
	switch {
	case j.Document != nil:
		kind = importjob.KindLibrary
	case j.Sigma:
		kind = importjob.KindSigma
	}
	source := sourceLabel(j.Source)
	var row *ent.ImportJob
	h, err := j.runner().Begin(ctx, Imports{}, j.Actor, source, func(ctx context.Context, id uuid.UUID) (err error) {
		create := j.runner().Client().ImportJob.Create().SetID(id).SetKind(kind).SetSource(source)
		if j.Actor != nil {
			create.SetStartedByID(j.Actor.UserID).SetStartedByLabel(j.Actor.Email)
		}
		row, err = create.Save(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record the import: %w", err)
	}
	j.job = h
	return row, nil
}

// Start begins the import (Begin) and runs it (Run) in the background of
// its runner, with the request's information kept for its audit records;
// done (may be nil) is told how it ended. The person who started it is
// sent to the returned job's page, which polls its row.
func (j *Job) Start(ctx context.Context, done func(ok bool, took time.Duration)) (*ent.ImportJob, error) {
	row, err := j.Begin(ctx)
	if err != nil {
		return nil, err
	}
	info := auth.RequestInfoFrom(ctx)
	j.runner().Go(j.job, func(ctx context.Context) error {
		_, err := j.Run(auth.WithRequestInfo(ctx, info), row)
		return err
	}, done)
	return row, nil
}

// sourceLabel keeps the source column short and never empty.
func sourceLabel(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return "?"
	}
	if len(s) > 250 {
		cut := 250
		for !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// Run imports the files and finishes the job Begin began: failed with the
// reason when an archive is refused or no file could be imported (nothing
// is imported then), else succeeded with the summary, the scenario asked
// for and the audit event in one transaction. The error is the job's
// failure.
func (j *Job) Run(ctx context.Context, row *ent.ImportJob) (Summary, error) {
	h := j.job
	if h == nil || h.ID != row.ID {
		return Summary{}, fmt.Errorf("import %s was not begun by this job", row.ID)
	}
	j.job = nil
	ctx = rule.SystemContext(ctx)
	if j.Document != nil {
		return j.runDocument(ctx, h, row)
	}
	if j.Sigma {
		return j.runSigma(ctx, h, row)
	}
	var out Summary
	sources, err := readFiles(j.Files)
	if err != nil {
		return out, h.Fail(ctx, failure(err.Error()), nil)
	}
	if len(sources) == 0 {
		return out, h.Fail(ctx, failure("no technique file found: an Atomic Red Team archive holds atomics/T…/T….yaml files"), nil)
	}
	opts := library.AtomicOptions{Overwrite: j.Overwrite, Progress: progress(h)}
	if j.Actor != nil {
		opts.CreatedBy = &j.Actor.UserID
	}
	out.Summary, err = library.ImportAtomic(ctx, j.runner().Client(), sources, opts)
	if err != nil {
		if ctx.Err() != nil {
			return out, h.Fail(ctx, failure(interrupted), out.write(row.ID))
		}
		return out, h.Fail(ctx, failure("the import stopped: "+err.Error()), out.write(row.ID))
	}
	if out.Failed == out.Files {
		return out, h.Fail(ctx, failure(fmt.Sprintf("no file could be imported (%d refused)", out.Failed)), out.write(row.ID))
	}
	var first func(context.Context, *ent.Tx) error
	if j.Scenario != nil {
		first = func(ctx context.Context, tx *ent.Tx) error { return j.buildScenario(ctx, tx, row, &out) }
	}
	return j.succeed(ctx, h, row, &out, first, func() map[string]any {
		details := map[string]any{"kind": "atomic", "files": out.Files, "added": out.Added, "updated": out.Updated,
			"unchanged": out.Unchanged, "kept": out.Kept, "failed": out.Failed, "overwrite": j.Overwrite}
		if out.ScenarioID != "" {
			details["scenario_id"] = out.ScenarioID
		}
		return details
	})
}

// runDocument imports the library document in one transaction, with the
// job's progress kept up to date, and finishes the job: failed with the
// reason (nothing is imported then), or succeeded with the counts and the
// audit event.
func (j *Job) runDocument(ctx context.Context, h *job.Job, row *ent.ImportJob) (Summary, error) {
	var createdBy *uuid.UUID
	if j.Actor != nil {
		createdBy = &j.Actor.UserID
	}
	sum, err := library.ImportDocument(ctx, j.runner().Client(), j.Document, createdBy, progress(h))
	out := Summary{DocTemplates: sum.Templates, DocScenarios: sum.Scenarios}
	switch {
	case err != nil && ctx.Err() != nil:
		return out, h.Fail(ctx, failure("interrupted: Violet stopped before the import finished; nothing was imported, import again"), out.write(row.ID))
	case ent.IsConstraintError(err) || ent.IsValidationError(err):
		return out, h.Fail(ctx, failure("the document was refused, nothing was imported: "+err.Error()), out.write(row.ID))
	case err != nil:
		return out, h.Fail(ctx, failure("the import stopped, nothing was imported: "+err.Error()), out.write(row.ID))
	}
	out.Added, out.Updated, out.Unchanged, out.Untagged = sum.Created, sum.Updated, sum.Unchanged, sum.Untagged
	out.Unlinked = sum.Unlinked
	return j.succeed(ctx, h, row, &out, nil, func() map[string]any {
		return map[string]any{
			"kind": "library", "templates": sum.Templates, "scenarios": sum.Scenarios,
			"created": sum.Created, "updated": sum.Updated, "unchanged": sum.Unchanged, "untagged": len(sum.Untagged),
			"unlinked": len(sum.Unlinked),
		}
	})
}

// succeed ends an import that imported what it could, in one transaction:
// first (when set) adds to the import, then the job's row takes its
// summary and the audit log the import's details (read after first), and
// the starter is told. A failure there fails the job, keeping the summary.
func (j *Job) succeed(ctx context.Context, h *job.Job, row *ent.ImportJob, out *Summary,
	first func(context.Context, *ent.Tx) error, details func() map[string]any) (Summary, error) {
	err := h.Succeed(ctx, func(ctx context.Context, tx *ent.Tx) (notify.Message, error) {
		if first != nil {
			if err := first(ctx, tx); err != nil {
				return notify.Message{}, err
			}
		}
		if err := tx.ImportJob.UpdateOneID(row.ID).SetStatus(importjob.StatusSucceeded).SetProgress(100).
			SetSummary(out.column()).SetFinishedAt(j.runner().Now()).Exec(ctx); err != nil {
			return notify.Message{}, err
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.LibraryImported, TargetType: "import_job",
			TargetID: row.ID.String(), TargetLabel: row.Source, Actor: j.Actor, Details: details()}); err != nil {
			return notify.Message{}, err
		}
		return notice(h.Ref, true), nil
	})
	if err != nil {
		return *out, h.Fail(ctx, failure("the import could not be recorded: "+err.Error()), out.write(row.ID))
	}
	return *out, nil
}

// progress reports an import's files or entries done on its job.
func progress(h *job.Job) func(done, total int) {
	return func(done, total int) { h.Progress("", 100*done/max(total, 1)) }
}

// write records what a failed import did (its summary) on its row, in
// the transaction that fails it.
func (s Summary) write(id uuid.UUID) func(ctx context.Context, tx *ent.Tx) error {
	return func(ctx context.Context, tx *ent.Tx) error {
		return tx.ImportJob.UpdateOneID(id).SetSummary(s.column()).Exec(ctx)
	}
}

// buildScenario creates the scenario asked for from the imported tests
// that pass its filter, in import order, with its audit event.
func (j *Job) buildScenario(ctx context.Context, tx *ent.Tx, row *ent.ImportJob, out *Summary) error {
	ids, err := scenarioTests(ctx, tx, out.Templates, j.Scenario.Filter)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		out.ScenarioEmpty = true
		return nil
	}
	create := tx.ScenarioTemplate.Create().SetName(j.Scenario.Name).
		SetDescription(fmt.Sprintf("Built from the Atomic Red Team import %s.", row.Source))
	if j.Actor != nil {
		create.SetCreatedByID(j.Actor.UserID)
	}
	sc, err := create.Save(ctx)
	if err != nil {
		return err
	}
	entries := make([]*ent.ScenarioTemplateTestCreate, len(ids))
	for i, id := range ids {
		entries[i] = tx.ScenarioTemplateTest.Create().SetScenarioTemplateID(sc.ID).SetTestTemplateID(id).SetPosition(i)
	}
	for chunk := range slices.Chunk(entries, 500) {
		if err := tx.ScenarioTemplateTest.CreateBulk(chunk...).Exec(ctx); err != nil {
			return err
		}
	}
	out.ScenarioID, out.ScenarioName, out.ScenarioTests = sc.ID.String(), sc.Name, len(ids)
	return audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.ScenarioCreated, TargetType: "scenario_template",
		TargetID: sc.ID.String(), TargetLabel: sc.Name, Actor: j.Actor,
		Details: map[string]any{"import_job": row.ID.String(), "filter": j.Scenario.Filter, "tests": len(ids)}})
}

// scenarioTests keeps the imported templates (each once, in import
// order; deleted ones are not found) that pass filter, in one query.
func scenarioTests(ctx context.Context, tx *ent.Tx, ids []uuid.UUID, filter string) ([]uuid.UUID, error) {
	seen := map[uuid.UUID]bool{}
	var unique []uuid.UUID
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	if len(unique) == 0 {
		return nil, nil
	}
	templates, err := tx.TestTemplate.Query().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, unique))).
		WithMitreTags(func(q *ent.TestTemplateMitreTagQuery) {
			q.WithTactic().
				WithTechnique(func(q *ent.MitreTechniqueQuery) { q.WithTactics() }).
				WithSubtechnique(func(q *ent.MitreSubtechniqueQuery) {
					q.WithTechnique(func(q *ent.MitreTechniqueQuery) { q.WithTactics() })
				})
		}).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the imported templates: %w", err)
	}
	keep := map[uuid.UUID]bool{}
	kind, value, _ := strings.Cut(filter, ":")
	for _, t := range templates {
		switch kind {
		case "platform":
			keep[t.ID] = slices.Contains(t.Platforms, value)
		case "tactic":
			keep[t.ID] = slices.Contains(templateTactics(t), value)
		default:
			keep[t.ID] = true
		}
	}
	var out []uuid.UUID
	for _, id := range unique {
		if keep[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// templateTactics lists the ATT&CK IDs of the tactics a template's tags
// belong to.
func templateTactics(t *ent.TestTemplate) []string {
	var out []string
	for _, g := range t.Edges.MitreTags {
		var tech *ent.MitreTechnique
		switch {
		case g.Edges.Tactic != nil:
			out = append(out, g.Edges.Tactic.ExternalID)
		case g.Edges.Technique != nil:
			tech = g.Edges.Technique
		case g.Edges.Subtechnique != nil:
			tech = g.Edges.Subtechnique.Edges.Technique
		}
		if tech != nil {
			for _, ta := range tech.Edges.Tactics {
				out = append(out, ta.ExternalID)
			}
		}
	}
	return out
}

// readFiles reads the technique files out of the archives, folders
// and YAML files given. A refused archive refuses the whole import; a
// YAML file is read as it is (up to one byte over the limit, so that a
// file too large is reported as such and the others go on).
func readFiles(files []File) ([]library.Source, error) {
	var out []library.Source
	for _, f := range files {
		var (
			got []library.Source
			err error
		)
		switch {
		case f.Dir:
			got, err = library.ReadDir(f.Path)
		case format(f.Name) == "zip":
			got, err = readZip(f.Path)
		case format(f.Name) == "tgz":
			got, err = readTarGz(f.Path)
		case format(f.Name) == "yaml":
			var data []byte
			data, err = readYAML(f.Path)
			got = []library.Source{{Name: f.Name, Data: data}}
		default:
			err = fmt.Errorf("%s: not a .zip, .tar.gz, .tgz, .yaml or .yml file", f.Name)
		}
		if err != nil {
			var ae *library.ArchiveError
			if errors.As(err, &ae) {
				return nil, fmt.Errorf("%s: %s", f.Name, err)
			}
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func readZip(path string) ([]library.Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return library.ReadZip(f, fi.Size())
}

func readTarGz(path string) ([]library.Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return library.ReadTarGz(f)
}

func readYAML(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, atomic.MaxFileSize+1))
}

// Reap marks the running imports whose instance is gone (nobody holds
// their liveness lock) as failed with interrupted, finished at now();
// imports running in any live instance are left alone. ids limits it to
// those jobs; none means every running one. It tells nobody: a server
// reaps with its own runner (job.Runner.Reap with Imports), which does.
func Reap(ctx context.Context, client *ent.Client, now func() time.Time, ids ...uuid.UUID) (int, error) {
	return job.NewRunner(client, nil, nil, now, nil).Reap(ctx, Imports{}, ids...)
}

// Imports plugs the library import into the job runner: its rows are
// import_jobs.
type Imports struct{}

// Name implements job.Kind.
func (Imports) Name() string { return "library import" }

// Lock implements job.Kind.
func (Imports) Lock() int32 { return joblock.ImportJob }

// Progress implements job.Kind; an import has no phases.
func (Imports) Progress(ctx context.Context, client *ent.Client, id uuid.UUID, _ string, percent int) error {
	return client.ImportJob.UpdateOneID(id).SetProgress(percent).Exec(ctx)
}

// Fail implements job.Kind.
func (Imports) Fail(ctx context.Context, tx *ent.Tx, id uuid.UUID, msg string, at time.Time) (bool, error) {
	n, err := tx.ImportJob.Update().Where(importjob.ID(id), importjob.StatusEQ(importjob.StatusRunning)).
		SetStatus(importjob.StatusFailed).SetError(msg).SetFinishedAt(at).Save(ctx)
	return n > 0, err
}

// Running implements job.Kind.
func (Imports) Running(ctx context.Context, client *ent.Client, ids []uuid.UUID) ([]job.Ref, error) {
	q := client.ImportJob.Query().Where(importjob.StatusEQ(importjob.StatusRunning))
	if len(ids) > 0 {
		q.Where(importjob.IDIn(ids...))
	}
	rows, err := q.Select(importjob.FieldSource, importjob.FieldStartedByID).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]job.Ref, len(rows))
	for i, r := range rows {
		out[i] = job.Ref{ID: r.ID, Source: r.Source, StartedBy: r.StartedByID}
	}
	return out, nil
}

// Message implements job.Kind: an import's own failures say what went
// wrong with what was given.
func (Imports) Message(err error) string {
	var f failure
	switch {
	case errors.As(err, &f):
		return string(f)
	case errors.Is(err, context.Canceled):
		return interrupted
	}
	return "the import failed inside Violet (see the server log); the files done by then are imported, import again to finish"
}

// Failed implements job.Kind.
func (Imports) Failed(j job.Ref) notify.Message { return notice(j, false) }

// failure is an import's failure as the person who started it reads it.
type failure string

func (f failure) Error() string { return string(f) }

// notice tells the person who started an import that it finished.
func notice(j job.Ref, succeeded bool) notify.Message {
	key := "notify.title.import_failed"
	if succeeded {
		key = "notify.title.import_succeeded"
	}
	return notify.Message{Kind: notify.ImportFinished, TitleKey: key,
		TitleArgs: []any{"Source", j.Source}, Link: paths.URL(paths.LibraryImportJob, j.ID)}
}
