package settings_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"

	"violet/ent/auditevent"
	"violet/ent/setting"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/seed"
	"violet/internal/settings"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func valid() settings.Input {
	return settings.Input{
		OrganisationName: " ACME Purple ", DefaultLocale: "fr", SessionIdleMinutes: "60", SessionAbsoluteHours: "8",
		InvitationExpiryHours: "48", AttackSourceURL: "https://example.com/enterprise-attack.json", EvidenceMaxMB: "100",
	}
}

func TestUpdate(t *testing.T) {
	_, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	u := client.User.Create().SetEmail("admin@example.com").SetDisplayName("Admin").SetPasswordHash("x").SaveX(sys)
	ctx := auth.NewContext(context.Background(),
		auth.NewViewer(u.ID, u.Email, "Admin", "en", uuid.New(), []string{auth.GroupAdmin}, []string{string(auth.SettingsManage)}))
	stored := func(key string) string {
		return string(client.Setting.Query().Where(setting.Key(key)).OnlyX(sys).Value)
	}
	events := func() int { return client.AuditEvent.Query().Where(auditevent.Action("setting.changed")).CountX(sys) }

	for _, tc := range []struct {
		name       string
		change     func(*settings.Input)
		field, key string
	}{
		{"idle beyond the lifetime", func(in *settings.Input) { in.SessionAbsoluteHours, in.SessionIdleMinutes = "1", "61" },
			"session_idle_minutes", "admin.settings.session_idle_beyond_absolute"},
		{"lifetime missing", func(in *settings.Input) { in.SessionAbsoluteHours = " " }, "session_absolute_hours", "form.required"},
		{"unknown language", func(in *settings.Input) { in.DefaultLocale = "de" }, "default_locale", "admin.settings.default_locale_invalid"},
		{"url with credentials", func(in *settings.Input) { in.AttackSourceURL = "https://u:p@example.com/a.json" },
			"attack_source_url", "admin.settings.attack_source_url_invalid"},
		{"evidence fractional", func(in *settings.Input) { in.EvidenceMaxMB = "1.5" }, "evidence_max_mb", "admin.settings.evidence_max_mb_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			tc.change(&in)
			_, err := settings.Update(ctx, client, in)
			var inv *app.Invalid
			if !errors.As(err, &inv) || inv.Fields[tc.field] != tc.key || len(inv.Fields) != 1 {
				t.Fatalf("err %v, want only %s: %s", err, tc.field, tc.key)
			}
			if n := events(); n != 0 {
				t.Errorf("a refused form recorded %d events", n)
			}
		})
	}

	n, err := settings.Update(ctx, client, valid())
	if err != nil || n != 7 {
		t.Fatalf("first save: %d changed, %v; want 7", n, err)
	}
	if got := stored(seed.SettingOrganisationName); got != `"ACME Purple"` {
		t.Errorf("organisation name stored as %s, want it trimmed", got)
	}
	if got := stored(seed.SettingEvidenceMaxUploadBytes); got != "104857600" {
		t.Errorf("evidence limit stored as %s, want bytes", got)
	}
	e := client.AuditEvent.Query().Where(auditevent.TargetID(seed.SettingSessionIdleMinutes)).OnlyX(sys)
	if b, _ := json.Marshal(e.Details); string(b) != `{"new":60,"old":120}` || e.ActorID == nil || *e.ActorID != u.ID {
		t.Errorf("idle event %s by %v", b, e.ActorID)
	}

	if n, err := settings.Update(ctx, client, valid()); err != nil || n != 0 {
		t.Errorf("saving the same form: %d changed, %v; want none", n, err)
	}
	in := valid()
	in.EvidenceMaxMB = "10"
	if n, err := settings.Update(ctx, client, in); err != nil || n != 1 || events() != 8 {
		t.Errorf("one key changed: %d changed, %v, %d events; want 1 and 8", n, err, events())
	}
	f, err := settings.Current(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if f.EvidenceMaxMB != "10" || f.OrganisationName != "ACME Purple" || f.SessionIdleMinutes != "60" {
		t.Errorf("current form %+v", f)
	}
}
