package notify

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/notification"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/paths"
	notifyviews "violet/views/notifications"
)

// Inbox is the signed-in viewer's side of notifications: the
// notifications page (list, bell count, read marks) and the preferences
// of which kinds to receive. Every query filters on the viewer's user id
// (from the context): a notification of someone else is not found (404),
// never forbidden, so its existence does not leak.
type Inbox struct {
	client *ent.Client
	db     *sql.DB
	now    func() time.Time
}

// NewInbox returns the inbox over client and db (the same database), with
// now as its clock.
func NewInbox(client *ent.Client, db *sql.DB, now func() time.Time) *Inbox {
	return &Inbox{client: client, db: db, now: now}
}

// Page is the notifications page: one page of the list and, with prefs,
// the preferences form (an htmx request for the results alone does not
// need it). With the session, that is four statements whatever the number
// of rows: the count, the page and the preferences.
func (b *Inbox) Page(ctx context.Context, f notifyviews.Filter, prefs bool) (notifyviews.Page, error) {
	var (
		p   notifyviews.Page
		err error
	)
	if p.List, err = b.List(ctx, f, auth.FromContext(ctx).Unread); err != nil {
		return p, err
	}
	if prefs {
		p.Prefs, err = b.Prefs(ctx)
	}
	return p, err
}

// List loads one page of the viewer's notifications, newest first; unread
// is the viewer's unread count, shown by Mark all read.
func (b *Inbox) List(ctx context.Context, f notifyviews.Filter, unread int) (notifyviews.List, error) {
	v := auth.FromContext(ctx)
	q := b.client.Notification.Query().Where(notification.UserID(v.UserID))
	if f.Unread {
		q.Where(notification.ReadAtIsNil())
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return notifyviews.List{}, fmt.Errorf("count notifications: %w", err)
	}
	pages := max(1, (total+notifyviews.PageSize-1)/notifyviews.PageSize)
	f.Page = min(max(f.Page, 1), pages)
	ns, err := q.
		Order(notification.ByCreatedAt(entsql.OrderDesc()), notification.ByID(entsql.OrderDesc())).
		Offset((f.Page - 1) * notifyviews.PageSize).
		Limit(notifyviews.PageSize).
		All(ctx)
	if err != nil {
		return notifyviews.List{}, fmt.Errorf("list notifications: %w", err)
	}
	l := notifyviews.List{Filter: f, Total: total, Pages: pages, Unread: unread}
	for _, n := range ns {
		l.Rows = append(l.Rows, RowOf(n))
	}
	return l, nil
}

// RowOf is how the list shows a notification: its title is rendered
// in the reader's language by the view (notifyviews.RenderTitle).
func RowOf(n *ent.Notification) notifyviews.Row {
	return notifyviews.Row{
		ID: n.ID.String(), KindKey: LabelKey(Kind(n.Kind)), Title: n.Title, TitleKey: n.TitleKey, TitleArgs: n.TitleArgs,
		CreatedAt: n.CreatedAt, Read: n.ReadAt != nil, HasLink: LocalLink(n.Link) != paths.Notifications,
	}
}

// LocalLink is where Open leads: the notification's link when it is a
// path on this site, else the notifications page. Links are written by
// Violet, but a link that could leave the site is never followed.
func LocalLink(link string) string {
	if !strings.HasPrefix(link, "/") || strings.HasPrefix(link, "//") || strings.ContainsAny(link, "\\\r\n") {
		return paths.Notifications
	}
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return paths.Notifications
	}
	return link
}

// unreadQuery counts a user's unread notifications up to the bell's cap
// ($2), like the session's query: the bell shows "99+" beyond it, and the
// index on unread notifications is read no further.
const unreadQuery = `SELECT count(*) FROM (SELECT 1 FROM notifications
	WHERE user_id = $1 AND read_at IS NULL LIMIT $2) unread`

