package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"violet/internal/auth/rule"
)

// LibraryImportFile is an Atomic Red Team technique file an import wrote
// whole, known by the SHA-256 of its content (its name changes with the
// folder or the archive it came in): a later import skips a file it knows
// before parsing it, when the catalogue its tags were resolved against is
// the same and the templates it made are still as imported.
type LibraryImportFile struct{ ent.Schema }

// Mixin of the LibraryImportFile.
func (LibraryImportFile) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Annotations of the LibraryImportFile.
func (LibraryImportFile) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("library_import_files")}
}

// Policy of the LibraryImportFile: written and read by the import job
// under the system context only.
func (LibraryImportFile) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the LibraryImportFile.
func (LibraryImportFile) Fields() []ent.Field {
	return []ent.Field{
		field.String("sha256").NotEmpty().MaxLen(64).Comment("hex SHA-256 of the file's bytes"),
		field.String("catalogue").Default("").MaxLen(64).
			Comment("fingerprint of the ATT&CK catalogue the file's tags were resolved against"),
		field.JSON("templates", []uuid.UUID{}).SchemaType(jsonb).
			Comment("the templates the file made or found, in file order"),
		field.JSON("untagged", []map[string]string{}).Optional().SchemaType(jsonb).
			Comment(`its tests whose ATT&CK ID the catalogue lacked: {"test", "technique_id"}`),
	}
}

// Indexes of the LibraryImportFile.
func (LibraryImportFile) Indexes() []ent.Index {
	return []ent.Index{index.Fields("sha256").Unique().StorageKey("uq_library_import_files_sha256")}
}
