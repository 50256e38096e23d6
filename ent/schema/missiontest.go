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

var (
	testStates = []string{"pending", "running", "executed", "reviewed", "skipped", "blocked"}
	mitreKinds = []string{"tactic", "technique", "subtechnique"}
)

// MissionTest is a test template copied into a mission (so later template
// edits never rewrite history) plus what the red and blue teams recorded.
// Version is bumped on every save for optimistic locking.
type MissionTest struct{ ent.Schema }

// Mixin of the MissionTest.
func (MissionTest) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}, SoftDeleteMixin{}}
}

// Annotations of the MissionTest.
func (MissionTest) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("mission_tests"),
		entsql.Checks(map[string]string{
			"ck_mission_tests_state":       inList("state", testStates...),
			"ck_mission_tests_opsec_level": inList("opsec_level", opsecLevels...),
			"ck_mission_tests_version":     "version >= 1",
			"ck_mission_tests_times":       "ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at",
		}),
	}
}

// Policy of the MissionTest: members see their missions' tests, blue
// members only the released ones; who writes which fields is
// rule.MissionTestWrite.
func (MissionTest) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.AllowIfPermission(auth.MissionReadAll),
			rule.FilterVisibleTests(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(),
			rule.MissionTestWrite(),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the MissionTest.
func (MissionTest) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("mission_id", uuid.UUID{}),
		field.UUID("mission_scenario_id", uuid.UUID{}).Optional().Nillable(),
		field.UUID("category_id", uuid.UUID{}).Optional().Nillable(),
		field.UUID("test_template_id", uuid.UUID{}).Optional().Nillable(),
		field.Int("position").Default(0),
		// Copied from the template.
		field.String("name").NotEmpty().MaxLen(300),
		field.Text("description").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("objective").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("procedure").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("prerequisites").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("cleanup").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Text("expected_detection").Default("").MaxRuneLen(longTextMax).SchemaType(text),
		field.Strings("platforms").Default([]string{}).SchemaType(jsonb),
		expectedRulesField(),
		field.UUID("retest_of_id", uuid.UUID{}).Optional().Nillable().
			Comment("the test of the retested mission this test runs again"),
		field.Enum("opsec_level").Values(opsecLevels...).Default("medium"),
		// Execution.
		field.Enum("state").Values(testStates...).Default("pending"),
		field.Text("state_reason").Default("").MaxRuneLen(reasonMax).SchemaType(text).Comment("why a test is skipped or blocked"),
		field.Bool("released_to_blue").Default(false),
		field.UUID("assignee_id", uuid.UUID{}).Optional().Nillable().
			Comment("the red member expected to execute the test; unassigned tests are anyone's"),
		// Red side.
		field.UUID("executed_by_id", uuid.UUID{}).Optional().Nillable(),
		field.Time("started_at").Optional().Nillable(),
		field.Time("ended_at").Optional().Nillable(),
		field.Text("command").Default("").MaxRuneLen(notesTextMax).SchemaType(text),
		field.String("source_host").Default("").MaxLen(255),
		field.String("target_host").Default("").MaxLen(255),
		field.String("target_user").Default("").MaxLen(255).Comment("the account the test ran as"),
		field.String("executor").Default("").MaxLen(50).Comment("what ran the command: powershell, command_prompt, sh, bash, manual…"),
		field.String("import_key").Default("").MaxLen(300).
			Comment("where an imported test came from (vectr:<campaign>/<variant>); unique in its mission"),
		field.Text("red_notes").Default("").MaxRuneLen(notesTextMax).SchemaType(text),
		// Blue side.
		field.UUID("detection_level_id", uuid.UUID{}).Optional().Nillable(),
		field.Time("detected_at").Optional().Nillable(),
		field.String("alert_name").Default("").MaxLen(300).Comment("alert or rule name"),
		field.String("log_source").Default("").MaxLen(300),
		field.Text("blue_notes").Default("").MaxRuneLen(notesTextMax).SchemaType(text),
		// Review.
		field.UUID("reviewed_by_id", uuid.UUID{}).Optional().Nillable(),
		field.Time("reviewed_at").Optional().Nillable(),
		field.Int("version").Default(1),
	}
}

