package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/library"
	"violet/internal/paths"
	attackviews "violet/views/attack"
	"violet/views/components"
	libraryviews "violet/views/library"
)

// The scenario pages. The list and the page are read models of
// internal/library; every change is one of its workflows (scenario.go,
// scenarios.go there).

// scenarioEditForm is what the scenario forms may set: the name, the
// description and, when editing, the version the page showed, which the
// save must still find. No owner, no tests (those are added on the
// scenario's page).
type scenarioEditForm struct {
	Name        string `form:"name"`
	Description string `form:"description"`
	Version     string `form:"version"`
}

// scenarioOrderForm is what the order changes send: the version the list
// showed, and the entry (up, down, remove), the entries in their new order
// (drag), the direction (up or down) or the template to add.
type scenarioOrderForm struct {
	Version    string   `form:"version"`
	Entry      []string `form:"entry"`
	Direction  string   `form:"direction"`
	TemplateID string   `form:"template_id"`
}

// scenarioVersion reads the version a form sends. The library treats 0 as
// "no check" (for appends from elsewhere); a person's form always carries
// the version it was rendered with, so anything but a positive number is a
// bad request, never a change without a check.
func scenarioVersion(raw string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || v < 1 {
		return 0, echo.ErrBadRequest
	}
	return v, nil
}

// scenarioEntryID reads the one entry id of an up, down or remove form.
func scenarioEntryID(f scenarioOrderForm) (uuid.UUID, error) {
	if len(f.Entry) != 1 {
		return uuid.Nil, echo.ErrBadRequest
	}
	id, err := uuid.Parse(f.Entry[0])
	if err != nil {
		return uuid.Nil, echo.ErrBadRequest
	}
	return id, nil
}

// cutRunes shortens s to at most n characters, cutting whole characters.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// The three helpers below serve the mission plan's candidate search
// (mission_plan.go) with the library's read model: entries per scenario
// in one query, and templates' ATT&CK tags (four queries) by ATT&CK ID.

func (s *Server) scenarioTestCounts(ctx context.Context, scenarios []*ent.ScenarioTemplate) (map[uuid.UUID]int, error) {
	return library.ScenarioTestCounts(ctx, s.Ent, scenarios)
}

func withScenarioTagEntries(q *ent.TestTemplateQuery) { library.WithTagEntries(q) }

func scenarioTagEntries(tags []*ent.TestTemplateMitreTag) []attackviews.Entry {
	return library.TagEntries(tags)
}

// listScenarios renders the scenario list, searched by name and paged
// (library.ListScenarios). htmx requests get only the results.
func (s *Server) listScenarios(c echo.Context) error {
	f := library.ScenarioFilterOf(c.QueryParams())
	l, err := library.ListScenarios(c.Request().Context(), s.Ent, f)
	if err != nil {
		return err
	}
	title := "library.scenarios.title"
	if f.Deleted {
		title = "library.scenarios.trash_title"
	}
	lp := s.layoutProps(c, title, "nav.library")
	return s.render(c, http.StatusOK, libraryviews.ScenariosPage(lp, l), libraryviews.ScenarioResults(l))
}

// newScenario renders the empty scenario form.
func (s *Server) newScenario(c echo.Context) error {
	return s.renderNewScenario(c, http.StatusOK, libraryviews.ScenarioForm{})
}

// renderNewScenario renders the new scenario form with status (422 with
// errors).
func (s *Server) renderNewScenario(c echo.Context, status int, f libraryviews.ScenarioForm) error {
	lp := s.layoutProps(c, "library.scenarios.new_title", "nav.library")
	return s.render(c, status, libraryviews.NewScenarioPage(lp, f), nil)
}

