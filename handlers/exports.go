package handlers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/attackid"
	"violet/internal/export"
	"violet/internal/mission"
	"violet/internal/navigator"
	"violet/views/components"
	"violet/views/missionpage"
)

// The exports (internal/export) read the mission through the request's
// context: blue members get the released tests only, as on the overview.

// sendExport sends an export as a download named after its mission. A
// streamed export (export.File.Body) is encoded straight to the response
// through a small buffer. Its data was read before the first byte, so a
// failure to read is still an error page with its status; a failure to
// write once the download has started can no longer change the status:
// the connection is cut without the response's end (http.ErrAbortHandler),
// so the browser reports a failed download rather than keep a truncated
// file that looks whole.
func (s *Server) sendExport(c echo.Context, f export.File, err error) error {
	if err != nil {
		return err
	}
	value := `attachment; filename="` + f.Name + `"`
	if f.UnicodeName != "" {
		value += "; filename*=UTF-8''" + url.PathEscape(f.UnicodeName)
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, value)
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	if f.Body == nil {
		return c.Blob(http.StatusOK, f.ContentType, f.Data)
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, f.ContentType)
	res.WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	w := bufio.NewWriterSize(res, exportBuffer)
	err = f.Body(w)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		s.Log.Warn("export cut short", "id", requestIDFrom(c.Request().Context()), "route", c.Path(), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// exportBuffer is a streamed export's output buffer.
const exportBuffer = 32 << 10

// exportNavigator sends the mission as an ATT&CK Navigator layer (?tool=ID: one tool's).
func (s *Server) exportNavigator(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	f, err := export.NavigatorToolLayer(c.Request().Context(), s.Ent, a, s.Now(), c.QueryParam("tool"))
	return s.sendExport(c, f, err)
}

// exportTestsCSV sends one row per test the viewer sees, every red and
// blue field; with ?excel=1, the same CSV for Excel (a UTF-8 byte order
// mark first).
func (s *Server) exportTestsCSV(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	csv := export.TestsCSV
	if c.QueryParam("excel") == "1" {
		csv = export.TestsCSVForExcel
	}
	release, err := s.holdDocument(c.Request().Context())
	if err != nil {
		return err
	}
	defer release()
	f, err := csv(c.Request().Context(), s.Ent, a)
	return s.sendExport(c, f, err)
}

// exportMissionJSON sends the whole mission for archival.
func (s *Server) exportMissionJSON(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	release, err := s.holdDocument(c.Request().Context())
	if err != nil {
		return err
	}
	defer release()
	f, err := export.MissionJSON(c.Request().Context(), s.Ent, a, s.Now())
	return s.sendExport(c, f, err)
}

// navigatorImportForm is the upload form's text part (the file is read
// from the multipart body).
type navigatorImportForm struct {
	Text string `form:"layer_text"`
}

// navigatorConfirmForm is the preview's form: the chosen templates, and
// the layer's techniques and name so that a refusal can show the preview
// again.
type navigatorConfirmForm struct {
	LayerName  string   `form:"layer_name"`
	Techniques []string `form:"technique"`
	TemplateID []string `form:"template_id"`
	Platforms  []string `form:"platform"`
}

// maxLayerPlatforms bounds the platforms a confirmation carries back
// (ATT&CK names a dozen).
const maxLayerPlatforms = 50

// navigatorFileMax is the most bytes of a layer read (the route's body
// limit is lower).
const navigatorFileMax = 4 << 20

// renderNavigatorImport renders the import page with status.
func (s *Server) renderNavigatorImport(c echo.Context, status int, a *mission.Access, p missionpage.NavigatorImport) error {
	p.MissionID, p.MissionName = a.Mission.ID.String(), a.Mission.Name
	lp := s.layoutProps(c, "exports.import.title", "nav.missions")
	lp.Title = a.Mission.Name + " · " + lp.Title
	return s.render(c, status, missionpage.NavigatorImportPage(lp, p), nil)
}

// showNavigatorImport renders the upload form (leads, mission not
// archived).
func (s *Server) showNavigatorImport(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	return s.renderNavigatorImport(c, http.StatusOK, a, missionpage.NavigatorImport{})
}

// previewNavigatorImport reads the layer (an uploaded file, else the
// pasted text) and shows what it would add (export.PreviewLayer). It
// creates nothing.
func (s *Server) previewNavigatorImport(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	var f navigatorImportForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	data := []byte(f.Text)
	if fh, err := c.FormFile("layer"); err == nil && fh.Size > 0 {
		file, err := fh.Open()
		if err != nil {
			return fmt.Errorf("read the layer: %w", err)
		}
		data, err = io.ReadAll(io.LimitReader(file, navigatorFileMax))
		file.Close()
		if err != nil {
			return fmt.Errorf("read the layer: %w", err)
		}
	}
	p := missionpage.NavigatorImport{Text: f.Text}
	if utf8.Valid(data) && len(data) <= missionpage.LayerTextMax {
		p.Text = string(data) // kept, so that it can be corrected here
	}
	if p.Preview, err = export.PreviewLayer(c.Request().Context(), s.Ent, data); err != nil {
		return s.refuseNavigatorLayer(c, a, p, err)
	}
	return s.renderNavigatorImport(c, http.StatusOK, a, p)
}

// confirmNavigatorImport adds the chosen templates to the plan, all of
// them or none (export.AddFromLayer); choosing nothing, or a template
// deleted since the preview, shows the preview again (422).
func (s *Server) confirmNavigatorImport(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	var f navigatorConfirmForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := export.LayerChoice{LayerName: f.LayerName}
	for _, id := range f.Techniques {
		if !attackid.IsTechniqueOrSub(id) {
			return echo.ErrBadRequest
		}
		if !slices.Contains(in.Techniques, id) {
			in.Techniques = append(in.Techniques, id)
		}
	}
	for _, p := range f.Platforms {
		if p = navigator.Platform(p); p != "" && len(in.Platforms) < maxLayerPlatforms && !slices.Contains(in.Platforms, p) {
			in.Platforms = append(in.Platforms, p)
		}
	}
	seen := map[uuid.UUID]bool{}
	for _, raw := range f.TemplateID {
		id, err := uuid.Parse(raw)
		if err != nil {
			return echo.ErrBadRequest
		}
		if !seen[id] {
			in.Templates = append(in.Templates, id)
			seen[id] = true
		}
	}
	var refused *export.Refused
	switch err := export.AddFromLayer(c.Request().Context(), s.Ent, a, in); {
	case errors.As(err, &refused):
		if len(in.Techniques) == 0 {
			return echo.ErrBadRequest
		}
		return s.renderNavigatorImport(c, http.StatusUnprocessableEntity, a, missionpage.NavigatorImport{Preview: refused.Preview})
	case err != nil:
		return s.refuseNavigatorLayer(c, a, missionpage.NavigatorImport{}, err)
	}
	s.flash(c, "success", "exports.import.created")
	return c.Redirect(http.StatusSeeOther, planURL(a))
}

// refuseNavigatorLayer answers a layer refused (*navigator.ParseError): the
// upload form again, with the reason next to the field and p's input kept.
func (s *Server) refuseNavigatorLayer(c echo.Context, a *mission.Access, p missionpage.NavigatorImport, err error) error {
	var pe *navigator.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	p.Preview, p.Errors, p.ErrorIDs = nil, components.Errors{"layer": pe.Reason}, pe.IDs
	return s.renderNavigatorImport(c, http.StatusUnprocessableEntity, a, p)
}
