// Package home is the read model of the home page: the viewer's missions,
// their open tests by role (the work queues), the recent activity on
// their missions and, for administrators, the instance's health and jobs.
//
// Everything is read with the viewer's context, so the privacy policies
// apply (a blue member never sees an unreleased test, nor its history), in
// a fixed number of statements whatever the number of missions and tests
// (docs/ARCHITECTURE.md, "Performance budgets"): one for the missions with
// their progress, their queue counts and the first tests of each queue,
// one for the activity; an administrator adds the Database card's probe
// and one statement per kind of job.
package home

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/ent/auditevent"
	"violet/ent/importjob"
	entmission "violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/user"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/health"
	"violet/internal/missionread"
	view "violet/views/home"
)

// RecentDays is how long a completed mission stays on home: long enough
// to write its report and answer questions about it, short enough that
// the list holds the work of now. Draft, planned and in-progress missions
// are always listed; archived ones never.
const RecentDays = 30

// jobsShown is how many jobs of each kind an administrator sees: the
// running ones are the newest, so this is the running ones and the last
// finished.
const jobsShown = 3

// Load reads the home page of the viewer in ctx, at now.
func Load(ctx context.Context, client *ent.Client, db *sql.DB, now time.Time) (view.Props, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return view.Props{}, fmt.Errorf("home needs a viewer")
	}
	p := view.Props{CanCreate: v.Can(auth.MissionCreate)}
	counts, err := loadMissions(ctx, client, v.UserID, now, &p)
	if err != nil {
		return p, err
	}
	for _, name := range []string{view.QueueRed, view.QueueBlue, view.QueueReview} {
		if q, ok := counts.queue(name, p.Missions, v.UserID); ok {
			p.Queues = append(p.Queues, q)
		}
	}
	if p.Activity, err = loadActivity(ctx, client, v.UserID); err != nil {
		return p, err
	}
	if v.Can(auth.SettingsManage) {
		if p.Admin, err = loadAdmin(ctx, client, db, v, now); err != nil {
			return p, err
		}
	}
	return p, nil
}

// queueRole is the mission role whose work a queue lists.
func queueRole(queue string) string {
	switch queue {
	case view.QueueRed:
		return rule.RoleRed
	case view.QueueBlue:
		return rule.RoleBlue
	default:
		return rule.RoleLead
	}
}

// missionLine is one row of the missions statement.
type missionLine struct {
	ID     uuid.UUID `json:"id"`
	Name   string    `json:"name"`
	Status string    `json:"status"`
	Role   *string   `json:"my_role"`
	Total  *int      `json:"total"`
	Done   *int      `json:"done"`
	Red    *int      `json:"red_open"`
	Blue   *int      `json:"blue_open"`
	Review *int      `json:"review_open"`
	// Queued is, on the first row only, the first QueueSize tests of each
	// of the viewer's queues (queueHeads).
	Queued []queuedTest `json:"queued"`
}

