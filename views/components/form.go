// Package components holds the view pieces every area shares: form fields
// with their errors, the error summary, paging.
package components

// Errors maps a form field's name to the i18n key of what is wrong with
// it. The order of Fields gives the order of the summary.
type Errors map[string]string

// Has reports whether field has an error.
func (e Errors) Has(field string) bool { _, ok := e[field]; return ok }

// Labelled names a field of an error summary: its name (the input's id
// is "field-" + Name) and the i18n key of its label.
type Labelled struct{ Name, Label string }

// Label names field by its label, the i18n key label.
func Label(field, label string) Labelled { return Labelled{Name: field, Label: label} }

// Field describes one labelled input.
type Field struct {
	Name         string
	Label        string // i18n key
	Hint         string // i18n key, optional
	Type         string // text, email, password, number, date, search
	Value        string
	Autocomplete string
	Required     bool
	Autofocus    bool
	MaxLength    int
}

// ID is the element id of the field's input.
func (f Field) ID() string { return "field-" + f.Name }

// errorID is the element id of the field's error message.
func (f Field) errorID() string { return "field-" + f.Name + "-error" }

// describedBy links the input to its hint and error for screen readers.
func (f Field) describedBy(errs Errors) string {
	ids := ""
	if f.Hint != "" {
		ids = "field-" + f.Name + "-hint"
	}
	if errs.Has(f.Name) {
		if ids != "" {
			ids += " "
		}
		ids += f.errorID()
	}
	return ids
}

func (f Field) inputType() string {
	if f.Type == "" {
		return "text"
	}
	return f.Type
}
