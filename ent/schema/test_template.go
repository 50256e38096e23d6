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

// Opsec levels and template sources, shared by templates and mission tests.
var (
	opsecLevels     = []string{"low", "medium", "high"}
	templateSources = []string{"manual", "atomic"}
)

// TestTemplate is a reusable attack test in the library.
type TestTemplate struct{ ent.Schema }

// Mixin of the TestTemplate.
func (TestTemplate) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the TestTemplate.
func (TestTemplate) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("test_templates"),
		entsql.Checks(map[string]string{
			"ck_test_templates_opsec_level": inList("opsec_level", opsecLevels...),
			"ck_test_templates_source":      inList("source", templateSources...),
			"ck_test_templates_version":     "version >= 1",
		}),
	}
}

// Policy of the TestTemplate: the library is read by everyone signed in,
// changed with template.write and restored from the trash with
// trash.manage.
func (TestTemplate) Policy() ent.Policy {
	return rule.ReferencePolicy(auth.TemplateWrite, auth.TrashManage)
}

// Fields of the TestTemplate.
func (TestTemplate) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(300),
		field.Text("description").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("objective").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("procedure").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("prerequisites").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("cleanup").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("expected_detection").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Strings("platforms").Default([]string{}).SchemaType(jsonb),
		field.Enum("opsec_level").Values(opsecLevels...).Default("medium"),
		field.Enum("source").Values(templateSources...).Default("manual"),
		field.String("external_ref").Default("").MaxLen(100).
			Comment("Atomic Red Team auto_generated_guid for imported tests"),
		field.UUID("created_by_id", uuid.UUID{}).Optional().Nillable(),
		expectedRulesField(),
		field.Strings("labels").Default([]string{}).SchemaType(jsonb).
			Annotations(entsql.DefaultExpr("'[]'::jsonb")).
			Comment("free-form tags people filter the library by"),
		field.String("import_hash").Default("").
			Comment("hash of the content an import last wrote; a differing row was edited locally"),
		field.Int("version").Default(1).Comment("optimistic locking: bumped by every save"),
	}
}

// Edges of the TestTemplate.
func (TestTemplate) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("mitre_tags", TestTemplateMitreTag.Type).
			StorageKey(fk("test_template_mitre_tags", "test_template_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		// The detection rules expected to fire when the test runs.
		edge.To("rules", DetectionRule.Type).
			StorageKey(
				edge.Table("test_template_rules"),
				edge.Columns("test_template_id", "detection_rule_id"),
				edge.Symbols("fk_test_template_rules_test_template_id", "fk_test_template_rules_detection_rule_id"),
			),
		edge.To("scenario_entries", ScenarioTemplateTest.Type).
			StorageKey(fk("scenario_template_tests", "test_template_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
		edge.To("created_by", User.Type).Unique().Field("created_by_id").
			StorageKey(fk("test_templates", "created_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the TestTemplate.
func (TestTemplate) Indexes() []ent.Index {
	return []ent.Index{
		activeIndex("test_templates", "name"),
		index.Fields("external_ref").StorageKey("ix_test_templates_external_ref"),
	}
}

// TestTemplateMitreTag tags a test template with exactly one ATT&CK entry:
// a tactic, a technique or a sub-technique. The CHECK is the last line of
// defence; forms say it first.
type TestTemplateMitreTag struct{ ent.Schema }

// Mixin of the TestTemplateMitreTag.
func (TestTemplateMitreTag) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the TestTemplateMitreTag.
func (TestTemplateMitreTag) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("test_template_mitre_tags"),
		entsql.Checks(map[string]string{
			"ck_test_template_mitre_tags_exactly_one_mitre_fk": "num_nonnulls(tactic_id, technique_id, subtechnique_id) = 1",
		}),
	}
}

// Policy of the TestTemplateMitreTag: as its template.
func (TestTemplateMitreTag) Policy() ent.Policy {
	return rule.ReferencePolicy(auth.TemplateWrite, auth.TrashManage)
}

// Fields of the TestTemplateMitreTag.
func (TestTemplateMitreTag) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("test_template_id", uuid.UUID{}),
		field.UUID("tactic_id", uuid.UUID{}).Optional().Nillable(),
		field.UUID("technique_id", uuid.UUID{}).Optional().Nillable(),
		field.UUID("subtechnique_id", uuid.UUID{}).Optional().Nillable(),
	}
}

// Edges of the TestTemplateMitreTag.
func (TestTemplateMitreTag) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("test_template", TestTemplate.Type).Ref("mitre_tags").
			Field("test_template_id").Unique().Required(),
		edge.From("tactic", MitreTactic.Type).Ref("template_tags").Field("tactic_id").Unique(),
		edge.From("technique", MitreTechnique.Type).Ref("template_tags").Field("technique_id").Unique(),
		edge.From("subtechnique", MitreSubtechnique.Type).Ref("template_tags").Field("subtechnique_id").Unique(),
	}
}

// Indexes of the TestTemplateMitreTag.
func (TestTemplateMitreTag) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("test_template_id").StorageKey("ix_test_template_mitre_tags_test_template_id"),
		index.Fields("tactic_id").StorageKey("ix_test_template_mitre_tags_tactic_id"),
		index.Fields("technique_id").StorageKey("ix_test_template_mitre_tags_technique_id"),
		index.Fields("subtechnique_id").StorageKey("ix_test_template_mitre_tags_subtechnique_id"),
	}
}
