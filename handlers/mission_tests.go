package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/detectionlevel"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/mission"
	"violet/views/components"
	mtviews "violet/views/missiontest"
	"violet/views/scale"
)

// missionTestVersionForm is what the one-button actions send (start,
// stop, release, review, reopen): only the version the page showed.
type missionTestVersionForm struct {
	Version string `form:"version"`
}

// missionTestRedForm is the red side's form: no state, no times, no ids —
// those follow from the actions.
type missionTestRedForm struct {
	Version    string `form:"version"`
	Command    string `form:"command"`
	SourceHost string `form:"source_host"`
	TargetHost string `form:"target_host"`
	Notes      string `form:"red_notes"`
}

// missionTestBlueForm is the blue side's form.
type missionTestBlueForm struct {
	Version        string `form:"version"`
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

// errNotReleased refuses a blue record on a test the red team has not
// released yet (only leads and managers see such a test): 409.
var errNotReleased = &mission.ErrState{From: "unreleased", Action: "recorded by the blue team"}

// missionTestTarget is the audit target type of a mission test.
const missionTestTarget = mission.TestTarget

// missionTestURL is the page of one test.
func missionTestURL(missionID, testID uuid.UUID) string {
	return mission.TestLink(missionID, testID)
}

// loadMissionTest loads the viewer's access to the route's mission and
// the route's test of that mission, with what its page shows. A mission
// or test the viewer may not see (blue members: unreleased tests), a test
// of another mission and a malformed id are all 404.
func (s *Server) loadMissionTest(c echo.Context) (*mission.Access, *ent.MissionTest, error) {
	a, err := s.missionAccess(c)
	if err != nil {
		return nil, nil, err
	}
	id, err := uuid.Parse(c.Param("test"))
	if err != nil {
		return nil, nil, echo.ErrNotFound
	}
	t, err := s.queryMissionTest(c.Request().Context(), a, id)
	return a, t, err
}

// queryMissionTest reads one test of a's mission with its tags, the people
// who ran and reviewed it and its detection level (five queries), with the
// viewer's context so that the privacy rules filter it.
func (s *Server) queryMissionTest(ctx context.Context, a *mission.Access, id uuid.UUID) (*ent.MissionTest, error) {
	t, err := s.Ent.MissionTest.Query().
		Where(missiontest.ID(id), missiontest.MissionID(a.Mission.ID)).
		WithMitreTags(func(q *ent.MissionTestMitreTagQuery) { q.Order(missiontestmitretag.ByExternalID()) }).
		WithExecutedBy(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).
		WithReviewedBy(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).
		WithDetectionLevel().
		Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("load mission test: %w", err)
	}
	return t, nil
}

// showMissionTest renders a test's page.
func (s *Server) showMissionTest(c echo.Context) error {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return err
	}
	w, err := s.missionTestWork(c.Request().Context(), a, t)
	if err != nil {
		return err
	}
	return s.renderMissionTest(c, http.StatusOK, a, t, w)
}

// renderMissionTest renders the page with w as its work block; htmx
// requests get only the work block, which is what every action swaps.
func (s *Server) renderMissionTest(c echo.Context, status int, a *mission.Access, t *ent.MissionTest, w mtviews.Work) error {
	fragment := mtviews.WorkBlock(w)
	if isPartial(c.Request()) {
		// No page frame, so no layoutProps: pending flash messages stay
		// for the next page.
		return s.render(c, status, fragment, nil)
	}
	p := mtviews.Page{
		ID: t.ID.String(), MissionID: a.Mission.ID.String(), MissionName: a.Mission.Name, CanManage: a.CanManage(),
		Name: t.Name, Platforms: t.Platforms, Opsec: string(t.OpsecLevel),
		Description: t.Description, Objective: t.Objective, Procedure: t.Procedure,
		Prerequisites: t.Prerequisites, Cleanup: t.Cleanup, ExpectedDetection: t.ExpectedDetection,
		Work: w,
	}
	for _, tag := range t.Edges.MitreTags {
		p.Tags = append(p.Tags, mtviews.Tag{ExternalID: tag.ExternalID, Name: tag.Name})
	}
	lp := s.layoutProps(c, "missions.test.title", "nav.missions")
	lp.Title = t.Name + " · " + a.Mission.Name
	lp.Live = s.liveURL(a.Mission.ID)
	return s.render(c, status, mtviews.TestPage(lp, p), fragment)
}

