package mission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	mtviews "violet/views/missiontest"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/ent/missiontestoutcome"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/database"
)

// Outcomes per defensive tool (issue 20). A released test has at most one
// outcome per tool of its mission's scope and at most one without a tool
// (blue's own observation when no tool fits; where the single detection
// of a test recorded before outcomes per tool was moved). The test's own
// blue columns are its overall result, which every other reader (figures,
// queues, report, exports, Navigator) uses: it is DERIVED from the
// outcomes, in the transaction of each change, and written by nobody
// else, so the two never disagree:
//
//   - the outcome with the best level wins: the highest score, ties by the
//     scale's position (the order of the scale, best first);
//   - among the outcomes of that level, the earliest detection (an outcome
//     without a time last), then the one without a tool, then the oldest;
//   - the overall result is that outcome's level, time, alert, log source
//     and notes: the detection time is thus the earliest time of the best
//     level (not the earliest time overall), the time to detect the best
//     control took, which is what the figures' time to detect means;
//   - outcomes without a level rank below any level; no outcome left
//     clears the overall result.

// NoTool names the outcome without a tool in OutcomeInput.Tool: the value
// the page's forms send (views/missiontest).
const NoTool = mtviews.NoTool

// OutcomeInput is one outcome's form as sent: the tool (its id, NoTool for
// the outcome without a tool), the version of the outcome the page showed
// (0: it showed none) and the fields, read as the blue form's.
type OutcomeInput struct {
	Tool    string
	Version int
	Clear   bool // remove the outcome (ClearOutcome), whatever the fields
	Fields  BlueInput
}

// OutcomeSaved is what a saved or cleared outcome leaves: the outcome's
// new version (0 once cleared), and the test's version as the save found
// it (under its lock) and as it left it (the same when nothing changed).
type OutcomeSaved struct {
	Version         int
	TestVersionFrom int
	TestVersion     int
}

// Empty reports whether the form records nothing: saving it removes the
// outcome, as an outcome is something a tool (or blue) saw.
func (in BlueInput) Empty() bool {
	in = in.Normalize()
	return in.Level == "" && in.DetectedAt == "" && in.AlertName == "" && in.LogSource == "" && strings.TrimSpace(in.Notes) == ""
}

// SaveOutcome records the outcome of one tool of the mission's scope (or
// the one without a tool) on a released test, by blue members, leads and
// mission managers: one transaction with the test's row locked, the
// outcome's version checked (ErrConflict when it changed since the page
// showed it), the overall result derived, the audit event naming the tool
// and the changed fields, the live event. Invalid fields are an
// *app.Invalid (a tool outside the scope too); a test not released is
// ErrNotReleased. A form with nothing in it, or in.Clear, clears the
// outcome.
func (s *Steps) SaveOutcome(ctx context.Context, a *Access, testID uuid.UUID, in OutcomeInput) (OutcomeSaved, error) {
	if in.Clear {
		return s.ClearOutcome(ctx, a, testID, in.Tool, in.Version)
	}
	return s.outcomeStep(ctx, a, testID, in.Tool, in.Version, false, func(c *ent.Client, t *ent.MissionTest, tool *ent.DefensiveTool, o *ent.MissionTestOutcome) (*ent.MissionTestOutcome, []string, error) {
		if tool != nil && o == nil && !tool.Active {
			// An inactive tool is no longer offered; one already recorded
			// stays editable.
			return nil, nil, app.Invalidf("tool", "outcomes.tool_inactive")
		}
		if in.Fields.Empty() {
			if o == nil {
				return nil, nil, nil
			}
			return nil, changedFields(o, BlueFields{}), deleteOutcome(ctx, c, o)
		}
		f, err := s.outcomeFields(ctx, c, t, o, in.Fields.Normalize())
		if err != nil {
			return nil, nil, err
		}
		changed := changedFields(o, f)
		o, err = writeOutcome(ctx, c, a, t.ID, tool, o, f)
		return o, changed, err
	})
}

// ClearOutcome removes the outcome of a tool (or the one without a tool)
// from a released test and derives the overall result again, like
// SaveOutcome. A tool since taken out of the scope, made inactive or
// deleted can still be cleared.
func (s *Steps) ClearOutcome(ctx context.Context, a *Access, testID uuid.UUID, tool string, version int) (OutcomeSaved, error) {
	return s.outcomeStep(ctx, a, testID, tool, version, true, func(c *ent.Client, _ *ent.MissionTest, _ *ent.DefensiveTool, o *ent.MissionTestOutcome) (*ent.MissionTestOutcome, []string, error) {
		if o == nil {
			return nil, nil, nil
		}
		return nil, changedFields(o, BlueFields{}), deleteOutcome(ctx, c, o)
	})
}

