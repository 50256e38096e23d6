// Package rulepick is the read side of the detection rules picker
// (views/rulepicker) that the template form and a mission test's
// expected-rules page share: the rules picked, read from the form and
// checked against the catalogue (internal/sigma), and the rules offered,
// those of some ATT&CK techniques or those whose title holds a search.
package rulepick

import (
	"context"
	"fmt"
	"strings"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/detectionrule"
	"violet/ent/predicate"
	"violet/internal/database"
	"violet/internal/sigma"
	"violet/views/rulepicker"
)

// OfferMax bounds the rules the picker offers at once.
const OfferMax = 200

// Max bounds the rules one template or mission test may expect.
const Max = 200

// Columns are the columns the picker shows.
var Columns = []string{detectionrule.FieldTitle, detectionrule.FieldLevel, detectionrule.FieldTechniques}

// Choice is a catalogue rule as the picker shows it.
func Choice(r *ent.DetectionRule) rulepicker.Rule {
	return rulepicker.Rule{ID: r.ID.String(), Title: r.Title, Level: r.Level, Techniques: strings.Join(r.Techniques, ", ")}
}

// Choices are loaded rules as the picker shows them.
func Choices(rules []*ent.DetectionRule) []rulepicker.Rule {
	var out []rulepicker.Rule
	for _, r := range rules {
		out = append(out, Choice(r))
	}
	return out
}

// ParseIDs reads the picker's values, without repeats; ok is false when
// one is not an id.
func ParseIDs(values []string) (ids []uuid.UUID, ok bool) {
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

// Load loads the picked rules that exist (not deleted), by title.
func Load(ctx context.Context, client *ent.Client, ids []uuid.UUID) ([]*ent.DetectionRule, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := client.DetectionRule.Query().Where(predicate.DetectionRule(database.In(detectionrule.FieldID, ids))).
		Order(detectionrule.ByTitle(), detectionrule.ByID()).Select(Columns...).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the picked rules: %w", err)
	}
	return rows, nil
}

// Kept are the rules already ticked that an htmx search sends, so the
// offer leaves them out; values that are not rules are dropped.
func Kept(ctx context.Context, client *ent.Client, values []string) ([]rulepicker.Rule, error) {
	ids, _ := ParseIDs(values)
	rows, err := Load(ctx, client, ids)
	return Choices(rows), err
}

// Check reads the rules a form picked: the rules of the catalogue they
// name (not deleted, by title), and the message key of the picker's
// error ("" when none): a value that is not an id, more than Max rules,
// or a rule not in the catalogue (the known ones are still returned, to
// show them picked again).
func Check(ctx context.Context, client *ent.Client, values []string) ([]*ent.DetectionRule, string, error) {
	ids, ok := ParseIDs(values)
	switch {
	case !ok:
		return nil, "sigma.picker.rules_invalid", nil
	case len(ids) > Max:
		return nil, "sigma.picker.rules_too_many", nil
	}
	rules, err := Load(ctx, client, ids)
	if err != nil || len(rules) == len(ids) {
		return rules, "", err
	}
	return rules, "sigma.picker.rules_unknown", nil
}

// Offer is what the picker offers for the search q (trimmed, returned):
// the rules whose title holds q or, without q, those naming one of the
// ATT&CK technique and sub-technique IDs techniques (one statement
// through the GIN index of their techniques), the rules picked left
// out; the first OfferMax by title.
func Offer(ctx context.Context, client *ent.Client, q string, techniques []string, picked []rulepicker.Rule) (string, []rulepicker.Rule, error) {
	q = strings.TrimSpace(q)
	query := client.DetectionRule.Query()
	switch {
	case q != "":
		query.Where(detectionrule.TitleContainsFold(q))
	case len(techniques) == 0:
		return q, nil, nil
	default:
		query.Where(sigma.ForTechniques(techniques))
	}
	ids := make([]uuid.UUID, 0, len(picked))
	for _, r := range picked {
		if id, err := uuid.Parse(r.ID); err == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		query.Where(predicate.DetectionRule(func(s *entsql.Selector) {
			s.Where(entsql.Not(entsql.P(func(b *entsql.Builder) {
				b.Ident(s.C(detectionrule.FieldID)).WriteString(" = ANY(").Arg(pq.Array(ids)).WriteString(")")
			})))
		}))
	}
	rows, err := query.Order(detectionrule.ByTitle(), detectionrule.ByID()).Limit(OfferMax).Select(Columns...).All(ctx)
	if err != nil {
		return q, nil, fmt.Errorf("offer rules: %w", err)
	}
	return q, Choices(rows), nil
}
