package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/importjob"
	"violet/ent/mitretactic"
	"violet/internal/auth"
	"violet/internal/library"
	"violet/internal/libraryimport"
	"violet/internal/metrics"
	"violet/views/components"
	libraryviews "violet/views/library"
)

// importHistorySize is how many imports the import page lists.
const importHistorySize = 20

// reapImports fails the running imports whose instance is gone (see
// libraryimport.Reap); ids limits it to those jobs.
func (s *Server) reapImports(ctx context.Context, ids ...uuid.UUID) (int, error) {
	return libraryimport.Reap(ctx, s.Ent, s.Now, ids...)
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
	files []libraryimport.File
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
		if !libraryimport.CanImport(name) {
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
		u.files = append(u.files, libraryimport.File{Name: name, Path: f.Name()})
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
		(kind == "platform" && slices.Contains(libraryviews.ImportPlatforms(), value)) ||
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
	imp := &libraryimport.Job{
		Client: s.Ent, Log: s.Log, Now: s.Now, Actor: auth.FromContext(ctx),
		Source: strings.Join(names, ", "), Files: u.files, Overwrite: u.form.Overwrite, Notifier: s.Notifier,
		DB: s.DB,
	}
	if u.form.Scenario {
		imp.Scenario = &libraryimport.Scenario{Name: u.form.ScenarioName, Filter: u.form.ScenarioFilter}
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
	imp := &libraryimport.Job{
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
	sum := libraryimport.SummaryOf(j.Summary)
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
