package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/library"
	"violet/internal/libraryimport"
	"violet/internal/metrics"
	"violet/internal/paths"
	"violet/views/components"
	libraryviews "violet/views/library"
)

// The library import pages: imports are jobs of s.Jobs run by
// libraryimport (internal/libraryimport, internal/job); the handlers read
// the upload, start the job and show its page.

// showLibraryImport renders the import and export page.
func (s *Server) showLibraryImport(c echo.Context) error {
	return s.renderLibraryImport(c, http.StatusOK, libraryviews.ImportPageProps{})
}

func (s *Server) renderLibraryImport(c echo.Context, status int, p libraryviews.ImportPageProps) error {
	p, err := libraryimport.NewService(s.Jobs).Page(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return s.render(c, status, libraryviews.ImportPage(s.layoutProps(c, "library.import.title", "nav.library"), p), nil)
}

// importAtomic takes an Atomic Red Team upload (an archive of the atomics
// folder, or technique files), or with kind=sigma a Sigma rules upload
// (rule files or an archive of them), starts its import in the background
// and shows the job's page. The files are streamed into a temporary folder
// (the body is limited to 100 MB), removed once the import has read them.
func (s *Server) importAtomic(c echo.Context) error {
	var (
		up   libraryimport.Upload
		f    = libraryimport.AtomicForm{}
		kind string
	)
	if mr, err := c.Request().MultipartReader(); err == nil {
		for {
			part, err := nextUploadPart(mr)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				up.Remove()
				return uploadError(err)
			}
			switch part.FormName() {
			case "files":
				if part.FileName() != "" {
					err = up.Add(part.FileName(), part)
				}
			case "kind":
				kind = part.Value
			case "overwrite":
				f.Overwrite = part.Value != ""
			case "scenario":
				f.Scenario = part.Value != ""
			case "scenario_name":
				f.ScenarioName = part.Value
			case "scenario_filter":
				f.ScenarioFilter = part.Value
			}
			part.Close()
			if err != nil {
				up.Remove()
				return err
			}
		}
	}
	if kind == "sigma" {
		return s.importSigma(c, &up)
	}
	f.Files, f.Refused = up.Files, up.Refused
	job, err := libraryimport.NewService(s.Jobs).StartAtomic(c.Request().Context(), f, func(ok bool, took time.Duration) {
		up.Remove()
		s.Metrics.ObserveImport(metrics.ImportAtomic, ok, took)
	})
	var invalid *app.Invalid
	if errors.As(err, &invalid) {
		up.Remove()
		return s.renderLibraryImport(c, http.StatusUnprocessableEntity, libraryviews.ImportPageProps{Atomic: libraryviews.ImportAtomicForm{
			Overwrite: f.Overwrite, Scenario: f.Scenario, ScenarioName: strings.TrimSpace(f.ScenarioName),
			ScenarioFilter: f.ScenarioFilter, Errors: components.Errors(invalid.Fields),
		}})
	}
	if err != nil {
		up.Remove()
		return err
	}
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.LibraryImportJob, job.ID))
}

// importSigma starts the import of the Sigma rules uploaded (up, removed
// once the import has read them) and shows the job's page.
func (s *Server) importSigma(c echo.Context, up *libraryimport.Upload) error {
	job, err := libraryimport.NewService(s.Jobs).StartSigma(c.Request().Context(),
		libraryimport.SigmaForm{Files: up.Files, Refused: up.Refused}, func(ok bool, took time.Duration) {
			up.Remove()
			s.Metrics.ObserveImport(metrics.ImportSigma, ok, took)
		})
	var invalid *app.Invalid
	if errors.As(err, &invalid) {
		up.Remove()
		return s.renderLibraryImport(c, http.StatusUnprocessableEntity,
			libraryviews.ImportPageProps{SigmaErrors: components.Errors(invalid.Fields)})
	}
	if err != nil {
		up.Remove()
		return err
	}
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.LibraryImportJob, job.ID))
}

// importLibraryDocument imports a library document exported by another
// Violet: read here (bounded), checked by the workflow (any problem is
// shown next to the file field and nothing is imported), then imported in
// the background as an import job, whose page shows its progress.
func (s *Server) importLibraryDocument(c echo.Context) error {
	var (
		data []byte
		name string
	)
	if mr, err := c.Request().MultipartReader(); err == nil {
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
			}
			part.Close()
			if err != nil {
				return fmt.Errorf("read the upload: %w", err)
			}
		}
	}
	job, err := libraryimport.NewService(s.Jobs).StartDocument(c.Request().Context(), name, data, func(ok bool, took time.Duration) {
		s.Metrics.ObserveImport(metrics.ImportLibrary, ok, took)
	})
	var refused *libraryimport.DocumentRefused
	if errors.As(err, &refused) {
		return s.renderLibraryImport(c, http.StatusUnprocessableEntity,
			libraryviews.ImportPageProps{DocumentError: refused.Key, DocumentCause: refused.Cause})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.LibraryImportJob, job.ID))
}

// showImportJob renders an import's page, or only its card for the
// card's own refresh.
func (s *Server) showImportJob(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	r, err := libraryimport.NewService(s.Jobs).Show(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, libraryviews.ImportJobPage(s.layoutProps(c, "library.import.job.title", "nav.library"), r),
		libraryviews.ImportJob(r))
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
