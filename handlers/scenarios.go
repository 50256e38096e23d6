package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/scenariotemplate"
	"violet/ent/scenariotemplatetest"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/library"
	attackviews "violet/views/attack"
	"violet/views/components"
	libraryviews "violet/views/library"
)

// scenarioForm is what the new-scenario form may set: no version, no
// owner, no tests (those are added on the scenario's page).
type scenarioForm struct {
	Name        string `form:"name"`
	Description string `form:"description"`
}

// scenarioEditForm is the edit form: the name, the description and the
// version the page showed, which the save must still find.
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

// cutBytes shortens s to at most n bytes without splitting a character.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// scenarioFilter reads the scenario list's query string. Unknown values
// fall back to the defaults: the URL is often typed or shared.
func scenarioFilter(c echo.Context) libraryviews.ScenarioFilter {
	f := libraryviews.ScenarioFilter{
		Q:       cutRunes(strings.TrimSpace(c.QueryParam("q")), libraryviews.ScenarioNameMax),
		Deleted: c.QueryParam("deleted") == "1",
		Page:    1,
	}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		f.Page = p
	}
	return f
}

// listScenarios renders the scenario list, searched by name and paged, with
// each scenario's number of tests (three queries whatever the page holds).
// The trash (deleted scenarios) is for viewers who may restore. htmx
// requests get only the results.
func (s *Server) listScenarios(c echo.Context) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	f := scenarioFilter(c)
	if f.Deleted && !v.Can(auth.TrashManage) {
		return echo.ErrForbidden
	}
	q := s.Ent.ScenarioTemplate.Query()
	qctx := ctx
	if f.Deleted {
		qctx = schema.SkipSoftDelete(ctx)
		q.Where(scenariotemplate.DeletedAtNotNil())
	}
	if f.Q != "" {
		q.Where(scenariotemplate.NameContainsFold(f.Q))
	}
	total, err := q.Clone().Count(qctx)
	if err != nil {
		return fmt.Errorf("count scenarios: %w", err)
	}
	pages := max(1, (total+libraryviews.ScenariosPageSize-1)/libraryviews.ScenariosPageSize)
	f.Page = min(f.Page, pages)
	scenarios, err := q.
		Order(scenariotemplate.ByName(), scenariotemplate.ByID()).
		Offset((f.Page - 1) * libraryviews.ScenariosPageSize).
		Limit(libraryviews.ScenariosPageSize).
		All(qctx)
	if err != nil {
		return fmt.Errorf("list scenarios: %w", err)
	}
	counts, err := s.scenarioTestCounts(ctx, scenarios)
	if err != nil {
		return err
	}
	l := libraryviews.ScenarioList{
		Filter: f, Total: total, Pages: pages,
		CanWrite: v.Can(auth.TemplateWrite), CanTrash: v.Can(auth.TrashManage),
	}
	for _, sc := range scenarios {
		l.Rows = append(l.Rows, libraryviews.ScenarioRow{
			ID: sc.ID.String(), Name: sc.Name, Description: sc.Description,
			Tests: counts[sc.ID], UpdatedAt: sc.UpdatedAt, Deleted: sc.DeletedAt != nil,
		})
	}
	title := "library.scenarios.title"
	if f.Deleted {
		title = "library.scenarios.trash_title"
	}
	lp := s.layoutProps(c, title, "nav.library")
	return s.render(c, http.StatusOK, libraryviews.ScenariosPage(lp, l), libraryviews.ScenarioResults(l))
}

// scenarioTestCounts counts the entries of each scenario in one query.
func (s *Server) scenarioTestCounts(ctx context.Context, scenarios []*ent.ScenarioTemplate) (map[uuid.UUID]int, error) {
	out := make(map[uuid.UUID]int, len(scenarios))
	if len(scenarios) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(scenarios))
	for i, sc := range scenarios {
		ids[i] = sc.ID
	}
	var rows []struct {
		ScenarioTemplateID uuid.UUID `json:"scenario_template_id"`
		Count              int       `json:"count"`
	}
	err := s.Ent.ScenarioTemplateTest.Query().
		Where(predicate.ScenarioTemplateTest(database.In(scenariotemplatetest.FieldScenarioTemplateID, ids))).
		GroupBy(scenariotemplatetest.FieldScenarioTemplateID).
		Aggregate(ent.Count()).
		Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count scenario tests: %w", err)
	}
	for _, r := range rows {
		out[r.ScenarioTemplateID] = r.Count
	}
	return out, nil
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

