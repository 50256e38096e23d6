package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	entmission "violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/mission"
	"violet/views/components"
	missionviews "violet/views/missions"
)

// missionForm is what the mission form may set: the mission's own fields
// and, when editing, the version the page showed. Never its status,
// creator or members.
type missionForm struct {
	Name        string `form:"name"`
	Description string `form:"description"`
	Scope       string `form:"scope"`
	StartDate   string `form:"start_date"`
	EndDate     string `form:"end_date"`
	Version     string `form:"version"`
}

// missionStatusForm is the status box's button: the status to move to.
type missionStatusForm struct {
	To string `form:"to"`
}

// missionDateLayout is the format of a date input's value.
const missionDateLayout = "2006-01-02"

// missionListFilter reads the mission list's query string. Unknown values fall
// back to the defaults: the URL is often typed or shared.
func missionListFilter(c echo.Context) missionviews.Filter {
	f := missionviews.Filter{
		Q:       cutRunes(strings.TrimSpace(c.QueryParam("q")), missionviews.NameMax),
		Mine:    c.QueryParam("mine") == "1",
		Deleted: c.QueryParam("deleted") == "1",
		Page:    1,
	}
	if st := c.QueryParam("status"); slices.Contains(missionviews.Statuses(), st) {
		f.Status = st
	}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		f.Page = p
	}
	return f
}

// listMissions renders the missions the viewer may see (the privacy policy
// narrows the query to their missions unless they hold mission.read_all),
// filtered and paged, with each mission's members, tests and progress:
// four queries whatever the page holds. The trash (deleted missions) is
// for viewers who may restore. htmx requests get only the results.
func (s *Server) listMissions(c echo.Context) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	f := missionListFilter(c)
	if f.Deleted && !v.Can(auth.TrashManage) {
		return echo.ErrForbidden
	}
	q := s.Ent.Mission.Query()
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
		return fmt.Errorf("count missions: %w", err)
	}
	pages := max(1, (total+missionviews.PageSize-1)/missionviews.PageSize)
	f.Page = min(f.Page, pages)
	missions, err := q.
		Order(entmission.ByCreatedAt(sql.OrderDesc()), entmission.ByID()).
		Offset((f.Page - 1) * missionviews.PageSize).
		Limit(missionviews.PageSize).
		All(qctx)
	if err != nil {
		return fmt.Errorf("list missions: %w", err)
	}
	counts, err := s.missionCounts(ctx, missions)
	if err != nil {
		return err
	}
	l := missionviews.List{
		Filter: f, Total: total, Pages: pages,
		CanCreate: v.Can(auth.MissionCreate), CanTrash: v.Can(auth.TrashManage),
	}
	for _, m := range missions {
		n := counts[m.ID]
		l.Rows = append(l.Rows, missionviews.Row{
			ID: m.ID.String(), Name: m.Name, Status: string(m.Status), StartDate: m.StartDate, EndDate: m.EndDate,
			Members: n.members, Tests: n.tests, Executed: n.executed, Deleted: m.DeletedAt != nil,
		})
	}
	title := "missions.list.title"
	if f.Deleted {
		title = "missions.list.trash_title"
	}
	lp := s.layoutProps(c, title, "nav.missions")
	return s.render(c, http.StatusOK, missionviews.ListPage(lp, l), missionviews.Results(l))
}

// missionListCount is what the list shows of one mission's size.
type missionListCount struct{ members, tests, executed int }

