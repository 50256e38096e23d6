// Package expectedrule is the free detection rule names a test template
// or a mission test expects to fire, one per defensive tool ("the EDR's
// 'Encoded PowerShell' alert": issue 20, point 7, beside the Sigma rules
// of the catalogue). They are stored in the expected_rules column of
// test_templates and mission_tests as [{"tool_id", "name"}]
// (ent/schema/mixin.go); this package checks the editor's rows, builds
// its props (views/expectedrules) and folds a column into JSON with the
// tools' names for the read models that show them in one statement.
package expectedrule

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	"violet/ent/predicate"
	"violet/ent/testtemplate"
	"violet/internal/database"
	views "violet/views/expectedrules"
)

// MaxRules bounds the free rules one template or test may expect, as the
// Sigma rules picker bounds its rules (internal/library rules.go).
const MaxRules = 200

// The column's keys.
const (
	keyTool = "tool_id"
	keyName = "name"
)

// Rule is one expected rule: the tool that should fire it and its name.
type Rule struct {
	ToolID uuid.UUID
	Name   string
}

// key is what makes two rules the same: the tool, and the name ignoring
// case ("Encoded PowerShell" twice is one rule).
func (r Rule) key() string { return r.ToolID.String() + "\x00" + strings.ToLower(r.Name) }

// FromColumn reads a stored column. Entries that do not name a tool by
// its id, or have no name, are left out (the column is only ever written
// by Column).
func FromColumn(col []map[string]string) []Rule {
	out := make([]Rule, 0, len(col))
	for _, m := range col {
		id, err := uuid.Parse(m[keyTool])
		if err != nil || strings.TrimSpace(m[keyName]) == "" {
			continue
		}
		out = append(out, Rule{ToolID: id, Name: m[keyName]})
	}
	return out
}

// Column is rules as the column stores them; never nil (a JSON null would
// not be the empty list the column's default is).
func Column(rules []Rule) []map[string]string {
	out := make([]map[string]string, len(rules))
	for i, r := range rules {
		out[i] = map[string]string{keyTool: r.ToolID.String(), keyName: r.Name}
	}
	return out
}

// Same reports whether a and b hold the same rules, in any order.
func Same(a, b []Rule) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, r := range a {
		n[r.key()]++
	}
	for _, r := range b {
		if n[r.key()]--; n[r.key()] < 0 {
			return false
		}
	}
	return true
}

// tools reads, in one statement, the active tools of the registry and the
// tools in ids (inactive ones a rule names, stored or posted), deleted
// tools left out, by name. Which of them a row may name is Check's.
func tools(ctx context.Context, client *ent.Client, ids []uuid.UUID) ([]*ent.DefensiveTool, error) {
	q := client.DefensiveTool.Query()
	if len(ids) > 0 {
		q.Where(defensivetool.Or(defensivetool.Active(true), predicate.DefensiveTool(database.In(defensivetool.FieldID, ids))))
	} else {
		q.Where(defensivetool.Active(true))
	}
	ts, err := q.Order(defensivetool.ByName(), defensivetool.ByID()).
		Select(defensivetool.FieldName, defensivetool.FieldActive).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the tools of the expected rules: %w", err)
	}
	return ts, nil
}

// choices are tools as the editor's selects offer them.
func choices(ts []*ent.DefensiveTool) []views.Tool {
	out := make([]views.Tool, len(ts))
	for i, t := range ts {
		out[i] = views.Tool{ID: t.ID.String(), Name: t.Name, Inactive: !t.Active}
	}
	return out
}

// Editor is the editor showing stored rules (one statement: the tools).
func Editor(ctx context.Context, client *ent.Client, rules []Rule) (views.Editor, error) {
	ids := make([]uuid.UUID, len(rules))
	for i, r := range rules {
		ids[i] = r.ToolID
	}
	ts, err := tools(ctx, client, ids)
	if err != nil {
		return views.Editor{}, err
	}
	e := views.Editor{Tools: choices(ts)}
	for _, r := range rules {
		e.Rows = append(e.Rows, views.Row{Tool: r.ToolID.String(), Name: r.Name})
	}
	return e, nil
}

