package library

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionrule"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/ent/testtemplatemitretag"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/expectedrule"
	"violet/internal/i18n"
	attackviews "violet/views/attack"
	expectedviews "violet/views/expectedrules"
	libraryviews "violet/views/library"
)

// The test template workflows of the library pages: create, edit,
// duplicate, delete, restore, and the bulk actions of the list. Each
// write is one transaction with its audit record.

// templateTarget is the audit log's target type of test templates.
const templateTarget = "test_template"

// ErrNoVersion is an edit that does not carry the version its form was
// rendered with (a positive number). The scenario changes treat 0 as "no
// check" (for appends from elsewhere); a person's form always carries its
// version, so anything else is a bad request, never a change without a
// check.
var ErrNoVersion = errors.New("the form carries no version")

// TemplateInput is what the template form may set: no source, no
// external reference, no owner (those come from imports and the server).
type TemplateInput struct {
	Name              string
	Description       string
	Objective         string
	Procedure         string
	Prerequisites     string
	Cleanup           string
	ExpectedDetection string
	Platforms         []string
	Opsec             string
	Labels            string   // comma-separated, as typed
	Tags              []string // the picker's values, "<kind>:<uuid>"
	Rules             []string // the rules picker's values: detection rule ids
	// The expected rules editor's rows, in order: each row's tool id
	// and rule name (expectedrule.Check).
	ExpectedTools []string
	ExpectedNames []string
	Version       int // the version the edit form showed; unused by CreateTemplate
}

// text points at a markdown field of the input by its form name.
func (in *TemplateInput) text(name string) *string {
	switch name {
	case "description":
		return &in.Description
	case "objective":
		return &in.Objective
	case "procedure":
		return &in.Procedure
	case "prerequisites":
		return &in.Prerequisites
	case "cleanup":
		return &in.Cleanup
	default:
		return &in.ExpectedDetection
	}
}

// TemplateSave is what a template save gives back: the template's id and
// the form to show again when the save is refused, the input as checked
// (trimmed, platforms in the list's order, picked tags named) and, after
// a stale save (app.ErrConflict), the stored state and the version the
// next save is made from.
type TemplateSave struct {
	ID   uuid.UUID
	Form libraryviews.TemplateForm
}

// templateDraft is a checked template form: what a save writes.
type templateDraft struct {
	in     TemplateInput // trimmed, platforms known and in order
	labels []string
	tags   []attackviews.PickedRef
	rules  []uuid.UUID // the detection rules expected to fire
	// The free rule names per tool expected to fire, and the names of
	// the tools the editor offered (for the audit record).
	expected  []expectedrule.Rule
	toolNames map[uuid.UUID]string
}

