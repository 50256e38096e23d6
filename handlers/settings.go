package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/setting"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/seed"
	"violet/views/admin"
	"violet/views/components"
)

// settingsLockKey serialises saves of the settings form ("violet-c"), so
// two admins saving at once each audit exactly what they changed.
const settingsLockKey int64 = 0x76696f6c65742d63

// bytesPerMB converts the evidence limit, stored in bytes, to the MB the
// form shows.
const bytesPerMB = 1 << 20

// settingsForm is what the settings form may set: the known keys only,
// each under its own name; nothing else reaches the settings table.
type settingsForm struct {
	OrganisationName      string `form:"organisation_name"`
	DefaultLocale         string `form:"default_locale"`
	SessionIdleMinutes    string `form:"session_idle_minutes"`
	SessionAbsoluteHours  string `form:"session_absolute_hours"`
	InvitationExpiryHours string `form:"invitation_expiry_hours"`
	AttackSourceURL       string `form:"attack_source_url"`
	EvidenceMaxMB         string `form:"evidence_max_mb"`
}

// loadSettings reads every setting as its JSON value, by key; a missing
// key has its default.
func (s *Server) loadSettings(ctx context.Context, client *ent.SettingClient) (map[string]any, error) {
	rows, err := client.Query().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	out := seed.Settings()
	for _, r := range rows {
		if _, known := out[r.Key]; !known {
			continue
		}
		var v any
		if err := json.Unmarshal(r.Value, &v); err == nil {
			out[r.Key] = v
		}
	}
	return out, nil
}

// settingText shows a setting's value in a form field.
func settingText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	}
	return ""
}

// showSettings renders the settings form with the saved values.
func (s *Server) showSettings(c echo.Context) error {
	ctx := c.Request().Context()
	vals, err := s.loadSettings(ctx, s.Ent.Setting)
	if err != nil {
		return err
	}
	mb := ""
	if n, ok := asInt(vals[seed.SettingEvidenceMaxUploadBytes]); ok {
		mb = strconv.Itoa((n + bytesPerMB - 1) / bytesPerMB)
	}
	f := admin.SettingsForm{
		OrganisationName:      settingText(vals[seed.SettingOrganisationName]),
		DefaultLocale:         settingText(vals[seed.SettingDefaultLocale]),
		SessionIdleMinutes:    settingText(vals[seed.SettingSessionIdleMinutes]),
		SessionAbsoluteHours:  settingText(vals[seed.SettingSessionAbsoluteHours]),
		InvitationExpiryHours: settingText(vals[seed.SettingInvitationExpiryHours]),
		AttackSourceURL:       settingText(vals[seed.SettingAttackSourceURL]),
		EvidenceMaxMB:         mb,
	}
	return s.renderSettings(c, http.StatusOK, f)
}

func (s *Server) renderSettings(c echo.Context, status int, f admin.SettingsForm) error {
	lp := s.layoutProps(c, "admin.settings.title", "nav.admin")
	tabs := adminTabs(auth.FromContext(c.Request().Context()), "/admin/settings")
	return s.render(c, status, admin.SettingsPage(lp, tabs, f), nil)
}

// asInt reads a whole number from a decoded JSON value.
func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case int:
		return x, true
	}
	return 0, false
}

