package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"
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
	"violet/ent/testtemplatemitretag"
	"violet/internal/attackid"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/library"
	attackviews "violet/views/attack"
	"violet/views/components"
	libraryviews "violet/views/library"
)

// templateTarget is the audit log's target type of test templates.
const templateTarget = "test_template"

// templateBulkMax is the most templates one bulk action takes: a page
// holds 50, so more is not a selection a person made.
const templateBulkMax = 500

// templateScenarioChoices is the most scenarios the bulk form offers.
const templateScenarioChoices = 500

// errTemplateStale is a save refused because the template is no longer at
// the version the form showed.
var errTemplateStale = errors.New("test template changed since the form was shown")

// templateFormBody is what the template form may set: no source, no
// external reference, no owner (those come from imports and the server).
type templateFormBody struct {
	Name              string   `form:"name"`
	Description       string   `form:"description"`
	Objective         string   `form:"objective"`
	Procedure         string   `form:"procedure"`
	Prerequisites     string   `form:"prerequisites"`
	Cleanup           string   `form:"cleanup"`
	ExpectedDetection string   `form:"expected_detection"`
	Platforms         []string `form:"platforms"`
	Opsec             string   `form:"opsec_level"`
	Labels            string   `form:"labels"`
	Tags              []string `form:"tags"`
	Version           string   `form:"version"`
}

// templateInput is a validated template form: what a save writes.
type templateInput struct {
	body    templateFormBody
	labels  []string
	tags    []attackviews.PickedRef
	version int
}

// templateBulkBody is what the bulk form sends: the ticked templates in the
// order shown, the scenario to add them to, and the list to go back to.
type templateBulkBody struct {
	IDs      []string `form:"id"`
	Scenario string   `form:"scenario"`
	Back     string   `form:"back"`
}

// templatePreviewBody is what a preview button sends: which field, and
// its text under its own name.
type templatePreviewBody struct {
	Field             string `form:"field"`
	Description       string `form:"description"`
	Objective         string `form:"objective"`
	Procedure         string `form:"procedure"`
	Prerequisites     string `form:"prerequisites"`
	Cleanup           string `form:"cleanup"`
	ExpectedDetection string `form:"expected_detection"`
}

// showLibrary sends the library's home to its first section.
func (s *Server) showLibrary(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, "/library/tests")
}

// templateFilter reads the template list's query. Values that name no
// choice fall back to "any": the URL is often typed or shared.
func templateFilter(q url.Values) libraryviews.TemplateFilter {
	f := libraryviews.TemplateFilter{
		Q:       cutRunes(strings.TrimSpace(q.Get("q")), libraryviews.TemplateNameMax),
		Label:   cutRunes(strings.TrimSpace(q.Get("label")), libraryviews.TemplateLabelMax),
		Deleted: q.Get("deleted") == "1",
		Page:    1,
	}
	if t := strings.ToUpper(strings.TrimSpace(q.Get("tactic"))); attackid.IsTactic(t) {
		f.Tactic = t
	}
	if t := strings.ToUpper(strings.TrimSpace(q.Get("technique"))); attackid.IsTechniqueOrSub(t) {
		f.Technique = t
	}
	if p := q.Get("platform"); slices.Contains(libraryviews.TemplatePlatforms(), p) {
		f.Platform = p
	}
	if o := q.Get("opsec"); slices.Contains(libraryviews.TemplateOpsecLevels(), o) {
		f.Opsec = o
	}
	if src := q.Get("source"); slices.Contains(libraryviews.TemplateSources(), src) {
		f.Source = src
	}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 {
		f.Page = p
	}
	return f
}

// jsonbHas matches rows whose jsonb array column holds value.
func jsonbHas(column, value string) predicate.TestTemplate {
	return predicate.TestTemplate(func(s *sql.Selector) {
		s.Where(sqljson.ValueContains(column, value))
	})
}

// templateTacticTag matches tags on the tactic, on one of its techniques,
// or on a sub-technique of one of those.
func templateTacticTag(id string) predicate.TestTemplateMitreTag {
	inTactic := mitretechnique.HasTacticsWith(mitretactic.ExternalID(id))
	return testtemplatemitretag.Or(
		testtemplatemitretag.HasTacticWith(mitretactic.ExternalID(id)),
		testtemplatemitretag.HasTechniqueWith(inTactic),
		testtemplatemitretag.HasSubtechniqueWith(mitresubtechnique.HasTechniqueWith(inTactic)),
	)
}

// templateTechniqueTag matches tags on a technique or its sub-techniques,
// or on exactly one sub-technique.
func templateTechniqueTag(id string) predicate.TestTemplateMitreTag {
	if strings.Contains(id, ".") {
		return testtemplatemitretag.HasSubtechniqueWith(mitresubtechnique.ExternalID(id))
	}
	return testtemplatemitretag.Or(
		testtemplatemitretag.HasTechniqueWith(mitretechnique.ExternalID(id)),
		testtemplatemitretag.HasSubtechniqueWith(mitresubtechnique.HasTechniqueWith(mitretechnique.ExternalID(id))),
	)
}

