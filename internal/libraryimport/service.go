package libraryimport

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/importjob"
	"violet/ent/mitretactic"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/job"
	"violet/internal/library"
	libraryviews "violet/views/library"
)

// Service is the library import of the web pages: imports started by the
// viewer run as jobs of a runner (a server's, whose notifier tells them
// when an import ends), and the pages' read model.
type Service struct{ jobs *job.Runner }

// NewService returns the import service running its jobs on jobs.
func NewService(jobs *job.Runner) *Service { return &Service{jobs: jobs} }

// historySize is how many imports the import page lists.
const historySize = 20

// AtomicForm is the Atomic import form once read: the files uploaded
// (Upload) and its fields.
type AtomicForm struct {
	Files []File
	// Refused: a file was given that an import does not read (by its
	// extension).
	Refused        bool
	Overwrite      bool
	Scenario       bool   // build a scenario from the imported tests
	ScenarioName   string // its name
	ScenarioFilter string // "", "tactic:TA0002" or "platform:Windows"
}

// StartAtomic checks the form (its errors as *app.Invalid, with the same
// keys as the form shows) and starts the import of its files in the
// background (Job.Start); done (may be nil) is told how it ended.
func (s *Service) StartAtomic(ctx context.Context, f AtomicForm, done func(ok bool, took time.Duration)) (*ent.ImportJob, error) {
	tactics, err := s.tactics(ctx)
	if err != nil {
		return nil, err
	}
	invalid := &app.Invalid{}
	switch {
	case f.Refused:
		invalid.Add("files", "library.import.atomic.files_type")
	case len(f.Files) == 0:
		invalid.Add("files", "library.import.atomic.files_missing")
	}
	f.ScenarioName = strings.TrimSpace(f.ScenarioName)
	if f.Scenario {
		checkScenario(invalid, f, tactics)
	}
	if err := invalid.Err(); err != nil {
		return nil, err
	}
	names := make([]string, len(f.Files))
	for i, file := range f.Files {
		names[i] = file.Name
	}
	imp := &Job{Jobs: s.jobs, Actor: auth.FromContext(ctx), Source: strings.Join(names, ", "),
		Files: f.Files, Overwrite: f.Overwrite}
	if f.Scenario {
		imp.Scenario = &Scenario{Name: f.ScenarioName, Filter: f.ScenarioFilter}
	}
	return imp.Start(ctx, done)
}

// checkScenario checks the "build a scenario" fields.
func checkScenario(invalid *app.Invalid, f AtomicForm, tactics []libraryviews.ImportOption) {
	switch {
	case f.ScenarioName == "":
		invalid.Add("scenario_name", "form.required")
	case len(f.ScenarioName) > libraryviews.ScenarioNameMax:
		invalid.Add("scenario_name", "library.import.scenario.name_long")
	}
	kind, value, _ := strings.Cut(f.ScenarioFilter, ":")
	ok := f.ScenarioFilter == "" ||
		(kind == "platform" && slices.Contains(libraryviews.ImportPlatforms(), value)) ||
		(kind == "tactic" && slices.ContainsFunc(tactics, func(o libraryviews.ImportOption) bool { return o.Value == f.ScenarioFilter }))
	if !ok {
		invalid.Add("scenario_filter", "library.import.scenario.filter_invalid")
	}
}

// DocumentRefused is a library document refused before anything is
// imported: Key is the message shown next to the file field, Cause what
// was wrong with the document, as the parser said it.
type DocumentRefused struct{ Key, Cause string }

func (e *DocumentRefused) Error() string { return "library document refused: " + e.Key + " " + e.Cause }

// Is makes errors.Is(err, app.ErrInvalid) true.
func (e *DocumentRefused) Is(target error) bool { return target == app.ErrInvalid }

