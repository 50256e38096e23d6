package handlers_test

import (
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
	"violet/internal/audit"
	"violet/internal/database"
	"violet/internal/notify"
	"violet/internal/testkit/apptest"
)

// The notification tests read as "blue" (me) and "other", both of the
// blue team. Notifications are dated a day ago plus one minute per
// notification already in the database, so each is newer than the last.

// newNotifWorld is the world with "other", a second blue team member.
func newNotifWorld(t *testing.T) (w *apptest.World, me, other uuid.UUID) {
	t.Helper()
	w = apptest.NewWorld(t)
	return w, w.User("blue"), w.Person(t, "other", "blueteam")
}

// addNote writes a notification for userID, newer than any so far, read
// or not, and returns its id.
func addNote(t *testing.T, w *apptest.World, userID uuid.UUID, title, link string, read bool) uuid.UUID {
	t.Helper()
	at := time.Now().Add(-24 * time.Hour).UTC().Add(time.Duration(w.Count(t, "notifications")+1) * time.Minute)
	c := w.Ent.Notification.Create().SetUserID(userID).SetKind(string(notify.TestReleased)).
		SetTitle(title).SetLink(link).SetCreatedAt(at)
	if read {
		c.SetReadAt(at)
	}
	return c.SaveX(w.Sys()).ID
}

// addNotes writes n unread notifications for userID titled "<prefix> 1"
// to "<prefix> n", oldest first, newer than any so far, in one statement.
func addNotes(t *testing.T, w *apptest.World, userID uuid.UUID, prefix string, n int) {
	t.Helper()
	base := time.Now().Add(-24 * time.Hour).UTC().Add(time.Duration(w.Count(t, "notifications")) * time.Minute)
	creates := make([]*ent.NotificationCreate, n)
	for i := range n {
		creates[i] = w.Ent.Notification.Create().SetUserID(userID).SetKind(string(notify.TestReviewed)).
			SetTitle(fmt.Sprintf("%s %d", prefix, i+1)).SetLink("/missions").
			SetCreatedAt(base.Add(time.Duration(i+1) * time.Minute))
	}
	w.Ent.Notification.CreateBulk(creates...).ExecX(w.Sys())
}

// noteRead is the Rows key counting the notification id when it is read.
func noteRead(id uuid.UUID) string {
	return "notifications WHERE id = '" + id.String() + "' AND read_at IS NOT NULL"
}