// TemplateLabels splits the labels field on commas, trimmed, dropping
// blanks and repeats (whatever their case); "" is the i18n key of what is
// wrong with it, if anything.
func TemplateLabels(raw string) ([]string, string) {
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

// checkTemplateInput checks the template form of template id ("" for a
// new one). It returns the form as typed (to show again, picked tags
// named), the draft to write, and the errors by field (an *app.Invalid,
// nil when there are none). Picked tags must each name exactly one
// existing tactic, technique or sub-technique: the form says so before
// the database's CHECK and foreign keys would.
func checkTemplateInput(ctx context.Context, client *ent.Client, id string, in TemplateInput) (libraryviews.TemplateForm, templateDraft, error) {
	d := templateDraft{in: in}
	errs := &app.Invalid{}
	d.in.Name = strings.TrimSpace(in.Name)
	switch {
	case d.in.Name == "":
		errs.Add("name", "form.required")
	case len(d.in.Name) > libraryviews.TemplateNameMax:
		// The schema's MaxLen counts bytes: refuse here what it would
		// refuse with a 500.
		errs.Add("name", "library.templates.name_too_long")
	}
	for _, name := range libraryviews.TemplateTextFields() {
		p := d.in.text(name)
		*p = strings.TrimSpace(*p)
		if utf8.RuneCountInString(*p) > libraryviews.TemplateTextMax {
			errs.Add(name, "library.templates.text_too_long")
		}
	}
	platforms := []string{}
	for _, p := range libraryviews.TemplatePlatforms() {
		if slices.Contains(in.Platforms, p) {
			platforms = append(platforms, p)
		}
	}
	for _, p := range in.Platforms {
		if !slices.Contains(libraryviews.TemplatePlatforms(), p) {
			errs.Add("platforms", "library.templates.platform_unknown")
		}
	}
	d.in.Platforms = platforms
	if !slices.Contains(libraryviews.TemplateOpsecLevels(), in.Opsec) {
		errs.Add("opsec_level", "library.templates.opsec_unknown")
	}
	var key string
	if d.labels, key = TemplateLabels(in.Labels); key != "" {
		errs.Add("labels", key)
	}
	b := d.in
	f := libraryviews.TemplateForm{
		ID: id, Version: in.Version, Name: b.Name, Description: b.Description,
		Objective: b.Objective, Procedure: b.Procedure, Prerequisites: b.Prerequisites,
		Cleanup: b.Cleanup, ExpectedDetection: b.ExpectedDetection, Platforms: b.Platforms,
		Opsec: in.Opsec, Labels: in.Labels,
	}
	ruleIDs, ok := parseRuleIDs(in.Rules)
	switch {
	case !ok:
		errs.Add("rules", "sigma.picker.rules_invalid")
	case len(ruleIDs) > maxTemplateRules:
		errs.Add("rules", "sigma.picker.rules_too_many")
	default:
		rules, err := pickedRules(ctx, client, ruleIDs)
		if err != nil {
			return f, d, err
		}
		for _, r := range rules {
			f.Rules = append(f.Rules, ruleChoice(r))
			d.rules = append(d.rules, r.ID)
		}
		if len(rules) != len(ruleIDs) {
			errs.Add("rules", "sigma.picker.rules_unknown")
		}
	}
	expected, editor, key, err := expectedrule.CheckTemplate(ctx, client, id, in.ExpectedTools, in.ExpectedNames)
	if err != nil {
		return f, d, err
	}
	f.Expected, d.expected, d.toolNames = editor, expected, expectedrule.ToolNames(editor)
	if key != "" {
		errs.Add(expectedviews.Field, key)
	}
	refs, err := attackviews.ParsePicked(in.Tags)
	if err != nil {
		errs.Add("tags", "library.templates.tags_invalid")
		return f, d, errs.Err()
	}
	picked, err := resolvePicks(ctx, client, refs)
	if err != nil {
		return f, d, err
	}
	f.Tags = picked
	if len(picked) != len(refs) {
		errs.Add("tags", "library.templates.tags_unknown")
	}
	d.tags = refs
	if err := errs.Err(); err != nil {
		// The form is shown again: with its rules offer.
		if oerr := offerRules(ctx, client, &f, ""); oerr != nil {
			return f, d, oerr
		}
		return f, d, err
	}
	return f, d, nil
}

// resolvePicks names the picked entries that exist, in the order picked
// (three queries at most, one per kind). Revoked and deprecated entries
// already on a template may stay.
func resolvePicks(ctx context.Context, client *ent.Client, refs []attackviews.PickedRef) ([]attackviews.PickedTag, error) {
	byKind := map[string][]uuid.UUID{}
	for _, r := range refs {
		byKind[r.Kind] = append(byKind[r.Kind], r.ID)
	}
	found := map[attackviews.PickedRef]attackviews.PickedTag{}
	if ids := byKind[attackviews.KindTactic]; len(ids) > 0 {
		rows, err := client.MitreTactic.Query().Where(mitretactic.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load picked tactics: %w", err)
		}
		for _, e := range rows {
			found[attackviews.PickedRef{Kind: attackviews.KindTactic, ID: e.ID}] = attackviews.PickedTag{
				Kind: attackviews.KindTactic, ID: e.ID.String(), ExternalID: e.ExternalID, Name: e.Name}
		}
	}
	if ids := byKind[attackviews.KindTechnique]; len(ids) > 0 {
		rows, err := client.MitreTechnique.Query().Where(mitretechnique.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load picked techniques: %w", err)
		}
		for _, e := range rows {
			found[attackviews.PickedRef{Kind: attackviews.KindTechnique, ID: e.ID}] = attackviews.PickedTag{
				Kind: attackviews.KindTechnique, ID: e.ID.String(), ExternalID: e.ExternalID, Name: e.Name}
		}
	}
	if ids := byKind[attackviews.KindSubtechnique]; len(ids) > 0 {
		rows, err := client.MitreSubtechnique.Query().Where(mitresubtechnique.IDIn(ids...)).WithTechnique().All(ctx)
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

// CreateTemplate creates a manual test template with its tags and its
// audit event in one transaction. Invalid input is an *app.Invalid, with
// the form to show again in the result.
func CreateTemplate(ctx context.Context, client *ent.Client, in TemplateInput) (TemplateSave, error) {
	in.Version = 0
	f, d, err := checkTemplateInput(ctx, client, "", in)
	if err != nil {
		return TemplateSave{Form: f}, err
	}
	v := auth.FromContext(ctx)
	var id uuid.UUID
	err = database.WithTx(ctx, client, func(tx *ent.Tx) error {
		b := d.in
		t, err := tx.TestTemplate.Create().
			SetName(b.Name).SetDescription(b.Description).SetObjective(b.Objective).
			SetProcedure(b.Procedure).SetPrerequisites(b.Prerequisites).SetCleanup(b.Cleanup).
			SetExpectedDetection(b.ExpectedDetection).SetPlatforms(b.Platforms).
			SetOpsecLevel(testtemplate.OpsecLevel(b.Opsec)).SetLabels(d.labels).
			SetSource(testtemplate.SourceManual).SetCreatedByID(v.UserID).
			AddRuleIDs(d.rules...).SetExpectedRules(expectedrule.Column(d.expected)).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("create template: %w", err)
		}
		id = t.ID
		if err := createTemplateTags(ctx, tx, t.ID, d.tags); err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.TemplateCreated, TargetType: templateTarget, TargetID: t.ID.String(), TargetLabel: t.Name,
			Details: createdDetails(d),
		})
	})
	return TemplateSave{ID: id, Form: f}, err
}

