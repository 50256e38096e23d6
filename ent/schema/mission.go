package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
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

var (
	missionStatuses = []string{"draft", "planned", "in_progress", "completed", "archived"}
	memberRoles     = []string{"lead", "red", "blue", "observer"}
	// hexColour is the CHECK expression for #rrggbb colours taken from data
	// and rendered into a generated stylesheet.
	hexColour = `colour ~ '^#[0-9a-fA-F]{6}$'`
	date      = map[string]string{dialect.Postgres: "date"}
)

// Mission is one purple-team engagement.
type Mission struct{ ent.Schema }

// Mixin of the Mission.
func (Mission) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the Mission.
func (Mission) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("missions"),
		entsql.Checks(map[string]string{
			"ck_missions_status":  inList("status", missionStatuses...),
			"ck_missions_dates":   "end_date IS NULL OR start_date IS NULL OR end_date >= start_date",
			"ck_missions_version": "version >= 1",
		}),
	}
}

// Policy of the Mission: a viewer sees the missions they are a
// member of (all of them with mission.read_all); leads change their own
// mission, mission.manage any.
func (Mission) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.MissionReadAll),
			rule.FilterVisibleMissions(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.MissionManage),
			rule.MissionWrite(),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the Mission.
func (Mission) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(300),
		field.Text("description").Default("").MaxRuneLen(notesTextMax).SchemaType(text),
		field.Text("scope").Default("").MaxRuneLen(notesTextMax).SchemaType(text).Comment("scope and target environment"),
		field.Time("start_date").Optional().Nillable().SchemaType(date),
		field.Time("end_date").Optional().Nillable().SchemaType(date),
		field.Enum("status").Values(missionStatuses...).Default("draft"),
		field.UUID("created_by_id", uuid.UUID{}).Optional().Nillable(),
		field.Int("version").Default(1).Comment("optimistic locking: bumped by every save of the mission's own fields"),
		field.Strings("labels").Default([]string{}).SchemaType(jsonb).
			Annotations(entsql.DefaultExpr("'[]'::jsonb")).
			Comment("free-form labels (a client, a business unit, a yearly campaign) the insights filter by"),
		field.String("import_key").Default("").MaxLen(300).
			Comment("where an imported mission came from (vectr:<assessment>, archive:<source mission id>); empty for missions made here"),
		field.UUID("retest_of_id", uuid.UUID{}).Optional().Nillable().
			Comment("the mission this one retests; its tests point at the tests they retest"),
	}
}

