package attack

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"violet/internal/sigma"

	"violet/ent/detectionrule"
	attackviews "violet/views/attack"
)

// rules lists the detection rules of the catalogue (imported Sigma rules)
// whose techniques name the entry, and for a technique also those of its
// sub-techniques the catalogue knows (its page's children; marked with the
// sub-technique they name): one statement
// through the GIN index of detection_rules.techniques
// (techniques ?| array[…]), whatever the size of the catalogue. A tactic
// has no rules of its own (Sigma's tactic tags are not techniques).
func (c *Catalogue) rules(ctx context.Context, d *attackviews.Detail) error {
	if d.Kind == attackviews.KindTactic {
		return nil
	}
	d.ShowRules = true
	ids := []string{d.ExternalID}
	if d.Kind == attackviews.KindTechnique {
		for _, ch := range d.Children {
			ids = append(ids, ch.ExternalID)
		}
	}
	rows, err := c.client.DetectionRule.Query().
		Where(sigma.ForTechniques(ids)).
		Order(detectionrule.ByTitle(), detectionrule.ByID()).
		Select(detectionrule.FieldRuleUID, detectionrule.FieldTitle, detectionrule.FieldLevel, detectionrule.FieldStatus,
			detectionrule.FieldLogsource, detectionrule.FieldTechniques).
		All(ctx)
	if err != nil {
		return fmt.Errorf("list the detection rules of %s: %w", d.ExternalID, err)
	}
	for _, r := range rows {
		u := attackviews.RuleUse{ID: r.ID.String(), UID: r.RuleUID, Title: r.Title, Level: r.Level, Status: r.Status,
			Logsource: logsourceText(r.Logsource)}
		if !slices.Contains(r.Techniques, d.ExternalID) {
			// Only through a sub-technique: say which.
			for _, t := range r.Techniques {
				if strings.HasPrefix(t, d.ExternalID+".") {
					u.Via = append(u.Via, t)
				}
			}
		}
		d.Rules = append(d.Rules, u)
	}
	return nil
}

// logsourceText is a Sigma logsource as "product / category / service"
// (those given).
func logsourceText(m map[string]string) string {
	var parts []string
	for _, k := range []string{"product", "category", "service"} {
		if v := m[k]; v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " / ")
}
