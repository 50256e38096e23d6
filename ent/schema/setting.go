package schema

import (
	"encoding/json"
	"violet/internal/auth"
	"violet/internal/auth/rule"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Setting is one instance-wide setting; the value is JSON so each key keeps
// its natural type (a number of minutes, a URL, a list).
type Setting struct{ ent.Schema }

// Mixin of the Setting.
func (Setting) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the Setting.
func (Setting) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("settings")}
}

// Policy of the Setting: everyone signed in reads the settings;
// settings.manage changes them.
func (Setting) Policy() ent.Policy { return rule.ReferencePolicy(auth.SettingsManage) }

// Fields of the Setting.
func (Setting) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").NotEmpty().MaxLen(100),
		field.JSON("value", json.RawMessage{}).SchemaType(jsonb),
	}
}

// Indexes of the Setting.
func (Setting) Indexes() []ent.Index {
	return []ent.Index{index.Fields("key").Unique().StorageKey("uq_settings_key")}
}
