package api

import (
	"context"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/mission"
	"violet/internal/missionread"
)

// testOf shapes one test with the names it refers to.
func testOf(t *ent.MissionTest, number int, category, scenario, level *string, tags []Tag, outcomes []missionread.Outcome) Test {
	out := Test{
		Id: t.ID, MissionId: t.MissionID, Number: number, Name: t.Name,
		Description: &t.Description, Procedure: &t.Procedure,
		State: TestState(t.State), ReleasedToBlue: t.ReleasedToBlue,
		Category: category, Scenario: scenario, DetectionLevel: level, Tags: tags,
		Red: Red{
			Command: t.Command, SourceHost: t.SourceHost, TargetHost: t.TargetHost, TargetUser: t.TargetUser,
			Executor: t.Executor, Notes: t.RedNotes, StartedAt: t.StartedAt, EndedAt: t.EndedAt,
		},
		Outcomes: make([]Outcome, 0, len(outcomes)), ReviewedAt: t.ReviewedAt, Version: t.Version,
	}
	if out.Tags == nil {
		out.Tags = []Tag{}
	}
	for _, o := range outcomes {
		id := mission.NoTool
		if o.ToolID != nil {
			id = o.ToolID.String()
		}
		oo := Outcome{
			ToolId: id, ToolName: o.Tool, DetectionLevelId: o.LevelID, DetectedAt: o.DetectedAt,
			AlertName: o.AlertName, LogSource: o.LogSource, Notes: o.Notes, Version: o.Version,
		}
		if o.Level != "" {
			oo.DetectionLevel = &o.Level
		}
		out.Outcomes = append(out.Outcomes, oo)
	}
	return out
}

// ListMissionTests lists a mission's tests in plan order, as the overview
// reads them (the same privacy: blue members see released tests only).
func (s *Server) ListMissionTests(ctx context.Context, req ListMissionTestsRequestObject) (ListMissionTestsResponseObject, error) {
	from, err := decodeCursor(req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	a, err := s.access(ctx, req.MissionId)
	if err != nil {
		return nil, err
	}
	var f missionread.Filter
	if p := req.Params; p.State != nil {
		f.State = string(*p.State)
	}
	if p := req.Params; p.Queue != nil {
		f.Queue = string(*p.Queue)
	}
	if p := req.Params; p.Tactic != nil {
		f.Tactic = *p.Tactic
	}
	if p := req.Params; p.Q != nil {
		f.Q = *p.Q
	}
	listed, err := missionread.Tests(ctx, s.d.Ent, a, missionread.Everything, f)
	if err != nil {
		return nil, err
	}
	outcomes, err := missionread.Outcomes(ctx, s.d.Ent, a.Mission.ID)
	if err != nil {
		return nil, err
	}
	rows, next := page(listed.Tests, from, limitOf(req.Params.Limit))
	out := TestPage{Items: make([]Test, 0, len(rows)), NextCursor: next}
	for _, t := range rows {
		var category, scenario, level *string
		if t.Category != nil {
			category = &t.Category.Name
		}
		if t.Scenario != nil {
			scenario = &t.Scenario.Name
		}
		if t.Level != nil {
			level = &t.Level.Name
		}
		tags := make([]Tag, 0, len(t.Tags))
		for _, g := range t.Tags {
			tags = append(tags, Tag{Kind: TagKind(g.Kind), ExternalId: g.ExternalID, Name: g.Name})
		}
		out.Items = append(out.Items, testOf(t.MissionTest, t.Number, category, scenario, level, tags, outcomes[t.ID]))
	}
	return ListMissionTests200JSONResponse(out), nil
}

// loadTest reads one test the owner may see, with its outcomes.
func (s *Server) loadTest(ctx context.Context, a *mission.Access, id uuid.UUID) (Test, error) {
	t, err := mission.LoadTest(ctx, s.d.Ent, a, id)
	if err != nil {
		return Test{}, err
	}
	outcomes, err := missionread.TestOutcomes(ctx, s.d.Ent, t.ID)
	if err != nil {
		return Test{}, err
	}
	var level *string
	if l := t.Edges.DetectionLevel; l != nil {
		level = &l.Name
	}
	tags := make([]Tag, 0, len(t.Edges.MitreTags))
	for _, g := range t.Edges.MitreTags {
		tags = append(tags, Tag{Kind: TagKind(g.Kind), ExternalId: g.ExternalID, Name: g.Name})
	}
	return testOf(t, t.Position, nil, nil, level, tags, outcomes), nil
}

// testRequest is what every test operation starts with: the owner's
// access to the mission and the test, checked against If-Match when the
// operation writes.
func (s *Server) testRequest(ctx context.Context, missionID, testID uuid.UUID, match *string) (*mission.Access, Test, int, error) {
	a, err := s.access(ctx, missionID)
	if err != nil {
		return nil, Test{}, 0, err
	}
	t, err := s.loadTest(ctx, a, testID)
	if err != nil {
		return nil, Test{}, 0, err
	}
	if match == nil {
		return a, t, t.Version, nil
	}
	v, err := ifMatch(*match)
	if err != nil || v != 0 && v != t.Version {
		return nil, Test{}, 0, ErrPrecondition
	}
	// The workflow checks the version again under the test's lock, so a
	// write between this read and it is a 412 too (stale).
	return a, t, t.Version, nil
}

// after reads the test again once a write committed.
func (s *Server) after(ctx context.Context, a *mission.Access, id uuid.UUID) (Test, *string, error) {
	t, err := s.loadTest(ctx, a, id)
	if err != nil {
		return Test{}, nil, err
	}
	tag := etag(t.Version)
	return t, &tag, nil
}

// GetMissionTest returns one test with its ETag.
func (s *Server) GetMissionTest(ctx context.Context, req GetMissionTestRequestObject) (GetMissionTestResponseObject, error) {
	_, t, _, err := s.testRequest(ctx, req.MissionId, req.TestId, nil)
	if err != nil {
		return nil, err
	}
	tag := etag(t.Version)
	return GetMissionTest200JSONResponse{Body: t, Headers: GetMissionTest200ResponseHeaders{ETag: &tag}}, nil
}

// SaveRedFields saves the red record and, when asked, starts or stops the
// run in the same transaction (mission.Steps, as the red form's buttons).
func (s *Server) SaveRedFields(ctx context.Context, req SaveRedFieldsRequestObject) (SaveRedFieldsResponseObject, error) {
	match := req.Params.IfMatch
	a, cur, version, err := s.testRequest(ctx, req.MissionId, req.TestId, &match)
	if err != nil {
		return nil, err
	}
	b := req.Body
	f := mission.RedFields{
		Command: cur.Red.Command, SourceHost: cur.Red.SourceHost, TargetHost: cur.Red.TargetHost, Notes: cur.Red.Notes,
		StartedAt: cur.Red.StartedAt, EndedAt: cur.Red.EndedAt,
	}
	// Fields left out keep their value: a script sends what it knows.
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&f.Command, b.Command)
	set(&f.SourceHost, b.SourceHost)
	set(&f.TargetHost, b.TargetHost)
	set(&f.Notes, b.Notes)
	if b.StartedAt != nil {
		f.StartedAt = utc(*b.StartedAt)
	}
	if b.EndedAt != nil {
		f.EndedAt = utc(*b.EndedAt)
	}
	steps := s.d.Steps
	step := RedInputStepSave
	if b.Step != nil {
		step = *b.Step
	}
	switch step {
	case RedInputStepStart:
		_, err = steps.Start(ctx, a, req.TestId, version, &f)
	case RedInputStepStop:
		_, err = steps.Stop(ctx, a, req.TestId, version, &f)
	default:
		_, err = steps.SaveRed(ctx, a, req.TestId, version, f)
	}
	if err != nil {
		return nil, stale(err)
	}
	t, tag, err := s.after(ctx, a, req.TestId)
	if err != nil {
		return nil, err
	}
	return SaveRedFields200JSONResponse{Body: t, Headers: SaveRedFields200ResponseHeaders{ETag: tag}}, nil
}