// missionTestWork builds the work block from the test as saved: forms
// filled with the saved values, the actions the viewer's role and the
// test's state allow, and the history. At most three queries: the
// detection scale (for a blue form), the test's audit events and their
// actors.
func (s *Server) missionTestWork(ctx context.Context, a *mission.Access, t *ent.MissionTest) (mtviews.Work, error) {
	archived := a.Archived()
	w := mtviews.Work{
		Base:     missionTestURL(a.Mission.ID, t.ID),
		Version:  t.Version,
		State:    string(t.State),
		Reason:   t.StateReason,
		Released: t.ReleasedToBlue,
		Archived: archived,
	}
	red := a.CanWriteRed() && !archived
	w.Red = mtviews.Red{
		Editable: red, StartedAt: t.StartedAt, EndedAt: t.EndedAt,
		Form:        redSaved(t),
		CanStart:    t.State == missiontest.StatePending,
		CanStop:     t.State == missiontest.StateRunning,
		CanRelease:  !t.ReleasedToBlue,
		CanSetAside: t.State == missiontest.StatePending || t.State == missiontest.StateRunning,
	}
	if u := t.Edges.ExecutedBy; u != nil {
		w.Red.ExecutedBy = u.DisplayName
	}
	w.Blue = mtviews.Blue{Editable: a.CanWriteBlue() && !archived && t.ReleasedToBlue, Form: blueSaved(t)}
	if w.Blue.Editable {
		levels, err := s.Ent.DetectionLevel.Query().
			Where(detectionlevel.Or(detectionlevel.Retired(false), detectionlevel.IDIn(levelIDs(t)...))).
			Order(detectionlevel.ByPosition(), detectionlevel.ByName()).
			All(ctx)
		if err != nil {
			return w, fmt.Errorf("load detection levels: %w", err)
		}
		for _, l := range levels {
			w.Blue.Levels = append(w.Blue.Levels, mtviews.Level{
				ID: l.ID.String(), Name: l.Name, Class: scale.Class(l.ID), Retired: l.Retired,
			})
		}
	}
	w.Review = mtviews.Review{CanReview: a.CanReview() && !archived, ReviewedAt: t.ReviewedAt}
	if u := t.Edges.ReviewedBy; u != nil {
		w.Review.ReviewedBy = u.DisplayName
	}
	audited, err := s.missionTestAudit(ctx, t.ID)
	if err != nil {
		return w, err
	}
	w.History = missionTestHistory(t, audited)
	return w, nil
}

// missionTestAuditKeys names the history line of each audited action.
var missionTestAuditKeys = map[string]string{
	audit.MissionTestReviewed:  "missions.test.event_reviewed",
	audit.MissionTestStarted:   "missions.test.event_audit_started",
	audit.MissionTestStopped:   "missions.test.event_audit_stopped",
	audit.MissionTestRedSaved:  "missions.test.event_audit_red_saved",
	audit.MissionTestReleased:  "missions.test.event_audit_released",
	audit.MissionTestBlueSaved: "missions.test.event_audit_blue_saved",
	audit.MissionTestSetAside:  "missions.test.event_audit_set_aside",
	audit.MissionTestReopened:  "missions.test.event_audit_reopened",
}

// missionTestAudit reads the test's audit events, oldest first, with the
// names of the people who did them (two queries). A person since deleted
// keeps the email the event recorded.
func (s *Server) missionTestAudit(ctx context.Context, id uuid.UUID) ([]mtviews.Event, error) {
	events, err := s.Ent.AuditEvent.Query().
		Where(auditevent.TargetType(missionTestTarget), auditevent.TargetID(id.String())).
		Order(auditevent.ByCreatedAt(), auditevent.ByID()).
		Limit(missionTestHistoryMax).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load mission test audit: %w", err)
	}
	var actors []uuid.UUID
	for _, e := range events {
		if e.ActorID != nil {
			actors = append(actors, *e.ActorID)
		}
	}
	names := map[uuid.UUID]string{}
	if len(actors) > 0 {
		users, err := s.Ent.User.Query().Where(user.IDIn(actors...)).Select(user.FieldDisplayName).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load audit actors: %w", err)
		}
		for _, u := range users {
			names[u.ID] = u.DisplayName
		}
	}
	out := make([]mtviews.Event, 0, len(events))
	for _, e := range events {
		who := e.ActorLabel
		if e.ActorID != nil && names[*e.ActorID] != "" {
			who = names[*e.ActorID]
		}
		key, ok := missionTestAuditKeys[e.Action]
		if !ok {
			key = "missions.test.event_other"
		}
		out = append(out, mtviews.Event{Key: key, Who: who, Action: e.Action, At: e.CreatedAt, Audited: true})
	}
	return out, nil
}