// Edges of the Mission.
func (Mission) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("members", MissionMember.Type).
			StorageKey(fk("mission_members", "mission_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("categories", MissionCategory.Type).
			StorageKey(fk("mission_categories", "mission_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("scenarios", MissionScenario.Type).
			StorageKey(fk("mission_scenarios", "mission_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("tests", MissionTest.Type).
			StorageKey(fk("mission_tests", "mission_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("execution_records", ExecutionRecord.Type).
			StorageKey(fk("execution_records", "mission_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("created_by", User.Type).Unique().Field("created_by_id").
			StorageKey(fk("missions", "created_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		// A retest is a new mission linked to the one it retests, so the
		// comparison can pair each test with its earlier run.
		edge.To("retests", Mission.Type).
			StorageKey(fk("missions", "retest_of_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.From("retest_of", Mission.Type).Ref("retests").Unique().Field("retest_of_id"),
		// The defensive tools in the mission's scope, whose outcomes blue
		// records.
		edge.To("tools", DefensiveTool.Type).
			StorageKey(
				edge.Table("mission_tools"),
				edge.Columns("mission_id", "defensive_tool_id"),
				edge.Symbols("fk_mission_tools_mission_id", "fk_mission_tools_defensive_tool_id"),
			),
	}
}

// Indexes of the Mission.
func (Mission) Indexes() []ent.Index {
	return []ent.Index{
		activeIndex("missions", "created_at"),
		index.Fields("retest_of_id").StorageKey("ix_missions_retest_of_id"),
		index.Fields("import_key").Unique().StorageKey("uq_missions_import_key").
			Annotations(entsql.IndexWhere("import_key <> '' AND deleted_at IS NULL")),
	}
}

// MissionMember gives a user a role on one mission.
type MissionMember struct{ ent.Schema }

// Mixin of the MissionMember.
func (MissionMember) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the MissionMember.
func (MissionMember) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("mission_members"),
		entsql.Checks(map[string]string{
			"ck_mission_members_role": inList("role", memberRoles...),
		}),
	}
}

// Policy of the MissionMember: members are seen on the missions the
// viewer belongs to (all with mission.read_all) and managed by the
// mission's leads (or mission.manage).
func (MissionMember) Policy() ent.Policy { return missionChildPolicy(rule.RoleLead) }

// Fields of the MissionMember.
func (MissionMember) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("mission_id", uuid.UUID{}),
		field.UUID("user_id", uuid.UUID{}),
		field.Enum("role").Values(memberRoles...),
	}
}

// Edges of the MissionMember.
func (MissionMember) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("mission", Mission.Type).Ref("members").Field("mission_id").Unique().Required(),
		edge.From("user", User.Type).Ref("memberships").Field("user_id").Unique().Required(),
	}
}

// Indexes of the MissionMember.
func (MissionMember) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("mission_id", "user_id").Unique().StorageKey("uq_mission_members_mission_user"),
		index.Fields("user_id").StorageKey("ix_mission_members_user_id"),
	}
}

// MissionCategory groups a mission's tests, for example by perimeter.
type MissionCategory struct{ ent.Schema }

// Mixin of the MissionCategory.
func (MissionCategory) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the MissionCategory.
func (MissionCategory) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("mission_categories"),
		entsql.Checks(map[string]string{"ck_mission_categories_colour": hexColour}),
	}
}

// Policy of the MissionCategory: seen with its mission, managed by its
// leads.
func (MissionCategory) Policy() ent.Policy { return missionChildPolicy(rule.RoleLead) }

// Fields of the MissionCategory.
func (MissionCategory) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("mission_id", uuid.UUID{}),
		field.String("name").NotEmpty().MaxLen(100),
		field.String("colour").Default("#6d28d9").SchemaType(varchar(7)),
		field.Int("position").Default(0),
	}
}

// Edges of the MissionCategory.
func (MissionCategory) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("mission", Mission.Type).Ref("categories").Field("mission_id").Unique().Required(),
		edge.To("tests", MissionTest.Type).
			StorageKey(fk("mission_tests", "category_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the MissionCategory.
func (MissionCategory) Indexes() []ent.Index {
	return []ent.Index{activeIndex("mission_categories", "mission_id", "position")}
}

// MissionScenario is a scenario template copied into a mission. The source
// template is remembered but may later disappear.
type MissionScenario struct{ ent.Schema }

// Mixin of the MissionScenario.
func (MissionScenario) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the MissionScenario.
func (MissionScenario) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("mission_scenarios")}
}

// Policy of the MissionScenario: seen with its mission, managed by its
// leads.
func (MissionScenario) Policy() ent.Policy { return missionChildPolicy(rule.RoleLead) }

// Fields of the MissionScenario.
func (MissionScenario) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("mission_id", uuid.UUID{}),
		field.UUID("scenario_template_id", uuid.UUID{}).Optional().Nillable(),
		field.String("name").NotEmpty().MaxLen(300),
		field.Text("description").Default("").MaxRuneLen(notesTextMax).SchemaType(text),
		field.Int("position").Default(0),
	}
}

// Edges of the MissionScenario.
func (MissionScenario) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("mission", Mission.Type).Ref("scenarios").Field("mission_id").Unique().Required(),
		edge.To("scenario_template", ScenarioTemplate.Type).Unique().Field("scenario_template_id").
			StorageKey(fk("mission_scenarios", "scenario_template_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("tests", MissionTest.Type).
			StorageKey(fk("mission_tests", "mission_scenario_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the MissionScenario.
func (MissionScenario) Indexes() []ent.Index {
	return []ent.Index{activeIndex("mission_scenarios", "mission_id", "position")}
}

// missionChildPolicy is the policy of a mission's own children (members,
// categories, scenarios): read on the missions the viewer belongs to (all
// of them with mission.read_all), changed by the mission's writers among
// roles (or with mission.manage).
func missionChildPolicy(roles ...string) ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.MissionReadAll),
			rule.FilterMemberMissions("mission_id"),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.MissionManage),
			rule.AllowMissionRoles("mission_id", false, roles...),
			privacy.AlwaysDenyRule(),
		},
	}
}