func utc(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}

// ReleaseTest releases the test to the blue team.
func (s *Server) ReleaseTest(ctx context.Context, req ReleaseTestRequestObject) (ReleaseTestResponseObject, error) {
	match := req.Params.IfMatch
	a, _, version, err := s.testRequest(ctx, req.MissionId, req.TestId, &match)
	if err != nil {
		return nil, err
	}
	if _, err := s.d.Steps.Release(ctx, a, req.TestId, version, nil); err != nil {
		return nil, stale(err)
	}
	t, tag, err := s.after(ctx, a, req.TestId)
	if err != nil {
		return nil, err
	}
	return ReleaseTest200JSONResponse{Body: t, Headers: ReleaseTest200ResponseHeaders{ETag: tag}}, nil
}

// ReviewTest marks the test reviewed.
func (s *Server) ReviewTest(ctx context.Context, req ReviewTestRequestObject) (ReviewTestResponseObject, error) {
	match := req.Params.IfMatch
	a, _, version, err := s.testRequest(ctx, req.MissionId, req.TestId, &match)
	if err != nil {
		return nil, err
	}
	if _, err := s.d.Steps.Review(ctx, a, req.TestId, version); err != nil {
		return nil, stale(err)
	}
	t, tag, err := s.after(ctx, a, req.TestId)
	if err != nil {
		return nil, err
	}
	return ReviewTest200JSONResponse{Body: t, Headers: ReviewTest200ResponseHeaders{ETag: tag}}, nil
}

// SaveOutcome records one tool's outcome. The test's ETag guards it as it
// guards every write; the outcome's own version, read with the test, is
// then checked under the workflow's lock, as the blue form's is.
func (s *Server) SaveOutcome(ctx context.Context, req SaveOutcomeRequestObject) (SaveOutcomeResponseObject, error) {
	match := req.Params.IfMatch
	a, cur, _, err := s.testRequest(ctx, req.MissionId, req.TestId, &match)
	if err != nil {
		return nil, err
	}
	in := mission.OutcomeInput{Tool: req.ToolId}
	for _, o := range cur.Outcomes {
		if o.ToolId == req.ToolId {
			in.Version = o.Version
		}
	}
	b := req.Body
	if b.DetectionLevelId != nil {
		in.Fields.Level = b.DetectionLevelId.String()
	}
	if b.DetectedAt != nil {
		// The workflow reads the form's wall time in the viewer's zone;
		// the API's context is in UTC.
		in.Fields.DetectedAt = b.DetectedAt.UTC().Format("2006-01-02T15:04:05")
	}
	if b.AlertName != nil {
		in.Fields.AlertName = *b.AlertName
	}
	if b.LogSource != nil {
		in.Fields.LogSource = *b.LogSource
	}
	if b.Notes != nil {
		in.Fields.Notes = *b.Notes
	}
	if _, err := s.d.Steps.SaveOutcome(ctx, a, req.TestId, in); err != nil {
		return nil, stale(err)
	}
	t, tag, err := s.after(ctx, a, req.TestId)
	if err != nil {
		return nil, err
	}
	return SaveOutcome200JSONResponse{Body: t, Headers: SaveOutcome200ResponseHeaders{ETag: tag}}, nil
}