// templateSearch matches a name holding q or, when q looks like an
// ATT&CK ID, a tag whose ID starts with it.
func templateSearch(q string) predicate.TestTemplate {
	byName := testtemplate.NameContainsFold(q)
	id := strings.ToUpper(q)
	if !attackid.IsPrefix(id) {
		return byName
	}
	return testtemplate.Or(byName, testtemplate.HasMitreTagsWith(testtemplatemitretag.Or(
		testtemplatemitretag.HasTacticWith(mitretactic.ExternalIDHasPrefix(id)),
		testtemplatemitretag.HasTechniqueWith(mitretechnique.ExternalIDHasPrefix(id)),
		testtemplatemitretag.HasSubtechniqueWith(mitresubtechnique.ExternalIDHasPrefix(id)),
	)))
}

// templateQuery is the list's query for f (without order and paging).
func (s *Server) templateQuery(f libraryviews.TemplateFilter) *ent.TestTemplateQuery {
	q := s.Ent.TestTemplate.Query()
	if f.Deleted {
		q.Where(testtemplate.DeletedAtNotNil())
	}
	if f.Q != "" {
		q.Where(templateSearch(f.Q))
	}
	if f.Tactic != "" {
		q.Where(testtemplate.HasMitreTagsWith(templateTacticTag(f.Tactic)))
	}
	if f.Technique != "" {
		q.Where(testtemplate.HasMitreTagsWith(templateTechniqueTag(f.Technique)))
	}
	if f.Platform != "" {
		q.Where(jsonbHas(testtemplate.FieldPlatforms, f.Platform))
	}
	if f.Opsec != "" {
		q.Where(testtemplate.OpsecLevelEQ(testtemplate.OpsecLevel(f.Opsec)))
	}
	if f.Source != "" {
		q.Where(testtemplate.SourceEQ(testtemplate.Source(f.Source)))
	}
	if f.Label != "" {
		q.Where(jsonbHas(testtemplate.FieldLabels, f.Label))
	}
	return q
}

// listTemplates renders the test template list, filtered and paged, each
// row with its ATT&CK tags: a constant number of queries whatever the page
// holds (count, page, tags and their three kinds of entry; the tactic
// and scenario choices on full pages). The trash is for viewers who may
// restore. htmx requests get only the results.
func (s *Server) listTemplates(c echo.Context) error {
	return s.renderTemplateList(c, http.StatusOK, templateFilter(c.QueryParams()), templateBulkBody{}, "")
}

// renderTemplateList renders the list for f with status, and a notice
// (why a bulk action was refused) when noticeKey is not "", keeping that
// bulk form's selection and scenario.
func (s *Server) renderTemplateList(c echo.Context, status int, f libraryviews.TemplateFilter, bulk templateBulkBody, noticeKey string) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	if f.Deleted && !v.Can(auth.TrashManage) {
		return echo.ErrForbidden
	}
	qctx := ctx
	if f.Deleted {
		qctx = schema.SkipSoftDelete(ctx)
	}
	q := s.templateQuery(f)
	total, err := q.Clone().Count(qctx)
	if err != nil {
		return fmt.Errorf("count templates: %w", err)
	}
	pages := max(1, (total+libraryviews.TemplatesPageSize-1)/libraryviews.TemplatesPageSize)
	f.Page = min(f.Page, pages)
	q.Order(testtemplate.ByName(), testtemplate.ByID()).
		Offset((f.Page-1)*libraryviews.TemplatesPageSize).
		Limit(libraryviews.TemplatesPageSize).
		Select(testtemplate.FieldName, testtemplate.FieldPlatforms, testtemplate.FieldOpsecLevel,
			testtemplate.FieldSource, testtemplate.FieldUpdatedAt, testtemplate.FieldDeletedAt)
	withScenarioTagEntries(q)
	tpls, err := q.All(qctx)
	if err != nil {
		return fmt.Errorf("list templates: %w", err)
	}
	l := libraryviews.TemplateList{
		Filter: f, Total: total, Pages: pages, NoticeKey: noticeKey, Scenario: bulk.Scenario,
		Selected: map[string]bool{}, CanWrite: v.Can(auth.TemplateWrite), CanTrash: v.Can(auth.TrashManage),
	}
	for _, id := range bulk.IDs {
		l.Selected[id] = true
	}
	for _, t := range tpls {
		l.Rows = append(l.Rows, libraryviews.TemplateRow{
			ID: t.ID.String(), Name: t.Name, Tags: scenarioTagEntries(t.Edges.MitreTags),
			Platforms: t.Platforms, Opsec: string(t.OpsecLevel), Source: string(t.Source),
			UpdatedAt: t.UpdatedAt, Deleted: t.DeletedAt != nil,
		})
	}
	fragment := libraryviews.TemplateResults(l)
	if isPartial(c.Request()) {
		// The address bar gets the filter's canonical URL rather than the
		// form's every empty field. No page frame, so no layoutProps:
		// pending flash messages stay for the next page.
		c.Response().Header().Set("HX-Push-Url", f.URL(f.Page))
		return s.render(c, status, fragment, nil)
	}
	if l.Tactics, err = s.templateTacticChoices(ctx); err != nil {
		return err
	}
	if l.Bulk() {
		if l.Scenarios, err = s.templateScenarioChoices(ctx); err != nil {
			return err
		}
	}
	title := "library.templates.title"
	if f.Deleted {
		title = "library.templates.trash_title"
	}
	lp := s.layoutProps(c, title, "nav.library")
	return s.render(c, status, libraryviews.TemplatesPage(lp, l), fragment)
}

