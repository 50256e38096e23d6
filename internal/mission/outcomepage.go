package mission

import (
	"context"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent/missiontest"
	"violet/internal/i18n"
	mtviews "violet/views/missiontest"
	"violet/views/scale"
)

// The outcomes per tool on the test's page (outcomes.go): read with the
// test in loadTest's one statement, as two JSON subqueries (the test
// page's budget of four statements), past the privacy rules of outcomes
// and tools because the test itself was read through them: an outcome is
// seen with its test, the tools' registry by everyone signed in.

// outcomeLine is one outcome of the test with its level's and its tool's
// names.
type outcomeLine struct {
	ToolID     *uuid.UUID `json:"tool_id"`
	LevelID    *uuid.UUID `json:"level_id"`
	LevelName  *string    `json:"level_name"`
	DetectedAt *time.Time `json:"detected_at"`
	AlertName  string     `json:"alert_name"`
	LogSource  string     `json:"log_source"`
	Notes      string     `json:"notes"`
	Version    int        `json:"version"`
	ToolName   *string    `json:"tool_name"`
	ToolKind   *string    `json:"tool_kind"`
	ToolActive bool       `json:"tool_active"`
}

// scopeLine is one tool of the mission's scope (deleted tools left out).
type scopeLine struct {
	ID     uuid.UUID `json:"id"`
	Name   string    `json:"name"`
	Kind   string    `json:"kind"`
	Active bool      `json:"active"`
}

// appendOutcomes adds the test's outcomes and its mission's scope to the
// test's statement (loadTest's selector s).
func appendOutcomes(s *entsql.Selector) {
	s.AppendSelectAs(`(SELECT json_agg(json_build_object('tool_id', o.tool_id, 'level_id', o.detection_level_id,
		'level_name', ol.name, 'detected_at', o.detected_at, 'alert_name', o.alert_name, 'log_source', o.log_source,
		'notes', o.notes, 'version', o.version, 'tool_name', ot.name, 'tool_kind', ot.kind, 'tool_active', coalesce(ot.active, false)))
		FROM mission_test_outcomes o LEFT JOIN detection_levels ol ON ol.id = o.detection_level_id
		LEFT JOIN defensive_tools ot ON ot.id = o.tool_id
		WHERE o.mission_test_id = `+s.C(missiontest.FieldID)+`)`, "outcomes")
	s.AppendSelectAs(`(SELECT json_agg(json_build_object('id', st.id, 'name', st.name, 'kind', st.kind, 'active', st.active)
		ORDER BY lower(st.name), st.id)
		FROM mission_tools ms JOIN defensive_tools st ON st.id = ms.defensive_tool_id AND st.deleted_at IS NULL
		WHERE ms.mission_id = `+s.C(missiontest.FieldMissionID)+`)`, "scope")
}

// outcomeRows are the blue form of the outcome without a tool (the
// hand-set result; a test with no outcome at all shows its overall result
// there, as recorded before outcomes per tool) and one row per tool: the
// active tools of the scope and any tool with a recorded outcome, by
// name, the tools recorded but no longer in the scope last.
func outcomeRows(ctx context.Context, l *testLine) (mtviews.BlueForm, []mtviews.Outcome) {
	var (
		hand  mtviews.BlueForm
		rows  []mtviews.Outcome
		found = map[uuid.UUID]*outcomeLine{}
	)
	if len(l.Outcomes) == 0 {
		hand = blueSaved(ctx, &l.MissionTest)
	}
	for i := range l.Outcomes {
		o := &l.Outcomes[i]
		if o.ToolID == nil {
			hand = outcomeForm(ctx, o)
		} else {
			found[*o.ToolID] = o
		}
	}
	inScope := map[uuid.UUID]bool{}
	for _, tl := range l.Scope {
		inScope[tl.ID] = true
		o := found[tl.ID]
		if o == nil && !tl.Active {
			continue // no longer offered
		}
		rows = append(rows, outcomeRow(ctx, tl.ID, tl.Name, tl.Kind, !tl.Active, false, o))
	}
	var gone []mtviews.Outcome
	for id, o := range found {
		if inScope[id] {
			continue
		}
		name, kind := "", "other"
		if o.ToolName != nil {
			name = *o.ToolName
		}
		if o.ToolKind != nil {
			kind = *o.ToolKind
		}
		gone = append(gone, outcomeRow(ctx, id, name, kind, !o.ToolActive, true, o))
	}
	slices.SortFunc(gone, func(a, b mtviews.Outcome) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return hand, append(rows, gone...)
}

// outcomeRow is a tool's row, with its outcome o when recorded.
func outcomeRow(ctx context.Context, id uuid.UUID, name, kind string, inactive, outOfScope bool, o *outcomeLine) mtviews.Outcome {
	row := mtviews.Outcome{Tool: id.String(), Name: name, Kind: kind, Inactive: inactive, OutOfScope: outOfScope}
	if o != nil {
		row.Recorded, row.Version, row.Form = true, o.Version, outcomeForm(ctx, o)
	}
	return row
}

// outcomeForm is an outcome as saved, its detection time in the viewer's
// zone as the datetime-local input shows it.
func outcomeForm(ctx context.Context, o *outcomeLine) mtviews.BlueForm {
	f := mtviews.BlueForm{AlertName: o.AlertName, LogSource: o.LogSource, Notes: o.Notes}
	if o.LevelID != nil {
		f.DetectionLevel = o.LevelID.String()
		f.LevelClass = scale.Class(*o.LevelID)
		if o.LevelName != nil {
			f.LevelName = *o.LevelName
		}
	}
	if o.DetectedAt != nil {
		f.DetectedAt = i18n.LocalInput(ctx, *o.DetectedAt)
	}
	return f
}