// unreadOf is the Rows key counting userID's unread notifications.
func unreadOf(userID uuid.UUID) string {
	return "notifications WHERE user_id = '" + userID.String() + "' AND read_at IS NULL"
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

var hx = []string{"HX-Request", "true"}

func TestNotificationList(t *testing.T) {
	t.Parallel()
	w, me, other := newNotifWorld(t)
	addNote(t, w, me, "Mine, read", "/missions", true)
	addNote(t, w, other, "Theirs", "/missions", false)
	addNote(t, w, me, "Mine, unread", "/missions", false)

	tests := []struct {
		name       string
		path       string
		hx         bool
		wantTitles []string
		full       bool // a whole page (with the preferences) rather than the results
	}{
		{"all of mine, newest first, none of theirs", "/notifications", false, []string{"Mine, unread", "Mine, read"}, true},
		{"unread only", "/notifications?unread=1", false, []string{"Mine, unread"}, true},
		{"unread switch under htmx: the results only", "/notifications?unread=1", true, []string{"Mine, unread"}, false},
		{"unknown values fall back to the defaults", "/notifications?unread=yes&page=x", false, []string{"Mine, unread", "Mine, read"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := apptest.Step{As: "blue", Path: tc.path, HX: tc.hx}
			if tc.full {
				step.TestIDs = []string{"notification-prefs"}
			} else {
				step.NoTestIDs = []string{"notification-prefs", "html > head > title", "html header.site-header"}
			}
			d := doc(t, w.Do(t, step))
			if got := rowTitles(d); !slices.Equal(got, tc.wantTitles) {
				t.Errorf("titles %q, want %q", got, tc.wantTitles)
			}
			if got := d.Find(`[data-testid="notification-prefs"]`).Length(); tc.full && got != 1 {
				t.Errorf("%d preferences, want 1", got)
			}
			if got := d.Find(`#notification-results`).Length(); got != 1 {
				t.Errorf("%d #notification-results, want 1", got)
			}
		})
	}

	t.Run("each row shows its kind, time and state; unread ones can be marked read", func(t *testing.T) {
		d := doc(t, w.Do(t, apptest.Step{As: "blue", Path: "/notifications"}))
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
		w.Person(t, "fresh")
		addNote(t, w, other, "Theirs, read", "", true)
		w.Run(t,
			apptest.Step{Name: "a user without notifications", As: "fresh", Path: "/notifications",
				TestIDs: []string{"notifications-empty-none"}, NoTestIDs: []string{"notification-read-all"}},
			apptest.Step{Name: "theirs unread", As: "other", Path: "/notifications?unread=1",
				Check: func(t *testing.T, r *httptest.ResponseRecorder) {
					if got := rowTitles(doc(t, r)); !slices.Equal(got, []string{"Theirs"}) {
						t.Fatalf("titles %q", got)
					}
				}},
			apptest.Step{Name: "all read", As: "other", Path: "/notifications/read-all", Form: url.Values{}, Status: http.StatusSeeOther},
			apptest.Step{Name: "none unread", As: "other", Path: "/notifications?unread=1", TestIDs: []string{"notifications-empty-unread"}},
		)
	})
}

// testidIn returns the trimmed text of the element with data-testid id
// inside s.
func testidIn(s *goquery.Selection, id string) string {
	return strings.TrimSpace(s.Find(`[data-testid="` + id + `"]`).First().Text())
}

func TestNotificationPaging(t *testing.T) {
	t.Parallel()
	w, me, other := newNotifWorld(t)
	addNotes(t, w, me, "N", 65)
	addNotes(t, w, other, "Theirs", 5)

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
			r := w.Do(t, apptest.Step{As: "blue", Path: tc.path})
			if r.Code != http.StatusOK {
				return
			}
			d := doc(t, r)
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
	w.Run(t, apptest.Step{Name: "the pager keeps the unread filter", As: "blue", Path: "/notifications?unread=1",
		TestIDs: []string{`[data-testid="pager-next"][href="/notifications?page=2&unread=1"]`}})
}

func TestNotificationMarkRead(t *testing.T) {
	t.Parallel()
	w, me, other := newNotifWorld(t)
	first := addNote(t, w, me, "First", "/missions", false)
	second := addNote(t, w, me, "Second", "/missions", false)
	addNote(t, w, me, "Third", "/missions", false)
	theirs := addNote(t, w, other, "Theirs", "/missions", false)
	readAt := func(id uuid.UUID) *time.Time { return w.Ent.Notification.GetX(w.Sys(), id).ReadAt }

	w.Run(t,
		apptest.Step{Name: "htmx: the row comes back read, with the bell out of band", As: "blue",
			Path: "/notifications/" + first.String() + "/read", Form: url.Values{}, HX: true,
			Rows:      apptest.Rows{noteRead(first): +1},
			TestIDs:   []string{`#notification-` + first.String() + `[data-read="true"]`},
			NoTestIDs: []string{`#notification-` + first.String() + ` [data-testid="notification-mark-read"]`},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				bell := apptest.Doc(t, r).Find(`#bell[hx-swap-oob="true"]`)
				if bell.AttrOr("data-unread", "") != "2" || testidIn(bell, "bell-count") != "2" {
					t.Errorf("bell %q / %q, want 2:\n%s", bell.AttrOr("data-unread", ""), testidIn(bell, "bell-count"), r.Body)
				}
				if !strings.HasPrefix(strings.TrimSpace(r.Body.String()), "<tr") {
					t.Error("the row must come first (the bell after it) for htmx to parse it as table content")
				}
			}},
	)
	t.Run("marking it again keeps it read", func(t *testing.T) {
		before := readAt(first)
		w.Do(t, apptest.Step{As: "blue", Path: "/notifications/" + first.String() + "/read", Form: url.Values{}, HX: true})
		if !readAt(first).Equal(*before) {
			t.Errorf("read_at %v → %v", before, readAt(first))
		}
	})

	// A refusal leaves their notification unread.
	theirsUnread := apptest.Rows{noteRead(theirs): 0}
	w.Run(t,
		apptest.Step{Name: "plain POST: back to the list", As: "blue", Path: "/notifications/" + second.String() + "/read",
			Form: url.Values{}, Status: http.StatusSeeOther, Location: "/notifications", Rows: apptest.Rows{noteRead(second): +1}},
		apptest.Step{Name: "another user's notification is not found", As: "blue", Path: "/notifications/" + theirs.String() + "/read",
			Form: url.Values{}, HX: true, Status: http.StatusNotFound, Rows: theirsUnread},
		apptest.Step{Name: "an unknown id is not found", As: "blue", Path: "/notifications/" + uuid.NewString() + "/read",
			Form: url.Values{}, HX: true, Status: http.StatusNotFound, Rows: theirsUnread},
		apptest.Step{Name: "a malformed id is not found", As: "blue", Path: "/notifications/nope/read",
			Form: url.Values{}, HX: true, Status: http.StatusNotFound, Rows: theirsUnread},
		apptest.Step{Name: "opening another user's notification is not found", As: "blue", Path: "/notifications/" + theirs.String() + "/open",
			Form: url.Values{}, HX: true, Status: http.StatusNotFound, Rows: theirsUnread},
	)
	t.Run("GET changes nothing", func(t *testing.T) {
		for _, action := range []string{"read", "open"} {
			if r := w.GetAs(w.Cookie("other"), "/notifications/"+theirs.String()+"/"+action); r.Code < 400 {
				t.Errorf("GET %s: status %d", action, r.Code)
			}
		}
		if readAt(theirs) != nil {
			t.Error("GET marked it read")
		}
	})
}