// missionTestHistoryMax bounds the audit events a test's page lists.
const missionTestHistoryMax = 200

// levelIDs is the test's saved level, offered even when retired so that a
// save that leaves it unchanged is not refused.
func levelIDs(t *ent.MissionTest) []uuid.UUID {
	if t.DetectionLevelID == nil {
		return nil
	}
	return []uuid.UUID{*t.DetectionLevelID}
}

// redSaved is the red side as saved.
func redSaved(t *ent.MissionTest) mtviews.RedForm {
	return mtviews.RedForm{Command: t.Command, SourceHost: t.SourceHost, TargetHost: t.TargetHost, Notes: t.RedNotes}
}

// blueSaved is the blue side as saved.
func blueSaved(t *ent.MissionTest) mtviews.BlueForm {
	f := mtviews.BlueForm{AlertName: t.AlertName, LogSource: t.LogSource, Notes: t.BlueNotes}
	if t.DetectionLevelID != nil {
		f.DetectionLevel = t.DetectionLevelID.String()
	}
	if l := t.Edges.DetectionLevel; l != nil {
		f.LevelName, f.LevelClass = l.Name, scale.Class(l.ID)
	}
	if t.DetectedAt != nil {
		f.DetectedAt = t.DetectedAt.UTC().Format(mtviews.DateTimeLayout)
	}
	return f
}

// missionTestHistory merges what the test's own record tells (who started
// it and when, when it stopped, when blue saw it, the last save) with its
// audit events (reviews). The record's review is shown only when no audit
// event tells it (tests reviewed before reviews were audited). Oldest
// first.
func missionTestHistory(t *ent.MissionTest, audited []mtviews.Event) []mtviews.Event {
	var out []mtviews.Event
	if t.StartedAt != nil {
		who := ""
		if u := t.Edges.ExecutedBy; u != nil {
			who = u.DisplayName
		}
		out = append(out, mtviews.Event{Key: "missions.test.event_started", Who: who, At: *t.StartedAt})
	}
	if t.EndedAt != nil {
		out = append(out, mtviews.Event{Key: "missions.test.event_stopped", At: *t.EndedAt})
	}
	if t.DetectedAt != nil {
		out = append(out, mtviews.Event{Key: "missions.test.event_detected", At: *t.DetectedAt})
	}
	reviewAudited := slices.ContainsFunc(audited, func(e mtviews.Event) bool { return e.Action == audit.MissionTestReviewed })
	if t.ReviewedAt != nil && !reviewAudited {
		who := ""
		if u := t.Edges.ReviewedBy; u != nil {
			who = u.DisplayName
		}
		out = append(out, mtviews.Event{Key: "missions.test.event_reviewed", Who: who, At: *t.ReviewedAt})
	}
	out = append(out, audited...)
	if t.Version > 1 {
		out = append(out, mtviews.Event{Key: "missions.test.event_saved", At: t.UpdatedAt})
	}
	slices.SortStableFunc(out, func(a, b mtviews.Event) int { return a.At.Compare(b.At) })
	return out
}

// missionTestKeep puts the user's refused input back into the work block
// read after a refusal; conflict says whether what was refused is the
// version, in which case the values saved meanwhile are shown next to it.
type missionTestKeep func(w *mtviews.Work, conflict bool)

