package attack

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/testtemplate"
	"violet/ent/testtemplatemitretag"
	"violet/internal/app"
	"violet/internal/attackid"
	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/scale"
	attackviews "violet/views/attack"
	scaleview "violet/views/scale"
)

// overlay colours the matrix m with the overlay its filter names:
//
//   - library: the test templates tagged with each technique (one
//     statement), for viewers who may read the library;
//   - mission: the results of one mission the viewer may read, in the
//     scale's colours (two statements: the missions to choose from, which
//     also tells whether the chosen one is readable, and its tests' tags
//     with their levels), for viewers who may read missions.
//
// Both roll sub-techniques up: a technique counts its own templates or
// tests and its sub-techniques', each once. An overlay the viewer may not
// use, or an unknown one, is dropped from the filter like an unknown
// platform; a mission that is not one of the viewer's (unknown, deleted,
// not readable, not a UUID) is app.ErrNotFound, so nobody learns which
// missions exist.
func (c *Catalogue) overlay(ctx context.Context, m *attackviews.Matrix, ids map[uuid.UUID]string) error {
	v := auth.FromContext(ctx)
	o := &m.Overlay
	o.CanLibrary = v.Can(auth.TemplateRead)
	o.CanMission = v.Can(auth.MissionRead) || v.Can(auth.MissionReadAll)
	f := &m.Filter
	if f.Overlay != attackviews.OverlayMission {
		f.Mission = ""
	}
	switch {
	case f.Overlay == attackviews.OverlayLibrary && o.CanLibrary:
		return c.libraryOverlay(ctx, m, ids)
	case f.Overlay == attackviews.OverlayMission && o.CanMission:
		return c.missionOverlay(ctx, m)
	}
	f.Overlay, f.Mission = "", ""
	return nil
}

// libraryOverlay counts the templates tagged with each technique and
// sub-technique the matrix loaded (deleted templates left out), a
// technique's count including its sub-techniques' templates once.
func (c *Catalogue) libraryOverlay(ctx context.Context, m *attackviews.Matrix, ids map[uuid.UUID]string) error {
	tags, err := c.client.TestTemplateMitreTag.Query().
		Where(testtemplatemitretag.Or(testtemplatemitretag.TechniqueIDNotNil(), testtemplatemitretag.SubtechniqueIDNotNil()),
			testtemplatemitretag.HasTestTemplateWith(testtemplate.DeletedAtIsNil())).
		Select(testtemplatemitretag.FieldTestTemplateID, testtemplatemitretag.FieldTechniqueID,
			testtemplatemitretag.FieldSubtechniqueID).
		All(ctx)
	if err != nil {
		return fmt.Errorf("count the templates per technique: %w", err)
	}
	uses := map[string]map[uuid.UUID]bool{} // ATT&CK ID -> templates
	for _, t := range tags {
		var ext string
		switch {
		case t.TechniqueID != nil:
			ext = ids[*t.TechniqueID]
		case t.SubtechniqueID != nil:
			ext = ids[*t.SubtechniqueID]
		}
		for _, id := range rollUp(ext) {
			if uses[id] == nil {
				uses[id] = map[uuid.UUID]bool{}
			}
			uses[id][t.TestTemplateID] = true
		}
	}
	cover(m, func(ext string) *attackviews.Cover {
		n := len(uses[ext])
		if n == 0 {
			return nil
		}
		return &attackviews.Cover{Count: n, Class: attackviews.CoverClass(n)}
	})
	for _, b := range []struct {
		n   int
		key string
	}{{1, "matrix.legend.library_1"}, {2, "matrix.legend.library_2"}, {5, "matrix.legend.library_5"}, {10, "matrix.legend.library_10"}} {
		m.Overlay.Legend = append(m.Overlay.Legend, attackviews.LegendItem{Class: attackviews.CoverClass(b.n), Label: i18n.T(ctx, b.key)})
	}
	return nil
}

// result is one row of the mission overlay's statement: a test, one of
// its technique or sub-technique tags, and its level.
type result struct {
	ID            uuid.UUID  `json:"id"`
	State         string     `json:"state"`
	LevelID       *uuid.UUID `json:"detection_level_id"`
	ExternalID    string     `json:"tag_external_id"`
	LevelName     *string    `json:"level_name"`
	LevelScore    *int       `json:"level_score"`
	LevelPosition *int       `json:"level_position"`
}

// outcome gathers the tests of one technique or sub-technique.
type outcome struct {
	tests    map[uuid.UUID]bool
	executed bool
	best     *result // the row of the best counted level (scale.Outranks)
}

