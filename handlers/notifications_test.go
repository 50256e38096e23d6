package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/apptest"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/notify"
)

// notifFixture is an app with two signed-in users, "me" and "other", and
// helpers writing and reading their notifications.
type notifFixture struct {
	t           *testing.T
	app         *apptest.App
	me, other   *ent.User
	meC, otherC *http.Cookie
	base        time.Time // notifications are dated from here, one minute apart
	seq         int
}

func newNotifFixture(t *testing.T) *notifFixture {
	t.Helper()
	app := apptest.New(t)
	f := &notifFixture{t: t, app: app, base: time.Now().Add(-24 * time.Hour).UTC()}
	f.me = app.User(t, "me@example.com", "blueteam")
	f.other = app.User(t, "other@example.com", "blueteam")
	f.meC = app.Login(t, "me@example.com", apptest.Password)
	f.otherC = app.Login(t, "other@example.com", apptest.Password)
	return f
}

// add writes a notification for userID, one minute after the previous
// one, read or not, and returns its id.
func (f *notifFixture) add(userID uuid.UUID, title, link string, read bool) uuid.UUID {
	f.t.Helper()
	f.seq++
	at := f.base.Add(time.Duration(f.seq) * time.Minute)
	c := f.app.Ent.Notification.Create().SetUserID(userID).SetKind(string(notify.TestReleased)).
		SetTitle(title).SetLink(link).SetCreatedAt(at)
	if read {
		c.SetReadAt(at)
	}
	return c.SaveX(rule.SystemContext(context.Background())).ID
}

// addMany writes n unread notifications for userID titled "<prefix> 1" to
// "<prefix> n", oldest first, in one statement.
func (f *notifFixture) addMany(userID uuid.UUID, prefix string, n int) {
	f.t.Helper()
	creates := make([]*ent.NotificationCreate, n)
	for i := range n {
		f.seq++
		creates[i] = f.app.Ent.Notification.Create().SetUserID(userID).SetKind(string(notify.TestReviewed)).
			SetTitle(fmt.Sprintf("%s %d", prefix, i+1)).SetLink("/missions").
			SetCreatedAt(f.base.Add(time.Duration(f.seq) * time.Minute))
	}
	f.app.Ent.Notification.CreateBulk(creates...).ExecX(rule.SystemContext(context.Background()))
}

// readAt returns a notification's read_at (nil while unread).
func (f *notifFixture) readAt(id uuid.UUID) *time.Time {
	f.t.Helper()
	return f.app.Ent.Notification.GetX(rule.SystemContext(context.Background()), id).ReadAt
}

// unread counts userID's unread notifications in the database.
func (f *notifFixture) unread(userID uuid.UUID) int {
	f.t.Helper()
	var n int
	if err := f.app.DB.QueryRow(`SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// muted returns userID's muted kinds as stored.
func (f *notifFixture) muted(userID uuid.UUID) []string {
	f.t.Helper()
	m := f.app.Ent.User.GetX(rule.SystemContext(context.Background()), userID).MutedNotifications
	slices.Sort(m)
	return m
}

// send sends a notification of kind to userID through the Notifier, in a
// transaction, and returns how many it wrote.
func (f *notifFixture) send(kind notify.Kind, userID uuid.UUID) int {
	f.t.Helper()
	ctx := rule.SystemContext(context.Background())
	var n int
	err := database.WithTx(ctx, f.app.Ent, func(tx *ent.Tx) error {
		var err error
		n, err = f.app.Notifier.Send(ctx, tx, notify.Message{
			Kind: kind, TitleKey: "notify.title.sync_failed", Link: "/admin/attack-sync",
		}, userID)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// rowTitles returns the titles of the notification rows of a page or
// fragment, in order.
func rowTitles(d *goquery.Document) []string {
	var out []string
	d.Find(`[data-testid="notification-row"] [data-testid="notification-title"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimSpace(s.Text()))
	})
	return out
}

