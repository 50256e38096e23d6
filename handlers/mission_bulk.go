package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/mission"
	"violet/internal/missionread"
	"violet/views/missionpage"
)

// bulkForm is the overview's bulk bar: the ticked tests as "id:version"
// (the version the page showed), the action with its inputs, and the
// list's filter (view, a query string) to show afterwards.
type bulkForm struct {
	Test     []string `form:"test"`
	Action   string   `form:"action"`
	Reason   string   `form:"reason"`
	Category string   `form:"category_id"`
	Assignee string   `form:"assignee"`
	View     string   `form:"view"`
}

// optionalID reads an optional id field: "" is none; anything else
// must be an id, else the field is refused (422 next to it).
func optionalID(raw string) (*uuid.UUID, bool) {
	if raw = strings.TrimSpace(raw); raw == "" {
		return nil, true
	}
	id, err := uuid.Parse(raw)
	return &id, err == nil
}

// bulkMissionTests applies one action to the ticked tests
// (mission.Steps.Bulk) and answers with the list and the summary; input
// the action refuses comes back with 422, the selection and input kept.
func (s *Server) bulkMissionTests(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	var f bulkForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := mission.BulkInput{Action: f.Action, Reason: f.Reason}
	selected := make(map[string]bool, len(f.Test))
	for _, raw := range f.Test {
		id, v, ok := strings.Cut(raw, ":")
		testID, err := uuid.Parse(id)
		version, verr := strconv.Atoi(v)
		if !ok || err != nil || verr != nil {
			return echo.ErrBadRequest
		}
		in.Items = append(in.Items, mission.BulkItem{TestID: testID, Version: version})
		selected[testID.String()] = true
	}
	var badID string
	var ok bool
	if in.Category, ok = optionalID(f.Category); !ok {
		badID = "category"
	}
	if in.Assignee, ok = optionalID(f.Assignee); !ok {
		badID = "assignee"
	}
	view, err := url.ParseQuery(f.View)
	if err != nil {
		view = url.Values{}
	}
	ctx := c.Request().Context()
	var res mission.BulkResult
	if badID == "" {
		res, err = s.Steps.Bulk(ctx, a, in)
	} else {
		err = app.Invalidf(badID, "queues.bulk.choice_invalid")
	}
	errs, refused := invalidErrors(err)
	if err != nil && !refused {
		return err
	}
	p, err := s.overviewPage(ctx, a, overviewFilter(view))
	if err != nil {
		return err
	}
	if refused {
		p.BulkForm = missionpage.BulkForm{Action: f.Action, Reason: f.Reason, Category: f.Category, Assignee: f.Assignee,
			Selected: selected, Errors: errs, Key: errs[""]}
		return s.renderOverview(c, http.StatusUnprocessableEntity, p)
	}
	p.Bulk = missionread.BulkSummary(res)
	return s.renderOverview(c, http.StatusOK, p)
}
