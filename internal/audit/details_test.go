package audit

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"violet/views/admin"
)

// TestDetailsOf: stored details (as they come back from jsonb) become
// fields in key order, each of its kind; a nested object is flattened
// one level and anything deeper is compact JSON.
func TestDetailsOf(t *testing.T) {
	at := time.Date(2026, 12, 5, 17, 30, 0, 0, time.UTC)
	var stored map[string]any
	b, _ := json.Marshal(map[string]any{
		"old": 120, "new": 60.5, "reset": true, "at": at, "groups": []string{"a", "b"}, "none": nil,
		"changes": map[string]any{"name": map[string]any{"old": "A"}, "score": 3}, "empty": map[string]any{},
	})
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	got, err := detailsOf(stored)
	if err != nil {
		t.Fatal(err)
	}
	want := []admin.AuditDetail{
		{Key: "at", Kind: admin.DetailTime, Time: at},
		{Key: "changes.name", Kind: admin.DetailText, Text: `{"old":"A"}`},
		{Key: "changes.score", Kind: admin.DetailText, Text: "3"},
		{Key: "empty", Kind: admin.DetailText, Text: "{}"},
		{Key: "groups", Kind: admin.DetailList, List: []string{"a", "b"}},
		{Key: "new", Kind: admin.DetailText, Text: "60.5"},
		{Key: "none", Kind: admin.DetailText},
		{Key: "old", Kind: admin.DetailText, Text: "120"},
		{Key: "reset", Kind: admin.DetailBool, Bool: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("details\n  %+v\nwant\n  %+v", got, want)
	}
	if none, _ := detailsOf(nil); len(none) != 0 {
		t.Errorf("no details gave %+v", none)
	}
}
