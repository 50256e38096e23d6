package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"violet/ent/auditevent"
	"violet/ent/setting"
	"violet/internal/auth/rule"
	"violet/internal/seed"
	"violet/internal/testkit/apptest"
)

// validSettings is a settings form every key of which is valid.
func validSettings() url.Values {
	return url.Values{
		"organisation_name":       {"ACME Purple"},
		"default_locale":          {"fr"},
		"session_idle_minutes":    {"60"},
		"session_absolute_hours":  {"8"},
		"invitation_expiry_hours": {"48"},
		"attack_source_url":       {"https://example.com/enterprise-attack.json"},
		"evidence_max_mb":         {"100"},
	}
}

// settingJSON returns a setting's stored JSON.
func settingJSON(t *testing.T, app *apptest.App, key string) string {
	t.Helper()
	st, err := app.Ent.Setting.Query().Where(setting.Key(key)).Only(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return string(st.Value)
}

func TestSettingsValidation(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	with := func(field, value string) url.Values {
		v := validSettings()
		v.Set(field, value)
		return v
	}
	tests := []struct {
		name  string
		form  url.Values
		field string // the field with an error
	}{
		{"organisation name too long", with("organisation_name", strings.Repeat("é", 201)), "organisation_name"},
		{"unknown language", with("default_locale", "de"), "default_locale"},
		{"idle missing", with("session_idle_minutes", ""), "session_idle_minutes"},
		{"idle too short", with("session_idle_minutes", "4"), "session_idle_minutes"},
		{"idle too long", with("session_idle_minutes", "1441"), "session_idle_minutes"},
		{"idle not a number", with("session_idle_minutes", "1h"), "session_idle_minutes"},
		{"idle beyond lifetime", func() url.Values {
			v := with("session_absolute_hours", "1")
			v.Set("session_idle_minutes", "61")
			return v
		}(), "session_idle_minutes"},
		{"lifetime zero", with("session_absolute_hours", "0"), "session_absolute_hours"},
		{"lifetime too long", with("session_absolute_hours", "721"), "session_absolute_hours"},
		{"invitation zero", with("invitation_expiry_hours", "0"), "invitation_expiry_hours"},
		{"invitation too long", with("invitation_expiry_hours", "721"), "invitation_expiry_hours"},
		{"url missing", with("attack_source_url", " "), "attack_source_url"},
		{"url ftp", with("attack_source_url", "ftp://example.com/a.json"), "attack_source_url"},
		{"url javascript", with("attack_source_url", "javascript:alert(1)"), "attack_source_url"},
		{"url without host", with("attack_source_url", "https:///a.json"), "attack_source_url"},
		{"url with credentials", with("attack_source_url", "https://u:p@example.com/a.json"), "attack_source_url"},
		{"url too long", with("attack_source_url", "https://example.com/"+strings.Repeat("a", 2000)), "attack_source_url"},
		{"evidence zero", with("evidence_max_mb", "0"), "evidence_max_mb"},
		{"evidence too big", with("evidence_max_mb", "1025"), "evidence_max_mb"},
		{"evidence fractional", with("evidence_max_mb", "1.5"), "evidence_max_mb"},
	}
	before := map[string]string{}
	for key := range seed.Settings() {
		before[key] = settingJSON(t, app, key)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := app.PostAs(admin, "/admin/settings", tt.form)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", w.Code)
			}
			d := doc(t, w)
			if testid(d, "error-"+tt.field) == "" {
				t.Errorf("no error next to %s", tt.field)
			}
			if testid(d, "error-summary") == "" {
				t.Error("no error summary")
			}
			if v, _ := d.Find("#field-organisation_name").Attr("value"); v != strings.TrimSpace(tt.form.Get("organisation_name")) {
				t.Errorf("input not kept: %q", v)
			}
			if v, _ := d.Find("#field-" + tt.field).Attr("value"); tt.field != "default_locale" && v != strings.TrimSpace(tt.form.Get(tt.field)) {
				t.Errorf("%s not kept: %q", tt.field, v)
			}
			for key, was := range before {
				if got := settingJSON(t, app, key); got != was {
					t.Errorf("%s changed to %s by a refused form", key, got)
				}
			}
		})
	}
}