// tableFragment parses an htmx answer made of table rows (and out-of-band
// elements): an HTML parser drops rows found outside a table.
func tableFragment(t *testing.T, w *httptest.ResponseRecorder) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + w.Body.String() + "</tbody></table>"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var hx = []string{"HX-Request", "true"}

func TestNotificationList(t *testing.T) {
	t.Parallel()
	f := newNotifFixture(t)
	f.add(f.me.ID, "Mine, read", "/missions", true)
	f.add(f.other.ID, "Theirs", "/missions", false)
	f.add(f.me.ID, "Mine, unread", "/missions", false)

	tests := []struct {
		name       string
		path       string
		header     []string
		wantTitles []string
		wantEmpty  string // data-testid of the empty state, "" for none
		full       bool   // a whole page (with the preferences) rather than the results
	}{
		{"all of mine, newest first, none of theirs", "/notifications", nil, []string{"Mine, unread", "Mine, read"}, "", true},
		{"unread only", "/notifications?unread=1", nil, []string{"Mine, unread"}, "", true},
		{"unread switch under htmx: the results only", "/notifications?unread=1", hx, []string{"Mine, unread"}, "", false},
		{"unknown values fall back to the defaults", "/notifications?unread=yes&page=x", nil, []string{"Mine, unread", "Mine, read"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.app.GetAs(f.meC, tc.path, tc.header...)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d\n%s", w.Code, w.Body)
			}
			d := doc(t, w)
			if got := rowTitles(d); !slices.Equal(got, tc.wantTitles) {
				t.Errorf("titles %q, want %q", got, tc.wantTitles)
			}
			if got := d.Find(`[data-testid="notification-prefs"]`).Length() == 1; got != tc.full {
				t.Errorf("preferences shown %v, want %v", got, tc.full)
			}
			if got := d.Find(`#notification-results`).Length(); got != 1 {
				t.Errorf("%d #notification-results, want 1", got)
			}
			if tc.full {
				return
			}
			if d.Find(`html > head > title`).Length() != 0 || d.Find(`header.site-header`).Length() != 0 {
				t.Error("htmx got a whole page, want the results only")
			}
		})
	}

	t.Run("each row shows its kind, time and state; unread ones can be marked read", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.meC, "/notifications"))
		rows := d.Find(`[data-testid="notification-row"]`)
		unread, read := rows.Eq(0), rows.Eq(1)
		if got := testidIn(unread, "notification-kind"); got != "A test is released to the blue team" {
			t.Errorf("kind %q", got)
		}
		if got, _ := unread.Find(`time`).Attr("datetime"); got == "" {
			t.Error("no time")
		}
		if unread.AttrOr("data-read", "") != "false" || read.AttrOr("data-read", "") != "true" {
			t.Errorf("data-read %q, %q", unread.AttrOr("data-read", ""), read.AttrOr("data-read", ""))
		}
		if unread.Find(`strong`).Length() != 1 || read.Find(`strong`).Length() != 0 {
			t.Error("unread rows in bold, read ones not")
		}
		if unread.Find(`[data-testid="notification-mark-read"]`).Length() != 1 || read.Find(`[data-testid="notification-mark-read"]`).Length() != 0 {
			t.Error("Mark read on unread rows only")
		}
		if got := unread.Find(`form:has([data-testid="notification-open"])`).AttrOr("method", ""); got != "post" {
			t.Errorf("Open is a %q form, want post", got)
		}
		if got := testid(d, "notification-count"); got != "1–2 of 2 notifications" {
			t.Errorf("count %q", got)
		}
	})

	t.Run("empty states", func(t *testing.T) {
		fresh := f.app.SignedIn(t, "fresh@example.com")
		d := doc(t, f.app.GetAs(fresh, "/notifications"))
		if d.Find(`[data-testid="notifications-empty-none"]`).Length() != 1 {
			t.Errorf("no empty state for a user without notifications:\n%s", d.Find("main").Text())
		}
		if d.Find(`[data-testid="notification-read-all"]`).Length() != 0 {
			t.Error("Mark all read offered with nothing unread")
		}
		f.add(f.other.ID, "Theirs, read", "", true)
		d = doc(t, f.app.GetAs(f.otherC, "/notifications?unread=1"))
		if got := rowTitles(d); !slices.Equal(got, []string{"Theirs"}) {
			t.Fatalf("titles %q", got)
		}
		f.app.PostAs(f.otherC, "/notifications/read-all", nil)
		d = doc(t, f.app.GetAs(f.otherC, "/notifications?unread=1"))
		if d.Find(`[data-testid="notifications-empty-unread"]`).Length() != 1 {
			t.Errorf("no 'none unread' state:\n%s", d.Find("main").Text())
		}
	})
}

