package admin

import (
	"context"
	"strings"
	"time"
)

// The kinds of value an audit detail holds, so each is shown in its own
// way: a time in the viewer's zone, a boolean as yes or no, a list as a
// list.
const (
	DetailText = "text"
	DetailTime = "time"
	DetailBool = "bool"
	DetailList = "list"
)

// AuditDetail is one labelled field of an audit entry's details. The
// details are stored as JSON; the page shows them as fields an
// administrator can read, not as raw JSON.
type AuditDetail struct {
	// Key is the detail's key; a nested object's keys are flattened one
	// level as "parent.child".
	Key  string
	Kind string // DetailText, DetailTime, DetailBool or DetailList
	Text string // DetailText: the value as text (deeper nesting as compact JSON)
	Time time.Time
	Bool bool
	List []string
}

// DetailLabel is the human label of a detail's key: the catalogue's label
// of each part of a flattened key ("Changes › Name"), or the raw key
// when the catalogue does not know it (a detail newer than the
// catalogue still shows, under its own name).
func DetailLabel(ctx context.Context, key string) string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		// "field_" keeps detail keys clear of the catalogue's reserved
		// words ("id", "description", "other"…), which cannot be message
		// names.
		parts[i] = auditLabel(ctx, "tables.audit_detail.field_"+p, p)
	}
	return strings.Join(parts, " › ")
}