// missionCounts counts the members of each mission and its tests by state
// in two grouped queries. Tests are counted through the privacy policy, so
// a blue member's count holds only the tests released to them.
func (s *Server) missionCounts(ctx context.Context, missions []*ent.Mission) (map[uuid.UUID]missionListCount, error) {
	out := make(map[uuid.UUID]missionListCount, len(missions))
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
	err := s.Ent.MissionMember.Query().Where(predicate.MissionMember(database.In(missionmember.FieldMissionID, ids))).
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
	err = s.Ent.MissionTest.Query().Where(predicate.MissionTest(database.In(missiontest.FieldMissionID, ids))).
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

// newMission renders the empty mission form.
func (s *Server) newMission(c echo.Context) error {
	return s.renderNewMission(c, http.StatusOK, missionviews.Form{})
}

// renderNewMission renders the new mission form with status (422 with
// errors).
func (s *Server) renderNewMission(c echo.Context, status int, f missionviews.Form) error {
	lp := s.layoutProps(c, "missions.form.new_title", "nav.missions")
	return s.render(c, status, missionviews.NewPage(lp, f), nil)
}

// checkMissionFields trims and validates the mission form, returning the
// dates it names (nil when empty).
func checkMissionFields(f *missionForm) (start, end *time.Time, errs components.Errors) {
	f.Name = strings.TrimSpace(f.Name)
	f.Description = strings.TrimSpace(f.Description)
	f.Scope = strings.TrimSpace(f.Scope)
	f.StartDate = strings.TrimSpace(f.StartDate)
	f.EndDate = strings.TrimSpace(f.EndDate)
	errs = components.Errors{}
	switch {
	case f.Name == "":
		errs["name"] = "form.required"
	case len(f.Name) > missionviews.NameMax:
		// The schema's MaxLen counts bytes: refuse here, next to the
		// field, what it would refuse with a 500.
		errs["name"] = "missions.form.name_too_long"
	}
	if utf8.RuneCountInString(f.Description) > missionviews.DescriptionMax {
		errs["description"] = "missions.form.too_long"
	}
	if utf8.RuneCountInString(f.Scope) > missionviews.ScopeMax {
		errs["scope"] = "missions.form.too_long"
	}
	parse := func(field, raw string) *time.Time {
		if raw == "" {
			return nil
		}
		t, err := time.Parse(missionDateLayout, raw)
		if err != nil || t.Year() < 1900 || t.Year() > 9999 {
			errs[field] = "missions.form.bad_date"
			return nil
		}
		return &t
	}
	start, end = parse("start_date", f.StartDate), parse("end_date", f.EndDate)
	if start != nil && end != nil && end.Before(*start) {
		errs["end_date"] = "missions.form.end_before_start"
	}
	return start, end, errs
}

// view shows a refused form again as the user sent it.
func (f missionForm) view(id string, version int, errs components.Errors) missionviews.Form {
	return missionviews.Form{ID: id, Name: f.Name, Description: f.Description, Scope: f.Scope,
		StartDate: f.StartDate, EndDate: f.EndDate, Version: version, Errors: errs}
}

// missionStoredForm is a mission's stored values as the form shows them.
func missionStoredForm(m *ent.Mission) missionviews.Form {
	day := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(missionDateLayout)
	}
	return missionviews.Form{ID: m.ID.String(), Name: m.Name, Description: m.Description, Scope: m.Scope,
		StartDate: day(m.StartDate), EndDate: day(m.EndDate), Version: m.Version}
}

// createMission creates a mission with its creator as lead, in one
// transaction with its audit event, and opens it.
func (s *Server) createMission(c echo.Context) error {
	var f missionForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	start, end, errs := checkMissionFields(&f)
	if len(errs) > 0 {
		return s.renderNewMission(c, http.StatusUnprocessableEntity, f.view("", 0, errs))
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	var m *ent.Mission
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		var err error
		m, err = tx.Mission.Create().
			SetName(f.Name).SetDescription(f.Description).SetScope(f.Scope).
			SetNillableStartDate(start).SetNillableEndDate(end).SetCreatedByID(v.UserID).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("create mission: %w", err)
		}
		if err := tx.MissionMember.Create().SetMissionID(m.ID).SetUserID(v.UserID).
			SetRole(missionmember.RoleLead).Exec(ctx); err != nil {
			return fmt.Errorf("make the creator lead: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionCreated, TargetType: "mission", TargetID: m.ID.String(), TargetLabel: m.Name,
		})
	})
	if err != nil {
		return err
	}
	s.flash(c, "success", "missions.form.created")
	return c.Redirect(http.StatusSeeOther, "/missions/"+m.ID.String())
}