// checkScenarioFields trims and validates a scenario's name and
// description. Names need not be unique: copies start with the same one.
func checkScenarioFields(name, description *string) components.Errors {
	*name = strings.TrimSpace(*name)
	*description = strings.TrimSpace(*description)
	errs := components.Errors{}
	switch {
	case *name == "":
		errs["name"] = "form.required"
	case len(*name) > libraryviews.ScenarioNameMax:
		// The schema's MaxLen counts bytes: refuse here, next to the field,
		// what it would refuse with a 500.
		errs["name"] = "library.scenarios.name_too_long"
	}
	if utf8.RuneCountInString(*description) > libraryviews.ScenarioDescriptionMax {
		errs["description"] = "library.scenarios.description_too_long"
	}
	return errs
}

// createScenario creates an empty scenario and opens its page, where
// tests are added.
func (s *Server) createScenario(c echo.Context) error {
	var f scenarioForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	errs := checkScenarioFields(&f.Name, &f.Description)
	if len(errs) > 0 {
		return s.renderNewScenario(c, http.StatusUnprocessableEntity,
			libraryviews.ScenarioForm{Name: f.Name, Description: f.Description, Errors: errs})
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	var sc *ent.ScenarioTemplate
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		var err error
		sc, err = tx.ScenarioTemplate.Create().
			SetName(f.Name).SetDescription(f.Description).SetCreatedByID(v.UserID).
			Save(ctx)
		if err != nil {
			return err
		}
		return recordScenario(ctx, tx, audit.ScenarioCreated, sc.ID, sc.Name)
	})
	if err != nil {
		return fmt.Errorf("create scenario: %w", err)
	}
	s.flash(c, "success", "library.scenarios.created")
	return c.Redirect(http.StatusSeeOther, "/library/scenarios/"+sc.ID.String())
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
	ctx := c.Request().Context()
	d, err := s.scenarioDetail(ctx, id)
	if err != nil {
		return err
	}
	if q := scenarioCandidateQuery(c); q != "" && d.Tests.Editable {
		if d.Candidates, err = s.scenarioCandidates(ctx, id, q); err != nil {
			return err
		}
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

// scenarioDetail loads what a scenario's page shows. The scenario (and its
// version) is read before its entries: under concurrent changes the list
// shown may be newer than the version its forms carry, never older, so a
// change sent from it is either applied to exactly the order on screen or
// refused as stale.
func (s *Server) scenarioDetail(ctx context.Context, id uuid.UUID) (libraryviews.ScenarioDetail, error) {
	v := auth.FromContext(ctx)
	sctx := ctx
	if v.Can(auth.TrashManage) {
		sctx = schema.SkipSoftDelete(ctx)
	}
	sc, err := s.Ent.ScenarioTemplate.Get(sctx, id)
	if err != nil {
		return libraryviews.ScenarioDetail{}, fmt.Errorf("load scenario: %w", err)
	}
	d := libraryviews.ScenarioDetail{
		ID: sc.ID.String(), Name: sc.Name, Description: sc.Description,
		UpdatedAt: sc.UpdatedAt, DeletedAt: sc.DeletedAt,
		Form:     libraryviews.ScenarioForm{ID: sc.ID.String(), Name: sc.Name, Description: sc.Description},
		CanWrite: v.Can(auth.TemplateWrite), CanTrash: v.Can(auth.TrashManage),
	}
	d.Candidates.ScenarioID = d.ID
	d.Tests, err = s.scenarioTests(ctx, sc.ID, sc.Version, d.CanWrite && sc.DeletedAt == nil)
	return d, err
}

// scenarioTests loads a scenario's ordered list with each template's
// ATT&CK tags: six queries whatever the number of entries. Entries whose
// template was deleted stay, shown as such, so they can be removed.
func (s *Server) scenarioTests(ctx context.Context, id uuid.UUID, version int, editable bool) (libraryviews.ScenarioTests, error) {
	t := libraryviews.ScenarioTests{ScenarioID: id.String(), Version: version, Editable: editable}
	entries, err := s.Ent.ScenarioTemplateTest.Query().
		Where(scenariotemplatetest.ScenarioTemplateID(id)).
		Order(scenariotemplatetest.ByPosition()).
		WithTestTemplate(func(q *ent.TestTemplateQuery) {
			q.Select(testtemplate.FieldName)
			withScenarioTagEntries(q)
		}).
		All(ctx)
	if err != nil {
		return t, fmt.Errorf("load scenario tests: %w", err)
	}
	for _, e := range entries {
		row := libraryviews.ScenarioEntry{ID: e.ID.String(), TemplateID: e.TestTemplateID.String()}
		if tpl := e.Edges.TestTemplate; tpl != nil {
			row.TemplateName = tpl.Name
			row.Tags = scenarioTagEntries(tpl.Edges.MitreTags)
		}
		t.Entries = append(t.Entries, row)
	}
	return t, nil
}

// withScenarioTagEntries eager-loads a template query's ATT&CK tags with
// the catalogue entries they name (four queries).
func withScenarioTagEntries(q *ent.TestTemplateQuery) {
	q.WithMitreTags(func(tq *ent.TestTemplateMitreTagQuery) {
		tq.WithTactic(func(q *ent.MitreTacticQuery) {
			q.Select(mitretactic.FieldExternalID, mitretactic.FieldName, mitretactic.FieldRevoked, mitretactic.FieldDeprecated)
		})
		tq.WithTechnique(func(q *ent.MitreTechniqueQuery) {
			q.Select(mitretechnique.FieldExternalID, mitretechnique.FieldName, mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated)
		})
		tq.WithSubtechnique(func(q *ent.MitreSubtechniqueQuery) {
			q.Select(mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName, mitresubtechnique.FieldRevoked, mitresubtechnique.FieldDeprecated)
		})
	})
}

// scenarioTagEntries turns a template's tags into catalogue entries, by
// ATT&CK ID. Revoked and deprecated entries stay, flagged.
func scenarioTagEntries(tags []*ent.TestTemplateMitreTag) []attackviews.Entry {
	out := make([]attackviews.Entry, 0, len(tags))
	for _, tag := range tags {
		switch e := tag.Edges; {
		case e.Tactic != nil:
			out = append(out, attackviews.Entry{Kind: attackviews.KindTactic, ExternalID: e.Tactic.ExternalID,
				Name: e.Tactic.Name, Revoked: e.Tactic.Revoked, Deprecated: e.Tactic.Deprecated})
		case e.Technique != nil:
			out = append(out, attackviews.Entry{Kind: attackviews.KindTechnique, ExternalID: e.Technique.ExternalID,
				Name: e.Technique.Name, Revoked: e.Technique.Revoked, Deprecated: e.Technique.Deprecated})
		case e.Subtechnique != nil:
			out = append(out, attackviews.Entry{Kind: attackviews.KindSubtechnique, ExternalID: e.Subtechnique.ExternalID,
				Name: e.Subtechnique.Name, Revoked: e.Subtechnique.Revoked, Deprecated: e.Subtechnique.Deprecated})
		}
	}
	slices.SortFunc(out, func(a, b attackviews.Entry) int { return cmp.Compare(a.ExternalID, b.ExternalID) })
	return out
}

// scenarioCandidateQuery reads the "add a test" search box.
func scenarioCandidateQuery(c echo.Context) string {
	return cutRunes(strings.TrimSpace(c.QueryParam("q")), libraryviews.ScenarioNameMax)
}

// scenarioCandidates finds the test templates whose name holds q, by name,
// with their tags (five queries).
func (s *Server) scenarioCandidates(ctx context.Context, id uuid.UUID, q string) (libraryviews.ScenarioCandidates, error) {
	out := libraryviews.ScenarioCandidates{ScenarioID: id.String(), Query: q}
	if q == "" {
		return out, nil
	}
	tq := s.Ent.TestTemplate.Query().
		Where(testtemplate.NameContainsFold(q)).
		Order(testtemplate.ByName(), testtemplate.ByID()).
		Limit(libraryviews.ScenarioCandidateLimit + 1)
	withScenarioTagEntries(tq)
	tpls, err := tq.Select(testtemplate.FieldName).All(ctx)
	if err != nil {
		return out, fmt.Errorf("search templates: %w", err)
	}
	if len(tpls) > libraryviews.ScenarioCandidateLimit {
		tpls, out.More = tpls[:libraryviews.ScenarioCandidateLimit], true
	}
	for _, t := range tpls {
		out.Hits = append(out.Hits, libraryviews.ScenarioCandidate{
			ID: t.ID.String(), Name: t.Name, Tags: scenarioTagEntries(t.Edges.MitreTags),
		})
	}
	return out, nil
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
	ctx := c.Request().Context()
	if _, err := s.Ent.ScenarioTemplate.Get(ctx, id); err != nil {
		return fmt.Errorf("load scenario: %w", err)
	}
	res, err := s.scenarioCandidates(ctx, id, scenarioCandidateQuery(c))
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
	ctx := c.Request().Context()
	d, err := s.scenarioDetail(ctx, id)
	if err != nil {
		return err
	}
	if d.Deleted() {
		return echo.ErrNotFound
	}
	keepInput := func(errs components.Errors) {
		d.Form.Name, d.Form.Description, d.Form.Errors, d.Form.Open = f.Name, f.Description, errs, true
	}
	if errs := checkScenarioFields(&f.Name, &f.Description); len(errs) > 0 {
		keepInput(errs)
		return s.renderScenario(c, http.StatusUnprocessableEntity, d)
	}
	if f.Name != d.Name || f.Description != d.Description {
		var n int
		err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
			var err error
			n, err = tx.ScenarioTemplate.Update().
				Where(scenariotemplate.ID(id), scenariotemplate.Version(version), scenariotemplate.DeletedAtIsNil()).
				SetName(f.Name).SetDescription(f.Description).AddVersion(1).
				Save(ctx)
			if err != nil || n == 0 {
				return err
			}
			return recordScenario(ctx, tx, audit.ScenarioUpdated, id, f.Name)
		})
		if err != nil {
			return fmt.Errorf("update scenario: %w", err)
		}
		if n == 0 {
			// d was read before the refused update; read the scenario
			// again so that the page shows its current state.
			if d, err = s.scenarioDetail(ctx, id); err != nil {
				return err
			}
			if d.Deleted() {
				return echo.ErrNotFound
			}
			keepInput(nil)
			d.NoticeKey = "library.scenarios.stale_edit"
			return s.renderScenario(c, http.StatusConflict, d)
		}
	}
	s.flash(c, "success", "library.scenarios.saved")
	return c.Redirect(http.StatusSeeOther, "/library/scenarios/"+id.String())
}

