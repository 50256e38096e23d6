package handlers

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/mission"
	"violet/internal/paths"
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

// categoryID reads the :cat route parameter (malformed → 404).
func categoryID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("cat"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

// listMissionCategories renders a mission's categories, in order, to any
// member; leads manage them.
func (s *Server) listMissionCategories(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	d, err := mission.CategoriesPage(c.Request().Context(), s.Ent, a)
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

// changeCategories answers a category change (run, a workflow of
// mission.Service). htmx gets the list back: 200, or 422 with the refused
// form (form, the add or edit form as sent) and its errors; a plain POST
// is redirected to the page (303) or gets it with the errors (422).
func (s *Server) changeCategories(c echo.Context, saved string, form *missionviews.CategoryForm,
	run func(ctx context.Context, a *mission.Access) error) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = run(ctx, a)
	inv, refused := missionInvalid(err)
	if err != nil && (!refused || form == nil) {
		return err
	}
	if err == nil && !isPartial(c.Request()) {
		s.flash(c, "success", saved)
		return c.Redirect(http.StatusSeeOther, paths.URL(paths.MissionCategories, a.Mission.ID))
	}
	d, err := mission.CategoriesPage(ctx, s.Ent, a)
	if err != nil {
		return err
	}
	if !refused {
		d.Categories.Notice, d.Categories.NoticeKey = missionviews.NoticeSaved, saved
		return s.renderCategories(c, http.StatusOK, d)
	}
	d.Categories.Notice, d.Categories.NoticeKey = missionviews.NoticeError, "missions.categories.invalid"
	form.Errors = inv.Fields
	if form.ID == "" {
		d.Categories.Add = *form
	} else {
		d.Categories.Edit = form
	}
	return s.renderCategories(c, http.StatusUnprocessableEntity, d)
}

// categoryInput reads a category form, normalised as it is stored, and
// the form to show again when refused (id "" for the add form).
func categoryInput(c echo.Context, id string) (mission.CategoryInput, *missionviews.CategoryForm, error) {
	var f categoryForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return mission.CategoryInput{}, nil, echo.ErrBadRequest
	}
	in := mission.CategoryInput{Name: f.Name, Colour: f.Colour}.Normalize()
	return in, &missionviews.CategoryForm{ID: id, Name: in.Name, Colour: in.Colour}, nil
}

// addMissionCategory appends a category.
func (s *Server) addMissionCategory(c echo.Context) error {
	in, form, err := categoryInput(c, "")
	if err != nil {
		return err
	}
	return s.changeCategories(c, "missions.categories.added", form, func(ctx context.Context, a *mission.Access) error {
		return s.missions().AddCategory(ctx, a, in)
	})
}

// updateMissionCategory renames or recolours a category in place.
func (s *Server) updateMissionCategory(c echo.Context) error {
	id, err := categoryID(c)
	if err != nil {
		return err
	}
	in, form, err := categoryInput(c, id.String())
	if err != nil {
		return err
	}
	return s.changeCategories(c, "missions.categories.saved", form, func(ctx context.Context, a *mission.Access) error {
		return s.missions().UpdateCategory(ctx, a, id, in)
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
	delta, ok := map[string]int{"up": -1, "down": 1}[f.Direction]
	if !ok {
		return echo.ErrBadRequest
	}
	return s.changeCategories(c, "missions.categories.moved", nil, func(ctx context.Context, a *mission.Access) error {
		return s.missions().MoveCategory(ctx, a, id, delta)
	})
}

// deleteMissionCategory deletes a category; its tests become
// uncategorised.
func (s *Server) deleteMissionCategory(c echo.Context) error {
	id, err := categoryID(c)
	if err != nil {
		return err
	}
	return s.changeCategories(c, "missions.categories.deleted", nil, func(ctx context.Context, a *mission.Access) error {
		return s.missions().DeleteCategory(ctx, a, id)
	})
}
