package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent/missiontest"
	"violet/internal/mission"
	"violet/views/components"
	mtviews "violet/views/missiontest"
)

// missionTestVersionForm is what the one-button actions send (review,
// reopen): only the version the page showed.
type missionTestVersionForm struct {
	Version string `form:"version"`
}

// missionTestRedForm is the red side's form: no state, no times, no ids —
// those follow from the actions. Start, Stop and Release send it too,
// their buttons being part of that form.
type missionTestRedForm struct {
	Version    string `form:"version"`
	Command    string `form:"command"`
	SourceHost string `form:"source_host"`
	TargetHost string `form:"target_host"`
	Notes      string `form:"red_notes"`
}

// missionTestBlueForm is the blue side's form; an outcome's row
// (outcomes.go) adds its tool, the outcome's version and clear.
type missionTestBlueForm struct {
	Version        string `form:"version"`
	Tool           string `form:"tool"`
	OutcomeVersion string `form:"outcome_version"`
	Clear          string `form:"clear"`
	DetectionLevel string `form:"detection_level"`
	DetectedAt     string `form:"detected_at"`
	AlertName      string `form:"alert_name"`
	LogSource      string `form:"log_source"`
	Notes          string `form:"blue_notes"`
}

// missionTestAsideForm sets a test aside as skipped or blocked.
type missionTestAsideForm struct {
	Version string `form:"version"`
	State   string `form:"state"`
	Reason  string `form:"reason"`
}

// missionTestRoute loads the viewer's access to the route's mission and
// reads the route's test id; a malformed id is 404.
func (s *Server) missionTestRoute(c echo.Context) (*mission.Access, uuid.UUID, error) {
	a, err := s.missionAccess(c)
	if err != nil {
		return nil, uuid.Nil, err
	}
	id, err := uuid.Parse(c.Param("test"))
	if err != nil {
		return nil, uuid.Nil, echo.ErrNotFound
	}
	return a, id, nil
}

// showMissionTest renders a test's page.
func (s *Server) showMissionTest(c echo.Context) error {
	a, id, err := s.missionTestRoute(c)
	if err != nil {
		return err
	}
	p, err := mission.TestPage(c.Request().Context(), s.Ent, a, id)
	if err != nil {
		return err
	}
	return s.renderMissionTest(c, http.StatusOK, a, p)
}

// renderMissionTest renders the page; htmx requests get only its work
// block, which is what every action swaps.
func (s *Server) renderMissionTest(c echo.Context, status int, a *mission.Access, p mtviews.Page) error {
	fragment := mtviews.WorkBlock(p.Work)
	if isPartial(c.Request()) {
		// No page frame, so no layoutProps: pending flash messages stay
		// for the next page.
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "missions.test.title", "nav.missions")
	lp.Title = p.Name + " · " + p.MissionName
	lp.Live = s.liveURL(a.Mission.ID)
	return s.render(c, status, mtviews.TestPage(lp, p), fragment)
}

// missionTestKeep puts the user's refused input back into the work block
// read after a refusal, with the errors of invalid input; conflict says
// whether what was refused is the version, in which case the values
// saved meanwhile are shown next to it.
type missionTestKeep func(w *mtviews.Work, conflict bool, errs components.Errors)

// missionTestStep answers a step's button: it reads the form (into form,
// whose version is *version), runs the step (run returns how to keep the
// input on a refusal) and answers with afterMissionTestChange.
func (s *Server) missionTestStep(c echo.Context, form any, version *string, done string,
	run func(ctx context.Context, a *mission.Access, id uuid.UUID, version int) (missionTestKeep, error)) error {
	a, id, err := s.missionTestRoute(c)
	if err != nil {
		return err
	}
	if err := (&echo.DefaultBinder{}).BindBody(c, form); err != nil {
		return echo.ErrBadRequest
	}
	v, err := missionFormVersion(*version)
	if err != nil {
		return err
	}
	keep, err := run(c.Request().Context(), a, id, v)
	return s.afterMissionTestChange(c, a, id, done, err, keep)
}