// missionManageAccess loads the viewer's access to the route's mission and
// refuses (403) a member who does not manage it; a mission the viewer
// cannot see is 404.
func (s *Server) missionManageAccess(c echo.Context) (*mission.Access, error) {
	a, err := s.missionAccess(c)
	if err != nil {
		return nil, err
	}
	if !a.CanManage() {
		return nil, echo.ErrForbidden
	}
	return a, nil
}

// missionSettingsOf builds the settings page of a mission as stored.
func missionSettingsOf(a *mission.Access, v *auth.Viewer) missionviews.Settings {
	m := a.Mission
	st := missionviews.Settings{
		ID: m.ID.String(), Name: m.Name, Status: string(m.Status), Form: missionStoredForm(m),
		ReadOnly: a.Archived(), CanManage: a.CanManage(), CanTrash: v.Can(auth.TrashManage),
	}
	for _, n := range mission.Next(m.Status) {
		st.Next = append(st.Next, string(n))
	}
	return st
}

// renderMissionSettings renders a mission's settings page with status.
func (s *Server) renderMissionSettings(c echo.Context, status int, st missionviews.Settings) error {
	lp := s.layoutProps(c, "missions.form.settings_title", "nav.missions")
	lp.Title = st.Name + " · " + lp.Title
	return s.render(c, status, missionviews.SettingsPage(lp, st), nil)
}

// showMissionSettings renders the edit form, the status box and delete,
// for the mission's leads and holders of mission.manage.
func (s *Server) showMissionSettings(c echo.Context) error {
	a, err := s.missionManageAccess(c)
	if err != nil {
		return err
	}
	return s.renderMissionSettings(c, http.StatusOK, missionSettingsOf(a, auth.FromContext(c.Request().Context())))
}

// updateMissionSettings saves the mission's own fields if it is still at
// the version the form showed. Otherwise (someone saved since) it answers
// 409 with the user's input kept in the form, which now carries the
// current version, and the stored values shown beside it: nothing is
// overwritten unseen. An archived mission is read-only (409).
func (s *Server) updateMissionSettings(c echo.Context) error {
	a, err := s.missionManageAccess(c)
	if err != nil {
		return err
	}
	if a.Archived() {
		return mission.ErrReadOnly
	}
	var f missionForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := strconv.Atoi(strings.TrimSpace(f.Version))
	if err != nil || version < 1 {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	start, end, errs := checkMissionFields(&f)
	if len(errs) > 0 {
		st := missionSettingsOf(a, v)
		st.Form = f.view(st.ID, version, errs)
		return s.renderMissionSettings(c, http.StatusUnprocessableEntity, st)
	}
	m := a.Mission
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		upd := tx.Mission.UpdateOneID(m.ID).Where(entmission.Version(version)).
			SetName(f.Name).SetDescription(f.Description).SetScope(f.Scope).AddVersion(1)
		if start != nil {
			upd.SetStartDate(*start)
		} else {
			upd.ClearStartDate()
		}
		if end != nil {
			upd.SetEndDate(*end)
		} else {
			upd.ClearEndDate()
		}
		if err := upd.Exec(ctx); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionUpdated, TargetType: "mission", TargetID: m.ID.String(), TargetLabel: f.Name,
			Details: map[string]any{"version": version + 1},
		}); err != nil {
			return err
		}
		return s.announceMission(ctx, tx, a, live.KindMission)
	})
	if ent.IsNotFound(err) {
		// Stale (or deleted meanwhile): read the mission again.
		a, err := s.missionManageAccess(c)
		if err != nil {
			return err
		}
		st := missionSettingsOf(a, v)
		saved := st.Form
		st.Form = f.view(st.ID, a.Mission.Version, nil)
		st.Saved = &saved
		st.NoticeKey = "missions.form.stale"
		return s.renderMissionSettings(c, http.StatusConflict, st)
	}
	if err != nil {
		return fmt.Errorf("update mission: %w", err)
	}
	s.flash(c, "success", "missions.form.saved")
	return c.Redirect(http.StatusSeeOther, "/missions/"+m.ID.String()+"/settings")
}

