package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/views/admin"
)

// trashItems lists every soft-deleted item the trash can restore, one
// branch per kind, in one statement so that the page costs the same number
// of queries whatever it holds. It reads past ent's soft delete and
// privacy, which is why only listTrash, behind trash.manage, uses it and
// why it narrows by itself what the restore routes would refuse: missions
// the viewer is not a member of without mission.read_all ($2, $3), users
// without user.manage ($4). $1 is the ILIKE pattern of the search.
const trashItems = `
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
SELECT 'user', id, display_name::text, email::text, deleted_at FROM users
 WHERE $4 AND deleted_at IS NOT NULL AND (display_name ILIKE $1 OR email ILIKE $1)`

// trashCountsQuery counts the matching items per kind (the type filter
// aside, so the counts say what each kind would show).
const trashCountsQuery = `SELECT kind, count(*) FROM (` + trashItems + `) t GROUP BY kind`

// trashRowsQuery reads one page of the matching items, newest deletion
// first; $5 is the kind, "" for any.
const trashRowsQuery = `SELECT kind, id, name, detail, deleted_at FROM (` + trashItems + `) t
 WHERE ($5 = '' OR kind = $5)
 ORDER BY deleted_at DESC, kind, id
 LIMIT $6 OFFSET $7`

// trashTypes are the kinds v may restore: users need user.manage (their
// restore route does); the others need only trash.manage.
func trashTypes(v *auth.Viewer) []string {
	var types []string
	for _, t := range admin.TrashTypes() {
		if t != admin.TrashUser || v.Can(auth.UserManage) {
			types = append(types, t)
		}
	}
	return types
}

// trashFilter reads the trash's query string. Unknown values fall back to
// the defaults rather than failing: the URL is often typed or shared.
func trashFilter(c echo.Context, types []string) admin.TrashFilter {
	f := admin.TrashFilter{
		Q:    strings.TrimSpace(c.QueryParam("q")),
		Type: c.QueryParam("type"),
		Page: 1,
	}
	for len(f.Q) > 300 { // no name is longer; cut whole characters
		_, size := utf8.DecodeLastRuneInString(f.Q)
		f.Q = f.Q[:len(f.Q)-size]
	}
	if !slices.Contains(types, f.Type) {
		f.Type = ""
	}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		f.Page = p
	}
	return f
}

// likePattern is the ILIKE pattern finding q anywhere, its wildcards
// escaped so that "50%" searches for "50%".
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

// listTrash renders the trash: every soft-deleted item the viewer may
// restore, newest deletion first, in two queries (counts, then one page).
// The Restore buttons post to each kind's own restore route, which checks
// again and redirects to the restored item. htmx requests get only the
// results.
func (s *Server) listTrash(c echo.Context) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	types := trashTypes(v)
	f := trashFilter(c, types)
	args := []any{likePattern(f.Q), v.Can(auth.MissionReadAll), v.UserID, v.Can(auth.UserManage)}

	counts := map[string]int{}
	rows, err := s.DB.QueryContext(ctx, trashCountsQuery, args...)
	if err != nil {
		return fmt.Errorf("count trash: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return fmt.Errorf("count trash: %w", err)
		}
		counts[kind] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count trash: %w", err)
	}
	rows.Close()

	l := admin.TrashList{Filter: f, Types: types}
	for _, t := range types {
		l.Counts = append(l.Counts, admin.TrashCount{Type: t, Count: counts[t]})
		if f.Type == "" || f.Type == t {
			l.Total += counts[t]
		}
	}
	l.Pages = max(1, (l.Total+admin.TrashPageSize-1)/admin.TrashPageSize)
	l.Filter.Page = min(f.Page, l.Pages)

	if l.Total > 0 {
		page, err := s.DB.QueryContext(ctx, trashRowsQuery, append(args, f.Type,
			admin.TrashPageSize, (l.Filter.Page-1)*admin.TrashPageSize)...)
		if err != nil {
			return fmt.Errorf("list trash: %w", err)
		}
		defer page.Close()
		for page.Next() {
			var r admin.TrashRow
			if err := page.Scan(&r.Type, &r.ID, &r.Name, &r.Detail, &r.DeletedAt); err != nil {
				return fmt.Errorf("list trash: %w", err)
			}
			l.Rows = append(l.Rows, r)
		}
		if err := page.Err(); err != nil {
			return fmt.Errorf("list trash: %w", err)
		}
	}

	lp := s.layoutProps(c, "trash.title", "nav.admin")
	return s.render(c, http.StatusOK, admin.TrashPage(lp, adminTabs(v, "/admin/trash"), l), admin.TrashResults(l))
}
