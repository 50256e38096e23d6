// Package retest is the retest of a mission (issue 20, point 5): a new
// mission linked to the one it retests (missions.retest_of_id) holding
// fresh copies of the chosen tests, each linked to the test it runs again
// (mission_tests.retest_of_id), and the comparison of both runs.
//
// Its workflow (Service.Create) writes the retest in one transaction with
// its audit records and notifications; its read models are the retest form
// (Service.Form), the overview's links (Links) and the comparison
// (Compare), which the compare page and the report of a retest share.
package retest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/predicate"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/notify"
	internalscale "violet/internal/scale"
	"violet/views/components"
	missionviews "violet/views/missions"
	views "violet/views/retest"
	"violet/views/scale"
)

// Service runs the retest workflow and its form.
type Service struct {
	client   *ent.Client
	notifier *notify.Notifier
}

// NewService returns the retest workflow writing through client and
// notifying the retest's members through notifier.
func NewService(client *ent.Client, notifier *notify.Notifier) *Service {
	return &Service{client: client, notifier: notifier}
}

// Input is what the retest form sends: the new mission's name and dates
// (mission.DateLayout or empty), the ids of the original's tests to run
// again and of the original's members to take along.
type Input struct {
	Name, StartDate, EndDate string
	Tests, Members           []string
}

// allowed is the rule of a retest: it creates a mission, so its author
// needs mission.create (as mission.Service.Create, which the ent policy
// of missions enforces again), and it copies the plan and the members of
// the original, which only its leads (or mission.manage) manage. An
// archived original may be retested: the retest only reads it.
func allowed(a *mission.Access) error {
	if !a.CanManage() || !a.Viewer.Can(auth.MissionCreate) {
		return mission.ErrForbidden
	}
	return nil
}

// source is what a retest is made from: the original's tests in plan
// order with the names of their scenario and category, its members with
// their names, and the detection scale.
type source struct {
	tests   []line
	members []*ent.MissionMember
	levels  []*ent.DetectionLevel
}

// line is a test of the original with its scenario's and category's
// names folded in (scalar subqueries: no list of ids in the statement).
type line struct {
	ent.MissionTest
	ScenarioName     *string `json:"scenario_name"`
	ScenarioPosition *int    `json:"scenario_position"`
	CategoryName     *string `json:"category_name"`
}

// load reads the source of a's mission in four statements whatever its
// size.
func load(ctx context.Context, client *ent.Client, a *mission.Access) (source, error) {
	var src source
	err := client.MissionTest.Query().Where(missiontest.MissionID(a.Mission.ID)).
		Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID)).
		Select(missiontest.Columns...).
		Aggregate(
			folded("mission_scenarios", "name", missiontest.FieldMissionScenarioID, "scenario_name"),
			folded("mission_scenarios", "position", missiontest.FieldMissionScenarioID, "scenario_position"),
			folded("mission_categories", "name", missiontest.FieldCategoryID, "category_name"),
		).Scan(ctx, &src.tests)
	if err != nil {
		return src, fmt.Errorf("load the tests to retest: %w", err)
	}
	src.members, err = client.MissionMember.Query().Where(missionmember.MissionID(a.Mission.ID)).
		WithUser(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).All(ctx)
	if err != nil {
		return src, fmt.Errorf("load the members: %w", err)
	}
	src.levels, err = client.DetectionLevel.Query().Order(detectionlevel.ByPosition(), detectionlevel.ByName()).All(ctx)
	if err != nil {
		return src, fmt.Errorf("load the detection scale: %w", err)
	}
	return src, nil
}

// folded is a column of the row of table a test's column fk names, as
// the column as: NULL without one, or when the row is deleted.
func folded(table, column, fk, as string) ent.AggregateFunc {
	return func(s *entsql.Selector) string {
		return entsql.As("(SELECT x."+column+" FROM "+table+" x WHERE x.id = "+s.C(fk)+" AND x.deleted_at IS NULL)", as)
	}
}

