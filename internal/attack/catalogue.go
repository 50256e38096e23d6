package attack

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

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
	"violet/ent/testtemplatemitretag"
	"violet/internal/app"
	"violet/internal/attackid"
	"violet/internal/auth"
	attackviews "violet/views/attack"
)

// Catalogue is the read model of the ATT&CK pages: the matrix, the
// search, the pickers' search and each entry's page, as the viewer in the
// context may see them.
type Catalogue struct{ client *ent.Client }

// NewCatalogue returns the catalogue's read model over client.
func NewCatalogue(client *ent.Client) *Catalogue { return &Catalogue{client: client} }

// Matrix is the matrix: tactics in matrix order, each with its techniques
// by name and their sub-techniques, filtered by platform and without
// revoked or deprecated entries unless f.Retired, and the overlay f
// names (see overlay). It takes three queries whatever the size of the
// catalogue, and one or two more with an overlay.
func (c *Catalogue) Matrix(ctx context.Context, f attackviews.MatrixFilter) (attackviews.Matrix, error) {
	f.Platform = strings.TrimSpace(f.Platform)
	m, ids, err := c.matrix(ctx, f)
	m.CanSync = auth.FromContext(ctx).Can(auth.AttackSync)
	if err != nil || m.Empty {
		return m, err
	}
	return m, c.overlay(ctx, &m, ids)
}

// Search finds tactics, techniques and sub-techniques by ATT&CK ID prefix
// or by name for the search box's q, retired ones included and marked.
func (c *Catalogue) Search(ctx context.Context, q string) (attackviews.Search, error) {
	res := attackviews.Search{Query: searchQuery(q)}
	if res.Query == "" {
		return res, nil
	}
	var err error
	res.Results, res.More, err = c.find(ctx, res.Query, findOptions{limit: attackviews.SearchLimit})
	return res, err
}

// Pick answers the search of the picker called name with rows to tick:
// active entries only (pickers never offer revoked or deprecated ones),
// leaving out those the picker already holds.
func (c *Catalogue) Pick(ctx context.Context, name, q string, picked []attackviews.PickedRef) (attackviews.PickerResult, error) {
	r := attackviews.PickerResult{Name: name, Query: searchQuery(q)}
	if r.Query == "" {
		return r, nil
	}
	opts := findOptions{limit: attackviews.PickerLimit, activeOnly: true}
	for _, p := range picked {
		opts.exclude = append(opts.exclude, p.ID)
	}
	var err error
	r.Hits, r.More, err = c.find(ctx, r.Query, opts)
	return r, err
}

// Detail is the page of one tactic, technique or sub-technique by its
// ATT&CK ID (any case), with the templates and mission tests tagged with
// it that the viewer may see. When several rows share the ID (an entry
// retired and re-issued) the active one wins. An ID of no known shape is
// app.ErrNotFound, an unknown one ent's not found.
func (c *Catalogue) Detail(ctx context.Context, externalID string) (attackviews.Detail, error) {
	id := strings.ToUpper(externalID)
	var (
		d   attackviews.Detail
		err error
	)
	switch {
	case attackid.IsTactic(id):
		d, err = c.tactic(ctx, id)
	case attackid.IsTechnique(id):
		d, err = c.technique(ctx, id)
	case attackid.IsSubtechnique(id):
		d, err = c.subtechnique(ctx, id)
	default:
		return d, fmt.Errorf("ATT&CK entry %q: %w", externalID, app.ErrNotFound)
	}
	if err != nil {
		return d, err
	}
	if err := c.rules(ctx, &d); err != nil {
		return d, err
	}
	return d, c.missionTests(ctx, &d)
}

// usedByLimit is how many templates or mission tests an entry's page
// lists; the counts above the lists are complete.
const usedByLimit = 100

