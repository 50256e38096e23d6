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

var evidenceSides = []string{"red", "blue"}

// EvidenceFile is a file attached to a mission test. The bytes live in the
// blob store under stored_key (random, never derived from the upload name);
// the row is written only after the file is safely on disk.
type EvidenceFile struct{ ent.Schema }

// Mixin of the EvidenceFile.
func (EvidenceFile) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the EvidenceFile.
func (EvidenceFile) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("evidence_files"),
		entsql.Checks(map[string]string{
			"ck_evidence_files_side":       inList("side", evidenceSides...),
			"ck_evidence_files_size":       "size >= 0",
			"ck_evidence_files_sha256_hex": `sha256 ~ '^[0-9a-f]{64}$'`,
		}),
	}
}

// Policy of the EvidenceFile: evidence is seen with its test (blue
// members only on released tests; everything with mission.read_all);
// it is added and removed by the mission's leads, red and blue members,
// the finer rules being the evidence workflow's.
func (EvidenceFile) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.MissionReadAll),
			rule.FilterVisibleTestRows("mission_test_id"),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.MissionManage),
			rule.AllowMissionRoles("mission_test_id", true, rule.RoleLead, rule.RoleRed, rule.RoleBlue),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the EvidenceFile.
func (EvidenceFile) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("mission_test_id", uuid.UUID{}),
		field.Enum("side").Values(evidenceSides...),
		field.UUID("uploaded_by_id", uuid.UUID{}),
		field.String("original_name").NotEmpty().MaxLen(255),
		field.String("stored_key").NotEmpty().Immutable(),
		field.String("content_type").NotEmpty(),
		field.Int64("size").Min(0),
		field.String("sha256").SchemaType(varchar(64)),
		field.String("caption").Default("").MaxLen(500),
	}
}

// Edges of the EvidenceFile.
func (EvidenceFile) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("mission_test", MissionTest.Type).Ref("evidence").
			Field("mission_test_id").Unique().Required(),
		edge.To("uploaded_by", User.Type).Unique().Required().Field("uploaded_by_id").
			StorageKey(fk("evidence_files", "uploaded_by_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
	}
}

// Indexes of the EvidenceFile.
func (EvidenceFile) Indexes() []ent.Index {
	return []ent.Index{
		activeIndex("evidence_files", "mission_test_id"),
		index.Fields("stored_key").Unique().StorageKey("uq_evidence_files_stored_key"),
	}
}
