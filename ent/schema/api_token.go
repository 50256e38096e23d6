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

// APIToken is a bearer token for the JSON API: a person's own, or a
// service account's. The token is shown once; only its SHA-256 is kept,
// beside a short prefix that lets people tell their tokens apart. Scopes
// narrow what the owner's permissions allow; they never widen them.
type APIToken struct{ ent.Schema }

// Mixin of the APIToken.
func (APIToken) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Annotations of the APIToken.
func (APIToken) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("api_tokens"),
		entsql.Checks(map[string]string{
			"ck_api_tokens_token_hash_hex": `token_hash ~ '^[0-9a-f]{64}$'`,
		}),
	}
}

// Policy of the APIToken: the apitoken workflows are the only writers
// and readers, and they check who may see or revoke which token.
func (APIToken) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the APIToken.
func (APIToken) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}),
		field.String("name").NotEmpty().MaxLen(100).Comment("what the token is for; every API call is audited with it"),
		field.String("token_hash").Sensitive().SchemaType(varchar(64)),
		field.String("prefix").MaxLen(16).Comment("the token's first characters, to tell tokens apart in lists"),
		field.Strings("scopes").Default([]string{}).SchemaType(jsonb).Comment("read, red, blue, library, admin"),
		field.Time("expires_at"),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.UUID("created_by_id", uuid.UUID{}).Optional().Nillable().Comment("who made it: the owner, or the admin who made a service account's"),
	}
}

// Edges of the APIToken.
func (APIToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("api_tokens").Field("user_id").Unique().Required(),
	}
}

// Indexes of the APIToken.
func (APIToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("token_hash").Unique().StorageKey("uq_api_tokens_token_hash"),
		index.Fields("user_id").StorageKey("ix_api_tokens_user_id"),
	}
}

// ExecutionRecord remembers one procedure of one execution log applied
// to a mission test (Invoke-AtomicTest's ATTiRe or CSV log), so that
// importing the same log twice changes nothing.
type ExecutionRecord struct{ ent.Schema }

// Mixin of the ExecutionRecord.
func (ExecutionRecord) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Annotations of the ExecutionRecord.
func (ExecutionRecord) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("execution_records")}
}

// Policy of the ExecutionRecord: written and read by the execution-log
// workflow only, which checks the mission role first.
func (ExecutionRecord) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the ExecutionRecord.
func (ExecutionRecord) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("mission_id", uuid.UUID{}),
		field.UUID("mission_test_id", uuid.UUID{}),
		field.String("execution_id").NotEmpty().MaxLen(200).Comment("the log's execution id (ATTiRe execution-id; for a CSV log, one derived from its rows)"),
		field.String("procedure_id").NotEmpty().MaxLen(200).Comment("the procedure: the Atomic test GUID, or technique#number"),
		field.String("format").MaxLen(20).Comment("attire or csv"),
		field.UUID("imported_by_id", uuid.UUID{}).Optional().Nillable(),
	}
}

// Edges of the ExecutionRecord.
func (ExecutionRecord) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("mission", Mission.Type).Ref("execution_records").Field("mission_id").Unique().Required(),
		edge.From("mission_test", MissionTest.Type).Ref("execution_records").Field("mission_test_id").Unique().Required(),
	}
}

// Indexes of the ExecutionRecord.
func (ExecutionRecord) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("mission_id", "execution_id", "procedure_id").Unique().StorageKey("uq_execution_records_mission_execution_procedure"),
		index.Fields("mission_test_id").StorageKey("ix_execution_records_mission_test_id"),
	}
}
