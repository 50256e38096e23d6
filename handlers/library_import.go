package handlers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/importjob"
	"violet/ent/mitretactic"
	"violet/ent/predicate"
	"violet/ent/testtemplate"
	"violet/internal/atomic"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/joblock"
	"violet/internal/library"
	"violet/internal/metrics"
	"violet/internal/notify"
	"violet/views/components"
	libraryviews "violet/views/library"
)

// importHistorySize is how many imports the import page lists.
const importHistorySize = 20

// importInterrupted is the error of an import whose process stopped
// before it finished (files done by then stay imported: one transaction
// per file).
const importInterrupted = "interrupted: Violet stopped before the import finished; the files done by then are imported, import again to finish"

// ImportFile is one thing an Atomic Red Team import reads: what the
// person uploaded or named (its extension says how to read it: .zip,
// .tar.gz or .tgz, .yaml or .yml) and where it is on disk. Dir marks a
// folder (the command line's atomics folder).
type ImportFile struct {
	Name string
	Path string
	Dir  bool
}

// importFormat tells how to read a file by its name: "zip", "tgz",
// "yaml", or "" for anything else.
func importFormat(name string) string {
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
func CanImport(name string) bool { return importFormat(name) != "" }

// ImportScenario asks an Atomic import to build a scenario template from
// the tests it imported: all of them, or those of one tactic
// ("tactic:TA0002") or platform ("platform:Windows").
type ImportScenario struct {
	Name   string
	Filter string
}

// ImportJobSummary is what an import job keeps in its summary column: the
// library's summary of an Atomic import, or a library document's counts,
// and the scenario built from the import.
type ImportJobSummary struct {
	library.Summary
	DocTemplates  int    `json:"templates,omitempty"`
	DocScenarios  int    `json:"scenarios,omitempty"`
	ScenarioID    string `json:"scenario_id,omitempty"`
	ScenarioName  string `json:"scenario_name,omitempty"`
	ScenarioTests int    `json:"scenario_tests,omitempty"`
	ScenarioEmpty bool   `json:"scenario_empty,omitempty"`
}

func (s ImportJobSummary) column() map[string]any {
	b, _ := json.Marshal(s)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}

func importJobSummaryOf(m map[string]any) ImportJobSummary {
	var s ImportJobSummary
	if b, err := json.Marshal(m); err == nil {
		_ = json.Unmarshal(b, &s)
	}
	return s
}

// AtomicImport is an Atomic Red Team import recorded as an import job,
// the same from the web (in the background) and from the command line:
// Begin records the running job, Run reads the files, imports them with
// the job's progress kept up to date, and finishes the job. With Document
// set it imports that library document instead, the same way.
type AtomicImport struct {
	Client    *ent.Client
	Log       *slog.Logger
	Now       func() time.Time
	Actor     *auth.Viewer // nil for the command line
	Source    string       // what the history shows: the file names or the path
	Files     []ImportFile
	Overwrite bool
	Scenario  *ImportScenario
	// Document is a library document already read (library.ParseDocument)
	// to import instead of Files.
	Document *library.Document
	// Notifier tells the person who started the import that it finished
	// (nil: nobody to tell, as on the command line).
	Notifier *notify.Notifier
	// DB holds the job's liveness lock while it runs (see joblock); nil
	// takes none, and a running job without its lock is taken for dead
	// by any server's reaper.
	DB   *sql.DB
	held *joblock.Held
}

// notifyFinished notifies the person who started the import, in the
// transaction that finishes it.
func (a *AtomicImport) notifyFinished(ctx context.Context, tx *ent.Tx, job *ent.ImportJob, succeeded bool) error {
	if a.Notifier == nil || a.Actor == nil {
		return nil
	}
	key := "notify.title.import_failed"
	if succeeded {
		key = "notify.title.import_succeeded"
	}
	_, err := a.Notifier.Send(ctx, tx, notify.Message{Kind: notify.ImportFinished, TitleKey: key,
		TitleArgs: []any{"Source", job.Source}, Link: "/library/import/" + job.ID.String()}, a.Actor.UserID)
	return err
}

// Begin records the import as a running job. Its liveness lock is taken
// before the row exists, so no instance ever sees it running and
// unlocked; Run lets it go.
func (a *AtomicImport) Begin(ctx context.Context) (*ent.ImportJob, error) {
	id := uuid.New()
	if a.DB != nil {
		held, err := joblock.Hold(ctx, a.DB, joblock.ImportJob, id)
		if err != nil {
			return nil, fmt.Errorf("record the import: %w", err)
		}
		a.held = held
	}
	kind := importjob.KindAtomic
	if a.Document != nil {
		kind = importjob.KindLibrary
	}
	create := a.Client.ImportJob.Create().SetID(id).SetKind(kind).SetSource(importSource(a.Source))
	if a.Actor != nil {
		create.SetStartedByID(a.Actor.UserID).SetStartedByLabel(a.Actor.Email)
	}
	job, err := create.Save(ctx)
	if err != nil {
		a.held.Release()
		return nil, fmt.Errorf("record the import: %w", err)
	}
	return job, nil
}

// importSource keeps the source column short and never empty.
func importSource(s string) string {
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

// Run imports the files and finishes the job: failed with the reason when
// an archive is refused or no file could be imported (nothing is imported
// then), else succeeded with the summary, the scenario asked for and the
// audit event in one transaction. The error is the job's failure.
func (a *AtomicImport) Run(ctx context.Context, job *ent.ImportJob) (ImportJobSummary, error) {
	// Every way out has committed the job's end by the time this runs.
	defer a.held.Release()
	ctx = rule.SystemContext(ctx)
	if a.Document != nil {
		return a.runDocument(ctx, job)
	}
	var out ImportJobSummary
	sources, err := readImportFiles(a.Files)
	if err != nil {
		return out, a.fail(ctx, job, err.Error(), nil)
	}
	if len(sources) == 0 {
		return out, a.fail(ctx, job, "no technique file found: an Atomic Red Team archive holds atomics/T…/T….yaml files", nil)
	}
	rep := &importReporter{client: a.Client, log: a.Log, id: job.ID, start: time.Now()}
	opts := library.AtomicOptions{Overwrite: a.Overwrite, Progress: rep.report}
	if a.Actor != nil {
		opts.CreatedBy = &a.Actor.UserID
	}
	out.Summary, err = library.ImportAtomic(ctx, a.Client, sources, opts)
	if err != nil {
		if ctx.Err() != nil {
			return out, a.fail(ctx, job, importInterrupted, &out)
		}
		return out, a.fail(ctx, job, "the import stopped: "+err.Error(), &out)
	}
	if out.Failed == out.Files {
		return out, a.fail(ctx, job, fmt.Sprintf("no file could be imported (%d refused)", out.Failed), &out)
	}
	err = database.WithTx(ctx, a.Client, func(tx *ent.Tx) error {
		if a.Scenario != nil {
			if err := a.buildScenario(ctx, tx, job, &out); err != nil {
				return err
			}
		}
		if err := tx.ImportJob.UpdateOneID(job.ID).SetStatus(importjob.StatusSucceeded).SetProgress(100).
			SetSummary(out.column()).SetFinishedAt(a.Now()).Exec(ctx); err != nil {
			return err
		}
		details := map[string]any{"kind": "atomic", "files": out.Files, "added": out.Added, "updated": out.Updated,
			"unchanged": out.Unchanged, "kept": out.Kept, "failed": out.Failed, "overwrite": a.Overwrite}
		if out.ScenarioID != "" {
			details["scenario_id"] = out.ScenarioID
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.LibraryImported, TargetType: "import_job",
			TargetID: job.ID.String(), TargetLabel: job.Source, Details: details, Actor: a.Actor}); err != nil {
			return err
		}
		return a.notifyFinished(ctx, tx, job, true)
	})
	if err != nil {
		return out, a.fail(ctx, job, "the import could not be recorded: "+err.Error(), &out)
	}
	return out, nil
}

// runDocument imports the library document in one transaction, with the
// job's progress kept up to date, and finishes the job: failed with the
// reason (nothing is imported then), or succeeded with the counts and the
// audit event.
func (a *AtomicImport) runDocument(ctx context.Context, job *ent.ImportJob) (ImportJobSummary, error) {
	rep := &importReporter{client: a.Client, log: a.Log, id: job.ID, start: time.Now()}
	var createdBy *uuid.UUID
	if a.Actor != nil {
		createdBy = &a.Actor.UserID
	}
	sum, err := library.ImportDocument(ctx, a.Client, a.Document, createdBy, rep.report)
	out := ImportJobSummary{DocTemplates: sum.Templates, DocScenarios: sum.Scenarios}
	switch {
	case err != nil && ctx.Err() != nil:
		return out, a.fail(ctx, job, "interrupted: Violet stopped before the import finished; nothing was imported, import again", &out)
	case ent.IsConstraintError(err) || ent.IsValidationError(err):
		return out, a.fail(ctx, job, "the document was refused, nothing was imported: "+err.Error(), &out)
	case err != nil:
		return out, a.fail(ctx, job, "the import stopped, nothing was imported: "+err.Error(), &out)
	}
	out.Added, out.Updated, out.Untagged = sum.Created, sum.Updated, sum.Untagged
	err = database.WithTx(ctx, a.Client, func(tx *ent.Tx) error {
		if err := tx.ImportJob.UpdateOneID(job.ID).SetStatus(importjob.StatusSucceeded).SetProgress(100).
			SetSummary(out.column()).SetFinishedAt(a.Now()).Exec(ctx); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.LibraryImported, TargetType: "import_job",
			TargetID: job.ID.String(), TargetLabel: job.Source, Actor: a.Actor, Details: map[string]any{
				"kind": "library", "templates": sum.Templates, "scenarios": sum.Scenarios,
				"created": sum.Created, "updated": sum.Updated, "untagged": len(sum.Untagged),
			}}); err != nil {
			return err
		}
		return a.notifyFinished(ctx, tx, job, true)
	})
	if err != nil {
		return out, a.fail(ctx, job, "the import could not be recorded: "+err.Error(), &out)
	}
	return out, nil
}

