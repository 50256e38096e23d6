package retest

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	entmission "violet/ent/mission"
	"violet/internal/app"
	"violet/internal/mission"
	internalscale "violet/internal/scale"
	views "violet/views/retest"
	"violet/views/scale"
)

// Rank is a level's place in the scale's order: its score, then its
// position (internalscale.Outranks).
type Rank struct {
	Score, Position int
}

// Verdict compares a retested test's result with its original's, in the
// scale's order (internalscale.Outranks, the rule every figure uses):
// better is improved, worse regressed, the same level unchanged. A retest
// test with no result yet is not run. An original without a result
// counts as the bottom of the scale (nothing was recorded as seen): any
// result that saw something (a score above zero) improves on it.
func Verdict(before, after *Rank) string {
	switch {
	case after == nil:
		return views.NotRun
	case before == nil:
		if after.Score > 0 {
			return views.Improved
		}
		return views.Unchanged
	case internalscale.Outranks(after.Score, after.Position, before.Score, before.Position):
		return views.Improved
	case internalscale.Outranks(before.Score, before.Position, after.Score, after.Position):
		return views.Regressed
	}
	return views.Unchanged
}

// level is a level of the scale as the comparison reads it.
type level struct {
	ID       uuid.UUID `json:"id"`
	Name     string    `json:"name"`
	Score    int       `json:"score"`
	Position int       `json:"position"`
	Detected bool      `json:"detected"`
}

// tool is a defensive tool in the scope of either mission.
type tool struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// outcome is one tool's level on a test.
type outcome struct {
	Tool  uuid.UUID  `json:"tool"`
	Level *uuid.UUID `json:"level"`
}

