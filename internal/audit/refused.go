package audit

import (
	"context"
	"strings"

	"violet/ent"
	"violet/internal/auth/rule"
)

// Refusal is a write the access rules refused, as the HTTP layer saw it:
// the route template (never the raw URL, which may hold a token), the
// method, the route's parameters and the kind and id of its target.
type Refusal struct {
	Route, Method string
	Params        map[string]string
	TargetType    string
	TargetID      string
}

// RecordRefusal records a refused write as an access.denied event. The
// refused change wrote nothing, so the event stands alone in its own
// statement, written as the system: the viewer may hold no right to
// write anything. Parameters are whatever the client sent, so they are
// cut to fit (valid UTF-8, no NUL, 64 bytes).
func RecordRefusal(ctx context.Context, events *ent.AuditEventClient, r Refusal) error {
	params := make(map[string]any, len(r.Params))
	for k, v := range r.Params {
		params[k] = fitParam(v)
	}
	return Record(rule.SystemContext(ctx), events, Event{
		Action: AccessDenied, TargetType: r.TargetType, TargetID: fitParam(r.TargetID),
		Details: map[string]any{"route": r.Route, "method": r.Method, "params": params},
	})
}

func fitParam(s string) string { return Fit(strings.ReplaceAll(s, "\x00", ""), 64) }