// afterMissionTestChange answers an action on a test. Done: a plain POST
// is redirected to the page (303) with a flash; htmx gets the work block
// with the new version and a notice. Invalid input: 422 with the test as
// saved and the input (and its errors) kept. Refused because the test
// changed since (ErrConflict), the mission is archived (ErrReadOnly) or
// the state does not allow it (*ErrState): 409 with the test as it is
// now, its new version, a notice, and the user's input kept. Anything
// else (403, 404, failures) goes to the error handler.
func (s *Server) afterMissionTestChange(c echo.Context, a *mission.Access, id uuid.UUID, saved string, err error, keep missionTestKeep) error {
	status, notice, key := http.StatusOK, mtviews.NoticeSaved, saved
	inv, invalid := missionInvalid(err)
	switch {
	case err == nil:
		if !isPartial(c.Request()) {
			s.flash(c, "success", saved)
			return c.Redirect(http.StatusSeeOther, mission.TestLink(a.Mission.ID, id))
		}
	case invalid && keep != nil:
		status = http.StatusUnprocessableEntity
	case errors.Is(err, mission.ErrConflict):
		status, notice, key = http.StatusConflict, mtviews.NoticeConflict, "missions.test.conflict"
	case errors.Is(err, mission.ErrReadOnly):
		status, notice, key = http.StatusConflict, mtviews.NoticeError, "missions.test.read_only"
	case errors.Is(err, mission.ErrNotReleased):
		status, notice, key = http.StatusConflict, mtviews.NoticeError, "missions.test.not_released"
	case errors.Is(err, mission.ErrNotInProgress):
		status, notice, key = http.StatusConflict, mtviews.NoticeError, "missions.test.not_in_progress"
	case mission.IsState(err):
		status, notice, key = http.StatusConflict, mtviews.NoticeError, "missions.test.refused"
	default:
		return err
	}
	p, lerr := mission.TestPage(c.Request().Context(), s.Ent, a, id)
	if lerr != nil {
		return lerr
	}
	if !invalid {
		p.Work.Notice, p.Work.NoticeKey, p.Work.NoticeState = notice, key, p.Work.State
	}
	if err != nil && keep != nil && !errors.Is(err, mission.ErrReadOnly) { // read-only: no form to keep
		var errs components.Errors
		if invalid {
			errs = inv.Fields
		}
		keep(&p.Work, errors.Is(err, mission.ErrConflict), errs)
	}
	return s.renderMissionTest(c, status, a, p)
}

// redFieldNames are the red form's fields; Start, Stop and Release send
// them too, their buttons being part of that form.
var redFieldNames = []string{"command", "source_host", "target_host", "red_notes"}

// redStep answers Start, Stop and Release (step, a method of
// mission.Steps): with the red fields the operator typed, saved with the
// step when they change the record, or without them when the request has
// none (an older page, a script). A refusal keeps the typed text.
func (s *Server) redStep(c echo.Context, done string,
	step func(*mission.Steps, context.Context, *mission.Access, uuid.UUID, int, *mission.RedFields) (int, error)) error {
	var f missionTestRedForm
	return s.missionTestStep(c, &f, &f.Version, done,
		func(ctx context.Context, a *mission.Access, id uuid.UUID, version int) (missionTestKeep, error) {
			if !slices.ContainsFunc(redFieldNames, c.Request().PostForm.Has) {
				_, err := step(s.steps(), ctx, a, id, version, nil)
				return nil, err
			}
			red := f.fields()
			_, err := step(s.steps(), ctx, a, id, version, &red)
			return keepRed(red), err
		})
}

// fields is the red record typed, hosts trimmed as they are saved.
func (f missionTestRedForm) fields() mission.RedFields {
	return mission.RedFields{Command: f.Command, SourceHost: f.SourceHost, TargetHost: f.TargetHost, Notes: f.Notes}.Normalize()
}

// keepRed keeps the red input on the page answering a refusal; after a
// conflict, the values saved meanwhile are shown next to it.
func keepRed(in mission.RedFields) missionTestKeep {
	return func(w *mtviews.Work, conflict bool, errs components.Errors) {
		if conflict {
			saved := w.Red.Form
			w.Red.Saved = &saved
		}
		w.Red.Form = mtviews.RedForm{Command: in.Command, SourceHost: in.SourceHost, TargetHost: in.TargetHost,
			Notes: in.Notes, Errors: errs, Unsaved: true}
	}
}

// startMissionTest records the start of a run (pending → running).
func (s *Server) startMissionTest(c echo.Context) error {
	return s.redStep(c, "missions.test.started", (*mission.Steps).Start)
}

// stopMissionTest records the end of a run (running → executed).
func (s *Server) stopMissionTest(c echo.Context) error {
	return s.redStep(c, "missions.test.stopped", (*mission.Steps).Stop)
}

