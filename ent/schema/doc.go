// Package schema is Violet's data model: one file per entity and the
// mixins they share.
//
// Soft delete. Entities with SoftDeleteMixin are never removed by a delete:
// the mixin's hook turns every delete into an update setting deleted_at,
// and its traversal interceptor adds "deleted_at IS NULL" to every query,
// edge traversal and eager load, so deleted rows vanish from lists, pages,
// prints, exports and downloads while staying in the table. Each such table
// has a partial index ix_<table>_active WHERE deleted_at IS NULL for those
// queries, and uniqueness that must allow reuse after a delete is a partial
// unique index (uq_users_email_active), never field.Unique(). The admin
// trash and hard deletes run under SkipSoftDelete(ctx), which switches both
// the hook and the interceptor off. An upsert against a partial index needs
// sql.ConflictWhere(sql.IsNull("deleted_at")).
//
// Privacy. Users, groups, permissions and invitations carry ent privacy
// policies (package internal/auth/rule) that start by refusing a context
// without a viewer and end in deny. Violet's own work runs under
// rule.SystemContext.
//
// Naming. Constraints and indexes carry fk_, ck_, uq_ and ix_ prefixes;
// foreign keys are explicit <thing>_id fields bound to their edges.
package schema