// templateTacticChoices lists the tactics for the filter, in matrix order.
func (s *Server) templateTacticChoices(ctx context.Context) ([]libraryviews.TemplateOption, error) {
	tactics, err := s.Ent.MitreTactic.Query().
		Order(mitretactic.ByPosition(), mitretactic.ByExternalID()).
		Select(mitretactic.FieldExternalID, mitretactic.FieldName).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tactics: %w", err)
	}
	out := make([]libraryviews.TemplateOption, len(tactics))
	for i, t := range tactics {
		out[i] = libraryviews.TemplateOption{Value: t.ExternalID, Label: t.ExternalID + " " + t.Name}
	}
	return out, nil
}

// templateScenarioChoices lists the scenarios the bulk form may add to.
func (s *Server) templateScenarioChoices(ctx context.Context) ([]libraryviews.TemplateOption, error) {
	scs, err := s.Ent.ScenarioTemplate.Query().
		Order(scenariotemplate.ByName(), scenariotemplate.ByID()).
		Limit(templateScenarioChoices).
		Select(scenariotemplate.FieldName).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list scenarios: %w", err)
	}
	out := make([]libraryviews.TemplateOption, len(scs))
	for i, sc := range scs {
		out[i] = libraryviews.TemplateOption{Value: sc.ID.String(), Label: sc.Name}
	}
	return out, nil
}

// showTemplate renders a test template's page with the scenarios that use
// it. Viewers with trash.manage also reach deleted templates, to restore
// them; for others a deleted template is not found.
func (s *Server) showTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	sctx := ctx
	if v.Can(auth.TrashManage) {
		sctx = schema.SkipSoftDelete(ctx)
	}
	tq := s.Ent.TestTemplate.Query().Where(testtemplate.ID(id))
	withScenarioTagEntries(tq)
	t, err := tq.Only(sctx)
	if err != nil {
		return fmt.Errorf("load template: %w", err)
	}
	uses, err := s.Ent.ScenarioTemplate.Query().
		Where(scenariotemplate.HasEntriesWith(scenariotemplatetest.TestTemplateID(id))).
		Order(scenariotemplate.ByName(), scenariotemplate.ByID()).
		Select(scenariotemplate.FieldName).
		All(ctx)
	if err != nil {
		return fmt.Errorf("load template scenarios: %w", err)
	}
	d := libraryviews.TemplateDetail{
		ID: t.ID.String(), Name: t.Name, Description: t.Description, Objective: t.Objective,
		Procedure: t.Procedure, Prerequisites: t.Prerequisites, Cleanup: t.Cleanup,
		ExpectedDetection: t.ExpectedDetection, Platforms: t.Platforms, Opsec: string(t.OpsecLevel),
		Source: string(t.Source), ExternalRef: t.ExternalRef, Labels: t.Labels,
		Tags: scenarioTagEntries(t.Edges.MitreTags), UpdatedAt: t.UpdatedAt, DeletedAt: t.DeletedAt,
		CanWrite: v.Can(auth.TemplateWrite), CanTrash: v.Can(auth.TrashManage),
	}
	for _, sc := range uses {
		d.Scenarios = append(d.Scenarios, libraryviews.TemplateUse{ID: sc.ID.String(), Name: sc.Name})
	}
	lp := s.layoutProps(c, "library.templates.template_title", "nav.library")
	lp.Title = d.Name + " · " + lp.Title
	return s.render(c, http.StatusOK, libraryviews.TemplatePage(lp, d), nil)
}

// newTemplate renders the empty template form.
func (s *Server) newTemplate(c echo.Context) error {
	return s.renderTemplateForm(c, http.StatusOK, libraryviews.TemplateForm{Opsec: "medium"})
}

// renderTemplateForm renders the create or edit form with status (422
// with errors, 409 with the stored state).
func (s *Server) renderTemplateForm(c echo.Context, status int, f libraryviews.TemplateForm) error {
	title := "library.templates.new_title"
	if f.ID != "" {
		title = "library.templates.edit_title"
	}
	lp := s.layoutProps(c, title, "nav.library")
	return s.render(c, status, libraryviews.TemplateFormPage(lp, f), nil)
}