// createdDetails are the audit details of a new template: how many tags
// and rules, and its free expected rules when it has some.
func createdDetails(d templateDraft) map[string]any {
	details := map[string]any{"tags": len(d.tags), "rules": len(d.rules)}
	if len(d.expected) > 0 {
		details["expected_rules"] = expectedrule.Labels(d.expected, d.toolNames)
	}
	return details
}

// errTemplateStale is a save refused because the template is no longer at
// the version the form showed.
var errTemplateStale = fmt.Errorf("test template changed since the form was shown: %w", app.ErrConflict)

// UpdateTemplate saves template id and replaces its tags in one
// transaction, if the template is still at the version the form showed.
// Otherwise (someone saved it since) it returns app.ErrConflict with the
// form as the user typed it, the values stored now and their version, so
// nothing is overwritten unseen. A template that does not exist (or was
// deleted, even meanwhile) is not found; invalid input is an
// *app.Invalid; a version below 1 is ErrNoVersion.
func UpdateTemplate(ctx context.Context, client *ent.Client, id uuid.UUID, in TemplateInput) (TemplateSave, error) {
	// The expected rules as stored, for the audit record's change: when
	// the save goes through, they are those of the version it replaces
	// (the form's version is never older than this read).
	before, err := client.TestTemplate.Query().Where(testtemplate.ID(id)).
		Select(testtemplate.FieldExpectedRules).Only(ctx)
	if err != nil {
		return TemplateSave{}, fmt.Errorf("load template: %w", err)
	}
	if in.Version < 1 {
		return TemplateSave{}, ErrNoVersion
	}
	f, d, err := checkTemplateInput(ctx, client, id.String(), in)
	if err != nil {
		return TemplateSave{ID: id, Form: f}, err
	}
	err = database.WithTx(ctx, client, func(tx *ent.Tx) error {
		b := d.in
		n, err := tx.TestTemplate.Update().
			Where(testtemplate.ID(id), testtemplate.Version(in.Version), testtemplate.DeletedAtIsNil()).
			SetName(b.Name).SetDescription(b.Description).SetObjective(b.Objective).
			SetProcedure(b.Procedure).SetPrerequisites(b.Prerequisites).SetCleanup(b.Cleanup).
			SetExpectedDetection(b.ExpectedDetection).SetPlatforms(b.Platforms).
			SetOpsecLevel(testtemplate.OpsecLevel(b.Opsec)).SetLabels(d.labels).
			ClearRules().AddRuleIDs(d.rules...).SetExpectedRules(expectedrule.Column(d.expected)).
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
		if err := createTemplateTags(ctx, tx, id, d.tags); err != nil {
			return err
		}
		details := map[string]any{"version": in.Version + 1, "tags": len(d.tags), "rules": len(d.rules)}
		if ch := expectedrule.Changes(expectedrule.FromColumn(before.ExpectedRules), d.expected, d.toolNames); ch != nil {
			details["expected_rules"] = ch
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.TemplateUpdated, TargetType: templateTarget, TargetID: id.String(), TargetLabel: b.Name,
			Details: details,
		})
	})
	if errors.Is(err, errTemplateStale) {
		current, lerr := loadTemplateForForm(ctx, client, id)
		if lerr != nil {
			return TemplateSave{}, lerr // deleted meanwhile: not found
		}
		f.Conflict = templateConflictOf(ctx, current, f)
		// The next save is made knowing what is stored now.
		f.Version = current.Version
	}
	return TemplateSave{ID: id, Form: f}, err
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
	typedLabels, _ := TemplateLabels(f.Labels)
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
	names := expectedrule.ToolNames(f.Expected)
	storedRules := expectedrule.FromColumn(t.ExpectedRules)
	typedRules := make([]expectedrule.Rule, 0, len(f.Expected.Rows))
	for _, r := range f.Expected.Rows {
		if tool, err := uuid.Parse(r.Tool); err == nil {
			typedRules = append(typedRules, expectedrule.Rule{ToolID: tool, Name: r.Name})
		}
	}
	if !expectedrule.Same(storedRules, typedRules) {
		c.Fields = append(c.Fields, libraryviews.TemplateConflictField{
			Label: "expectedrules.legend", Value: strings.Join(expectedrule.Labels(storedRules, names), ", ")})
	}
	return c
}