// Check reads the editor's rows as posted (the tool selects' and the name
// inputs' values, in row order) against stored, the rules the template
// or test holds before the edit, in one statement: rows left empty are
// ignored; a row needs a name of at most views.NameMax characters and a
// tool of the registry that is active, or inactive and named by a stored
// rule (a crafted form adds no rule to a tool taken out of use), and says
// the same rule only once. A stored rule whose tool was deleted since is
// kept when its row comes back as it is (the editor shows its tool as
// deleted), so that editing the rest is not refused for it; any other row
// naming a deleted tool is refused. It returns the rules to store, the
// editor to show again (the rows as typed, each with its error) and, when
// a row is refused or there are more than MaxRules, the i18n key of the
// editor's error (its field is views.Field); err is a failure to read
// the tools.
func Check(ctx context.Context, client *ent.Client, stored []Rule, toolValues, nameValues []string) ([]Rule, views.Editor, string, error) {
	n := max(len(toolValues), len(nameValues))
	at := func(list []string, i int) string {
		if i < len(list) {
			return strings.TrimSpace(list[i])
		}
		return ""
	}
	var (
		rows []views.Row
		ids  []uuid.UUID
	)
	storedTools := map[uuid.UUID]bool{}
	for _, r := range stored {
		if !storedTools[r.ToolID] {
			storedTools[r.ToolID] = true
			ids = append(ids, r.ToolID)
		}
	}
	for i := range n {
		r := views.Row{Tool: at(toolValues, i), Name: at(nameValues, i)}
		if r.Tool == "" && r.Name == "" {
			continue
		}
		if id, err := uuid.Parse(r.Tool); err == nil && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
		rows = append(rows, r)
	}
	ts, err := tools(ctx, client, ids)
	if err != nil {
		return nil, views.Editor{}, "", err
	}
	e := views.Editor{Rows: rows, Tools: choices(ts)}
	active := map[uuid.UUID]bool{}
	for _, t := range ts {
		active[t.ID] = t.Active
	}
	var (
		out     []Rule
		seen    = map[string]bool{}
		refused bool
	)
	for i := range e.Rows {
		r := &e.Rows[i]
		id, perr := uuid.Parse(r.Tool)
		isActive, exists := active[id]
		switch {
		case r.Tool == "":
			r.Error = "expectedrules.tool_required"
		case perr != nil:
			r.Error = "expectedrules.tool_unknown"
		case !exists && !slices.Contains(stored, Rule{ToolID: id, Name: r.Name}):
			// Deleted (or never was): only a stored rule, unchanged, stays.
			r.Error = "expectedrules.tool_unknown"
		case exists && !isActive && !storedTools[id]:
			r.Error = "expectedrules.tool_inactive_refused"
		case r.Name == "":
			r.Error = "expectedrules.name_required"
		case utf8.RuneCountInString(r.Name) > views.NameMax:
			r.Error = "expectedrules.name_too_long"
		}
		if r.Error == "" {
			rule := Rule{ToolID: id, Name: r.Name}
			if seen[rule.key()] {
				r.Error = "expectedrules.duplicate"
			} else {
				seen[rule.key()] = true
				out = append(out, rule)
			}
		}
		if r.Error != "" {
			refused = true
		}
	}
	switch {
	case refused:
		return out, e, "expectedrules.rows_invalid", nil
	case len(out) > MaxRules:
		return out, e, "expectedrules.too_many", nil
	}
	return out, e, "", nil
}

// CheckTemplate is Check for the template form of template id ("" for a
// new template), against the rules the template holds (one statement
// more when it has an id; a template not found holds none).
func CheckTemplate(ctx context.Context, client *ent.Client, id string, toolValues, nameValues []string) ([]Rule, views.Editor, string, error) {
	var stored []Rule
	if tid, err := uuid.Parse(id); err == nil {
		t, err := client.TestTemplate.Query().Where(testtemplate.ID(tid)).Select(testtemplate.FieldExpectedRules).Only(ctx)
		switch {
		case err == nil:
			stored = FromColumn(t.ExpectedRules)
		case !ent.IsNotFound(err):
			return nil, views.Editor{}, "", fmt.Errorf("read the template's expected rules: %w", err)
		}
	}
	return Check(ctx, client, stored, toolValues, nameValues)
}

