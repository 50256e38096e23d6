package library

import (
	"slices"
	"testing"

	"violet/ent/schema"
)

// The filter and form lists offer exactly the schema's enum values, in its
// order (opsec quietest first), and a caller changing the list it got
// changes nobody else's.
func TestTemplateListsAreTheSchemaEnumsAndFresh(t *testing.T) {
	if got, want := TemplateOpsecLevels(), enumValues(t, "opsec_level"); !slices.Equal(got, want) {
		t.Errorf("TemplateOpsecLevels() = %v, want the schema's %v", got, want)
	}
	if got, want := TemplateSources(), enumValues(t, "source"); !slices.Equal(got, want) {
		t.Errorf("TemplateSources() = %v, want the schema's %v", got, want)
	}
	for name, list := range map[string]func() []string{
		"TemplatePlatforms": TemplatePlatforms, "TemplateOpsecLevels": TemplateOpsecLevels,
		"TemplateSources": TemplateSources, "TemplateTextFields": TemplateTextFields,
		"ImportPlatforms": ImportPlatforms,
	} {
		list()[0] = "changed"
		if list()[0] == "changed" {
			t.Errorf("%s() returned shared state: a caller's change leaked", name)
		}
	}
}

func enumValues(t *testing.T, name string) []string {
	t.Helper()
	for _, f := range (schema.TestTemplate{}).Fields() {
		if d := f.Descriptor(); d.Name == name {
			var vs []string
			for _, e := range d.Enums {
				vs = append(vs, e.V)
			}
			return vs
		}
	}
	t.Fatalf("test template has no field %q", name)
	return nil
}
