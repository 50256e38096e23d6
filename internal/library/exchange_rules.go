package library

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/defensivetool"
	"violet/ent/detectionrule"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/internal/database"
	"violet/internal/expectedrule"
	"violet/internal/textrule"
	expectedviews "violet/views/expectedrules"
)

// The detection rules a template expects to fire, in the library exchange
// document (exchange.go): the Sigma rules by their rule id (sigma_rules)
// and the free rule names by their tool's name (expected_rules), since
// both the rule catalogue and the tools' registry are kept per instance.
// An import links what this instance knows and reports the rest
// (Unlinked) without failing: the rules are imported, or the tools added,
// and the document imported again.

// Unlinked is a rule reference of a document this instance does not know:
// a Sigma rule id not in the catalogue (Kind "rule", Ref the id), or a
// tool not in the registry (Kind "tool", Ref the tool's name, Name the
// rule's). The template is imported without it.
type Unlinked struct {
	Test string `json:"test"`
	Kind string `json:"kind"`
	Ref  string `json:"ref"`
	Name string `json:"name,omitempty"`
}

// The kinds of Unlinked.
const (
	UnlinkedRule = "rule"
	UnlinkedTool = "tool"
)

// exportRules reads the rules templates expect, in two statements whatever
// their number: their Sigma rules' ids (rules deleted from the catalogue
// left out) and the tools' names. It returns, per template, the lists
// Export writes: every template gets both keys, empty or not, so that an
// import tells "no rules" from a document written before they were
// exported.
func exportRules(ctx context.Context, client *ent.Client, templates []*ent.TestTemplate) (
	func(uuid.UUID) *[]string, func(*ent.TestTemplate) *[]ExpectedRule, error) {
	ids := make([]uuid.UUID, len(templates))
	for i, t := range templates {
		ids[i] = t.ID
	}
	uids := map[uuid.UUID][]string{}
	if len(ids) > 0 {
		rows, err := client.QueryContext(ctx, `SELECT tr.test_template_id, r.rule_uid
			FROM test_template_rules tr JOIN `+detectionrule.Table+` r ON r.id = tr.detection_rule_id AND r.deleted_at IS NULL
			WHERE tr.test_template_id = ANY($1) ORDER BY r.rule_uid`, pq.Array(ids))
		if err != nil {
			return nil, nil, fmt.Errorf("read the templates' rules: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id  uuid.UUID
				uid string
			)
			if err := rows.Scan(&id, &uid); err != nil {
				return nil, nil, fmt.Errorf("read the templates' rules: %w", err)
			}
			uids[id] = append(uids[id], uid)
		}
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("read the templates' rules: %w", err)
		}
	}
	// Every tool, deleted ones too: a rule keeps the name its tool had.
	tools, err := client.DefensiveTool.Query().Select(defensivetool.FieldName).All(schema.SkipSoftDelete(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("read the tools' names: %w", err)
	}
	names := make(map[uuid.UUID]string, len(tools))
	for _, t := range tools {
		names[t.ID] = t.Name
	}
	sigma := func(id uuid.UUID) *[]string {
		list := orEmpty(uids[id])
		return &list
	}
	expected := func(t *ent.TestTemplate) *[]ExpectedRule {
		list := []ExpectedRule{}
		for _, r := range expectedrule.FromColumn(t.ExpectedRules) {
			if name, ok := names[r.ToolID]; ok {
				list = append(list, ExpectedRule{Tool: name, Name: r.Name})
			}
		}
		return &list
	}
	return sigma, expected, nil
}