// DuplicateTemplate copies a template with its tags under the name
// "<name> (copy)" (in the viewer's language), as a manual template with
// no external reference (an import must never mistake the copy for its
// original), and returns the copy's id.
func DuplicateTemplate(ctx context.Context, client *ent.Client, id uuid.UUID) (uuid.UUID, error) {
	t, err := client.TestTemplate.Query().Where(testtemplate.ID(id)).WithMitreTags().
		WithRules(func(q *ent.DetectionRuleQuery) { q.Select(detectionrule.FieldID) }).Only(ctx)
	if err != nil {
		return uuid.Nil, fmt.Errorf("load template: %w", err)
	}
	rules := make([]uuid.UUID, len(t.Edges.Rules))
	for i, r := range t.Edges.Rules {
		rules[i] = r.ID
	}
	suffix := " " + i18n.T(ctx, "library.templates.copy_suffix")
	name := cutBytes(t.Name, libraryviews.TemplateNameMax-len(suffix)) + suffix
	v := auth.FromContext(ctx)
	var copyID uuid.UUID
	err = database.WithTx(ctx, client, func(tx *ent.Tx) error {
		cp, err := tx.TestTemplate.Create().
			SetName(name).SetDescription(t.Description).SetObjective(t.Objective).
			SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).SetCleanup(t.Cleanup).
			SetExpectedDetection(t.ExpectedDetection).SetPlatforms(t.Platforms).
			SetOpsecLevel(t.OpsecLevel).SetLabels(t.Labels).
			SetSource(testtemplate.SourceManual).SetCreatedByID(v.UserID).
			AddRuleIDs(rules...).SetExpectedRules(expectedrule.Column(expectedrule.FromColumn(t.ExpectedRules))).
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
	return copyID, err
}

// softDeleteTemplates moves the templates ids that are not deleted yet to
// the trash, with one audit event each, in one transaction. It returns
// how many it moved.
func softDeleteTemplates(ctx context.Context, client *ent.Client, ids []uuid.UUID) (int, error) {
	var moved int
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
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

// DeleteTemplate moves a template to the trash. Scenarios keep their
// entries (shown as gone) and missions their copies. A template already
// in the trash (a second click) is no error; one that does not exist at
// all is not found.
func DeleteTemplate(ctx context.Context, client *ent.Client, id uuid.UUID) error {
	n, err := softDeleteTemplates(ctx, client, []uuid.UUID{id})
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := client.TestTemplate.Get(schema.SkipSoftDelete(ctx), id); err != nil {
			return fmt.Errorf("load template: %w", err)
		}
	}
	return nil
}

// bulkNone is the notice of a bulk action with nothing ticked.
func bulkNone() error { return &app.Invalid{Key: "library.templates.bulk_none"} }

// DeleteTemplates moves the ticked templates to the trash in one
// transaction; those already there are left as they are. Nothing ticked
// is an *app.Invalid whose Key is the list's notice.
func DeleteTemplates(ctx context.Context, client *ent.Client, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return bulkNone()
	}
	_, err := softDeleteTemplates(ctx, client, ids)
	return err
}

