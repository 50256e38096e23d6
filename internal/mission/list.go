package mission

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	entmission "violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/internal/auth"
	"violet/internal/database"
	missionviews "violet/views/missions"
)

// ListFilter reads the mission list's query values (q, status, mine,
// deleted, page). Unknown values fall back to the defaults: the URL is
// often typed or shared.
func ListFilter(q, status, mine, deleted, page string) missionviews.Filter {
	f := missionviews.Filter{
		Q:       cutRunes(strings.TrimSpace(q), missionviews.NameMax),
		Mine:    mine == "1",
		Deleted: deleted == "1",
		Page:    1,
	}
	if slices.Contains(missionviews.Statuses(), status) {
		f.Status = status
	}
	if p, err := strconv.Atoi(page); err == nil && p > 1 {
		f.Page = p
	}
	return f
}

// cutRunes shortens s to at most n characters, cutting whole characters.
func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// List is the missions the viewer may see (the privacy policy narrows the
// query to their missions unless they hold mission.read_all), filtered
// and paged, with each mission's members, tests and progress: four
// queries whatever the page holds. The trash (deleted missions) is for
// viewers who may restore (ErrForbidden otherwise).
func List(ctx context.Context, client *ent.Client, f missionviews.Filter) (missionviews.List, error) {
	v := auth.FromContext(ctx)
	if v == nil || (f.Deleted && !v.Can(auth.TrashManage)) {
		return missionviews.List{}, ErrForbidden
	}
	q := client.Mission.Query()
	qctx := ctx
	if f.Deleted {
		qctx = schema.SkipSoftDelete(ctx)
		q.Where(entmission.DeletedAtNotNil())
	}
	if f.Q != "" {
		q.Where(entmission.NameContainsFold(f.Q))
	}
	if f.Status != "" {
		q.Where(entmission.StatusEQ(entmission.Status(f.Status)))
	}
	if f.Mine {
		q.Where(entmission.HasMembersWith(missionmember.UserID(v.UserID)))
	}
	total, err := q.Clone().Count(qctx)
	if err != nil {
		return missionviews.List{}, fmt.Errorf("count missions: %w", err)
	}
	pages := max(1, (total+missionviews.PageSize-1)/missionviews.PageSize)
	f.Page = min(f.Page, pages)
	missions, err := q.
		Order(entmission.ByCreatedAt(sql.OrderDesc()), entmission.ByID()).
		Offset((f.Page - 1) * missionviews.PageSize).
		Limit(missionviews.PageSize).
		All(qctx)
	if err != nil {
		return missionviews.List{}, fmt.Errorf("list missions: %w", err)
	}
	counts, err := listCounts(ctx, client, missions)
	if err != nil {
		return missionviews.List{}, err
	}
	l := missionviews.List{
		Filter: f, Total: total, Pages: pages,
		CanCreate: v.Can(auth.MissionCreate), CanTrash: v.Can(auth.TrashManage),
	}
	for _, m := range missions {
		n := counts[m.ID]
		l.Rows = append(l.Rows, missionviews.Row{
			ID: m.ID.String(), Name: m.Name, Status: string(m.Status), StartDate: m.StartDate, EndDate: m.EndDate,
			Members: n.members, Tests: n.tests, Executed: n.executed, Deleted: m.DeletedAt != nil, Labels: m.Labels,
		})
	}
	return l, nil
}

// listCount is what the list shows of one mission's size.
type listCount struct{ members, tests, executed int }

// listCounts counts the members of each mission and its tests by state in
// two grouped queries. Tests are counted through the privacy policy, so a
// blue member's count holds only the tests released to them.
func listCounts(ctx context.Context, client *ent.Client, missions []*ent.Mission) (map[uuid.UUID]listCount, error) {
	out := make(map[uuid.UUID]listCount, len(missions))
	if len(missions) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(missions))
	for i, m := range missions {
		ids[i] = m.ID
	}
	var members []struct {
		MissionID uuid.UUID `json:"mission_id"`
		Count     int       `json:"count"`
	}
	err := client.MissionMember.Query().Where(predicate.MissionMember(database.In(missionmember.FieldMissionID, ids))).
		GroupBy(missionmember.FieldMissionID).Aggregate(ent.Count()).Scan(ctx, &members)
	if err != nil {
		return nil, fmt.Errorf("count mission members: %w", err)
	}
	for _, r := range members {
		n := out[r.MissionID]
		n.members = r.Count
		out[r.MissionID] = n
	}
	var tests []struct {
		MissionID uuid.UUID `json:"mission_id"`
		State     string    `json:"state"`
		Count     int       `json:"count"`
	}
	err = client.MissionTest.Query().Where(predicate.MissionTest(database.In(missiontest.FieldMissionID, ids))).
		GroupBy(missiontest.FieldMissionID, missiontest.FieldState).Aggregate(ent.Count()).Scan(ctx, &tests)
	if err != nil {
		return nil, fmt.Errorf("count mission tests: %w", err)
	}
	for _, r := range tests {
		n := out[r.MissionID]
		n.tests += r.Count
		if r.State == string(missiontest.StateExecuted) || r.State == string(missiontest.StateReviewed) {
			n.executed += r.Count
		}
		out[r.MissionID] = n
	}
	return out, nil
}
