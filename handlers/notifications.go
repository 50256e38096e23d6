package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/notification"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/notify"
	"violet/views/layout"
	notifyviews "violet/views/notifications"
)

// Every query of this file filters on the viewer's user id: a
// notification of someone else is not found (404), never forbidden, so
// its existence does not leak.

// notificationFilter reads the list's query string. Unknown values fall
// back to the defaults: the URL is often typed or shared.
func notificationFilter(c echo.Context) notifyviews.Filter {
	f := notifyviews.Filter{Unread: c.QueryParam("unread") == "1", Page: 1}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		f.Page = p
	}
	return f
}

// listNotifications renders the viewer's notifications, newest first, one
// page at a time, with the preferences form. htmx requests (the unread
// switch) get only the results. Four statements whatever the number of
// rows: the session, the count, the page and the preferences.
func (s *Server) listNotifications(c echo.Context) error {
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	l, err := s.notificationList(ctx, notificationFilter(c), v.Unread)
	if err != nil {
		return err
	}
	var prefs notifyviews.Prefs
	if !isPartial(c.Request()) {
		if prefs, err = s.notificationPrefs(ctx); err != nil {
			return err
		}
	}
	lp := s.layoutProps(c, "notifications.title", "")
	page := notifyviews.NotificationsPage(lp, notifyviews.Page{List: l, Prefs: prefs})
	return s.render(c, http.StatusOK, page, notifyviews.Results(l))
}

// notificationList loads one page of the viewer's notifications; unread
// is the viewer's unread count, shown by Mark all read.
func (s *Server) notificationList(ctx context.Context, f notifyviews.Filter, unread int) (notifyviews.List, error) {
	v := auth.FromContext(ctx)
	q := s.Ent.Notification.Query().Where(notification.UserID(v.UserID))
	if f.Unread {
		q.Where(notification.ReadAtIsNil())
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return notifyviews.List{}, fmt.Errorf("count notifications: %w", err)
	}
	pages := max(1, (total+notifyviews.PageSize-1)/notifyviews.PageSize)
	f.Page = min(f.Page, pages)
	ns, err := q.
		Order(notification.ByCreatedAt(sql.OrderDesc()), notification.ByID(sql.OrderDesc())).
		Offset((f.Page - 1) * notifyviews.PageSize).
		Limit(notifyviews.PageSize).
		All(ctx)
	if err != nil {
		return notifyviews.List{}, fmt.Errorf("list notifications: %w", err)
	}
	l := notifyviews.List{Filter: f, Total: total, Pages: pages, Unread: unread}
	for _, n := range ns {
		l.Rows = append(l.Rows, notificationRow(n))
	}
	return l, nil
}

// notificationRow is how the list shows a notification.
func notificationRow(n *ent.Notification) notifyviews.Row {
	return notifyviews.Row{
		ID: n.ID.String(), KindKey: notify.LabelKey(notify.Kind(n.Kind)), Title: n.Title,
		CreatedAt: n.CreatedAt, Read: n.ReadAt != nil, HasLink: localLink(n.Link) != notifyviews.Path,
	}
}

// localLink is where Open leads: the notification's link when it is a
// path on this site, else the notifications page. Links are written by
// Violet, but a link that could leave the site is never followed.
func localLink(link string) string {
	if !strings.HasPrefix(link, "/") || strings.HasPrefix(link, "//") || strings.ContainsAny(link, "\\\r\n") {
		return notifyviews.Path
	}
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return notifyviews.Path
	}
	return link
}

// showBell renders the header's bell alone with the viewer's unread count,
// for the live updates to swap in. It is never cached: the count changes.
func (s *Server) showBell(c echo.Context) error {
	ctx := c.Request().Context()
	n, err := s.unreadCount(ctx, auth.FromContext(ctx).UserID)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.render(c, http.StatusOK, layout.Bell(n), nil)
}

// unreadCountQuery counts a user's unread notifications up to the bell's
// cap ($2), like the session's query: the bell shows "99+" beyond it, and
// the index on unread notifications is read no further.
const unreadCountQuery = `SELECT count(*) FROM (SELECT 1 FROM notifications
	WHERE user_id = $1 AND read_at IS NULL LIMIT $2) unread`