// createScenario creates an empty scenario and opens its page, where
// tests are added.
func (s *Server) createScenario(c echo.Context) error {
	var f scenarioEditForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := library.ScenarioInput{Name: strings.TrimSpace(f.Name), Description: strings.TrimSpace(f.Description)}
	sc, err := library.CreateScenario(c.Request().Context(), s.Ent, in)
	var invalid *app.Invalid
	if errors.As(err, &invalid) {
		return s.renderNewScenario(c, http.StatusUnprocessableEntity,
			libraryviews.ScenarioForm{Name: in.Name, Description: in.Description, Errors: components.Errors(invalid.Fields)})
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "library.scenarios.created")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Scenario, sc.ID))
}

// showScenario renders a scenario's page; ?q= searches test templates to
// add (the page's search without JavaScript). Viewers with trash.manage
// also reach deleted scenarios, to restore them; for others a deleted
// scenario is not found.
func (s *Server) showScenario(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	q := library.ScenarioCandidateQuery(c.QueryParams())
	d, err := library.ScenarioDetail(c.Request().Context(), s.Ent, id, q)
	if err != nil {
		return err
	}
	return s.renderScenario(c, http.StatusOK, d)
}

// renderScenario renders a scenario's page with status; htmx requests get
// only the ordered list, which is what order changes swap.
func (s *Server) renderScenario(c echo.Context, status int, d libraryviews.ScenarioDetail) error {
	fragment := libraryviews.ScenarioTestsBlock(d.Tests)
	if isPartial(c.Request()) {
		// No page frame, so no layoutProps: pending flash messages stay
		// for the next page.
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "library.scenarios.scenario_title", "nav.library")
	lp.Title = d.Name + " · " + lp.Title
	return s.render(c, status, libraryviews.ScenarioPage(lp, d), fragment)
}

// searchScenarioCandidates answers the "add a test" search as you type
// with the results only; without htmx it is the scenario's page with them.
func (s *Server) searchScenarioCandidates(c echo.Context) error {
	if !isPartial(c.Request()) {
		return s.showScenario(c)
	}
	id, err := paramID(c)
	if err != nil {
		return err
	}
	q := library.ScenarioCandidateQuery(c.QueryParams())
	res, err := library.ScenarioCandidates(c.Request().Context(), s.Ent, id, q)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, libraryviews.ScenarioCandidatesBlock(res), nil)
}

// updateScenario saves a scenario's name and description if the scenario
// is still at the version the page showed. Otherwise (someone else saved
// or reordered since) it answers 409 with the page as it is now and the
// user's input kept in the open form, so nothing is overwritten unseen.
func (s *Server) updateScenario(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var f scenarioEditForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := scenarioVersion(f.Version)
	if err != nil {
		return err
	}
	in := library.ScenarioInput{Name: f.Name, Description: f.Description, Version: version}
	d, err := library.UpdateScenario(c.Request().Context(), s.Ent, id, in)
	var invalid *app.Invalid
	switch {
	case errors.As(err, &invalid):
		d.Form.Errors = components.Errors(invalid.Fields)
		return s.renderScenario(c, http.StatusUnprocessableEntity, d)
	case errors.Is(err, app.ErrConflict):
		return s.renderScenario(c, http.StatusConflict, d)
	case err != nil:
		return err
	}
	s.flash(c, "success", "library.scenarios.saved")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Scenario, id))
}

