package database

import (
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
)

// In is the predicate "column = ANY($1)" with values sent as ONE array
// parameter. ent's generated XxxIn predicates and its eager loading bind
// one parameter per value, and PostgreSQL refuses a statement with more
// than 65,535 of them: any list that grows with the data (every template,
// every test of a mission) goes through In instead. It converts to any
// ent predicate type: testtemplate.Where-able as
// predicate.TestTemplate(database.In(testtemplate.FieldID, ids)).
// An empty list matches nothing, as ent's In does.
func In[T any](column string, values []T) func(*entsql.Selector) {
	return func(s *entsql.Selector) {
		if len(values) == 0 {
			s.Where(entsql.False())
			return
		}
		s.Where(entsql.P(func(b *entsql.Builder) {
			b.Ident(s.C(column)).WriteString(" = ANY(").Arg(pq.Array(values)).WriteString(")")
		}))
	}
}
