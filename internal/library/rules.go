package library

import (
	"context"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/expectedrule"
	"violet/internal/rulepick"
	attackviews "violet/views/attack"
	libraryviews "violet/views/library"
)

// The template form's detection rules picker: the rules a template
// expects to fire (its rules edge, test_template_rules), picked from the
// rule catalogue (internal/sigma) through the picker a mission test's
// expected-rules page shares (internal/rulepick, views/rulepicker).

// maxTemplateRules bounds the rules one template may expect.
const maxTemplateRules = rulepick.Max

// ruleChoice is a catalogue rule as the picker shows it.
func ruleChoice(r *ent.DetectionRule) libraryviews.RuleChoice { return rulepick.Choice(r) }

// ruleColumns are the columns the picker shows.
var ruleColumns = rulepick.Columns

// parseRuleIDs reads the picker's values; ok is false when one is not an
// id.
func parseRuleIDs(values []string) (ids []uuid.UUID, ok bool) { return rulepick.ParseIDs(values) }

// pickedRules loads the picked rules that exist (not deleted), by title.
func pickedRules(ctx context.Context, client *ent.Client, ids []uuid.UUID) ([]*ent.DetectionRule, error) {
	return rulepick.Load(ctx, client, ids)
}

// offerRules fills the rules the picker offers (f.RuleCandidates): those
// whose title holds q, or without q those naming one of the template's
// tagged techniques and sub-techniques, the picked ones left out
// (rulepick.Offer).
func offerRules(ctx context.Context, client *ent.Client, f *libraryviews.TemplateForm, q string) error {
	var ids []string
	for _, t := range f.Tags {
		if t.Kind == attackviews.KindTechnique || t.Kind == attackviews.KindSubtechnique {
			ids = append(ids, t.ExternalID)
		}
	}
	var err error
	f.RulesQuery, f.RuleCandidates, err = rulepick.Offer(ctx, client, q, ids, f.Rules)
	return err
}

// NewTemplateForm is the empty template form, its rules picker searching
// q (picked: the rules already ticked, left out of the offer).
func NewTemplateForm(ctx context.Context, client *ent.Client, q string, picked []string) (libraryviews.TemplateForm, error) {
	f := libraryviews.TemplateForm{Opsec: "medium"}
	if err := keepPicked(ctx, client, &f, picked); err != nil {
		return f, err
	}
	var err error
	if f.Expected, err = expectedrule.Editor(ctx, client, nil); err != nil {
		return f, err
	}
	return f, offerRules(ctx, client, &f, q)
}

// keepPicked puts the rules already ticked (an htmx search sends them)
// in the form, so the offer leaves them out.
func keepPicked(ctx context.Context, client *ent.Client, f *libraryviews.TemplateForm, picked []string) error {
	rules, err := rulepick.Kept(ctx, client, picked)
	f.Rules = append(f.Rules, rules...)
	return err
}
