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

// MissionTestOutcome is what one defensive tool did about a released
// mission test: a level of the detection scale, when, the alert or rule
// that fired, where it was logged. A test has at most one outcome per
// tool, and at most one without a tool (blue's overall observation when no
// tool of the scope fits, and where a test's single detection from before
// outcomes per tool was moved). The test's own detection level is the
// overall result the workflows derive from its outcomes.
type MissionTestOutcome struct{ ent.Schema }

// Mixin of the MissionTestOutcome.
func (MissionTestOutcome) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the MissionTestOutcome.
func (MissionTestOutcome) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("mission_test_outcomes"),
		entsql.Checks(map[string]string{"ck_mission_test_outcomes_version": "version >= 1"}),
	}
}

// Policy of the MissionTestOutcome: seen with its test (blue members see
// released tests only), recorded by the mission's blue team and leads.
func (MissionTestOutcome) Policy() ent.Policy {
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
			rule.AllowMissionRoles("mission_test_id", true, rule.RoleLead, rule.RoleBlue),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the MissionTestOutcome.
func (MissionTestOutcome) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("mission_test_id", uuid.UUID{}),
		field.UUID("tool_id", uuid.UUID{}).Optional().Nillable().Comment("none: an outcome no tool of the scope fits"),
		field.UUID("detection_level_id", uuid.UUID{}).Optional().Nillable(),
		field.Time("detected_at").Optional().Nillable(),
		field.String("alert_name").Default("").MaxLen(300).Comment("alert or rule name"),
		field.String("log_source").Default("").MaxLen(300),
		field.Text("notes").Default("").MaxRuneLen(notesTextMax).SchemaType(text),
		field.UUID("recorded_by_id", uuid.UUID{}).Optional().Nillable(),
		field.Int("version").Default(1).Comment("optimistic locking: bumped by every save"),
	}
}

// Edges of the MissionTestOutcome.
func (MissionTestOutcome) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("mission_test", MissionTest.Type).Ref("outcomes").Field("mission_test_id").Unique().Required(),
		edge.To("tool", DefensiveTool.Type).Unique().Field("tool_id").
			StorageKey(fk("mission_test_outcomes", "tool_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
		edge.To("detection_level", DetectionLevel.Type).Unique().Field("detection_level_id").
			StorageKey(fk("mission_test_outcomes", "detection_level_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
		edge.To("recorded_by", User.Type).Unique().Field("recorded_by_id").
			StorageKey(fk("mission_test_outcomes", "recorded_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the MissionTestOutcome.
func (MissionTestOutcome) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("mission_test_id", "tool_id").Unique().StorageKey("uq_mission_test_outcomes_test_tool"),
		index.Fields("mission_test_id").Unique().StorageKey("uq_mission_test_outcomes_test_untooled").
			Annotations(entsql.IndexWhere("tool_id IS NULL")),
		index.Fields("tool_id").StorageKey("ix_mission_test_outcomes_tool_id"),
	}
}
