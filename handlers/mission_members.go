package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/internal/mission"
	"violet/internal/paths"
	missionviews "violet/views/missions"
)

// memberForm is what the add form sends: the person and the role.
type memberForm struct {
	UserID string `form:"user_id"`
	Role   string `form:"role"`
	Q      string `form:"q"` // the search on screen, to show its results again
}

// memberRoleForm is what the role select sends.
type memberRoleForm struct {
	Role string `form:"role"`
}

// memberUserID reads the :user route parameter (malformed → 404).
func memberUserID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("user"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

// listMissionMembers renders a mission's members to any member (and
// mission.read_all); leads also get the search that adds people, whose
// results ?q= shows without JavaScript.
func (s *Server) listMissionMembers(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	d, err := mission.MembersPage(c.Request().Context(), s.Ent, a, c.QueryParam("q"))
	if err != nil {
		return err
	}
	return s.renderMembers(c, http.StatusOK, d)
}

// renderMembers renders the members page with status; htmx requests get
// only the member list, which is what member changes swap.
func (s *Server) renderMembers(c echo.Context, status int, d missionviews.MembersDetail) error {
	fragment := missionviews.MembersBlock(d.Members)
	if isPartial(c.Request()) {
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "missions.members.page_title", "nav.missions")
	lp.Title = d.Name + " · " + lp.Title
	return s.render(c, status, missionviews.MembersPage(lp, d), fragment)
}

// searchMemberCandidates answers the member search as you type with the
// results only; without htmx it is the members page with them.
func (s *Server) searchMemberCandidates(c echo.Context) error {
	if !isPartial(c.Request()) {
		return s.listMissionMembers(c)
	}
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	res, err := mission.MemberCandidates(c.Request().Context(), s.Ent, a, c.QueryParam("q"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, missionviews.CandidatesBlock(res), nil)
}

// changeMembers answers a member change (run, a workflow of
// mission.Service). htmx gets the member list back (200, or 422 with the
// reason when the rules refuse); a plain POST is redirected to the
// members page (303) or gets it with the reason (422). A viewer who took
// themselves off the mission is sent to the mission list. q is the member
// search on screen: after an htmx add its results come back too.
func (s *Server) changeMembers(c echo.Context, saved, q string, run func(ctx context.Context, a *mission.Access) error) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = run(ctx, a)
	status, notice, key := http.StatusOK, missionviews.NoticeSaved, saved
	if inv, ok := missionInvalid(err); ok {
		status, notice, key = http.StatusUnprocessableEntity, missionviews.NoticeError, inv.Key
	} else if errors.Is(err, mission.ErrBadRole) {
		return echo.ErrBadRequest
	} else if err != nil {
		return err
	}
	members := paths.URL(paths.MissionMembers, a.Mission.ID)
	// The change may have changed the viewer's own role: read it again.
	a, err = s.reloadMissionAccess(c)
	if ent.IsNotFound(err) {
		s.flash(c, "success", saved)
		if isPartial(c.Request()) {
			c.Response().Header().Set("HX-Redirect", paths.Missions)
			return c.NoContent(http.StatusOK)
		}
		return c.Redirect(http.StatusSeeOther, paths.Missions)
	}
	if err != nil {
		return err
	}
	if status == http.StatusOK && !isPartial(c.Request()) {
		s.flash(c, "success", saved)
		return c.Redirect(http.StatusSeeOther, members)
	}
	d, err := mission.MembersPage(ctx, s.Ent, a, "")
	if err != nil {
		return err
	}
	d.Members.Notice, d.Members.NoticeKey = notice, key
	if q = mission.MemberQuery(q); q != "" && status == http.StatusOK && isPartial(c.Request()) && d.Members.CanManage {
		cands, err := mission.MemberCandidates(ctx, s.Ent, a, q)
		if err != nil {
			return err
		}
		cands.OOB = true
		return s.render(c, status, missionviews.MembersAfterAdd(d.Members, cands), nil)
	}
	return s.renderMembers(c, status, d)
}

// addMissionMember gives an active user a role on the mission; a person
// is a member once (422 otherwise).
func (s *Server) addMissionMember(c echo.Context) error {
	var f memberForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	uid, err := uuid.Parse(f.UserID)
	if err != nil {
		return echo.ErrBadRequest
	}
	return s.changeMembers(c, "missions.members.added", f.Q, func(ctx context.Context, a *mission.Access) error {
		return s.missions().AddMember(ctx, a, uid, f.Role)
	})
}

// changeMemberRole gives a member another role; the last lead keeps it.
func (s *Server) changeMemberRole(c echo.Context) error {
	uid, err := memberUserID(c)
	if err != nil {
		return err
	}
	var f memberRoleForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	return s.changeMembers(c, "missions.members.role_changed", "", func(ctx context.Context, a *mission.Access) error {
		return s.missions().ChangeMemberRole(ctx, a, uid, f.Role)
	})
}

// removeMissionMember takes a person off the mission; the last lead stays.
func (s *Server) removeMissionMember(c echo.Context) error {
	uid, err := memberUserID(c)
	if err != nil {
		return err
	}
	return s.changeMembers(c, "missions.members.removed", "", func(ctx context.Context, a *mission.Access) error {
		return s.missions().RemoveMember(ctx, a, uid)
	})
}
