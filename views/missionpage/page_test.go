package missionpage

import (
	"slices"
	"testing"

	"violet/ent/schema"
)

// The state filter offers exactly the schema's states, in its order, and a
// caller changing the list it got changes nobody else's.
func TestStatesAreTheSchemaEnumAndFresh(t *testing.T) {
	if got, want := States(), enumValues(t, "state"); !slices.Equal(got, want) {
		t.Fatalf("States() = %v, want the schema's %v", got, want)
	}
	States()[0] = "changed"
	if States()[0] == "changed" {
		t.Fatal("States() returned shared state: a caller's change leaked")
	}
}

func enumValues(t *testing.T, name string) []string {
	t.Helper()
	for _, f := range (schema.MissionTest{}).Fields() {
		if d := f.Descriptor(); d.Name == name {
			var vs []string
			for _, e := range d.Enums {
				vs = append(vs, e.V)
			}
			return vs
		}
	}
	t.Fatalf("mission test has no field %q", name)
	return nil
}
