// Package rulepicker is the detection rules picker of the catalogue
// (Sigma rules) shared by the template form and a mission test's
// expected-rules page: the rules picked, as ticked checkboxes named
// Field, and those offered, the suggestions of the techniques or a
// search by title answered by the form's own page.
package rulepicker

import "violet/views/components"

// Field is the picker's form name: the ids of the rules picked.
const Field = "rules"

// QueryField is the search's query parameter.
const QueryField = "rules_q"

// Rule is a detection rule of the catalogue in the picker.
type Rule struct {
	ID         string
	Title      string
	Level      string
	Techniques string // "T1059.001, T1105"
}

// Props is the picker: the rules picked and offered, the search typed,
// where it searches (URL: the form's own page, which answers an htmx
// request with Results), the i18n keys of its hint and of the
// suggestions' heading, and the form's errors (its own under Field).
type Props struct {
	Picked, Offered []Rule
	Query           string
	URL             string
	Hint, Suggested string
	Errors          components.Errors
}
