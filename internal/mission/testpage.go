package mission

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/detectionlevel"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/i18n"
	mtviews "violet/views/missiontest"
	"violet/views/scale"
)

// The read model of one test's page: what the test is, and the work on
// it (the red and blue forms, the review, the history) as the viewer's
// role and the test's state allow.

// LoadTest reads one test of a's mission with its tags, the people who
// ran, reviewed and are assigned it and its detection level (five
// queries, six with an assignee), with the
// viewer's context so that the privacy rules filter it: a test the
// viewer may not see (blue members: unreleased tests) is not found.
func LoadTest(ctx context.Context, client *ent.Client, a *Access, id uuid.UUID) (*ent.MissionTest, error) {
	t, err := client.MissionTest.Query().
		Where(missiontest.ID(id), missiontest.MissionID(a.Mission.ID)).
		WithMitreTags(func(q *ent.MissionTestMitreTagQuery) { q.Order(missiontestmitretag.ByExternalID()) }).
		WithExecutedBy(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).
		WithReviewedBy(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).
		WithAssignee(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).
		WithDetectionLevel().
		Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("load mission test: %w", err)
	}
	return t, nil
}

// TestPage is the page of test id of a's mission (LoadTest, then the
// work block: at most eight queries).
func TestPage(ctx context.Context, client *ent.Client, a *Access, id uuid.UUID) (mtviews.Page, error) {
	t, err := LoadTest(ctx, client, a, id)
	if err != nil {
		return mtviews.Page{}, err
	}
	w, err := testWork(ctx, client, a, t)
	if err != nil {
		return mtviews.Page{}, err
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
	if u := t.Edges.Assignee; u != nil {
		p.Assignee = u.DisplayName
	}
	return p, nil
}

// testWork builds the work block from the test as saved: forms filled
// with the saved values, the actions the viewer's role and the test's
// state allow, and the history. At most three queries: the detection
// scale (for a blue form), the test's audit events and their actors.
func testWork(ctx context.Context, client *ent.Client, a *Access, t *ent.MissionTest) (mtviews.Work, error) {
	archived := a.Archived()
	w := mtviews.Work{
		Base:     TestLink(a.Mission.ID, t.ID),
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
	w.Blue = mtviews.Blue{Editable: a.CanWriteBlue() && !archived && t.ReleasedToBlue, Form: blueSaved(ctx, t)}
	if w.Blue.Editable {
		levels, err := client.DetectionLevel.Query().
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
	audited, err := testAudit(ctx, client, t.ID)
	if err != nil {
		return w, err
	}
	w.History = testHistory(t, audited)
	return w, nil
}

// testAuditKeys names the history line of each audited action.
var testAuditKeys = map[string]string{
	audit.MissionTestReviewed:  "missions.test.event_reviewed",
	audit.MissionTestStarted:   "missions.test.event_audit_started",
	audit.MissionTestStopped:   "missions.test.event_audit_stopped",
	audit.MissionTestRedSaved:  "missions.test.event_audit_red_saved",
	audit.MissionTestReleased:  "missions.test.event_audit_released",
	audit.MissionTestBlueSaved: "missions.test.event_audit_blue_saved",
	audit.MissionTestSetAside:  "missions.test.event_audit_set_aside",
	audit.MissionTestReopened:  "missions.test.event_audit_reopened",
}

// testHistoryMax bounds the audit events a test's page lists.
const testHistoryMax = 200

// testAudit reads the test's audit events, oldest first, with the names
// of the people who did them (two queries). A person since deleted keeps
// the email the event recorded.
func testAudit(ctx context.Context, client *ent.Client, id uuid.UUID) ([]mtviews.Event, error) {
	events, err := client.AuditEvent.Query().
		Where(auditevent.TargetType(TestTarget), auditevent.TargetID(id.String())).
		Order(auditevent.ByCreatedAt(), auditevent.ByID()).
		Limit(testHistoryMax).
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
		users, err := client.User.Query().Where(user.IDIn(actors...)).Select(user.FieldDisplayName).All(ctx)
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
		key, ok := testAuditKeys[e.Action]
		if !ok {
			key = "missions.test.event_other"
		}
		out = append(out, mtviews.Event{Key: key, Who: who, Action: e.Action, At: e.CreatedAt, Audited: true})
	}
	return out, nil
}

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

// blueSaved is the blue side as saved, its detection time in the viewer's
// zone (the zone of ctx) as the datetime-local input shows it.
func blueSaved(ctx context.Context, t *ent.MissionTest) mtviews.BlueForm {
	f := mtviews.BlueForm{AlertName: t.AlertName, LogSource: t.LogSource, Notes: t.BlueNotes}
	if t.DetectionLevelID != nil {
		f.DetectionLevel = t.DetectionLevelID.String()
	}
	if l := t.Edges.DetectionLevel; l != nil {
		f.LevelName, f.LevelClass = l.Name, scale.Class(l.ID)
	}
	if t.DetectedAt != nil {
		f.DetectedAt = i18n.LocalInput(ctx, *t.DetectedAt)
	}
	return f
}

// testHistory merges what the test's own record tells (who started it and
// when, when it stopped, when blue saw it, the last save) with its audit
// events. Each event is shown once: the record's start, stop and review
// only when no audit event tells them (tests changed before those steps
// were audited, or set by the demo's fixtures). Oldest first.
func testHistory(t *ent.MissionTest, audited []mtviews.Event) []mtviews.Event {
	var out []mtviews.Event
	told := func(action string) bool {
		return slices.ContainsFunc(audited, func(e mtviews.Event) bool { return e.Action == action })
	}
	if t.StartedAt != nil && !told(audit.MissionTestStarted) {
		who := ""
		if u := t.Edges.ExecutedBy; u != nil {
			who = u.DisplayName
		}
		out = append(out, mtviews.Event{Key: "missions.test.event_started", Who: who, At: *t.StartedAt})
	}
	if t.EndedAt != nil && !told(audit.MissionTestStopped) {
		out = append(out, mtviews.Event{Key: "missions.test.event_stopped", At: *t.EndedAt})
	}
	if t.DetectedAt != nil {
		out = append(out, mtviews.Event{Key: "missions.test.event_detected", At: *t.DetectedAt})
	}
	if t.ReviewedAt != nil && !told(audit.MissionTestReviewed) {
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
