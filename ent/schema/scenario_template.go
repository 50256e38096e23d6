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

// ScenarioTemplate is an ordered list of test templates.
type ScenarioTemplate struct{ ent.Schema }

// Mixin of the ScenarioTemplate.
func (ScenarioTemplate) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the ScenarioTemplate.
func (ScenarioTemplate) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("scenario_templates"),
		entsql.Checks(map[string]string{"ck_scenario_templates_version": "version >= 1"}),
	}
}

// Policy of the ScenarioTemplate: the library is read by everyone signed
// in, changed with template.write and restored from the trash with
// trash.manage.
func (ScenarioTemplate) Policy() ent.Policy {
	return rule.ReferencePolicy(auth.TemplateWrite, auth.TrashManage)
}

// Fields of the ScenarioTemplate.
func (ScenarioTemplate) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(300),
		field.Text("description").Default("").MaxRuneLen(notesTextMax).SchemaType(text),
		field.UUID("created_by_id", uuid.UUID{}).Optional().Nillable(),
		field.Int("version").Default(1).
			Comment("optimistic locking: bumped by every change to the scenario or its order"),
	}
}

// Edges of the ScenarioTemplate.
func (ScenarioTemplate) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entries", ScenarioTemplateTest.Type).
			StorageKey(fk("scenario_template_tests", "scenario_template_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("created_by", User.Type).Unique().Field("created_by_id").
			StorageKey(fk("scenario_templates", "created_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the ScenarioTemplate.
func (ScenarioTemplate) Indexes() []ent.Index {
	return []ent.Index{activeIndex("scenario_templates", "name")}
}

// ScenarioTemplateTest places a test template at one position of a
// scenario. It has its own key because the same test may appear at several
// positions; positions are unique within a scenario.
type ScenarioTemplateTest struct{ ent.Schema }

// Mixin of the ScenarioTemplateTest.
func (ScenarioTemplateTest) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the ScenarioTemplateTest.
func (ScenarioTemplateTest) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("scenario_template_tests"),
		entsql.Checks(map[string]string{
			"ck_scenario_template_tests_position": "position >= 0",
		}),
	}
}

// Policy of the ScenarioTemplateTest: as its scenario.
func (ScenarioTemplateTest) Policy() ent.Policy {
	return rule.ReferencePolicy(auth.TemplateWrite, auth.TrashManage)
}

// Fields of the ScenarioTemplateTest.
func (ScenarioTemplateTest) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("scenario_template_id", uuid.UUID{}),
		field.UUID("test_template_id", uuid.UUID{}),
		field.Int("position"),
	}
}

// Edges of the ScenarioTemplateTest.
func (ScenarioTemplateTest) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("scenario_template", ScenarioTemplate.Type).Ref("entries").
			Field("scenario_template_id").Unique().Required(),
		edge.From("test_template", TestTemplate.Type).Ref("scenario_entries").
			Field("test_template_id").Unique().Required(),
	}
}

// Indexes of the ScenarioTemplateTest.
func (ScenarioTemplateTest) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("scenario_template_id", "position").Unique().
			StorageKey("uq_scenario_template_tests_scenario_position"),
		index.Fields("test_template_id").StorageKey("ix_scenario_template_tests_test_template_id"),
	}
}
