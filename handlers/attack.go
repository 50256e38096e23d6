package handlers

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/testtemplate"
	"violet/internal/attackid"
	"violet/internal/auth"
	attackviews "violet/views/attack"
)

// usedByLimit is how many templates or mission tests an entry's page
// lists; the counts above the lists are complete.
const usedByLimit = 100

// showAttackMatrix renders the matrix: tactics in matrix order, each with
// its techniques by name and their sub-techniques, filtered by platform and
// without revoked or deprecated entries unless ?retired=1. It takes three
// queries whatever the size of the catalogue. htmx requests get only the
// matrix.
func (s *Server) showAttackMatrix(c echo.Context) error {
	ctx := c.Request().Context()
	f := attackviews.MatrixFilter{
		Platform: strings.TrimSpace(c.QueryParam("platform")),
		Retired:  c.QueryParam("retired") == "1",
	}
	m, err := s.attackMatrix(ctx, f)
	if err != nil {
		return err
	}
	m.CanSync = auth.FromContext(ctx).Can(auth.AttackSync)
	lp := s.layoutProps(c, "attack.title", "nav.attack")
	return s.render(c, http.StatusOK, attackviews.MatrixPage(lp, m), attackviews.MatrixView(m))
}

// attackMatrix loads the matrix for f: the tactics with their techniques
// (one query for the tactics, one for the techniques through the join
// table) and the sub-techniques (one query), then filters and sorts in
// memory. A platform that no shown entry has is dropped from the filter.
func (s *Server) attackMatrix(ctx context.Context, f attackviews.MatrixFilter) (attackviews.Matrix, error) {
	m := attackviews.Matrix{Filter: f}
	tactics, err := s.Ent.MitreTactic.Query().
		Select(mitretactic.FieldExternalID, mitretactic.FieldName, mitretactic.FieldRevoked, mitretactic.FieldDeprecated).
		Order(mitretactic.ByPosition(), mitretactic.ByExternalID()).
		WithTechniques(func(q *ent.MitreTechniqueQuery) {
			q.Select(mitretechnique.FieldExternalID, mitretechnique.FieldName, mitretechnique.FieldPlatforms,
				mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated)
			if !f.Retired {
				q.Where(mitretechnique.Revoked(false), mitretechnique.Deprecated(false))
			}
		}).
		All(ctx)
	if err != nil {
		return m, fmt.Errorf("load the matrix: %w", err)
	}
	if len(tactics) == 0 {
		m.Empty = true
		return m, nil
	}
	sq := s.Ent.MitreSubtechnique.Query().
		Select(mitresubtechnique.FieldTechniqueID, mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName,
			mitresubtechnique.FieldPlatforms, mitresubtechnique.FieldRevoked, mitresubtechnique.FieldDeprecated).
		Order(mitresubtechnique.ByExternalID())
	if !f.Retired {
		sq.Where(mitresubtechnique.Revoked(false), mitresubtechnique.Deprecated(false))
	}
	subs, err := sq.All(ctx)
	if err != nil {
		return m, fmt.Errorf("load the sub-techniques: %w", err)
	}

	platforms := map[string]bool{}
	subsOf := map[uuid.UUID][]*ent.MitreSubtechnique{}
	for _, st := range subs {
		subsOf[st.TechniqueID] = append(subsOf[st.TechniqueID], st)
		for _, p := range st.Platforms {
			platforms[p] = true
		}
	}
	for _, ta := range tactics {
		for _, t := range ta.Edges.Techniques {
			for _, p := range t.Platforms {
				platforms[p] = true
			}
		}
	}
	m.Platforms = sortedKeys(platforms)
	if !platforms[f.Platform] {
		m.Filter.Platform = ""
	}
	platform := m.Filter.Platform

	shownTechniques, shownSubs := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	for _, ta := range tactics {
		if !f.Retired && (ta.Revoked || ta.Deprecated) {
			continue
		}
		col := attackviews.MatrixColumn{Tactic: attackviews.Entry{
			Kind: attackviews.KindTactic, ExternalID: ta.ExternalID, Name: ta.Name,
			Revoked: ta.Revoked, Deprecated: ta.Deprecated,
		}}
		for _, t := range ta.Edges.Techniques {
			mt := attackviews.MatrixTechnique{Entry: attackviews.Entry{
				Kind: attackviews.KindTechnique, ExternalID: t.ExternalID, Name: t.Name,
				Revoked: t.Revoked, Deprecated: t.Deprecated,
			}}
			for _, st := range subsOf[t.ID] {
				if platform != "" && !slices.Contains(st.Platforms, platform) {
					continue
				}
				mt.Subtechniques = append(mt.Subtechniques, attackviews.Entry{
					Kind: attackviews.KindSubtechnique, ExternalID: st.ExternalID, Name: st.Name,
					Revoked: st.Revoked, Deprecated: st.Deprecated,
				})
				shownSubs[st.ID] = true
			}
			// A technique shows when it or one of its sub-techniques runs
			// on the platform.
			if platform != "" && !slices.Contains(t.Platforms, platform) && len(mt.Subtechniques) == 0 {
				continue
			}
			shownTechniques[t.ID] = true
			col.Techniques = append(col.Techniques, mt)
		}
		slices.SortFunc(col.Techniques, func(a, b attackviews.MatrixTechnique) int {
			return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ExternalID, b.ExternalID))
		})
		m.Columns = append(m.Columns, col)
	}
	m.TechniqueCount, m.SubtechniqueCount = len(shownTechniques), len(shownSubs)
	return m, nil
}

