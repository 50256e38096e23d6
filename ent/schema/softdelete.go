package schema

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	gen "violet/ent"
	"violet/ent/hook"
	"violet/ent/intercept"
)

// SoftDeleteMixin implements soft delete the way ent documents it
// (doc/md/interceptors.mdx): a deleted_at column, a traversal interceptor
// that hides deleted rows from every query, edge traversal and eager load,
// and a hook that turns deletes into updates setting deleted_at.
// SkipSoftDelete switches both off for the admin trash and hard deletes.
//
// Uniqueness that must ignore deleted rows is a partial unique index
// (WHERE deleted_at IS NULL), never field.Unique().
type SoftDeleteMixin struct{ mixin.Schema }

// Fields of the SoftDeleteMixin.
func (SoftDeleteMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("deleted_at").Optional().Nillable(),
	}
}

type softDeleteKey struct{}

// SkipSoftDelete returns a context in which queries include soft-deleted
// rows and deletes remove rows for good.
func SkipSoftDelete(parent context.Context) context.Context {
	return context.WithValue(parent, softDeleteKey{}, true)
}

func skipSoftDelete(ctx context.Context) bool {
	skip, _ := ctx.Value(softDeleteKey{}).(bool)
	return skip
}

// Interceptors of the SoftDeleteMixin.
func (d SoftDeleteMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
			if !skipSoftDelete(ctx) {
				d.p(q)
			}
			return nil
		}),
	}
}

// Hooks of the SoftDeleteMixin.
func (d SoftDeleteMixin) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(
			func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					if skipSoftDelete(ctx) {
						return next.Mutate(ctx, m)
					}
					mx, ok := m.(interface {
						SetOp(ent.Op)
						Client() *gen.Client
						SetDeletedAt(time.Time)
						WhereP(...func(*sql.Selector))
					})
					if !ok {
						return nil, fmt.Errorf("soft delete: unexpected mutation type %T", m)
					}
					// Deleting an already deleted row is a no-op, as for a
					// missing row.
					d.p(mx)
					mx.SetOp(ent.OpUpdate)
					mx.SetDeletedAt(time.Now())
					return mx.Client().Mutate(ctx, m)
				})
			},
			ent.OpDeleteOne|ent.OpDelete,
		),
	}
}

// p restricts a query or mutation to rows that are not soft-deleted.
func (d SoftDeleteMixin) p(w interface{ WhereP(...func(*sql.Selector)) }) {
	w.WhereP(sql.FieldIsNull("deleted_at"))
}