// scenarioOrderChange is one change to a scenario's order: run applies it
// through internal/library with the version the list showed; saved is the
// i18n key of what it did.
type scenarioOrderChange struct {
	saved string
	run   func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error
}

// changeScenarioOrder binds an order form and runs ch in one transaction
// (internal/library's). htmx gets the ordered list back: 200 with the new
// order and version, or 409 with the current order, its version and a
// notice when the list was stale. A plain POST is redirected to the page
// (303), or gets the page with the notice and 409. A scenario that is gone
// is 404.
func (s *Server) changeScenarioOrder(c echo.Context, ch scenarioOrderChange) error {
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
	status, notice, key := http.StatusOK, libraryviews.ScenarioNoticeSaved, ch.saved
	var refused refusal
	switch err := ch.run(ctx, id, version, f); {
	case errors.Is(err, library.ErrNoScenario):
		return echo.ErrNotFound
	case errors.Is(err, library.ErrStale):
		status, notice, key = http.StatusConflict, libraryviews.ScenarioNoticeStale, "library.scenarios.stale"
	case errors.As(err, &refused):
		status, notice, key = http.StatusUnprocessableEntity, libraryviews.ScenarioNoticeError, refused.key
	case err != nil:
		return fmt.Errorf("change scenario order: %w", err)
	}
	if status == http.StatusOK && !isPartial(c.Request()) {
		s.flash(c, "success", ch.saved)
		return c.Redirect(http.StatusSeeOther, "/library/scenarios/"+id.String()+"#scenario-tests")
	}
	d, err := s.scenarioDetail(ctx, id)
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
	return s.changeScenarioOrder(c, scenarioOrderChange{saved: "library.scenarios.test_added",
		run: func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error {
			tid, err := uuid.Parse(f.TemplateID)
			if err != nil {
				return echo.ErrBadRequest
			}
			ok, err := s.Ent.TestTemplate.Query().Where(testtemplate.ID(tid)).Exist(ctx)
			if err != nil {
				return fmt.Errorf("find template: %w", err)
			}
			if !ok {
				return refusal{"library.scenarios.template_missing"}
			}
			_, err = library.AddTests(ctx, s.Ent, id, version, []uuid.UUID{tid})
			return err
		}})
}