// testidIn returns the trimmed text of the element with data-testid id
// inside s.
func testidIn(s *goquery.Selection, id string) string {
	return strings.TrimSpace(s.Find(`[data-testid="` + id + `"]`).First().Text())
}

func TestNotificationPaging(t *testing.T) {
	t.Parallel()
	f := newNotifFixture(t)
	f.addMany(f.me.ID, "N", 65)
	f.addMany(f.other.ID, "Theirs", 5)

	tests := []struct {
		name             string
		path             string
		first, last      string
		rows             int
		wantPrev, wantNx bool
		position         string
	}{
		{"first page: the 30 newest", "/notifications", "N 65", "N 36", 30, false, true, "Page 1 of 3"},
		{"second page", "/notifications?page=2", "N 35", "N 6", 30, true, true, "Page 2 of 3"},
		{"last page", "/notifications?page=3", "N 5", "N 1", 5, true, false, "Page 3 of 3"},
		{"a page past the end shows the last", "/notifications?page=99", "N 5", "N 1", 5, true, false, "Page 3 of 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.app.GetAs(f.meC, tc.path)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			d := doc(t, w)
			got := rowTitles(d)
			if len(got) != tc.rows || got[0] != tc.first || got[len(got)-1] != tc.last {
				t.Errorf("%d rows %q…%q, want %d %q…%q", len(got), got[0], got[len(got)-1], tc.rows, tc.first, tc.last)
			}
			if (d.Find(`[data-testid="pager-prev"]`).Length() == 1) != tc.wantPrev || (d.Find(`[data-testid="pager-next"]`).Length() == 1) != tc.wantNx {
				t.Error("pager links wrong")
			}
			if p := testid(d, "pager-position"); p != tc.position {
				t.Errorf("position %q, want %q", p, tc.position)
			}
		})
	}
	t.Run("the pager keeps the unread filter", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.meC, "/notifications?unread=1"))
		if got := d.Find(`[data-testid="pager-next"]`).AttrOr("href", ""); got != "/notifications?page=2&unread=1" {
			t.Errorf("next %q", got)
		}
	})
}