// editTemplate renders the form of an existing template with its stored
// values, tags and version.
func (s *Server) editTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := s.loadTemplateForForm(ctx, id)
	if err != nil {
		return err
	}
	return s.renderTemplateForm(c, http.StatusOK, templateFormOf(t))
}

// loadTemplateForForm loads a template that is not deleted with its tags
// and their entries (a sub-technique's technique too, to name it).
func (s *Server) loadTemplateForForm(ctx context.Context, id uuid.UUID) (*ent.TestTemplate, error) {
	t, err := s.Ent.TestTemplate.Query().Where(testtemplate.ID(id)).
		WithMitreTags(func(q *ent.TestTemplateMitreTagQuery) {
			q.WithTactic().WithTechnique().WithSubtechnique(func(q *ent.MitreSubtechniqueQuery) { q.WithTechnique() })
		}).
		Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	return t, nil
}

// templateFormOf is the form showing a stored template.
func templateFormOf(t *ent.TestTemplate) libraryviews.TemplateForm {
	return libraryviews.TemplateForm{
		ID: t.ID.String(), Version: t.Version, Name: t.Name, Description: t.Description,
		Objective: t.Objective, Procedure: t.Procedure, Prerequisites: t.Prerequisites,
		Cleanup: t.Cleanup, ExpectedDetection: t.ExpectedDetection, Platforms: t.Platforms,
		Opsec: string(t.OpsecLevel), Labels: strings.Join(t.Labels, ", "), Tags: templatePickedTags(t.Edges.MitreTags),
	}
}

// templatePickedTags turns loaded tags into the picker's selection, in
// ATT&CK ID order.
func templatePickedTags(tags []*ent.TestTemplateMitreTag) []attackviews.PickedTag {
	out := make([]attackviews.PickedTag, 0, len(tags))
	for _, tag := range tags {
		switch e := tag.Edges; {
		case e.Tactic != nil:
			out = append(out, attackviews.PickedTag{Kind: attackviews.KindTactic, ID: e.Tactic.ID.String(),
				ExternalID: e.Tactic.ExternalID, Name: e.Tactic.Name})
		case e.Technique != nil:
			out = append(out, attackviews.PickedTag{Kind: attackviews.KindTechnique, ID: e.Technique.ID.String(),
				ExternalID: e.Technique.ExternalID, Name: e.Technique.Name})
		case e.Subtechnique != nil:
			p := attackviews.PickedTag{Kind: attackviews.KindSubtechnique, ID: e.Subtechnique.ID.String(),
				ExternalID: e.Subtechnique.ExternalID, Name: e.Subtechnique.Name}
			if te := e.Subtechnique.Edges.Technique; te != nil {
				p.Parent = te.Name
			}
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b attackviews.PickedTag) int { return strings.Compare(a.ExternalID, b.ExternalID) })
	return out
}

// templateLabels splits the labels field on commas, trimmed, dropping
// blanks and repeats (whatever their case); "" is the i18n key of what is
// wrong with it, if anything.
func templateLabels(raw string) ([]string, string) {
	out := []string{}
	seen := map[string]bool{}
	for _, l := range strings.Split(raw, ",") {
		l = strings.Join(strings.Fields(l), " ")
		if l == "" || seen[strings.ToLower(l)] {
			continue
		}
		if utf8.RuneCountInString(l) > libraryviews.TemplateLabelMax {
			return nil, "library.templates.label_too_long"
		}
		seen[strings.ToLower(l)] = true
		out = append(out, l)
	}
	if len(out) > libraryviews.TemplateLabelsMax {
		return nil, "library.templates.too_many_labels"
	}
	return out, ""
}