// tactic is a tactic a test's tags name.
type tactic struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Compare reads the comparison of a's mission, a retest, with the mission
// it retests in two statements whatever their size: the original's name,
// the scale and the tools in either scope; then each test of the retest
// the viewer may see with its original's result, both runs' outcomes per
// tool and its tactics. A mission that retests nothing is not found.
//
// It reads in SQL past the ent privacy policies, because the viewer may
// not be a member of the original mission, whose results the comparison
// shows beside the retest's: the rows are the retest's tests, which the
// viewer's access (a, loaded by the route) lets them read, and the rules
// the policies apply are applied here, written out: a blue member sees
// the released tests only (as the overview and the report), and an
// original's results only if that test was released to blue too or the
// viewer is no blue member of the original (their role there decides,
// not their role on the retest). A retest of a mission in the trash
// compares with nothing: neither the original's results nor its tools
// are shown.
func Compare(ctx context.Context, db *sql.DB, a *mission.Access) (views.Comparison, error) {
	c := views.Comparison{MissionID: a.Mission.ID.String()}
	if a.Mission.RetestOfID == nil {
		return c, fmt.Errorf("%w: the mission retests nothing", app.ErrNotFound)
	}
	origID := *a.Mission.RetestOfID
	var name sql.NullString
	var levelsJSON, toolsJSON []byte
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT name FROM missions WHERE id = $1 AND deleted_at IS NULL),
		(SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, 'score', score, 'position', position,
			'detected', counts_as_detected) ORDER BY position, name), '[]') FROM detection_levels),
		(SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name) ORDER BY t.name, t.id), '[]')
			FROM defensive_tools t WHERE t.deleted_at IS NULL
			AND t.id IN (SELECT defensive_tool_id FROM mission_tools WHERE mission_id = $2
				OR (mission_id = $1 AND EXISTS (SELECT 1 FROM missions WHERE id = $1 AND deleted_at IS NULL))))`,
		origID, a.Mission.ID).Scan(&name, &levelsJSON, &toolsJSON)
	if err != nil {
		return c, fmt.Errorf("the retest's original, scale and tools: %w", err)
	}
	if name.Valid {
		c.OriginalID, c.OriginalName = origID.String(), name.String
	}
	var levels []level
	var tools []tool
	if err := json.Unmarshal(levelsJSON, &levels); err != nil {
		return c, fmt.Errorf("decode the scale: %w", err)
	}
	if err := json.Unmarshal(toolsJSON, &tools); err != nil {
		return c, fmt.Errorf("decode the tools: %w", err)
	}
	byID := map[uuid.UUID]level{}
	for _, l := range levels {
		byID[l.ID] = l
	}
	rows, err := db.QueryContext(ctx, compareSQL, a.Mission.ID, a.SeesUnreleased(), a.Viewer.UserID)
	if err != nil {
		return c, fmt.Errorf("the retested tests: %w", err)
	}
	defer rows.Close()
	tactics := map[string]*views.Summary{}
	perTool := map[uuid.UUID]*views.ToolSummary{}
	for _, t := range tools {
		perTool[t.ID] = &views.ToolSummary{ID: t.ID.String(), Name: t.Name}
	}
	for rows.Next() {
		var (
			id                    uuid.UUID
			testName              string
			origTest, origMission uuid.NullUUID
			visible               bool
			before, after         uuid.NullUUID
			tacJSON, befJ, aftJ   []byte
		)
		if err := rows.Scan(&id, &testName, &origTest, &origMission, &visible, &before, &after, &tacJSON, &befJ, &aftJ); err != nil {
			return c, fmt.Errorf("read a retested test: %w", err)
		}
		r := views.Row{TestID: id.String(), Name: testName}
		if origTest.Valid {
			r.OriginalTestID, r.OriginalMissionID = origTest.UUID.String(), origMission.UUID.String()
		}
		bl, al := levelOf(byID, before), levelOf(byID, after)
		r.Before, r.After = viewLevel(bl), viewLevel(al)
		// An original whose result is hidden from the viewer is no "no
		// result": the verdict says so rather than improved or unchanged.
		hidden := origTest.Valid && !visible
		r.Verdict = verdictOf(hidden, rankOf(bl), rankOf(al))
		c.Totals.Add(r.Verdict)
		c.Rows = append(c.Rows, r)
		var tacs []tactic
		if err := json.Unmarshal(tacJSON, &tacs); err != nil {
			return c, fmt.Errorf("decode the tactics: %w", err)
		}
		for _, tc := range tacs {
			s, ok := tactics[tc.ID]
			if !ok {
				s = &views.Summary{ID: tc.ID, Name: tc.Name}
				tactics[tc.ID] = s
			}
			s.Add(r.Verdict)
		}
		var bo, ao []outcome
		if err := json.Unmarshal(befJ, &bo); err != nil {
			return c, fmt.Errorf("decode the outcomes: %w", err)
		}
		if err := json.Unmarshal(aftJ, &ao); err != nil {
			return c, fmt.Errorf("decode the outcomes: %w", err)
		}
		toolVerdicts(perTool, byID, hidden, bo, ao)
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("the retested tests: %w", err)
	}
	for _, s := range tactics {
		c.Tactics = append(c.Tactics, *s)
	}
	slices.SortFunc(c.Tactics, func(x, y views.Summary) int { return strings.Compare(x.ID, y.ID) })
	for _, t := range tools {
		if s := perTool[t.ID]; s.DetectedBefore+s.DetectedAfter+s.Improved+s.Regressed+s.Unchanged+s.NotRun+s.BeforeHidden > 0 {
			c.Tools = append(c.Tools, *s)
		}
	}
	return c, nil
}

// compareSQL reads the retest's tests ($1) the viewer ($3) may see ($2:
// the unreleased ones too) with their original's result (only if the
// viewer may see it), their tactics and each run's outcomes per tool.
//
// The original test is joined only while it and its mission are live: a
// mission in the trash keeps its tests' deleted_at NULL (only
// missions.deleted_at is set), and its results are not shown. Whether the
// viewer sees the original's results follows their role on the original
// mission, not on the retest (ov.visible): released to blue, or the viewer
// may see the retest's unreleased tests and is no blue member of the
// original (someone blue there sees only what was released to them).
const compareSQL = `SELECT t.id, t.name, o.id, o.mission_id, ov.visible,
	CASE WHEN ov.visible THEN o.detection_level_id END,
	t.detection_level_id,
	coalesce((SELECT json_agg(json_build_object('id', x.id, 'name', x.name) ORDER BY x.id) FROM (
		SELECT DISTINCT ON (id) id, name FROM (
			SELECT e->>'id' AS id, e->>'name' AS name FROM mission_test_mitre_tags g,
				jsonb_array_elements(coalesce(g.tactics, '[]'::jsonb)) e WHERE g.mission_test_id = t.id
			UNION ALL
			SELECT g.external_id, g.name FROM mission_test_mitre_tags g WHERE g.mission_test_id = t.id AND g.kind = 'tactic'
		) u WHERE id IS NOT NULL ORDER BY id, name) x), '[]'),
	coalesce((SELECT json_agg(json_build_object('tool', oc.tool_id, 'level', oc.detection_level_id))
		FROM mission_test_outcomes oc WHERE oc.mission_test_id = o.id AND oc.tool_id IS NOT NULL
		AND ov.visible), '[]'),
	coalesce((SELECT json_agg(json_build_object('tool', oc.tool_id, 'level', oc.detection_level_id))
		FROM mission_test_outcomes oc WHERE oc.mission_test_id = t.id AND oc.tool_id IS NOT NULL), '[]')
