package invite

import (
	"context"
	"slices"
	"strconv"
	"time"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/invitation"
	"violet/internal/i18n"
	"violet/views/admin"
)

// PageSize is how many invitations the list shows per page.
const PageSize = 50

// ListQuery is the list's query string: a status of admin.InvitationStatuses
// (anything else is "all") and a page from 1 (out of range is clamped).
type ListQuery struct {
	Status string
	Page   int
}

// NewForm is the empty create form, with the default expiry.
func NewForm(ctx context.Context, client *ent.Client) (admin.InvitationForm, error) {
	expiry, err := DefaultExpiryOf(ctx, client)
	if err != nil {
		return admin.InvitationForm{}, err
	}
	return admin.InvitationForm{ExpiryHours: strconv.Itoa(int(expiry / time.Hour))}, nil
}

// List is the invitations page of the viewer of ctx at now: the
// invitations, newest first, filtered by status, one page of them, the
// count per status, and the groups the viewer may grant for the create
// form (form, which the caller fills; the page's tabs too).
func List(ctx context.Context, client *ent.Client, now time.Time, q ListQuery, form admin.InvitationForm) (admin.InvitationsPage, error) {
	if !slices.Contains(admin.InvitationStatuses(), q.Status) {
		q.Status = "all"
	}
	counts := map[string]int{}
	for _, st := range Statuses() {
		n, err := client.Invitation.Query().Where(Where(st, now)).Count(ctx)
		if err != nil {
			return admin.InvitationsPage{}, err
		}
		counts[string(st)] = n
		counts["all"] += n
	}
	pages := max(1, (counts[q.Status]+PageSize-1)/PageSize)
	q.Page = min(max(q.Page, 1), pages)
	query := client.Invitation.Query()
	if q.Status != "all" {
		query.Where(Where(Status(q.Status), now))
	}
	invs, err := query.Order(ent.Desc(invitation.FieldCreatedAt), ent.Desc(invitation.FieldID)).
		Offset((q.Page - 1) * PageSize).Limit(PageSize).
		WithGroups(func(q *ent.GroupQuery) { q.Order(ent.Asc(group.FieldName)) }).
		WithCreatedBy().WithConsumedBy().WithResetUser().
		All(ctx)
	if err != nil {
		return admin.InvitationsPage{}, err
	}
	grantable, err := GrantableGroups(ctx, client, viewerGrantor(ctx))
	if err != nil {
		return admin.InvitationsPage{}, err
	}
	page := admin.InvitationsPage{Status: q.Status, Counts: counts, Page: q.Page, Pages: pages, Form: form}
	for _, inv := range invs {
		page.Rows = append(page.Rows, Row(ctx, inv, now))
	}
	for _, g := range grantable {
		page.Groups = append(page.Groups, admin.InvitationGroup{ID: g.ID.String(), Name: g.Name, Description: g.Description})
	}
	return page, nil
}

// Row is the list's view of an invitation loaded with its groups,
// inviter, user and reset account, in the language of ctx.
func Row(ctx context.Context, inv *ent.Invitation, now time.Time) admin.InvitationRow {
	r := admin.InvitationRow{
		ID: inv.ID.String(), For: inv.EmailHint, Status: string(StatusOf(inv, now)),
		ExpiresAt: inv.ExpiresAt, CreatedAt: inv.CreatedAt,
	}
	for _, g := range inv.Edges.Groups {
		r.Groups = append(r.Groups, g.Name)
	}
	deleted := i18n.T(ctx, "admin.invitations.deleted_account")
	switch {
	case inv.Edges.CreatedBy != nil:
		r.Inviter = inv.Edges.CreatedBy.DisplayName + " <" + inv.Edges.CreatedBy.Email + ">"
	case inv.CreatedByID != nil:
		r.Inviter = deleted
	}
	if inv.ResetUserID != nil {
		r.Reset, r.For = true, deleted
		if u := inv.Edges.ResetUser; u != nil {
			r.For = u.Email
		}
	}
	if u := inv.Edges.ConsumedBy; u != nil && inv.ResetUserID == nil {
		r.UsedBy = u.Email
	}
	return r
}