// Unread returns the viewer's unread notifications, up to auth.UnreadCap.
func (b *Inbox) Unread(ctx context.Context) (int, error) {
	var n int
	if err := b.db.QueryRowContext(ctx, unreadQuery, auth.FromContext(ctx).UserID, auth.UnreadCap).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// MarkRead marks the viewer's notification id read (if it is not yet) and
// returns it; another user's notification is not found. When it changes,
// the viewer's other pages get a live event, so their bells follow.
func (b *Inbox) MarkRead(ctx context.Context, id uuid.UUID) (*ent.Notification, error) {
	v := auth.FromContext(ctx)
	var n *ent.Notification
	err := database.WithTx(ctx, b.client, func(tx *ent.Tx) error {
		var err error
		n, err = tx.Notification.Query().Where(notification.ID(id), notification.UserID(v.UserID)).Only(ctx)
		if err != nil {
			return err // not found → 404
		}
		if n.ReadAt != nil {
			return nil
		}
		now := b.now()
		changed, err := tx.Notification.Update().
			Where(notification.ID(id), notification.UserID(v.UserID), notification.ReadAtIsNil()).
			SetReadAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("mark notification read: %w", err)
		}
		n.ReadAt = &now
		if changed == 0 {
			return nil
		}
		return live.Publish(ctx, tx, live.Event{Kind: live.KindNotification, UserID: v.UserID})
	})
	return n, err
}

// MarkAllRead marks every unread notification of the viewer read, in one
// statement, with a live event for the viewer's other pages when any
// changed.
func (b *Inbox) MarkAllRead(ctx context.Context) error {
	v := auth.FromContext(ctx)
	return database.WithTx(ctx, b.client, func(tx *ent.Tx) error {
		changed, err := tx.Notification.Update().
			Where(notification.UserID(v.UserID), notification.ReadAtIsNil()).
			SetReadAt(b.now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("mark notifications read: %w", err)
		}
		if changed == 0 {
			return nil
		}
		return live.Publish(ctx, tx, live.Event{Kind: live.KindNotification, UserID: v.UserID})
	})
}

// Prefs loads the preferences form: every kind, checked unless the viewer
// muted it.
func (b *Inbox) Prefs(ctx context.Context) (notifyviews.Prefs, error) {
	v := auth.FromContext(ctx)
	u, err := b.client.User.Query().Where(user.ID(v.UserID)).Select(user.FieldMutedNotifications).Only(ctx)
	if err != nil {
		return notifyviews.Prefs{}, fmt.Errorf("load notification preferences: %w", err)
	}
	return prefsOf(u.MutedNotifications), nil
}

// prefsOf builds the preferences form from a list of muted kinds.
func prefsOf(muted []string) notifyviews.Prefs {
	var p notifyviews.Prefs
	for _, k := range Kinds() {
		p.Choices = append(p.Choices, notifyviews.Choice{
			Kind: string(k), LabelKey: LabelKey(k), On: !slices.Contains(muted, string(k)),
		})
	}
	return p
}

// SetPrefs saves which kinds the viewer receives (unknown kinds ignored),
// stored as the kinds muted so that a kind added later is on by default,
// with its audit event, in one transaction. It returns the form as saved,
// saying whether anything changed. The row is the viewer's own (the id
// comes from the session, never from the form), and the user privacy
// policy lets people change their own preferences.
func (b *Inbox) SetPrefs(ctx context.Context, kinds []string) (notifyviews.Prefs, error) {
	muted := []string{}
	for _, k := range Kinds() {
		if !slices.Contains(kinds, string(k)) {
			muted = append(muted, string(k))
		}
	}
	v := auth.FromContext(ctx)
	changed := false
	err := database.WithTx(ctx, b.client, func(tx *ent.Tx) error {
		u, err := tx.User.Query().Where(user.ID(v.UserID)).ForUpdate().Only(ctx)
		if err != nil {
			return fmt.Errorf("load account: %w", err)
		}
		before := slices.Clone(u.MutedNotifications)
		slices.Sort(before)
		after := slices.Clone(muted)
		slices.Sort(after)
		if slices.Equal(before, after) {
			return nil
		}
		if err := tx.User.UpdateOneID(u.ID).SetMutedNotifications(muted).Exec(ctx); err != nil {
			return fmt.Errorf("save notification preferences: %w", err)
		}
		changed = true
		// An empty list stays a JSON array in the details.
		if before == nil {
			before = []string{}
		}
		if after == nil {
			after = []string{}
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.AccountNotificationsChanged, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"muted": after, "was_muted": before},
		})
	})
	if err != nil {
		return notifyviews.Prefs{}, err
	}
	p := prefsOf(muted)
	p.Saved, p.Unchanged = changed, !changed
	return p, nil
}
