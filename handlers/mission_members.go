package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/internal/identity"
	"violet/internal/live"
	"violet/internal/mission"
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

// memberRefusal is a member change the rules refuse, shown next to the
// list (422) with its i18n key.
type memberRefusal struct{ key string }

func (r memberRefusal) Error() string { return r.key }

// memberUserID reads the :user route parameter (malformed → 404).
func memberUserID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("user"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

// memberQuery reads the member search box.
func memberQuery(c echo.Context) string {
	return cutRunes(strings.TrimSpace(c.QueryParam("q")), 254)
}

// listMissionMembers renders a mission's members to any member (and
// mission.read_all); leads also get the search that adds people, whose
// results ?q= shows without JavaScript.
func (s *Server) listMissionMembers(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := s.membersDetail(ctx, a)
	if err != nil {
		return err
	}
	if q := memberQuery(c); q != "" && d.Members.CanManage {
		if d.Candidates, err = s.memberCandidates(ctx, a, q); err != nil {
			return err
		}
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

// membersDetail loads a mission's members with their users (two queries),
// by name.
func (s *Server) membersDetail(ctx context.Context, a *mission.Access) (missionviews.MembersDetail, error) {
	id := a.Mission.ID.String()
	d := missionviews.MembersDetail{
		ID: id, Name: a.Mission.Name, CanManage: a.CanManage(),
		Members:    missionviews.Members{MissionID: id, CanManage: a.CanManage() && !a.Archived()},
		Candidates: missionviews.Candidates{MissionID: id},
	}
	members, err := s.Ent.MissionMember.Query().Where(missionmember.MissionID(a.Mission.ID)).
		WithUser().All(ctx)
	if err != nil {
		return d, fmt.Errorf("load members: %w", err)
	}
	for _, m := range members {
		row := missionviews.Member{UserID: m.UserID.String(), Role: string(m.Role), Self: m.UserID == a.Viewer.UserID}
		if u := m.Edges.User; u != nil {
			row.Name, row.Email = u.DisplayName, u.Email
			row.MixedName, row.MixedEmail = identity.MixedScript(u.DisplayName), identity.EmailMixedScript(u.Email)
		}
		d.Members.Rows = append(d.Members.Rows, row)
	}
	slices.SortFunc(d.Members.Rows, func(x, y missionviews.Member) int {
		return cmp.Or(cmp.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)), cmp.Compare(x.Email, y.Email))
	})
	return d, nil
}

// memberCandidates finds active users, not members yet, whose name or
// email holds q (one query).
func (s *Server) memberCandidates(ctx context.Context, a *mission.Access, q string) (missionviews.Candidates, error) {
	out := missionviews.Candidates{MissionID: a.Mission.ID.String(), Query: q}
	if q == "" {
		return out, nil
	}
	users, err := s.Ent.User.Query().
		Where(user.IsActive(true), user.Or(user.DisplayNameContainsFold(q), user.EmailContainsFold(q)),
			user.Not(user.HasMembershipsWith(missionmember.MissionID(a.Mission.ID)))).
		Order(user.ByDisplayName(), user.ByEmail()).
		Limit(missionviews.CandidateLimit + 1).
		All(ctx)
	if err != nil {
		return out, fmt.Errorf("search users: %w", err)
	}
	if len(users) > missionviews.CandidateLimit {
		users, out.More = users[:missionviews.CandidateLimit], true
	}
	for _, u := range users {
		out.Hits = append(out.Hits, missionviews.Candidate{ID: u.ID.String(), Name: u.DisplayName, Email: u.Email,
			MixedName: identity.MixedScript(u.DisplayName), MixedEmail: identity.EmailMixedScript(u.Email)})
	}
	return out, nil
}

// searchMemberCandidates answers the member search as you type with the
// results only; without htmx it is the members page with them.
func (s *Server) searchMemberCandidates(c echo.Context) error {
	if !isPartial(c.Request()) {
		return s.listMissionMembers(c)
	}
	a, err := s.missionManageAccess(c)
	if err != nil {
		return err
	}
	if a.Archived() {
		return mission.ErrReadOnly
	}
	res, err := s.memberCandidates(c.Request().Context(), a, memberQuery(c))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, missionviews.CandidatesBlock(res), nil)
}

