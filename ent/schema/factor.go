package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"violet/internal/auth/rule"
)

// Second factors and external identities (issue 21). Every row here is a
// credential: only the sign-in and account workflows touch them, as the
// system (SystemOnlyPolicy), after checking who asks.

// UserTOTP is a person's authenticator app: the TOTP secret, encrypted
// with a key derived from the session key, confirmed once a first code
// was typed; last_step refuses a code used again in its window.
type UserTOTP struct{ ent.Schema }

// Mixin of the UserTOTP.
func (UserTOTP) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Annotations of the UserTOTP.
func (UserTOTP) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("user_totps")}
}

// Policy of the UserTOTP.
func (UserTOTP) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the UserTOTP.
func (UserTOTP) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}),
		field.Text("secret").Sensitive().SchemaType(text).Comment("the TOTP secret, AES-GCM sealed (nonce || ciphertext), base64"),
		field.Time("confirmed_at").Optional().Nillable().Comment("set by the first code typed; an unconfirmed secret is an enrolment in progress"),
		field.Int64("last_step").Default(0).Comment("the time step of the last code accepted: a code of that step or before is refused"),
	}
}

// Edges of the UserTOTP.
func (UserTOTP) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("totp").Field("user_id").Unique().Required(),
	}
}

// Indexes of the UserTOTP.
func (UserTOTP) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id").Unique().StorageKey("uq_user_totps_user_id")}
}

// RecoveryCode is one of a person's one-time recovery codes, kept as the
// SHA-256 of the code (the codes carry 80 random bits, so a fast hash
// suffices); used_at spends it.
type RecoveryCode struct{ ent.Schema }

// Mixin of the RecoveryCode.
func (RecoveryCode) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Annotations of the RecoveryCode.
func (RecoveryCode) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("recovery_codes"),
		entsql.Checks(map[string]string{"ck_recovery_codes_code_hash_hex": `code_hash ~ '^[0-9a-f]{64}$'`}),
	}
}

// Policy of the RecoveryCode.
func (RecoveryCode) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the RecoveryCode.
func (RecoveryCode) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}),
		field.String("code_hash").Sensitive().SchemaType(varchar(64)),
		field.Time("used_at").Optional().Nillable(),
	}
}

// Edges of the RecoveryCode.
func (RecoveryCode) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("recovery_codes").Field("user_id").Unique().Required(),
	}
}

// Indexes of the RecoveryCode.
func (RecoveryCode) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "code_hash").Unique().StorageKey("uq_recovery_codes_user_id_code_hash")}
}

// UserIdentity links a Violet account to an identity of a single sign-on
// provider: by the issuer and the provider's subject, never by e-mail
// alone (an e-mail can be reassigned; a subject is not).
type UserIdentity struct{ ent.Schema }

// Mixin of the UserIdentity.
func (UserIdentity) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Annotations of the UserIdentity.
func (UserIdentity) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("user_identities")}
}

// Policy of the UserIdentity.
func (UserIdentity) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the UserIdentity.
func (UserIdentity) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}),
		field.String("provider").NotEmpty().MaxLen(100).Comment("the provider's key in the configuration (oidc:keycloak, saml:adfs)"),
		field.String("issuer").NotEmpty().MaxLen(500).Comment("the OpenID issuer or SAML entity id that vouches for the subject"),
		field.String("subject").NotEmpty().MaxLen(500),
		field.String("email").Default("").MaxLen(254).Comment("the verified e-mail the provider gave at the last sign-in, for display"),
		field.Time("last_login_at").Optional().Nillable(),
	}
}

// Edges of the UserIdentity.
func (UserIdentity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("identities").Field("user_id").Unique().Required(),
	}
}

// Indexes of the UserIdentity.
func (UserIdentity) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("issuer", "subject").Unique().StorageKey("uq_user_identities_issuer_subject"),
		index.Fields("user_id").StorageKey("ix_user_identities_user_id"),
	}
}

// WebAuthnCredential is one of a person's passkeys: the credential's id
// and public key as registered, the sign counter last seen (a counter
// that goes back means a cloned authenticator), and the name its owner
// gave it. The WebAuthn user handle is the user's id (16 bytes, no
// personal data).
type WebAuthnCredential struct{ ent.Schema }

// Mixin of the WebAuthnCredential.
func (WebAuthnCredential) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Annotations of the WebAuthnCredential.
func (WebAuthnCredential) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("webauthn_credentials")}
}

// Policy of the WebAuthnCredential.
func (WebAuthnCredential) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the WebAuthnCredential.
func (WebAuthnCredential) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}),
		field.String("name").NotEmpty().MaxRuneLen(100),
		field.Bytes("credential_id").NotEmpty().MaxLen(1023),
		field.Bytes("public_key").NotEmpty().Comment("the COSE public key"),
		field.String("attestation_type").Default("").MaxLen(50),
		field.Bytes("aaguid").Optional().Nillable(),
		field.Int64("sign_count").Default(0),
		field.Strings("transports").Default([]string{}).SchemaType(jsonb).
			Annotations(entsql.DefaultExpr("'[]'::jsonb")),
		field.Bool("user_verified").Default(false).Comment("the authenticator verified the user (PIN, biometrics) at registration"),
		field.Bool("backup_eligible").Default(false),
		field.Bool("backup_state").Default(false),
		field.Time("last_used_at").Optional().Nillable(),
	}
}

// Edges of the WebAuthnCredential.
func (WebAuthnCredential) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("passkeys").Field("user_id").Unique().Required(),
	}
}

// Indexes of the WebAuthnCredential.
func (WebAuthnCredential) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("credential_id").Unique().StorageKey("uq_webauthn_credentials_credential_id"),
		index.Fields("user_id").StorageKey("ix_webauthn_credentials_user_id"),
	}
}
