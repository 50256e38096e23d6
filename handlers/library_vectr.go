package handlers

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/labstack/echo/v4"

	"violet/internal/vectr"
	vectrviews "violet/views/vectr"
)

// The VECTR history import (Library → Import → VECTR): the upload, the
// mapping step the importer confirms, then the import, run in the request
// (765 test cases take well under a second) and answered with its
// summary. internal/vectr does the work.

// showVectrImport renders the upload step.
func (s *Server) showVectrImport(c echo.Context) error {
	return s.render(c, http.StatusOK, vectrviews.UploadPage(s.layoutProps(c, "vectr.title", "nav.library"), vectrviews.Upload{}), nil)
}

// uploadVectr reads the uploaded export (bounded; one byte over tells an
// export too large) and shows its mapping step; an export refused is
// shown next to the file field with its line.
func (s *Server) uploadVectr(c echo.Context) error {
	var data []byte
	var name string
	if fh, err := c.FormFile("file"); err == nil {
		f, err := fh.Open()
		if err != nil {
			return fmt.Errorf("open the upload: %w", err)
		}
		defer f.Close()
		name = filepath.Base(strings.ReplaceAll(fh.Filename, `\`, "/"))
		if data, err = io.ReadAll(io.LimitReader(f, vectr.MaxBytes+1)); err != nil {
			return fmt.Errorf("read the upload: %w", err)
		}
	}
	page, err := vectr.NewService(s.Ent).WithStore(s.evidenceStore()).Upload(c.Request().Context(), name, data)
	if refused := vectr.UploadRefused(err); refused != nil {
		return s.render(c, http.StatusUnprocessableEntity, vectrviews.UploadPage(s.layoutProps(c, "vectr.title", "nav.library"), *refused), nil)
	} else if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, vectrviews.MappingPage(s.layoutProps(c, "vectr.mapping.title", "nav.library"), page), nil)
}

// runVectr imports the staged export with the mapping confirmed and
// shows the summary, or the mapping step again with its errors.
func (s *Server) runVectr(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.ErrBadRequest
	}
	done, err := vectr.NewService(s.Ent).WithStore(s.evidenceStore()).Confirm(c.Request().Context(), form.Get("token"), form)
	if err != nil {
		return err
	}
	if done.Again != nil {
		return s.render(c, http.StatusUnprocessableEntity, vectrviews.MappingPage(s.layoutProps(c, "vectr.mapping.title", "nav.library"), *done.Again), nil)
	}
	return s.render(c, http.StatusOK, vectrviews.SummaryPage(s.layoutProps(c, "vectr.summary.title", "nav.library"), *done.Summary), nil)
}
