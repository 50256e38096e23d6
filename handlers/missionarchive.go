package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/missionarchive"
	"violet/internal/paths"
	views "violet/views/missionarchive"
)

// missionArchiveBodyLimit is the archive upload's body limit: the
// archive's own limit plus the form around it.
const missionArchiveBodyLimit = missionarchive.MaxArchiveBytes + 1<<20

// missionArchives returns the whole-mission archive's workflows.
func (s *Server) missionArchives() *missionarchive.Service {
	return missionarchive.NewService(missionarchive.Deps{Ent: s.Ent, Store: s.evidenceStore(), Decodes: s.Decodes,
		DecodeWait: s.Config.RequestTimeout, Now: s.Now})
}

// exportMissionArchive sends the whole mission as one zip: whoever may
// export its JSON may export its archive (the same visibility).
func (s *Server) exportMissionArchive(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	release, err := s.holdDocument(c.Request().Context())
	if err != nil {
		return err
	}
	defer release()
	f, err := s.missionArchives().Export(c.Request().Context(), a)
	return s.sendExport(c, f, err)
}

// renderMissionImport renders the import page with status.
func (s *Server) renderMissionImport(c echo.Context, status int, p views.Import) error {
	return s.render(c, status, views.ImportPage(s.layoutProps(c, "missionarchive.import.title", "nav.missions"), p), nil)
}

// showMissionImport renders the upload form (mission.create).
func (s *Server) showMissionImport(c echo.Context) error {
	return s.renderMissionImport(c, http.StatusOK, views.Import{})
}

// previewMissionImport reads the uploaded archive and shows what the
// import will create and who is left out; a bad archive is the form
// again with the reason (422).
func (s *Server) previewMissionImport(c echo.Context) error {
	fh, err := c.FormFile("archive")
	if err != nil || fh.Size == 0 {
		return s.renderMissionImport(c, http.StatusUnprocessableEntity,
			views.Import{Errors: map[string]string{"archive": "missionarchive.import.no_file"}})
	}
	file, err := fh.Open()
	if err != nil {
		return fmt.Errorf("read the archive: %w", err)
	}
	defer file.Close()
	p, err := s.missionArchives().PreviewUpload(c.Request().Context(), file, fh.Size)
	if page, ok := missionarchive.RefusedPage(err); ok {
		return s.renderMissionImport(c, http.StatusUnprocessableEntity, page)
	}
	if err != nil {
		return err
	}
	return s.renderMissionImport(c, http.StatusOK, p.ImportPage())
}

// confirmMissionImport imports the archive the summary showed and opens
// the mission.
func (s *Server) confirmMissionImport(c echo.Context) error {
	imp, err := s.missionArchives().ImportStaged(c.Request().Context(), c.FormValue("token"))
	var already *missionarchive.AlreadyImported
	if page, ok := missionarchive.RefusedPage(err); ok {
		return s.renderMissionImport(c, http.StatusUnprocessableEntity, page)
	} else if errors.As(err, &already) && already.MissionID != "" {
		s.flash(c, "error", "missionarchive.import.already")
		return c.Redirect(http.StatusSeeOther, paths.URL(paths.Mission, already.MissionID))
	} else if err != nil {
		return err
	}
	s.flash(c, "success", "missionarchive.import.done")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Mission, imp.MissionID))
}
