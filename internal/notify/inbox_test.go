package notify_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/notify"
	"violet/internal/testkit/testdb"
	notifyviews "violet/views/notifications"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type inboxWorld struct {
	db     *sql.DB
	client *ent.Client
	inbox  *notify.Inbox
	me     *ent.User
	ctx    context.Context // as me
	other  uuid.UUID
}

func setupInbox(t *testing.T) *inboxWorld {
	t.Helper()
	db, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	me := client.User.Create().SetEmail("me@example.com").SetDisplayName("Me").SetPasswordHash("x").SaveX(sys)
	other := client.User.Create().SetEmail("other@example.com").SetDisplayName("Other").SetPasswordHash("x").SaveX(sys)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return &inboxWorld{
		db: db, client: client, me: me, other: other.ID,
		inbox: notify.NewInbox(client, db, func() time.Time { return now }),
		ctx:   auth.NewContext(context.Background(), auth.NewViewer(me.ID, me.Email, "Me", "en", uuid.New(), nil, nil)),
	}
}

// add writes n notifications for user, the last one newest.
func (w *inboxWorld) add(t *testing.T, user uuid.UUID, n int, link string) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for i := range n {
		var id uuid.UUID
		err := w.db.QueryRow(`INSERT INTO notifications (user_id, kind, title, link, created_at)
			VALUES ($1, 'test.released', $2, $3, now() + $4 * interval '1 second') RETURNING id`,
			user, fmt.Sprintf("N%d", i), link, i).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (w *inboxWorld) liveEvents(t *testing.T) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(`SELECT count(*) FROM live_events WHERE user_id = $1`, w.me.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInboxReadMarks(t *testing.T) {
	w := setupInbox(t)
	mine := w.add(t, w.me.ID, notifyviews.PageSize+2, "/missions/x")
	theirs := w.add(t, w.other, 1, "/")

	l, err := w.inbox.List(w.ctx, notifyviews.Filter{Page: 9}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != notifyviews.PageSize+2 || l.Pages != 2 || l.Filter.Page != 2 || len(l.Rows) != 2 || l.Unread != 5 {
		t.Errorf("page beyond the last: total %d, pages %d, page %d, %d rows", l.Total, l.Pages, l.Filter.Page, len(l.Rows))
	}
	if l.Rows[1].ID != mine[0].String() || !l.Rows[1].HasLink {
		t.Errorf("the oldest is not last: %+v", l.Rows[1])
	}
	if n, err := w.inbox.Unread(w.ctx); err != nil || n != notifyviews.PageSize+2 {
		t.Errorf("unread %d, %v", n, err)
	}

	if _, err := w.inbox.MarkRead(w.ctx, theirs[0]); !ent.IsNotFound(err) {
		t.Errorf("someone else's notification: %v, want not found", err)
	}
	for range 2 {
		n, err := w.inbox.MarkRead(w.ctx, mine[0])
		if err != nil || n.ReadAt == nil {
			t.Fatalf("mark read: %+v, %v", n, err)
		}
	}
	if got := w.liveEvents(t); got != 1 {
		t.Errorf("%d live events for marking one read twice, want 1", got)
	}
	if err := w.inbox.MarkAllRead(w.ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.inbox.MarkAllRead(w.ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.liveEvents(t); got != 2 {
		t.Errorf("%d live events, want one more for Mark all read, none for nothing to mark", got)
	}
	if n, _ := w.inbox.Unread(w.ctx); n != 0 {
		t.Errorf("%d unread after Mark all read", n)
	}
	var otherUnread int
	if err := w.db.QueryRow(`SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, w.other).Scan(&otherUnread); err != nil || otherUnread != 1 {
		t.Errorf("someone else's notifications were marked: %d unread, %v", otherUnread, err)
	}
	l, err = w.inbox.List(w.ctx, notifyviews.Filter{Unread: true, Page: 1}, 0)
	if err != nil || l.Total != 0 || l.Pages != 1 {
		t.Errorf("unread only: %+v, %v", l, err)
	}
}

func TestLocalLink(t *testing.T) {
	for link, want := range map[string]string{
		"/missions/1":          "/missions/1",
		"":                     notifyviews.Path,
		"https://evil.example": notifyviews.Path,
		"//evil.example/x":     notifyviews.Path,
		"/\\evil.example":      notifyviews.Path,
		"/a\r\nLocation: x":    notifyviews.Path,
	} {
		if got := notify.LocalLink(link); got != want {
			t.Errorf("LocalLink(%q) = %q, want %q", link, got, want)
		}
	}
}

func TestInboxPrefs(t *testing.T) {
	w := setupInbox(t)
	p, err := w.inbox.Prefs(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Choices {
		if !c.On {
			t.Errorf("%s is off by default", c.Kind)
		}
	}
	events := func() int {
		return w.client.AuditEvent.Query().Where(auditevent.Action("account.notifications_changed")).CountX(rule.SystemContext(w.ctx))
	}
	keep := []string{string(notify.MemberAdded), "no.such.kind"}
	p, err = w.inbox.SetPrefs(w.ctx, keep)
	if err != nil || !p.Saved || p.Unchanged {
		t.Fatalf("first save: %+v, %v", p, err)
	}
	for _, c := range p.Choices {
		if c.On != (c.Kind == string(notify.MemberAdded)) {
			t.Errorf("%s on = %v", c.Kind, c.On)
		}
	}
	p, err = w.inbox.SetPrefs(w.ctx, keep)
	if err != nil || p.Saved || !p.Unchanged || events() != 1 {
		t.Errorf("the same again: %+v, %v, %d events; want unchanged and one event", p, err, events())
	}
	u := w.client.User.GetX(rule.SystemContext(w.ctx), w.me.ID)
	if slices.Contains(u.MutedNotifications, string(notify.MemberAdded)) || len(u.MutedNotifications) != len(notify.Kinds())-1 {
		t.Errorf("muted %v", u.MutedNotifications)
	}
	e := w.client.AuditEvent.Query().Where(auditevent.Action("account.notifications_changed")).OnlyX(rule.SystemContext(w.ctx))
	if was, ok := e.Details["was_muted"].([]any); !ok || len(was) != 0 || e.TargetID != w.me.ID.String() {
		t.Errorf("event %v on %s", e.Details, e.TargetID)
	}
}
