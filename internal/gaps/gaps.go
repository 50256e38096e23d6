// Package gaps is the read model of a mission's gaps (issue 20, point 7):
// the executed tests nothing detected, each with the detection rules that
// were expected to fire and the other rules the catalogue knows for its
// techniques, sorted so that what the blue team should build first comes
// first.
//
// It reads in two statements whatever the mission's size: the tests with
// their tags and expected rules (the catalogue's, and the free names per
// tool with their tools' names) folded into columns, then the catalogue's
// rules for every technique named, through the GIN index of
// detection_rules.techniques (as the technique page, internal/attack
// rules.go). Both go through ent with the request's context, so the
// privacy policy of mission tests applies (a blue member never sees an
// unreleased test) and soft-deleted rules stay hidden.
package gaps

import (
	"context"
	"fmt"
	"slices"
	"strings"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/detectionrule"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/predicate"
	"violet/internal/expectedrule"
	"violet/internal/mission"
	gapviews "violet/views/gaps"
)

// line is one test of the first statement, scanned by column name (the
// embedded MissionTest takes the test's columns, the JSON columns are
// decoded by ent's ScanSlice).
type line struct {
	ent.MissionTest
	LevelName *string `json:"level_name"`
	Tags      []tag   `json:"tags"`
	Expected  []rule  `json:"expected"`
	// The free rule names per tool the test expected (expected_rules).
	Free []expectedrule.Line `json:"free"`
}

// tag is a technique or sub-technique tag of a test (tactics have no rules
// of their own: Sigma's tactic tags are not techniques).
type tag struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// rule is an expected rule as folded by the first statement.
type rule struct {
	ID          uuid.UUID         `json:"id"`
	UID         string            `json:"uid"`
	Title       string            `json:"title"`
	Level       string            `json:"level"`
	Status      string            `json:"status"`
	Description string            `json:"description"`
	Logsource   map[string]string `json:"logsource"`
}

// Of reads the gaps of the viewer's mission: the executed or reviewed
// tests the viewer may see whose overall result is missing or does not
// count as detected, in plan order.
func Of(ctx context.Context, client *ent.Client, a *mission.Access) (gapviews.Page, error) {
	p := gapviews.Page{MissionID: a.Mission.ID.String(), MissionName: a.Mission.Name, CanManage: a.CanManage()}
	var lines []line
	err := client.MissionTest.Query().
		Where(missiontest.MissionID(a.Mission.ID),
			missiontest.StateIn(missiontest.StateExecuted, missiontest.StateReviewed),
			func(s *entsql.Selector) { s.Where(entsql.ExprP(notDetected(s))) }).
		Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID)).
		Select(missiontest.FieldID, missiontest.FieldPosition, missiontest.FieldName, missiontest.FieldState).
		Aggregate(
			func(s *entsql.Selector) string { return entsql.As(levelName(s), "level_name") },
			func(s *entsql.Selector) string { return entsql.As(tagsOf(s), "tags") },
			func(s *entsql.Selector) string { return entsql.As(expectedOf(s), "expected") },
			func(s *entsql.Selector) string {
				return entsql.As(expectedrule.SQL(s.C(missiontest.FieldExpectedRules)), "free")
			},
		).
		Scan(ctx, &lines)
	if err != nil {
		return p, fmt.Errorf("load the undetected tests: %w", err)
	}
	if len(lines) == 0 {
		return p, nil
	}
	known, err := catalogue(ctx, client, lines)
	if err != nil {
		return p, err
	}
	expected, others := map[string]bool{}, map[string]bool{}
	for _, l := range lines {
		t := gapviews.Test{ID: l.ID.String(), Name: l.Name, State: string(l.State)}
		if l.LevelName != nil {
			t.Level = *l.LevelName
		}
		mine := map[uuid.UUID]bool{}
		for _, r := range l.Expected {
			mine[r.ID] = true
			expected[r.UID] = true
			t.Expected = append(t.Expected, gapviews.Rule{UID: r.UID, Title: r.Title, Level: r.Level, Status: r.Status,
				Description: r.Description, Logsource: logsourceText(r.Logsource)})
		}
		t.Free = expectedrule.Shown(l.Free)
		for _, r := range l.Free {
			// Counted with the catalogue's rules: a free rule is one
			// more that did not fire (never mistaken for a Sigma id).
			expected["\x00"+r.ToolID+"\x00"+strings.ToLower(r.Name)] = true
		}
		ids := make([]string, len(l.Tags))
		for i, g := range l.Tags {
			ids[i] = g.ID
			t.Techniques = append(t.Techniques, gapviews.Technique{ID: g.ID, Name: g.Name})
		}
		for _, r := range known {
			if mine[r.ID] || !related(ids, r.Techniques) {
				continue
			}
			others[r.RuleUID] = true
			t.Others = append(t.Others, gapviews.Rule{UID: r.RuleUID, Title: r.Title, Level: r.Level, Status: r.Status,
				Description: r.Description, Logsource: logsourceText(r.Logsource), Techniques: r.Techniques})
		}
		slices.SortStableFunc(t.Others, buildFirst)
		p.Tests = append(p.Tests, t)
	}
	// A rule one test expected and another merely could use is counted
	// once, as expected.
	for uid := range others {
		if !expected[uid] {
			p.Known++
		}
	}
	p.Undetected, p.Expected = len(p.Tests), len(expected)
	return p, nil
}

