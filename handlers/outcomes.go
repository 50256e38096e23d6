package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"violet/internal/mission"
	"violet/views/components"
	mtviews "violet/views/missiontest"
)

// saveMissionTestOutcome records or clears one tool's outcome (a blue form
// naming its tool). htmx gets the row alone with, out of band, the overall
// result and the history (mtviews.OutcomeSwap): 200, or 422/409 with the
// input kept in the row. A plain POST, or a refusal that is not the row's
// (not released, archived…), is answered like any step on the test, with
// the whole work block.
func (s *Server) saveMissionTestOutcome(c echo.Context) error {
	a, id, err := s.missionTestRoute(c)
	if err != nil {
		return err
	}
	var f missionTestBlueForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := strconv.Atoi(f.OutcomeVersion)
	if err != nil || version < 0 {
		return echo.ErrBadRequest
	}
	in := mission.BlueInput{Level: f.DetectionLevel, DetectedAt: f.DetectedAt, AlertName: f.AlertName,
		LogSource: f.LogSource, Notes: f.Notes}.Normalize()
	typed := mtviews.BlueForm{DetectionLevel: in.Level, DetectedAt: in.DetectedAt, AlertName: in.AlertName, LogSource: in.LogSource, Notes: in.Notes}
	saved, err := s.steps().SaveOutcome(c.Request().Context(), a, id,
		mission.OutcomeInput{Tool: f.Tool, Version: version, Clear: f.Clear != "", Fields: in})
	inv, invalid := missionInvalid(err)
	conflict := errors.Is(err, mission.ErrConflict)
	keep := func(w *mtviews.Work, conflict bool, errs components.Errors) {
		w.Blue.Answer(f.Tool, typed, errs, conflict)
	}
	partial := isPartial(c.Request())
	if partial && err != nil && !invalid && !conflict {
		c.Response().Header().Set("HX-Retarget", "#mission-test-work")
	}
	if !partial || (err != nil && !invalid && !conflict) {
		return s.afterMissionTestChange(c, a, id, "outcomes.saved", err, keep)
	}
	p, lerr := mission.TestPage(c.Request().Context(), s.Ent, a, id)
	if lerr != nil {
		return lerr
	}
	status, errs := http.StatusOK, components.Errors(nil)
	if invalid {
		status, errs = http.StatusUnprocessableEntity, inv.Fields
	} else if conflict {
		status = http.StatusConflict
	}
	if err == nil {
		p.Work.SavedFrom, p.Work.SavedTo = saved.TestVersionFrom, saved.TestVersion
	}
	row := p.Work.Blue.Done(f.Tool)
	if err != nil {
		row = p.Work.Blue.Answer(f.Tool, typed, errs, conflict)
	}
	if row != nil {
		return s.render(c, status, mtviews.OutcomeSwap(p.Work, *row), nil)
	}
	c.Response().Header().Set("HX-Retarget", "#mission-test-work") // a row no longer shown
	return s.renderMissionTest(c, status, a, p)
}
