package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/ent/user"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

// zoneOf is the stored time zone of the account with email.
func zoneOf(t *testing.T, w *apptest.World, email string) string {
	t.Helper()
	return w.Ent.User.Query().Where(user.Email(email)).OnlyX(w.Sys()).TimeZone
}

// setZone stores a user's time zone as the account page would.
func setZone(t *testing.T, w *apptest.World, name, zone string) {
	t.Helper()
	w.Ent.User.UpdateOneID(w.User(name)).SetTimeZone(zone).ExecX(w.Sys())
}

// TestAccountSetsTimeZone: the profile form sets the viewer's time zone
// (audited with the other preference changes); from the next page on,
// times are shown in it with the zone's abbreviation. A name that is not a
// zone is refused next to the field, the input kept and nothing saved;
// an empty one goes back to UTC.
func TestAccountSetsTimeZone(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"red"})
	profile := func(zone string) url.Values {
		return url.Values{"display_name": {"red"}, "locale": {"en"}, "time_zone": {zone}}
	}
	audited := "audit_events WHERE action = 'account.updated' AND details->'time_zone'->>'to' = 'Europe/Paris'"
	w.Run(t,
		apptest.Step{Name: "the account page offers the common zones", As: "red", Path: paths.Account,
			TestIDs: []string{"field-time_zone", `#field-time_zone[value=""]`, `#field-time_zone-list option[value="Europe/Paris"]`}},
		apptest.Step{Name: "a zone that does not exist is refused next to the field", As: "red", Path: paths.AccountProfile,
			Form: profile("Europe/Atlantis"), Status: http.StatusUnprocessableEntity,
			TestIDs: []string{"error-time_zone", `#field-time_zone[value="Europe/Atlantis"]`, `#field-time_zone[aria-invalid]`},
			Rows:    apptest.Rows{"audit_events": 0, "users WHERE time_zone <> ''": 0}},
		apptest.Step{Name: "a path is not a zone", As: "red", Path: paths.AccountProfile,
			Form: profile("../../../etc/passwd"), Status: http.StatusUnprocessableEntity, TestIDs: []string{"error-time_zone"}},
		apptest.Step{Name: "Europe/Paris is saved and audited", As: "red", Path: paths.AccountProfile,
			Form: profile(" Europe/Paris "), Status: http.StatusSeeOther, Location: paths.Account,
			Rows: apptest.Rows{audited: 1}},
		apptest.Step{Name: "the form shows it", As: "red", Path: paths.Account,
			TestIDs: []string{`#field-time_zone[value="Europe/Paris"]`}},
	)
	if got := zoneOf(t, w, w.Email("red")); got != "Europe/Paris" {
		t.Fatalf("time zone %q, want Europe/Paris", got)
	}
	// The sessions list shows when this session began, now in Paris time.
	signedIn := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d CES?T$`)
	d := apptest.Doc(t, w.App.GetAs(w.Cookie("red"), paths.Account))
	if got := strings.TrimSpace(d.Find(`[data-testid="session-signed-in"]`).First().Text()); !signedIn.MatchString(got) {
		t.Errorf("session signed in at %q, want Paris time (CET or CEST)", got)
	}
	w.Run(t, apptest.Step{Name: "an empty zone goes back to UTC", As: "red", Path: paths.AccountProfile,
		Form: profile(""), Status: http.StatusSeeOther})
	if got := zoneOf(t, w, w.Email("red")); got != "" {
		t.Fatalf("time zone %q after clearing it", got)
	}
	d = apptest.Doc(t, w.App.GetAs(w.Cookie("red"), paths.Account))
	if got := d.Find(`[data-testid="session-signed-in"]`).First().Text(); !strings.HasSuffix(strings.TrimSpace(got), " UTC") {
		t.Errorf("session signed in at %q, want UTC", got)
	}
}

// TestSignInTakesTheBrowserZoneOnce: the first sign-in stores the zone
// the browser posted with the form; a later sign-in from another zone
// does not replace it; a name that is not a zone is ignored. An accepted
// invitation starts the new account in its browser's zone too.
func TestSignInTakesTheBrowserZoneOnce(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, nil)
	login := func(email, tz string) {
		t.Helper()
		form := url.Values{"email": {email}, "password": {apptest.Password}, "tz": {tz}}
		r := httptest.NewRequest(http.MethodPost, paths.Login, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp := w.App.Do(r); resp.Code != http.StatusSeeOther {
			t.Fatalf("sign in as %s: %d\n%s", email, resp.Code, apptest.Excerpt(resp.Body.String()))
		}
	}
	w.App.User(t, "ada@example.com")
	w.App.User(t, "bob@example.com")
	w.App.User(t, "cy@example.com")

	page := apptest.Doc(t, w.App.Get(paths.Login))
	if page.Find(`[data-testid="login-form"] input[type="hidden"][name="tz"][data-browser-zone]`).Length() != 1 {
		t.Error("the sign-in form has no hidden browser zone input")
	}

	login("ada@example.com", "Europe/Paris")
	if got := zoneOf(t, w, "ada@example.com"); got != "Europe/Paris" {
		t.Fatalf("first sign-in stored %q, want Europe/Paris", got)
	}
	login("ada@example.com", "America/New_York")
	if got := zoneOf(t, w, "ada@example.com"); got != "Europe/Paris" {
		t.Errorf("a later sign-in changed the zone to %q", got)
	}
	for _, bad := range []string{"Local", "Mars/Olympus", "../etc/localtime", strings.Repeat("Europe/", 20) + "Paris", ""} {
		login("bob@example.com", bad)
		if got := zoneOf(t, w, "bob@example.com"); got != "" {
			t.Fatalf("sign-in with %q stored %q", bad, got)
		}
	}
	login("bob@example.com", "Asia/Tokyo")
	if got := zoneOf(t, w, "bob@example.com"); got != "Asia/Tokyo" {
		t.Errorf("after refused zones, %q stored, want Asia/Tokyo", got)
	}
	// A failed sign-in stores nothing.
	form := url.Values{"email": {"cy@example.com"}, "password": {"wrong password!"}, "tz": {"Europe/Paris"}}
	r := httptest.NewRequest(http.MethodPost, paths.Login, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp := w.App.Do(r); resp.Code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.Code)
	}
	if got := zoneOf(t, w, "cy@example.com"); got != "" {
		t.Errorf("a failed sign-in stored %q", got)
	}

	// An invitation: the accepted account starts in the browser's zone.
	admin := w.App.SignedIn(t, "admin@example.com", "admin")
	token := invToken(t, w.App, invCreate(w.App, admin, "", "72", invGroupIDs(t, w.App, "blueteam")...))
	accept := apptest.Doc(t, w.App.Get("/invitations/"+token))
	if accept.Find(`[data-testid="accept-form"] input[name="tz"][data-browser-zone]`).Length() != 1 {
		t.Error("the acceptance form has no hidden browser zone input")
	}
	f := invAcceptForm("dee@example.com", "Dee")
	f.Set("tz", "America/Montreal")
	if resp := w.App.PostAs(nil, "/invitations/"+token, f); resp.Code != http.StatusSeeOther {
		t.Fatalf("accept: %d\n%s", resp.Code, apptest.Excerpt(resp.Body.String()))
	}
	if got := zoneOf(t, w, "dee@example.com"); got != "America/Montreal" {
		t.Errorf("the invited account's zone is %q, want America/Montreal", got)
	}
}

// TestTimesInTheViewersZone: the same test page shows its times in each
// viewer's zone, the zone named (its abbreviation at that date), with the
// UTC instant in the datetime attribute; a viewer without a zone sees
// UTC. The blue form's datetime-local input holds the stored instant in
// the viewer's zone, its label names the zone, and what blue types is
// read in that zone and stored in UTC.
func TestTimesInTheViewersZone(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorldOf(t, []string{"lead", "red", "blue", "observer"})
	m := w.Mission(t, "Zones", mission.StatusInProgress)
	id := w.Test(t, m, apptest.TestOpts{State: missiontest.StateExecuted, Released: true})
	// apptest.TestStart is 2026-03-14 09:30 UTC: 10:30 CET in Paris,
	// 05:30 EDT in New York (already on summer time there).
	detected := time.Date(2026, 7, 14, 8, 0, 0, 0, time.UTC)
	w.Ent.MissionTest.UpdateOneID(id).SetDetectedAt(detected).ExecX(w.Sys())
	setZone(t, w, "blue", "Europe/Paris")
	setZone(t, w, "red", "America/New_York")
	page := paths.URL(paths.MissionTest, m, id)
	w.Run(t,
		apptest.Step{Name: "Paris", As: "blue", Path: page,
			Text: map[string]string{"mission-test-started": "2026-03-14 10:30 CET",
				"detected-at-label": "Europe/Paris"},
			TestIDs: []string{`[data-testid="mission-test-started"] time[datetime="2026-03-14T09:30:00Z"]`,
				`#field-detected_at[type="datetime-local"][value="2026-07-14T10:00"]`}},
		apptest.Step{Name: "New York", As: "red", Path: page,
			Text: map[string]string{"mission-test-started": "2026-03-14 05:30 EDT",
				"mission-test-ended": "2026-03-14 05:35 EDT", "value-detected_at": "2026-07-14 04:00"}},
		apptest.Step{Name: "no zone: UTC", As: "observer", Path: page,
			Text: map[string]string{"mission-test-started": "2026-03-14 09:30 UTC", "value-detected_at": "2026-07-14 08:00"}},
	)
	// Blue types a Paris wall time on the day summer time begins.
	resp := w.App.PostAs(w.Cookie("blue"), paths.URL(paths.MissionTestBlue, m, id), url.Values{
		"version": {"1"}, "detected_at": {"2026-03-29T10:15"}})
	if resp.Code != http.StatusSeeOther {
		t.Fatalf("save blue: %d\n%s", resp.Code, apptest.Excerpt(resp.Body.String()))
	}
	got := w.Ent.MissionTest.GetX(w.Sys(), id).DetectedAt
	if want := time.Date(2026, 3, 29, 8, 15, 0, 0, time.UTC); got == nil || !got.Equal(want) {
		t.Fatalf("stored %v, want %v (10:15 CEST)", got, want)
	}
	w.Run(t, apptest.Step{Name: "the same wall time back", As: "blue", Path: page,
		TestIDs: []string{`#field-detected_at[value="2026-03-29T10:15"]`}})
}