// missionOverlay lists the missions the viewer may read (the privacy
// policy filters them) and, once one is chosen, colours each technique
// with the outcome of its tests by the scale's rule (internal/scale.Counts
// and Outranks: the best level among its executed or reviewed rated
// tests), as the report's heatmap and the Navigator layer do; a technique
// whose tests were executed without a level is "executed, not rated",
// one whose tests were not executed "not executed". The tests come
// through the mission test privacy policy (a blue member sees the released
// ones only), with their tags and levels joined in one statement.
func (c *Catalogue) missionOverlay(ctx context.Context, m *attackviews.Matrix) error {
	missions, err := c.client.Mission.Query().Select(mission.FieldName).
		Order(mission.ByName(), mission.ByID()).All(ctx)
	if err != nil {
		return fmt.Errorf("list the missions: %w", err)
	}
	var chosen *ent.Mission
	for _, ms := range missions {
		m.Overlay.Missions = append(m.Overlay.Missions, attackviews.MissionOption{ID: ms.ID.String(), Name: ms.Name})
		if ms.ID.String() == m.Filter.Mission {
			chosen = ms
		}
	}
	if m.Filter.Mission == "" {
		return nil
	}
	if chosen == nil {
		return fmt.Errorf("mission %q for the matrix: %w", m.Filter.Mission, app.ErrNotFound)
	}
	m.Overlay.Mission = chosen.Name

	g := sql.Table(missiontestmitretag.Table).As("g")
	dl := sql.Table(detectionlevel.Table).As("dl")
	col := func(expr, as string) ent.AggregateFunc {
		return func(*sql.Selector) string { return sql.As(expr, as) }
	}
	// ent has no other hook to join tables to a query it builds: the
	// first extra column adds the joins (as internal/missionread does).
	join := func(s *sql.Selector) string {
		s.Join(g).OnP(sql.And(sql.ColumnsEQ(s.C(missiontest.FieldID), g.C(missiontestmitretag.FieldMissionTestID)),
			sql.NEQ(g.C(missiontestmitretag.FieldKind), string(missiontestmitretag.KindTactic))))
		s.LeftJoin(dl).On(s.C(missiontest.FieldDetectionLevelID), dl.C(detectionlevel.FieldID))
		return sql.As(g.C(missiontestmitretag.FieldExternalID), "tag_external_id")
	}
	var rows []result
	err = c.client.MissionTest.Query().Where(missiontest.MissionID(chosen.ID)).
		Select(missiontest.FieldID, missiontest.FieldState, missiontest.FieldDetectionLevelID).
		Aggregate(join, col(dl.C(detectionlevel.FieldName), "level_name"),
			col(dl.C(detectionlevel.FieldScore), "level_score"), col(dl.C(detectionlevel.FieldPosition), "level_position")).
		Scan(ctx, &rows)
	if err != nil {
		return fmt.Errorf("load the mission's results: %w", err)
	}

	outcomes := map[string]*outcome{}
	levels := map[uuid.UUID]*result{} // the levels that colour a cell, for the legend
	for i := range rows {
		r := &rows[i]
		rated := r.LevelID != nil && r.LevelScore != nil && r.LevelPosition != nil
		for _, id := range rollUp(r.ExternalID) {
			o := outcomes[id]
			if o == nil {
				o = &outcome{tests: map[uuid.UUID]bool{}}
				outcomes[id] = o
			}
			o.tests[r.ID] = true
			o.executed = o.executed || scale.Counts(r.State, true)
			if rated && scale.Counts(r.State, true) &&
				(o.best == nil || scale.Outranks(*r.LevelScore, *r.LevelPosition, *o.best.LevelScore, *o.best.LevelPosition)) {
				o.best = r
			}
		}
	}
	cover(m, func(ext string) *attackviews.Cover {
		o := outcomes[ext]
		if o == nil {
			return nil
		}
		cv := &attackviews.Cover{Count: len(o.tests), Class: attackviews.CoverUntested}
		switch {
		case o.best != nil:
			cv.Class, cv.Level = scaleview.Class(*o.best.LevelID), *o.best.LevelName
			levels[*o.best.LevelID] = o.best
		case o.executed:
			cv.Class = attackviews.CoverUnrated
		}
		return cv
	})
	shown := make([]*result, 0, len(levels))
	for _, r := range levels {
		shown = append(shown, r)
	}
	slices.SortFunc(shown, func(a, b *result) int {
		return cmp.Or(cmp.Compare(*a.LevelPosition, *b.LevelPosition), cmp.Compare(*a.LevelName, *b.LevelName))
	})
	for _, r := range shown {
		m.Overlay.Legend = append(m.Overlay.Legend, attackviews.LegendItem{Class: scaleview.Class(*r.LevelID),
			Label: i18n.T(ctx, "matrix.legend.level", "Name", *r.LevelName, "Score", strconv.Itoa(*r.LevelScore))})
	}
	m.Overlay.Legend = append(m.Overlay.Legend,
		attackviews.LegendItem{Class: attackviews.CoverUnrated, Label: i18n.T(ctx, "matrix.legend.unrated")},
		attackviews.LegendItem{Class: attackviews.CoverUntested, Label: i18n.T(ctx, "matrix.legend.untested")})
	return nil
}

// rollUp is where a use of an ATT&CK ID counts: the entry itself and, for
// a sub-technique, its technique too. Tactics and unknown IDs count
// nowhere.
func rollUp(ext string) []string {
	switch {
	case attackid.IsTechnique(ext):
		return []string{ext}
	case attackid.IsSubtechnique(ext):
		return []string{ext, attackid.Parent(ext)}
	}
	return nil
}

// cover sets every cell's Cover from of, by ATT&CK ID.
func cover(m *attackviews.Matrix, of func(ext string) *attackviews.Cover) {
	for i := range m.Columns {
		for j := range m.Columns[i].Techniques {
			t := &m.Columns[i].Techniques[j]
			t.Cover = of(t.ExternalID)
			for k := range t.Subtechniques {
				t.Subtechniques[k].Cover = of(t.Subtechniques[k].ExternalID)
			}
		}
	}
}