// sortedKeys returns the keys of set that are not empty, sorted without
// regard to case.
func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		if k != "" {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a), strings.ToLower(b)), cmp.Compare(a, b))
	})
	return out
}

// attackQuery reads a search box: trimmed, at most 100 characters.
func attackQuery(q string) string {
	q = strings.TrimSpace(q)
	if utf8.RuneCountInString(q) > 100 {
		q = string([]rune(q)[:100])
	}
	return q
}

// searchAttack finds tactics, techniques and sub-techniques by ATT&CK ID
// prefix or by name, retired ones included and marked. htmx requests (the
// search box as you type) get only the results; the same URL without htmx
// is the search page.
func (s *Server) searchAttack(c echo.Context) error {
	ctx := c.Request().Context()
	res := attackviews.Search{Query: attackQuery(c.QueryParam("q"))}
	if res.Query != "" {
		hits, more, err := s.findAttack(ctx, res.Query, attackSearch{limit: attackviews.SearchLimit})
		if err != nil {
			return err
		}
		res.Results, res.More = hits, more
	}
	lp := s.layoutProps(c, "attack.search.title", "nav.attack")
	return s.render(c, http.StatusOK, attackviews.SearchPage(lp, res), attackviews.SearchResults(res))
}

// searchAttackPicker answers a picker's search with rows to tick: active
// entries only (pickers never offer revoked or deprecated ones), leaving
// out those the picker already holds, which it sends under its field name.
// It only ever returns the rows: the picker is part of another page.
func (s *Server) searchAttackPicker(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.QueryParam("name")
	if !attackviews.ValidPickerName(name) {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid picker name")
	}
	picked, err := attackviews.ParsePicked(c.QueryParams()[name])
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
	}
	r := attackviews.PickerResult{Name: name, Query: attackQuery(c.QueryParam("q"))}
	if r.Query != "" {
		opts := attackSearch{limit: attackviews.PickerLimit, activeOnly: true}
		for _, p := range picked {
			opts.exclude = append(opts.exclude, p.ID)
		}
		if r.Hits, r.More, err = s.findAttack(ctx, r.Query, opts); err != nil {
			return err
		}
	}
	return s.render(c, http.StatusOK, attackviews.PickerResults(r), nil)
}

// attackSearch tunes findAttack.
type attackSearch struct {
	limit      int
	activeOnly bool        // leave out revoked and deprecated entries
	exclude    []uuid.UUID // rows to leave out
}

// attackHit is a search result with what it sorts by.
type attackHit struct {
	attackviews.Hit
	rank int    // 0 exact ID, 1 ID prefix, 2 name
	key  string // the ID for ID matches, the lower-case name for name matches
}

func compareHits(a, b attackHit) int {
	return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.key, b.key), cmp.Compare(a.ExternalID, b.ExternalID),
		compareBool(a.Retired(), b.Retired()), cmp.Compare(a.ID, b.ID))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// likeEscape escapes LIKE's wildcards and escape character.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// findAttack searches the three kinds of entry for q: an ATT&CK ID prefix
