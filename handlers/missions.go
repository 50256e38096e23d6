package handlers

import (
	"errors"
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	entmission "violet/ent/mission"
	"violet/internal/mission"
	"violet/internal/paths"
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
	// Tools are the checked tools in scope; ToolsShown says the form
	// showed them, so that none checked empties the scope.
	Tools      []string `form:"tools"`
	ToolsShown string   `form:"tools_shown"`
	Labels     string   `form:"labels"`
}

// input is the workflow's input, trimmed as it is stored and shown again.
func (f missionForm) input() mission.MissionInput {
	return mission.MissionInput{Name: f.Name, Description: f.Description, Scope: f.Scope,
		StartDate: f.StartDate, EndDate: f.EndDate, Tools: f.Tools, SetTools: f.ToolsShown != "", Labels: f.Labels}.Normalize()
}

// missionFormOf shows a refused form again as the user sent it, with the
// tools the stored form offers checked as the user checked them.
func missionFormOf(in mission.MissionInput, id string, version int, errs components.Errors, stored missionviews.Form) missionviews.Form {
	tools := stored.Tools
	if in.SetTools {
		tools = missionviews.CheckTools(tools, in.Tools)
	}
	return missionviews.Form{ID: id, Name: in.Name, Description: in.Description, Scope: in.Scope,
		StartDate: in.StartDate, EndDate: in.EndDate, Labels: in.Labels, Version: version, Errors: errs, Tools: tools, ToolsAdmin: stored.ToolsAdmin}
}

// missionStatusForm is the status box's button: the status to move to.
type missionStatusForm struct {
	To string `form:"to"`
}

// listMissions renders the missions the viewer may see, filtered and
// paged (mission.List); htmx requests get only the results.
func (s *Server) listMissions(c echo.Context) error {
	f := mission.ListFilter(c.QueryParam("q"), c.QueryParam("status"), c.QueryParam("mine"),
		c.QueryParam("deleted"), c.QueryParam("page"))
	l, err := mission.List(c.Request().Context(), s.Ent, f)
	if err != nil {
		return err
	}
	title := "missions.list.title"
	if f.Deleted {
		title = "missions.list.trash_title"
	}
	lp := s.layoutProps(c, title, "nav.missions")
	return s.render(c, http.StatusOK, missionviews.ListPage(lp, l), missionviews.Results(l))
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

// createMission creates a mission with its creator as lead and opens it.
func (s *Server) createMission(c echo.Context) error {
	var f missionForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := f.input()
	m, err := s.missions().Create(c.Request().Context(), in)
	if inv, ok := missionInvalid(err); ok {
		return s.renderNewMission(c, http.StatusUnprocessableEntity, missionFormOf(in, "", 0, inv.Fields, missionviews.Form{}))
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "missions.form.created")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Mission, m.ID))
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
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	st, err := mission.SettingsPage(c.Request().Context(), s.Ent, a)
	if err != nil {
		return err
	}
	return s.renderMissionSettings(c, http.StatusOK, st)
}

// updateMissionSettings saves the mission's own fields if it is still at
// the version the form showed. Otherwise (someone saved since) it answers
// 409 with the user's input kept in the form, which now carries the
// current version, and the stored values shown beside it: nothing is
// overwritten unseen. An archived mission is read-only (409).
func (s *Server) updateMissionSettings(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	var f missionForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	version, err := missionFormVersion(f.Version)
	if err != nil {
		return err
	}
	in := f.input()
	err = s.missions().Update(c.Request().Context(), a, version, in)
	inv, refused := missionInvalid(err)
	switch {
	case refused:
		st, err := mission.SettingsPage(c.Request().Context(), s.Ent, a)
		if err != nil {
			return err
		}
		st.Form = missionFormOf(in, st.ID, version, inv.Fields, st.Form)
		return s.renderMissionSettings(c, http.StatusUnprocessableEntity, st)
	case errors.Is(err, mission.ErrConflict):
		// Stale (or deleted meanwhile): read the mission again.
		a, err := s.reloadMissionAccess(c)
		if err != nil {
			return err
		}
		st, err := mission.SettingsPage(c.Request().Context(), s.Ent, a)
		if err != nil {
			return err
		}
		saved := st.Form
		st.Form, st.Saved, st.NoticeKey = missionFormOf(in, st.ID, a.Mission.Version, nil, saved), &saved, "missions.form.stale"
		return s.renderMissionSettings(c, http.StatusConflict, st)
	case err != nil:
		return err
	}
	s.flash(c, "success", "missions.form.saved")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.MissionSettings, a.Mission.ID))
}

// changeMissionStatus moves the mission to the status its button names,
// when the rules allow. A refused move is 422 with the settings page and
// the reason; a move already made by someone else is 409.
func (s *Server) changeMissionStatus(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	var f missionStatusForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil || !slices.Contains(missionviews.Statuses(), f.To) {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	err = s.missions().ChangeStatus(ctx, a, entmission.Status(f.To))
	var refused *mission.ErrTransition
	if errors.As(err, &refused) {
		st, err := mission.SettingsPage(c.Request().Context(), s.Ent, a)
		if err != nil {
			return err
		}
		st.NoticeKey, st.NoticeArgs = mission.TransitionNotice(ctx, refused, f.To)
		return s.renderMissionSettings(c, http.StatusUnprocessableEntity, st)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "missions.status.changed")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.MissionSettings, a.Mission.ID))
}

// deleteMission moves a mission to the trash (leads and mission.manage);
// trash.manage restores it.
func (s *Server) deleteMission(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	if err := s.missions().Delete(c.Request().Context(), a); err != nil {
		return err
	}
	s.flash(c, "success", "missions.form.deleted_done")
	return c.Redirect(http.StatusSeeOther, paths.Missions)
}

// restoreMission takes a mission out of the trash; a mission not in the
// trash is restored already (a second click).
func (s *Server) restoreMission(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	if err := s.missions().Restore(c.Request().Context(), id); err != nil {
		return err
	}
	s.flash(c, "success", "missions.form.restored_done")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Mission, id))
}