// ToolNames are the names of the editor's tools, by id.
func ToolNames(e views.Editor) map[uuid.UUID]string {
	out := make(map[uuid.UUID]string, len(e.Tools))
	for _, t := range e.Tools {
		if id, err := uuid.Parse(t.ID); err == nil {
			out[id] = t.Name
		}
	}
	return out
}

// Labels are rules as an audit record lists them, "Tool: name" (the
// tool's id when names does not hold it), sorted.
func Labels(rules []Rule, names map[uuid.UUID]string) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		tool, ok := names[r.ToolID]
		if !ok {
			tool = r.ToolID.String()
		}
		out[i] = tool + ": " + r.Name
	}
	slices.Sort(out)
	return out
}

// Changes is the audit detail of a change from before to after: the
// rules added and removed, as Labels; nil when nothing changed.
func Changes(before, after []Rule, names map[uuid.UUID]string) map[string]any {
	has := func(list []Rule, r Rule) bool {
		return slices.ContainsFunc(list, func(x Rule) bool { return x.key() == r.key() })
	}
	var added, removed []Rule
	for _, r := range after {
		if !has(before, r) {
			added = append(added, r)
		}
	}
	for _, r := range before {
		if !has(after, r) {
			removed = append(removed, r)
		}
	}
	if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	out := map[string]any{}
	if len(added) > 0 {
		out["added"] = Labels(added, names)
	}
	if len(removed) > 0 {
		out["removed"] = Labels(removed, names)
	}
	return out
}

// Line is one rule of a column folded by SQL.
type Line struct {
	ToolID string  `json:"tool_id"`
	Tool   *string `json:"tool"` // nil when the tool is deleted
	Name   string  `json:"name"`
}

// SQL folds the expected_rules column of the row (column is its qualified
// name, e.g. `"mission_tests"."expected_rules"`) into a JSON array of
// Lines, by tool name then rule name, '[]' when there are none: a
// subquery for a read model's one statement. A deleted tool keeps its
// rules, unnamed (the registry's soft delete hides its name as it hides
// the tool). Anything in the column that is not an array reads as empty.
func SQL(column string) string {
	return `coalesce((SELECT json_agg(json_build_object('tool_id', er.value->>'tool_id', 'tool', et.name, 'name', er.value->>'name')
		ORDER BY lower(coalesce(et.name, '')), lower(er.value->>'name'))
		FROM jsonb_array_elements(CASE WHEN jsonb_typeof(` + column + `) = 'array' THEN ` + column + ` ELSE '[]'::jsonb END) er
		LEFT JOIN defensive_tools et ON et.id::text = er.value->>'tool_id' AND et.deleted_at IS NULL
		WHERE coalesce(er.value->>'name', '') <> ''), '[]')`
}

// Shown are folded lines as pages list them.
func Shown(lines []Line) []views.Rule {
	out := make([]views.Rule, 0, len(lines))
	for _, l := range lines {
		r := views.Rule{Name: l.Name}
		if l.Tool != nil {
			r.Tool = *l.Tool
		}
		out = append(out, r)
	}
	return out
}

// Named are rules as pages list them, by tool name then rule name, in one
// statement whatever they hold (the tools they name; a deleted tool is
// unnamed).
func Named(ctx context.Context, client *ent.Client, rules []Rule) ([]views.Rule, error) {
	ids := make([]uuid.UUID, len(rules))
	for i, r := range rules {
		ids[i] = r.ToolID
	}
	ts, err := client.DefensiveTool.Query().Where(predicate.DefensiveTool(database.In(defensivetool.FieldID, ids))).
		Select(defensivetool.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("name the tools of the expected rules: %w", err)
	}
	names := make(map[uuid.UUID]string, len(ts))
	for _, t := range ts {
		names[t.ID] = t.Name
	}
	out := make([]views.Rule, len(rules))
	for i, r := range rules {
		out[i] = views.Rule{Tool: names[r.ToolID], Name: r.Name}
	}
	slices.SortStableFunc(out, func(a, b views.Rule) int {
		if c := strings.Compare(strings.ToLower(a.Tool), strings.ToLower(b.Tool)); c != 0 {
			return c
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out, nil
}
