package mission

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missioncategory"
	"violet/ent/missiontest"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/internal/live"
	missionviews "violet/views/missions"
)

// Category workflows: each change runs the rule of categories.go in one
// transaction with its audit event (MissionPlanChanged, the change in its
// details) and the live event of the plan, since category names and
// colours show on the test list.

// CategoryInput is what the add and edit forms send.
type CategoryInput struct{ Name, Colour string }

// hexColour is a category colour: #rrggbb, as the schema's CHECK wants it
// and as an SVG fill may safely take it.
var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Normalize trims the name and colour; the colour is stored lower-case.
func (in CategoryInput) Normalize() CategoryInput {
	return CategoryInput{Name: strings.TrimSpace(in.Name), Colour: strings.ToLower(strings.TrimSpace(in.Colour))}
}

// check validates a normalised input.
func (in CategoryInput) check() error {
	errs := &app.Invalid{}
	switch {
	case in.Name == "":
		errs.Add("name", "form.required")
	case len(in.Name) > missionviews.CategoryNameMax:
		// The schema's MaxLen counts bytes.
		errs.Add("name", "missions.categories.name_too_long")
	}
	if !hexColour.MatchString(in.Colour) {
		errs.Add("colour", "missions.categories.bad_colour")
	}
	return errs.Err()
}

// AddCategory appends a category.
func (s *Service) AddCategory(ctx context.Context, a *Access, in CategoryInput) error {
	return s.changeCategories(ctx, a, &in, func(tx *ent.Tx) (map[string]any, error) {
		cat, err := AddCategory(ctx, tx.Client(), a, in.Name, in.Colour)
		if err != nil {
			return nil, err
		}
		return map[string]any{"category": "added", "id": cat.ID.String(), "name": cat.Name, "colour": cat.Colour}, nil
	})
}

// UpdateCategory renames or recolours a category in place.
func (s *Service) UpdateCategory(ctx context.Context, a *Access, id uuid.UUID, in CategoryInput) error {
	return s.changeCategories(ctx, a, &in, func(tx *ent.Tx) (map[string]any, error) {
		cat, err := UpdateCategory(ctx, tx.Client(), a, id, in.Name, in.Colour)
		if err != nil {
			return nil, err
		}
		return map[string]any{"category": "updated", "id": cat.ID.String(), "name": cat.Name, "colour": cat.Colour}, nil
	})
}

// MoveCategory moves a category up (delta -1) or down (+1) by one.
func (s *Service) MoveCategory(ctx context.Context, a *Access, id uuid.UUID, delta int) error {
	direction := "down"
	if delta < 0 {
		direction = "up"
	}
	return s.changeCategories(ctx, a, nil, func(tx *ent.Tx) (map[string]any, error) {
		if err := MoveCategory(ctx, tx.Client(), a, id, delta); err != nil {
			return nil, err
		}
		return map[string]any{"category": "moved", "id": id.String(), "direction": direction}, nil
	})
}

// DeleteCategory deletes a category; its tests become uncategorised.
func (s *Service) DeleteCategory(ctx context.Context, a *Access, id uuid.UUID) error {
	return s.changeCategories(ctx, a, nil, func(tx *ent.Tx) (map[string]any, error) {
		cat, err := DeleteCategory(ctx, tx.Client(), a, id)
		if err != nil {
			return nil, err
		}
		return map[string]any{"category": "deleted", "id": cat.ID.String(), "name": cat.Name}, nil
	})
}

// changeCategories checks the role, then the input when there is one
// (normalising it in place: an invalid one is an *app.Invalid, even on
// an archived mission, whose rule refuses only valid changes), and runs
// the change (run returns the audit event's details) in one transaction
// with its audit event and live event.
func (s *Service) changeCategories(ctx context.Context, a *Access, in *CategoryInput,
	run func(tx *ent.Tx) (map[string]any, error)) error {
	if !a.CanManage() {
		return ErrForbidden
	}
	if in != nil {
		*in = in.Normalize()
		if err := in.check(); err != nil {
			return err
		}
	}
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		details, err := run(tx)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx.AuditEvent, missionEvent(a, audit.MissionPlanChanged, details)); err != nil {
			return err
		}
		return announce(ctx, tx, a, live.KindPlan)
	})
}

// CategoriesPage is a's mission's categories page: its categories in
// order with the number of tests the viewer sees in each (two queries),
// to any member; leads manage them.
func CategoriesPage(ctx context.Context, client *ent.Client, a *Access) (missionviews.CategoriesDetail, error) {
	id := a.Mission.ID.String()
	manage := a.CanManage() && !a.Archived()
	d := missionviews.CategoriesDetail{ID: id, Name: a.Mission.Name, CanManage: a.CanManage(),
		Categories: missionviews.Categories{MissionID: id, CanManage: manage,
			Add: missionviews.CategoryForm{Colour: missionviews.DefaultCategoryHex}}}
	cats, err := client.MissionCategory.Query().Where(missioncategory.MissionID(a.Mission.ID)).
		Order(missioncategory.ByPosition(), missioncategory.ByCreatedAt(), missioncategory.ByID()).All(ctx)
	if err != nil {
		return d, fmt.Errorf("load categories: %w", err)
	}
	var counts []struct {
		CategoryID uuid.UUID `json:"category_id"`
		Count      int       `json:"count"`
	}
	if len(cats) > 0 {
		err = client.MissionTest.Query().
			Where(missiontest.MissionID(a.Mission.ID), missiontest.CategoryIDNotNil()).
			GroupBy(missiontest.FieldCategoryID).Aggregate(ent.Count()).Scan(ctx, &counts)
		if err != nil {
			return d, fmt.Errorf("count category tests: %w", err)
		}
	}
	byCat := map[uuid.UUID]int{}
	for _, r := range counts {
		byCat[r.CategoryID] = r.Count
	}
	for _, cat := range cats {
		d.Categories.Rows = append(d.Categories.Rows, missionviews.Category{
			ID: cat.ID.String(), Name: cat.Name, Colour: cat.Colour, Tests: byCat[cat.ID]})
	}
	return d, nil
}
