package schema

import (
	"context"
	"strings"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	gen "violet/ent"
	"violet/ent/hook"
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
		field.String("display_name").NotEmpty().MaxRuneLen(100),
		field.Enum("locale").Values("en", "fr").Default("en"),
		field.Bool("is_active").Default(true),
		field.String("time_zone").Default("").MaxLen(64).
			Comment("IANA zone the user reads and enters times in; empty until the browser's zone is learnt at sign-in (UTC meanwhile)"),
		field.Time("last_login_at").Optional().Nillable(),
		field.Bool("service_account").Default(false).
			Comment("an account for automation: no password, no sign-in page, API tokens only"),
		field.Bool("break_glass").Default(false).
			Comment("may still sign in with a password when single sign-on is required for everyone"),
		field.Strings("muted_notifications").Default([]string{}).SchemaType(jsonb).
			Annotations(entsql.DefaultExpr("'[]'::jsonb")).
			Comment("the notification kinds the user chose not to receive"),
	}
}

// Hooks of the User: emails are stored trimmed and lower-cased, whoever
// writes them, so lookups and the unique index agree.
func (User) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(func(next ent.Mutator) ent.Mutator {
			return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (ent.Value, error) {
				if e, ok := m.Email(); ok {
					m.SetEmail(strings.ToLower(strings.TrimSpace(e)))
				}
				return next.Mutate(ctx, m)
			})
		}, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne),
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
		// One authenticator app per person: the unique index of
		// user_totps says so (an O2O edge would add a second, unnamed one).
		edge.To("totp", UserTOTP.Type).
			StorageKey(fk("user_totps", "user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("recovery_codes", RecoveryCode.Type).
			StorageKey(fk("recovery_codes", "user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("passkeys", WebAuthnCredential.Type).
			StorageKey(fk("webauthn_credentials", "user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("identities", UserIdentity.Type).
			StorageKey(fk("user_identities", "user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("refresh_tokens", RefreshToken.Type).
			StorageKey(fk("refresh_tokens", "user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("api_tokens", APIToken.Type).
			StorageKey(fk("api_tokens", "user_id")).
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
