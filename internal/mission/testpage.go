package mission

import (
	"context"
	"fmt"
	"slices"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/detectionlevel"
	"violet/ent/missiontest"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/expectedrule"
	"violet/internal/i18n"
	mtviews "violet/views/missiontest"
	"violet/views/scale"
)

// The read model of one test's page: what the test is, and the work on
// it (the red and blue forms, the review, the history) as the viewer's
// role and the test's state allow.

// LoadTest reads one test of a's mission with its tags, the people who
// ran, reviewed and are assigned it and its detection level, in one
// statement, with the viewer's context so that the privacy rules filter
// it: a test the viewer may not see (blue members: unreleased tests) is
// not found.
func LoadTest(ctx context.Context, client *ent.Client, a *Access, id uuid.UUID) (*ent.MissionTest, error) {
	l, err := loadTest(ctx, client, a, id, false)
	if err != nil {
		return nil, err
	}
	return &l.MissionTest, nil
}

// testLine is the row of loadTest: the test, the names of the people and
// the level it names (the edges LoadTest fills), its tags and, when asked,
// the detection scale as a JSON array each.
type testLine struct {
	ent.MissionTest
	ExecutorName *string                    `json:"executor_name"`
	ReviewerName *string                    `json:"reviewer_name"`
	AssigneeName *string                    `json:"assignee_name"`
	LevelName    *string                    `json:"level_name"`
	Tags         []*ent.MissionTestMitreTag `json:"tags"`
	Levels       []*ent.DetectionLevel      `json:"levels"`
	Outcomes     []outcomeLine              `json:"outcomes"`
	Scope        []scopeLine                `json:"scope"`
	SigmaRules   []sigmaLine                `json:"sigma_rules"`
	Expected     []expectedrule.Line        `json:"expected"`
}

// sigmaLine is a catalogue rule the test expects (mission_test_rules).
type sigmaLine struct {
	UID   string `json:"uid"`
	Title string `json:"title"`
	Level string `json:"level"`
}

// appendExpected adds the rules the test expects to fire to the test's
// statement (loadTest's selector s): the catalogue's, deleted rules left
// out, by title, and the free names per tool with their tools' names.
func appendExpected(s *entsql.Selector) {
	s.AppendSelectAs(`(SELECT json_agg(json_build_object('uid', r.rule_uid, 'title', r.title, 'level', r.level)
		ORDER BY r.title, r.id)
		FROM mission_test_rules mr JOIN detection_rules r ON r.id = mr.detection_rule_id AND r.deleted_at IS NULL
		WHERE mr.mission_test_id = `+s.C(missiontest.FieldID)+`)`, "sigma_rules")
	s.AppendSelectAs(expectedrule.SQL(s.C(missiontest.FieldExpectedRules)), "expected")
}

// expectedOf is what the blue panel shows of the rules l expects: the
// free ones of a tool with a row in rows go to that row.
func expectedOf(l *testLine, rows []mtviews.Outcome) mtviews.Expected {
	e := mtviews.Expected{Free: expectedrule.Shown(l.Expected), ByTool: map[string][]string{}}
	for _, r := range l.SigmaRules {
		e.Sigma = append(e.Sigma, mtviews.SigmaRule{UID: r.UID, Title: r.Title, Level: r.Level})
	}
	hasRow := map[string]bool{}
	for _, o := range rows {
		hasRow[o.Tool] = true
	}
	for i, r := range l.Expected {
		if hasRow[r.ToolID] {
			e.ByTool[r.ToolID] = append(e.ByTool[r.ToolID], r.Name)
		} else {
			e.Others = append(e.Others, e.Free[i])
		}
	}
	return e
}

