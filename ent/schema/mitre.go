package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// catalogueMixin holds what every ATT&CK catalogue entry keeps from its STIX
// object. Entries are keyed on stix_id for the idempotent sync; revoked and
// deprecated entries are flagged, never deleted.
type catalogueMixin struct {
	mixin.Schema
	table string
}

// Fields of the catalogueMixin.
func (catalogueMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("stix_id").NotEmpty().Immutable(),
		field.String("external_id").NotEmpty(),
		field.String("name").NotEmpty(),
		field.Text("description").Default(""),
		field.String("url").Default(""),
		field.Strings("platforms").Default([]string{}).SchemaType(jsonb),
		field.Bool("revoked").Default(false),
		field.Bool("deprecated").Default(false),
		field.String("attack_version").Default(""),
		field.Time("stix_modified").Optional().Nillable(),
	}
}

// Indexes of the catalogueMixin.
func (m catalogueMixin) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("stix_id").Unique().StorageKey("uq_" + m.table + "_stix_id"),
		index.Fields("external_id").StorageKey("ix_" + m.table + "_external_id"),
	}
}

// MitreTactic is an ATT&CK tactic (TA0001…), a column of the matrix.
type MitreTactic struct{ ent.Schema }

// Mixin of the MitreTactic.
func (MitreTactic) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, catalogueMixin{table: "mitre_tactics"}}
}

// Annotations of the MitreTactic.
func (MitreTactic) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("mitre_tactics")}
}

// Policy of the MitreTactic: the ATT&CK catalogue is read by everyone
// signed in and written by a sync (attack.sync).
func (MitreTactic) Policy() ent.Policy { return rule.ReferencePolicy(auth.AttackSync) }

// Fields of the MitreTactic.
func (MitreTactic) Fields() []ent.Field {
	return []ent.Field{
		field.String("shortname").NotEmpty(),
		field.Int("position").Default(0).Comment("column order in the Enterprise matrix"),
	}
}

// Edges of the MitreTactic.
func (MitreTactic) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("techniques", MitreTechnique.Type).Ref("tactics"),
		edge.To("template_tags", TestTemplateMitreTag.Type).
			StorageKey(fk("test_template_mitre_tags", "tactic_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
	}
}

// MitreTechnique is an ATT&CK technique (T1059…). It belongs to one or more
// tactics through mitre_technique_tactics.
type MitreTechnique struct{ ent.Schema }

// Mixin of the MitreTechnique.
func (MitreTechnique) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, catalogueMixin{table: "mitre_techniques"}}
}

// Annotations of the MitreTechnique.
func (MitreTechnique) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("mitre_techniques")}
}

// Policy of the MitreTechnique: the ATT&CK catalogue is read by everyone
// signed in and written by a sync (attack.sync).
func (MitreTechnique) Policy() ent.Policy { return rule.ReferencePolicy(auth.AttackSync) }

// Fields of the MitreTechnique.
func (MitreTechnique) Fields() []ent.Field {
	return []ent.Field{
		field.String("revoked_by_stix_id").Default("").Comment("replacement named by a revoked-by relationship"),
	}
}

// Edges of the MitreTechnique.
func (MitreTechnique) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("tactics", MitreTactic.Type).
			StorageKey(
				edge.Table("mitre_technique_tactics"),
				edge.Columns("technique_id", "tactic_id"),
				edge.Symbols("fk_mitre_technique_tactics_technique_id", "fk_mitre_technique_tactics_tactic_id"),
			),
		edge.To("subtechniques", MitreSubtechnique.Type).
			StorageKey(fk("mitre_subtechniques", "technique_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
		edge.To("template_tags", TestTemplateMitreTag.Type).
			StorageKey(fk("test_template_mitre_tags", "technique_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
	}
}

// MitreSubtechnique is an ATT&CK sub-technique (T1059.001…). It takes its
// parent technique's tactics.
type MitreSubtechnique struct{ ent.Schema }

// Mixin of the MitreSubtechnique.
func (MitreSubtechnique) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, catalogueMixin{table: "mitre_subtechniques"}}
}

// Annotations of the MitreSubtechnique.
func (MitreSubtechnique) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("mitre_subtechniques")}
}

// Policy of the MitreSubtechnique: the ATT&CK catalogue is read by everyone
// signed in and written by a sync (attack.sync).
func (MitreSubtechnique) Policy() ent.Policy { return rule.ReferencePolicy(auth.AttackSync) }

// Fields of the MitreSubtechnique.
func (MitreSubtechnique) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("technique_id", uuid.UUID{}),
		field.String("revoked_by_stix_id").Default("").Comment("replacement named by a revoked-by relationship"),
	}
}

// Edges of the MitreSubtechnique.
func (MitreSubtechnique) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("technique", MitreTechnique.Type).Ref("subtechniques").
			Field("technique_id").Unique().Required(),
		edge.To("template_tags", TestTemplateMitreTag.Type).
			StorageKey(fk("test_template_mitre_tags", "subtechnique_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
	}
}

// Indexes of the MitreSubtechnique.
func (MitreSubtechnique) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("technique_id").StorageKey("ix_mitre_subtechniques_technique_id"),
	}
}
