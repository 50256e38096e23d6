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
	"violet/ent/permission"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
)

// auditSeed is an audit entry a test writes with a chosen time.
type auditSeed struct {
	actor   string // email; "" for nobody
	ip      string // "" with no actor: Violet itself
	action  string
	target  string
	at      time.Time
	details map[string]any
}

// seedAudit writes entries straight to the database and returns their ids
// in the order given.
func seedAudit(t *testing.T, app *apptest.App, seeds ...auditSeed) []string {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	builders := make([]*ent.AuditEventCreate, len(seeds))
	for i, s := range seeds {
		b := app.Ent.AuditEvent.Create().SetAction(s.action).SetCreatedAt(s.at).
			SetTargetType("user").SetTargetLabel(s.target).SetIP(s.ip)
		if s.actor != "" {
			b.SetActorID(uuid.New()).SetActorLabel(s.actor)
		}
		if s.details != nil {
			b.SetDetails(s.details)
		}
		builders[i] = b
	}
	events, err := app.Ent.AuditEvent.CreateBulk(builders...).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID.String()
	}
	return ids
}

// auditIDs returns the ids of the entries listed, in order.
func auditIDs(t *testing.T, d *goquery.Document) []string {
	t.Helper()
	var out []string
	d.Find(`[data-testid="audit-row"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("data-id", ""))
	})
	return out
}

// auditReader creates a group holding only audit.read.
func auditReader(t *testing.T, app *apptest.App, name string) {
	t.Helper()
	ctx := rule.SystemContext(context.Background())
	id, err := app.Ent.Permission.Query().Where(permission.Code(string(auth.AuditRead))).OnlyID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Ent.Group.Create().SetName(name).AddPermissionIDs(id).Save(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAuditLogAccess(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	auditReader(t, app, "auditors")
	cases := []struct {
		name   string
		groups []string // nil: anonymous
		status int
	}{
		{"anonymous", nil, http.StatusSeeOther},
		{"no group", []string{}, http.StatusForbidden},
		{"observer", []string{"observer"}, http.StatusForbidden},
		{"redteam", []string{"redteam"}, http.StatusForbidden},
		{"blueteam", []string{"blueteam"}, http.StatusForbidden},
		{"audit.read only", []string{"auditors"}, http.StatusOK},
		{"admin", []string{"admin"}, http.StatusOK},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cookie *http.Cookie
			if tc.groups != nil {
				cookie = app.SignedIn(t, fmt.Sprintf("access%d@example.com", i), tc.groups...)
			}
			for _, header := range [][]string{nil, hxRequest} {
				w := app.GetAs(cookie, "/admin/audit", header...)
				want := tc.status
				if tc.groups == nil && header != nil {
					want = http.StatusUnauthorized
				}
				if w.Code != want {
					t.Errorf("GET /admin/audit (htmx %v): %d, want %d", header != nil, w.Code, want)
				}
				if w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), "audit-table") {
					t.Error("a refused page shows the audit table")
				}
			}
		})
	}
}

// TestAuditLogShowsRealActions: what users do appears on the page, newest
// first, with the actor, the translated action and the target.
func TestAuditLogShowsRealActions(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "root@example.com", "admin")
	if got := postLoginStatus(app, "nobody@example.com", "whatever password"); got != http.StatusUnauthorized {
		t.Fatalf("failed login: %d", got)
	}
	root := acctLogin(t, app, "root@example.com", apptest.Password, uaFirefoxLinux)
	if err := audit.Record(rule.SystemContext(context.Background()), app.Ent.AuditEvent, audit.Event{
		Action: audit.InvitationCreated, TargetType: "invitation", TargetID: "abc", TargetLabel: "new@example.com",
		Details: map[string]any{"groups": []string{"redteam"}, "expires_hours": 72},
	}); err != nil {
		t.Fatal(err)
	}

	w := app.GetAs(root, "/admin/audit")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /admin/audit: %d", w.Code)
	}
	d := doc(t, w)
	type row struct{ action, actor, label, target, details string }
	var rows []row
	d.Find(`[data-testid="audit-row"]`).Each(func(_ int, s *goquery.Selection) {
		text := func(id string) string {
			return strings.Join(strings.Fields(s.Find(`[data-testid="`+id+`"]`).Text()), " ")
		}
		// The details are labelled fields: each label and value, in order.
		var details []string
		s.Find(`[data-testid="audit-details"] dt, [data-testid="audit-details"] dd`).Each(func(_ int, f *goquery.Selection) {
			details = append(details, strings.TrimSpace(f.Text()))
		})
		rows = append(rows, row{s.AttrOr("data-action", ""), text("audit-actor"), text("audit-action"), text("audit-target"), strings.Join(details, " ")})
	})
	want := []row{
		{"invitation.created", "System", "Invitation created", "Invitation new@example.com", "Valid for (hours) 72 Groups redteam"},
		{"login.succeeded", "root@example.com", "Signed in", "User root@example.com", ""},
		{"login.failed", "Anonymous", "Sign-in failed", "User nobody@example.com", ""},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows:\n  %v\nwant:\n  %v", rows, want)
	}
	if ip := testid(d, "audit-ip"); ip != "" {
		t.Errorf("the system's entry has address %q", ip)
	}
	if got := d.Find(`[data-testid="audit-row"]`).Eq(1).Find(`[data-testid="audit-ip"]`).Text(); got != "192.0.2.1" {
		t.Errorf("sign-in address %q", got)
	}
	if got := testid(d, "audit-time"); !strings.HasSuffix(got, " UTC") {
		t.Errorf("time %q, want the zone named", got)
	}
	if d.Find(`[data-testid="admin-tabs"] a[aria-current="page"][href="/admin/audit"]`).Length() != 1 {
		t.Error("the admin tabs do not mark the audit log")
	}
	if d.Find(`.main-nav a[aria-current="page"][href]`).Text() != "Admin" {
		t.Error("the main navigation does not mark Admin")
	}
	if n := d.Find(`#audit-results form, #audit-results button`).Length(); n != 0 {
		t.Errorf("the audit log offers %d forms or buttons: entries must not be changeable", n)
	}
	if method := d.Find(`[data-testid="audit-filters"]`).AttrOr("method", ""); method != "get" {
		t.Errorf("filter form method %q, want get", method)
	}
}

