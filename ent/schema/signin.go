package schema

import (
	"encoding/json"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"violet/internal/auth/rule"
)

// Single sign-on providers set up on Administration → Sign-in, and the
// SAML assertions already used (issue 21). Both are touched only by the
// sign-in and administration workflows, as the system (SystemOnlyPolicy),
// after checking who asks: a provider row holds a client secret.

// SignInProvider is one identity provider an admin configured: an OpenID
// Connect or a SAML one. Its protocol settings are JSON (each kind has
// its own); the OpenID Connect client secret is sealed apart.
type SignInProvider struct{ ent.Schema }

// Mixin of the SignInProvider.
func (SignInProvider) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Annotations of the SignInProvider.
func (SignInProvider) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("sign_in_providers"),
		entsql.Checks(map[string]string{
			"ck_sign_in_providers_kind": inList("kind", "oidc", "saml"),
			// The key is part of URLs and of the method sessions record.
			"ck_sign_in_providers_key": `key ~ '^[a-z0-9][a-z0-9_-]{0,31}$'`,
		}),
	}
}

// Policy of the SignInProvider.
func (SignInProvider) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the SignInProvider.
func (SignInProvider) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").NotEmpty().MaxLen(32).
			Comment("short name: sessions and identities record oidc:<key> or saml:<key>; never changes"),
		field.Enum("kind").Values("oidc", "saml"),
		field.String("name").NotEmpty().MaxLen(100).Comment("the sign-in button's label"),
		field.Bool("enabled").Default(true),
		field.JSON("settings", json.RawMessage{}).SchemaType(jsonb).
			Comment("the protocol's settings (issuer, client id, scopes, metadata, group map, allowed domains…), no secret"),
		field.Text("secret").Optional().Sensitive().SchemaType(text).
			Comment("the OpenID Connect client secret, AES-GCM sealed (nonce || ciphertext), base64; empty for SAML"),
	}
}

// Indexes of the SignInProvider.
func (SignInProvider) Indexes() []ent.Index {
	return []ent.Index{index.Fields("key").Unique().StorageKey("uq_sign_in_providers_key")}
}

// SAMLAssertion is a SAML assertion already accepted, kept until it
// expires so that the same assertion posted again is refused (replay),
// by every instance.
type SAMLAssertion struct{ ent.Schema }

// Mixin of the SAMLAssertion.
func (SAMLAssertion) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}} }

// Annotations of the SAMLAssertion.
func (SAMLAssertion) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("saml_assertions")}
}

// Policy of the SAMLAssertion.
func (SAMLAssertion) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the SAMLAssertion.
func (SAMLAssertion) Fields() []ent.Field {
	return []ent.Field{
		field.String("provider").NotEmpty().MaxLen(40).Comment("saml:<key>"),
		field.String("assertion_id").NotEmpty().MaxLen(512).Comment("the assertion's ID attribute"),
		field.Time("expires_at").Comment("when the assertion stops being valid: the row may go after that"),
	}
}

// Indexes of the SAMLAssertion.
func (SAMLAssertion) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("provider", "assertion_id").Unique().StorageKey("uq_saml_assertions_provider_assertion_id"),
		index.Fields("expires_at").StorageKey("ix_saml_assertions_expires_at"),
	}
}