// loadTest is LoadTest in one statement (the issue 19 budget of the test
// page: the joins and two small JSON subqueries cost less than the four
// round trips of ent's eager loading). withLevels adds the detection
// scale the blue form offers: every level not retired, and the test's own.
// The people are read as ent's soft delete reads them (deleted accounts
// are not named).
func loadTest(ctx context.Context, client *ent.Client, a *Access, id uuid.UUID, withLevels bool) (*testLine, error) {
	person := func(s *entsql.Selector, alias, column, as string) {
		u := entsql.Table(user.Table).As(alias)
		s.LeftJoin(u).OnP(entsql.And(entsql.ColumnsEQ(s.C(column), u.C(user.FieldID)), entsql.IsNull(u.C(user.FieldDeletedAt))))
		s.AppendSelectAs(u.C(user.FieldDisplayName), as)
	}
	join := func(s *entsql.Selector) string {
		person(s, "ex", missiontest.FieldExecutedByID, "executor_name")
		person(s, "rv", missiontest.FieldReviewedByID, "reviewer_name")
		person(s, "asg", missiontest.FieldAssigneeID, "assignee_name")
		dl := entsql.Table(detectionlevel.Table).As("dl")
		s.LeftJoin(dl).On(s.C(missiontest.FieldDetectionLevelID), dl.C(detectionlevel.FieldID))
		if withLevels {
			// The outcomes' own retired levels too: a row keeps its level.
			s.AppendSelectAs(`(SELECT json_agg(json_build_object('id', l.id, 'name', l.name, 'retired', l.retired)
				ORDER BY l.position, l.name) FROM detection_levels l
				WHERE NOT l.retired OR l.id = `+s.C(missiontest.FieldDetectionLevelID)+`
				OR l.id IN (SELECT o.detection_level_id FROM mission_test_outcomes o WHERE o.mission_test_id = `+s.C(missiontest.FieldID)+`))`, "levels")
		}
		appendOutcomes(s)
		appendExpected(s)
		s.AppendSelectAs(`(SELECT json_agg(json_build_object('id', g.id, 'kind', g.kind, 'external_id', g.external_id,
			'name', g.name, 'url', g.url, 'tactics', g.tactics) ORDER BY g.external_id, g.id)
			FROM mission_test_mitre_tags g WHERE g.mission_test_id = `+s.C(missiontest.FieldID)+`)`, "tags")
		return entsql.As(dl.C(detectionlevel.FieldName), "level_name")
	}
	var lines []testLine
	err := client.MissionTest.Query().
		Where(missiontest.ID(id), missiontest.MissionID(a.Mission.ID)).
		Select(missiontest.Columns...).Aggregate(join).Scan(ctx, &lines)
	switch {
	case err != nil:
		return nil, fmt.Errorf("load mission test: %w", err)
	case len(lines) == 0:
		return nil, fmt.Errorf("load mission test: %w", &ent.NotFoundError{})
	}
	l := &lines[0]
	t := &l.MissionTest
	name := func(id *uuid.UUID, n *string) *ent.User {
		if id == nil || n == nil {
			return nil
		}
		return &ent.User{ID: *id, DisplayName: *n}
	}
	t.Edges.ExecutedBy = name(t.ExecutedByID, l.ExecutorName)
	t.Edges.ReviewedBy = name(t.ReviewedByID, l.ReviewerName)
	t.Edges.Assignee = name(t.AssigneeID, l.AssigneeName)
	if t.DetectionLevelID != nil && l.LevelName != nil {
		t.Edges.DetectionLevel = &ent.DetectionLevel{ID: *t.DetectionLevelID, Name: *l.LevelName}
	}
	t.Edges.MitreTags = l.Tags
	return l, nil
}

// TestPage is the page of test id of a's mission (LoadTest, then the
// work block: at most eight queries).
func TestPage(ctx context.Context, client *ent.Client, a *Access, id uuid.UUID) (mtviews.Page, error) {
	l, err := loadTest(ctx, client, a, id, a.CanWriteBlue() && !a.Archived())
	if err != nil {
		return mtviews.Page{}, err
	}
	t := &l.MissionTest
	w, err := testWork(ctx, client, a, l)
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
// state allow, and the history. One query: the test's audit events with
// their actors; the detection scale of a blue form came with the test
// (levels, loadTest).
func testWork(ctx context.Context, client *ent.Client, a *Access, l *testLine) (mtviews.Work, error) {
	t, levels := &l.MissionTest, l.Levels
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
	w.Blue = mtviews.Blue{Editable: a.CanWriteBlue() && !archived && t.ReleasedToBlue, Overall: blueSaved(ctx, t)}
	w.Blue.Form, w.Blue.Outcomes = outcomeRows(ctx, l)
	w.Blue.Expected = expectedOf(l, w.Blue.Outcomes)
	if w.Blue.Editable {
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
	// The actors' current names come in the same statement (a deleted
	// account keeps the label recorded with the event).
	var events []struct {
		ent.AuditEvent
		ActorName *string `json:"actor_name"`
	}
	actor := func(s *entsql.Selector) string {
		u := entsql.Table(user.Table).As("au")
		s.LeftJoin(u).OnP(entsql.And(entsql.ColumnsEQ(s.C(auditevent.FieldActorID), u.C(user.FieldID)),
			entsql.IsNull(u.C(user.FieldDeletedAt))))
		return entsql.As(u.C(user.FieldDisplayName), "actor_name")
	}
	err := client.AuditEvent.Query().
		Where(auditevent.TargetType(TestTarget), auditevent.TargetID(id.String())).
		Order(auditevent.ByCreatedAt(), auditevent.ByID()).
		Limit(testHistoryMax).
		Select(auditevent.Columns...).Aggregate(actor).Scan(ctx, &events)
	if err != nil {
		return nil, fmt.Errorf("load mission test audit: %w", err)
	}
	out := make([]mtviews.Event, 0, len(events))
	for _, e := range events {
		who := e.ActorLabel
		if e.ActorName != nil && *e.ActorName != "" {
			who = *e.ActorName
		}
		key, ok := testAuditKeys[e.Action]
		if !ok {
			key = "missions.test.event_other"
		}
		out = append(out, mtviews.Event{Key: key, Who: who, Action: e.Action, At: e.CreatedAt, Audited: true})
	}
	return out, nil
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