// afterMissionTestChange answers an action on a test. Done: a plain POST
// is redirected to the page (303) with a flash; htmx gets the work block
// with the new version and a notice. Refused because the test changed
// since (ErrConflict), the mission is archived (ErrReadOnly) or the state
// does not allow it (*ErrState): 409 with the test as it is now, its new
// version, a notice, and the user's input kept. Anything else (403, 404,
// failures) goes to the error handler.
func (s *Server) afterMissionTestChange(c echo.Context, a *mission.Access, id uuid.UUID, saved string, err error, keep missionTestKeep) error {
	status, notice, key := http.StatusOK, mtviews.NoticeSaved, saved
	switch {
	case err == nil:
		if !isPartial(c.Request()) {
			s.flash(c, "success", saved)
			return c.Redirect(http.StatusSeeOther, missionTestURL(a.Mission.ID, id))
		}
	case errors.Is(err, mission.ErrConflict):
		status, notice, key = http.StatusConflict, mtviews.NoticeConflict, "missions.test.conflict"
	case errors.Is(err, mission.ErrReadOnly):
		status, notice, key = http.StatusConflict, mtviews.NoticeError, "missions.test.read_only"
	case errors.Is(err, errNotReleased):
		status, notice, key = http.StatusConflict, mtviews.NoticeError, "missions.test.not_released"
	case mission.IsState(err):
		status, notice, key = http.StatusConflict, mtviews.NoticeError, "missions.test.refused"
	default:
		return err
	}
	ctx := c.Request().Context()
	t, lerr := s.queryMissionTest(ctx, a, id)
	if lerr != nil {
		return lerr
	}
	w, lerr := s.missionTestWork(ctx, a, t)
	if lerr != nil {
		return lerr
	}
	w.Notice, w.NoticeKey, w.NoticeState = notice, key, string(t.State)
	if err != nil && keep != nil {
		keep(&w, errors.Is(err, mission.ErrConflict))
	}
	return s.renderMissionTest(c, status, a, t, w)
}

// changeMissionTest runs a one-button action with the version the page
// showed.
func (s *Server) changeMissionTest(c echo.Context, saved string,
	run func(ctx context.Context, a *mission.Access, t *ent.MissionTest, version int) error) error {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return err
	}
	var f missionTestVersionForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := scenarioVersion(f.Version)
	if err != nil {
		return err
	}
	err = run(c.Request().Context(), a, t, version)
	return s.afterMissionTestChange(c, a, t.ID, saved, err, nil)
}

// inMissionTestTx runs change (a workflow of internal/mission, given the
// transaction's client) as a step of the test: one transaction with its
// audit event, live event and notifications (mission.Steps).
func (s *Server) inMissionTestTx(ctx context.Context, a *mission.Access, t *ent.MissionTest, action string,
	change func(client *ent.Client) error) error {
	return s.Steps.Run(ctx, a, t, action, change)
}

// missionStep is one workflow step of internal/mission taking the version
// the page showed (Release, Reopen, and the timed ones through timed).
type missionStep func(ctx context.Context, client *ent.Client, a *mission.Access, id uuid.UUID, version int) (int, error)

// timed adapts a step that records a time (start, stop, review) to the
// server's clock.
func (s *Server) timed(step func(context.Context, *ent.Client, *mission.Access, uuid.UUID, int, time.Time) (int, error)) missionStep {
	return func(ctx context.Context, client *ent.Client, a *mission.Access, id uuid.UUID, version int) (int, error) {
		return step(ctx, client, a, id, version, s.Now())
	}
}

// runMissionTestStep answers a step's button: the step with its audit
// event in one transaction, then the test's work block (or a redirect).
func (s *Server) runMissionTestStep(c echo.Context, doneKey, action string, step missionStep) error {
	return s.changeMissionTest(c, doneKey,
		func(ctx context.Context, a *mission.Access, t *ent.MissionTest, version int) error {
			return s.inMissionTestTx(ctx, a, t, action, func(client *ent.Client) error {
				_, err := step(ctx, client, a, t.ID, version)
				return err
			})
		})
}

// startMissionTest records the start of a run (pending → running), with
// the red fields typed so far.
func (s *Server) startMissionTest(c echo.Context) error {
	return s.runRedStep(c, "missions.test.started", audit.MissionTestStarted, s.timed(mission.Start))
}

// stopMissionTest records the end of a run (running → executed), with the
// red fields typed so far.
func (s *Server) stopMissionTest(c echo.Context) error {
	return s.runRedStep(c, "missions.test.stopped", audit.MissionTestStopped, s.timed(mission.Stop))
}

// releaseMissionTest makes the test visible to the blue team, with the red
// fields typed so far.
func (s *Server) releaseMissionTest(c echo.Context) error {
	return s.runRedStep(c, "missions.test.released_done", audit.MissionTestReleased, mission.Release)
}

// redFieldNames are the red form's fields; Start, Stop and Release send
// them too, their buttons being part of that form.
var redFieldNames = []string{"command", "source_host", "target_host", "red_notes"}