// (case-insensitive: "t1059" finds T1059 and its sub-techniques) or part of
// the name. Results come exact ID first, then ID prefix in ID order, then
// name matches by name; more reports that more than opts.limit matched.
// Each kind is one query that orders and limits in the database the same
// way the merge below does, so the merged first results are the true ones;
// sub-techniques bring their parent's name with one more.
func (s *Server) findAttack(ctx context.Context, q string, opts attackSearch) ([]attackviews.Hit, bool, error) {
	id := strings.ToUpper(q)
	prefix := likeEscape(id) + "%"
	where := func(sel *sql.Selector) {
		sel.Where(sql.Or(sql.HasPrefix(sel.C("external_id"), id), sql.ContainsFold(sel.C("name"), q)))
		if opts.activeOnly {
			sel.Where(sql.And(sql.EQ(sel.C("revoked"), false), sql.EQ(sel.C("deprecated"), false)))
		}
		if len(opts.exclude) > 0 {
			ids := make([]any, len(opts.exclude))
			for i, u := range opts.exclude {
				ids[i] = u
			}
			sel.Where(sql.NotIn(sel.C("id"), ids...))
		}
	}
	order := func(sel *sql.Selector) {
		ext, name := sel.C("external_id"), sel.C("name")
		// ExprFunc, not OrderExprFunc: the latter drops the arguments.
		sel.OrderExpr(sql.ExprFunc(func(b *sql.Builder) {
			b.WriteString("CASE WHEN " + ext + " = ").Arg(id).
				WriteString(" THEN 0 WHEN " + ext + " LIKE ").Arg(prefix).
				WriteString(" THEN 1 ELSE 2 END, (CASE WHEN " + ext + " LIKE ").Arg(prefix).
				WriteString(" THEN " + ext + " ELSE lower(" + name + `) END) COLLATE "C", ` + ext + ` COLLATE "C", (` +
					sel.C("revoked") + " OR " + sel.C("deprecated") + "), " + sel.C("id"))
		}))
	}
	limit := opts.limit + 1

	var hits []attackHit
	add := func(kind string, rowID uuid.UUID, ext, name, parent string, revoked, deprecated bool) {
		h := attackHit{Hit: attackviews.Hit{
			Entry: attackviews.Entry{Kind: kind, ExternalID: ext, Name: name, Revoked: revoked, Deprecated: deprecated},
			ID:    rowID.String(), Parent: parent,
		}, rank: 2, key: strings.ToLower(name)}
		if strings.HasPrefix(ext, id) {
			h.rank, h.key = 1, ext
			if ext == id {
				h.rank = 0
			}
		}
		hits = append(hits, h)
	}

	tactics, err := s.Ent.MitreTactic.Query().Where(where).Order(order).Limit(limit).
		Select(mitretactic.FieldExternalID, mitretactic.FieldName, mitretactic.FieldRevoked, mitretactic.FieldDeprecated).
		All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("search tactics: %w", err)
	}
	for _, t := range tactics {
		add(attackviews.KindTactic, t.ID, t.ExternalID, t.Name, "", t.Revoked, t.Deprecated)
	}
	techniques, err := s.Ent.MitreTechnique.Query().Where(where).Order(order).Limit(limit).
		Select(mitretechnique.FieldExternalID, mitretechnique.FieldName, mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated).
		All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("search techniques: %w", err)
	}
	for _, t := range techniques {
		add(attackviews.KindTechnique, t.ID, t.ExternalID, t.Name, "", t.Revoked, t.Deprecated)
	}
	subs, err := s.Ent.MitreSubtechnique.Query().Where(where).Order(order).Limit(limit).
		Select(mitresubtechnique.FieldTechniqueID, mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName,
			mitresubtechnique.FieldRevoked, mitresubtechnique.FieldDeprecated).
		WithTechnique(func(q *ent.MitreTechniqueQuery) { q.Select(mitretechnique.FieldName) }).
		All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("search sub-techniques: %w", err)
	}
	for _, st := range subs {
		parent := ""
		if st.Edges.Technique != nil {
			parent = st.Edges.Technique.Name
		}
		add(attackviews.KindSubtechnique, st.ID, st.ExternalID, st.Name, parent, st.Revoked, st.Deprecated)
	}

	slices.SortFunc(hits, compareHits)
	more := len(hits) > opts.limit
	if more {
		hits = hits[:opts.limit]
	}
	out := make([]attackviews.Hit, len(hits))
	for i, h := range hits {
		out[i] = h.Hit
	}
	return out, more, nil
}