// loggingLevel is the level of the scale that means "detected only by
// logging", or uuid.Nil when no detecting level means it.
//
// The scale is configurable, so "logging" is read from its shape: it is
// the weakest level that counts as detected (lowest in the scale's order:
// score, then position, scale.Outranks). But when the scale holds a level
// that saw something without counting as detected (a score above zero,
// like the default scale's "Logged"), that level is the logging one: its
// tests are already among the undetected ones, and the weakest detecting
// level (the default's "Alerted") is a real detection, not logging.
func loggingLevel(levels []*ent.DetectionLevel) uuid.UUID {
	var weakest *ent.DetectionLevel
	for _, l := range levels {
		if !l.CountsAsDetected {
			if l.Score > 0 {
				return uuid.Nil
			}
			continue
		}
		if weakest == nil || internalscale.Outranks(weakest.Score, weakest.Position, l.Score, l.Position) {
			weakest = l
		}
	}
	if weakest == nil {
		return uuid.Nil
	}
	return weakest.ID
}

// byDefault reports whether a test is in the retest's default selection:
// executed (or reviewed) and not detected — no result, a level that does
// not count as detected — or detected only by logging (loggingLevel).
func byDefault(t *ent.MissionTest, levels map[uuid.UUID]*ent.DetectionLevel, logging uuid.UUID) bool {
	if t.State != missiontest.StateExecuted && t.State != missiontest.StateReviewed {
		return false
	}
	if t.DetectionLevelID == nil {
		return true
	}
	l, ok := levels[*t.DetectionLevelID]
	return !ok || !l.CountsAsDetected || l.ID == logging
}

// DefaultName is the retest's name the form proposes, cut to the
// column's length.
func DefaultName(ctx context.Context, original string) string {
	name := i18n.T(ctx, "retest.form.default_name", "Mission", original)
	for len(name) > missionviews.NameMax {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return strings.TrimSpace(name)
}

// Form is the retest form of a's mission: with in nil, the defaults (the
// default name, the default selection of tests, every member checked);
// otherwise what the user sent, with errs (a field's message key) beside
// the fields.
func (s *Service) Form(ctx context.Context, a *mission.Access, in *Input, errs map[string]string) (views.Form, error) {
	f := views.Form{MissionID: a.Mission.ID.String(), MissionName: a.Mission.Name, Errors: components.Errors(errs)}
	if err := allowed(a); err != nil {
		return f, err
	}
	src, err := load(ctx, s.client, a)
	if err != nil {
		return f, err
	}
	levels := map[uuid.UUID]*ent.DetectionLevel{}
	for _, l := range src.levels {
		levels[l.ID] = l
	}
	logging := loggingLevel(src.levels)
	checkedTests, checkedMembers := map[string]bool{}, map[string]bool{}
	if in != nil {
		f.Name, f.StartDate, f.EndDate = in.Name, in.StartDate, in.EndDate
		for _, id := range in.Tests {
			checkedTests[id] = true
		}
		for _, id := range in.Members {
			checkedMembers[id] = true
		}
	} else {
		f.Name = DefaultName(ctx, a.Mission.Name)
	}
	group, position := map[string]int{}, map[string]int{}
	var keys []string
	for i := range src.tests {
		t := &src.tests[i]
		c := views.TestChoice{ID: t.ID.String(), Name: t.Name, State: string(t.State), Checked: checkedTests[t.ID.String()]}
		if in == nil {
			c.Checked = byDefault(&t.MissionTest, levels, logging)
		}
		if t.DetectionLevelID != nil {
			if l, ok := levels[*t.DetectionLevelID]; ok {
				c.Level, c.LevelClass = l.Name, scale.Class(l.ID)
			}
		}
		if t.CategoryName != nil {
			c.Category = *t.CategoryName
		}
		key, name := "", ""
		if t.MissionScenarioID != nil && t.ScenarioName != nil {
			key, name = t.MissionScenarioID.String(), *t.ScenarioName
			if t.ScenarioPosition != nil {
				position[key] = *t.ScenarioPosition
			}
		}
		i, ok := group[key]
		if !ok {
			i = len(f.Groups)
			group[key] = i
			f.Groups = append(f.Groups, views.TestGroup{Name: name})
			keys = append(keys, key)
		}
		f.Groups[i].Tests = append(f.Groups[i].Tests, c)
	}
	// The scenarios in their order, the tests outside any scenario last,
	// as on the overview.
	order := make([]int, len(f.Groups))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		switch {
		case keys[x] == "" && keys[y] != "":
			return 1
		case keys[x] != "" && keys[y] == "":
			return -1
		}
		return position[keys[x]] - position[keys[y]]
	})
	groups := make([]views.TestGroup, len(order))
	for i, g := range order {
		groups[i] = f.Groups[g]
	}
	f.Groups = groups
	me := a.Viewer.UserID
	f.Members = append(f.Members, views.MemberChoice{ID: me.String(), Name: a.Viewer.DisplayName, Role: "lead", Checked: true, Me: true})
	for _, m := range memberOrder(src.members) {
		if m.UserID == me {
			continue
		}
		c := views.MemberChoice{ID: m.UserID.String(), Name: m.Edges.User.DisplayName, Role: string(m.Role),
			Checked: in == nil || checkedMembers[m.UserID.String()]}
		f.Members = append(f.Members, c)
	}
	return f, nil
}

