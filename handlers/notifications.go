package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"violet/internal/notify"
	"violet/internal/paths"
	"violet/views/layout"
	notifyviews "violet/views/notifications"
)

// The viewer's notifications are read and changed through notify.Inbox,
// which filters every query on the viewer's user id: a notification of
// someone else is not found (404), never forbidden.

// inbox is the signed-in viewer's notifications.
func (s *Server) inbox() *notify.Inbox { return notify.NewInbox(s.Ent, s.DB, s.Now) }

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
// switch) get only the results.
func (s *Server) listNotifications(c echo.Context) error {
	p, err := s.inbox().Page(c.Request().Context(), notificationFilter(c), !isPartial(c.Request()))
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "notifications.title", "")
	return s.render(c, http.StatusOK, notifyviews.NotificationsPage(lp, p), notifyviews.Results(p.List))
}

// showBell renders the header's bell alone with the viewer's unread count,
// for the live updates to swap in. It is never cached: the count changes.
func (s *Server) showBell(c echo.Context) error {
	n, err := s.inbox().Unread(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.render(c, http.StatusOK, layout.Bell(n), nil)
}

// markNotificationRead marks one of the viewer's notifications read. htmx
// gets the row back and the bell out of band; a plain POST goes back to
// the list.
func (s *Server) markNotificationRead(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx, inbox := c.Request().Context(), s.inbox()
	n, err := inbox.MarkRead(ctx, id)
	if err != nil {
		return err
	}
	if !isPartial(c.Request()) {
		return c.Redirect(http.StatusSeeOther, paths.Notifications)
	}
	unread, err := inbox.Unread(ctx)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, notifyviews.MarkedRead(notify.RowOf(n), unread), nil)
}

// openNotification marks one of the viewer's notifications read and
// follows its link (on this site only; otherwise back to the list). It is
// a POST because it changes the notification.
func (s *Server) openNotification(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	n, err := s.inbox().MarkRead(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, notify.LocalLink(n.Link))
}

// readAllForm keeps the list's unread switch across Mark all read.
type readAllForm struct {
	Unread string `form:"unread"`
}

// markAllNotificationsRead marks every unread notification of the viewer
// read. htmx gets the results again and the bell out of band; a plain
// POST is redirected to the list with a flash.
func (s *Server) markAllNotificationsRead(c echo.Context) error {
	var f readAllForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx, inbox := c.Request().Context(), s.inbox()
	if err := inbox.MarkAllRead(ctx); err != nil {
		return err
	}
	filter := notifyviews.Filter{Unread: f.Unread == "1", Page: 1}
	if !isPartial(c.Request()) {
		s.flash(c, "success", "notifications.all_read")
		return c.Redirect(http.StatusSeeOther, filter.URL(1))
	}
	l, err := inbox.List(ctx, filter, 0)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, notifyviews.AllRead(l, 0), nil)
}

// prefsForm is what the preferences form may set: the kinds the viewer
// wants. Unknown kinds are ignored.
type prefsForm struct {
	Kinds []string `form:"kinds"`
}

// updateNotificationPrefs saves which kinds the viewer receives. htmx
// gets the form back saying so; a plain POST is redirected with a flash.
func (s *Server) updateNotificationPrefs(c echo.Context) error {
	var f prefsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	p, err := s.inbox().SetPrefs(c.Request().Context(), f.Kinds)
	if err != nil {
		return err
	}
	if isPartial(c.Request()) {
		return s.render(c, http.StatusOK, notifyviews.PrefsBlock(p), nil)
	}
	if p.Saved {
		s.flash(c, "success", "notifications.prefs.saved")
	} else {
		s.flash(c, "success", "notifications.prefs.unchanged")
	}
	return c.Redirect(http.StatusSeeOther, paths.Notifications)
}