func TestSettingsSave(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")

	w := app.GetAs(admin, "/admin/settings")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	d := doc(t, w)
	for field, want := range map[string]string{"session_idle_minutes": "120", "session_absolute_hours": "12",
		"invitation_expiry_hours": "72", "evidence_max_mb": "50"} {
		if v, _ := d.Find("#field-" + field).Attr("value"); v != want {
			t.Errorf("%s shows %q, want %q", field, v, want)
		}
	}

	if w := app.PostAs(admin, "/admin/settings", validSettings()); w.Code != http.StatusSeeOther {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	for key, want := range map[string]string{
		seed.SettingOrganisationName:       `"ACME Purple"`,
		seed.SettingDefaultLocale:          `"fr"`,
		seed.SettingSessionIdleMinutes:     `60`,
		seed.SettingSessionAbsoluteHours:   `8`,
		seed.SettingInvitationExpiryHours:  `48`,
		seed.SettingAttackSourceURL:        `"https://example.com/enterprise-attack.json"`,
		seed.SettingEvidenceMaxUploadBytes: `104857600`,
	} {
		if got := settingJSON(t, app, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	ctx := rule.SystemContext(context.Background())
	events, err := app.Ent.AuditEvent.Query().Where(auditevent.Action("setting.changed")).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 7 {
		t.Errorf("%d setting events, want one per changed key (7)", len(events))
	}
	for _, e := range events {
		if e.TargetID == seed.SettingSessionIdleMinutes {
			b, _ := json.Marshal(e.Details)
			if string(b) != `{"new":60,"old":120}` {
				t.Errorf("idle event details %s", b)
			}
		}
	}

	// Saving again with one key changed audits that key only.
	form := validSettings()
	form.Set("evidence_max_mb", "10")
	if w := app.PostAs(admin, "/admin/settings", form); w.Code != http.StatusSeeOther {
		t.Fatalf("status %d", w.Code)
	}
	if n, _ := app.Ent.AuditEvent.Query().Where(auditevent.Action("setting.changed")).Count(ctx); n != 8 {
		t.Errorf("%d setting events, want 8", n)
	}
	if got := settingJSON(t, app, seed.SettingEvidenceMaxUploadBytes); got != "10485760" {
		t.Errorf("evidence limit %s", got)
	}
}

func TestSettingsAccess(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	manager := settingsManager(t, app)
	tests := []struct {
		name   string
		cookie *http.Cookie
		get    int
		post   int
	}{
		{"anonymous", nil, http.StatusSeeOther, http.StatusSeeOther},
		{"no groups", app.SignedIn(t, "none@example.com"), http.StatusForbidden, http.StatusForbidden},
		{"redteam", app.SignedIn(t, "red@example.com", "redteam"), http.StatusForbidden, http.StatusForbidden},
		{"blueteam", app.SignedIn(t, "blue@example.com", "blueteam"), http.StatusForbidden, http.StatusForbidden},
		{"observer", app.SignedIn(t, "observer@example.com", "observer"), http.StatusForbidden, http.StatusForbidden},
		{"settings.manage only", manager, http.StatusOK, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := app.GetAs(tt.cookie, "/admin/settings").Code; code != tt.get {
				t.Errorf("GET %d, want %d", code, tt.get)
			}
			before := settingJSON(t, app, seed.SettingOrganisationName)
			form := validSettings()
			form.Set("organisation_name", "Set by "+tt.name)
			code := app.PostAs(tt.cookie, "/admin/settings", form).Code
			if code != tt.post {
				t.Errorf("POST %d, want %d", code, tt.post)
			}
			after := settingJSON(t, app, seed.SettingOrganisationName)
			if changed := after != before; changed != (tt.post == http.StatusSeeOther && tt.cookie != nil) {
				t.Errorf("organisation name %s → %s", before, after)
			}
		})
	}
	// The settings manager sees the settings tab, and the scale's.
	d := doc(t, app.GetAs(manager, "/admin/settings"))
	for _, href := range []string{"/admin/settings", "/admin/detection-levels"} {
		if d.Find(`[data-testid="admin-tabs"] a[href="`+href+`"]`).Length() != 1 {
			t.Errorf("no %s tab", href)
		}
	}
}
