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

// ToolKinds are the kinds of defensive tool (the registry's filter and the
// figures' grouping).
var ToolKinds = []string{"edr", "siem", "ndr", "email", "av", "firewall", "proxy", "identity", "other"}

// DefensiveTool is a control of the organisation a blue team reads its
// outcomes from (an EDR, a SIEM…): the registry administrators keep, from
// which each mission chooses the tools in its scope.
type DefensiveTool struct{ ent.Schema }

// Mixin of the DefensiveTool.
func (DefensiveTool) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the DefensiveTool.
func (DefensiveTool) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("defensive_tools"),
		entsql.Checks(map[string]string{"ck_defensive_tools_kind": inList("kind", ToolKinds...)}),
	}
}

// Policy of the DefensiveTool: everyone signed in reads the registry (a
// mission's scope names its tools); settings.manage changes it and
// restores it from the trash.
func (DefensiveTool) Policy() ent.Policy {
	return rule.ReferencePolicy(auth.SettingsManage, auth.TrashManage)
}

// Fields of the DefensiveTool.
func (DefensiveTool) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100),
		field.String("vendor").Default("").MaxLen(100),
		field.Enum("kind").Values(ToolKinds...).Default("other"),
		field.Bool("active").Default(true).
			Comment("an inactive tool stays in the missions that had it, and is no longer offered"),
		field.Int("version").Default(1).Comment("optimistic locking: bumped by every save"),
	}
}

// Edges of the DefensiveTool.
func (DefensiveTool) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("missions", Mission.Type).Ref("tools"),
	}
}

// Indexes of the DefensiveTool.
func (DefensiveTool) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("name").Unique().
			StorageKey("uq_defensive_tools_name_active").
			Annotations(entsql.IndexWhere("deleted_at IS NULL")),
	}
}