// moveScenarioTest moves one entry up or down by one position.
func (s *Server) moveScenarioTest(c echo.Context) error {
	return s.changeScenarioOrder(c, scenarioOrderChange{saved: "library.scenarios.order_saved",
		run: func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error {
			entry, err := scenarioEntryID(f)
			if err != nil {
				return err
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
			_, err = library.MoveTest(ctx, s.Ent, id, version, entry, delta)
			return err
		}})
}

// removeScenarioTest removes one entry; the ones after it move up.
func (s *Server) removeScenarioTest(c echo.Context) error {
	return s.changeScenarioOrder(c, scenarioOrderChange{saved: "library.scenarios.test_removed",
		run: func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error {
			entry, err := scenarioEntryID(f)
			if err != nil {
				return err
			}
			_, err = library.RemoveTest(ctx, s.Ent, id, version, entry)
			return err
		}})
}

// reorderScenarioTests puts the entries in the order sent (drag and drop
// sends every entry id, in order). An order that does not hold each entry
// exactly once was made from a list that is no longer current: stale.
func (s *Server) reorderScenarioTests(c echo.Context) error {
	return s.changeScenarioOrder(c, scenarioOrderChange{saved: "library.scenarios.order_saved",
		run: func(ctx context.Context, id uuid.UUID, version int, f scenarioOrderForm) error {
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
		}})
}

// duplicateScenario copies a scenario with its order under the name
// "<name> (copy)" and opens the copy.
func (s *Server) duplicateScenario(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sc, err := s.Ent.ScenarioTemplate.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("load scenario: %w", err)
	}
	suffix := " " + i18n.T(ctx, "library.scenarios.copy_suffix")
	name := cutBytes(sc.Name, libraryviews.ScenarioNameMax-len(suffix)) + suffix
	v := auth.FromContext(ctx)
	copyID, err := library.DuplicateScenario(ctx, s.Ent, id, name, &v.UserID)
	if err != nil {
		return fmt.Errorf("duplicate scenario: %w", err)
	}
	s.flash(c, "success", "library.scenarios.duplicated")
	return c.Redirect(http.StatusSeeOther, "/library/scenarios/"+copyID.String())
}

