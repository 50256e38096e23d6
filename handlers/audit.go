package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/labstack/echo/v4"

	"violet/ent/auditevent"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/identity"
	"violet/views/admin"
	"violet/views/components"
)

// auditDay is the date format of the audit log's range filter (the value
// of an <input type="date">).
const auditDay = "2006-01-02"

// auditRange is the audit log's filter as the query applies it: the
// range is [from, to), in UTC; a zero time is no bound.
type auditRange struct {
	from, to time.Time
}

// auditFilter reads the audit log's query string. An unknown action or
// page falls back to the default, as the URL is often typed or shared; a
// date that cannot be read is reported next to its field and not applied.
func auditFilter(c echo.Context) (admin.AuditFilter, auditRange, components.Errors) {
	f := admin.AuditFilter{
		Actor:  strings.TrimSpace(c.QueryParam("actor")),
		Action: c.QueryParam("action"),
		From:   strings.TrimSpace(c.QueryParam("from")),
		To:     strings.TrimSpace(c.QueryParam("to")),
		Page:   1,
	}
	if len(f.Actor) > 254 {
		f.Actor = f.Actor[:254]
	}
	if !slices.Contains(audit.Actions(), f.Action) {
		f.Action = ""
	}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		f.Page = p
	}
	var r auditRange
	errs := components.Errors{}
	if f.From != "" {
		d, err := time.Parse(auditDay, f.From)
		if err != nil {
			errs["from"] = "audit.filter.date_invalid"
		} else {
			r.from = d
		}
	}
	if f.To != "" {
		d, err := time.Parse(auditDay, f.To)
		if err != nil {
			errs["to"] = "audit.filter.date_invalid"
		} else {
			r.to = d.AddDate(0, 0, 1) // the last day is included
		}
	}
	if !r.from.IsZero() && !r.to.IsZero() && !r.to.After(r.from) {
		errs["to"] = "audit.filter.range_invalid"
		r.to = time.Time{}
	}
	return f, r, errs
}

// listAuditEvents renders the audit log, newest first, filtered and paged.
// A filter that cannot be used answers 422 with the reason next to the
// field and the rest of the filter applied. htmx requests get only the
// results.
func (s *Server) listAuditEvents(c echo.Context) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	if !v.Can(auth.AuditRead) {
		// The audit log has no privacy policy of its own: the route table
		// and this check are what keep it from other viewers.
		return echo.ErrForbidden
	}
	f, r, errs := auditFilter(c)

	q := s.Ent.AuditEvent.Query()
	if f.Actor != "" {
		q.Where(auditevent.ActorLabelContainsFold(f.Actor))
	}
	if f.Action != "" {
		q.Where(auditevent.Action(f.Action))
	}
	if !r.from.IsZero() {
		q.Where(auditevent.CreatedAtGTE(r.from))
	}
	if !r.to.IsZero() {
		q.Where(auditevent.CreatedAtLT(r.to))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return fmt.Errorf("count audit events: %w", err)
	}
	pages := max(1, (total+admin.AuditPageSize-1)/admin.AuditPageSize)
	f.Page = min(f.Page, pages)
	events, err := q.
		Order(auditevent.ByCreatedAt(sql.OrderDesc()), auditevent.ByID(sql.OrderDesc())).
		Offset((f.Page - 1) * admin.AuditPageSize).
		Limit(admin.AuditPageSize).
		All(ctx)
	if err != nil {
		return fmt.Errorf("list audit events: %w", err)
	}

	l := admin.AuditList{Filter: f, Errors: errs, Actions: audit.Actions(), Total: total, Pages: pages}
	for _, e := range events {
		row := admin.AuditRow{
			ID: e.ID.String(), Time: e.CreatedAt, Actor: e.ActorLabel, Action: e.Action,
			TargetType: e.TargetType, TargetID: e.TargetID, TargetLabel: e.TargetLabel, IP: e.IP,
		}
		switch {
		case e.ActorID != nil:
			row.ActorKind, row.ActorMixed = admin.ActorUser, identity.EmailMixedScript(e.ActorLabel)
		case e.RequestID != "" || e.IP != "":
			row.ActorKind = admin.ActorAnonymous
		default:
			row.ActorKind = admin.ActorSystem
		}
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return fmt.Errorf("show audit details: %w", err)
			}
			row.Details = string(b)
		}
		l.Rows = append(l.Rows, row)
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusUnprocessableEntity
	}
	lp := s.layoutProps(c, "audit.title", "nav.admin")
	return s.render(c, status, admin.AuditPage(lp, adminTabs(v, "/admin/audit"), l), admin.AuditResults(l))
}