// TestAuditActionsTranslated: every action has a label in both languages,
// in the filter and in the table.
func TestAuditActionsTranslated(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	for _, lang := range []string{"en", "fr"} {
		t.Run(lang, func(t *testing.T) {
			email := "labels-" + lang + "@example.com"
			cookie := app.SignedIn(t, email, "admin")
			if _, err := app.DB.Exec(`UPDATE users SET locale = $1 WHERE email = $2`, lang, email); err != nil {
				t.Fatal(err)
			}
			d := doc(t, app.GetAs(cookie, "/admin/audit"))
			labels := map[string]string{}
			d.Find(`#audit-action option[value]`).Each(func(_ int, s *goquery.Selection) {
				if v := s.AttrOr("value", ""); v != "" {
					labels[v] = strings.TrimSpace(s.Text())
				}
			})
			if len(labels) != len(audit.Actions()) {
				t.Errorf("%d actions offered, want %d", len(labels), len(audit.Actions()))
			}
			seen := map[string]string{}
			for _, a := range audit.Actions() {
				l := labels[a]
				if l == "" || l == a || strings.HasPrefix(l, "audit.") {
					t.Errorf("action %s has no %s label (%q)", a, lang, l)
				}
				if other, dup := seen[l]; dup {
					t.Errorf("actions %s and %s share the label %q", other, a, l)
				}
				seen[l] = a
			}
		})
	}
	var en, fr string
	for _, lang := range []string{"en", "fr"} {
		cookie := app.Login(t, "labels-"+lang+"@example.com", apptest.Password)
		d := doc(t, app.GetAs(cookie, "/admin/audit?action=login.succeeded"))
		label := strings.TrimSpace(d.Find(`[data-testid="audit-action"]`).First().Text())
		if lang == "en" {
			en = label
		} else {
			fr = label
		}
	}
	if en != "Signed in" || fr != "Connexion" {
		t.Errorf("table labels %q and %q, want Signed in and Connexion", en, fr)
	}
}

