package missionread

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontestoutcome"
	"violet/ent/predicate"
)

// Outcome is one outcome of a test as the CSV and JSON exports write it
// (issue 20): the tool (its name and kind; none for the outcome without a
// tool), the level, when, the alert and the log source.
type Outcome struct {
	ToolID     *uuid.UUID
	Tool       string // "" for the outcome without a tool
	Kind       string // the tool's kind, "" without a tool
	Level      string // "" when no level is recorded
	Detected   bool   // the level counts as detected
	DetectedAt *time.Time
	AlertName  string
	LogSource  string
	Notes      string
	LevelID    *uuid.UUID
	Version    int // the outcome's, for the API's writes
}

// outcomeLine is one row of Outcomes' query.
type outcomeLine struct {
	ent.MissionTestOutcome
	ToolName      *string `json:"tool_name"`
	ToolKind      *string `json:"tool_kind"`
	LevelName     *string `json:"level_name"`
	LevelDetected *bool   `json:"level_detected"`
}

// Outcomes reads the outcomes of the mission's tests the viewer may see
// (the outcomes' privacy policy is their test's), per test, in one
// statement: the tools by name, the outcome without a tool last. A tool
// since deleted or taken out of the scope is still named: the exports
// archive what was recorded.
func Outcomes(ctx context.Context, client *ent.Client, missionID uuid.UUID) (map[uuid.UUID][]Outcome, error) {
	return outcomes(ctx, client, predicate.MissionTestOutcome(func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString(s.C(missiontestoutcome.FieldMissionTestID) +
				" IN (SELECT id FROM mission_tests WHERE deleted_at IS NULL AND mission_id = ").Arg(missionID).WriteString(")")
		}))
	}))
}

// TestOutcomes reads one test's outcomes as Outcomes does (the API's test).
func TestOutcomes(ctx context.Context, client *ent.Client, testID uuid.UUID) ([]Outcome, error) {
	out, err := outcomes(ctx, client, missiontestoutcome.MissionTestID(testID))
	return out[testID], err
}

func outcomes(ctx context.Context, client *ent.Client, where predicate.MissionTestOutcome) (map[uuid.UUID][]Outcome, error) {
	var lines []outcomeLine
	err := client.MissionTestOutcome.Query().
		Where(where).
		Select(missiontestoutcome.Columns...).
		Aggregate(func(s *sql.Selector) string {
			tl, ol := sql.Table("defensive_tools").As("otl"), sql.Table("detection_levels").As("oll")
			s.LeftJoin(tl).On(s.C(missiontestoutcome.FieldToolID), tl.C("id"))
			s.LeftJoin(ol).On(s.C(missiontestoutcome.FieldDetectionLevelID), ol.C("id"))
			s.AppendSelectAs(tl.C("kind"), "tool_kind")
			s.AppendSelectAs(ol.C("name"), "level_name")
			s.AppendSelectAs(ol.C("counts_as_detected"), "level_detected")
			return sql.As(tl.C("name"), "tool_name")
		}).
		Scan(ctx, &lines)
	if err != nil {
		return nil, fmt.Errorf("load outcomes: %w", err)
	}
	out := map[uuid.UUID][]Outcome{}
	for _, l := range lines {
		out[l.MissionTestID] = append(out[l.MissionTestID], Outcome{
			ToolID: l.ToolID, Tool: deref(l.ToolName), Kind: deref(l.ToolKind), Level: deref(l.LevelName),
			Detected: deref(l.LevelDetected), DetectedAt: l.DetectedAt, AlertName: l.AlertName, LogSource: l.LogSource,
			Notes: l.Notes, LevelID: l.DetectionLevelID, Version: l.Version,
		})
	}
	for _, os := range out {
		slices.SortFunc(os, func(a, b Outcome) int {
			if (a.ToolID == nil) != (b.ToolID == nil) {
				if a.ToolID == nil {
					return 1
				}
				return -1
			}
			return cmp.Or(strings.Compare(a.Tool, b.Tool), strings.Compare(fmt.Sprint(a.ToolID), fmt.Sprint(b.ToolID)))
		})
	}
	return out, nil
}