func TestNotificationOpen(t *testing.T) {
	t.Parallel()
	w, me, _ := newNotifWorld(t)
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
		id := addNote(t, w, me, tc.name, tc.link, false)
		w.Run(t, apptest.Step{Name: tc.name, As: "blue", Path: "/notifications/" + id.String() + "/open", Form: url.Values{},
			Status: http.StatusSeeOther, Location: tc.want, Rows: apptest.Rows{noteRead(id): +1}})
	}
}

func TestNotificationReadAll(t *testing.T) {
	t.Parallel()
	w, me, other := newNotifWorld(t)
	addNotes(t, w, me, "Mine", 4)
	addNotes(t, w, other, "Theirs", 2)

	t.Run("plain POST: all mine read, flash, back to the list", func(t *testing.T) {
		r := w.Do(t, apptest.Step{As: "blue", Path: "/notifications/read-all", Form: url.Values{},
			Status: http.StatusSeeOther, Location: "/notifications",
			Rows: apptest.Rows{unreadOf(me): -4, unreadOf(other): 0}}) // all 4 of mine read, theirs untouched
		if r.Code != http.StatusSeeOther {
			return
		}
		if got := testid(doc(t, w.Follow("blue", r)), "flash-success"); got != "All your notifications are marked read." {
			t.Errorf("flash %q", got)
		}
	})
	t.Run("htmx keeps the unread filter and empties the bell out of band", func(t *testing.T) {
		addNotes(t, w, me, "More", 3)
		w.Do(t, apptest.Step{As: "blue", Path: "/notifications/read-all", Form: url.Values{"unread": {"1"}}, HX: true,
			Rows:      apptest.Rows{unreadOf(me): -3},
			TestIDs:   []string{`#notification-results [data-testid="notifications-empty-unread"]`, `#bell[hx-swap-oob="true"][data-unread="0"]`},
			NoTestIDs: []string{`#bell [data-testid="bell-count"]`},
			Check: func(t *testing.T, r *httptest.ResponseRecorder) {
				if n := doc(t, r).Find(`#bell[hx-swap-oob="true"]`).Length(); n != 1 {
					t.Errorf("%d out-of-band bells, want 1", n)
				}
			}})
	})
}

