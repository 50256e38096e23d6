package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/missioncategory"
	"violet/ent/missiontest"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/mission"
	"violet/views/components"
	missionviews "violet/views/missions"
)

// categoryForm is what the add and edit forms send.
type categoryForm struct {
	Name   string `form:"name"`
	Colour string `form:"colour"`
}

// categoryMoveForm is what the up and down buttons send.
type categoryMoveForm struct {
	Direction string `form:"direction"`
}

// hexColour is a category colour: #rrggbb, as the schema's CHECK wants it
// and as an SVG fill may safely take it.
var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// categoryInvalid is a refused add or edit: the form with its errors.
type categoryInvalid struct{ form missionviews.CategoryForm }

func (categoryInvalid) Error() string { return "invalid category" }

// categoryID reads the :cat route parameter (malformed → 404).
func categoryID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("cat"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

// checkCategory trims and validates a category's name and colour; the
// colour is stored lower-case.
func checkCategory(f *categoryForm) components.Errors {
	f.Name = strings.TrimSpace(f.Name)
	f.Colour = strings.ToLower(strings.TrimSpace(f.Colour))
	errs := components.Errors{}
	switch {
	case f.Name == "":
		errs["name"] = "form.required"
	case len(f.Name) > missionviews.CategoryNameMax:
		// The schema's MaxLen counts bytes.
		errs["name"] = "missions.categories.name_too_long"
	}
	if !hexColour.MatchString(f.Colour) {
		errs["colour"] = "missions.categories.bad_colour"
	}
	return errs
}

// listMissionCategories renders a mission's categories, in order, to any
// member; leads manage them.
func (s *Server) listMissionCategories(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	d, err := s.categoriesDetail(c.Request().Context(), a)
	if err != nil {
		return err
	}
	return s.renderCategories(c, http.StatusOK, d)
}

// renderCategories renders the categories page with status; htmx requests
// get only the list, which every category change swaps.
func (s *Server) renderCategories(c echo.Context, status int, d missionviews.CategoriesDetail) error {
	fragment := missionviews.CategoriesBlock(d.Categories)
	if isPartial(c.Request()) {
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "missions.categories.page_title", "nav.missions")
	lp.Title = d.Name + " · " + lp.Title
	return s.render(c, status, missionviews.CategoriesPage(lp, d), fragment)
}

// categoriesDetail loads a mission's categories with the number of tests
// the viewer sees in each (two queries).
func (s *Server) categoriesDetail(ctx context.Context, a *mission.Access) (missionviews.CategoriesDetail, error) {
	id := a.Mission.ID.String()
	manage := a.CanManage() && !a.Archived()
	d := missionviews.CategoriesDetail{ID: id, Name: a.Mission.Name, CanManage: a.CanManage(),
		Categories: missionviews.Categories{MissionID: id, CanManage: manage,
			Add: missionviews.CategoryForm{Colour: missionviews.DefaultCategoryHex}}}
	cats, err := s.Ent.MissionCategory.Query().Where(missioncategory.MissionID(a.Mission.ID)).
		Order(missioncategory.ByPosition(), missioncategory.ByCreatedAt(), missioncategory.ByID()).All(ctx)
	if err != nil {
		return d, fmt.Errorf("load categories: %w", err)
	}
	var counts []struct {
		CategoryID uuid.UUID `json:"category_id"`
		Count      int       `json:"count"`
	}
	if len(cats) > 0 {
		err = s.Ent.MissionTest.Query().
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

// changeCategories runs one category change in a transaction with its
// audit event (MissionPlanChanged, the change in its details). htmx gets
// the list back: 200, or 422 with the refused form and its errors; a plain
// POST is redirected to the page (303) or gets it with the errors (422).
func (s *Server) changeCategories(c echo.Context, saved string,
	run func(ctx context.Context, tx *ent.Tx, a *mission.Access) (map[string]any, error)) error {
	a, err := s.missionManageAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		details, err := run(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionPlanChanged, TargetType: "mission", TargetID: a.Mission.ID.String(),
			TargetLabel: a.Mission.Name, Details: details,
		}); err != nil {
			return err
		}
		// Category names and colours show on the test list.
		return s.announceMission(ctx, tx, a, live.KindPlan)
	})
	var invalid categoryInvalid
	status := http.StatusOK
	switch {
	case errors.As(err, &invalid):
		status = http.StatusUnprocessableEntity
	case err != nil:
		return err
	}
	if status == http.StatusOK && !isPartial(c.Request()) {
		s.flash(c, "success", saved)
		return c.Redirect(http.StatusSeeOther, "/missions/"+a.Mission.ID.String()+"/categories")
	}
	d, err := s.categoriesDetail(ctx, a)
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		d.Categories.Notice, d.Categories.NoticeKey = missionviews.NoticeSaved, saved
	} else {
		d.Categories.Notice, d.Categories.NoticeKey = missionviews.NoticeError, "missions.categories.invalid"
		if invalid.form.ID == "" {
			d.Categories.Add = invalid.form
		} else {
			d.Categories.Edit = &invalid.form
		}
	}
	return s.renderCategories(c, status, d)
}

