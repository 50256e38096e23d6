package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"violet/internal/auth"
	"violet/internal/auth/rule"
)

// DetectionLevel is one step of the configurable outcome scale blue teams
// pick from (e.g. Blocked 100 … Not detected 0).
type DetectionLevel struct{ ent.Schema }

// Mixin of the DetectionLevel.
func (DetectionLevel) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the DetectionLevel.
func (DetectionLevel) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("detection_levels"),
		entsql.Checks(map[string]string{
			"ck_detection_levels_score":  "score >= 0 AND score <= 100",
			"ck_detection_levels_colour": hexColour,
		}),
	}
}

// Policy of the DetectionLevel: everyone signed in reads the scale;
// settings.manage changes it.
func (DetectionLevel) Policy() ent.Policy { return rule.ReferencePolicy(auth.SettingsManage) }

// Fields of the DetectionLevel.
func (DetectionLevel) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100),
		field.String("description").Default(""),
		field.Int("score").Range(0, 100),
		field.String("colour").SchemaType(varchar(7)),
		field.Int("position").Default(0),
		field.Bool("counts_as_detected").Default(false),
		field.Bool("retired").Default(false).
			Comment("a level in use cannot be deleted; retired, it is no longer offered"),
	}
}

// Indexes of the DetectionLevel.
func (DetectionLevel) Indexes() []ent.Index {
	return []ent.Index{index.Fields("name").Unique().StorageKey("uq_detection_levels_name")}
}