// memberOrder keeps the members whose account still exists, by role (lead
// first) then name.
func memberOrder(members []*ent.MissionMember) []*ent.MissionMember {
	order := map[missionmember.Role]int{missionmember.RoleLead: 0, missionmember.RoleRed: 1, missionmember.RoleBlue: 2, missionmember.RoleObserver: 3}
	var out []*ent.MissionMember
	for _, m := range members {
		if m.Edges.User != nil {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(x, y *ent.MissionMember) int {
		if d := order[x.Role] - order[y.Role]; d != 0 {
			return d
		}
		return strings.Compare(x.Edges.User.DisplayName, y.Edges.User.DisplayName)
	})
	return out
}

// checked is a validated input.
type checked struct {
	name       string
	start, end *time.Time
	tests      []uuid.UUID
	members    []uuid.UUID
}

// check validates the input's own rules (the tests and members are
// checked against the original in the transaction): a name that fits,
// dates in order, at least one test.
func check(in Input) (checked, error) {
	errs := &app.Invalid{}
	c := checked{name: strings.TrimSpace(in.Name)}
	switch {
	case c.name == "":
		errs.Add("name", "form.required")
	case len(c.name) > missionviews.NameMax:
		errs.Add("name", "missions.form.name_too_long")
	}
	parse := func(field, raw string) *time.Time {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return nil
		}
		t, err := time.Parse(mission.DateLayout, raw)
		if err != nil || t.Year() < 1900 || t.Year() > 9999 {
			errs.Add(field, "missions.form.bad_date")
			return nil
		}
		return &t
	}
	c.start, c.end = parse("start_date", in.StartDate), parse("end_date", in.EndDate)
	if c.start != nil && c.end != nil && c.end.Before(*c.start) {
		errs.Add("end_date", "missions.form.end_before_start")
	}
	ids := func(field string, raw []string) []uuid.UUID {
		var out []uuid.UUID
		for _, r := range raw {
			id, err := uuid.Parse(strings.TrimSpace(r))
			if err != nil {
				errs.Add(field, "retest.form."+field+"_unknown")
				return nil
			}
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
		return out
	}
	c.tests, c.members = ids("tests", in.Tests), ids("members", in.Members)
	if len(in.Tests) == 0 {
		errs.Add("tests", "retest.form.no_tests")
	}
	return c, errs.Err()
}

// testsIn is the predicate of the chosen tests of the original.
func testsIn(missionID uuid.UUID, ids []uuid.UUID) []predicate.MissionTest {
	return []predicate.MissionTest{missiontest.MissionID(missionID),
		predicate.MissionTest(database.In(missiontest.FieldID, ids))}
}

// roleKey is the message key of a role, for notifications.
func roleKey(role string) string { return missionviews.RoleKey(role) }
