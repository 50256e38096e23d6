// Package rule holds the ent privacy rules of Violet's schemas. Each policy
// starts with DenyIfNoViewer and ends in privacy.AlwaysDenyRule(), so an
// operation is refused unless a rule allows it (deny by default:
// docs/ARCHITECTURE.md, "Rules that matter"). Work done by the system itself
// (start-up seeding, the command line, the sign-in and invitation flows before
// anyone is signed in) runs under SystemContext.
package rule

import (
	"context"

	"violet/ent"
	"violet/ent/privacy"
	"violet/ent/user"
	"violet/internal/auth"
)

// SystemContext returns a context in which every privacy rule allows: for
// Violet's own work, never for a request's.
func SystemContext(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// DenyIfNoViewer refuses any operation without a signed-in viewer.
func DenyIfNoViewer() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if auth.FromContext(ctx) == nil {
			return privacy.Denyf("no viewer in context")
		}
		return privacy.Skip
	})
}

// AllowIfViewer allows any signed-in viewer (reads of shared reference data
// such as the names of colleagues and groups).
func AllowIfViewer() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if auth.FromContext(ctx) != nil {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// AllowIfPermission allows a viewer holding permission p.
func AllowIfPermission(p auth.Permission) privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if auth.FromContext(ctx).Can(p) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// selfFields are the user fields viewers may change on their own row.
func selfFields() map[string]bool {
	return map[string]bool{
		user.FieldDisplayName: true, user.FieldLocale: true, user.FieldPasswordHash: true,
		user.FieldLastLoginAt: true, user.FieldUpdatedAt: true, user.FieldMutedNotifications: true,
		user.FieldTimeZone: true,
	}
}

// AllowSelfUpdate lets viewers change their own name, language, time zone,
// password and notification preferences, and nothing else of their row: not their email, their active
// flag or their groups.
func AllowSelfUpdate() privacy.MutationRule {
	return privacy.UserMutationRuleFunc(func(ctx context.Context, m *ent.UserMutation) error {
		v := auth.FromContext(ctx)
		id, ok := m.ID()
		if v == nil || !ok || !m.Op().Is(ent.OpUpdateOne) || id != v.UserID {
			return privacy.Skip
		}
		allowed := selfFields()
		for _, f := range append(m.Fields(), m.ClearedFields()...) {
			if !allowed[f] {
				return privacy.Skip
			}
		}
		if len(m.AddedEdges())+len(m.RemovedEdges())+len(m.ClearedEdges()) > 0 {
			return privacy.Skip
		}
		return privacy.Allow
	})
}
