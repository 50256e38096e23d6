package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

var importKinds = []string{"atomic", "library", "sigma"}

// ImportJob is one library import (Atomic Red Team files or a Violet
// library document) run in the background: its page shows the progress
// kept here, then the summary.
type ImportJob struct{ ent.Schema }

// Mixin of the ImportJob.
func (ImportJob) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the ImportJob.
func (ImportJob) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("import_jobs"),
		entsql.Checks(map[string]string{
			"ck_import_jobs_kind":     inList("kind", importKinds...),
			"ck_import_jobs_status":   inList("status", syncStatuses...),
			"ck_import_jobs_progress": "progress >= 0 AND progress <= 100",
		}),
	}
}

// Policy of the ImportJob: library imports are read and started with
// template.write.
func (ImportJob) Policy() ent.Policy { return rule.PermissionPolicy(auth.TemplateWrite) }

// Fields of the ImportJob.
func (ImportJob) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values(importKinds...),
		field.UUID("started_by_id", uuid.UUID{}).Optional().Nillable(),
		field.String("started_by_label").Default(""),
		field.String("source").NotEmpty().Comment("the uploaded file's name or the path given"),
		field.Enum("status").Values(syncStatuses...).Default("running"),
		field.Int("progress").Default(0),
		field.JSON("summary", map[string]any{}).Optional().SchemaType(jsonb).
			Comment("counts, failures and untagged tests, written when the job ends"),
		field.Text("error").Default(""),
		field.Time("finished_at").Optional().Nillable(),
	}
}

// Edges of the ImportJob.
func (ImportJob) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("started_by", User.Type).Unique().Field("started_by_id").
			StorageKey(fk("import_jobs", "started_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the ImportJob.
func (ImportJob) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at").StorageKey("ix_import_jobs_created_at")}
}