// changeMissionStatus moves the mission to the status its button names,
// when the rules allow (mission.Transition), with its audit event. A
// refused move is 422 with the settings page and the reason; a move
// already made by someone else is 409.
func (s *Server) changeMissionStatus(c echo.Context) error {
	a, err := s.missionManageAccess(c)
	if err != nil {
		return err
	}
	var f missionStatusForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	if !slices.Contains(missionviews.Statuses(), f.To) {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	from := a.Mission.Status
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := mission.Transition(ctx, tx.Client(), a, entmission.Status(f.To)); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionStatusChanged, TargetType: "mission", TargetID: a.Mission.ID.String(),
			TargetLabel: a.Mission.Name, Details: map[string]any{"from": string(from), "to": f.To},
		}); err != nil {
			return err
		}
		return s.announceMissionStatus(ctx, tx, a, f.To)
	})
	var refused *mission.ErrTransition
	if errors.As(err, &refused) {
		a.Mission.Status = from
		st := missionSettingsOf(a, auth.FromContext(ctx))
		st.NoticeKey, st.NoticeArgs = transitionNotice(refused, missionviews.StatusLabel(ctx, f.To))
		return s.renderMissionSettings(c, http.StatusUnprocessableEntity, st)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "missions.status.changed")
	return c.Redirect(http.StatusSeeOther, "/missions/"+a.Mission.ID.String()+"/settings")
}

// transitionNotice turns a refused transition's reason into a message in
// the viewer's language (the workflow's reasons are English sentences).
// to is the target status's label.
func transitionNotice(e *mission.ErrTransition, to string) (string, []any) {
	switch r := e.Reason; {
	case r == "plan at least one test first":
		return "missions.status.need_tests", nil
	case r == "give the mission a lead first":
		return "missions.status.need_lead", nil
	case r == "add a red team member first":
		return "missions.status.need_red", nil
	case strings.Contains(r, "are not reviewed, skipped or blocked"):
		var n int
		if _, err := fmt.Sscanf(r, "%d", &n); err == nil {
			return "missions.status.open_tests", []any{"Count", n}
		}
	}
	return "missions.status.refused", []any{"Status", to}
}

// deleteMission moves a mission to the trash (leads and mission.manage),
// with its audit event; trash.manage restores it. The soft delete is a
// bulk update the privacy rules keep for the system, so it runs as the
// system after the check above.
func (s *Server) deleteMission(c echo.Context) error {
	a, err := s.missionManageAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := tx.Mission.DeleteOneID(a.Mission.ID).Exec(rule.SystemContext(ctx)); err != nil {
			return fmt.Errorf("delete mission: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionDeleted, TargetType: "mission", TargetID: a.Mission.ID.String(), TargetLabel: a.Mission.Name,
		})
	})
	if err != nil {
		return err
	}
	s.flash(c, "success", "missions.form.deleted_done")
	return c.Redirect(http.StatusSeeOther, "/missions")
}

// restoreMission takes a mission out of the trash. The viewer must still
// be able to see it (privacy on the request's context); a mission not in
// the trash is restored already (a second click).
func (s *Server) restoreMission(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m, err := s.Ent.Mission.Query().Where(entmission.ID(id)).Only(schema.SkipSoftDelete(ctx))
	if err != nil {
		return fmt.Errorf("load mission: %w", err)
	}
	if m.DeletedAt != nil {
		err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
			sys := schema.SkipSoftDelete(rule.SystemContext(ctx))
			if err := tx.Mission.Update().Where(entmission.ID(id), entmission.DeletedAtNotNil()).
				ClearDeletedAt().Exec(sys); err != nil {
				return fmt.Errorf("restore mission: %w", err)
			}
			return audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.MissionRestored, TargetType: "mission", TargetID: m.ID.String(), TargetLabel: m.Name,
			})
		})
		if err != nil {
			return err
		}
	}
	s.flash(c, "success", "missions.form.restored_done")
	return c.Redirect(http.StatusSeeOther, "/missions/"+id.String())
}