// releaseMissionTest makes the test visible to the blue team.
func (s *Server) releaseMissionTest(c echo.Context) error {
	return s.redStep(c, "missions.test.released_done", (*mission.Steps).Release)
}

// versionStep answers a one-button step taking only the version (step, a
// method of mission.Steps).
func (s *Server) versionStep(c echo.Context, done string,
	step func(*mission.Steps, context.Context, *mission.Access, uuid.UUID, int) (int, error)) error {
	var f missionTestVersionForm
	return s.missionTestStep(c, &f, &f.Version, done,
		func(ctx context.Context, a *mission.Access, id uuid.UUID, version int) (missionTestKeep, error) {
			_, err := step(s.steps(), ctx, a, id, version)
			return nil, err
		})
}

// reviewMissionTest closes an executed test (executed → reviewed).
func (s *Server) reviewMissionTest(c echo.Context) error {
	return s.versionStep(c, "missions.test.reviewed_done", (*mission.Steps).Review)
}

// reopenMissionTest takes a reviewed test back to executed, a skipped or
// blocked one back to pending (leads).
func (s *Server) reopenMissionTest(c echo.Context) error {
	return s.versionStep(c, "missions.test.reopened", (*mission.Steps).Reopen)
}

// saveMissionTestRed saves the red side's record. Invalid input is 422
// with the errors next to the fields; a test saved by someone else since
// the page was shown is 409 with the input kept and the saved values next
// to it. Only red members, leads and mission managers write it (403).
func (s *Server) saveMissionTestRed(c echo.Context) error {
	var f missionTestRedForm
	return s.missionTestStep(c, &f, &f.Version, "missions.test.red_saved",
		func(ctx context.Context, a *mission.Access, id uuid.UUID, version int) (missionTestKeep, error) {
			red := f.fields()
			_, err := s.steps().SaveRed(ctx, a, id, version, red)
			return keepRed(red), err
		})
}

// saveMissionTestBlue saves the blue side's record of a released test,
// answering like the red one. Only blue members, leads and mission
// managers write it (403); to blue members an unreleased test does not
// exist (404), to leads it is not released yet (409). A form naming a
// tool is one outcome's row (outcomes.go).
func (s *Server) saveMissionTestBlue(c echo.Context) error {
	if form, err := c.FormParams(); err == nil && form.Has("tool") {
		return s.saveMissionTestOutcome(c)
	}
	var f missionTestBlueForm
	return s.missionTestStep(c, &f, &f.Version, "missions.test.blue_saved",
		func(ctx context.Context, a *mission.Access, id uuid.UUID, version int) (missionTestKeep, error) {
			in := mission.BlueInput{Level: f.DetectionLevel, DetectedAt: f.DetectedAt,
				AlertName: f.AlertName, LogSource: f.LogSource, Notes: f.Notes}.Normalize()
			_, err := s.steps().SaveBlue(ctx, a, id, version, in)
			return func(w *mtviews.Work, conflict bool, errs components.Errors) {
				if conflict {
					saved := w.Blue.Form
					w.Blue.Saved = &saved
				}
				w.Blue.Form = mtviews.BlueForm{DetectionLevel: in.Level, DetectedAt: in.DetectedAt,
					AlertName: in.AlertName, LogSource: in.LogSource, Notes: in.Notes, Errors: errs, Unsaved: true}
			}, err
		})
}

// setAsideMissionTest marks a pending or running test skipped or blocked;
// the reason is required.
func (s *Server) setAsideMissionTest(c echo.Context) error {
	var f missionTestAsideForm
	return s.missionTestStep(c, &f, &f.Version, "missions.test.set_aside_done",
		func(ctx context.Context, a *mission.Access, id uuid.UUID, version int) (missionTestKeep, error) {
			to := missiontest.State(f.State)
			if to != missiontest.StateSkipped && to != missiontest.StateBlocked {
				return nil, echo.ErrBadRequest
			}
			reason := strings.TrimSpace(f.Reason)
			_, err := s.steps().SetAside(ctx, a, id, version, to, reason)
			return func(w *mtviews.Work, _ bool, errs components.Errors) {
				w.Red.Aside = mtviews.AsideForm{State: f.State, Reason: reason, Errors: errs, Open: true, Unsaved: true}
			}, err
		})
}
