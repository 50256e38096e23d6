package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"violet/ent/privacy"
	"violet/internal/auth/rule"
)

// Notification is an in-app message for one user; read_at stays NULL until
// the user reads it, which is what the unread badge counts.
type Notification struct{ ent.Schema }

// Mixin of the Notification.
func (Notification) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the Notification.
func (Notification) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("notifications")}
}

// Policy of the Notification: workflows create notifications for others
// (a job that ends has no viewer); each person reads, marks and deletes
// only their own.
func (Notification) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{rule.DenyIfNoViewer(), rule.FilterOwnRows("user_id"), privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{rule.AllowCreate(), rule.DenyIfNoViewer(), rule.FilterOwnRows("user_id"), privacy.AlwaysDenyRule()},
	}
}

// Fields of the Notification.
func (Notification) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}),
		field.String("kind").NotEmpty().MaxLen(64),
		field.String("title").NotEmpty().MaxLen(300).
			Comment("the title as written, in the recipient's language then; shown when title_key is empty or unknown"),
		field.String("title_key").Default("").MaxLen(128).
			Comment("i18n key of the title, rendered in the reader's language at read time"),
		field.JSON("title_args", []map[string]string{}).Optional().SchemaType(jsonb).
			Comment(`the title's arguments: {"name","text"} kept as is, {"name","key"} translated at read time`),
		field.Text("body").Default(""),
		field.String("link").Default(""),
		field.Time("read_at").Optional().Nillable(),
	}
}

// Edges of the Notification.
func (Notification) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("notifications").Field("user_id").Unique().Required(),
	}
}

// Indexes of the Notification.
func (Notification) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "created_at").
			StorageKey("ix_notifications_unread").
			Annotations(entsql.IndexWhere("read_at IS NULL")),
		index.Fields("user_id", "created_at").StorageKey("ix_notifications_user_id_created_at"),
	}
}
