// Package seed keeps the reference data every Violet database needs: the
// permission codes, the system groups, the default detection scale and the
// default settings. Ensure is idempotent and safe to run from several
// instances at once; it never overwrites what an admin changed.
package seed

import (
	"context"
	"encoding/json"
	"fmt"

	"violet/ent"
	"violet/ent/group"
	"violet/ent/permission"
	"violet/ent/schema"
	"violet/ent/setting"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
)

// lockKey serialises concurrent seeding ("violet-s").
const lockKey int64 = 0x76696f6c65742d73

// DetectionLevel is one default step of the outcome scale.
type DetectionLevel struct {
	Name             string
	Description      string
	Score            int
	Colour           string
	CountsAsDetected bool
}

// DetectionLevels is the scale a new instance starts with.
func DetectionLevels() []DetectionLevel {
	return []DetectionLevel{
		{"Blocked", "The attack was prevented", 100, "#15803d", true},
		{"Alerted", "An alert was raised to the analysts", 75, "#2563eb", true},
		{"Logged", "Telemetry was recorded but nothing alerted", 25, "#ca8a04", false},
		{"Not detected", "Nothing was seen", 0, "#b91c1c", false},
	}
}

// Setting keys and their defaults.
const (
	SettingSessionIdleMinutes     = "session.idle_timeout_minutes"
	SettingSessionAbsoluteHours   = "session.absolute_timeout_hours"
	SettingInvitationExpiryHours  = "invitation.default_expiry_hours"
	SettingEvidenceMaxUploadBytes = "evidence.max_upload_bytes"
	SettingAttackSourceURL        = "attack.source_url"
	SettingOrganisationName       = "instance.organisation_name"
	SettingDefaultLocale          = "instance.default_locale"
	// SettingSSORequired: everyone but break-glass accounts signs in
	// through an identity provider (Administration → Sign-in).
	SettingSSORequired = "sso_required"
)

// Settings returns the default value of every setting.
func Settings() map[string]any {
	return map[string]any{
		SettingSessionIdleMinutes:     120,
		SettingSessionAbsoluteHours:   12,
		SettingInvitationExpiryHours:  72,
		SettingEvidenceMaxUploadBytes: 50 << 20,
		SettingAttackSourceURL:        "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack.json",
		SettingOrganisationName:       "",
		SettingDefaultLocale:          "en",
		SettingSSORequired:            false,
	}
}

// Ensure brings the reference data up to date in one transaction. It is
// the system's own work, so it runs past the privacy rules.
func Ensure(ctx context.Context, client *ent.Client) error {
	ctx = rule.SystemContext(ctx)
	return database.WithTx(ctx, client, func(tx *ent.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return fmt.Errorf("seed lock: %w", err)
		}
		perms, added, err := ensurePermissions(ctx, tx)
		if err != nil {
			return err
		}
		if err := ensureGroups(ctx, tx, perms, added); err != nil {
			return err
		}
		if err := ensureDetectionLevels(ctx, tx); err != nil {
			return err
		}
		return ensureSettings(ctx, tx)
	})
}

// ensurePermissions inserts missing codes, refreshes descriptions and
// returns the rows of the codes this binary knows, and the codes it has
// just inserted (new to this database).
func ensurePermissions(ctx context.Context, tx *ent.Tx) (map[auth.Permission]*ent.Permission, map[auth.Permission]bool, error) {
	existing, err := tx.Permission.Query().All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read permissions: %w", err)
	}
	added := make(map[auth.Permission]bool)
	byCode := make(map[auth.Permission]*ent.Permission, len(existing))
	for _, p := range existing {
		byCode[auth.Permission(p.Code)] = p
	}
	inCode := make(map[auth.Permission]bool)
	for _, info := range auth.Permissions() {
		inCode[info.Code] = true
		p, ok := byCode[info.Code]
		switch {
		case !ok:
			p, err = tx.Permission.Create().SetCode(string(info.Code)).SetDescription(info.Description).Save(ctx)
			added[info.Code] = true
		case p.Description != info.Description:
			p, err = p.Update().SetDescription(info.Description).Save(ctx)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("permission %s: %w", info.Code, err)
		}
		byCode[info.Code] = p
	}
	// A code in the table that this binary does not know is left alone: it
	// may belong to a newer release running beside this one (a rolling
	// deploy), and deleting it would take its grants away. Only the codes
	// of this binary are returned.
	for code := range byCode {
		if !inCode[code] {
			delete(byCode, code)
		}
	}
	return byCode, added, nil
}

