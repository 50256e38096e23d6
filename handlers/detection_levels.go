package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/paths"
	detection "violet/internal/scale"
	"violet/views/admin"
)

// detectionLevelForm is what the create and edit forms may set: not the
// position (moved with up and down), not the retired flag (its own
// buttons).
type detectionLevelForm struct {
	Name             string `form:"name"`
	Description      string `form:"description"`
	Score            string `form:"score"`
	Colour           string `form:"colour"`
	ColourPicker     string `form:"colour_picker"`
	ColourWas        string `form:"colour_was"`
	CountsAsDetected string `form:"counts_as_detected"`
}

// detectionMoveForm is the up or down button of a level.
type detectionMoveForm struct {
	Direction string `form:"direction"`
}

// view turns the submitted form into the form shown again, with the
// colour the save will use: the text field when it was changed, else the
// picker.
func (f detectionLevelForm) view(id string) admin.DetectionLevelForm {
	colour := strings.TrimSpace(f.Colour)
	if colour == strings.TrimSpace(f.ColourWas) && f.ColourPicker != "" {
		colour = strings.TrimSpace(f.ColourPicker)
	}
	return admin.DetectionLevelForm{
		ID: id, Name: strings.TrimSpace(f.Name), Description: strings.TrimSpace(f.Description),
		Score: strings.TrimSpace(f.Score), Colour: strings.ToLower(colour), ColourWas: strings.ToLower(colour),
		CountsAsDetected: f.CountsAsDetected != "",
	}
}

// levelInput is the form as the scale's workflows take it.
func levelInput(f admin.DetectionLevelForm) detection.Input {
	return detection.Input{Name: f.Name, Description: f.Description, Score: f.Score, Colour: f.Colour,
		CountsAsDetected: f.CountsAsDetected}
}

// levels is the detection scale's service.
func (s *Server) levels() *detection.Service { return detection.NewService(s.Ent, s.DB) }

// newLevelForm is the empty new-level form.
func newLevelForm() admin.DetectionLevelForm {
	return admin.DetectionLevelForm{Score: "0", Colour: admin.DetectionDefaultColour, ColourWas: admin.DetectionDefaultColour}
}

// listDetectionLevels renders the scale's page with an empty new-level
// form.
func (s *Server) listDetectionLevels(c echo.Context) error {
	return s.renderDetectionLevels(c, http.StatusOK, "", newLevelForm())
}

// renderDetectionLevels renders the scale's page (or, for htmx, the
// table) with status; errorKey explains a refused change.
func (s *Server) renderDetectionLevels(c echo.Context, status int, errorKey string, f admin.DetectionLevelForm) error {
	ctx := c.Request().Context()
	l, err := s.levels().List(ctx)
	if err != nil {
		return err
	}
	l.ErrorKey = errorKey
	fragment := admin.DetectionLevelsTable(l)
	if isPartial(c.Request()) {
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "admin.detection.title", "nav.admin")
	return s.render(c, status, admin.DetectionLevelsPage(lp, adminTabs(auth.FromContext(ctx), paths.DetectionLevels), l, f), fragment)
}

// createDetectionLevel adds a level at the end of the scale.
func (s *Server) createDetectionLevel(c echo.Context) error {
	var raw detectionLevelForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &raw); err != nil {
		return echo.ErrBadRequest
	}
	f := raw.view("")
	_, err := s.levels().Create(c.Request().Context(), levelInput(f))
	if errs, ok := invalidErrors(err); ok {
		f.Errors = errs
		return s.renderDetectionLevels(c, http.StatusUnprocessableEntity, "", f)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.detection.created")
	return c.Redirect(http.StatusSeeOther, paths.DetectionLevels)
}

// editDetectionLevel renders a level's edit form.
func (s *Server) editDetectionLevel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	f, err := s.levels().Form(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderDetectionLevelEdit(c, http.StatusOK, f)
}

func (s *Server) renderDetectionLevelEdit(c echo.Context, status int, f admin.DetectionLevelForm) error {
	lp := s.layoutProps(c, "admin.detection.edit_title", "nav.admin")
	lp.Title = f.Name + " · " + lp.Title
	tabs := adminTabs(auth.FromContext(c.Request().Context()), paths.DetectionLevels)
	return s.render(c, status, admin.DetectionLevelEditPage(lp, tabs, f), nil)
}

// updateDetectionLevel saves a level's edit form.
func (s *Server) updateDetectionLevel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var raw detectionLevelForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &raw); err != nil {
		return echo.ErrBadRequest
	}
	f := raw.view(id.String())
	err = s.levels().Update(c.Request().Context(), id, levelInput(f))
	if errs, ok := invalidErrors(err); ok {
		f.Errors = errs
		return s.renderDetectionLevelEdit(c, http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.detection.saved")
	return c.Redirect(http.StatusSeeOther, paths.DetectionLevels)
}

// moveDetectionLevel moves a level one step up or down the scale.
func (s *Server) moveDetectionLevel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var f detectionMoveForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil || (f.Direction != "up" && f.Direction != "down") {
		return echo.ErrBadRequest
	}
	if err := s.levels().Move(c.Request().Context(), id, f.Direction == "up"); err != nil {
		return err
	}
	return s.afterLevelChange(c, "admin.detection.moved")
}

// afterLevelChange answers a change made from the table: the table again
// for htmx, else a flash and the page.
func (s *Server) afterLevelChange(c echo.Context, key string) error {
	if isPartial(c.Request()) {
		l, err := s.levels().List(c.Request().Context())
		if err != nil {
			return err
		}
		l.NoticeKey = key
		return s.render(c, http.StatusOK, admin.DetectionLevelsTable(l), nil)
	}
	s.flash(c, "success", key)
	return c.Redirect(http.StatusSeeOther, paths.DetectionLevels)
}

// retireDetectionLevel stops offering a level to blue teams; tests rated
// with it keep their rating.
func (s *Server) retireDetectionLevel(c echo.Context) error {
	return s.setLevelRetired(c, true, "admin.detection.retired_done")
}

// unretireDetectionLevel offers a retired level again.
func (s *Server) unretireDetectionLevel(c echo.Context) error {
	return s.setLevelRetired(c, false, "admin.detection.unretired_done")
}

func (s *Server) setLevelRetired(c echo.Context, retired bool, key string) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := s.levels().Retire(c.Request().Context(), id, retired); err != nil {
		return err
	}
	return s.afterLevelChange(c, key)
}

// deleteDetectionLevel deletes a level no mission test uses; a level in
// use gets 409 with the reason (it can be retired instead).
func (s *Server) deleteDetectionLevel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	err = s.levels().Delete(c.Request().Context(), id)
	if errors.Is(err, detection.ErrInUse) {
		return s.renderDetectionLevels(c, http.StatusConflict, "admin.detection.in_use", newLevelForm())
	}
	if err != nil {
		return err
	}
	return s.afterLevelChange(c, "admin.detection.deleted")
}