// bindTemplate binds and checks the template form. It returns the form as
// typed (to show again, picked tags named), the validated input, and the
// errors by field. Picked tags must each name exactly one existing
// tactic, technique or sub-technique: the form says so before the
// database's CHECK and foreign keys would.
func (s *Server) bindTemplate(c echo.Context, id string) (libraryviews.TemplateForm, templateInput, components.Errors, error) {
	var b templateFormBody
	if err := (&echo.DefaultBinder{}).BindBody(c, &b); err != nil {
		return libraryviews.TemplateForm{}, templateInput{}, nil, echo.ErrBadRequest
	}
	in := templateInput{body: b}
	if id != "" {
		v, err := strconv.Atoi(strings.TrimSpace(b.Version))
		if err != nil || v < 1 {
			return libraryviews.TemplateForm{}, templateInput{}, nil, echo.ErrBadRequest
		}
		in.version = v
	}
	errs := components.Errors{}
	in.body.Name = strings.TrimSpace(b.Name)
	switch {
	case in.body.Name == "":
		errs["name"] = "form.required"
	case len(in.body.Name) > libraryviews.TemplateNameMax:
		// The schema's MaxLen counts bytes: refuse here what it would
		// refuse with a 500.
		errs["name"] = "library.templates.name_too_long"
	}
	for _, name := range libraryviews.TemplateTextFields() {
		p := templateTextOf(&in.body, name)
		*p = strings.TrimSpace(*p)
		if utf8.RuneCountInString(*p) > libraryviews.TemplateTextMax {
			errs[name] = "library.templates.text_too_long"
		}
	}
	platforms := []string{}
	for _, p := range libraryviews.TemplatePlatforms() {
		if slices.Contains(b.Platforms, p) {
			platforms = append(platforms, p)
		}
	}
	for _, p := range b.Platforms {
		if !slices.Contains(libraryviews.TemplatePlatforms(), p) {
			errs["platforms"] = "library.templates.platform_unknown"
		}
	}
	in.body.Platforms = platforms
	if !slices.Contains(libraryviews.TemplateOpsecLevels(), b.Opsec) {
		errs["opsec_level"] = "library.templates.opsec_unknown"
	}
	var key string
	if in.labels, key = templateLabels(b.Labels); key != "" {
		errs["labels"] = key
	}
	f := libraryviews.TemplateForm{
		ID: id, Version: in.version, Name: in.body.Name, Description: in.body.Description,
		Objective: in.body.Objective, Procedure: in.body.Procedure, Prerequisites: in.body.Prerequisites,
		Cleanup: in.body.Cleanup, ExpectedDetection: in.body.ExpectedDetection, Platforms: in.body.Platforms,
		Opsec: b.Opsec, Labels: b.Labels, Errors: errs,
	}
	refs, err := attackviews.ParsePicked(b.Tags)
	if err != nil {
		errs["tags"] = "library.templates.tags_invalid"
		return f, in, errs, nil
	}
	picked, err := s.templateResolvePicks(c.Request().Context(), refs)
	if err != nil {
		return f, in, errs, err
	}
	f.Tags = picked
	if len(picked) != len(refs) {
		errs["tags"] = "library.templates.tags_unknown"
	}
	in.tags = refs
	return f, in, errs, nil
}

// templateTextOf points at a markdown field of the form body by name.
func templateTextOf(b *templateFormBody, name string) *string {
	switch name {
	case "description":
		return &b.Description
	case "objective":
		return &b.Objective
	case "procedure":
		return &b.Procedure
	case "prerequisites":
		return &b.Prerequisites
	case "cleanup":
		return &b.Cleanup
	default:
		return &b.ExpectedDetection
	}
}

// templateResolvePicks names the picked entries that exist, in the order
// picked (three queries at most, one per kind). Revoked and deprecated
// entries already on a template may stay.
func (s *Server) templateResolvePicks(ctx context.Context, refs []attackviews.PickedRef) ([]attackviews.PickedTag, error) {
	byKind := map[string][]uuid.UUID{}
	for _, r := range refs {
		byKind[r.Kind] = append(byKind[r.Kind], r.ID)
	}
	found := map[attackviews.PickedRef]attackviews.PickedTag{}
	if ids := byKind[attackviews.KindTactic]; len(ids) > 0 {
		rows, err := s.Ent.MitreTactic.Query().Where(mitretactic.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load picked tactics: %w", err)
		}
		for _, e := range rows {
			found[attackviews.PickedRef{Kind: attackviews.KindTactic, ID: e.ID}] = attackviews.PickedTag{
				Kind: attackviews.KindTactic, ID: e.ID.String(), ExternalID: e.ExternalID, Name: e.Name}
		}
	}
	if ids := byKind[attackviews.KindTechnique]; len(ids) > 0 {
		rows, err := s.Ent.MitreTechnique.Query().Where(mitretechnique.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load picked techniques: %w", err)
		}
		for _, e := range rows {
			found[attackviews.PickedRef{Kind: attackviews.KindTechnique, ID: e.ID}] = attackviews.PickedTag{
				Kind: attackviews.KindTechnique, ID: e.ID.String(), ExternalID: e.ExternalID, Name: e.Name}
		}
	}
	if ids := byKind[attackviews.KindSubtechnique]; len(ids) > 0 {
		rows, err := s.Ent.MitreSubtechnique.Query().Where(mitresubtechnique.IDIn(ids...)).WithTechnique().All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load picked sub-techniques: %w", err)
		}
		for _, e := range rows {
			p := attackviews.PickedTag{Kind: attackviews.KindSubtechnique, ID: e.ID.String(), ExternalID: e.ExternalID, Name: e.Name}
			if e.Edges.Technique != nil {
				p.Parent = e.Edges.Technique.Name
			}
			found[attackviews.PickedRef{Kind: attackviews.KindSubtechnique, ID: e.ID}] = p
		}
	}
	out := make([]attackviews.PickedTag, 0, len(refs))
	for _, r := range refs {
		if p, ok := found[r]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// createTemplateTags tags template id with refs, each tag naming exactly
// one entry.
func createTemplateTags(ctx context.Context, tx *ent.Tx, id uuid.UUID, refs []attackviews.PickedRef) error {
	if len(refs) == 0 {
		return nil
	}
	creates := make([]*ent.TestTemplateMitreTagCreate, len(refs))
	for i, r := range refs {
		c := tx.TestTemplateMitreTag.Create().SetTestTemplateID(id)
		switch r.Kind {
		case attackviews.KindTactic:
			c.SetTacticID(r.ID)
		case attackviews.KindTechnique:
			c.SetTechniqueID(r.ID)
		default:
			c.SetSubtechniqueID(r.ID)
		}
		creates[i] = c
	}
	if err := tx.TestTemplateMitreTag.CreateBulk(creates...).Exec(ctx); err != nil {
		return fmt.Errorf("tag template: %w", err)
	}
	return nil
}

// createTemplate creates a manual test template with its tags and its
// audit event in one transaction, and opens its page.
func (s *Server) createTemplate(c echo.Context) error {
	f, in, errs, err := s.bindTemplate(c, "")
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return s.renderTemplateForm(c, http.StatusUnprocessableEntity, f)
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	var id uuid.UUID
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		b := in.body
		t, err := tx.TestTemplate.Create().
			SetName(b.Name).SetDescription(b.Description).SetObjective(b.Objective).
			SetProcedure(b.Procedure).SetPrerequisites(b.Prerequisites).SetCleanup(b.Cleanup).
			SetExpectedDetection(b.ExpectedDetection).SetPlatforms(b.Platforms).
			SetOpsecLevel(testtemplate.OpsecLevel(b.Opsec)).SetLabels(in.labels).
			SetSource(testtemplate.SourceManual).SetCreatedByID(v.UserID).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("create template: %w", err)
		}
		id = t.ID
		if err := createTemplateTags(ctx, tx, t.ID, in.tags); err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.TemplateCreated, TargetType: templateTarget, TargetID: t.ID.String(), TargetLabel: t.Name,
			Details: map[string]any{"tags": len(in.tags)},
		})
	})
	if err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.created")
	return c.Redirect(http.StatusSeeOther, "/library/tests/"+id.String())
}