// StartDocument reads and checks the library document uploaded as name
// (data holds up to one byte over library.MaxDocumentBytes, to tell a
// document too large; its bounds keep the reading small, see
// library.ParseDocument): any problem is a *DocumentRefused and nothing
// is imported. Else it starts the import in the background (Job.Start);
// done (may be nil) is told how it ended.
func (s *Service) StartDocument(ctx context.Context, name string, data []byte, done func(ok bool, took time.Duration)) (*ent.ImportJob, error) {
	switch {
	case len(data) > library.MaxDocumentBytes:
		return nil, &DocumentRefused{"library.import.document.invalid", fmt.Sprintf("the file is larger than %d MB", library.MaxDocumentBytes>>20)}
	case len(data) == 0:
		return nil, &DocumentRefused{Key: "library.import.document.missing"}
	}
	doc, err := library.ParseDocument(data)
	if err != nil {
		return nil, &DocumentRefused{"library.import.document.invalid", err.Error()}
	}
	imp := &Job{Jobs: s.jobs, Actor: auth.FromContext(ctx), Source: name, Document: doc}
	return imp.Start(ctx, done)
}

// Page fills the import page p with the last imports and the catalogue's
// tactics for the scenario filter.
func (s *Service) Page(ctx context.Context, p libraryviews.ImportPageProps) (libraryviews.ImportPageProps, error) {
	jobs, err := s.jobs.Client().ImportJob.Query().Order(importjob.ByCreatedAt(entsql.OrderDesc())).Limit(historySize).All(ctx)
	if err != nil {
		return p, fmt.Errorf("list imports: %w", err)
	}
	for _, j := range jobs {
		p.History = append(p.History, Row(ctx, j))
	}
	p.Tactics, err = s.tactics(ctx)
	return p, err
}

// tactics lists the catalogue's tactics for the scenario filter.
func (s *Service) tactics(ctx context.Context) ([]libraryviews.ImportOption, error) {
	tactics, err := s.jobs.Client().MitreTactic.Query().Order(ent.Asc(mitretactic.FieldPosition), ent.Asc(mitretactic.FieldExternalID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tactics: %w", err)
	}
	out := make([]libraryviews.ImportOption, len(tactics))
	for i, t := range tactics {
		out[i] = libraryviews.ImportOption{Value: "tactic:" + t.ExternalID, Label: t.ExternalID + " " + t.Name}
	}
	return out, nil
}

// Show is an import's page. The page is polled while the job runs: a job
// whose instance died shows as failed at once rather than at the next
// sweep.
func (s *Service) Show(ctx context.Context, id uuid.UUID) (libraryviews.ImportJobRow, error) {
	client := s.jobs.Client()
	j, err := client.ImportJob.Get(ctx, id)
	if err != nil {
		return libraryviews.ImportJobRow{}, err
	}
	if j.Status == importjob.StatusRunning {
		if n, err := s.jobs.Reap(rule.SystemContext(ctx), Imports{}, id); err != nil {
			s.jobs.Log().Warn("check the import is alive", "import", id, "err", err)
		} else if n > 0 {
			if j, err = client.ImportJob.Get(ctx, id); err != nil {
				return libraryviews.ImportJobRow{}, err
			}
		}
	}
	return Row(ctx, j), nil
}

// Row is an import as the history and its page show it.
func Row(ctx context.Context, j *ent.ImportJob) libraryviews.ImportJobRow {
	sum := SummaryOf(j.Summary)
	r := libraryviews.ImportJobRow{
		ID: j.ID.String(), Kind: string(j.Kind), When: i18n.Time(ctx, j.CreatedAt),
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
	for _, u := range sum.Unlinked {
		r.Unlinked = append(r.Unlinked, libraryviews.ImportUnlinked{Test: u.Test, Kind: u.Kind, Ref: u.Ref, Name: u.Name})
	}
	if j.FinishedAt != nil {
		r.Took = j.FinishedAt.Sub(j.CreatedAt).Round(100 * time.Millisecond).String()
	}
	return r
}

// Upload keeps the files of an Atomic import upload in a temporary folder
// until the import has read them (Remove): nothing is held in memory.
type Upload struct {
	dir     string
	Files   []File
	Refused bool // a file an import does not read (by its extension) was given
}

// Add stores the file uploaded as fileName (a path from some systems: its
// last element is kept) from r, or notes it refused when an import does
// not read files of its kind.
func (u *Upload) Add(fileName string, r io.Reader) error {
	name := filepath.Base(strings.ReplaceAll(fileName, `\`, "/"))
	if !CanImport(name) {
		u.Refused = true
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
	u.Files = append(u.Files, File{Name: name, Path: f.Name()})
	return nil
}

// Remove removes the stored files.
func (u *Upload) Remove() {
	if u.dir != "" {
		os.RemoveAll(u.dir)
	}
}