// unreadCount returns userID's unread notifications, up to auth.UnreadCap.
func (s *Server) unreadCount(ctx context.Context, userID uuid.UUID) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, unreadCountQuery, userID, auth.UnreadCap).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// markRead marks the viewer's notification id read (if it is not yet) and
// returns it. When it changes, the viewer's other pages get a live event,
// so their bells follow.
func (s *Server) markRead(ctx context.Context, id uuid.UUID) (*ent.Notification, error) {
	v := auth.FromContext(ctx)
	var n *ent.Notification
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		var err error
		n, err = tx.Notification.Query().Where(notification.ID(id), notification.UserID(v.UserID)).Only(ctx)
		if err != nil {
			return err // not found → 404
		}
		if n.ReadAt != nil {
			return nil
		}
		now := s.Now()
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

// markNotificationRead marks one of the viewer's notifications read. htmx
// gets the row back and the bell out of band; a plain POST goes back to
// the list.
func (s *Server) markNotificationRead(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	n, err := s.markRead(ctx, id)
	if err != nil {
		return err
	}
	if !isPartial(c.Request()) {
		return c.Redirect(http.StatusSeeOther, notifyviews.Path)
	}
	unread, err := s.unreadCount(ctx, auth.FromContext(ctx).UserID)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, notifyviews.MarkedRead(notificationRow(n), unread), nil)
}

// openNotification marks one of the viewer's notifications read and
// follows its link (on this site only; otherwise back to the list). It is
// a POST because it changes the notification.
func (s *Server) openNotification(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	n, err := s.markRead(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, localLink(n.Link))
}

// readAllForm keeps the list's unread switch across Mark all read.
type readAllForm struct {
	Unread string `form:"unread"`
}

// markAllNotificationsRead marks every unread notification of the viewer
// read, in one statement. htmx gets the results again and the bell out of
// band; a plain POST is redirected to the list with a flash.
func (s *Server) markAllNotificationsRead(c echo.Context) error {
	var f readAllForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	v := auth.FromContext(ctx)
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		changed, err := tx.Notification.Update().
			Where(notification.UserID(v.UserID), notification.ReadAtIsNil()).
			SetReadAt(s.Now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("mark notifications read: %w", err)
		}
		if changed == 0 {
			return nil
		}
		return live.Publish(ctx, tx, live.Event{Kind: live.KindNotification, UserID: v.UserID})
	})
	if err != nil {
		return err
	}
	filter := notifyviews.Filter{Unread: f.Unread == "1", Page: 1}
	if !isPartial(c.Request()) {
		s.flash(c, "success", "notifications.all_read")
		return c.Redirect(http.StatusSeeOther, filter.URL(1))
	}
	l, err := s.notificationList(ctx, filter, 0)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, notifyviews.AllRead(l, 0), nil)
}

// notificationPrefs loads the preferences form: every kind, checked unless
// the viewer muted it.
func (s *Server) notificationPrefs(ctx context.Context) (notifyviews.Prefs, error) {
	v := auth.FromContext(ctx)
	u, err := s.Ent.User.Query().Where(user.ID(v.UserID)).Select(user.FieldMutedNotifications).Only(ctx)
	if err != nil {
		return notifyviews.Prefs{}, fmt.Errorf("load notification preferences: %w", err)
	}
	return prefsOf(u.MutedNotifications), nil
}

// prefsOf builds the preferences form from a list of muted kinds.
func prefsOf(muted []string) notifyviews.Prefs {
	var p notifyviews.Prefs
	for _, k := range notify.Kinds() {
		p.Choices = append(p.Choices, notifyviews.Choice{
			Kind: string(k), LabelKey: notify.LabelKey(k), On: !slices.Contains(muted, string(k)),
		})
	}
	return p
}

// prefsForm is what the preferences form may set: the kinds the viewer
// wants. Unknown kinds are ignored.
type prefsForm struct {
	Kinds []string `form:"kinds"`
}

// updateNotificationPrefs saves which kinds the viewer receives (stored as
// the kinds muted, so a kind added later is on by default), with its audit
// event. htmx gets the form back saying so; a plain POST is redirected
// with a flash.
func (s *Server) updateNotificationPrefs(c echo.Context) error {
	var f prefsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	muted := []string{}
	for _, k := range notify.Kinds() {
		if !slices.Contains(f.Kinds, string(k)) {
			muted = append(muted, string(k))
		}
	}
	ctx := c.Request().Context()
	changed, err := s.saveMuted(ctx, muted)
	if err != nil {
		return err
	}
	if !isPartial(c.Request()) {
		if changed {
			s.flash(c, "success", "notifications.prefs.saved")
		} else {
			s.flash(c, "success", "notifications.prefs.unchanged")
		}
		return c.Redirect(http.StatusSeeOther, notifyviews.Path)
	}
	p := prefsOf(muted)
	p.Saved, p.Unchanged = changed, !changed
	return s.render(c, http.StatusOK, notifyviews.PrefsBlock(p), nil)
}

// saveMuted stores the viewer's muted kinds, with its audit event, in one
// transaction, and reports whether they changed. The row is the viewer's
// own (the id comes from the session, never from the form), and the user
// privacy policy lets people change their own preferences.
func (s *Server) saveMuted(ctx context.Context, muted []string) (bool, error) {
	v := auth.FromContext(ctx)
	changed := false
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
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
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.AccountNotificationsChanged, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"muted": nonNil(after), "was_muted": nonNil(before)},
		})
	})
	return changed, err
}