// changeMembers runs one member change in a transaction with its audit
// event (run returns the event). htmx gets the member list back (200, or
// 422 with the reason when the rules refuse); a plain POST is redirected
// to the members page (303) or gets it with the reason (422). A viewer who
// took themselves off the mission is sent to the mission list. q is the
// member search on screen: after an htmx add its results come back too.
func (s *Server) changeMembers(c echo.Context, saved, q string,
	run func(ctx context.Context, tx *ent.Tx, a *mission.Access) (audit.Event, error)) error {
	a, err := s.missionManageAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		e, err := run(ctx, tx, a)
		if err != nil {
			return err
		}
		e.TargetType, e.TargetID, e.TargetLabel = "mission", a.Mission.ID.String(), a.Mission.Name
		if err := audit.Record(ctx, tx.AuditEvent, e); err != nil {
			return err
		}
		return s.announceMission(ctx, tx, a, live.KindMembers)
	})
	status, notice, key := http.StatusOK, missionviews.NoticeSaved, saved
	var refused memberRefusal
	switch {
	case errors.Is(err, mission.ErrLastLead):
		status, notice, key = http.StatusUnprocessableEntity, missionviews.NoticeError, "missions.members.last_lead"
	case errors.Is(err, mission.ErrAlreadyMember):
		status, notice, key = http.StatusUnprocessableEntity, missionviews.NoticeError, "missions.members.already"
	case errors.Is(err, mission.ErrBadRole):
		return echo.ErrBadRequest
	case errors.As(err, &refused):
		status, notice, key = http.StatusUnprocessableEntity, missionviews.NoticeError, refused.key
	case err != nil:
		return err
	}
	base := "/missions/" + a.Mission.ID.String()
	// The change may have changed the viewer's own role: read it again.
	a, err = s.missionAccess(c)
	if ent.IsNotFound(err) {
		s.flash(c, "success", saved)
		if isPartial(c.Request()) {
			c.Response().Header().Set("HX-Redirect", "/missions")
			return c.NoContent(http.StatusOK)
		}
		return c.Redirect(http.StatusSeeOther, "/missions")
	}
	if err != nil {
		return err
	}
	if status == http.StatusOK && !isPartial(c.Request()) {
		s.flash(c, "success", saved)
		return c.Redirect(http.StatusSeeOther, base+"/members")
	}
	d, err := s.membersDetail(ctx, a)
	if err != nil {
		return err
	}
	d.Members.Notice, d.Members.NoticeKey = notice, key
	if q = cutRunes(strings.TrimSpace(q), 254); q != "" && status == http.StatusOK && isPartial(c.Request()) && d.Members.CanManage {
		cands, err := s.memberCandidates(ctx, a, q)
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
	return s.changeMembers(c, "missions.members.added", f.Q,
		func(ctx context.Context, tx *ent.Tx, a *mission.Access) (audit.Event, error) {
			m, err := mission.AddMember(ctx, tx.Client(), a, uid, f.Role)
			if ent.IsNotFound(err) {
				return audit.Event{}, memberRefusal{"missions.members.user_missing"}
			}
			if err != nil {
				return audit.Event{}, err
			}
			if err := s.announceMemberAdded(ctx, tx, a, uid, string(m.Role)); err != nil {
				return audit.Event{}, err
			}
			return audit.Event{Action: audit.MissionMemberAdded,
				Details: map[string]any{"user": s.memberLabel(ctx, tx, uid), "role": string(m.Role)}}, nil
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
	return s.changeMembers(c, "missions.members.role_changed", "",
		func(ctx context.Context, tx *ent.Tx, a *mission.Access) (audit.Event, error) {
			m, old, err := mission.ChangeRole(ctx, tx.Client(), a, uid, f.Role)
			if err != nil {
				return audit.Event{}, err
			}
			return audit.Event{Action: audit.MissionMemberChanged,
				Details: map[string]any{"user": s.memberLabel(ctx, tx, uid), "from": old, "to": string(m.Role)}}, nil
		})
}

// removeMissionMember takes a person off the mission; the last lead stays.
func (s *Server) removeMissionMember(c echo.Context) error {
	uid, err := memberUserID(c)
	if err != nil {
		return err
	}
	return s.changeMembers(c, "missions.members.removed", "",
		func(ctx context.Context, tx *ent.Tx, a *mission.Access) (audit.Event, error) {
			m, err := mission.RemoveMember(ctx, tx.Client(), a, uid)
			if err != nil {
				return audit.Event{}, err
			}
			return audit.Event{Action: audit.MissionMemberRemoved,
				Details: map[string]any{"user": s.memberLabel(ctx, tx, uid), "role": string(m.Role)}}, nil
		})
}

// memberLabel names a user in an audit event: their email, or their id.
func (s *Server) memberLabel(ctx context.Context, tx *ent.Tx, id uuid.UUID) string {
	if u, err := tx.User.Get(ctx, id); err == nil {
		return u.Email
	}
	return id.String()
}
