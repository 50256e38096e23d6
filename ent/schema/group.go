package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"violet/ent/privacy"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// Group bundles permissions and is what users are given. The system groups
// (admin, redteam, blueteam, observer) are seeded at start-up and flagged
// is_system so they cannot be deleted.
type Group struct{ ent.Schema }

// Mixin of the Group.
func (Group) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the Group.
func (Group) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("groups")}
}

// Policy of the Group: any signed-in viewer reads groups; changes need
// group.manage (which fields and system groups: the handlers).
func (Group) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfViewer(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.GroupManage),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the Group.
func (Group) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100),
		field.String("description").Default(""),
		field.Bool("is_system").Default(false),
		field.Bool("require_second_factor").Default(false).
			Comment("members sign in with a second factor; those without one enrol at their next sign-in"),
	}
}

// Edges of the Group.
func (Group) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("users", User.Type).Ref("groups"),
		edge.To("permissions", Permission.Type).
			StorageKey(
				edge.Table("group_permissions"),
				edge.Columns("group_id", "permission_id"),
				edge.Symbols("fk_group_permissions_group_id", "fk_group_permissions_permission_id"),
			),
		edge.From("invitations", Invitation.Type).Ref("groups"),
	}
}

// Indexes of the Group.
func (Group) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("name").Unique().
			StorageKey("uq_groups_name_active").
			Annotations(entsql.IndexWhere("deleted_at IS NULL")),
		activeIndex("groups", "name"),
	}
}