// updateTemplate saves a template and replaces its tags in one
// transaction, if the template is still at the version the form showed.
// Otherwise (someone saved it since) it answers 409 with the form as the
// user typed it and the values stored now, so nothing is overwritten
// unseen.
func (s *Server) updateTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.Ent.TestTemplate.Query().Where(testtemplate.ID(id)).OnlyID(ctx); err != nil {
		return fmt.Errorf("load template: %w", err)
	}
	f, in, errs, err := s.bindTemplate(c, id.String())
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return s.renderTemplateForm(c, http.StatusUnprocessableEntity, f)
	}
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		b := in.body
		n, err := tx.TestTemplate.Update().
			Where(testtemplate.ID(id), testtemplate.Version(in.version), testtemplate.DeletedAtIsNil()).
			SetName(b.Name).SetDescription(b.Description).SetObjective(b.Objective).
			SetProcedure(b.Procedure).SetPrerequisites(b.Prerequisites).SetCleanup(b.Cleanup).
			SetExpectedDetection(b.ExpectedDetection).SetPlatforms(b.Platforms).
			SetOpsecLevel(testtemplate.OpsecLevel(b.Opsec)).SetLabels(in.labels).
			AddVersion(1).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("update template: %w", err)
		}
		if n == 0 {
			return errTemplateStale
		}
		if _, err := tx.TestTemplateMitreTag.Delete().Where(testtemplatemitretag.TestTemplateID(id)).Exec(ctx); err != nil {
			return fmt.Errorf("untag template: %w", err)
		}
		if err := createTemplateTags(ctx, tx, id, in.tags); err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.TemplateUpdated, TargetType: templateTarget, TargetID: id.String(), TargetLabel: b.Name,
			Details: map[string]any{"version": in.version + 1, "tags": len(in.tags)},
		})
	})
	if errors.Is(err, errTemplateStale) {
		current, err := s.loadTemplateForForm(ctx, id)
		if err != nil {
			return err // deleted meanwhile: 404
		}
		f.Conflict = templateConflictOf(ctx, current, f)
		// The next save is made knowing what is stored now.
		f.Version = current.Version
		return s.renderTemplateForm(c, http.StatusConflict, f)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.saved")
	return c.Redirect(http.StatusSeeOther, "/library/tests/"+id.String())
}