func TestNotificationMarkRead(t *testing.T) {
	t.Parallel()
	f := newNotifFixture(t)
	first := f.add(f.me.ID, "First", "/missions", false)
	second := f.add(f.me.ID, "Second", "/missions", false)
	f.add(f.me.ID, "Third", "/missions", false)
	theirs := f.add(f.other.ID, "Theirs", "/missions", false)

	t.Run("htmx: the row comes back read, with the bell out of band", func(t *testing.T) {
		w := f.app.PostAs(f.meC, "/notifications/"+first.String()+"/read", nil, hx...)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d\n%s", w.Code, w.Body)
		}
		if f.readAt(first) == nil {
			t.Fatal("read_at not set")
		}
		d := tableFragment(t, w)
		row := d.Find(`#notification-` + first.String())
		if row.AttrOr("data-read", "") != "true" || row.Find(`[data-testid="notification-mark-read"]`).Length() != 0 {
			t.Errorf("row not shown read:\n%s", w.Body)
		}
		bell := d.Find(`#bell[hx-swap-oob="true"]`)
		if bell.AttrOr("data-unread", "") != "2" || testidIn(bell, "bell-count") != "2" {
			t.Errorf("bell %q / %q, want 2:\n%s", bell.AttrOr("data-unread", ""), testidIn(bell, "bell-count"), w.Body)
		}
		if !strings.HasPrefix(strings.TrimSpace(w.Body.String()), "<tr") {
			t.Error("the row must come first (the bell after it) for htmx to parse it as table content")
		}
	})
	t.Run("marking it again keeps it read", func(t *testing.T) {
		before := f.readAt(first)
		w := f.app.PostAs(f.meC, "/notifications/"+first.String()+"/read", nil, hx...)
		if w.Code != http.StatusOK || !f.readAt(first).Equal(*before) {
			t.Errorf("status %d, read_at %v → %v", w.Code, before, f.readAt(first))
		}
	})
	t.Run("plain POST: back to the list", func(t *testing.T) {
		w := f.app.PostAs(f.meC, "/notifications/"+second.String()+"/read", nil)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/notifications" {
			t.Errorf("status %d to %q", w.Code, w.Header().Get("Location"))
		}
		if f.readAt(second) == nil {
			t.Error("read_at not set")
		}
	})

	tests := []struct {
		name string
		path string
	}{
		{"another user's notification is not found", "/notifications/" + theirs.String() + "/read"},
		{"an unknown id is not found", "/notifications/" + uuid.NewString() + "/read"},
		{"a malformed id is not found", "/notifications/nope/read"},
		{"opening another user's notification is not found", "/notifications/" + theirs.String() + "/open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := f.app.PostAs(f.meC, tc.path, nil, hx...); w.Code != http.StatusNotFound {
				t.Errorf("status %d, want 404", w.Code)
			}
			if f.readAt(theirs) != nil {
				t.Error("their notification was marked read")
			}
		})
	}
	t.Run("GET changes nothing", func(t *testing.T) {
		for _, action := range []string{"read", "open"} {
			if w := f.app.GetAs(f.otherC, "/notifications/"+theirs.String()+"/"+action); w.Code < 400 {
				t.Errorf("GET %s: status %d", action, w.Code)
			}
		}
		if f.readAt(theirs) != nil {
			t.Error("GET marked it read")
		}
	})
}

func TestNotificationOpen(t *testing.T) {
	t.Parallel()
	f := newNotifFixture(t)
	tests := []struct {
		name, link, want string
	}{
		{"a local link is followed", "/missions/abc?tab=plan", "/missions/abc?tab=plan"},
		{"another site's link is not", "https://evil.example/x", "/notifications"},
		{"a protocol-relative link is not", "//evil.example/x", "/notifications"},
		{"a backslash trick is not", "/\\evil.example", "/notifications"},
		{"no link: the list", "", "/notifications"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := f.add(f.me.ID, tc.name, tc.link, false)
			w := f.app.PostAs(f.meC, "/notifications/"+id.String()+"/open", nil)
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.want {
				t.Errorf("status %d to %q, want 303 to %q", w.Code, w.Header().Get("Location"), tc.want)
			}
			if f.readAt(id) == nil {
				t.Error("read_at not set")
			}
		})
	}
}