// Edges of the MissionTest.
func (MissionTest) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("mission", Mission.Type).Ref("tests").Field("mission_id").Unique().Required(),
		edge.From("scenario", MissionScenario.Type).Ref("tests").Field("mission_scenario_id").Unique(),
		edge.From("category", MissionCategory.Type).Ref("tests").Field("category_id").Unique(),
		edge.To("test_template", TestTemplate.Type).Unique().Field("test_template_id").
			StorageKey(fk("mission_tests", "test_template_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("executed_by", User.Type).Unique().Field("executed_by_id").
			StorageKey(fk("mission_tests", "executed_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("reviewed_by", User.Type).Unique().Field("reviewed_by_id").
			StorageKey(fk("mission_tests", "reviewed_by_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("assignee", User.Type).Unique().Field("assignee_id").
			StorageKey(fk("mission_tests", "assignee_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("detection_level", DetectionLevel.Type).Unique().Field("detection_level_id").
			StorageKey(fk("mission_tests", "detection_level_id")).
			Annotations(entsql.OnDelete(entsql.Restrict)),
		edge.To("outcomes", MissionTestOutcome.Type).
			StorageKey(fk("mission_test_outcomes", "mission_test_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		// The detection rules expected to fire, copied from the template.
		edge.To("rules", DetectionRule.Type).
			StorageKey(
				edge.Table("mission_test_rules"),
				edge.Columns("mission_test_id", "detection_rule_id"),
				edge.Symbols("fk_mission_test_rules_mission_test_id", "fk_mission_test_rules_detection_rule_id"),
			),
		edge.To("retests", MissionTest.Type).
			StorageKey(fk("mission_tests", "retest_of_id")).
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.From("retest_of", MissionTest.Type).Ref("retests").Unique().Field("retest_of_id"),
		edge.To("mitre_tags", MissionTestMitreTag.Type).
			StorageKey(fk("mission_test_mitre_tags", "mission_test_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("evidence", EvidenceFile.Type).
			StorageKey(fk("evidence_files", "mission_test_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("execution_records", ExecutionRecord.Type).
			StorageKey(fk("execution_records", "mission_test_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the MissionTest.
func (MissionTest) Indexes() []ent.Index {
	return []ent.Index{
		activeIndex("mission_tests", "mission_id", "position"),
		index.Fields("mission_scenario_id").StorageKey("ix_mission_tests_mission_scenario_id"),
		index.Fields("category_id").StorageKey("ix_mission_tests_category_id"),
		index.Fields("assignee_id").StorageKey("ix_mission_tests_assignee_id"),
		index.Fields("retest_of_id").StorageKey("ix_mission_tests_retest_of_id"),
		index.Fields("mission_id", "import_key").Unique().StorageKey("uq_mission_tests_import_key").
			Annotations(entsql.IndexWhere("import_key <> '' AND deleted_at IS NULL")),
	}
}

// MissionTestMitreTag is a deliberately denormalised copy of an ATT&CK tag
// on a mission test. It has no foreign key to the catalogue, so a re-sync
// can never purge or rewrite a mission's history.
type MissionTestMitreTag struct{ ent.Schema }

// Mixin of the MissionTestMitreTag.
func (MissionTestMitreTag) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the MissionTestMitreTag.
func (MissionTestMitreTag) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("mission_test_mitre_tags"),
		entsql.Checks(map[string]string{
			"ck_mission_test_mitre_tags_kind": inList("kind", mitreKinds...),
		}),
	}
}

// Policy of the MissionTestMitreTag: tags are seen with their test and
// changed by the mission's leads (the plan).
func (MissionTestMitreTag) Policy() ent.Policy {
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
			rule.AllowMissionRoles("mission_test_id", true, rule.RoleLead),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Fields of the MissionTestMitreTag.
func (MissionTestMitreTag) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("mission_test_id", uuid.UUID{}),
		field.Enum("kind").Values(mitreKinds...),
		field.String("external_id").NotEmpty(),
		field.String("name").NotEmpty(),
		field.String("url").Default(""),
		field.JSON("tactics", []map[string]string{}).Optional().SchemaType(jsonb).
			Annotations(entsql.DefaultExpr("'[]'::jsonb")).
			Comment(`the tactics of a technique or sub-technique when copied: [{"id":"TA0002","shortname":"execution","name":"Execution"}]`),
	}
}

// Edges of the MissionTestMitreTag.
func (MissionTestMitreTag) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("mission_test", MissionTest.Type).Ref("mitre_tags").
			Field("mission_test_id").Unique().Required(),
	}
}

// Indexes of the MissionTestMitreTag.
func (MissionTestMitreTag) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("mission_test_id").StorageKey("ix_mission_test_mitre_tags_mission_test_id"),
		index.Fields("external_id").StorageKey("ix_mission_test_mitre_tags_external_id"),
	}
}