// queuedTest is one test at the head of a queue in the missions statement.
type queuedTest struct {
	ID         string    `json:"id"`
	MissionID  string    `json:"mission_id"`
	Role       string    `json:"role"` // the viewer's role in its mission: the queue it heads`
	Name       string    `json:"name"`
	State      string    `json:"state"`
	AssigneeID *string   `json:"assignee_id"`
	Since      time.Time `json:"since"`
	Tag        *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"tag"` // the first ATT&CK tag
}

// queueCounts are the open tests of each queue per mission, the first of
// them, and whether the viewer holds each queue's role in an in-progress
// mission.
type queueCounts struct {
	count map[string]map[string]int // queue → mission id → open tests
	rows  map[string][]queuedRow    // queue → its first tests
	held  map[string]bool           // queue → a role for it in an in-progress mission
}

// queuedRow is a queued test with the mission it belongs to.
type queuedRow struct {
	queuedTest
	missionID, missionName string
}

// queue is one of the viewer's queues: its total, its "see all" links and
// its QueueSize oldest tests across missions (each mission gave its own
// QueueSize oldest: the oldest of all are among them).
func (c queueCounts) queue(name string, missions []view.Mission, me uuid.UUID) (view.Queue, bool) {
	q := view.Queue{Name: name}
	for _, m := range missions {
		if n := c.count[name][m.ID]; n > 0 {
			q.Total += n
			q.PerMission = append(q.PerMission, view.QueueMission{ID: m.ID, Name: m.Name, Count: n})
		}
	}
	rows := c.rows[name]
	slices.SortFunc(rows, func(a, b queuedRow) int { return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.ID, b.ID)) })
	for _, r := range rows[:min(len(rows), view.QueueSize)] {
		var tagID, tagName string
		if r.Tag != nil {
			tagID, tagName = r.Tag.ID, r.Tag.Name
		}
		q.Rows = append(q.Rows, view.QueueRow{AttackID: tagID, AttackName: tagName,
			ID: r.ID, MissionID: r.missionID, MissionName: r.missionName, Name: r.Name,
			State:    r.State,
			Assigned: r.AssigneeID != nil && *r.AssigneeID == me.String(),
		})
	}
	return q, c.held[name]
}

// statusOrder lists the missions where the work is first.
var statusOrder = map[string]int{
	string(entmission.StatusInProgress): 0, string(entmission.StatusPlanned): 1,
	string(entmission.StatusDraft): 2, string(entmission.StatusCompleted): 3,
}

// loadMissions reads the viewer's missions with their progress, the size
// of each queue and the first tests of the queue of their role (queued) in
// one statement. The tests are counted by a grouped subquery that repeats
// the mission test privacy rule for members (internal/auth/rule
// visibleTests): a blue member counts only the released tests; the blue
// queue holds released tests only anyway.
func loadMissions(ctx context.Context, client *ent.Client, me uuid.UUID, now time.Time, p *view.Props) (queueCounts, error) {
	mine := entsql.Select(missionmember.FieldMissionID, missionmember.FieldRole).
		From(entsql.Table(missionmember.Table)).
		Where(entsql.EQ(missionmember.FieldUserID, me)).As("me")
	t := entsql.Table(missiontest.Table).As("t")
	m2 := entsql.Table(missionmember.Table).As("m2")
	open := func(role, cond string) string {
		return "count(*) FILTER (WHERE m2.role = '" + role + "' AND " + cond + ")"
	}
	tests := entsql.Select(t.C(missiontest.FieldMissionID),
		entsql.As("count(*)", "total"),
		entsql.As("count(*) FILTER (WHERE t.state IN ('reviewed', 'skipped', 'blocked'))", "done"),
		entsql.As(open(rule.RoleRed, missionread.ToRunSQL("t")+" AND (t.assignee_id IS NULL OR t.assignee_id = m2.user_id)"), "red_open"),
		entsql.As(open(rule.RoleBlue, missionread.AwaitingBlueSQL("t")), "blue_open"),
		entsql.As(open(rule.RoleLead, missionread.AwaitingReviewSQL("t")), "review_open")).
		From(t).
		Join(m2).On(t.C(missiontest.FieldMissionID), m2.C(missionmember.FieldMissionID)).
		Where(entsql.And(
			entsql.EQ(m2.C(missionmember.FieldUserID), me),
			entsql.IsNull(t.C(missiontest.FieldDeletedAt)),
			entsql.Or(entsql.NEQ(m2.C(missionmember.FieldRole), rule.RoleBlue), entsql.EQ(t.C(missiontest.FieldReleasedToBlue), true)),
		)).
		GroupBy(t.C(missiontest.FieldMissionID)).As("c")
	col := func(expr, as string) ent.AggregateFunc {
		return func(*entsql.Selector) string { return entsql.As(expr, as) }
	}
	join := func(s *entsql.Selector) string {
		s.Join(mine).On(s.C(entmission.FieldID), mine.C(missionmember.FieldMissionID))
		s.AppendSelectExprAs(queueHeads(me), "queued")
		s.LeftJoin(tests).On(s.C(entmission.FieldID), tests.C(missiontest.FieldMissionID))
		return entsql.As(mine.C(missionmember.FieldRole), "my_role")
	}
	var lines []missionLine
	err := client.Mission.Query().
		Where(entmission.Or(
			entmission.StatusIn(entmission.StatusDraft, entmission.StatusPlanned, entmission.StatusInProgress),
			entmission.And(entmission.StatusEQ(entmission.StatusCompleted), entmission.UpdatedAtGTE(now.AddDate(0, 0, -RecentDays))),
		)).
		Select(entmission.FieldID, entmission.FieldName, entmission.FieldStatus).
		Aggregate(join, col("coalesce(c.total, 0)", "total"), col("coalesce(c.done, 0)", "done"),
			col("coalesce(c.red_open, 0)", "red_open"), col("coalesce(c.blue_open, 0)", "blue_open"),
			col("coalesce(c.review_open, 0)", "review_open")).
		Scan(ctx, &lines)
	if err != nil {
		return queueCounts{}, fmt.Errorf("load my missions: %w", err)
	}
	slices.SortFunc(lines, func(a, b missionLine) int {
		return cmp.Or(cmp.Compare(statusOrder[a.Status], statusOrder[b.Status]), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.ID.String(), b.ID.String()))
	})
	c := queueCounts{count: map[string]map[string]int{}, rows: map[string][]queuedRow{}, held: map[string]bool{}}
	for _, l := range lines {
		m := view.Mission{ID: l.ID.String(), Name: l.Name, Status: l.Status, Role: deref(l.Role), Total: deref(l.Total), Done: deref(l.Done)}
		p.Missions = append(p.Missions, m)
		if l.Status != string(entmission.StatusInProgress) {
			continue // queues hold the work of missions in progress only
		}
		for queue, n := range map[string]int{view.QueueRed: deref(l.Red), view.QueueBlue: deref(l.Blue), view.QueueReview: deref(l.Review)} {
			if m.Role == queueRole(queue) {
				c.held[queue] = true
				if c.count[queue] == nil {
					c.count[queue] = map[string]int{}
				}
				c.count[queue][m.ID] = n
			}
		}
	}
	names := make(map[string]string, len(p.Missions))
	for _, m := range p.Missions {
		names[m.ID] = m.Name
	}
	queueOf := map[string]string{rule.RoleRed: view.QueueRed, rule.RoleBlue: view.QueueBlue, rule.RoleLead: view.QueueReview}
	for _, l := range lines {
		for _, t := range l.Queued {
			q := queueOf[t.Role]
			c.rows[q] = append(c.rows[q], queuedRow{queuedTest: t, missionID: t.MissionID, missionName: names[t.MissionID]})
		}
	}
	return c, nil
}

// queueHeads is the column of the QueueSize oldest open tests of each of
// the viewer's queues, over the in-progress missions where they hold its
// role, as one JSON array. It is one value for the whole statement, so the
// first row alone carries it (the others hold NULL): PostgreSQL computes
// the subquery once, as the separate statement it replaces did. Each queue
// has its own "oldest": when a test was added for the red team, when it
// was run for blue, when it ended for the review.
func queueHeads(me uuid.UUID) *entsql.Predicate {
	const t = "qt"
	since := "CASE qm.role" +
		" WHEN '" + rule.RoleRed + "' THEN qt.created_at" +
		" WHEN '" + rule.RoleBlue + "' THEN coalesce(qt.ended_at, qt.started_at, qt.created_at)" +
		" ELSE coalesce(qt.ended_at, qt.created_at) END"
	return entsql.P(func(b *entsql.Builder) {
		b.WriteString("CASE WHEN row_number() OVER () = 1 THEN (" +
			"SELECT json_agg(json_build_object('id', q.id, 'mission_id', q.mission_id, 'role', q.role, 'name', q.name, " +
			"'state', q.state, 'assignee_id', q.assignee_id, 'since', q.since, " +
			"'tag', " + firstTagSQL("q.id", "json_build_object('id', g.external_id, 'name', g.name)") + ") " +
			"ORDER BY q.role, q.since, q.id) FROM (" +
			"SELECT qt.id, qt.mission_id, qm.role, qt.name, qt.state, qt.assignee_id, " + since + " AS since, " +
			"row_number() OVER (PARTITION BY qm.role ORDER BY " + since + ", qt.id) AS n " +
			"FROM " + missiontest.Table + " qt " +
			"JOIN " + missionmember.Table + " qm ON qm.mission_id = qt.mission_id AND qm.user_id = ").Arg(me).
			WriteString(" JOIN " + entmission.Table + " qms ON qms.id = qt.mission_id AND qms.status = '" +
				entmission.StatusInProgress.String() + "' AND qms.deleted_at IS NULL " +
				"WHERE qt.deleted_at IS NULL AND (" +
				"(qm.role = '" + rule.RoleRed + "' AND " + missionread.ToRunSQL(t) +
				" AND (qt.assignee_id IS NULL OR qt.assignee_id = qm.user_id)) OR " +
				"(qm.role = '" + rule.RoleBlue + "' AND " + missionread.AwaitingBlueSQL(t) + ") OR " +
				"(qm.role = '" + rule.RoleLead + "' AND " + missionread.AwaitingReviewSQL(t) + "))" +
				") q WHERE q.n <= " + strconv.Itoa(view.QueueSize) + ") END")
	})
}

// firstTagSQL is an expression of the first ATT&CK tag (by ID, the table
// g) of the test whose id is in column idCol.
func firstTagSQL(idCol, expr string) string {
	return "(SELECT " + expr + " FROM " + missiontestmitretag.Table + " g WHERE g.mission_test_id = " + idCol +
		" ORDER BY g.external_id, g.id LIMIT 1)"
}

// firstTag is a column with a field of the first ATT&CK tag (by ID) of the
// test whose id is in column idCol.
func firstTag(idCol, as, field string) ent.AggregateFunc {
	return func(*entsql.Selector) string { return entsql.As(firstTagSQL(idCol, "g."+field), as) }
}

// activityLine is one row of the activity statement.
type activityLine struct {
	ent.AuditEvent
	ActorName   *string    `json:"actor_name"`
	MissionID   *uuid.UUID `json:"mission_uuid"`
	MissionName *string    `json:"mission_name"`
	TagID       *string    `json:"tag_id"`
}

// loadActivity reads the last ActivitySize audit events about the
// viewer's missions and their tests. The audit log's privacy policy
// narrows it for viewers without audit.read to the history of the tests
// they may see: for them, the activity is the tests' steps.
func loadActivity(ctx context.Context, client *ent.Client, me uuid.UUID) ([]view.Event, error) {
	myMissions := entsql.Select(missionmember.FieldMissionID).From(entsql.Table(missionmember.Table)).
		Where(entsql.EQ(missionmember.FieldUserID, me))
	mt := entsql.Table(missiontest.Table).As("mt")
	myTests := entsql.Select("CAST(" + mt.C(missiontest.FieldID) + " AS text)").From(mt).
		Where(entsql.In(mt.C(missiontest.FieldMissionID), myMissions))
	myMissionIDs := entsql.Select("CAST(" + missionmember.FieldMissionID + " AS text)").From(entsql.Table(missionmember.Table)).
		Where(entsql.EQ(missionmember.FieldUserID, me))
	t := entsql.Table(missiontest.Table).As("at")
	u := entsql.Table(user.Table).As("au")
	m := entsql.Table(entmission.Table).As("am")
	join := func(s *entsql.Selector) string {
		// The cast is on the audit side, inside the CASE, so the join
		// uses mission_tests' primary key (casting the key to text would
		// not).
		s.LeftJoin(t).OnP(entsql.ExprP(t.C(missiontest.FieldID) + " = CASE WHEN " + s.C(auditevent.FieldTargetType) +
			" = 'mission_test' THEN CAST(" + s.C(auditevent.FieldTargetID) + " AS uuid) END"))
		s.LeftJoin(u).On(s.C(auditevent.FieldActorID), u.C(user.FieldID))
		s.LeftJoin(m).OnP(entsql.ExprP(m.C(entmission.FieldID) + " = CASE WHEN " + s.C(auditevent.FieldTargetType) +
			" = 'mission' THEN CAST(" + s.C(auditevent.FieldTargetID) + " AS uuid) ELSE " + t.C(missiontest.FieldMissionID) + " END"))
		return entsql.As(u.C(user.FieldDisplayName), "actor_name")
	}
	col := func(expr, as string) ent.AggregateFunc {
		return func(*entsql.Selector) string { return entsql.As(expr, as) }
	}
	var lines []activityLine
	err := client.AuditEvent.Query().
		Where(func(s *entsql.Selector) {
			s.Where(entsql.Or(
				entsql.And(entsql.EQ(s.C(auditevent.FieldTargetType), "mission_test"), entsql.In(s.C(auditevent.FieldTargetID), myTests)),
				entsql.And(entsql.EQ(s.C(auditevent.FieldTargetType), "mission"), entsql.In(s.C(auditevent.FieldTargetID), myMissionIDs)),
			))
		}).
		Order(auditevent.ByCreatedAt(entsql.OrderDesc()), auditevent.ByID(entsql.OrderDesc())).
		Limit(view.ActivitySize).
		Select(auditevent.FieldID, auditevent.FieldCreatedAt, auditevent.FieldActorLabel, auditevent.FieldAction,
			auditevent.FieldTargetType, auditevent.FieldTargetID, auditevent.FieldTargetLabel).
		Aggregate(join, col(m.C(entmission.FieldID), "mission_uuid"), col(m.C(entmission.FieldName), "mission_name"),
			firstTag(t.C(missiontest.FieldID), "tag_id", "external_id")).
		Scan(ctx, &lines)
	if err != nil {
		return nil, fmt.Errorf("load recent activity: %w", err)
	}
	out := make([]view.Event, len(lines))
	for i, l := range lines {
		e := view.Event{
			Time: l.CreatedAt, Actor: cmp.Or(deref(l.ActorName), l.ActorLabel), Action: l.Action, Target: l.TargetLabel,
			AttackID: deref(l.TagID), MissionName: deref(l.MissionName),
		}
		if l.MissionID != nil {
			e.MissionID = l.MissionID.String()
		}
		if l.TargetType == "mission_test" {
			e.TestID = l.TargetID
		}
		out[i] = e
	}
	return out, nil
}

// loadAdmin reads the Database card and the latest jobs of each kind the
// viewer may read. An unreachable database is the card's state to show,
// not an error of the page.
func loadAdmin(ctx context.Context, client *ent.Client, db *sql.DB, v *auth.Viewer, now time.Time) (*view.Admin, error) {
	card, _ := health.Card(ctx, db, func() time.Time { return now })
	a := &view.Admin{Card: card}
	if v.Can(auth.AttackSync) {
		syncs, err := client.AttackSync.Query().
			Order(attacksync.ByCreatedAt(entsql.OrderDesc()), attacksync.ByID()).Limit(jobsShown).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load ATT&CK syncs: %w", err)
		}
		for _, j := range syncs {
			a.Jobs = append(a.Jobs, view.Job{ID: j.ID.String(), Kind: view.JobAttackSync, Source: j.Source,
				Status: string(j.Status), Progress: j.Progress, Started: j.CreatedAt, Finished: j.FinishedAt})
		}
	}
	if v.Can(auth.TemplateWrite) {
		imports, err := client.ImportJob.Query().
			Order(importjob.ByCreatedAt(entsql.OrderDesc()), importjob.ByID()).Limit(jobsShown).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load library imports: %w", err)
		}
		for _, j := range imports {
			a.Jobs = append(a.Jobs, view.Job{ID: j.ID.String(), Kind: view.JobLibraryImport, Source: j.Source,
				Status: string(j.Status), Progress: j.Progress, Started: j.CreatedAt, Finished: j.FinishedAt})
		}
	}
	slices.SortStableFunc(a.Jobs, func(x, y view.Job) int { return y.Started.Compare(x.Started) })
	return a, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
