package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"violet/ent/privacy"
	"violet/internal/auth/rule"
)

// Permission is one `<entity>.<action>` code. The list lives in code
// (internal/auth) and is synced into this table at start-up.
type Permission struct{ ent.Schema }

// Mixin of the Permission.
func (Permission) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the Permission.
func (Permission) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("permissions"),
		entsql.Checks(map[string]string{
			"ck_permissions_code_format": `code ~ '^[a-z_]+\.[a-z_]+$'`,
		}),
	}
}

// Policy of the Permission: any signed-in viewer reads the codes; only the
// system (start-up sync) changes them.
func (Permission) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfViewer(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the Permission.
func (Permission) Fields() []ent.Field {
	return []ent.Field{
		field.String("code").NotEmpty().MaxLen(100),
		field.String("description").Default(""),
	}
}

// Edges of the Permission.
func (Permission) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("groups", Group.Type).Ref("permissions"),
	}
}

// Indexes of the Permission.
func (Permission) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("code").Unique().StorageKey("uq_permissions_code"),
	}
}