func TestAuditLogFilters(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	root := app.SignedIn(t, "root@example.com", "admin")
	day := func(d, h, m int) time.Time { return time.Date(2020, 1, d, h, m, 0, 0, time.UTC) }
	ids := seedAudit(t, app,
		auditSeed{actor: "alice@example.com", ip: "198.51.100.1", action: audit.LoginSucceeded, target: "alice@example.com", at: day(10, 12, 0)},
		auditSeed{actor: "bob@example.com", ip: "198.51.100.2", action: audit.Logout, target: "bob@example.com", at: day(11, 23, 59)},
		auditSeed{actor: "Alice@Example.com", ip: "198.51.100.1", action: audit.GroupCreated, target: "ops", at: day(12, 0, 0)},
		auditSeed{ip: "203.0.113.9", action: audit.LoginFailed, target: "mallory@example.com", at: day(9, 8, 30)},
	)
	alice1, bob, alice2, anon := ids[0], ids[1], ids[2], ids[3]
	cases := []struct {
		name   string
		query  url.Values
		status int
		want   []string // ids, newest first
		errs   []string // fields with an error
	}{
		{"actor, partial and any case", url.Values{"actor": {"ALICE"}}, http.StatusOK, []string{alice2, alice1}, nil},
		{"actor and action", url.Values{"actor": {"alice"}, "action": {"group.created"}}, http.StatusOK, []string{alice2}, nil},
		{"action", url.Values{"action": {"logout"}}, http.StatusOK, []string{bob}, nil},
		{"one day, its last minute included", url.Values{"from": {"2020-01-11"}, "to": {"2020-01-11"}}, http.StatusOK, []string{bob}, nil},
		{"two days", url.Values{"from": {"2020-01-10"}, "to": {"2020-01-11"}}, http.StatusOK, []string{bob, alice1}, nil},
		{"until", url.Values{"to": {"2020-01-10"}}, http.StatusOK, []string{alice1, anon}, nil},
		{"last day included", url.Values{"from": {"2020-01-11"}, "to": {"2020-01-12"}}, http.StatusOK, []string{alice2, bob}, nil},
		{"since, with actor", url.Values{"from": {"2020-01-11"}, "actor": {"alice"}}, http.StatusOK, []string{alice2}, nil},
		{"nothing matches", url.Values{"actor": {"nobody"}}, http.StatusOK, nil, nil},
		{"unknown action means any", url.Values{"action": {"drop.tables"}, "to": {"2020-01-31"}}, http.StatusOK, []string{alice2, bob, alice1, anon}, nil},
		{"unreadable date", url.Values{"from": {"2020-13-45"}, "actor": {"bob"}}, http.StatusUnprocessableEntity, []string{bob}, []string{"from"}},
		{"range backwards", url.Values{"from": {"2020-01-12"}, "to": {"2020-01-10"}, "actor": {"alice"}}, http.StatusUnprocessableEntity, []string{alice2}, []string{"to"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/admin/audit?" + tc.query.Encode()
			w := app.GetAs(root, path)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			d := doc(t, w)
			if got := auditIDs(t, d); !slices.Equal(got, tc.want) {
				t.Errorf("entries %v, want %v", got, tc.want)
			}
			for _, f := range tc.errs {
				if testid(d, "error-"+f) == "" {
					t.Errorf("no error next to %s", f)
				}
			}
			if got := strings.TrimSpace(d.Find(`[data-testid="audit-empty"] p`).First().Text()); len(tc.want) == 0 && got != "No entries match these filters." {
				t.Errorf("empty state %q", got)
			}
			// The filter is kept in the form.
			if a := tc.query.Get("actor"); d.Find(`#audit-actor`).AttrOr("value", "") != a {
				t.Errorf("actor field %q, want %q", d.Find(`#audit-actor`).AttrOr("value", ""), a)
			}
			if f := tc.query.Get("from"); d.Find(`#field-from`).AttrOr("value", "") != f {
				t.Errorf("from field not kept")
			}
			// htmx gets the same entries as a fragment.
			hx := app.GetAs(root, path, hxRequest...)
			if hx.Code != tc.status || strings.Contains(strings.ToLower(hx.Body.String()), "<html") {
				t.Fatalf("htmx: %d, whole page %v", hx.Code, strings.Contains(hx.Body.String(), "<html"))
			}
			hd := doc(t, hx)
			if hd.Find(`#audit-results`).Length() != 1 {
				t.Error("htmx fragment lacks #audit-results")
			}
			if got := auditIDs(t, hd); !slices.Equal(got, tc.want) {
				t.Errorf("htmx entries %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAuditLogEmpty signs in without going through the login form (which
// would record an entry) to see the page of an empty log.
func TestAuditLogEmpty(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	u := app.User(t, "root@example.com", "admin")
	token, rec, err := app.Sessions.Create(context.Background(), app.DB, u.ID, auth.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	set := httptest.NewRecorder()
	app.Sessions.SetCookie(set, token, rec.ExpiresAt)
	root := set.Result().Cookies()[0]
	var n int
	if err := app.DB.QueryRow(`SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d audit events (%v): the test proves nothing", n, err)
	}
	w := app.GetAs(root, "/admin/audit")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /admin/audit: %d", w.Code)
	}
	d := doc(t, w)
	if got := testid(d, "audit-empty"); got != "The audit log is empty." {
		t.Errorf("empty state %q", got)
	}
	if got := testid(d, "audit-count"); got != "No entries" {
		t.Errorf("count %q", got)
	}
	if d.Find(`[data-testid="audit-table"], [data-testid="audit-pager"]`).Length() != 0 {
		t.Error("an empty log shows a table or a pager")
	}
}

func TestAuditLogPaging(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	root := app.SignedIn(t, "root@example.com", "admin")
	seeds := make([]auditSeed, 120)
	base := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range seeds {
		seeds[i] = auditSeed{actor: "pager@example.com", action: audit.GroupCreated, target: fmt.Sprintf("g%03d", i),
			at: base.Add(time.Duration(i) * time.Minute)}
	}
	ids := seedAudit(t, app, seeds...)
	slices.Reverse(ids) // newest first

	var all []string
	for page, want := range []int{50, 50, 20} {
		path := "/admin/audit?action=group.created"
		if page > 0 {
			path += fmt.Sprintf("&page=%d", page+1)
		}
		d := doc(t, app.GetAs(root, path))
		got := auditIDs(t, d)
		if len(got) != want {
			t.Fatalf("page %d: %d rows, want %d", page+1, len(got), want)
		}
		all = append(all, got...)
		total := d.Find(`[data-testid="audit-count"]`).AttrOr("data-total", "")
		if total != "120" {
			t.Errorf("page %d: total %q", page+1, total)
		}
		next := d.Find(`[data-testid="pager-next"]`)
		if page < 2 {
			if href := next.AttrOr("href", ""); href != fmt.Sprintf("/admin/audit?action=group.created&page=%d", page+2) {
				t.Errorf("page %d: next link %q keeps the filter?", page+1, href)
			}
		} else if next.Length() != 0 {
			t.Error("the last page links to a next one")
		}
	}
	if !slices.Equal(all, ids) {
		t.Error("the pages do not list every entry once, newest first")
	}
	if got := testid(doc(t, app.GetAs(root, "/admin/audit?action=group.created")), "audit-count"); got != "1–50 of 120 entries" {
		t.Errorf("count %q", got)
	}
	// A page past the end shows the last one.
	if got := auditIDs(t, doc(t, app.GetAs(root, "/admin/audit?action=group.created&page=99"))); !slices.Equal(got, ids[100:]) {
		t.Errorf("page 99: %d rows, want the last page", len(got))
	}
}