// runRedStep answers Start, Stop and Release. Their buttons belong to the
// red form, so the page sends what the operator has typed with them:
// those fields are checked like a save (422 with the input kept) and, when
// they change the record, saved in the same transaction as the step, at
// the version the page showed. A refusal (stale version, state, archived
// mission) rolls both back and answers with the input kept, so pressing
// a button never discards typed text. A request without the fields (an
// older page, a script) runs the step alone.
func (s *Server) runRedStep(c echo.Context, doneKey, action string, step missionStep) error {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return err
	}
	var f missionTestRedForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := scenarioVersion(f.Version)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if !slices.ContainsFunc(redFieldNames, c.Request().PostForm.Has) {
		err := s.inMissionTestTx(ctx, a, t, action, func(client *ent.Client) error {
			_, err := step(ctx, client, a, t.ID, version)
			return err
		})
		return s.afterMissionTestChange(c, a, t.ID, doneKey, err, nil)
	}
	if !a.CanWriteRed() {
		return mission.ErrForbidden
	}
	if a.Archived() {
		return s.afterMissionTestChange(c, a, t.ID, "", mission.ErrReadOnly, nil)
	}
	in := mtviews.RedForm{Command: f.Command, SourceHost: f.SourceHost, TargetHost: f.TargetHost, Notes: f.Notes}
	keep := keepRed(&in)
	if errs := checkRedFields(&in); len(errs) > 0 {
		in.Errors = errs
		return s.refuseMissionTestInput(c, a, t, keep)
	}
	fields := mission.RedFields{Command: in.Command, SourceHost: in.SourceHost, TargetHost: in.TargetHost, Notes: in.Notes}
	err = s.inMissionTestTx(ctx, a, t, action, func(client *ent.Client) error {
		v := version
		if fields.Changes(t) {
			var err error
			if v, err = mission.SaveRed(ctx, client, a, t.ID, version, fields); err != nil {
				return err
			}
			if err := audit.Record(ctx, client.AuditEvent, mission.TestEvent(a, t, audit.MissionTestRedSaved)); err != nil {
				return err
			}
		}
		_, err := step(ctx, client, a, t.ID, v)
		return err
	})
	return s.afterMissionTestChange(c, a, t.ID, doneKey, err, keep)
}

// keepRed keeps the red input *in on the page answering a refusal; after
// a conflict, the values saved meanwhile are shown next to it.
func keepRed(in *mtviews.RedForm) missionTestKeep {
	return func(w *mtviews.Work, conflict bool) {
		if conflict {
			saved := w.Red.Form
			w.Red.Saved = &saved
		}
		w.Red.Form = *in
		w.Red.Form.Unsaved = true
	}
}

// refuseMissionTestInput answers invalid input: 422, the test as saved
// with the input (and its errors) kept by keep.
func (s *Server) refuseMissionTestInput(c echo.Context, a *mission.Access, t *ent.MissionTest, keep missionTestKeep) error {
	w, err := s.missionTestWork(c.Request().Context(), a, t)
	if err != nil {
		return err
	}
	keep(&w, false)
	return s.renderMissionTest(c, http.StatusUnprocessableEntity, a, t, w)
}

// reviewMissionTest closes an executed test (executed → reviewed).
func (s *Server) reviewMissionTest(c echo.Context) error {
	return s.runMissionTestStep(c, "missions.test.reviewed_done", audit.MissionTestReviewed, s.timed(mission.Review))
}

// reopenMissionTest takes a reviewed test back to executed, a skipped or
// blocked one back to pending (leads).
func (s *Server) reopenMissionTest(c echo.Context) error {
	return s.runMissionTestStep(c, "missions.test.reopened", audit.MissionTestReopened, mission.Reopen)
}

// checkRedFields validates the red side's record; hosts are trimmed.
func checkRedFields(f *mtviews.RedForm) components.Errors {
	f.SourceHost = strings.TrimSpace(f.SourceHost)
	f.TargetHost = strings.TrimSpace(f.TargetHost)
	errs := components.Errors{}
	if utf8.RuneCountInString(f.Command) > mtviews.TextMax {
		errs["command"] = "missions.test.text_too_long"
	}
	for name, v := range map[string]string{"source_host": f.SourceHost, "target_host": f.TargetHost} {
		switch {
		case len(v) > mtviews.HostMax:
			errs[name] = "missions.test.host_too_long"
		case strings.ContainsFunc(v, unicode.IsControl):
			errs[name] = "missions.test.host_invalid"
		}
	}
	if utf8.RuneCountInString(f.Notes) > mtviews.TextMax {
		errs["red_notes"] = "missions.test.text_too_long"
	}
	return errs
}

