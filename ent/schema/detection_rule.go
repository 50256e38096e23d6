package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// DetectionRule is a detection rule of the catalogue, imported from a
// Sigma rule file: what a template or a mission test expects to fire, and
// what a technique's page lists. It is known by the Sigma rule's own id
// (rule_uid), so a re-import updates it in place and counts a revision
// when its content changed.
type DetectionRule struct{ ent.Schema }

// Mixin of the DetectionRule.
func (DetectionRule) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the DetectionRule.
func (DetectionRule) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("detection_rules"),
		entsql.Checks(map[string]string{"ck_detection_rules_revision": "revision >= 1"}),
	}
}

// Policy of the DetectionRule: the catalogue is read by everyone signed
// in, imported and changed with template.write and restored from the
// trash with trash.manage.
func (DetectionRule) Policy() ent.Policy {
	return rule.ReferencePolicy(auth.TemplateWrite, auth.TrashManage)
}

// Fields of the DetectionRule.
func (DetectionRule) Fields() []ent.Field {
	return []ent.Field{
		field.String("rule_uid").NotEmpty().MaxLen(100).Comment("the Sigma rule's id"),
		field.String("title").NotEmpty().MaxLen(300),
		field.String("status").Default("").MaxLen(30).Comment("stable, test, experimental, deprecated, unsupported"),
		field.String("level").Default("").MaxLen(30).Comment("informational, low, medium, high, critical"),
		field.Text("description").Default("").MaxRuneLen(notesTextMax).SchemaType(text),
		field.String("author").Default("").MaxLen(500),
		field.JSON("logsource", map[string]string{}).Optional().SchemaType(jsonb).
			Comment(`the Sigma logsource: {"product", "category", "service"}`),
		field.Strings("tags").Default([]string{}).SchemaType(jsonb),
		field.Strings("techniques").Default([]string{}).SchemaType(jsonb).
			Comment("ATT&CK technique IDs from the attack.tNNNN tags, upper case (T1059.001)"),
		field.Strings("references").Default([]string{}).SchemaType(jsonb),
		field.String("date").Default("").MaxLen(20).Comment("the Sigma date"),
		field.String("modified").Default("").MaxLen(20).Comment("the Sigma modified date"),
		field.String("source").Default("").MaxLen(500).Comment("the file it was imported from, as named in the import"),
		field.Text("content").Default("").SchemaType(text).Comment("the rule's YAML as imported"),
		field.String("content_sha256").Default("").MaxLen(64),
		field.Int("revision").Default(1).Comment("bumped when a re-import changes the rule's content"),
	}
}

// Edges of the DetectionRule.
func (DetectionRule) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("templates", TestTemplate.Type).Ref("rules"),
		edge.From("mission_tests", MissionTest.Type).Ref("rules"),
	}
}

// Indexes of the DetectionRule.
func (DetectionRule) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("rule_uid").Unique().StorageKey("uq_detection_rules_rule_uid"),
		index.Fields("techniques").StorageKey("ix_detection_rules_techniques").
			Annotations(entsql.IndexType("GIN")),
	}
}