// outcomeStep runs one change of an outcome: the checks every change
// shares (role, archive, the test locked and released, the tool — in the
// scope, unless clearing —, the outcome's version), then change, then the derived overall result, the
// audit event and the live event. change returns the outcome as saved
// (nil once removed) and the fields it changed (none: nothing happened,
// nothing is recorded).
func (s *Steps) outcomeStep(ctx context.Context, a *Access, testID uuid.UUID, rawTool string, version int, clearing bool,
	change func(c *ent.Client, t *ent.MissionTest, tool *ent.DefensiveTool, o *ent.MissionTestOutcome) (*ent.MissionTestOutcome, []string, error)) (OutcomeSaved, error) {
	var out OutcomeSaved
	if err := a.check(a.CanWriteBlue()); err != nil {
		return out, err
	}
	toolID, err := parseTool(rawTool)
	if err != nil {
		return out, err
	}
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		c := tx.Client()
		// The test's row is locked for the whole change: two outcomes
		// saved at once derive the overall result one after the other.
		t, err := c.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).
			ForUpdate().Only(ctx)
		if err != nil {
			return err // not found, or not visible to this viewer
		}
		if !t.ReleasedToBlue {
			return ErrNotReleased
		}
		if err := keepUntooledResult(ctx, c, t); err != nil {
			return err
		}
		o, err := outcomeOf(ctx, c, t.ID, toolID)
		if err != nil {
			return err
		}
		var tool *ent.DefensiveTool
		if toolID != nil {
			if tool, err = scopeTool(ctx, c, a, *toolID, clearing && o != nil); err != nil {
				return err
			}
		}
		switch {
		case o == nil && version != 0, o != nil && o.Version != version:
			return ErrConflict // recorded, changed or cleared by someone else since
		}
		saved, changed, err := change(c, t, tool, o)
		if err != nil {
			return err
		}
		if saved != nil {
			out.Version = saved.Version
		}
		out.TestVersionFrom = t.Version
		if len(changed) == 0 {
			// Nothing to record: keepUntooledResult's row, if it wrote
			// one, goes with the rollback too.
			out.TestVersion = t.Version
			return errUnchanged
		}
		if out.TestVersion, err = deriveOverall(ctx, c, t); err != nil {
			return err
		}
		ev := TestEvent(a, t, audit.MissionTestBlueSaved)
		ev.Details["tool"] = ""
		if toolID != nil {
			ev.Details["tool_id"] = toolID.String()
			if tool != nil {
				ev.Details["tool"] = tool.Name
			}
		}
		ev.Details["changed"] = changed
		ev.Details["cleared"] = saved == nil
		if err := audit.Record(ctx, tx.AuditEvent, ev); err != nil {
			return err
		}
		return s.announce(ctx, tx, a, t, audit.MissionTestBlueSaved)
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	return out, err
}

// keepUntooledResult makes a result the test holds without any outcome
// (written before outcomes per tool other than through the migration:
// fixtures, SQL) its outcome without a tool, before the first outcome of
// a tool derives the overall result from the outcomes alone and would
// drop it.
func keepUntooledResult(ctx context.Context, c *ent.Client, t *ent.MissionTest) error {
	if t.DetectionLevelID == nil && t.DetectedAt == nil && t.AlertName == "" && t.LogSource == "" && t.BlueNotes == "" {
		return nil
	}
	some, err := c.MissionTestOutcome.Query().Where(missiontestoutcome.MissionTestID(t.ID)).Exist(ctx)
	if err != nil || some {
		return err
	}
	return c.MissionTestOutcome.Create().SetMissionTestID(t.ID).
		SetNillableDetectionLevelID(t.DetectionLevelID).SetNillableDetectedAt(t.DetectedAt).
		SetAlertName(t.AlertName).SetLogSource(t.LogSource).SetNotes(t.BlueNotes).Exec(ctx)
}

// parseTool reads the tool of a form: NoTool (or nothing) for the outcome
// without a tool, else a tool's id.
func parseTool(raw string) (*uuid.UUID, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == NoTool {
		return nil, nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, app.Invalidf("tool", "outcomes.tool_not_in_scope")
	}
	return &id, nil
}