// saveMissionTestRed saves the red side's record. Invalid input is 422
// with the errors next to the fields; a test saved by someone else since
// the page was shown is 409 with the input kept and the saved values next
// to it. Only red members, leads and mission managers write it (403).
func (s *Server) saveMissionTestRed(c echo.Context) error {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return err
	}
	var f missionTestRedForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := scenarioVersion(f.Version)
	if err != nil {
		return err
	}
	if !a.CanWriteRed() {
		return mission.ErrForbidden
	}
	if a.Archived() {
		return s.afterMissionTestChange(c, a, t.ID, "", mission.ErrReadOnly, nil)
	}
	in := mtviews.RedForm{Command: f.Command, SourceHost: f.SourceHost, TargetHost: f.TargetHost, Notes: f.Notes}
	keep := keepRed(&in)
	ctx := c.Request().Context()
	if errs := checkRedFields(&in); len(errs) > 0 {
		in.Errors = errs
		return s.refuseMissionTestInput(c, a, t, keep)
	}
	err = s.inMissionTestTx(ctx, a, t, audit.MissionTestRedSaved, func(client *ent.Client) error {
		_, err := mission.SaveRed(ctx, client, a, t.ID, version, mission.RedFields{
			Command: in.Command, SourceHost: in.SourceHost, TargetHost: in.TargetHost, Notes: in.Notes,
		})
		return err
	})
	return s.afterMissionTestChange(c, a, t.ID, "missions.test.red_saved", err, keep)
}