// templateConflictOf describes the stored template t against the refused
// input f: its name, save time and version, and each field that differs
// with its stored value.
func templateConflictOf(ctx context.Context, t *ent.TestTemplate, f libraryviews.TemplateForm) *libraryviews.TemplateConflict {
	stored := templateFormOf(t)
	c := &libraryviews.TemplateConflict{Name: t.Name, UpdatedAt: t.UpdatedAt, Version: t.Version}
	add := func(label, storedValue, typed string) {
		if storedValue != typed {
			c.Fields = append(c.Fields, libraryviews.TemplateConflictField{Label: label, Value: storedValue})
		}
	}
	add("library.templates.name", stored.Name, f.Name)
	for _, name := range libraryviews.TemplateTextFields() {
		add("library.templates.field_"+name, stored.Text(name), f.Text(name))
	}
	add("library.templates.platforms", strings.Join(stored.Platforms, ", "), strings.Join(f.Platforms, ", "))
	if stored.Opsec != f.Opsec {
		c.Fields = append(c.Fields, libraryviews.TemplateConflictField{
			Label: "library.templates.opsec", Value: i18n.T(ctx, "library.templates.opsec_"+stored.Opsec)})
	}
	typedLabels, _ := templateLabels(f.Labels)
	add("library.templates.labels", stored.Labels, strings.Join(typedLabels, ", "))
	tagIDs := func(tags []attackviews.PickedTag) string {
		ids := make([]string, len(tags))
		for i, t := range tags {
			ids[i] = t.ExternalID
		}
		slices.Sort(ids)
		return strings.Join(ids, ", ")
	}
	add("library.templates.tags", tagIDs(stored.Tags), tagIDs(f.Tags))
	return c
}

// previewTemplateText renders one markdown field as its page would show
// it, for the form's preview buttons.
func (s *Server) previewTemplateText(c echo.Context) error {
	var b templatePreviewBody
	if err := (&echo.DefaultBinder{}).BindBody(c, &b); err != nil {
		return echo.ErrBadRequest
	}
	if !slices.Contains(libraryviews.TemplateTextFields(), b.Field) {
		return echo.ErrBadRequest
	}
	body := templateFormBody{Description: b.Description, Objective: b.Objective, Procedure: b.Procedure,
		Prerequisites: b.Prerequisites, Cleanup: b.Cleanup, ExpectedDetection: b.ExpectedDetection}
	src := cutRunes(strings.TrimSpace(*templateTextOf(&body, b.Field)), libraryviews.TemplateTextMax)
	return s.render(c, http.StatusOK, libraryviews.TemplatePreview(b.Field, src, true), nil)
}

// duplicateTemplate copies a template with its tags under the name
// "<name> (copy)", as a manual template with no external reference (an
// import must never mistake the copy for its original), and opens it.
func (s *Server) duplicateTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := s.Ent.TestTemplate.Query().Where(testtemplate.ID(id)).WithMitreTags().Only(ctx)
	if err != nil {
		return fmt.Errorf("load template: %w", err)
	}
	suffix := " " + i18n.T(ctx, "library.templates.copy_suffix")
	name := cutBytes(t.Name, libraryviews.TemplateNameMax-len(suffix)) + suffix
	v := auth.FromContext(ctx)
	var copyID uuid.UUID
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		cp, err := tx.TestTemplate.Create().
			SetName(name).SetDescription(t.Description).SetObjective(t.Objective).
			SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).SetCleanup(t.Cleanup).
			SetExpectedDetection(t.ExpectedDetection).SetPlatforms(t.Platforms).
			SetOpsecLevel(t.OpsecLevel).SetLabels(t.Labels).
			SetSource(testtemplate.SourceManual).SetCreatedByID(v.UserID).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("duplicate template: %w", err)
		}
		copyID = cp.ID
		creates := make([]*ent.TestTemplateMitreTagCreate, len(t.Edges.MitreTags))
		for i, tag := range t.Edges.MitreTags {
			creates[i] = tx.TestTemplateMitreTag.Create().SetTestTemplateID(cp.ID).
				SetNillableTacticID(tag.TacticID).SetNillableTechniqueID(tag.TechniqueID).
				SetNillableSubtechniqueID(tag.SubtechniqueID)
		}
		if err := tx.TestTemplateMitreTag.CreateBulk(creates...).Exec(ctx); err != nil {
			return fmt.Errorf("copy template tags: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.TemplateCreated, TargetType: templateTarget, TargetID: cp.ID.String(), TargetLabel: cp.Name,
			Details: map[string]any{"duplicate_of": t.ID.String()},
		})
	})
	if err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.duplicated")
	return c.Redirect(http.StatusSeeOther, "/library/tests/"+copyID.String())
}

// softDeleteTemplates moves the templates ids that are not deleted yet to
// the trash, with one audit event each, in one transaction. It returns
// how many it moved.
func (s *Server) softDeleteTemplates(ctx context.Context, ids []uuid.UUID) (int, error) {
	var moved int
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		tpls, err := tx.TestTemplate.Query().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, ids))).
			Select(testtemplate.FieldName).ForUpdate().All(ctx)
		if err != nil {
			return fmt.Errorf("load templates: %w", err)
		}
		if len(tpls) == 0 {
			return nil
		}
		found := make([]uuid.UUID, len(tpls))
		for i, t := range tpls {
			found[i] = t.ID
		}
		if moved, err = tx.TestTemplate.Delete().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, found))).Exec(ctx); err != nil {
			return fmt.Errorf("delete templates: %w", err)
		}
		for _, t := range tpls {
			if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.TemplateDeleted, TargetType: templateTarget, TargetID: t.ID.String(), TargetLabel: t.Name,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return moved, err
}

