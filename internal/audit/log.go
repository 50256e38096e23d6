package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/identity"
	"violet/views/admin"
	"violet/views/components"
)

// day is the date format of the audit log's range filter (the value of an
// <input type="date">).
const day = "2006-01-02"

// Query is the audit log page's query string as typed. An unknown action
// or page falls back to the default, as the URL is often typed or shared;
// a date that cannot be read is reported next to its field and not
// applied.
type Query struct {
	Actor  string // part of the actor's email
	Action string // one of Actions(), anything else for any
	From   string // first day (YYYY-MM-DD, UTC), "" for no bound
	To     string // last day, included
	Page   int    // from 1; anything below is 1
}

// span is the filter's range as the query applies it: [from, to), in UTC;
// a zero time is no bound.
type span struct {
	from, to time.Time
}

// filter normalises q and reads its dates; errs names the dates that
// could not be used.
func filter(ctx context.Context, q Query) (admin.AuditFilter, span, components.Errors) {
	f := admin.AuditFilter{
		Actor:  strings.TrimSpace(q.Actor),
		Action: q.Action,
		From:   strings.TrimSpace(q.From),
		To:     strings.TrimSpace(q.To),
		Page:   max(q.Page, 1),
	}
	if len(f.Actor) > 254 {
		f.Actor = f.Actor[:254]
	}
	if !slices.Contains(Actions(), f.Action) {
		f.Action = ""
	}
	var r span
	errs := components.Errors{}
	if f.From != "" {
		d, err := time.ParseInLocation(day, f.From, i18n.Zone(ctx)) // the days the page shows its times in
		if err != nil {
			errs["from"] = "audit.filter.date_invalid"
		} else {
			r.from = d
		}
	}
	if f.To != "" {
		d, err := time.ParseInLocation(day, f.To, i18n.Zone(ctx))
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

// List reads one page of the audit log, newest first, filtered by q, as
// the audit page shows it. A filter value that cannot be used is left out
// and named in the list's Errors (the page answers 422 with the rest
// applied). The audit log has no privacy policy of its own: the route
// table and List's check of audit.read are what keep it from other
// viewers.
func List(ctx context.Context, client *ent.Client, q Query) (admin.AuditList, error) {
	if !auth.FromContext(ctx).Can(auth.AuditRead) {
		return admin.AuditList{}, fmt.Errorf("%w: the audit log needs audit.read", app.ErrForbidden)
	}
	f, r, errs := filter(ctx, q)
	query := client.AuditEvent.Query()
	if f.Actor != "" {
		query.Where(auditevent.ActorLabelContainsFold(f.Actor))
	}
	if f.Action != "" {
		query.Where(auditevent.Action(f.Action))
	}
	if !r.from.IsZero() {
		query.Where(auditevent.CreatedAtGTE(r.from))
	}
	if !r.to.IsZero() {
		query.Where(auditevent.CreatedAtLT(r.to))
	}
	total, err := query.Clone().Count(ctx)
	if err != nil {
		return admin.AuditList{}, fmt.Errorf("count audit events: %w", err)
	}
	pages := max(1, (total+admin.AuditPageSize-1)/admin.AuditPageSize)
	f.Page = min(f.Page, pages)
	events, err := query.
		Order(auditevent.ByCreatedAt(sql.OrderDesc()), auditevent.ByID(sql.OrderDesc())).
		Offset((f.Page - 1) * admin.AuditPageSize).
		Limit(admin.AuditPageSize).
		All(ctx)
	if err != nil {
		return admin.AuditList{}, fmt.Errorf("list audit events: %w", err)
	}
	l := admin.AuditList{Filter: f, Errors: errs, Actions: Actions(), Total: total, Pages: pages}
	for _, e := range events {
		row, err := rowOf(e)
		if err != nil {
			return admin.AuditList{}, err
		}
		l.Rows = append(l.Rows, row)
	}
	return l, nil
}

// rowOf is how the audit page shows an event: who acted (an account,
// nobody signed in, or Violet itself) and its details as labelled fields.
func rowOf(e *ent.AuditEvent) (admin.AuditRow, error) {
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
	details, err := detailsOf(e.Details)
	row.Details = details
	return row, err
}
