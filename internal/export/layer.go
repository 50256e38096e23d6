package export

import (
	"context"
	"encoding/json"
	"time"

	"violet/ent"
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
		for _, g := range t.Tags {
			tag := navigator.Tag{Kind: g.Kind, ExternalID: g.ExternalID}
			for _, tac := range g.Tactics {
				tag.Tactics = append(tag.Tactics, navigator.Tactic{ID: tac["id"], Shortname: tac["shortname"]})
			}
			nt.Tags = append(nt.Tags, tag)
		}
		in.Tests = append(in.Tests, nt)
	}
	data, err := json.MarshalIndent(navigator.Build(in), "", "  ")
	if err != nil {
		return File{}, err
	}
	return newFile("application/json; charset=utf-8", a.Mission.Name, "navigator.json", data), nil
}