// deleteScenario moves a scenario to the trash. Missions already made from
// it keep their copies.
func (s *Server) deleteScenario(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		sc, err := tx.ScenarioTemplate.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.ScenarioTemplate.DeleteOneID(id).Exec(ctx); err != nil {
			return err
		}
		return recordScenario(ctx, tx, audit.ScenarioDeleted, id, sc.Name)
	})
	if ent.IsNotFound(err) {
		// Already in the trash (a second click): the same answer, unless
		// there is no such scenario at all.
		if _, gone := s.Ent.ScenarioTemplate.Get(schema.SkipSoftDelete(ctx), id); gone == nil {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("delete scenario: %w", err)
	}
	s.flash(c, "success", "library.scenarios.deleted_done")
	return c.Redirect(http.StatusSeeOther, "/library/scenarios")
}

// restoreScenario takes a scenario out of the trash.
func (s *Server) restoreScenario(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := schema.SkipSoftDelete(c.Request().Context())
	var n int
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		var err error
		n, err = tx.ScenarioTemplate.Update().
			Where(scenariotemplate.ID(id), scenariotemplate.DeletedAtNotNil()).
			ClearDeletedAt().
			Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		sc, err := tx.ScenarioTemplate.Get(ctx, id)
		if err != nil {
			return err
		}
		return recordScenario(ctx, tx, audit.ScenarioRestored, id, sc.Name)
	})
	if err != nil {
		return fmt.Errorf("restore scenario: %w", err)
	}
	if n == 0 {
		// Not in the trash: restored already (a second click) or missing.
		if _, err := s.Ent.ScenarioTemplate.Get(c.Request().Context(), id); err != nil {
			return fmt.Errorf("load scenario: %w", err)
		}
	}
	s.flash(c, "success", "library.scenarios.restored_done")
	return c.Redirect(http.StatusSeeOther, "/library/scenarios/"+id.String())
}

// recordScenario writes a scenario's audit event in the transaction of its
// change.
func recordScenario(ctx context.Context, tx *ent.Tx, action string, id uuid.UUID, name string) error {
	return audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: action, TargetType: "scenario_template", TargetID: id.String(), TargetLabel: name,
	})
}