// addMissionCategory appends a category.
func (s *Server) addMissionCategory(c echo.Context) error {
	var f categoryForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	return s.changeCategories(c, "missions.categories.added",
		func(ctx context.Context, tx *ent.Tx, a *mission.Access) (map[string]any, error) {
			if errs := checkCategory(&f); len(errs) > 0 {
				return nil, categoryInvalid{missionviews.CategoryForm{Name: f.Name, Colour: f.Colour, Errors: errs}}
			}
			cat, err := mission.AddCategory(ctx, tx.Client(), a, f.Name, f.Colour)
			if err != nil {
				return nil, err
			}
			return map[string]any{"category": "added", "id": cat.ID.String(), "name": cat.Name, "colour": cat.Colour}, nil
		})
}

// updateMissionCategory renames or recolours a category in place.
func (s *Server) updateMissionCategory(c echo.Context) error {
	id, err := categoryID(c)
	if err != nil {
		return err
	}
	var f categoryForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	return s.changeCategories(c, "missions.categories.saved",
		func(ctx context.Context, tx *ent.Tx, a *mission.Access) (map[string]any, error) {
			if errs := checkCategory(&f); len(errs) > 0 {
				return nil, categoryInvalid{missionviews.CategoryForm{ID: id.String(), Name: f.Name, Colour: f.Colour, Errors: errs}}
			}
			cat, err := mission.UpdateCategory(ctx, tx.Client(), a, id, f.Name, f.Colour)
			if err != nil {
				return nil, err
			}
			return map[string]any{"category": "updated", "id": cat.ID.String(), "name": cat.Name, "colour": cat.Colour}, nil
		})
}

// moveMissionCategory moves a category up or down by one.
func (s *Server) moveMissionCategory(c echo.Context) error {
	id, err := categoryID(c)
	if err != nil {
		return err
	}
	var f categoryMoveForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	delta := 0
	switch f.Direction {
	case "up":
		delta = -1
	case "down":
		delta = 1
	default:
		return echo.ErrBadRequest
	}
	return s.changeCategories(c, "missions.categories.moved",
		func(ctx context.Context, tx *ent.Tx, a *mission.Access) (map[string]any, error) {
			if err := mission.MoveCategory(ctx, tx.Client(), a, id, delta); err != nil {
				return nil, err
			}
			return map[string]any{"category": "moved", "id": id.String(), "direction": f.Direction}, nil
		})
}

// deleteMissionCategory deletes a category; its tests become
// uncategorised.
func (s *Server) deleteMissionCategory(c echo.Context) error {
	id, err := categoryID(c)
	if err != nil {
		return err
	}
	return s.changeCategories(c, "missions.categories.deleted",
		func(ctx context.Context, tx *ent.Tx, a *mission.Access) (map[string]any, error) {
			cat, err := mission.DeleteCategory(ctx, tx.Client(), a, id)
			if err != nil {
				return nil, err
			}
			return map[string]any{"category": "deleted", "id": cat.ID.String(), "name": cat.Name}, nil
		})
}