// notDetected is the condition on the test's overall result: none, or a
// level that does not count as detected.
func notDetected(s *entsql.Selector) string {
	return "coalesce((SELECT d." + detectionlevel.FieldCountsAsDetected + " FROM " + detectionlevel.Table +
		" d WHERE d.id = " + s.C(missiontest.FieldDetectionLevelID) + "), false) = false"
}

// levelName is the name of the test's level, NULL without one.
func levelName(s *entsql.Selector) string {
	return "(SELECT d." + detectionlevel.FieldName + " FROM " + detectionlevel.Table +
		" d WHERE d.id = " + s.C(missiontest.FieldDetectionLevelID) + ")"
}

// tagsOf folds the test's technique and sub-technique tags into a JSON
// array, in ATT&CK ID order.
func tagsOf(s *entsql.Selector) string {
	return "coalesce((SELECT json_agg(json_build_object('id', g.external_id, 'name', g.name) ORDER BY g.external_id, g.id) FROM " +
		missiontestmitretag.Table + " g WHERE g.mission_test_id = " + s.C(missiontest.FieldID) +
		" AND g.kind <> 'tactic'), '[]')"
}

// expectedOf folds the rules the test expected (mission_test_rules, the
// rules not deleted from the catalogue) into a JSON array, by title.
func expectedOf(s *entsql.Selector) string {
	return "coalesce((SELECT json_agg(json_build_object('id', r.id, 'uid', r.rule_uid, 'title', r.title, " +
		"'level', r.level, 'status', r.status, 'description', r.description, 'logsource', r.logsource) " +
		"ORDER BY r.title, r.id) FROM mission_test_rules mr JOIN " + detectionrule.Table +
		" r ON r.id = mr.detection_rule_id AND r.deleted_at IS NULL WHERE mr.mission_test_id = " +
		s.C(missiontest.FieldID) + "), '[]')"
}

// catalogue reads, in one statement, the rules of the catalogue that name
// a technique of the tests, its parent technique or one of its
// sub-techniques the ATT&CK catalogue knows (added in SQL, as the
// technique page does with its children), through the GIN index.
func catalogue(ctx context.Context, client *ent.Client, lines []line) ([]*ent.DetectionRule, error) {
	seen := map[string]bool{}
	var ids, parents []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, l := range lines {
		for _, g := range l.Tags {
			add(g.ID)
			parent, _, sub := strings.Cut(g.ID, ".")
			if sub {
				add(parent)
			} else {
				parents = append(parents, g.ID)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := client.DetectionRule.Query().
		Where(predicate.DetectionRule(func(s *entsql.Selector) {
			s.Where(entsql.P(func(b *entsql.Builder) {
				b.Ident(s.C(detectionrule.FieldTechniques)).WriteString(" ?| (").Arg(pq.Array(ids)).
					WriteString("::text[] || ARRAY(SELECT external_id FROM mitre_subtechniques WHERE split_part(external_id, '.', 1) = ANY(").
					Arg(pq.Array(parents)).WriteString(")))")
			}))
		})).
		Order(detectionrule.ByTitle(), detectionrule.ByID()).
		Select(detectionrule.FieldRuleUID, detectionrule.FieldTitle, detectionrule.FieldLevel, detectionrule.FieldStatus,
			detectionrule.FieldDescription, detectionrule.FieldLogsource, detectionrule.FieldTechniques).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the known rules of the gaps' techniques: %w", err)
	}
	return rows, nil
}

// related reports whether a rule naming techniques is about one of a test's
// tags: the same ID, the parent technique of a sub-technique tag, or a
// sub-technique of a technique tag.
func related(tags, techniques []string) bool {
	for _, t := range tags {
		parent, _, sub := strings.Cut(t, ".")
		for _, r := range techniques {
			switch {
			case r == t, sub && r == parent, !sub && strings.HasPrefix(r, t+"."):
				return true
			}
		}
	}
	return false
}

// Sigma's levels, most severe first, and statuses, most mature first; an
// unknown or missing word sorts after the known ones.
var (
	levelOrder  = []string{"critical", "high", "medium", "low", "informational"}
	statusOrder = []string{"stable", "test", "experimental", "deprecated", "unsupported"}
)

func rank(order []string, word string) int {
	if i := slices.Index(order, word); i >= 0 {
		return i
	}
	return len(order)
}

// buildFirst orders rules by what blue should build first: by level, then
// by status (stable first); the catalogue's title order otherwise.
func buildFirst(a, b gapviews.Rule) int {
	if d := rank(levelOrder, a.Level) - rank(levelOrder, b.Level); d != 0 {
		return d
	}
	return rank(statusOrder, a.Status) - rank(statusOrder, b.Status)
}

// logsourceText is a Sigma logsource as "product / category / service"
// (those given), as the technique page shows it.
func logsourceText(m map[string]string) string {
	var parts []string
	for _, k := range []string{"product", "category", "service"} {
		if v := m[k]; v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " / ")
}
