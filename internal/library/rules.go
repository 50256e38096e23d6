package library

import (
	"context"
	"fmt"
	"strings"
	"violet/internal/sigma"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/detectionrule"
	"violet/ent/predicate"
	"violet/internal/database"
	"violet/internal/expectedrule"
	attackviews "violet/views/attack"
	libraryviews "violet/views/library"
)

// The template form's detection rules picker: the rules a template
// expects to fire (its rules edge, test_template_rules), picked from the
// rule catalogue (internal/sigma).

// ruleOffer bounds the rules the picker offers at once.
const ruleOffer = 200

// maxTemplateRules bounds the rules one template may expect.
const maxTemplateRules = 200

// ruleChoice is a catalogue rule as the picker shows it.
func ruleChoice(r *ent.DetectionRule) libraryviews.RuleChoice {
	return libraryviews.RuleChoice{ID: r.ID.String(), Title: r.Title, Level: r.Level, Techniques: strings.Join(r.Techniques, ", ")}
}

// ruleColumns are the columns the picker shows.
var ruleColumns = []string{detectionrule.FieldTitle, detectionrule.FieldLevel, detectionrule.FieldTechniques}

// parseRuleIDs reads the picker's values; ok is false when one is not an
// id.
func parseRuleIDs(values []string) (ids []uuid.UUID, ok bool) {
	seen := map[uuid.UUID]bool{}
	for _, v := range values {
		id, err := uuid.Parse(strings.TrimSpace(v))
		if err != nil {
			return nil, false
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, true
}

// pickedRules loads the picked rules that exist (not deleted), by title.
func pickedRules(ctx context.Context, client *ent.Client, ids []uuid.UUID) ([]*ent.DetectionRule, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := client.DetectionRule.Query().Where(predicate.DetectionRule(database.In(detectionrule.FieldID, ids))).
		Order(detectionrule.ByTitle(), detectionrule.ByID()).Select(ruleColumns...).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the picked rules: %w", err)
	}
	return rows, nil
}

// offerRules fills the rules the picker offers (f.RuleCandidates): those
// whose title holds q, or without q those naming one of the template's
// tagged techniques and sub-techniques (one statement through the GIN
// index of their techniques), the picked ones left out; the first
// ruleOffer by title.
func offerRules(ctx context.Context, client *ent.Client, f *libraryviews.TemplateForm, q string) error {
	f.RulesQuery = strings.TrimSpace(q)
	picked := make([]uuid.UUID, 0, len(f.Rules))
	for _, r := range f.Rules {
		if id, err := uuid.Parse(r.ID); err == nil {
			picked = append(picked, id)
		}
	}
	query := client.DetectionRule.Query()
	if f.RulesQuery != "" {
		query.Where(detectionrule.TitleContainsFold(f.RulesQuery))
	} else {
		var ids []string
		for _, t := range f.Tags {
			if t.Kind == attackviews.KindTechnique || t.Kind == attackviews.KindSubtechnique {
				ids = append(ids, t.ExternalID)
			}
		}
		if len(ids) == 0 {
			f.RuleCandidates = nil
			return nil
		}
		query.Where(sigma.ForTechniques(ids))
	}
	if len(picked) > 0 {
		query.Where(predicate.DetectionRule(func(s *entsql.Selector) {
			s.Where(entsql.Not(entsql.P(func(b *entsql.Builder) {
				b.Ident(s.C(detectionrule.FieldID)).WriteString(" = ANY(").Arg(pq.Array(picked)).WriteString(")")
			})))
		}))
	}
	rows, err := query.Order(detectionrule.ByTitle(), detectionrule.ByID()).Limit(ruleOffer).Select(ruleColumns...).All(ctx)
	if err != nil {
		return fmt.Errorf("offer rules: %w", err)
	}
	f.RuleCandidates = nil
	for _, r := range rows {
		f.RuleCandidates = append(f.RuleCandidates, ruleChoice(r))
	}
	return nil
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
	ids, _ := parseRuleIDs(picked)
	rows, err := pickedRules(ctx, client, ids)
	if err != nil {
		return err
	}
	for _, r := range rows {
		f.Rules = append(f.Rules, ruleChoice(r))
	}
	return nil
}