// deleteTemplate moves a template to the trash. Scenarios keep their
// entries (shown as gone) and missions their copies.
func (s *Server) deleteTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	n, err := s.softDeleteTemplates(ctx, []uuid.UUID{id})
	if err != nil {
		return err
	}
	if n == 0 {
		// Already in the trash (a second click): the same answer, unless
		// there is no such template at all.
		if _, err := s.Ent.TestTemplate.Get(schema.SkipSoftDelete(ctx), id); err != nil {
			return fmt.Errorf("load template: %w", err)
		}
	}
	s.flash(c, "success", "library.templates.deleted_done")
	return c.Redirect(http.StatusSeeOther, "/library/tests")
}

// restoreTemplate takes a template out of the trash.
func (s *Server) restoreTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sctx := schema.SkipSoftDelete(ctx)
	t, err := s.Ent.TestTemplate.Get(sctx, id)
	if err != nil {
		return fmt.Errorf("load template: %w", err)
	}
	err = database.WithTx(sctx, s.Ent, func(tx *ent.Tx) error {
		n, err := tx.TestTemplate.Update().
			Where(testtemplate.ID(id), testtemplate.DeletedAtNotNil()).
			ClearDeletedAt().
			Save(sctx)
		if err != nil || n == 0 {
			// n == 0: restored already (a second click).
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.TemplateRestored, TargetType: templateTarget, TargetID: id.String(), TargetLabel: t.Name,
		})
	})
	if err != nil {
		return fmt.Errorf("restore template: %w", err)
	}
	s.flash(c, "success", "library.templates.restored_done")
	return c.Redirect(http.StatusSeeOther, "/library/tests/"+id.String())
}

// bindTemplateBulk binds the bulk form: the ticked ids in order (repeats
// dropped) and the list to return to. A selection that is not ids is a
// bad request; an empty one is the user's mistake, told on the list.
func bindTemplateBulk(c echo.Context) (templateBulkBody, []uuid.UUID, libraryviews.TemplateFilter, error) {
	var b templateBulkBody
	if err := (&echo.DefaultBinder{}).BindBody(c, &b); err != nil {
		return b, nil, libraryviews.TemplateFilter{}, echo.ErrBadRequest
	}
	if len(b.IDs) > templateBulkMax {
		return b, nil, libraryviews.TemplateFilter{}, echo.ErrBadRequest
	}
	ids := make([]uuid.UUID, 0, len(b.IDs))
	for _, raw := range b.IDs {
		id, err := uuid.Parse(raw)
		if err != nil {
			return b, nil, libraryviews.TemplateFilter{}, echo.ErrBadRequest
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	var f libraryviews.TemplateFilter
	if u, err := url.Parse(b.Back); err == nil && u.Path == "/library/tests" && u.Host == "" && u.Scheme == "" {
		f = templateFilter(u.Query())
	} else {
		f = templateFilter(url.Values{})
	}
	f.Deleted = false
	return b, ids, f, nil
}

// addTemplatesToScenario appends the ticked templates to a scenario, in
// the order the list showed them, in one transaction (internal/library's;
// no version check: an append never reorders what is there).
func (s *Server) addTemplatesToScenario(c echo.Context) error {
	b, ids, f, err := bindTemplateBulk(c)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return s.renderTemplateList(c, http.StatusUnprocessableEntity, f, b, "library.templates.bulk_none")
	}
	scID, err := uuid.Parse(b.Scenario)
	if err != nil {
		return s.renderTemplateList(c, http.StatusUnprocessableEntity, f, b, "library.templates.bulk_no_scenario")
	}
	ctx := c.Request().Context()
	n, err := s.Ent.TestTemplate.Query().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, ids))).Count(ctx)
	if err != nil {
		return fmt.Errorf("count templates: %w", err)
	}
	if n != len(ids) {
		return s.renderTemplateList(c, http.StatusUnprocessableEntity, f, b, "library.templates.bulk_gone")
	}
	if _, err := library.AddTests(ctx, s.Ent, scID, 0, ids); errors.Is(err, library.ErrNoScenario) {
		return s.renderTemplateList(c, http.StatusUnprocessableEntity, f, b, "library.templates.bulk_no_scenario")
	} else if err != nil {
		return fmt.Errorf("add templates to scenario: %w", err)
	}
	s.flash(c, "success", "library.templates.bulk_added")
	return c.Redirect(http.StatusSeeOther, "/library/scenarios/"+scID.String())
}

// deleteTemplates moves the ticked templates to the trash in one
// transaction.
func (s *Server) deleteTemplates(c echo.Context) error {
	b, ids, f, err := bindTemplateBulk(c)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return s.renderTemplateList(c, http.StatusUnprocessableEntity, f, b, "library.templates.bulk_none")
	}
	if _, err := s.softDeleteTemplates(c.Request().Context(), ids); err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.bulk_deleted")
	return c.Redirect(http.StatusSeeOther, f.URL(f.Page))
}
