package library

import (
	"fmt"
	"unicode/utf8"

	"violet/ent/schema"
	"violet/internal/textrule"
	libraryviews "violet/views/library"
)

// fieldRule is what a library document's text field must obey to be
// imported: the schema's rule for its column (valid UTF-8, no NUL, the
// column's length) and the form's limit in characters, so that a document
// cannot store what the form would refuse (a 10 MB description made its
// template's page 10 MB).
type fieldRule struct {
	rule     textrule.Rule
	maxRunes int // the form's limit; 0 when the schema's is the only one
}

func (f fieldRule) check(v string) error {
	if err := f.rule.Check(v); err != nil {
		return err
	}
	if f.maxRunes > 0 && utf8.RuneCountInString(v) > f.maxRunes {
		return &textrule.TooLongError{Max: f.maxRunes}
	}
	return nil
}

// fieldRules are the rules of a document's fields, read from the schema
// once per document.
type fieldRules struct {
	templateName, externalRef, label  fieldRule
	texts                             map[string]fieldRule // markdown fields, by document key
	scenarioName, scenarioDescription fieldRule
}

func newFieldRules() *fieldRules {
	text := func(name string) fieldRule {
		return fieldRule{textrule.For(schema.TestTemplate{}, name), libraryviews.TemplateTextMax}
	}
	r := &fieldRules{
		templateName: fieldRule{textrule.For(schema.TestTemplate{}, "name"), libraryviews.TemplateNameMax},
		externalRef:  fieldRule{rule: textrule.For(schema.TestTemplate{}, "external_ref")},
		// Labels and platforms are list items: the form's label limit.
		label:               fieldRule{maxRunes: libraryviews.TemplateLabelMax},
		texts:               map[string]fieldRule{},
		scenarioName:        fieldRule{textrule.For(schema.ScenarioTemplate{}, "name"), libraryviews.ScenarioNameMax},
		scenarioDescription: fieldRule{textrule.For(schema.ScenarioTemplate{}, "description"), libraryviews.ScenarioDescriptionMax},
	}
	for _, f := range []string{"description", "objective", "procedure", "prerequisites", "cleanup", "expected_detection"} {
		r.texts[f] = text(f)
	}
	return r
}

// checkTemplate checks a template's fields but its name, naming the field
// at fault.
func (r *fieldRules) checkTemplate(t *Template) error {
	texts := []struct {
		key, value string
	}{
		{"description", t.Description}, {"objective", t.Objective}, {"procedure", t.Procedure},
		{"prerequisites", t.Prerequisites}, {"cleanup", t.Cleanup}, {"expected_detection", t.ExpectedDetection},
	}
	for _, f := range texts {
		if err := r.texts[f.key].check(f.value); err != nil {
			return fmt.Errorf("%s %w", f.key, err)
		}
	}
	if err := r.externalRef.check(t.ExternalRef); err != nil {
		return fmt.Errorf("external_ref %w", err)
	}
	lists := []struct {
		key  string
		list []string
	}{{"labels", t.Labels}, {"platforms", t.Platforms}}
	for _, l := range lists {
		key, list := l.key, l.list
		if len(list) > libraryviews.TemplateLabelsMax {
			return fmt.Errorf("%s: more than %d", key, libraryviews.TemplateLabelsMax)
		}
		for _, v := range list {
			if err := r.label.check(v); err != nil {
				return fmt.Errorf("%s: %q %w", key, cut(v, 60), err)
			}
		}
	}
	return nil
}

// cut shortens v for a message.
func cut(v string, n int) string {
	if utf8.RuneCountInString(v) <= n {
		return v
	}
	return string([]rune(v)[:n]) + "…"
}