FROM mission_tests t
LEFT JOIN mission_tests o ON o.id = t.retest_of_id AND o.deleted_at IS NULL
	AND EXISTS (SELECT 1 FROM missions om WHERE om.id = o.mission_id AND om.deleted_at IS NULL)
LEFT JOIN LATERAL (SELECT o.id IS NOT NULL AND (o.released_to_blue OR ($2 AND NOT EXISTS (SELECT 1 FROM mission_members mm
	WHERE mm.mission_id = o.mission_id AND mm.user_id = $3 AND mm.role = 'blue'))) AS visible) ov ON true
WHERE t.mission_id = $1 AND t.deleted_at IS NULL AND t.retest_of_id IS NOT NULL AND ($2 OR t.released_to_blue)
ORDER BY t.position, t.id`

// verdictOf is Verdict, or views.BeforeHidden when the original's result
// is hidden from the viewer (hidden) and the retest has one.
func verdictOf(hidden bool, before, after *Rank) string {
	v := Verdict(before, after)
	if hidden && v != views.NotRun {
		return views.BeforeHidden
	}
	return v
}

// toolVerdicts adds one test's outcomes per tool to the tools' summaries:
// the runs in which the tool detected it, and the verdict when the tool
// has an outcome in either run (not run when only the original has one;
// before hidden when the original's outcomes are hidden from the viewer).
func toolVerdicts(perTool map[uuid.UUID]*views.ToolSummary, byID map[uuid.UUID]level, hidden bool, before, after []outcome) {
	levelsOf := func(list []outcome) map[uuid.UUID]*level {
		out := map[uuid.UUID]*level{}
		for _, o := range list {
			var l *level
			if o.Level != nil {
				if x, ok := byID[*o.Level]; ok {
					l = &x
				}
			}
			out[o.Tool] = l
		}
		return out
	}
	b, a := levelsOf(before), levelsOf(after)
	for id, s := range perTool {
		bl, hasB := b[id]
		al, hasA := a[id]
		if !hasB && !hasA {
			continue
		}
		if bl != nil && bl.Detected {
			s.DetectedBefore++
		}
		if al != nil && al.Detected {
			s.DetectedAfter++
		}
		s.Add(verdictOf(hidden, rankOf(bl), rankOf(al)))
	}
}

func levelOf(byID map[uuid.UUID]level, id uuid.NullUUID) *level {
	if !id.Valid {
		return nil
	}
	if l, ok := byID[id.UUID]; ok {
		return &l
	}
	return nil
}

func rankOf(l *level) *Rank {
	if l == nil {
		return nil
	}
	return &Rank{Score: l.Score, Position: l.Position}
}

func viewLevel(l *level) views.Level {
	if l == nil {
		return views.Level{}
	}
	return views.Level{Name: l.Name, Class: scale.Class(l.ID)}
}

// ComparePage is the compare page of a's mission.
func ComparePage(ctx context.Context, db *sql.DB, a *mission.Access) (views.ComparePage, error) {
	p := views.ComparePage{MissionID: a.Mission.ID.String(), MissionName: a.Mission.Name, CanManage: a.CanManage()}
	var err error
	p.Comparison, err = Compare(ctx, db, a)
	return p, err
}

// Links are the retest links of a's mission's overview, in one statement
// through ent (the privacy policy hides the missions the viewer may not
// see): the mission it retests and its own retests, oldest first.
func Links(ctx context.Context, client *ent.Client, a *mission.Access) (views.Links, error) {
	m := a.Mission
	l := views.Links{MissionID: m.ID.String(), CanRetest: allowed(a) == nil, IsRetest: m.RetestOfID != nil}
	q := client.Mission.Query().Select(entmission.FieldName, entmission.FieldRetestOfID, entmission.FieldCreatedAt)
	if m.RetestOfID != nil {
		q.Where(entmission.Or(entmission.ID(*m.RetestOfID), entmission.RetestOfID(m.ID)))
	} else {
		q.Where(entmission.RetestOfID(m.ID))
	}
	list, err := q.All(ctx)
	if err != nil {
		return l, fmt.Errorf("the retest links: %w", err)
	}
	slices.SortFunc(list, func(x, y *ent.Mission) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.ID.String(), y.ID.String()))
	})
	for _, x := range list {
		if m.RetestOfID != nil && x.ID == *m.RetestOfID {
			l.Of = &views.Link{ID: x.ID.String(), Name: x.Name}
			continue
		}
		l.Retests = append(l.Retests, views.Link{ID: x.ID.String(), Name: x.Name})
	}
	return l, nil
}