// showAttackEntry renders one tactic, technique or sub-technique by its
// ATT&CK ID (any case). When several rows share the ID (an entry retired
// and re-issued) the active one wins. Unknown IDs are 404.
func (s *Server) showAttackEntry(c echo.Context) error {
	ctx := c.Request().Context()
	id := strings.ToUpper(c.Param("external_id"))
	var (
		d   attackviews.Detail
		err error
	)
	switch {
	case attackid.IsTactic(id):
		d, err = s.attackTactic(ctx, id)
	case attackid.IsTechnique(id):
		d, err = s.attackTechnique(ctx, id)
	case attackid.IsSubtechnique(id):
		d, err = s.attackSubtechnique(ctx, id)
	default:
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := s.attackMissionTests(ctx, &d); err != nil {
		return err
	}
	lp := s.layoutProps(c, "attack.title", "nav.attack")
	lp.Title = d.ExternalID + " " + d.Name
	return s.render(c, http.StatusOK, attackviews.DetailPage(lp, d), nil)
}

// attackTactic loads a tactic's page: its techniques by name.
func (s *Server) attackTactic(ctx context.Context, id string) (attackviews.Detail, error) {
	t, err := s.Ent.MitreTactic.Query().Where(mitretactic.ExternalID(id)).
		Order(mitretactic.ByRevoked(), mitretactic.ByDeprecated(),
			mitretactic.ByStixModified(sql.OrderDesc(), sql.OrderNullsLast()), mitretactic.ByCreatedAt(sql.OrderDesc())).
		WithTechniques(func(q *ent.MitreTechniqueQuery) {
			q.Select(mitretechnique.FieldExternalID, mitretechnique.FieldName, mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated)
		}).
		First(ctx)
	if err != nil {
		return attackviews.Detail{}, fmt.Errorf("find tactic %s: %w", id, err)
	}
	d := attackviews.Detail{
		Entry: attackviews.Entry{Kind: attackviews.KindTactic, ExternalID: t.ExternalID, Name: t.Name,
			Revoked: t.Revoked, Deprecated: t.Deprecated},
		Description: t.Description, URL: t.URL, Version: t.AttackVersion, Modified: t.StixModified,
	}
	for _, x := range t.Edges.Techniques {
		d.Children = append(d.Children, attackviews.Entry{Kind: attackviews.KindTechnique, ExternalID: x.ExternalID,
			Name: x.Name, Revoked: x.Revoked, Deprecated: x.Deprecated})
	}
	sortEntries(d.Children, true)
	return d, s.attackTemplates(ctx, &d, s.Ent.MitreTactic.QueryTemplateTags(t).QueryTestTemplate())
}

// attackTechnique loads a technique's page: its tactics in matrix order,
// its sub-techniques and, when revoked, its replacement.
func (s *Server) attackTechnique(ctx context.Context, id string) (attackviews.Detail, error) {
	t, err := s.Ent.MitreTechnique.Query().Where(mitretechnique.ExternalID(id)).
		Order(mitretechnique.ByRevoked(), mitretechnique.ByDeprecated(),
			mitretechnique.ByStixModified(sql.OrderDesc(), sql.OrderNullsLast()), mitretechnique.ByCreatedAt(sql.OrderDesc())).
		WithTactics(func(q *ent.MitreTacticQuery) { q.Order(mitretactic.ByPosition()) }).
		WithSubtechniques(func(q *ent.MitreSubtechniqueQuery) {
			q.Select(mitresubtechnique.FieldTechniqueID, mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName,
				mitresubtechnique.FieldRevoked, mitresubtechnique.FieldDeprecated)
		}).
		First(ctx)
	if err != nil {
		return attackviews.Detail{}, fmt.Errorf("find technique %s: %w", id, err)
	}
	d := attackviews.Detail{
		Entry: attackviews.Entry{Kind: attackviews.KindTechnique, ExternalID: t.ExternalID, Name: t.Name,
			Revoked: t.Revoked, Deprecated: t.Deprecated},
		Description: t.Description, URL: t.URL, Platforms: t.Platforms, Version: t.AttackVersion, Modified: t.StixModified,
		Tactics: tacticEntries(t.Edges.Tactics),
	}
	for _, st := range t.Edges.Subtechniques {
		d.Children = append(d.Children, attackviews.Entry{Kind: attackviews.KindSubtechnique, ExternalID: st.ExternalID,
			Name: st.Name, Revoked: st.Revoked, Deprecated: st.Deprecated})
	}
	sortEntries(d.Children, false)
	if t.Revoked {
		if d.ReplacedBy, err = s.attackReplacement(ctx, t.RevokedByStixID); err != nil {
			return d, err
		}
	}
	return d, s.attackTemplates(ctx, &d, s.Ent.MitreTechnique.QueryTemplateTags(t).QueryTestTemplate())
}

// attackSubtechnique loads a sub-technique's page: its parent and the
// parent's tactics, and when revoked its replacement.
func (s *Server) attackSubtechnique(ctx context.Context, id string) (attackviews.Detail, error) {
	st, err := s.Ent.MitreSubtechnique.Query().Where(mitresubtechnique.ExternalID(id)).
		Order(mitresubtechnique.ByRevoked(), mitresubtechnique.ByDeprecated(),
			mitresubtechnique.ByStixModified(sql.OrderDesc(), sql.OrderNullsLast()), mitresubtechnique.ByCreatedAt(sql.OrderDesc())).
		WithTechnique(func(q *ent.MitreTechniqueQuery) {
			q.Select(mitretechnique.FieldExternalID, mitretechnique.FieldName, mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated).
				WithTactics(func(q *ent.MitreTacticQuery) { q.Order(mitretactic.ByPosition()) })
		}).
		First(ctx)
	if err != nil {
		return attackviews.Detail{}, fmt.Errorf("find sub-technique %s: %w", id, err)
	}
	d := attackviews.Detail{
		Entry: attackviews.Entry{Kind: attackviews.KindSubtechnique, ExternalID: st.ExternalID, Name: st.Name,
			Revoked: st.Revoked, Deprecated: st.Deprecated},
		Description: st.Description, URL: st.URL, Platforms: st.Platforms, Version: st.AttackVersion, Modified: st.StixModified,
	}
	if p := st.Edges.Technique; p != nil {
		d.Parent = &attackviews.Entry{Kind: attackviews.KindTechnique, ExternalID: p.ExternalID, Name: p.Name,
			Revoked: p.Revoked, Deprecated: p.Deprecated}
		d.Tactics = tacticEntries(p.Edges.Tactics)
	}
	if st.Revoked {
		if d.ReplacedBy, err = s.attackReplacement(ctx, st.RevokedByStixID); err != nil {
			return d, err
		}
	}
	return d, s.attackTemplates(ctx, &d, s.Ent.MitreSubtechnique.QueryTemplateTags(st).QueryTestTemplate())
}

// attackReplacement finds the entry a revoked-by relationship names: a
// technique or a sub-technique (MITRE turns techniques into sub-techniques
// and back). nil when the bundle named none or an entry Violet lacks.
func (s *Server) attackReplacement(ctx context.Context, stixID string) (*attackviews.Entry, error) {
	if stixID == "" {
		return nil, nil
	}
	t, err := s.Ent.MitreTechnique.Query().Where(mitretechnique.StixID(stixID)).
		Select(mitretechnique.FieldExternalID, mitretechnique.FieldName, mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated).
		Only(ctx)
	switch {
	case err == nil:
		return &attackviews.Entry{Kind: attackviews.KindTechnique, ExternalID: t.ExternalID, Name: t.Name,
			Revoked: t.Revoked, Deprecated: t.Deprecated}, nil
	case !ent.IsNotFound(err):
		return nil, fmt.Errorf("find the replacement %s: %w", stixID, err)
	}
	st, err := s.Ent.MitreSubtechnique.Query().Where(mitresubtechnique.StixID(stixID)).
		Select(mitresubtechnique.FieldTechniqueID, mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName,
			mitresubtechnique.FieldRevoked, mitresubtechnique.FieldDeprecated).
		Only(ctx)
	switch {
	case err == nil:
		return &attackviews.Entry{Kind: attackviews.KindSubtechnique, ExternalID: st.ExternalID, Name: st.Name,
			Revoked: st.Revoked, Deprecated: st.Deprecated}, nil
	case ent.IsNotFound(err):
		return nil, nil
	}
	return nil, fmt.Errorf("find the replacement %s: %w", stixID, err)
}

// attackTemplates counts and lists (the first usedByLimit, by name) the
// test templates q selects: those tagged with an entry, deleted ones left
// out by the soft-delete interceptor. Viewers without template.read are not
// shown the library.
func (s *Server) attackTemplates(ctx context.Context, d *attackviews.Detail, q *ent.TestTemplateQuery) error {
	if !auth.FromContext(ctx).Can(auth.TemplateRead) {
		return nil
	}
	d.ShowTemplates = true
	n, err := q.Clone().Count(ctx)
	if err != nil {
		return fmt.Errorf("count tagged templates: %w", err)
	}
	d.TemplateCount = n
	if n == 0 {
		return nil
	}
	templates, err := q.Order(testtemplate.ByName(), testtemplate.ByID()).Limit(usedByLimit).
		Select(testtemplate.FieldName).All(ctx)
	if err != nil {
		return fmt.Errorf("list tagged templates: %w", err)
	}
	for _, t := range templates {
		d.Templates = append(d.Templates, attackviews.TemplateUse{ID: t.ID.String(), Name: t.Name})
	}
	return nil
}

// attackMissionTests lists the mission tests whose (copied) tags name the
// entry's ATT&CK ID, in missions the viewer may read: every mission with
// mission.read_all, else the missions the viewer is a member of with
// mission.read. Deleted tests and tests of deleted missions are left out.
func (s *Server) attackMissionTests(ctx context.Context, d *attackviews.Detail) error {
	v := auth.FromContext(ctx)
	if !v.Can(auth.MissionReadAll) && !v.Can(auth.MissionRead) {
		return nil
	}
	d.ShowMissionTests = true
	visible := []predicate.Mission{mission.DeletedAtIsNil()}
	if !v.Can(auth.MissionReadAll) {
		visible = append(visible, mission.HasMembersWith(missionmember.UserID(v.UserID)))
	}
	q := s.Ent.MissionTest.Query().Where(
		missiontest.HasMitreTagsWith(missiontestmitretag.ExternalID(d.ExternalID)),
		missiontest.HasMissionWith(visible...),
	)
	n, err := q.Clone().Count(ctx)
	if err != nil {
		return fmt.Errorf("count tagged mission tests: %w", err)
	}
	d.MissionTestCount = n
	if n == 0 {
		return nil
	}
	tests, err := q.
		WithMission(func(q *ent.MissionQuery) { q.Select(mission.FieldName) }).
		Order(missiontest.ByName(), missiontest.ByID()).
		Limit(usedByLimit).
		Select(missiontest.FieldMissionID, missiontest.FieldName).
		All(ctx)
	if err != nil {
		return fmt.Errorf("list tagged mission tests: %w", err)
	}
	for _, t := range tests {
		u := attackviews.MissionTestUse{ID: t.ID.String(), Name: t.Name, MissionID: t.MissionID.String()}
		if t.Edges.Mission != nil {
			u.MissionName = t.Edges.Mission.Name
		}
		d.MissionTests = append(d.MissionTests, u)
	}
	return nil
}

// tacticEntries turns loaded tactics into entries, keeping their order.
func tacticEntries(tactics []*ent.MitreTactic) []attackviews.Entry {
	out := make([]attackviews.Entry, len(tactics))
	for i, t := range tactics {
		out[i] = attackviews.Entry{Kind: attackviews.KindTactic, ExternalID: t.ExternalID, Name: t.Name,
			Revoked: t.Revoked, Deprecated: t.Deprecated}
	}
	return out
}

// sortEntries puts active entries first, then orders by name or by ATT&CK
// ID.
func sortEntries(es []attackviews.Entry, byName bool) {
	slices.SortFunc(es, func(a, b attackviews.Entry) int {
		by := cmp.Compare(a.ExternalID, b.ExternalID)
		if byName {
			by = cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), by)
		}
		return cmp.Or(compareBool(a.Retired(), b.Retired()), by)
	})
}