// matrix loads the matrix for f: the tactics with their techniques
// (one query for the tactics, one for the techniques through the join
// table) and the sub-techniques (one query), then filters and sorts in
// memory. A platform that no shown entry has is dropped from the filter.
// It also returns the ATT&CK ID of every row it loaded, for the overlays.
func (c *Catalogue) matrix(ctx context.Context, f attackviews.MatrixFilter) (attackviews.Matrix, map[uuid.UUID]string, error) {
	m := attackviews.Matrix{Filter: f}
	ids := map[uuid.UUID]string{}
	tactics, err := c.client.MitreTactic.Query().
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
		return m, nil, fmt.Errorf("load the matrix: %w", err)
	}
	if len(tactics) == 0 {
		m.Empty = true
		return m, nil, nil
	}
	sq := c.client.MitreSubtechnique.Query().
		Select(mitresubtechnique.FieldTechniqueID, mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName,
			mitresubtechnique.FieldPlatforms, mitresubtechnique.FieldRevoked, mitresubtechnique.FieldDeprecated).
		Order(mitresubtechnique.ByExternalID())
	if !f.Retired {
		sq.Where(mitresubtechnique.Revoked(false), mitresubtechnique.Deprecated(false))
	}
	subs, err := sq.All(ctx)
	if err != nil {
		return m, nil, fmt.Errorf("load the sub-techniques: %w", err)
	}

	platforms := map[string]bool{}
	subsOf := map[uuid.UUID][]*ent.MitreSubtechnique{}
	for _, st := range subs {
		subsOf[st.TechniqueID] = append(subsOf[st.TechniqueID], st)
		ids[st.ID] = st.ExternalID
		for _, p := range st.Platforms {
			platforms[p] = true
		}
	}
	for _, ta := range tactics {
		for _, t := range ta.Edges.Techniques {
			ids[t.ID] = t.ExternalID
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
				mt.Subtechniques = append(mt.Subtechniques, attackviews.MatrixSub{Entry: attackviews.Entry{
					Kind: attackviews.KindSubtechnique, ExternalID: st.ExternalID, Name: st.Name,
					Revoked: st.Revoked, Deprecated: st.Deprecated,
				}})
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
	return m, ids, nil
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

// searchQuery reads a search box: trimmed, at most 100 characters.
func searchQuery(q string) string {
	q = strings.TrimSpace(q)
	if utf8.RuneCountInString(q) > 100 {
		q = string([]rune(q)[:100])
	}
	return q
}

// findOptions tunes find.
type findOptions struct {
	limit      int
	activeOnly bool        // leave out revoked and deprecated entries
	exclude    []uuid.UUID // rows to leave out
}

// hit is a search result with what it sorts by.
type hit struct {
	attackviews.Hit
	rank int    // 0 exact ID, 1 ID prefix, 2 name
	key  string // the ID for ID matches, the lower-case name for name matches
}

func compareHits(a, b hit) int {
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

// find searches the three kinds of entry for q: an ATT&CK ID prefix
// (case-insensitive: "t1059" finds T1059 and its sub-techniques) or part of
// the name. Results come exact ID first, then ID prefix in ID order, then
// name matches by name; more reports that more than opts.limit matched.
// Each kind is one query that orders and limits in the database the same
// way the merge below does, so the merged first results are the true ones;
// sub-techniques bring their parent's name with one more.
func (c *Catalogue) find(ctx context.Context, q string, opts findOptions) ([]attackviews.Hit, bool, error) {
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

	var hits []hit
	add := func(kind string, rowID uuid.UUID, ext, name, parent string, revoked, deprecated bool) {
		h := hit{Hit: attackviews.Hit{
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

	tactics, err := c.client.MitreTactic.Query().Where(where).Order(order).Limit(limit).
		Select(mitretactic.FieldExternalID, mitretactic.FieldName, mitretactic.FieldRevoked, mitretactic.FieldDeprecated).
		All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("search tactics: %w", err)
	}
	for _, t := range tactics {
		add(attackviews.KindTactic, t.ID, t.ExternalID, t.Name, "", t.Revoked, t.Deprecated)
	}
	techniques, err := c.client.MitreTechnique.Query().Where(where).Order(order).Limit(limit).
		Select(mitretechnique.FieldExternalID, mitretechnique.FieldName, mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated).
		All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("search techniques: %w", err)
	}
	for _, t := range techniques {
		add(attackviews.KindTechnique, t.ID, t.ExternalID, t.Name, "", t.Revoked, t.Deprecated)
	}
	subs, err := c.client.MitreSubtechnique.Query().Where(where).Order(order).Limit(limit).
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

// tactic loads a tactic's page: its techniques by name.
func (c *Catalogue) tactic(ctx context.Context, id string) (attackviews.Detail, error) {
	t, err := c.client.MitreTactic.Query().Where(mitretactic.ExternalID(id)).
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
	return d, c.templates(ctx, &d, c.client.MitreTactic.QueryTemplateTags(t).QueryTestTemplate())
}

// technique loads a technique's page: its tactics in matrix order,
// its sub-techniques and, when revoked, its replacement.
func (c *Catalogue) technique(ctx context.Context, id string) (attackviews.Detail, error) {
	t, err := c.client.MitreTechnique.Query().Where(mitretechnique.ExternalID(id)).
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
		if d.ReplacedBy, err = c.replacement(ctx, t.RevokedByStixID); err != nil {
			return d, err
		}
	}
	// A template tagged with one of the sub-techniques uses the technique
	// too: the page counts the technique's own and its sub-techniques'
	// templates, each once (EXISTS, not a join).
	d.RollsUp = true
	return d, c.templates(ctx, &d, c.client.TestTemplate.Query().Where(testtemplate.HasMitreTagsWith(
		testtemplatemitretag.Or(testtemplatemitretag.TechniqueID(t.ID),
			testtemplatemitretag.HasSubtechniqueWith(mitresubtechnique.TechniqueID(t.ID))))))
}

// subtechnique loads a sub-technique's page: its parent and the
// parent's tactics, and when revoked its replacement.
func (c *Catalogue) subtechnique(ctx context.Context, id string) (attackviews.Detail, error) {
	st, err := c.client.MitreSubtechnique.Query().Where(mitresubtechnique.ExternalID(id)).
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
		if d.ReplacedBy, err = c.replacement(ctx, st.RevokedByStixID); err != nil {
			return d, err
		}
	}
	return d, c.templates(ctx, &d, c.client.MitreSubtechnique.QueryTemplateTags(st).QueryTestTemplate())
}

// replacement finds the entry a revoked-by relationship names: a
// technique or a sub-technique (MITRE turns techniques into sub-techniques
// and back). nil when the bundle named none or an entry Violet lacks.
func (c *Catalogue) replacement(ctx context.Context, stixID string) (*attackviews.Entry, error) {
	if stixID == "" {
		return nil, nil
	}
	t, err := c.client.MitreTechnique.Query().Where(mitretechnique.StixID(stixID)).
		Select(mitretechnique.FieldExternalID, mitretechnique.FieldName, mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated).
		Only(ctx)
	switch {
	case err == nil:
		return &attackviews.Entry{Kind: attackviews.KindTechnique, ExternalID: t.ExternalID, Name: t.Name,
			Revoked: t.Revoked, Deprecated: t.Deprecated}, nil
	case !ent.IsNotFound(err):
		return nil, fmt.Errorf("find the replacement %s: %w", stixID, err)
	}
	st, err := c.client.MitreSubtechnique.Query().Where(mitresubtechnique.StixID(stixID)).
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

// templates counts and lists (the first usedByLimit, by name) the
// test templates q selects: those tagged with an entry, deleted ones left
// out by the soft-delete interceptor. Viewers without template.read are not
// shown the library.
func (c *Catalogue) templates(ctx context.Context, d *attackviews.Detail, q *ent.TestTemplateQuery) error {
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

// missionTests lists the mission tests whose (copied) tags name the
// entry's ATT&CK ID (or, for a technique, one of its sub-techniques'), in missions the viewer may read: every mission with
// mission.read_all, else the missions the viewer is a member of with
// mission.read. Deleted tests and tests of deleted missions are left out.
func (c *Catalogue) missionTests(ctx context.Context, d *attackviews.Detail) error {
	v := auth.FromContext(ctx)
	if !v.Can(auth.MissionReadAll) && !v.Can(auth.MissionRead) {
		return nil
	}
	d.ShowMissionTests = true
	visible := []predicate.Mission{mission.DeletedAtIsNil()}
	if !v.Can(auth.MissionReadAll) {
		visible = append(visible, mission.HasMembersWith(missionmember.UserID(v.UserID)))
	}
	tagged := missiontestmitretag.ExternalID(d.ExternalID)
	if d.RollsUp {
		// A technique's tests include its sub-techniques' (T1059.001 is
		// a use of T1059), each test once.
		tagged = missiontestmitretag.Or(tagged, missiontestmitretag.ExternalIDHasPrefix(d.ExternalID+"."))
	}
	q := c.client.MissionTest.Query().Where(
		missiontest.HasMitreTagsWith(tagged),
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
