package export

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	entmission "violet/ent/mission"
	"violet/ent/missiontestoutcome"
	"violet/ent/predicate"
	"violet/internal/app"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/missionread"
	"violet/internal/navigator"
)

// NavigatorLayer writes the mission as an ATT&CK Navigator layer (format
// 4.5), scored by internal/navigator's rule, in three statements: the
// tests, the detection scale and the catalogue's version. now is the
// export's date.
func NavigatorLayer(ctx context.Context, client *ent.Client, a *mission.Access, now time.Time) (File, error) {
	return navigatorLayer(ctx, client, a, now, nil)
}

// NavigatorToolLayer is NavigatorLayer for one defensive tool of the
// mission's scope (?tool=ID, issue 20): each test is scored by that tool's
// outcome instead of the test's overall result, under the same rule (a
// test the tool has no outcome for, or not executed, is listed but not
// counted); the layer's name and metadata name the tool. A tool that is
// not an id, not in the mission's scope or deleted is app.ErrNotFound;
// no tool ("") is the mission's layer (NavigatorLayer). Five statements:
// the tool, its outcomes, and NavigatorLayer's three.
func NavigatorToolLayer(ctx context.Context, client *ent.Client, a *mission.Access, now time.Time, toolID string) (File, error) {
	if toolID == "" {
		return NavigatorLayer(ctx, client, a, now)
	}
	id, err := uuid.Parse(toolID)
	if err != nil {
		return File{}, fmt.Errorf("tool %q: %w", toolID, app.ErrNotFound)
	}
	tool, err := client.DefensiveTool.Query().
		Where(defensivetool.ID(id), defensivetool.HasMissionsWith(entmission.ID(a.Mission.ID))).
		Only(ctx)
	if ent.IsNotFound(err) {
		return File{}, fmt.Errorf("tool %s of mission %s: %w", id, a.Mission.ID, app.ErrNotFound)
	}
	if err != nil {
		return File{}, fmt.Errorf("load the tool: %w", err)
	}
	// The outcomes' privacy policy is their test's: a blue member reads
	// those of released tests only, as they see only those tests.
	outcomes, err := client.MissionTestOutcome.Query().
		Where(missiontestoutcome.ToolID(id)).
		Where(predicate.MissionTestOutcome(func(s *sql.Selector) {
			s.Where(sql.P(func(b *sql.Builder) {
				b.WriteString(s.C(missiontestoutcome.FieldMissionTestID) +
					" IN (SELECT id FROM mission_tests WHERE mission_id = ").Arg(a.Mission.ID).WriteString(")")
			}))
		})).
		Select(missiontestoutcome.FieldMissionTestID, missiontestoutcome.FieldDetectionLevelID).
		All(ctx)
	if err != nil {
		return File{}, fmt.Errorf("load the tool's outcomes: %w", err)
	}
	levels := make(map[uuid.UUID]*uuid.UUID, len(outcomes))
	for _, o := range outcomes {
		levels[o.MissionTestID] = o.DetectionLevelID
	}
	return navigatorLayer(ctx, client, a, now, &toolLayer{tool: tool, levels: levels})
}

// toolLayer is what a layer of one tool scores by: the tool and its
// outcome's level per test (nil: an outcome without a level).
type toolLayer struct {
	tool   *ent.DefensiveTool
	levels map[uuid.UUID]*uuid.UUID
}

func navigatorLayer(ctx context.Context, client *ent.Client, a *mission.Access, now time.Time, tl *toolLayer) (File, error) {
	listed, err := missionread.Tests(ctx, client, a, missionread.Results, missionread.Filter{})
	if err != nil {
		return File{}, err
	}
	levels, err := missionread.Levels(ctx, client)
	if err != nil {
		return File{}, err
	}
	version, err := missionread.AttackVersion(ctx, client)
	if err != nil {
		return File{}, err
	}
	in := navigator.Input{
		Name: a.Mission.Name, Description: a.Mission.Description, AttackVersion: version, Now: now,
		Labels: navigator.Labels{
			Rule:     i18n.T(ctx, "exports.navigator.rule"),
			State:    func(state string) string { return i18n.T(ctx, "missions.page.state_"+state) },
			NoLevel:  i18n.T(ctx, "exports.navigator.no_level"),
			Mission:  i18n.T(ctx, "exports.navigator.mission"),
			Exported: i18n.T(ctx, "exports.navigator.exported"),
			Catalog:  i18n.T(ctx, "exports.navigator.catalogue"),
			Tests:    i18n.T(ctx, "exports.navigator.scored_tests"),
		},
	}
	for _, l := range levels {
		in.Levels = append(in.Levels, navigator.Level{ID: l.ID, Name: l.Name, Score: l.Score, Colour: l.Colour,
			Position: l.Position, Retired: l.Retired})
	}
	for _, t := range listed.Tests {
		nt := navigator.Test{Name: t.Name, State: string(t.State), LevelID: t.DetectionLevelID}
		if tl != nil {
			nt.LevelID = tl.levels[t.ID]
		}
		for _, g := range t.Tags {
			tag := navigator.Tag{Kind: g.Kind, ExternalID: g.ExternalID}
			for _, tac := range g.Tactics {
				tag.Tactics = append(tag.Tactics, navigator.Tactic{ID: tac["id"], Shortname: tac["shortname"]})
			}
			nt.Tags = append(nt.Tags, tag)
		}
		in.Tests = append(in.Tests, nt)
	}
	layer, name := navigator.Build(in), a.Mission.Name
	if tl != nil {
		layer.Name = i18n.T(ctx, "tool_figures.layer_name", "Mission", a.Mission.Name, "Tool", tl.tool.Name)
		layer.Metadata = append(layer.Metadata, navigator.Metadata{Name: i18n.T(ctx, "tool_figures.tool"), Value: tl.tool.Name})
		name += " " + tl.tool.Name // the file's name is made safe from it (filename)
	}
	data, err := json.MarshalIndent(layer, "", "  ")
	if err != nil {
		return File{}, err
	}
	return newFile("application/json; charset=utf-8", name, "navigator.json", data), nil
}