func TestNotificationReadAll(t *testing.T) {
	t.Parallel()
	f := newNotifFixture(t)
	f.addMany(f.me.ID, "Mine", 4)
	f.addMany(f.other.ID, "Theirs", 2)

	t.Run("plain POST: all mine read, flash, back to the list", func(t *testing.T) {
		w := f.app.PostAs(f.meC, "/notifications/read-all", nil)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/notifications" {
			t.Fatalf("status %d to %q", w.Code, w.Header().Get("Location"))
		}
		if n := f.unread(f.me.ID); n != 0 {
			t.Errorf("%d of mine unread", n)
		}
		if n := f.unread(f.other.ID); n != 2 {
			t.Errorf("%d of theirs unread, want 2 (untouched)", n)
		}
		d := doc(t, acctFollow(t, f.app, f.meC, w))
		if got := testid(d, "flash-success"); got != "All your notifications are marked read." {
			t.Errorf("flash %q", got)
		}
	})
	t.Run("htmx keeps the unread filter and empties the bell out of band", func(t *testing.T) {
		f.addMany(f.me.ID, "More", 3)
		w := f.app.PostAs(f.meC, "/notifications/read-all", url.Values{"unread": {"1"}}, hx...)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		if n := f.unread(f.me.ID); n != 0 {
			t.Errorf("%d of mine unread", n)
		}
		d := doc(t, w)
		if d.Find(`#notification-results [data-testid="notifications-empty-unread"]`).Length() != 1 {
			t.Errorf("results not the empty unread list:\n%s", w.Body)
		}
		bell := d.Find(`#bell[hx-swap-oob="true"]`)
		if bell.Length() != 1 || bell.AttrOr("data-unread", "") != "0" || bell.Find(`[data-testid="bell-count"]`).Length() != 0 {
			t.Errorf("bell not emptied:\n%s", w.Body)
		}
	})
}

func TestNotificationBell(t *testing.T) {
	t.Parallel()
	f := newNotifFixture(t)
	tests := []struct {
		name      string
		add       int // unread notifications added before the request
		wantCount string
		wantData  string
	}{
		{"none", 0, "", "0"},
		{"a few", 3, "3", "3"},
		{"99", 96, "99", "99"},
		{"100 shows 99+", 1, "99+", "100"},
		{"beyond the cap still 99+", 20, "99+", "100"},
	}
	f.add(f.me.ID, "Read", "", true)
	f.addMany(f.other.ID, "Theirs", 5)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.add > 0 {
				f.addMany(f.me.ID, "N", tc.add)
			}
			w := f.app.GetAs(f.meC, "/notifications/bell", hx...)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			d := doc(t, w)
			bell := d.Find(`#bell`)
			if bell.Length() != 1 || d.Find(`[hx-swap-oob]`).Length() != 0 || d.Find(`header`).Length() != 0 {
				t.Fatalf("not the bell alone:\n%s", w.Body)
			}
			if got := bell.AttrOr("data-unread", ""); got != tc.wantData {
				t.Errorf("data-unread %q, want %q", got, tc.wantData)
			}
			if got := testid(d, "bell-count"); got != tc.wantCount {
				t.Errorf("count %q, want %q", got, tc.wantCount)
			}
		})
	}
}