// scopeTool is tool id when it is in the scope of a's mission; a tool
// deleted, of another mission's scope or of none is refused next to the
// row (an *app.Invalid), unless recorded is true (the clear of a recorded
// outcome): then a tool taken out of the scope since is still found (nil
// when deleted).
func scopeTool(ctx context.Context, c *ent.Client, a *Access, id uuid.UUID, recorded bool) (*ent.DefensiveTool, error) {
	tool, err := c.DefensiveTool.Query().
		Where(defensivetool.ID(id), defensivetool.HasMissionsWith(mission.ID(a.Mission.ID))).Only(ctx)
	switch {
	case ent.IsNotFound(err) && recorded:
		tool, err := c.DefensiveTool.Query().Where(defensivetool.ID(id)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, nil // deleted since: its outcome can still be cleared
		}
		return tool, err
	case ent.IsNotFound(err):
		return nil, app.Invalidf("tool", "outcomes.tool_not_in_scope")
	case err != nil:
		return nil, fmt.Errorf("load defensive tool: %w", err)
	}
	return tool, nil
}

// outcomeOf is the test's outcome of tool (nil: the one without a tool),
// nil when none is recorded.
func outcomeOf(ctx context.Context, c *ent.Client, testID uuid.UUID, tool *uuid.UUID) (*ent.MissionTestOutcome, error) {
	q := c.MissionTestOutcome.Query().Where(missiontestoutcome.MissionTestID(testID))
	if tool == nil {
		q.Where(missiontestoutcome.ToolIDIsNil())
	} else {
		q.Where(missiontestoutcome.ToolID(*tool))
	}
	o, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load outcome: %w", err)
	}
	return o, nil
}

// outcomeFields validates one outcome's fields like the blue form's
// (blueFields): a retired level is kept only when it is the one already
// recorded, the detection time follows CheckDetectedAt.
func (s *Steps) outcomeFields(ctx context.Context, c *ent.Client, t *ent.MissionTest, o *ent.MissionTestOutcome, in BlueInput) (BlueFields, error) {
	saved := &ent.MissionTest{StartedAt: t.StartedAt}
	if o != nil {
		saved.DetectionLevelID, saved.DetectedAt = o.DetectionLevelID, o.DetectedAt
	}
	return s.blueFields(ctx, c, saved, in)
}

// changedFields names the fields f changes in o (every field recorded
// when o is nil), in the form's order.
func changedFields(o *ent.MissionTestOutcome, f BlueFields) []string {
	if o == nil {
		o = &ent.MissionTestOutcome{}
	}
	var out []string
	if !sameID(o.DetectionLevelID, f.DetectionLevelID) {
		out = append(out, "detection_level")
	}
	if !sameTime(o.DetectedAt, f.DetectedAt) {
		out = append(out, "detected_at")
	}
	if o.AlertName != strings.TrimSpace(f.AlertName) {
		out = append(out, "alert_name")
	}
	if o.LogSource != strings.TrimSpace(f.LogSource) {
		out = append(out, "log_source")
	}
	if o.Notes != f.Notes {
		out = append(out, "notes")
	}
	return out
}

func sameTime(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }

// writeOutcome records f as the test's outcome of tool (nil: without a
// tool): a new one, or o updated at the version read (the test's row is
// locked, so nobody changed it since). An outcome recording nothing is
// removed instead.
func writeOutcome(ctx context.Context, c *ent.Client, a *Access, testID uuid.UUID, tool *ent.DefensiveTool,
	o *ent.MissionTestOutcome, f BlueFields) (*ent.MissionTestOutcome, error) {
	if f.DetectionLevelID == nil && f.DetectedAt == nil && strings.TrimSpace(f.AlertName) == "" &&
		strings.TrimSpace(f.LogSource) == "" && strings.TrimSpace(f.Notes) == "" {
		if o != nil {
			return nil, deleteOutcome(ctx, c, o)
		}
		return nil, nil
	}
	if o == nil {
		cr := c.MissionTestOutcome.Create().SetMissionTestID(testID).
			SetNillableDetectionLevelID(f.DetectionLevelID).SetNillableDetectedAt(f.DetectedAt).
			SetAlertName(strings.TrimSpace(f.AlertName)).SetLogSource(strings.TrimSpace(f.LogSource)).
			SetNotes(f.Notes).SetRecordedByID(a.Viewer.UserID)
		if tool != nil {
			cr.SetToolID(tool.ID)
		}
		saved, err := cr.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("record outcome: %w", err)
		}
		return saved, nil
	}
	u := c.MissionTestOutcome.UpdateOneID(o.ID).Where(missiontestoutcome.Version(o.Version)).AddVersion(1).
		SetAlertName(strings.TrimSpace(f.AlertName)).SetLogSource(strings.TrimSpace(f.LogSource)).
		SetNotes(f.Notes).SetRecordedByID(a.Viewer.UserID)
	if f.DetectionLevelID != nil {
		u.SetDetectionLevelID(*f.DetectionLevelID)
	} else {
		u.ClearDetectionLevelID()
	}
	if f.DetectedAt != nil {
		u.SetDetectedAt(*f.DetectedAt)
	} else {
		u.ClearDetectedAt()
	}
	saved, err := u.Save(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrConflict
	}
	if err != nil {
		return nil, fmt.Errorf("record outcome: %w", err)
	}
	return saved, nil
}

