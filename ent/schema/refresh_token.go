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

// RefreshToken is the server-side record behind a session cookie. The
// cookie carries the token; only its SHA-256 is kept. Rotation links the old
// record to its replacement so a replayed old token can be recognised.
type RefreshToken struct{ ent.Schema }

// Mixin of the RefreshToken.
func (RefreshToken) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the RefreshToken.
func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("refresh_tokens"),
		entsql.Checks(map[string]string{
			"ck_refresh_tokens_token_hash_hex": `token_hash ~ '^[0-9a-f]{64}$'`,
		}),
	}
}

// Policy of the RefreshToken: people list and end their own sessions,
// user.manage anyone's; sessions are created by the sign-in (as the
// system).
func (RefreshToken) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(), rule.AllowIfPermission(auth.UserManage), rule.FilterOwnRows("user_id"), privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(), rule.AllowIfPermission(auth.UserManage), rule.FilterOwnRows("user_id"), privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("jti", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("token_hash").Sensitive().SchemaType(varchar(64)),
		field.UUID("user_id", uuid.UUID{}),
		field.Time("issued_at"),
		field.Time("expires_at"),
		field.Time("last_seen_at"),
		field.Time("revoked_at").Optional().Nillable(),
		field.UUID("replaced_by_id", uuid.UUID{}).Optional().Nillable(),
		field.String("user_agent").Default("").MaxLen(512),
		field.String("ip").Default("").MaxLen(64),
		field.String("method").Default("password").MaxLen(60).
			Comment("how the session was signed in: password, password+totp, password+recovery, passkey, oidc:<key>, saml:<key>; kept through rotations"),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("refresh_tokens").Field("user_id").Unique().Required(),
		edge.To("replaces", RefreshToken.Type).
			StorageKey(fk("refresh_tokens", "replaced_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.From("replaced_by", RefreshToken.Type).Ref("replaces").Unique().Field("replaced_by_id"),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("token_hash").Unique().StorageKey("uq_refresh_tokens_token_hash"),
		index.Fields("jti").Unique().StorageKey("uq_refresh_tokens_jti"),
		index.Fields("user_id").StorageKey("ix_refresh_tokens_user_id"),
	}
}