func TestNotificationPreferences(t *testing.T) {
	t.Parallel()
	f := newNotifFixture(t)
	all := func(except ...notify.Kind) url.Values {
		v := url.Values{}
		for _, k := range notify.Kinds() {
			if !slices.Contains(except, k) {
				v.Add("kinds", string(k))
			}
		}
		return v
	}
	audits := func() int {
		return len(acctAudits(t, f.app, audit.AccountNotificationsChanged, "me@example.com"))
	}

	t.Run("every kind is on at first", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.meC, "/notifications"))
		boxes := d.Find(`#notification-prefs input[type="checkbox"][name="kinds"]`)
		if boxes.Length() != len(notify.Kinds()) || boxes.Filter(`[checked]`).Length() != len(notify.Kinds()) {
			t.Errorf("%d boxes, %d checked, want %d each", boxes.Length(), boxes.Filter(`[checked]`).Length(), len(notify.Kinds()))
		}
		if got := testid(d, "notify-pref-"+string(notify.TestReleased)); got != "A test is released to the blue team" {
			t.Errorf("label %q", got)
		}
		if f.send(notify.TestReleased, f.me.ID) != 1 {
			t.Error("not notified before muting")
		}
	})

	tests := []struct {
		name      string
		form      url.Values
		header    []string
		wantMuted []string
		wantAudit int // audit events after the request
		wantFlash string
		wantBlock string // data-testid of the notice in the htmx answer
	}{
		{"muting one kind (unknown kinds ignored)", func() url.Values {
			v := all(notify.TestReleased)
			v.Add("kinds", "bogus.kind")
			return v
		}(), nil, []string{string(notify.TestReleased)}, 1, "Your notification preferences are saved.", ""},
		{"the same again changes nothing", all(notify.TestReleased), nil, []string{string(notify.TestReleased)}, 1, "Nothing to change: these are already your preferences.", ""},
		{"htmx: the form comes back saved", all(notify.TestReleased, notify.SyncFinished), hx,
			[]string{string(notify.SyncFinished), string(notify.TestReleased)}, 2, "", "notification-prefs-saved"},
		{"htmx, nothing to change", all(notify.TestReleased, notify.SyncFinished), hx,
			[]string{string(notify.SyncFinished), string(notify.TestReleased)}, 2, "", "notification-prefs-unchanged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.app.PostAs(f.meC, "/notifications/preferences", tc.form, tc.header...)
			if got := f.muted(f.me.ID); !slices.Equal(got, tc.wantMuted) {
				t.Errorf("muted %q, want %q", got, tc.wantMuted)
			}
			if n := audits(); n != tc.wantAudit {
				t.Errorf("%d audit events, want %d", n, tc.wantAudit)
			}
			if tc.header == nil {
				if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/notifications" {
					t.Fatalf("status %d to %q", w.Code, w.Header().Get("Location"))
				}
				if got := testid(doc(t, acctFollow(t, f.app, f.meC, w)), "flash-success"); got != tc.wantFlash {
					t.Errorf("flash %q, want %q", got, tc.wantFlash)
				}
				return
			}
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			d := doc(t, w)
			if d.Find(`#notification-prefs [data-testid="`+tc.wantBlock+`"]`).Length() != 1 {
				t.Errorf("no %s in:\n%s", tc.wantBlock, w.Body)
			}
			for _, k := range notify.Kinds() {
				on := d.Find(`#notify-` + strings.ReplaceAll(string(k), ".", "-")).Is(`[checked]`)
				if on == slices.Contains(tc.wantMuted, string(k)) {
					t.Errorf("%s shown checked=%v", k, on)
				}
			}
		})
	}

	t.Run("Notifier.Send respects them", func(t *testing.T) {
		if n := f.send(notify.TestReleased, f.me.ID); n != 0 {
			t.Errorf("muted kind: %d written", n)
		}
		if n := f.send(notify.TestReviewed, f.me.ID); n != 1 {
			t.Errorf("other kind: %d written, want 1", n)
		}
		if n := f.send(notify.TestReleased, f.other.ID); n != 1 {
			t.Errorf("another user's preferences were changed: %d written", n)
		}
		if got := f.muted(f.other.ID); len(got) != 0 {
			t.Errorf("other's muted %q", got)
		}
	})
	t.Run("the audit event says what changed", func(t *testing.T) {
		d := acctAudits(t, f.app, audit.AccountNotificationsChanged, "me@example.com")[0]
		if fmt.Sprint(d["muted"]) != "[test.released]" || fmt.Sprint(d["was_muted"]) != "[]" {
			t.Errorf("details %v", d)
		}
	})
}

// TestNotificationListQueries checks the page's query budget: the same
// number of statements at 3 and 60 notifications.
func TestNotificationListQueries(t *testing.T) {
	t.Parallel()
	f := newNotifFixture(t)
	srv, n := countingServer(t, f.app)
	f.addMany(f.me.ID, "N", 3)
	status, few := countQueries(srv, n, f.meC, "/notifications")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	f.addMany(f.me.ID, "M", 57)
	_, many := countQueries(srv, n, f.meC, "/notifications")
	if few != many {
		t.Errorf("%d statements at 3 notifications, %d at 60", few, many)
	}
	if many > 5 {
		t.Errorf("%d statements, want at most 5", many)
	}
	t.Logf("%d statements", many)
}
