package schema_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"entgo.io/ent/entc/load"

	"violet/ent/privacy"
	"violet/internal/testkit/testdb"
)

// TestEveryEntityHasAPolicy lists the entities of this package as ent's
// code generator sees them and fails on one without a privacy policy:
// access is denied by default, never granted by a forgotten policy
// (docs/ARCHITECTURE.md, "Rules that matter").
func TestEveryEntityHasAPolicy(t *testing.T) {
	spec, err := (&load.Config{Path: "."}).Load()
	if err != nil {
		t.Fatalf("load the schema: %v", err)
	}
	var names []string
	for _, s := range spec.Schemas {
		if s.View {
			continue
		}
		names = append(names, s.Name)
		if len(s.Policy) == 0 {
			t.Errorf("entity %s has no privacy policy", s.Name)
		}
	}
	if len(names) < 26 {
		t.Fatalf("found %d entities (%v); the schema has at least 26", len(names), names)
	}
	t.Logf("%d entities, each with a policy: %v", len(names), names)
}

// TestEveryPolicyDeniesWithoutViewer reads every entity through the
// generated client with no viewer and no system decision in the context:
// each read must be refused by privacy, which shows every policy ends in
// deny rather than letting the unknown through.
func TestEveryPolicyDeniesWithoutViewer(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := context.Background()
	cv := reflect.ValueOf(client).Elem()
	checked := 0
	for i := 0; i < cv.NumField(); i++ {
		f := cv.Field(i)
		if !f.CanInterface() || f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		query := f.MethodByName("Query")
		if !query.IsValid() {
			continue
		}
		name := cv.Type().Field(i).Name
		q := query.Call(nil)[0]
		res := q.MethodByName("All").Call([]reflect.Value{reflect.ValueOf(ctx)})
		err, _ := res[1].Interface().(error)
		if !errors.Is(err, privacy.Deny) {
			t.Errorf("%s: a read with no viewer gave %v; want privacy.Deny", name, err)
		}
		checked++
	}
	if checked < 26 {
		t.Fatalf("checked %d entity clients; the schema has at least 26", checked)
	}
}