// parseDetectedAt reads a datetime-local value as UTC.
func parseDetectedAt(raw string) (time.Time, error) {
	for _, layout := range []string{mtviews.DateTimeLayout, mtviews.DateTimeLayout + ":05"} {
		if t, err := time.ParseInLocation(layout, raw, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a date and time")
}

// detectedAtKey is the message of a detection time the workflow refuses.
func detectedAtKey(err error) (string, bool) {
	switch {
	case errors.Is(err, mission.ErrDetectedBeforeStart):
		return "missions.test.detected_before_start", true
	case errors.Is(err, mission.ErrDetectedInFuture):
		return "missions.test.detected_in_future", true
	}
	return "", false
}

// checkBlueFields validates the blue side's record and returns what to
// save. The level must be one of the scale's, not retired (unless it is
// the one already saved); the detection time follows the workflow's rule
// (mission.CheckDetectedAt: not before the run started, not in the
// future) on the server's clock, checked here to answer next to the field
// and again by the save against the test as stored.
func (s *Server) checkBlueFields(ctx context.Context, t *ent.MissionTest, f *mtviews.BlueForm) (mission.BlueFields, components.Errors, error) {
	f.DetectionLevel = strings.TrimSpace(f.DetectionLevel)
	f.DetectedAt = strings.TrimSpace(f.DetectedAt)
	f.AlertName = strings.TrimSpace(f.AlertName)
	f.LogSource = strings.TrimSpace(f.LogSource)
	out := mission.BlueFields{AlertName: f.AlertName, LogSource: f.LogSource, Notes: f.Notes}
	errs := components.Errors{}
	if f.DetectionLevel != "" {
		id, err := uuid.Parse(f.DetectionLevel)
		if err != nil {
			errs["detection_level"] = "missions.test.level_invalid"
		} else {
			l, err := s.Ent.DetectionLevel.Get(ctx, id)
			switch {
			case ent.IsNotFound(err):
				errs["detection_level"] = "missions.test.level_invalid"
			case err != nil:
				return out, nil, fmt.Errorf("load detection level: %w", err)
			case l.Retired && (t.DetectionLevelID == nil || *t.DetectionLevelID != id):
				errs["detection_level"] = "missions.test.level_retired_refused"
			default:
				out.DetectionLevelID = &id
			}
		}
	}
	if f.DetectedAt != "" {
		at, err := parseDetectedAt(f.DetectedAt)
		switch {
		case err != nil:
			errs["detected_at"] = "missions.test.detected_at_invalid"
		default:
			if key, refused := detectedAtKey(mission.CheckDetectedAt(at, t.StartedAt, s.Now())); refused {
				errs["detected_at"] = key
			} else {
				out.DetectedAt = &at
			}
		}
	}
	if len(f.AlertName) > mtviews.NameMax {
		errs["alert_name"] = "missions.test.name_too_long"
	}
	if len(f.LogSource) > mtviews.NameMax {
		errs["log_source"] = "missions.test.name_too_long"
	}
	if utf8.RuneCountInString(f.Notes) > mtviews.TextMax {
		errs["blue_notes"] = "missions.test.text_too_long"
	}
	return out, errs, nil
}

// saveMissionTestBlue saves the blue side's record of a released test.
// Invalid input is 422 with the errors next to the fields; a test saved
// by someone else since is 409 with the input kept and the saved values
// next to it. Only blue members, leads and mission managers write it
// (403); to blue members an unreleased test does not exist (404).
func (s *Server) saveMissionTestBlue(c echo.Context) error {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return err
	}
	var f missionTestBlueForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := scenarioVersion(f.Version)
	if err != nil {
		return err
	}
	if !a.CanWriteBlue() {
		return mission.ErrForbidden
	}
	if a.Archived() {
		return s.afterMissionTestChange(c, a, t.ID, "", mission.ErrReadOnly, nil)
	}
	in := mtviews.BlueForm{DetectionLevel: f.DetectionLevel, DetectedAt: f.DetectedAt,
		AlertName: f.AlertName, LogSource: f.LogSource, Notes: f.Notes}
	ctx := c.Request().Context()
	fields, errs, err := s.checkBlueFields(ctx, t, &in)
	if err != nil {
		return err
	}
	keep := func(w *mtviews.Work, conflict bool) {
		if conflict {
			saved := w.Blue.Form
			w.Blue.Saved = &saved
		}
		w.Blue.Form = in
		w.Blue.Form.Unsaved = true
	}
	if len(errs) > 0 {
		in.Errors = errs
		return s.refuseMissionTestInput(c, a, t, keep)
	}
	if !t.ReleasedToBlue {
		// Leads see unreleased tests; the blue side waits for the release.
		err = errNotReleased
	} else {
		err = s.inMissionTestTx(ctx, a, t, audit.MissionTestBlueSaved, func(client *ent.Client) error {
			_, err := mission.SaveBlue(ctx, client, a, t.ID, version, fields, s.Now())
			return err
		})
	}
	// The start time changed between the check above and the save.
	if key, refused := detectedAtKey(err); refused {
		in.Errors = components.Errors{"detected_at": key}
		return s.refuseMissionTestInput(c, a, t, keep)
	}
	return s.afterMissionTestChange(c, a, t.ID, "missions.test.blue_saved", err, keep)
}

// setAsideMissionTest marks a pending or running test skipped or blocked;
// the reason is required.
func (s *Server) setAsideMissionTest(c echo.Context) error {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return err
	}
	var f missionTestAsideForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := scenarioVersion(f.Version)
	if err != nil {
		return err
	}
	to := missiontest.State(f.State)
	if to != missiontest.StateSkipped && to != missiontest.StateBlocked {
		return echo.ErrBadRequest
	}
	if !a.CanWriteRed() {
		return mission.ErrForbidden
	}
	if a.Archived() {
		return s.afterMissionTestChange(c, a, t.ID, "", mission.ErrReadOnly, nil)
	}
	in := mtviews.AsideForm{State: f.State, Reason: strings.TrimSpace(f.Reason), Open: true}
	keep := func(w *mtviews.Work, _ bool) {
		w.Red.Aside = in
		w.Red.Aside.Unsaved = true
	}
	ctx := c.Request().Context()
	switch {
	case in.Reason == "":
		in.Errors = components.Errors{"reason": "form.required"}
	case utf8.RuneCountInString(in.Reason) > mtviews.ReasonMax:
		in.Errors = components.Errors{"reason": "missions.test.reason_too_long"}
	}
	if len(in.Errors) > 0 {
		w, err := s.missionTestWork(ctx, a, t)
		if err != nil {
			return err
		}
		keep(&w, false)
		return s.renderMissionTest(c, http.StatusUnprocessableEntity, a, t, w)
	}
	err = s.inMissionTestTx(ctx, a, t, audit.MissionTestSetAside, func(client *ent.Client) error {
		_, err := mission.SetAside(ctx, client, a, t.ID, version, to, in.Reason)
		return err
	})
	return s.afterMissionTestChange(c, a, t.ID, "missions.test.set_aside_done", err, keep)
}
