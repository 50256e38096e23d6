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

// User is a person who signs in to Violet. Email addresses are stored
// lower-cased and are unique among users that are not soft-deleted, so a
// deleted account's address can be invited again.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("users"),
		entsql.Checks(map[string]string{
			"ck_users_locale":      inList("locale", "en", "fr"),
			"ck_users_email_lower": "email = lower(email)",
		}),
	}
}

// Policy of the User: any signed-in viewer reads users (colleagues
// appear on missions); changes need user.manage, except viewers changing their
// own name, language and password.
func (User) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfViewer(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.UserManage),
			rule.AllowSelfUpdate(),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").NotEmpty().MaxLen(254).SchemaType(varchar(254)),
		field.String("password_hash").Sensitive(),
		field.String("display_name").NotEmpty().MaxLen(100),
		field.Enum("locale").Values("en", "fr").Default("en"),
		field.Bool("is_active").Default(true),
		field.Time("last_login_at").Optional().Nillable(),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("groups", Group.Type).
			StorageKey(
				edge.Table("user_groups"),
				edge.Columns("user_id", "group_id"),
				edge.Symbols("fk_user_groups_user_id", "fk_user_groups_group_id"),
			),
		edge.To("refresh_tokens", RefreshToken.Type).
			StorageKey(fk("refresh_tokens", "user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("notifications", Notification.Type).
			StorageKey(fk("notifications", "user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("memberships", MissionMember.Type).
			StorageKey(fk("mission_members", "user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("email").Unique().
			StorageKey("uq_users_email_active").
			Annotations(entsql.IndexWhere("deleted_at IS NULL")),
		activeIndex("users", "display_name"),
	}
}
