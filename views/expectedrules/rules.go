// Package expectedrules renders the free detection rule names a test
// template or a mission test expects to fire, one per defensive tool
// (issue 20, point 7: "a free rule name per tool", beside the Sigma rules
// of the catalogue): the editor of the template form and the lists of the
// template's page, the test's page and the gaps view. internal/expectedrule
// checks the rows and builds these props.
package expectedrules

import "strconv"

// NameMax is the longest rule name, in characters (an alert's name, as
// the outcome's alert name field: 300).
const NameMax = 300

// The form's field names: one select and one text input per row, posted
// in row order.
const (
	ToolField = "expected_tool"
	NameField = "expected_name"
	// Field is the editor's name in a form's errors (its error summary
	// links to #field-expected_rules).
	Field = "expected_rules"
)

// Editor is the "expected rules per tool" part of a form: the rows as
// saved or as typed, each with its error, and the tools a row may name.
type Editor struct {
	Rows  []Row
	Tools []Tool
}

// Row is one expected rule as typed: the tool's id, the rule's name and,
// when refused, the i18n key of why.
type Row struct {
	Tool  string
	Name  string
	Error string
}

// Tool is a defensive tool a row may name: the registry's active tools
// and any tool a row already names.
type Tool struct {
	ID       string
	Name     string
	Inactive bool
}

// Known reports whether id is one of the tools offered.
func (e Editor) Known(id string) bool {
	for _, t := range e.Tools {
		if t.ID == id {
			return true
		}
	}
	return false
}

// Rule is an expected rule as pages show it: the tool's name ("" when the
// tool is gone from the registry) and the rule's name.
type Rule struct {
	Tool string
	Name string
}

func itoa(n int) string { return strconv.Itoa(n) }
