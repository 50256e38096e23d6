// Package settings reads and saves the instance settings (the settings
// table, one JSON value per known key): the admin's settings form and its
// workflow. Only the keys of seed.Settings are read or written; a missing
// key has its default.
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"violet/ent"
	"violet/ent/setting"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/seed"
	"violet/views/admin"
)

// lockKey serialises saves of the settings form ("violet-c"), so two
// admins saving at once each audit exactly what they changed.
const lockKey int64 = 0x76696f6c65742d63

// BytesPerMB converts the evidence limit, stored in bytes, to the MB the
// form shows.
const BytesPerMB = 1 << 20

// Load reads every setting as its JSON value, by key; a missing key has
// its default.
func Load(ctx context.Context, client *ent.SettingClient) (map[string]any, error) {
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

// Int reads a whole number from a decoded JSON value.
func Int(v any) (int, bool) {
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

// text shows a setting's value in a form field.
func text(v any) string {
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

// Current is the settings form filled with the saved values.
func Current(ctx context.Context, client *ent.Client) (admin.SettingsForm, error) {
	vals, err := Load(ctx, client.Setting)
	if err != nil {
		return admin.SettingsForm{}, err
	}
	mb := ""
	if n, ok := Int(vals[seed.SettingEvidenceMaxUploadBytes]); ok {
		mb = strconv.Itoa((n + BytesPerMB - 1) / BytesPerMB)
	}
	return admin.SettingsForm{
		OrganisationName:      text(vals[seed.SettingOrganisationName]),
		DefaultLocale:         text(vals[seed.SettingDefaultLocale]),
		SessionIdleMinutes:    text(vals[seed.SettingSessionIdleMinutes]),
		SessionAbsoluteHours:  text(vals[seed.SettingSessionAbsoluteHours]),
		InvitationExpiryHours: text(vals[seed.SettingInvitationExpiryHours]),
		AttackSourceURL:       text(vals[seed.SettingAttackSourceURL]),
		EvidenceMaxMB:         mb,
	}, nil
}

// Input is the settings form as typed: the known keys only, each under
// its own name; nothing else reaches the settings table.
type Input struct {
	OrganisationName      string
	DefaultLocale         string
	SessionIdleMinutes    string
	SessionAbsoluteHours  string
	InvitationExpiryHours string
	AttackSourceURL       string
	EvidenceMaxMB         string
}

// Form is in as Update checks it (every value trimmed), for showing a
// refused form again with the input kept.
func (in Input) Form() admin.SettingsForm {
	return admin.SettingsForm{
		OrganisationName:      strings.TrimSpace(in.OrganisationName),
		DefaultLocale:         strings.TrimSpace(in.DefaultLocale),
		SessionIdleMinutes:    strings.TrimSpace(in.SessionIdleMinutes),
		SessionAbsoluteHours:  strings.TrimSpace(in.SessionAbsoluteHours),
		InvitationExpiryHours: strings.TrimSpace(in.InvitationExpiryHours),
		AttackSourceURL:       strings.TrimSpace(in.AttackSourceURL),
		EvidenceMaxMB:         strings.TrimSpace(in.EvidenceMaxMB),
	}
}

// check validates every key of the form and returns the values to store,
// by key, with their JSON types (numbers for durations and sizes, strings
// otherwise), or an *app.Invalid naming each refused field.
func check(in Input) (map[string]any, error) {
	f := in.Form()
	errs := &app.Invalid{}
	out := map[string]any{}
	if utf8.RuneCountInString(f.OrganisationName) > admin.SettingsOrganisationMax {
		errs.Add("organisation_name", "admin.settings.organisation_name_too_long")
	}
	out[seed.SettingOrganisationName] = f.OrganisationName

	if !slices.Contains(i18n.Supported(), f.DefaultLocale) {
		errs.Add("default_locale", "admin.settings.default_locale_invalid")
	}
	out[seed.SettingDefaultLocale] = f.DefaultLocale

	has := func(field string) bool { _, ok := errs.Fields[field]; return ok }
	number := func(field, key, raw string, lo, hi int, msg string) int {
		n, err := strconv.Atoi(raw)
		switch {
		case raw == "":
			errs.Add(field, "form.required")
		case err != nil || n < lo || n > hi:
			errs.Add(field, msg)
		}
		out[key] = n
		return n
	}
	idle := number("session_idle_minutes", seed.SettingSessionIdleMinutes, f.SessionIdleMinutes,
		admin.SettingsIdleMin, admin.SettingsIdleMax, "admin.settings.session_idle_minutes_invalid")
	absolute := number("session_absolute_hours", seed.SettingSessionAbsoluteHours, f.SessionAbsoluteHours,
		admin.SettingsAbsoluteMin, admin.SettingsAbsoluteMax, "admin.settings.session_absolute_hours_invalid")
	if !has("session_idle_minutes") && !has("session_absolute_hours") && idle > absolute*60 {
		errs.Add("session_idle_minutes", "admin.settings.session_idle_beyond_absolute")
	}
	number("invitation_expiry_hours", seed.SettingInvitationExpiryHours, f.InvitationExpiryHours,
		admin.SettingsInvitationMin, admin.SettingsInvitationMax, "admin.settings.invitation_expiry_hours_invalid")
	mb := number("evidence_max_mb", seed.SettingEvidenceMaxUploadBytes, f.EvidenceMaxMB,
		admin.SettingsEvidenceMinMB, admin.SettingsEvidenceMaxMB, "admin.settings.evidence_max_mb_invalid")
	out[seed.SettingEvidenceMaxUploadBytes] = mb * BytesPerMB

	u, err := url.Parse(f.AttackSourceURL)
	switch {
	case f.AttackSourceURL == "":
		errs.Add("attack_source_url", "form.required")
	case len(f.AttackSourceURL) > admin.SettingsURLMax:
		errs.Add("attack_source_url", "admin.settings.attack_source_url_too_long")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		errs.Add("attack_source_url", "admin.settings.attack_source_url_invalid")
	}
	out[seed.SettingAttackSourceURL] = f.AttackSourceURL
	return out, errs.Err()
}

// same compares a stored value (decoded JSON) with a new one.
func same(old, now any) bool {
	if n, ok := now.(int); ok {
		o, ok := Int(old)
		return ok && o == n
	}
	return old == now
}

// Update saves the settings form: every key validated (an *app.Invalid
// otherwise), the changed ones written in one transaction, each with an
// audit event holding its old and new values. It returns how many
// settings changed.
func Update(ctx context.Context, client *ent.Client, in Input) (int, error) {
	vals, err := check(in)
	if err != nil {
		return 0, err
	}
	changed := 0
	err = database.WithTx(ctx, client, func(tx *ent.Tx) error {
		changed = 0
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return fmt.Errorf("lock settings: %w", err)
		}
		old, err := Load(ctx, tx.Setting)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			if same(old[key], vals[key]) {
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
		return 0, err
	}
	return changed, nil
}
