// Package trash is the read model of the trash: every soft-deleted item
// the viewer may restore (missions, test and scenario templates,
// defensive tools, users), searched, filtered by kind and paged.
// Restoring goes through each kind's own restore route and workflow,
// which checks again.
package trash

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"violet/internal/app"
	"violet/internal/auth"
	"violet/views/admin"
)

// items lists every soft-deleted item the trash can restore, one branch
// per kind, in one statement so that the page costs the same number of
// queries whatever it holds. It reads past ent's soft delete and privacy,
// which is why only List, behind trash.manage, uses it and why it narrows
// by itself what the restore routes would refuse: missions the viewer is
// not a member of without mission.read_all ($2, $3), users without
// user.manage ($4). $1 is the ILIKE pattern of the search.
const items = `
SELECT 'mission' AS kind, id, name::text AS name, '' AS detail, deleted_at FROM missions
 WHERE deleted_at IS NOT NULL AND name ILIKE $1
   AND ($2 OR id IN (SELECT mission_id FROM mission_members WHERE user_id = $3))
UNION ALL
SELECT 'test', id, name::text, '', deleted_at FROM test_templates
 WHERE deleted_at IS NOT NULL AND name ILIKE $1
UNION ALL
SELECT 'scenario', id, name::text, '', deleted_at FROM scenario_templates
 WHERE deleted_at IS NOT NULL AND name ILIKE $1
UNION ALL
SELECT 'tool', id, name::text, vendor::text, deleted_at FROM defensive_tools
 WHERE deleted_at IS NOT NULL AND name ILIKE $1
UNION ALL
SELECT 'user', id, display_name::text, email::text, deleted_at FROM users
 WHERE $4 AND deleted_at IS NOT NULL AND (display_name ILIKE $1 OR email ILIKE $1)`

// countsQuery counts the matching items per kind (the type filter aside,
// so the counts say what each kind would show).
const countsQuery = `SELECT kind, count(*) FROM (` + items + `) t GROUP BY kind`

// rowsQuery reads one page of the matching items, newest deletion first;
// $5 is the kind, "" for any.
const rowsQuery = `SELECT kind, id, name, detail, deleted_at FROM (` + items + `) t
 WHERE ($5 = '' OR kind = $5)
 ORDER BY deleted_at DESC, kind, id
 LIMIT $6 OFFSET $7`

// Types are the kinds v may restore: users need user.manage (their
// restore route does); the others need only trash.manage.
func Types(v *auth.Viewer) []string {
	var types []string
	for _, t := range admin.TrashTypes() {
		if t != admin.TrashUser || v.Can(auth.UserManage) {
			types = append(types, t)
		}
	}
	return types
}

// Query is the trash's query string as typed. Unknown values fall back to
// the defaults rather than failing: the URL is often typed or shared.
type Query struct {
	Q    string // part of a name (or a user's email)
	Type string // one of admin.TrashTypes(), anything else for any
	Page int    // from 1; anything below is 1
}

// filter normalises q for the kinds the viewer may see.
func filter(q Query, types []string) admin.TrashFilter {
	f := admin.TrashFilter{Q: strings.TrimSpace(q.Q), Type: q.Type, Page: max(q.Page, 1)}
	for len(f.Q) > 300 { // no name is longer; cut whole characters
		_, size := utf8.DecodeLastRuneInString(f.Q)
		f.Q = f.Q[:len(f.Q)-size]
	}
	if !slices.Contains(types, f.Type) {
		f.Type = ""
	}
	return f
}

// likePattern is the ILIKE pattern finding q anywhere, its wildcards
// escaped so that "50%" searches for "50%".
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

// List reads the trash as the viewer of ctx may see it: every
// soft-deleted item it may restore, newest deletion first, in two queries
// (counts, then one page). db is read directly, past ent's soft delete and
// privacy (see items); a viewer without trash.manage is refused.
func List(ctx context.Context, db *sql.DB, q Query) (admin.TrashList, error) {
	v := auth.FromContext(ctx)
	if !v.Can(auth.TrashManage) {
		return admin.TrashList{}, fmt.Errorf("%w: the trash needs trash.manage", app.ErrForbidden)
	}
	types := Types(v)
	f := filter(q, types)
	args := []any{likePattern(f.Q), v.Can(auth.MissionReadAll), v.UserID, v.Can(auth.UserManage)}

	counts, err := count(ctx, db, args)
	if err != nil {
		return admin.TrashList{}, err
	}
	l := admin.TrashList{Filter: f, Types: types}
	for _, t := range types {
		l.Counts = append(l.Counts, admin.TrashCount{Type: t, Count: counts[t]})
		if f.Type == "" || f.Type == t {
			l.Total += counts[t]
		}
	}
	l.Pages = max(1, (l.Total+admin.TrashPageSize-1)/admin.TrashPageSize)
	l.Filter.Page = min(f.Page, l.Pages)
	if l.Total == 0 {
		return l, nil
	}
	page, err := db.QueryContext(ctx, rowsQuery, append(args, f.Type,
		admin.TrashPageSize, (l.Filter.Page-1)*admin.TrashPageSize)...)
	if err != nil {
		return l, fmt.Errorf("list trash: %w", err)
	}
	defer page.Close()
	for page.Next() {
		var r admin.TrashRow
		if err := page.Scan(&r.Type, &r.ID, &r.Name, &r.Detail, &r.DeletedAt); err != nil {
			return l, fmt.Errorf("list trash: %w", err)
		}
		l.Rows = append(l.Rows, r)
	}
	if err := page.Err(); err != nil {
		return l, fmt.Errorf("list trash: %w", err)
	}
	return l, nil
}

// count reads the number of matching items per kind.
func count(ctx context.Context, db *sql.DB, args []any) (map[string]int, error) {
	counts := map[string]int{}
	rows, err := db.QueryContext(ctx, countsQuery, args...)
	if err != nil {
		return nil, fmt.Errorf("count trash: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, fmt.Errorf("count trash: %w", err)
		}
		counts[kind] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count trash: %w", err)
	}
	return counts, nil
}
