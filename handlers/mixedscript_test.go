package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"violet/internal/testkit/apptest"
)

// mixedFlags returns, for each element of sel keyed by attr, the fields
// its mixed-script badges flag ("display_name,email"; "" for none).
func mixedFlags(t *testing.T, sel *goquery.Selection, attr string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sel.Each(func(_ int, s *goquery.Selection) {
		var fields []string
		s.Find(`[data-testid="mixed-script"]`).Each(func(_ int, b *goquery.Selection) {
			if strings.TrimSpace(b.Text()) == "" {
				t.Errorf("%s: an empty badge", s.AttrOr(attr, ""))
			}
			fields = append(fields, b.AttrOr("data-field", ""))
		})
		out[s.AttrOr(attr, "")] = strings.Join(fields, ",")
	})
	return out
}

// TestMixedScriptFlaggedInPickersAndAudit: a look-alike of the admin (a
// Cyrillic А in its name and а in its address, made before the checks)
// carries the mixed-script badge wherever people are offered or named:
// the member search, the member list and the audit log's actor column;
// plain names and addresses carry none (issue 16, defect 8).
func TestMixedScriptFlaggedInPickersAndAudit(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	m := w.Mission(t, "Operation Violet")
	const lookAlike = "\u0430dmin@example.com"
	mixed := w.App.User(t, lookAlike, "redteam")
	w.Ent.User.UpdateOne(mixed).SetDisplayName("\u0410dmin").ExecX(w.Sys())
	plain := w.App.User(t, "admin.real@example.com", "redteam")
	w.Ent.User.UpdateOne(plain).SetDisplayName("Admin").ExecX(w.Sys())

	// The picker: "dmin" finds the look-alike, the plain Admin and the
	// world's admin@example.com (not a member).
	r := w.Do(t, apptest.Step{Name: "candidates", As: "lead", Path: missionURL(m, "/members/candidates?q=dmin"), HX: true})
	if r.Code != http.StatusOK {
		t.FailNow()
	}
	got := mixedFlags(t, doc(t, r).Find(`[data-testid="member-candidate"]`), "data-user-id")
	want := map[string]string{
		mixed.ID.String(): "display_name,email", plain.ID.String(): "", w.User("admin").String(): "",
	}
	for id, fields := range want {
		if g, ok := got[id]; !ok || g != fields {
			t.Errorf("candidate %s flagged %q (offered %v), want %q", id, g, ok, fields)
		}
	}

	// The look-alike becomes a lead and acts: signs in and adds the plain
	// Admin, so the audit log has entries by it and by the real lead.
	if r := w.Do(t, apptest.Step{Name: "add the look-alike", As: "lead", Path: missionURL(m, "/members"),
		Form: url.Values{"user_id": {mixed.ID.String()}, "role": {"lead"}}, Status: http.StatusSeeOther}); r.Code != http.StatusSeeOther {
		t.FailNow()
	}
	cookie := w.Login(t, lookAlike, apptest.Password)
	if r := w.PostAs(cookie, missionURL(m, "/members"), url.Values{"user_id": {plain.ID.String()}, "role": {"red"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("the look-alike adds a member: %d", r.Code)
	}

	// The member list.
	got = mixedFlags(t, doc(t, w.GetAs(w.Cookie("lead"), missionURL(m, "/members"))).Find(`[data-testid="member-row"]`), "data-user-id")
	want = map[string]string{mixed.ID.String(): "display_name,email", plain.ID.String(): "", w.User("lead").String(): ""}
	for id, fields := range want {
		if g, ok := got[id]; !ok || g != fields {
			t.Errorf("member %s flagged %q (listed %v), want %q", id, g, ok, fields)
		}
	}

	// The audit log names actors by address: the look-alike's entries are
	// flagged, the real lead's are not.
	rows := doc(t, w.GetAs(w.Cookie("admin"), "/admin/audit")).Find(`[data-testid="audit-row"]`)
	seen := map[string]int{}
	rows.Each(func(_ int, r *goquery.Selection) {
		actor := r.AttrOr("data-actor", "")
		badges := r.Find(`[data-testid="audit-actor"] [data-testid="mixed-script"]`)
		fields := strings.Join(badges.Map(func(_ int, b *goquery.Selection) string { return b.AttrOr("data-field", "") }), ",")
		want := ""
		if actor == lookAlike {
			want = "email"
		}
		if fields != want {
			t.Errorf("audit %s by %q flagged %q, want %q", r.AttrOr("data-action", ""), actor, fields, want)
		}
		seen[actor]++
	})
	if seen[lookAlike] < 2 || seen["lead@example.com"] == 0 {
		t.Errorf("audit actors %v: want the look-alike's sign-in and add, and the lead's add", seen)
	}
}
