package missionread

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/ent/evidencefile"
	"violet/ent/missioncategory"
	"violet/ent/missionmember"
	"violet/ent/missionscenario"
	"violet/ent/predicate"
	"violet/ent/user"
	"violet/internal/database"
	"violet/internal/mission"
)

// Archive is the whole mission as its JSON export writes it: the members,
// categories, scenarios, the detection scale, and every test the viewer
// sees with all its columns and the metadata of its evidence files.
type Archive struct {
	Members    []*ent.MissionMember // with their user (name and email), when not deleted
	Categories []*ent.MissionCategory
	Scenarios  []*ent.MissionScenario
	Levels     []*ent.DetectionLevel
	Tests      []Test                            // Everything
	Evidence   map[uuid.UUID][]*ent.EvidenceFile // per test, oldest first, with the uploader
}

// LoadArchive reads the archive in eight statements whatever the mission's
// size.
func LoadArchive(ctx context.Context, client *ent.Client, a *mission.Access) (Archive, error) {
	var out Archive
	id := a.Mission.ID
	people := func(q *ent.UserQuery) { q.Select(user.FieldDisplayName, user.FieldEmail) }
	var err error
	if out.Members, err = client.MissionMember.Query().Where(missionmember.MissionID(id)).WithUser(people).All(ctx); err != nil {
		return out, fmt.Errorf("load members: %w", err)
	}
	out.Categories, err = client.MissionCategory.Query().Where(missioncategory.MissionID(id)).
		Order(missioncategory.ByPosition(), missioncategory.ByName()).All(ctx)
	if err != nil {
		return out, fmt.Errorf("load categories: %w", err)
	}
	out.Scenarios, err = client.MissionScenario.Query().Where(missionscenario.MissionID(id)).
		Order(missionscenario.ByPosition(), missionscenario.ByName()).All(ctx)
	if err != nil {
		return out, fmt.Errorf("load scenarios: %w", err)
	}
	if out.Levels, err = Levels(ctx, client); err != nil {
		return out, err
	}
	listed, err := Tests(ctx, client, a, Everything, Filter{})
	if err != nil {
		return out, err
	}
	out.Tests = listed.Tests
	ids := make([]uuid.UUID, len(out.Tests))
	for i := range out.Tests {
		ids[i] = out.Tests[i].ID
	}
	files, err := client.EvidenceFile.Query().Where(predicate.EvidenceFile(database.In(evidencefile.FieldMissionTestID, ids))).
		Order(ent.Asc(evidencefile.FieldCreatedAt), ent.Asc(evidencefile.FieldID)).
		WithUploadedBy(people).All(ctx)
	if err != nil {
		return out, fmt.Errorf("load evidence: %w", err)
	}
	out.Evidence = map[uuid.UUID][]*ent.EvidenceFile{}
	for _, f := range files {
		out.Evidence[f.MissionTestID] = append(out.Evidence[f.MissionTestID], f)
	}
	return out, nil
}

// AttackVersion is the ATT&CK version of the last successful catalogue
// sync, "" before any.
func AttackVersion(ctx context.Context, client *ent.Client) (string, error) {
	last, err := client.AttackSync.Query().Where(attacksync.StatusEQ(attacksync.StatusSucceeded)).
		Order(ent.Desc(attacksync.FieldFinishedAt), ent.Desc(attacksync.FieldCreatedAt)).First(ctx)
	switch {
	case err == nil:
		return last.AttackVersion, nil
	case ent.IsNotFound(err):
		return "", nil
	}
	return "", fmt.Errorf("load the catalogue version: %w", err)
}
