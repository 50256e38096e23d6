package schema

import (
	"strconv"
	"strings"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"
)

// IDMixin gives an entity a UUID primary key generated in Go, with a
// database default as well so hand-written SQL (seeds, fixtures) can omit it.
type IDMixin struct{ mixin.Schema }

// Fields of the IDMixin.
func (IDMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).
			Default(uuid.New).
			Immutable().
			Annotations(entsql.DefaultExpr("gen_random_uuid()")),
	}
}

// TimeMixin records when a row was created and last changed. Both columns
// also default to now() in the database for hand-written SQL.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Annotations(entsql.Default("CURRENT_TIMESTAMP")),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now).
			Annotations(entsql.Default("CURRENT_TIMESTAMP")),
	}
}

// jsonb makes a JSON field a PostgreSQL jsonb column.
var jsonb = map[string]string{dialect.Postgres: "jsonb"}

// text keeps a bounded Text field a PostgreSQL text column: with a
// MaxRuneLen, ent would otherwise make it varchar. The bound is checked by
// ent's validator and, through internal/textrule, by every form and import
// before a value gets that far.
var text = map[string]string{dialect.Postgres: "text"}

// Lengths of the long text fields, in characters. Templates hold whole
// Atomic procedures (the longest upstream is ~12,000 characters), and a
// mission test copies its template's fields, so both get the same room.
const (
	longTextMax  = 50000 // markdown fields of templates and mission tests
	notesTextMax = 20000 // descriptions, scope, notes, commands
	reasonMax    = 2000  // why a test is skipped or blocked
)

// varchar returns the PostgreSQL column type varchar(n); ent's MaxLen is
// only a Go-side validator and does not change the column type.
func varchar(n int) map[string]string {
	return map[string]string{dialect.Postgres: "varchar(" + strconv.Itoa(n) + ")"}
}

// fk names the foreign key constraint of table.column as fk_<table>_<column>.
func fk(table, column string) edge.StorageOption {
	return edge.Symbol("fk_" + table + "_" + column)
}

// activeIndex is the partial index ix_<table>_active over the given columns
// restricted to rows that are not soft-deleted; every list query filters on
// deleted_at IS NULL, so this is the index those queries use.
func activeIndex(table string, fields ...string) ent.Index {
	return index.Fields(fields...).
		StorageKey("ix_" + table + "_active").
		Annotations(entsql.IndexWhere("deleted_at IS NULL"))
}

// inList renders a CHECK expression that column holds one of values.
func inList(column string, values ...string) string {
	return column + " IN ('" + strings.Join(values, "', '") + "')"
}

// expectedRulesField is the free rule names a template or a mission test
// expects to fire, one per defensive tool ("the EDR's 'Encoded PowerShell'
// alert"), beside the Sigma rules of the catalogue. The tool is named by
// its id; a copy from a template to a mission keeps the pairs as they are.
func expectedRulesField() ent.Field {
	return field.JSON("expected_rules", []map[string]string{}).Optional().SchemaType(jsonb).
		Annotations(entsql.DefaultExpr("'[]'::jsonb")).
		Comment(`free rule names per tool: [{"tool_id":"<uuid>","name":"Encoded PowerShell"}]`)
}