// ensureGroups creates missing system groups with their default grants and
// keeps the admin group holding every permission. An existing system group
// also gets those of its default grants that are new to the database (a
// release adding a permission): the grants an admin removed earlier stay
// removed, but an upgrade does not leave a group without the permission
// its pages now need.
func ensureGroups(ctx context.Context, tx *ent.Tx, perms map[auth.Permission]*ent.Permission, added map[auth.Permission]bool) error {
	for _, info := range auth.SystemGroups() {
		// System groups cannot be deleted through Violet; should one have
		// been soft-deleted anyway, it is restored rather than duplicated.
		g, err := tx.Group.Query().Where(group.Name(info.Name), group.IsSystem(true)).
			Only(schema.SkipSoftDelete(ctx))
		if err == nil && g.DeletedAt != nil {
			g, err = g.Update().ClearDeletedAt().Save(schema.SkipSoftDelete(ctx))
		}
		switch {
		case ent.IsNotFound(err):
			g, err = tx.Group.Create().SetName(info.Name).SetDescription(info.Description).SetIsSystem(true).Save(ctx)
			if err != nil {
				return fmt.Errorf("create group %s: %w", info.Name, err)
			}
			if err := grant(ctx, tx, g, perms, info.Permissions); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("read group %s: %w", info.Name, err)
		case info.Permissions == nil:
			if err := grant(ctx, tx, g, perms, nil); err != nil {
				return err
			}
		default:
			var fresh []auth.Permission
			for _, code := range info.Permissions {
				if added[code] {
					fresh = append(fresh, code)
				}
			}
			if len(fresh) > 0 {
				if err := grant(ctx, tx, g, perms, fresh); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// grant gives g the listed permissions (every one when codes is nil) that
// it does not hold yet.
func grant(ctx context.Context, tx *ent.Tx, g *ent.Group, perms map[auth.Permission]*ent.Permission, codes []auth.Permission) error {
	if codes == nil {
		for code := range perms {
			codes = append(codes, code)
		}
	}
	held, err := g.QueryPermissions().Select(permission.FieldCode).Strings(ctx)
	if err != nil {
		return fmt.Errorf("read permissions of %s: %w", g.Name, err)
	}
	has := make(map[string]bool, len(held))
	for _, c := range held {
		has[c] = true
	}
	upd := tx.Group.UpdateOne(g)
	missing := 0
	for _, code := range codes {
		if !has[string(code)] {
			upd.AddPermissions(perms[code])
			missing++
		}
	}
	if missing == 0 {
		return nil
	}
	if err := upd.Exec(ctx); err != nil {
		return fmt.Errorf("grant permissions to %s: %w", g.Name, err)
	}
	return nil
}

// ensureDetectionLevels seeds the default scale into an empty table only,
// so an admin's own scale is never touched.
func ensureDetectionLevels(ctx context.Context, tx *ent.Tx) error {
	n, err := tx.DetectionLevel.Query().Count(ctx)
	if err != nil || n > 0 {
		return err
	}
	levels := DetectionLevels()
	builders := make([]*ent.DetectionLevelCreate, len(levels))
	for i, l := range levels {
		builders[i] = tx.DetectionLevel.Create().SetName(l.Name).SetDescription(l.Description).
			SetScore(l.Score).SetColour(l.Colour).SetPosition(i).SetCountsAsDetected(l.CountsAsDetected)
	}
	if err := tx.DetectionLevel.CreateBulk(builders...).Exec(ctx); err != nil {
		return fmt.Errorf("seed detection levels: %w", err)
	}
	return nil
}

// ensureSettings adds missing settings with their defaults; values an
// admin set are kept.
func ensureSettings(ctx context.Context, tx *ent.Tx) error {
	keys, err := tx.Setting.Query().Select(setting.FieldKey).Strings(ctx)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[k] = true
	}
	for key, value := range Settings() {
		if have[key] {
			continue
		}
		b, err := json.Marshal(value)
		if err != nil {
			return err
		}
		if err := tx.Setting.Create().SetKey(key).SetValue(b).Exec(ctx); err != nil {
			return fmt.Errorf("setting %s: %w", key, err)
		}
	}
	return nil
}