// changeScenarioOrder binds an order form and runs change (one of
// internal/library's order changes, one transaction) with the version the
// list showed; saved is the i18n key of what it did. htmx gets the
// ordered list back: 200 with the new order and version, or 409 with the
// current order, its version and a notice when the list was stale. A
// plain POST is redirected to the page (303), or gets the page with the
// notice and 409. A scenario that is gone is 404.
func (s *Server) changeScenarioOrder(c echo.Context, saved string,
	change func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var f scenarioOrderForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := scenarioVersion(f.Version)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	status, notice, key := http.StatusOK, libraryviews.ScenarioNoticeSaved, saved
	var invalid *app.Invalid
	switch err := change(ctx, id, version, f); {
	case errors.Is(err, library.ErrNoScenario):
		return echo.ErrNotFound
	case errors.Is(err, library.ErrStale):
		status, notice, key = http.StatusConflict, libraryviews.ScenarioNoticeStale, "library.scenarios.stale"
	case errors.As(err, &invalid):
		status, notice, key = http.StatusUnprocessableEntity, libraryviews.ScenarioNoticeError, invalid.Key
	case err != nil:
		return fmt.Errorf("change scenario order: %w", err)
	}
	if status == http.StatusOK && !isPartial(c.Request()) {
		s.flash(c, "success", saved)
		return c.Redirect(http.StatusSeeOther, paths.URL(paths.Scenario, id)+"#scenario-tests")
	}
	d, err := library.ScenarioDetail(ctx, s.Ent, id, "")
	if err != nil {
		return err
	}
	if d.Deleted() {
		return echo.ErrNotFound
	}
	d.Tests.Notice, d.Tests.NoticeKey = notice, key
	return s.renderScenario(c, status, d)
}

// addScenarioTest appends a test template at the end of a scenario; the
// same template may be added any number of times. A template that does
// not exist (or was deleted) is refused with 422.
func (s *Server) addScenarioTest(c echo.Context) error {
	return s.changeScenarioOrder(c, "library.scenarios.test_added",
		func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error {
			tid, err := uuid.Parse(f.TemplateID)
			if err != nil {
				return echo.ErrBadRequest
			}
			return library.AddTest(ctx, s.Ent, id, version, tid)
		})
}

// moveScenarioTest moves one entry up or down by one position.
func (s *Server) moveScenarioTest(c echo.Context) error {
	return s.changeScenarioOrder(c, "library.scenarios.order_saved",
		func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error {
			entry, err := scenarioEntryID(f)
			delta, ok := map[string]int{"up": -1, "down": 1}[f.Direction]
			if err != nil || !ok {
				return echo.ErrBadRequest
			}
			_, err = library.MoveTest(ctx, s.Ent, id, version, entry, delta)
			return err
		})
}

// removeScenarioTest removes one entry; the ones after it move up.
func (s *Server) removeScenarioTest(c echo.Context) error {
	return s.changeScenarioOrder(c, "library.scenarios.test_removed",
		func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error {
			entry, err := scenarioEntryID(f)
			if err != nil {
				return err
			}
			_, err = library.RemoveTest(ctx, s.Ent, id, version, entry)
			return err
		})
}

// reorderScenarioTests puts the entries in the order sent (drag and drop
// sends every entry id, in order). An order that does not hold each entry
// exactly once was made from a list that is no longer current: stale.
func (s *Server) reorderScenarioTests(c echo.Context) error {
	return s.changeScenarioOrder(c, "library.scenarios.order_saved",
		func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error {
			entries := make([]uuid.UUID, len(f.Entry))
			for i, raw := range f.Entry {
				e, err := uuid.Parse(raw)
				if err != nil {
					return echo.ErrBadRequest
				}
				entries[i] = e
			}
			_, err := library.ReorderTests(ctx, s.Ent, id, version, entries)
			return err
		})
}

// duplicateScenario copies a scenario with its order and opens the copy.
func (s *Server) duplicateScenario(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	copyID, err := library.CopyScenario(c.Request().Context(), s.Ent, id)
	if err != nil {
		return err
	}
	s.flash(c, "success", "library.scenarios.duplicated")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Scenario, copyID))
}

// deleteScenario moves a scenario to the trash.
func (s *Server) deleteScenario(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := library.DeleteScenario(c.Request().Context(), s.Ent, id); err != nil {
		return err
	}
	s.flash(c, "success", "library.scenarios.deleted_done")
	return c.Redirect(http.StatusSeeOther, paths.Scenarios)
}

// restoreScenario takes a scenario out of the trash.
func (s *Server) restoreScenario(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := library.RestoreScenario(c.Request().Context(), s.Ent, id); err != nil {
		return err
	}
	s.flash(c, "success", "library.scenarios.restored_done")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Scenario, id))
}