// checkExpected checks a document template's rule references: each Sigma
// rule id and tool name fits its column, rule names the editor's limit,
// and there are no more than a template may hold.
func (r *fieldRules) checkExpected(t *Template) error {
	if t.SigmaRules != nil {
		if len(*t.SigmaRules) > maxTemplateRules {
			return fmt.Errorf("sigma_rules: more than %d", maxTemplateRules)
		}
		rule := fieldRule{rule: textrule.For(schema.DetectionRule{}, "rule_uid")}
		for _, uid := range *t.SigmaRules {
			if strings.TrimSpace(uid) == "" {
				return fmt.Errorf("sigma_rules: an empty rule id")
			}
			if err := rule.check(uid); err != nil {
				return fmt.Errorf("sigma_rules: %q %w", cut(uid, 60), err)
			}
		}
	}
	if t.ExpectedRules != nil {
		if len(*t.ExpectedRules) > expectedrule.MaxRules {
			return fmt.Errorf("expected_rules: more than %d", expectedrule.MaxRules)
		}
		tool := fieldRule{rule: textrule.For(schema.DefensiveTool{}, "name")}
		name := fieldRule{maxRunes: expectedviews.NameMax}
		for i, e := range *t.ExpectedRules {
			if strings.TrimSpace(e.Tool) == "" || strings.TrimSpace(e.Name) == "" {
				return fmt.Errorf("expected_rules: rule %d needs a tool and a name", i+1)
			}
			if err := tool.check(e.Tool); err != nil {
				return fmt.Errorf("expected_rules: tool %q %w", cut(e.Tool, 60), err)
			}
			if err := name.check(e.Name); err != nil {
				return fmt.Errorf("expected_rules: name %q %w", cut(e.Name, 60), err)
			}
		}
	}
	return nil
}

// links are what an import links a document's rule references to: the
// catalogue's rules by rule id and the registry's tools by name, ignoring
// case (both without the deleted ones), and, per stored template, its
// links to Sigma rules in the trash.
//
// A template's links to rules in the trash are not the document's
// business: an export leaves them out (exportRules) and an import cannot
// name them (rules holds none), so an import keeps them. resolve adds
// them to the rules the document names, which makes its ids the links
// the template is to have: compared with all its stored links
// (storedRules) they are the same exactly when its live links are the
// document's, and written in place of them (ClearRules, then these ids)
// they leave the trashed links as they were, to come back with their
// rules when restored.
type links struct {
	rules   map[string]uuid.UUID
	tools   map[string]uuid.UUID
	trashed map[uuid.UUID][]uuid.UUID
}

// loadLinks reads, in three statements, the catalogue rules the document's
// templates name, the tools of the registry and the links of the stored
// templates it names to rules in the trash.
func loadLinks(ctx context.Context, tx *ent.Tx, templates []Template) (*links, error) {
	l := &links{rules: map[string]uuid.UUID{}, tools: map[string]uuid.UUID{}, trashed: map[uuid.UUID][]uuid.UUID{}}
	var (
		uids []string
		ids  []uuid.UUID
	)
	for _, t := range templates {
		if t.SigmaRules != nil {
			uids = append(uids, *t.SigmaRules...)
			ids = append(ids, uuid.MustParse(t.ID))
		}
	}
	if len(ids) > 0 {
		if err := l.loadTrashed(ctx, tx, ids); err != nil {
			return nil, err
		}
	}
	if len(uids) > 0 {
		rows, err := tx.DetectionRule.Query().
			Where(predicate.DetectionRule(database.In(detectionrule.FieldRuleUID, uids))).
			Select(detectionrule.FieldRuleUID).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the catalogue's rules: %w", err)
		}
		for _, r := range rows {
			l.rules[r.RuleUID] = r.ID
		}
	}
	tools, err := tx.DefensiveTool.Query().Select(defensivetool.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the tools: %w", err)
	}
	for _, t := range tools {
		l.tools[strings.ToLower(strings.TrimSpace(t.Name))] = t.ID
	}
	return l, nil
}

