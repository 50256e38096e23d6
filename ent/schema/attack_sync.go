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

var syncStatuses = []string{"running", "succeeded", "failed"}

// AttackSync is one run of the ATT&CK catalogue sync: the background job
// whose page shows its progress, then its place in the sync history. The
// progress lives in the row so that any instance can show it.
type AttackSync struct{ ent.Schema }

// Mixin of the AttackSync.
func (AttackSync) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the AttackSync.
func (AttackSync) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("attack_syncs"),
		entsql.Checks(map[string]string{
			"ck_attack_syncs_status":   inList("status", syncStatuses...),
			"ck_attack_syncs_progress": "progress >= 0 AND progress <= 100",
		}),
	}
}

// Policy of the AttackSync: sync jobs are read and started with
// attack.sync; the catalogue's provenance (the version a mission's export
// names) is read by any signed-in viewer.
func (AttackSync) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{rule.DenyIfNoViewer(), rule.AllowIfViewer(), privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{rule.DenyIfNoViewer(), rule.AllowIfPermission(auth.AttackSync), privacy.AlwaysDenyRule()},
	}
}

// Fields of the AttackSync.
func (AttackSync) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("started_by_id", uuid.UUID{}).Optional().Nillable(),
		field.String("started_by_label").Default("").Comment("email of who started it; empty for the command line"),
		field.String("source").NotEmpty().Comment("the URL or the file name the bundle came from"),
		field.String("attack_version").Default(""),
		field.String("bundle_sha256").Default("").MaxLen(64).
			Comment("hex SHA-256 of the bundle read: a re-sync of the bundle the last successful sync read writes nothing"),
		field.Enum("status").Values(syncStatuses...).Default("running"),
		field.String("phase").Default("").Comment("what the job is doing now: download, read, write"),
		field.Int("progress").Default(0),
		field.Text("error").Default(""),
		field.Int("added").Default(0),
		field.Int("updated").Default(0),
		field.Int("revoked").Default(0),
		field.Int("unchanged").Default(0),
		field.Time("finished_at").Optional().Nillable(),
	}
}

// Edges of the AttackSync.
func (AttackSync) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("started_by", User.Type).Unique().Field("started_by_id").
			StorageKey(fk("attack_syncs", "started_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the AttackSync.
func (AttackSync) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at").StorageKey("ix_attack_syncs_created_at")}
}
