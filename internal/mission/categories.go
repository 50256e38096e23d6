package mission

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missioncategory"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
)

// Categories of a mission group its tests (for example by perimeter), in
// the order of their position, kept dense (0…n-1). Only leads (and
// mission.manage) change them, never on an archived mission. Each function
// takes a transaction's client: the caller records the audit event in the
// same transaction.

// AddCategory appends a category after the others.
func AddCategory(ctx context.Context, client *ent.Client, a *Access, name, colour string) (*ent.MissionCategory, error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, err
	}
	if err := lockMission(ctx, client, a.Mission.ID); err != nil {
		return nil, err
	}
	n, err := client.MissionCategory.Query().Where(missioncategory.MissionID(a.Mission.ID)).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count categories: %w", err)
	}
	return client.MissionCategory.Create().SetMissionID(a.Mission.ID).SetName(name).SetColour(colour).
		SetPosition(n).Save(ctx)
}

// UpdateCategory renames and recolours one of the mission's categories.
func UpdateCategory(ctx context.Context, client *ent.Client, a *Access, id uuid.UUID, name, colour string) (*ent.MissionCategory, error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, err
	}
	c, err := client.MissionCategory.Query().
		Where(missioncategory.ID(id), missioncategory.MissionID(a.Mission.ID)).Only(ctx)
	if err != nil {
		return nil, err
	}
	return client.MissionCategory.UpdateOne(c).SetName(name).SetColour(colour).Save(ctx)
}

// MoveCategory moves one category up (delta -1) or down (+1); moving the
// first up or the last down changes nothing.
func MoveCategory(ctx context.Context, client *ent.Client, a *Access, id uuid.UUID, delta int) error {
	if err := a.check(a.CanManage()); err != nil {
		return err
	}
	if err := lockMission(ctx, client, a.Mission.ID); err != nil {
		return err
	}
	cats, err := orderedCategories(ctx, client, a.Mission.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(cats, func(c *ent.MissionCategory) bool { return c.ID == id })
	if i < 0 {
		return &ent.NotFoundError{}
	}
	if j := i + delta; j >= 0 && j < len(cats) {
		cats[i], cats[j] = cats[j], cats[i]
	}
	return renumber(ctx, client, cats)
}

// DeleteCategory moves a category to the trash; its tests become
// uncategorised (the soft delete does not fire the foreign key's SET NULL,
// so this does it) and the categories after it move up.
func DeleteCategory(ctx context.Context, client *ent.Client, a *Access, id uuid.UUID) (*ent.MissionCategory, error) {
	if err := a.check(a.CanManage()); err != nil {
		return nil, err
	}
	if err := lockMission(ctx, client, a.Mission.ID); err != nil {
		return nil, err
	}
	c, err := client.MissionCategory.Query().
		Where(missioncategory.ID(id), missioncategory.MissionID(a.Mission.ID)).Only(ctx)
	if err != nil {
		return nil, err
	}
	// Tests of the category: a bulk change, the system's after the check
	// above (the privacy rules refuse bulk test changes to requests).
	sys := rule.SystemContext(ctx)
	if _, err := client.MissionTest.Update().Where(missiontest.CategoryID(id)).ClearCategoryID().Save(sys); err != nil {
		return nil, fmt.Errorf("uncategorise tests: %w", err)
	}
	if err := client.MissionCategory.DeleteOne(c).Exec(ctx); err != nil {
		return nil, fmt.Errorf("delete category: %w", err)
	}
	cats, err := orderedCategories(ctx, client, a.Mission.ID)
	if err != nil {
		return nil, err
	}
	return c, renumber(ctx, client, cats)
}

// orderedCategories lists the mission's categories by position.
func orderedCategories(ctx context.Context, client *ent.Client, missionID uuid.UUID) ([]*ent.MissionCategory, error) {
	cats, err := client.MissionCategory.Query().Where(missioncategory.MissionID(missionID)).
		Order(missioncategory.ByPosition(), missioncategory.ByCreatedAt(), missioncategory.ByID()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	return cats, nil
}

// renumber stores positions 0…n-1 in the order of cats, writing only the
// rows whose position changes (positions are not unique, so no swap
// dance is needed).
func renumber(ctx context.Context, client *ent.Client, cats []*ent.MissionCategory) error {
	for i, c := range cats {
		if c.Position == i {
			continue
		}
		if err := client.MissionCategory.UpdateOne(c).SetPosition(i).Exec(ctx); err != nil {
			return fmt.Errorf("order categories: %w", err)
		}
	}
	return nil
}
