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
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// Invitation is a single-use link. Only the SHA-256 of the token is stored.
// A sign-up invitation creates a user with its groups; a reset invitation
// (reset_user_id set) lets an existing user choose a new password.
type Invitation struct{ ent.Schema }

// Mixin of the Invitation.
func (Invitation) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the Invitation.
func (Invitation) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("invitations"),
		entsql.Checks(map[string]string{
			"ck_invitations_token_hash_hex": `token_hash ~ '^[0-9a-f]{64}$'`,
		}),
	}
}

// Policy of the Invitation: reading and changing invitations needs
// user.invite; accepting one runs as the system.
func (Invitation) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.UserInvite),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.UserInvite),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the Invitation.
func (Invitation) Fields() []ent.Field {
	return []ent.Field{
		field.String("token_hash").Sensitive().SchemaType(varchar(64)),
		field.String("email_hint").Default("").MaxLen(254),
		field.UUID("created_by_id", uuid.UUID{}).Optional().Nillable(),
		field.Time("expires_at"),
		field.Time("consumed_at").Optional().Nillable(),
		field.UUID("consumed_by_id", uuid.UUID{}).Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.UUID("reset_user_id", uuid.UUID{}).Optional().Nillable().
			Comment("set for a password reset: the user whose password the link replaces"),
	}
}

// Edges of the Invitation.
func (Invitation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("groups", Group.Type).
			StorageKey(
				edge.Table("invitation_groups"),
				edge.Columns("invitation_id", "group_id"),
				edge.Symbols("fk_invitation_groups_invitation_id", "fk_invitation_groups_group_id"),
			),
		edge.To("created_by", User.Type).Unique().Field("created_by_id").
			StorageKey(fk("invitations", "created_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("consumed_by", User.Type).Unique().Field("consumed_by_id").
			StorageKey(fk("invitations", "consumed_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("reset_user", User.Type).Unique().Field("reset_user_id").
			StorageKey(fk("invitations", "reset_user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Invitation.
func (Invitation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("token_hash").Unique().StorageKey("uq_invitations_token_hash"),
		index.Fields("created_at").StorageKey("ix_invitations_created_at"),
	}
}