// buildScenario creates the scenario asked for from the imported tests
// that pass its filter, in import order, with its audit event.
func (a *AtomicImport) buildScenario(ctx context.Context, tx *ent.Tx, job *ent.ImportJob, out *ImportJobSummary) error {
	ids, err := importScenarioTests(ctx, tx, out.Templates, a.Scenario.Filter)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		out.ScenarioEmpty = true
		return nil
	}
	create := tx.ScenarioTemplate.Create().SetName(a.Scenario.Name).
		SetDescription(fmt.Sprintf("Built from the Atomic Red Team import %s.", job.Source))
	if a.Actor != nil {
		create.SetCreatedByID(a.Actor.UserID)
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
		TargetID: sc.ID.String(), TargetLabel: sc.Name, Actor: a.Actor,
		Details: map[string]any{"import_job": job.ID.String(), "filter": a.Scenario.Filter, "tests": len(ids)}})
}

// importScenarioTests keeps the imported templates (each once, in import
// order; deleted ones are not found) that pass filter, in one query.
func importScenarioTests(ctx context.Context, tx *ent.Tx, ids []uuid.UUID, filter string) ([]uuid.UUID, error) {
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

// fail finishes the job as failed with msg (and what was done, if
// anything). The job's context may be spent; recording the failure must
// not be.
func (a *AtomicImport) fail(ctx context.Context, job *ent.ImportJob, msg string, sum *ImportJobSummary) error {
	if a.Log != nil {
		a.Log.Warn("library import failed", "import", job.ID, "source", job.Source, "err", msg)
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := database.WithTx(bg, a.Client, func(tx *ent.Tx) error {
		update := tx.ImportJob.UpdateOneID(job.ID).SetStatus(importjob.StatusFailed).SetError(msg).SetFinishedAt(a.Now())
		if sum != nil {
			update.SetSummary(sum.column())
		}
		if err := update.Exec(bg); err != nil {
			return err
		}
		return a.notifyFinished(bg, tx, job, false)
	})
	if err != nil && a.Log != nil {
		a.Log.Error("record the failed import", "import", job.ID, "err", err)
	}
	return errors.New(msg)
}

// readImportFiles reads the technique files out of the archives, folders
// and YAML files given. A refused archive refuses the whole import; a
// YAML file is read as it is (up to one byte over the limit, so that a
// file too large is reported as such and the others go on).
func readImportFiles(files []ImportFile) ([]library.Source, error) {
	var out []library.Source
	for _, f := range files {
		var (
			got []library.Source
			err error
		)
		switch {
		case f.Dir:
			got, err = library.ReadDir(f.Path)
		case importFormat(f.Name) == "zip":
			got, err = readImportZip(f.Path)
		case importFormat(f.Name) == "tgz":
			got, err = readImportTarGz(f.Path)
		case importFormat(f.Name) == "yaml":
			var data []byte
			data, err = readImportYAML(f.Path)
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

func readImportZip(path string) ([]library.Source, error) {
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

func readImportTarGz(path string) ([]library.Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return library.ReadTarGz(f)
}

func readImportYAML(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, atomic.MaxFileSize+1))
}

// importReporter writes an import's progress to its row, at most every
// 250 ms unless it moved 5 points, so that any instance can show it.
type importReporter struct {
	client  *ent.Client
	log     *slog.Logger
	id      uuid.UUID
	start   time.Time
	last    time.Time
	percent int
}

func (r *importReporter) report(done, total int) {
	p := min(99, 100*done/max(total, 1))
	if p == r.percent || (time.Since(r.last) < 250*time.Millisecond && p-r.percent < 5) {
		return
	}
	r.percent, r.last = p, time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.client.ImportJob.UpdateOneID(r.id).SetProgress(p).Exec(ctx); err != nil && r.log != nil {
		r.log.Warn("record import progress", "import", r.id, "err", err)
	}
}

// reapImports marks the running imports whose instance is gone (nobody
// holds their liveness lock) as failed with importInterrupted; imports
// running in any live instance are left alone. ids limits it to those
// jobs; none means every running one.
func (s *Server) reapImports(ctx context.Context, ids ...uuid.UUID) (int, error) {
	ctx = rule.SystemContext(ctx)
	q := s.Ent.ImportJob.Query().Where(importjob.StatusEQ(importjob.StatusRunning))
	if len(ids) > 0 {
		q.Where(importjob.IDIn(ids...))
	}
	running, err := q.IDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("list running imports: %w", err)
	}
	n := 0
	for _, id := range running {
		err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
			dead, err := joblock.Dead(ctx, tx, joblock.ImportJob, id)
			if err != nil || !dead {
				return err
			}
			// The status condition leaves alone an import that finished
			// (and let its lock go) since the list was read.
			m, err := tx.ImportJob.Update().Where(importjob.ID(id), importjob.StatusEQ(importjob.StatusRunning)).
				SetStatus(importjob.StatusFailed).SetError(importInterrupted).SetFinishedAt(s.Now()).Save(ctx)
			n += m
			return err
		})
		if err != nil {
			return n, fmt.Errorf("reap import %s: %w", id, err)
		}
	}
	return n, nil
}

// showLibraryImport renders the import and export page.
func (s *Server) showLibraryImport(c echo.Context) error {
	return s.renderLibraryImport(c, http.StatusOK, libraryviews.ImportPageProps{})
}

func (s *Server) renderLibraryImport(c echo.Context, status int, p libraryviews.ImportPageProps) error {
	ctx := c.Request().Context()
	jobs, err := s.Ent.ImportJob.Query().Order(importjob.ByCreatedAt(entsql.OrderDesc())).Limit(importHistorySize).All(ctx)
	if err != nil {
		return fmt.Errorf("list imports: %w", err)
	}
	for _, j := range jobs {
		p.History = append(p.History, importJobRow(j))
	}
	if p.Tactics, err = s.importTactics(ctx); err != nil {
		return err
	}
	return s.render(c, status, libraryviews.ImportPage(s.layoutProps(c, "library.import.title", "nav.library"), p), nil)
}

// importTactics lists the catalogue's tactics for the scenario filter.
func (s *Server) importTactics(ctx context.Context) ([]libraryviews.ImportOption, error) {
	tactics, err := s.Ent.MitreTactic.Query().Order(ent.Asc(mitretactic.FieldPosition), ent.Asc(mitretactic.FieldExternalID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tactics: %w", err)
	}
	out := make([]libraryviews.ImportOption, len(tactics))
	for i, t := range tactics {
		out[i] = libraryviews.ImportOption{Value: "tactic:" + t.ExternalID, Label: t.ExternalID + " " + t.Name}
	}
	return out, nil
}

// atomicUpload is the Atomic upload form once read: its fields, and the
// files stored in dir.
type atomicUpload struct {
	form  libraryviews.ImportAtomicForm
	dir   string
	files []ImportFile
}

// readAtomicUpload streams the upload's files into a temporary folder
// (nothing is held in memory; the body is limited to 100 MB) and reads
// its fields. Files with an unknown extension are refused by name.
func readAtomicUpload(c echo.Context) (*atomicUpload, error) {
	u := &atomicUpload{form: libraryviews.ImportAtomicForm{Errors: components.Errors{}}}
	mr, err := c.Request().MultipartReader()
	if err != nil {
		u.form.Errors["files"] = "library.import.atomic.files_missing"
		return u, nil
	}
	for {
		part, err := nextUploadPart(mr)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			u.discard()
			return nil, uploadError(err)
		}
		if err := u.take(part.FormName(), part.FileName(), part.Value, part); err != nil {
			part.Close()
			u.discard()
			return nil, err
		}
		part.Close()
	}
	if len(u.files) == 0 && !u.form.Errors.Has("files") {
		u.form.Errors["files"] = "library.import.atomic.files_missing"
	}
	return u, nil
}

func (u *atomicUpload) take(field, fileName, value string, r io.Reader) error {
	if field == "files" {
		if fileName == "" {
			return nil
		}
		name := filepath.Base(strings.ReplaceAll(fileName, `\`, "/"))
		if importFormat(name) == "" {
			u.form.Errors["files"] = "library.import.atomic.files_type"
			return nil
		}
		if u.dir == "" {
			dir, err := os.MkdirTemp("", "violet-import-*")
			if err != nil {
				return err
			}
			u.dir = dir
		}
		f, err := os.CreateTemp(u.dir, "upload-*")
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("store the upload: %w", err)
		}
		u.files = append(u.files, ImportFile{Name: name, Path: f.Name()})
		return nil
	}
	switch field {
	case "overwrite":
		u.form.Overwrite = value != ""
	case "scenario":
		u.form.Scenario = value != ""
	case "scenario_name":
		u.form.ScenarioName = value
	case "scenario_filter":
		u.form.ScenarioFilter = value
	}
	return nil
}

// discard removes the stored files.
func (u *atomicUpload) discard() {
	if u.dir != "" {
		os.RemoveAll(u.dir)
	}
}

// checkImportScenario validates the "build a scenario" fields when asked.
func checkImportScenario(f *libraryviews.ImportAtomicForm, tactics []libraryviews.ImportOption) {
	f.ScenarioName = strings.TrimSpace(f.ScenarioName)
	if !f.Scenario {
		return
	}
	switch {
	case f.ScenarioName == "":
		f.Errors["scenario_name"] = "form.required"
	case len(f.ScenarioName) > libraryviews.ScenarioNameMax:
		f.Errors["scenario_name"] = "library.import.scenario.name_long"
	}
	kind, value, _ := strings.Cut(f.ScenarioFilter, ":")
	ok := f.ScenarioFilter == "" ||
		(kind == "platform" && slices.Contains(libraryviews.ImportPlatforms, value)) ||
		(kind == "tactic" && slices.ContainsFunc(tactics, func(o libraryviews.ImportOption) bool { return o.Value == f.ScenarioFilter }))
	if !ok {
		f.Errors["scenario_filter"] = "library.import.scenario.filter_invalid"
	}
}

// importAtomic takes an Atomic Red Team upload (an archive of the atomics
// folder, or technique files), starts its import in the background and
// shows the job's page.
func (s *Server) importAtomic(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := readAtomicUpload(c)
	if err != nil {
		return err
	}
	tactics, err := s.importTactics(ctx)
	if err != nil {
		u.discard()
		return err
	}
	checkImportScenario(&u.form, tactics)
	if len(u.form.Errors) > 0 {
		u.discard()
		return s.renderLibraryImport(c, http.StatusUnprocessableEntity, libraryviews.ImportPageProps{Atomic: u.form})
	}
	names := make([]string, len(u.files))
	for i, f := range u.files {
		names[i] = f.Name
	}
	imp := &AtomicImport{
		Client: s.Ent, Log: s.Log, Now: s.Now, Actor: auth.FromContext(ctx),
		Source: strings.Join(names, ", "), Files: u.files, Overwrite: u.form.Overwrite, Notifier: s.Notifier,
		DB: s.DB,
	}
	if u.form.Scenario {
		imp.Scenario = &ImportScenario{Name: u.form.ScenarioName, Filter: u.form.ScenarioFilter}
	}
	job, err := imp.Begin(ctx)
	if err != nil {
		u.discard()
		return err
	}
	info := auth.RequestInfoFrom(ctx)
	s.background(func(ctx context.Context) {
		defer u.discard()
		start := time.Now()
		_, err := imp.Run(auth.WithRequestInfo(ctx, info), job)
		s.Metrics.ObserveImport(metrics.ImportAtomic, err == nil, time.Since(start))
	})
	return c.Redirect(http.StatusSeeOther, "/library/import/"+job.ID.String())
}

// importLibraryDocument imports a library document exported by another
// Violet. The document is read and checked here (any problem is shown
// next to the file field and nothing is imported; its bounds keep the
// reading small, see library.ParseDocument), then imported in the
// background as an import job, whose page shows its progress.
func (s *Server) importLibraryDocument(c echo.Context) error {
	ctx := c.Request().Context()
	refuse := func(key, cause string) error {
		return s.renderLibraryImport(c, http.StatusUnprocessableEntity,
			libraryviews.ImportPageProps{DocumentError: key, DocumentCause: cause})
	}
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return refuse("library.import.document.missing", "")
	}
	var (
		data     []byte
		name     string
		tooLarge bool
	)
	for {
		part, err := nextUploadPart(mr)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return uploadError(err)
		}
		if part.FormName() == "document" && part.FileName() != "" && data == nil {
			name = filepath.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
			// One byte over the bound tells a document too large.
			data, err = io.ReadAll(io.LimitReader(part, library.MaxDocumentBytes+1))
			if err != nil {
				part.Close()
				return fmt.Errorf("read the upload: %w", err)
			}
			tooLarge = len(data) > library.MaxDocumentBytes
		}
		part.Close()
	}
	if tooLarge {
		return refuse("library.import.document.invalid", fmt.Sprintf("the file is larger than %d MB", library.MaxDocumentBytes>>20))
	}
	if len(data) == 0 {
		return refuse("library.import.document.missing", "")
	}
	doc, err := library.ParseDocument(data)
	if err != nil {
		return refuse("library.import.document.invalid", err.Error())
	}
	imp := &AtomicImport{
		Client: s.Ent, Log: s.Log, Now: s.Now, Actor: auth.FromContext(ctx), Source: name,
		Document: doc, Notifier: s.Notifier, DB: s.DB,
	}
	job, err := imp.Begin(ctx)
	if err != nil {
		return err
	}
	info := auth.RequestInfoFrom(ctx)
	s.background(func(ctx context.Context) {
		start := time.Now()
		_, err := imp.Run(auth.WithRequestInfo(ctx, info), job)
		s.Metrics.ObserveImport(metrics.ImportLibrary, err == nil, time.Since(start))
	})
	return c.Redirect(http.StatusSeeOther, "/library/import/"+job.ID.String())
}

// showImportJob renders an import's page, or only its card for the
// card's own refresh.
func (s *Server) showImportJob(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	job, err := s.Ent.ImportJob.Get(ctx, id)
	if err != nil {
		return err
	}
	if job.Status == importjob.StatusRunning {
		// The page is polled while the job runs: a job whose instance
		// died shows as failed at once rather than at the next sweep.
		if n, err := s.reapImports(ctx, id); err != nil {
			s.Log.Warn("check the import is alive", "import", id, "err", err)
		} else if n > 0 {
			if job, err = s.Ent.ImportJob.Get(ctx, id); err != nil {
				return err
			}
		}
	}
	r := importJobRow(job)
	return s.render(c, http.StatusOK, libraryviews.ImportJobPage(s.layoutProps(c, "library.import.job.title", "nav.library"), r),
		libraryviews.ImportJob(r))
}

func importJobRow(j *ent.ImportJob) libraryviews.ImportJobRow {
	sum := importJobSummaryOf(j.Summary)
	r := libraryviews.ImportJobRow{
		ID: j.ID.String(), Kind: string(j.Kind), When: j.CreatedAt.UTC().Format("2006-01-02 15:04 MST"),
		Who: j.StartedByLabel, Source: j.Source, Status: string(j.Status), Progress: j.Progress, Error: j.Error,
		Files: sum.Files, Added: sum.Added, Updated: sum.Updated, Unchanged: sum.Unchanged, Kept: sum.Kept,
		Failed: sum.Failed, Templates: sum.DocTemplates, Scenarios: sum.DocScenarios,
		ScenarioID: sum.ScenarioID, ScenarioName: sum.ScenarioName, ScenarioTests: sum.ScenarioTests,
		ScenarioEmpty: sum.ScenarioEmpty,
	}
	for _, f := range sum.Failures {
		r.Failures = append(r.Failures, libraryviews.ImportFailure{File: f.File, Reason: f.Reason})
	}
	for _, u := range sum.Untagged {
		r.Untagged = append(r.Untagged, libraryviews.ImportUntagged{File: u.File, Test: u.Test, TechniqueID: u.TechniqueID})
	}
	if j.FinishedAt != nil {
		r.Took = j.FinishedAt.Sub(j.CreatedAt).Round(100 * time.Millisecond).String()
	}
	return r
}

// exportLibrary downloads the library as one YAML document: all of it, or
// the templates and scenarios named by ?template=<id>&scenario=<id>
// (repeated; a scenario brings its templates along).
func (s *Server) exportLibrary(c echo.Context) error {
	q := c.QueryParams()
	var templateIDs, scenarioIDs []uuid.UUID
	if len(q["template"])+len(q["scenario"]) > 0 {
		templateIDs, scenarioIDs = []uuid.UUID{}, []uuid.UUID{}
		for _, v := range q["template"] {
			id, err := uuid.Parse(v)
			if err != nil {
				return echo.ErrBadRequest
			}
			templateIDs = append(templateIDs, id)
		}
		for _, v := range q["scenario"] {
			id, err := uuid.Parse(v)
			if err != nil {
				return echo.ErrBadRequest
			}
			scenarioIDs = append(scenarioIDs, id)
		}
	}
	now := s.Now()
	data, err := library.Export(c.Request().Context(), s.Ent, templateIDs, scenarioIDs, now)
	if err != nil {
		return fmt.Errorf("export the library: %w", err)
	}
	c.Response().Header().Set(echo.HeaderContentDisposition,
		fmt.Sprintf(`attachment; filename="violet-library-%s.yaml"`, now.UTC().Format("20060102")))
	return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", data)
}