func TestNotificationBell(t *testing.T) {
	t.Parallel()
	w, me, other := newNotifWorld(t)
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
	addNote(t, w, me, "Read", "", true)
	addNotes(t, w, other, "Theirs", 5)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.add > 0 {
				addNotes(t, w, me, "N", tc.add)
			}
			r := w.Do(t, apptest.Step{As: "blue", Path: "/notifications/bell", HX: true,
				NoTestIDs: []string{"[hx-swap-oob]", "html header"}})
			if cc := r.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			d := doc(t, r)
			bell := d.Find(`#bell`)
			if bell.Length() != 1 {
				t.Fatalf("not the bell alone:\n%s", r.Body)
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
	w, me, other := newNotifWorld(t)
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
		return len(acctAudits(t, w.App, audit.AccountNotificationsChanged, w.Email("blue")))
	}
	muted := func(userID uuid.UUID) []string {
		m := w.Ent.User.GetX(w.Sys(), userID).MutedNotifications
		slices.Sort(m)
		return m
	}
	// send sends a notification of kind to userID through the Notifier, in
	// a transaction, and returns how many it wrote.
	send := func(t *testing.T, kind notify.Kind, userID uuid.UUID) int {
		t.Helper()
		var n int
		err := database.WithTx(w.Sys(), w.Ent, func(tx *ent.Tx) error {
			var err error
			n, err = w.Notifier.Send(w.Sys(), tx, notify.Message{
				Kind: kind, TitleKey: "notify.title.sync_failed", Link: "/admin/attack-sync",
			}, userID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("every kind is on at first", func(t *testing.T) {
		d := doc(t, w.Do(t, apptest.Step{As: "blue", Path: "/notifications"}))
		boxes := d.Find(`#notification-prefs input[type="checkbox"][name="kinds"]`)
		if boxes.Length() != len(notify.Kinds()) || boxes.Filter(`[checked]`).Length() != len(notify.Kinds()) {
			t.Errorf("%d boxes, %d checked, want %d each", boxes.Length(), boxes.Filter(`[checked]`).Length(), len(notify.Kinds()))
		}
		if got := testid(d, "notify-pref-"+string(notify.TestReleased)); got != "A test is released to the blue team" {
			t.Errorf("label %q", got)
		}
		if send(t, notify.TestReleased, me) != 1 {
			t.Error("not notified before muting")
		}
	})

	tests := []struct {
		name      string
		form      url.Values
		hx        bool
		wantMuted []string
		wantAudit int // audit events after the request
		wantFlash string
		wantBlock string // data-testid of the notice in the htmx answer
	}{
		{"muting one kind (unknown kinds ignored)", func() url.Values {
			v := all(notify.TestReleased)
			v.Add("kinds", "bogus.kind")
			return v
		}(), false, []string{string(notify.TestReleased)}, 1, "Your notification preferences are saved.", ""},
		{"the same again changes nothing", all(notify.TestReleased), false, []string{string(notify.TestReleased)}, 1, "Nothing to change: these are already your preferences.", ""},
		{"htmx: the form comes back saved", all(notify.TestReleased, notify.SyncFinished), true,
			[]string{string(notify.SyncFinished), string(notify.TestReleased)}, 2, "", "notification-prefs-saved"},
		{"htmx, nothing to change", all(notify.TestReleased, notify.SyncFinished), true,
			[]string{string(notify.SyncFinished), string(notify.TestReleased)}, 2, "", "notification-prefs-unchanged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := apptest.Step{As: "blue", Path: "/notifications/preferences", Form: tc.form, HX: tc.hx,
				Status: http.StatusSeeOther, Location: "/notifications"}
			if tc.hx {
				step.Status, step.Location = http.StatusOK, ""
				step.TestIDs = []string{`#notification-prefs [data-testid="` + tc.wantBlock + `"]`}
			}
			r := w.Do(t, step)
			if got := muted(me); !slices.Equal(got, tc.wantMuted) {
				t.Errorf("muted %q, want %q", got, tc.wantMuted)
			}
			if n := audits(); n != tc.wantAudit {
				t.Errorf("%d audit events, want %d", n, tc.wantAudit)
			}
			if r.Code != step.Status {
				return
			}
			if !tc.hx {
				if got := testid(doc(t, w.Follow("blue", r)), "flash-success"); got != tc.wantFlash {
					t.Errorf("flash %q, want %q", got, tc.wantFlash)
				}
				return
			}
			d := doc(t, r)
			for _, k := range notify.Kinds() {
				on := d.Find(`#notify-` + strings.ReplaceAll(string(k), ".", "-")).Is(`[checked]`)
				if on == slices.Contains(tc.wantMuted, string(k)) {
					t.Errorf("%s shown checked=%v", k, on)
				}
			}
		})
	}

	t.Run("Notifier.Send respects them", func(t *testing.T) {
		if n := send(t, notify.TestReleased, me); n != 0 {
			t.Errorf("muted kind: %d written", n)
		}
		if n := send(t, notify.TestReviewed, me); n != 1 {
			t.Errorf("other kind: %d written, want 1", n)
		}
		if n := send(t, notify.TestReleased, other); n != 1 {
			t.Errorf("another user's preferences were changed: %d written", n)
		}
		if got := muted(other); len(got) != 0 {
			t.Errorf("other's muted %q", got)
		}
	})
	t.Run("the audit event says what changed", func(t *testing.T) {
		d := acctAudits(t, w.App, audit.AccountNotificationsChanged, w.Email("blue"))[0]
		if fmt.Sprint(d["muted"]) != "[test.released]" || fmt.Sprint(d["was_muted"]) != "[]" {
			t.Errorf("details %v", d)
		}
	})
}

// TestNotificationListQueries checks the page's query budget: the same
// number of statements at 3 and 60 notifications.
func TestNotificationListQueries(t *testing.T) {
	t.Parallel()
	w, me, _ := newNotifWorld(t)
	srv, n := countingServer(t, w.App)
	addNotes(t, w, me, "N", 3)
	status, few := countQueries(srv, n, w.Cookie("blue"), "/notifications")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	addNotes(t, w, me, "M", 57)
	_, many := countQueries(srv, n, w.Cookie("blue"), "/notifications")
	if few != many {
		t.Errorf("%d statements at 3 notifications, %d at 60", few, many)
	}
	if many > 5 {
		t.Errorf("%d statements, want at most 5", many)
	}
	t.Logf("%d statements", many)
}
