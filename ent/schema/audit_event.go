package schema

import (
	"context"
	"errors"
	"time"
	"violet/ent/privacy"
	"violet/internal/auth"
	"violet/internal/auth/rule"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// AuditEvent is one entry of the append-only audit log, written in the same
// transaction as the change it records. It has no foreign keys: the log
// outlives the users and objects it names, so it keeps their labels too.
// Updates and deletes are refused here and by a database trigger.
type AuditEvent struct{ ent.Schema }

// Mixin of the AuditEvent.
func (AuditEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Annotations of the AuditEvent.
func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("audit_events")}
}

// Policy of the AuditEvent: the log is append-only (rows are created,
// even by nobody: a failed sign-in; never changed or deleted); audit.read
// reads it all, and a mission's members read the history of the tests
// they may see.
func (AuditEvent) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.AuditRead),
			rule.FilterTestHistory(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{rule.AppendOnly(), privacy.AlwaysDenyRule()},
	}
}

// Fields of the AuditEvent.
func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entsql.Default("CURRENT_TIMESTAMP")),
		field.UUID("actor_id", uuid.UUID{}).Optional().Nillable().Immutable().
			Comment("the user who acted; NULL for the system and for anonymous attempts"),
		field.String("actor_label").Default("").Immutable().Comment("the actor's email at the time"),
		field.String("action").NotEmpty().MaxLen(64).Immutable(),
		field.String("target_type").Default("").MaxLen(64).Immutable(),
		field.String("target_id").Default("").MaxLen(64).Immutable(),
		// Bounded so that a label always fits the login-throttle index (a
		// btree entry must stay under ~2.7 kB); audit.Record cuts to it.
		field.String("target_label").Default("").MaxLen(500).Immutable().
			Comment("what the target was called at the time (for logins: the email tried)"),
		field.String("ip").Default("").MaxLen(64).Immutable(),
		field.String("request_id").Default("").MaxLen(64).Immutable(),
		field.JSON("details", map[string]any{}).Optional().SchemaType(jsonb).Immutable(),
	}
}

// Indexes of the AuditEvent.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at").StorageKey("ix_audit_events_created_at"),
		index.Fields("actor_id", "created_at").StorageKey("ix_audit_events_actor_id_created_at"),
		index.Fields("action", "created_at").StorageKey("ix_audit_events_action_created_at"),
		// Login throttling counts recent failures per email and per address.
		index.Fields("target_label", "created_at").StorageKey("ix_audit_events_login_failed_email").
			Annotations(entsql.IndexWhere("action = 'login.failed'")),
		index.Fields("ip", "created_at").StorageKey("ix_audit_events_login_failed_ip").
			Annotations(entsql.IndexWhere("action = 'login.failed'")),
		// Wrong second-factor codes count towards the same throttle.
		index.Fields("target_label", "created_at").StorageKey("ix_audit_events_second_factor_failed_email").
			Annotations(entsql.IndexWhere("action = 'login.second_factor_failed'")),
		index.Fields("ip", "created_at").StorageKey("ix_audit_events_second_factor_failed_ip").
			Annotations(entsql.IndexWhere("action = 'login.second_factor_failed'")),
	}
}

// errAppendOnly is returned for any attempt to change the audit log.
var errAppendOnly = errors.New("audit events are append-only")

// Hooks of the AuditEvent: only creation is allowed.
func (AuditEvent) Hooks() []ent.Hook {
	return []ent.Hook{
		func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				if !m.Op().Is(ent.OpCreate) {
					return nil, errAppendOnly
				}
				return next.Mutate(ctx, m)
			})
		},
	}
}