// RestoreTemplate takes a template out of the trash. A template not in
// the trash (restored already: a second click) is left as it is.
func RestoreTemplate(ctx context.Context, client *ent.Client, id uuid.UUID) error {
	sctx := schema.SkipSoftDelete(ctx)
	t, err := client.TestTemplate.Get(sctx, id)
	if err != nil {
		return fmt.Errorf("load template: %w", err)
	}
	err = database.WithTx(sctx, client, func(tx *ent.Tx) error {
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
	return nil
}

// AddTemplatesToScenario appends the ticked templates to a scenario, in
// the order the list showed them, in one transaction (AddTests; no
// version check: an append never reorders what is there). What the list
// must tell the person is an *app.Invalid whose Key is the notice:
// nothing ticked, no scenario chosen (uuid.Nil) or one that is gone, a
// ticked template deleted since.
func AddTemplatesToScenario(ctx context.Context, client *ent.Client, scenarioID uuid.UUID, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return bulkNone()
	}
	noScenario := &app.Invalid{Key: "library.templates.bulk_no_scenario"}
	if scenarioID == uuid.Nil {
		return noScenario
	}
	n, err := client.TestTemplate.Query().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, ids))).Count(ctx)
	if err != nil {
		return fmt.Errorf("count templates: %w", err)
	}
	if n != len(ids) {
		return &app.Invalid{Key: "library.templates.bulk_gone"}
	}
	if _, err := AddTests(ctx, client, scenarioID, 0, ids); errors.Is(err, ErrNoScenario) {
		return noScenario
	} else if err != nil {
		return fmt.Errorf("add templates to scenario: %w", err)
	}
	return nil
}