// loadTrashed reads the links of templates ids to rules in the trash (one
// statement).
func (l *links) loadTrashed(ctx context.Context, tx *ent.Tx, ids []uuid.UUID) error {
	rows, err := tx.QueryContext(ctx, `SELECT tr.test_template_id, tr.detection_rule_id
		FROM test_template_rules tr JOIN `+detectionrule.Table+` r ON r.id = tr.detection_rule_id AND r.deleted_at IS NOT NULL
		WHERE tr.test_template_id = ANY($1)`, pq.Array(ids))
	if err != nil {
		return fmt.Errorf("read the templates' rules in the trash: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tid, rid uuid.UUID
		if err := rows.Scan(&tid, &rid); err != nil {
			return fmt.Errorf("read the templates' rules in the trash: %w", err)
		}
		l.trashed[tid] = append(l.trashed[tid], rid)
	}
	return rows.Err()
}

// resolve links t's references: the catalogue rules it names and its free
// rules with their tools found, repeats dropped; what this instance does
// not know goes to sum's Unlinked. The rules are those the template is to
// be linked to: the document's, and the template's links to rules in the
// trash, kept (links).
func (l *links) resolve(t Template, sum *ExchangeSummary) ([]uuid.UUID, []expectedrule.Rule) {
	var (
		ids      []uuid.UUID
		expected = []expectedrule.Rule{}
	)
	if t.SigmaRules != nil {
		for _, uid := range *t.SigmaRules {
			id, ok := l.rules[uid]
			switch {
			case !ok:
				sum.Unlinked = append(sum.Unlinked, Unlinked{Test: t.Name, Kind: UnlinkedRule, Ref: uid})
			case !slices.Contains(ids, id):
				ids = append(ids, id)
			}
		}
		// Never among the document's: the catalogue's rules (l.rules) are
		// the live ones.
		ids = append(ids, l.trashed[uuid.MustParse(t.ID)]...)
	}
	if t.ExpectedRules != nil {
		for _, e := range *t.ExpectedRules {
			id, ok := l.tools[strings.ToLower(strings.TrimSpace(e.Tool))]
			if !ok {
				sum.Unlinked = append(sum.Unlinked, Unlinked{Test: t.Name, Kind: UnlinkedTool, Ref: e.Tool, Name: e.Name})
				continue
			}
			r := expectedrule.Rule{ToolID: id, Name: strings.TrimSpace(e.Name)}
			if !containsRule(expected, r) {
				expected = append(expected, r)
			}
		}
	}
	return ids, expected
}

// containsRule reports whether list holds r (the same tool and name,
// ignoring case).
func containsRule(list []expectedrule.Rule, r expectedrule.Rule) bool {
	return slices.ContainsFunc(list, func(x expectedrule.Rule) bool {
		return expectedrule.Same([]expectedrule.Rule{x}, []expectedrule.Rule{r})
	})
}

// storedRules reads the Sigma rules of the stored templates found (one
// statement): every link, to rules in the trash too, since resolve's
// ids hold those a template keeps (links).
func storedRules(ctx context.Context, tx *ent.Tx, out map[uuid.UUID]*storedTemplate, found []uuid.UUID) error {
	rows, err := tx.QueryContext(ctx, `SELECT test_template_id, detection_rule_id FROM test_template_rules
		WHERE test_template_id = ANY($1)`, pq.Array(found))
	if err != nil {
		return fmt.Errorf("read the library's template rules: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tid, rid uuid.UUID
		if err := rows.Scan(&tid, &rid); err != nil {
			return fmt.Errorf("read the library's template rules: %w", err)
		}
		if st := out[tid]; st != nil {
			st.rules = append(st.rules, rid)
		}
	}
	return rows.Err()
}

// sameRules reports whether importing t's rules (resolved to ruleIDs and
// expected) would leave the template's as they are; a document without
// the keys leaves them as they are.
func (s *storedTemplate) sameRules(t Template, ruleIDs []uuid.UUID, expected []expectedrule.Rule) bool {
	if t.SigmaRules != nil && !sameSet(s.rules, ruleIDs) {
		return false
	}
	if t.ExpectedRules != nil && !expectedrule.Same(expectedrule.FromColumn(s.row.ExpectedRules), expected) {
		return false
	}
	return true
}
