package handlers_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"violet/ent/auditevent"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
)

// TestLongLoginEmailIsCountedAndAudited is defect 2 of the hardening issue:
// an email of ~6,000 random characters used to fail the audit insert (the
// btree index on the label), answer 500 and skip the throttle. Now it is
// answered 422 with the field named, audited under its cut form, and
// counted: the eleventh attempt is throttled.
func TestLongLoginEmailIsCountedAndAudited(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	raw := make([]byte, 4500)
	_, _ = rand.Read(raw)
	email := base64.RawURLEncoding.EncodeToString(raw) // 6,000 characters
	var first429 int
	for i := 1; i <= 12; i++ {
		w := postLogin(app, email, "some password")
		switch {
		case w.Code == http.StatusTooManyRequests:
			if first429 == 0 {
				first429 = i
			}
		case w.Code != http.StatusUnprocessableEntity:
			t.Fatalf("attempt %d: status %d, want 422\n%.500s", i, w.Code, w.Body)
		case i == 1:
			d := doc(t, w)
			if msg := testid(d, "error-email"); !strings.Contains(msg, "254 bytes") {
				t.Errorf("the email field's error is %q, want the length named", msg)
			}
			if v, _ := d.Find(`input[name="email"]`).Attr("value"); v != email {
				t.Errorf("the email typed was not kept (got %d characters)", len(v))
			}
		}
	}
	if first429 == 0 || first429 > 11 {
		t.Fatalf("first 429 at attempt %d, want by the 11th: over-long emails are not counted", first429)
	}
	ctx := rule.SystemContext(context.Background())
	events := app.Ent.AuditEvent.Query().Where(auditevent.Action(audit.LoginFailed)).AllX(ctx)
	if len(events) != 10 {
		t.Fatalf("%d login.failed events, want 10 (one per refused attempt before the throttle)", len(events))
	}
	if got, want := events[0].TargetLabel, audit.Label(strings.ToLower(email)); got != want || len(got) > 500 {
		t.Errorf("label %q (%d bytes), want the email cut to %d bytes", got[:min(40, len(got))], len(got), len(want))
	}
}

// TestBadTextIsRefusedAtTheEdge is defect 3: NUL bytes and invalid UTF-8
// in the searches, names and notes the issue lists reached PostgreSQL and
// answered 500. Queries are refused with 400, forms with 422 naming the
// field; nothing reaches a handler. (TestRouteProbe covers every route.)
func TestBadTextIsRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	for _, path := range []string{
		"/missions", "/library/tests", "/library/scenarios", "/admin/users", "/admin/audit", "/attack/search",
	} {
		for _, bad := range []string{"%00", "%FF%FE"} {
			w := app.GetAs(admin, path+"?q=a"+bad+"b")
			if w.Code != http.StatusBadRequest {
				t.Errorf("GET %s?q=…%s…: status %d, want 400", path, bad, w.Code)
				continue
			}
			if msg := testid(doc(t, w), "error-message"); !strings.Contains(msg, "“q”") {
				t.Errorf("GET %s: the error does not name the parameter: %q", path, msg)
			}
		}
	}
	for _, f := range []struct {
		path  string
		field string
		form  url.Values
	}{
		{"/missions", "name", url.Values{"name": {"Op\x00eration"}}},
		{"/library/tests", "name", url.Values{"name": {"Tem\xffplate"}}},
		{"/library/scenarios", "name", url.Values{"name": {"Scen\x00ario"}}},
	} {
		w := app.PostAs(admin, f.path, f.form)
		if w.Code != http.StatusUnprocessableEntity {
			t.Errorf("POST %s with bad text in %s: status %d, want 422", f.path, f.field, w.Code)
			continue
		}
		if msg := testid(doc(t, w), "error-message"); !strings.Contains(msg, "“"+f.field+"”") {
			t.Errorf("POST %s: the error does not name %s: %q", f.path, f.field, msg)
		}
	}
	// A login email with a NUL: refused before the database, not a 500.
	if w := postLogin(app, "admin\x00@example.com", "x"); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("login with a NUL in the email: status %d, want 422", w.Code)
	}
	// JSON bodies would reach echo's binder past the form check: refused.
	r := apptestJSON(t, "/missions", `{"name":"a\u0000b"}`)
	r.AddCookie(admin)
	if w := app.Do(r); w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("POST /missions as JSON: status %d, want 415", w.Code)
	}
}

func apptestJSON(t *testing.T, path, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}