// deleteOutcome removes o at the version read.
func deleteOutcome(ctx context.Context, c *ent.Client, o *ent.MissionTestOutcome) error {
	n, err := c.MissionTestOutcome.Delete().
		Where(missiontestoutcome.ID(o.ID), missiontestoutcome.Version(o.Version)).Exec(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("clear outcome: %w", err)
	case n == 0:
		return ErrConflict
	}
	return nil
}

// deriveOverall writes the test's overall result from its outcomes (the
// rule at the top of this file) and bumps the test's version, which t
// holds as read under the row's lock. It returns the new version.
func deriveOverall(ctx context.Context, c *ent.Client, t *ent.MissionTest) (int, error) {
	outcomes, err := c.MissionTestOutcome.Query().Where(missiontestoutcome.MissionTestID(t.ID)).
		WithDetectionLevel().All(ctx)
	if err != nil {
		return 0, fmt.Errorf("load outcomes: %w", err)
	}
	best := BestOutcome(outcomes)
	u := c.MissionTest.UpdateOneID(t.ID).Where(missiontest.Version(t.Version)).AddVersion(1)
	if best == nil {
		u.ClearDetectionLevelID().ClearDetectedAt().SetAlertName("").SetLogSource("").SetBlueNotes("")
	} else {
		u.SetNillableDetectionLevelID(best.DetectionLevelID).SetNillableDetectedAt(best.DetectedAt).
			SetAlertName(best.AlertName).SetLogSource(best.LogSource).SetBlueNotes(best.Notes)
		if best.DetectionLevelID == nil {
			u.ClearDetectionLevelID()
		}
		if best.DetectedAt == nil {
			u.ClearDetectedAt()
		}
	}
	if err := u.Exec(ctx); err != nil {
		if ent.IsNotFound(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("derive overall result: %w", err)
	}
	t.Version++
	return t.Version, nil
}

// BestOutcome is the outcome the overall result is taken from (the rule
// at the top of this file), nil for none; each outcome's level edge must
// be loaded.
func BestOutcome(outcomes []*ent.MissionTestOutcome) *ent.MissionTestOutcome {
	if len(outcomes) == 0 {
		return nil
	}
	sorted := slices.Clone(outcomes)
	slices.SortStableFunc(sorted, compareOutcomes)
	return sorted[0]
}

// compareOutcomes orders outcomes best first.
func compareOutcomes(x, y *ent.MissionTestOutcome) int {
	lx, ly := x.Edges.DetectionLevel, y.Edges.DetectionLevel
	switch {
	case (lx == nil) != (ly == nil):
		if lx == nil {
			return 1
		}
		return -1
	case lx != nil && lx.Score != ly.Score:
		return ly.Score - lx.Score
	case lx != nil && lx.Position != ly.Position:
		return lx.Position - ly.Position
	case (x.DetectedAt == nil) != (y.DetectedAt == nil):
		if x.DetectedAt == nil {
			return 1
		}
		return -1
	case x.DetectedAt != nil && !x.DetectedAt.Equal(*y.DetectedAt):
		return x.DetectedAt.Compare(*y.DetectedAt)
	case (x.ToolID == nil) != (y.ToolID == nil):
		if x.ToolID == nil {
			return -1
		}
		return 1
	}
	return x.CreatedAt.Compare(y.CreatedAt)
}