// checkSettings validates every key of the form and returns the values to
// store, by key, with their JSON types (numbers for durations and sizes,
// strings otherwise).
func checkSettings(f *admin.SettingsForm) map[string]any {
	errs := components.Errors{}
	out := map[string]any{}
	f.OrganisationName = strings.TrimSpace(f.OrganisationName)
	if utf8.RuneCountInString(f.OrganisationName) > admin.SettingsOrganisationMax {
		errs["organisation_name"] = "admin.settings.organisation_name_too_long"
	}
	out[seed.SettingOrganisationName] = f.OrganisationName

	f.DefaultLocale = strings.TrimSpace(f.DefaultLocale)
	if !slices.Contains(i18n.Supported(), f.DefaultLocale) {
		errs["default_locale"] = "admin.settings.default_locale_invalid"
	}
	out[seed.SettingDefaultLocale] = f.DefaultLocale

	number := func(field, key string, raw *string, lo, hi int, msg string) int {
		*raw = strings.TrimSpace(*raw)
		n, err := strconv.Atoi(*raw)
		switch {
		case *raw == "":
			errs[field] = "form.required"
		case err != nil || n < lo || n > hi:
			errs[field] = msg
		}
		out[key] = n
		return n
	}
	idle := number("session_idle_minutes", seed.SettingSessionIdleMinutes, &f.SessionIdleMinutes,
		admin.SettingsIdleMin, admin.SettingsIdleMax, "admin.settings.session_idle_minutes_invalid")
	absolute := number("session_absolute_hours", seed.SettingSessionAbsoluteHours, &f.SessionAbsoluteHours,
		admin.SettingsAbsoluteMin, admin.SettingsAbsoluteMax, "admin.settings.session_absolute_hours_invalid")
	if !errs.Has("session_idle_minutes") && !errs.Has("session_absolute_hours") && idle > absolute*60 {
		errs["session_idle_minutes"] = "admin.settings.session_idle_beyond_absolute"
	}
	number("invitation_expiry_hours", seed.SettingInvitationExpiryHours, &f.InvitationExpiryHours,
		admin.SettingsInvitationMin, admin.SettingsInvitationMax, "admin.settings.invitation_expiry_hours_invalid")
	mb := number("evidence_max_mb", seed.SettingEvidenceMaxUploadBytes, &f.EvidenceMaxMB,
		admin.SettingsEvidenceMinMB, admin.SettingsEvidenceMaxMB, "admin.settings.evidence_max_mb_invalid")
	out[seed.SettingEvidenceMaxUploadBytes] = mb * bytesPerMB

	f.AttackSourceURL = strings.TrimSpace(f.AttackSourceURL)
	u, err := url.Parse(f.AttackSourceURL)
	switch {
	case f.AttackSourceURL == "":
		errs["attack_source_url"] = "form.required"
	case len(f.AttackSourceURL) > admin.SettingsURLMax:
		errs["attack_source_url"] = "admin.settings.attack_source_url_too_long"
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		errs["attack_source_url"] = "admin.settings.attack_source_url_invalid"
	}
	out[seed.SettingAttackSourceURL] = f.AttackSourceURL

	if len(errs) > 0 {
		f.Errors = errs
	}
	return out
}

// sameSetting compares a stored value (decoded JSON) with a new one.
func sameSetting(old, now any) bool {
	if n, ok := now.(int); ok {
		o, ok := asInt(old)
		return ok && o == n
	}
	return old == now
}

// updateSettings saves the settings form: every key validated, the changed
// ones written in one transaction, each with an audit event holding its
// old and new values.
func (s *Server) updateSettings(c echo.Context) error {
	var raw settingsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &raw); err != nil {
		return echo.ErrBadRequest
	}
	f := admin.SettingsForm{
		OrganisationName: raw.OrganisationName, DefaultLocale: raw.DefaultLocale,
		SessionIdleMinutes: raw.SessionIdleMinutes, SessionAbsoluteHours: raw.SessionAbsoluteHours,
		InvitationExpiryHours: raw.InvitationExpiryHours, AttackSourceURL: raw.AttackSourceURL,
		EvidenceMaxMB: raw.EvidenceMaxMB,
	}
	vals := checkSettings(&f)
	if len(f.Errors) > 0 {
		return s.renderSettings(c, http.StatusUnprocessableEntity, f)
	}
	ctx := c.Request().Context()
	changed := 0
	err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		changed = 0
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, settingsLockKey); err != nil {
			return fmt.Errorf("lock settings: %w", err)
		}
		old, err := s.loadSettings(ctx, tx.Setting)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			if sameSetting(old[key], vals[key]) {
				continue
			}
			b, err := json.Marshal(vals[key])
			if err != nil {
				return err
			}
			n, err := tx.Setting.Update().Where(setting.Key(key)).SetValue(b).Save(ctx)
			if err == nil && n == 0 {
				err = tx.Setting.Create().SetKey(key).SetValue(b).Exec(ctx)
			}
			if err != nil {
				return fmt.Errorf("save setting %s: %w", key, err)
			}
			if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.SettingChanged, TargetType: "setting", TargetID: key, TargetLabel: key,
				Details: map[string]any{"old": old[key], "new": vals[key]},
			}); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if changed == 0 {
		s.flash(c, "success", "admin.settings.unchanged")
	} else {
		s.flash(c, "success", "admin.settings.saved")
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings")
}
