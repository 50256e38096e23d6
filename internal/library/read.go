package library

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionrule"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/scenariotemplate"
	"violet/ent/scenariotemplatetest"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/ent/testtemplatemitretag"
	"violet/internal/app"
	"violet/internal/attackid"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/expectedrule"
	attackviews "violet/views/attack"
	libraryviews "violet/views/library"
)

// The read models of the library pages: the template and scenario lists
// (filtered in SQL, one page at a time) and the template and scenario
// pages. Each takes a constant number of queries whatever the page holds
// (handlers/querybudget_test.go, TestTemplateQueryCount).

// templateScenarioChoices is the most scenarios the bulk form offers.
const templateScenarioChoices = 500

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

// WithTagEntries eager-loads a template query's ATT&CK tags with the
// catalogue entries they name (four queries).
func WithTagEntries(q *ent.TestTemplateQuery) {
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

// TagEntries turns a template's tags, loaded by WithTagEntries, into
// catalogue entries, by ATT&CK ID. Revoked and deprecated entries stay,
// flagged.
func TagEntries(tags []*ent.TestTemplateMitreTag) []attackviews.Entry {
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

// TemplateFilterOf reads the template list's query. Values that name no
// choice fall back to "any": the URL is often typed or shared.
func TemplateFilterOf(q url.Values) libraryviews.TemplateFilter {
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

// ScenarioFilterOf reads the scenario list's query string. Unknown values
// fall back to the defaults: the URL is often typed or shared.
func ScenarioFilterOf(q url.Values) libraryviews.ScenarioFilter {
	f := libraryviews.ScenarioFilter{
		Q:       cutRunes(strings.TrimSpace(q.Get("q")), libraryviews.ScenarioNameMax),
		Deleted: q.Get("deleted") == "1",
		Page:    1,
	}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 {
		f.Page = p
	}
	return f
}

// ScenarioCandidateQuery reads the "add a test" search box.
func ScenarioCandidateQuery(q url.Values) string {
	return cutRunes(strings.TrimSpace(q.Get("q")), libraryviews.ScenarioNameMax)
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
func templateQuery(client *ent.Client, f libraryviews.TemplateFilter) *ent.TestTemplateQuery {
	q := client.TestTemplate.Query()
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

// ListTemplates is the test template list for f, filtered and paged, each
// row with its ATT&CK tags: a constant number of queries whatever the page
// holds (count, page, tags and their three kinds of entry; with choices,
// the tactic filter's and, when the bulk form shows, the scenarios it may
// add to). The trash is for viewers who may restore (app.ErrForbidden
// otherwise). The page is clamped to the last one.
func ListTemplates(ctx context.Context, client *ent.Client, f libraryviews.TemplateFilter, choices bool) (libraryviews.TemplateList, error) {
	v := auth.FromContext(ctx)
	if f.Deleted && !v.Can(auth.TrashManage) {
		return libraryviews.TemplateList{}, fmt.Errorf("the template trash: %w", app.ErrForbidden)
	}
	qctx := ctx
	if f.Deleted {
		qctx = schema.SkipSoftDelete(ctx)
	}
	q := templateQuery(client, f)
	total, err := q.Clone().Count(qctx)
	if err != nil {
		return libraryviews.TemplateList{}, fmt.Errorf("count templates: %w", err)
	}
	pages := max(1, (total+libraryviews.TemplatesPageSize-1)/libraryviews.TemplatesPageSize)
	f.Page = min(f.Page, pages)
	q.Order(testtemplate.ByName(), testtemplate.ByID()).
		Offset((f.Page-1)*libraryviews.TemplatesPageSize).
		Limit(libraryviews.TemplatesPageSize).
		Select(testtemplate.FieldName, testtemplate.FieldPlatforms, testtemplate.FieldOpsecLevel,
			testtemplate.FieldSource, testtemplate.FieldUpdatedAt, testtemplate.FieldDeletedAt)
	WithTagEntries(q)
	tpls, err := q.All(qctx)
	if err != nil {
		return libraryviews.TemplateList{}, fmt.Errorf("list templates: %w", err)
	}
	l := libraryviews.TemplateList{
		Filter: f, Total: total, Pages: pages, Selected: map[string]bool{},
		CanWrite: v.Can(auth.TemplateWrite), CanTrash: v.Can(auth.TrashManage),
	}
	for _, t := range tpls {
		l.Rows = append(l.Rows, libraryviews.TemplateRow{
			ID: t.ID.String(), Name: t.Name, Tags: TagEntries(t.Edges.MitreTags),
			Platforms: t.Platforms, Opsec: string(t.OpsecLevel), Source: string(t.Source),
			UpdatedAt: t.UpdatedAt, Deleted: t.DeletedAt != nil,
		})
	}
	if !choices {
		return l, nil
	}
	if l.Tactics, err = tacticChoices(ctx, client); err != nil {
		return l, err
	}
	if l.Bulk() {
		if l.Scenarios, err = scenarioChoices(ctx, client); err != nil {
			return l, err
		}
	}
	return l, nil
}

// tacticChoices lists the tactics for the filter, in matrix order.
func tacticChoices(ctx context.Context, client *ent.Client) ([]libraryviews.TemplateOption, error) {
	tactics, err := client.MitreTactic.Query().
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

// scenarioChoices lists the scenarios the bulk form may add to.
func scenarioChoices(ctx context.Context, client *ent.Client) ([]libraryviews.TemplateOption, error) {
	scs, err := client.ScenarioTemplate.Query().
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

// TemplateDetail is a test template's page with the scenarios that use
// it. Viewers with trash.manage also reach deleted templates, to restore
// them; for others a deleted template is not found.
func TemplateDetail(ctx context.Context, client *ent.Client, id uuid.UUID) (libraryviews.TemplateDetail, error) {
	v := auth.FromContext(ctx)
	sctx := ctx
	if v.Can(auth.TrashManage) {
		sctx = schema.SkipSoftDelete(ctx)
	}
	tq := client.TestTemplate.Query().Where(testtemplate.ID(id)).
		WithRules(func(q *ent.DetectionRuleQuery) {
			q.Order(detectionrule.ByTitle(), detectionrule.ByID()).Select(ruleColumns...)
		})
	WithTagEntries(tq)
	t, err := tq.Only(sctx)
	if err != nil {
		return libraryviews.TemplateDetail{}, fmt.Errorf("load template: %w", err)
	}
	uses, err := client.ScenarioTemplate.Query().
		Where(scenariotemplate.HasEntriesWith(scenariotemplatetest.TestTemplateID(id))).
		Order(scenariotemplate.ByName(), scenariotemplate.ByID()).
		Select(scenariotemplate.FieldName).
		All(ctx)
	if err != nil {
		return libraryviews.TemplateDetail{}, fmt.Errorf("load template scenarios: %w", err)
	}
	d := libraryviews.TemplateDetail{
		ID: t.ID.String(), Name: t.Name, Description: t.Description, Objective: t.Objective,
		Procedure: t.Procedure, Prerequisites: t.Prerequisites, Cleanup: t.Cleanup,
		ExpectedDetection: t.ExpectedDetection, Platforms: t.Platforms, Opsec: string(t.OpsecLevel),
		Source: string(t.Source), ExternalRef: t.ExternalRef, Labels: t.Labels,
		Tags: TagEntries(t.Edges.MitreTags), UpdatedAt: t.UpdatedAt, DeletedAt: t.DeletedAt,
		CanWrite: v.Can(auth.TemplateWrite), CanTrash: v.Can(auth.TrashManage),
	}
	for _, sc := range uses {
		d.Scenarios = append(d.Scenarios, libraryviews.TemplateUse{ID: sc.ID.String(), Name: sc.Name})
	}
	d.Rules = ruleChoices(t.Edges.Rules)
	if d.Expected, err = expectedrule.Named(ctx, client, expectedrule.FromColumn(t.ExpectedRules)); err != nil {
		return d, err
	}
	return d, nil
}

// TemplateFormFor is the edit form of a template that is not deleted,
// with its stored values, tags, rules and version, its rules picker
// offering the rules of its techniques, or searching q (the picked rules
// are then those of the search request: picked).
func TemplateFormFor(ctx context.Context, client *ent.Client, id uuid.UUID, q string, picked []string) (libraryviews.TemplateForm, error) {
	t, err := loadTemplateForForm(ctx, client, id)
	if err != nil {
		return libraryviews.TemplateForm{}, err
	}
	f := templateFormOf(t)
	if f.Expected, err = expectedrule.Editor(ctx, client, expectedrule.FromColumn(t.ExpectedRules)); err != nil {
		return f, err
	}
	if strings.TrimSpace(q) != "" {
		f.Rules = nil
		if err := keepPicked(ctx, client, &f, picked); err != nil {
			return f, err
		}
	}
	return f, offerRules(ctx, client, &f, q)
}

// loadTemplateForForm loads a template that is not deleted with its tags
// and their entries (a sub-technique's technique too, to name it).
func loadTemplateForForm(ctx context.Context, client *ent.Client, id uuid.UUID) (*ent.TestTemplate, error) {
	t, err := client.TestTemplate.Query().Where(testtemplate.ID(id)).
		WithMitreTags(func(q *ent.TestTemplateMitreTagQuery) {
			q.WithTactic().WithTechnique().WithSubtechnique(func(q *ent.MitreSubtechniqueQuery) { q.WithTechnique() })
		}).
		WithRules(func(q *ent.DetectionRuleQuery) {
			q.Order(detectionrule.ByTitle(), detectionrule.ByID()).Select(ruleColumns...)
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
		Opsec: string(t.OpsecLevel), Labels: strings.Join(t.Labels, ", "), Tags: pickedTags(t.Edges.MitreTags),
		Rules: ruleChoices(t.Edges.Rules),
	}
}

// ruleChoices are loaded rules as the picker shows them.
func ruleChoices(rules []*ent.DetectionRule) []libraryviews.RuleChoice {
	var out []libraryviews.RuleChoice
	for _, r := range rules {
		out = append(out, ruleChoice(r))
	}
	return out
}

// pickedTags turns loaded tags into the picker's selection, in ATT&CK ID
// order.
func pickedTags(tags []*ent.TestTemplateMitreTag) []attackviews.PickedTag {
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

// ListScenarios is the scenario list for f, searched by name and paged,
// with each scenario's number of tests (three queries whatever the page
// holds). The trash (deleted scenarios) is for viewers who may restore
// (app.ErrForbidden otherwise).
func ListScenarios(ctx context.Context, client *ent.Client, f libraryviews.ScenarioFilter) (libraryviews.ScenarioList, error) {
	v := auth.FromContext(ctx)
	if f.Deleted && !v.Can(auth.TrashManage) {
		return libraryviews.ScenarioList{}, fmt.Errorf("the scenario trash: %w", app.ErrForbidden)
	}
	q := client.ScenarioTemplate.Query()
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
		return libraryviews.ScenarioList{}, fmt.Errorf("count scenarios: %w", err)
	}
	pages := max(1, (total+libraryviews.ScenariosPageSize-1)/libraryviews.ScenariosPageSize)
	f.Page = min(f.Page, pages)
	scenarios, err := q.
		Order(scenariotemplate.ByName(), scenariotemplate.ByID()).
		Offset((f.Page - 1) * libraryviews.ScenariosPageSize).
		Limit(libraryviews.ScenariosPageSize).
		All(qctx)
	if err != nil {
		return libraryviews.ScenarioList{}, fmt.Errorf("list scenarios: %w", err)
	}
	counts, err := ScenarioTestCounts(ctx, client, scenarios)
	if err != nil {
		return libraryviews.ScenarioList{}, err
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
	return l, nil
}

// ScenarioTestCounts counts the entries of each scenario in one query.
func ScenarioTestCounts(ctx context.Context, client *ent.Client, scenarios []*ent.ScenarioTemplate) (map[uuid.UUID]int, error) {
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
	err := client.ScenarioTemplateTest.Query().
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

// ScenarioDetail is what a scenario's page shows, with the test templates
// whose name holds q to add when q is not "" and the viewer may edit (the
// page's search without JavaScript). Viewers with trash.manage also reach
// deleted scenarios, to restore them; for others a deleted scenario is
// not found.
//
// The scenario (and its version) is read before its entries: under
// concurrent changes the list shown may be newer than the version its
// forms carry, never older, so a change sent from it is either applied to
// exactly the order on screen or refused as stale.
func ScenarioDetail(ctx context.Context, client *ent.Client, id uuid.UUID, q string) (libraryviews.ScenarioDetail, error) {
	v := auth.FromContext(ctx)
	sctx := ctx
	if v.Can(auth.TrashManage) {
		sctx = schema.SkipSoftDelete(ctx)
	}
	sc, err := client.ScenarioTemplate.Get(sctx, id)
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
	if d.Tests, err = scenarioTests(ctx, client, sc.ID, sc.Version, d.CanWrite && sc.DeletedAt == nil); err != nil {
		return d, err
	}
	if q != "" && d.Tests.Editable {
		if d.Candidates, err = scenarioCandidates(ctx, client, id, q); err != nil {
			return d, err
		}
	}
	return d, nil
}

// scenarioTests loads a scenario's ordered list with each template's
// ATT&CK tags: six queries whatever the number of entries. Entries whose
// template was deleted stay, shown as such, so they can be removed.
func scenarioTests(ctx context.Context, client *ent.Client, id uuid.UUID, version int, editable bool) (libraryviews.ScenarioTests, error) {
	t := libraryviews.ScenarioTests{ScenarioID: id.String(), Version: version, Editable: editable}
	entries, err := client.ScenarioTemplateTest.Query().
		Where(scenariotemplatetest.ScenarioTemplateID(id)).
		Order(scenariotemplatetest.ByPosition()).
		WithTestTemplate(func(q *ent.TestTemplateQuery) {
			q.Select(testtemplate.FieldName)
			WithTagEntries(q)
		}).
		All(ctx)
	if err != nil {
		return t, fmt.Errorf("load scenario tests: %w", err)
	}
	for _, e := range entries {
		row := libraryviews.ScenarioEntry{ID: e.ID.String(), TemplateID: e.TestTemplateID.String()}
		if tpl := e.Edges.TestTemplate; tpl != nil {
			row.TemplateName = tpl.Name
			row.Tags = TagEntries(tpl.Edges.MitreTags)
		}
		t.Entries = append(t.Entries, row)
	}
	return t, nil
}

// ScenarioCandidates is the "add a test" search of a scenario that is not
// deleted: the test templates whose name holds q (one query for the
// scenario, five for the search).
func ScenarioCandidates(ctx context.Context, client *ent.Client, id uuid.UUID, q string) (libraryviews.ScenarioCandidates, error) {
	if _, err := client.ScenarioTemplate.Get(ctx, id); err != nil {
		return libraryviews.ScenarioCandidates{}, fmt.Errorf("load scenario: %w", err)
	}
	return scenarioCandidates(ctx, client, id, q)
}

// scenarioCandidates finds the test templates whose name holds q, by name,
// with their tags (five queries).
func scenarioCandidates(ctx context.Context, client *ent.Client, id uuid.UUID, q string) (libraryviews.ScenarioCandidates, error) {
	out := libraryviews.ScenarioCandidates{ScenarioID: id.String(), Query: q}
	if q == "" {
		return out, nil
	}
	tq := client.TestTemplate.Query().
		Where(testtemplate.NameContainsFold(q)).
		Order(testtemplate.ByName(), testtemplate.ByID()).
		Limit(libraryviews.ScenarioCandidateLimit + 1)
	WithTagEntries(tq)
	tpls, err := tq.Select(testtemplate.FieldName).All(ctx)
	if err != nil {
		return out, fmt.Errorf("search templates: %w", err)
	}
	if len(tpls) > libraryviews.ScenarioCandidateLimit {
		tpls, out.More = tpls[:libraryviews.ScenarioCandidateLimit], true
	}
	for _, t := range tpls {
		out.Hits = append(out.Hits, libraryviews.ScenarioCandidate{
			ID: t.ID.String(), Name: t.Name, Tags: TagEntries(t.Edges.MitreTags),
		})
	}
	return out, nil
}
