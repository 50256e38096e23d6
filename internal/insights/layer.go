package insights

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/internal/export"
	"violet/internal/i18n"
	"violet/internal/navigator"
	"violet/views/insights"
)

// Layer is the coverage as an ATT&CK Navigator layer: each technique
// scored and coloured by its latest result with the filter f. It is
// navigator.Build, the mission layer's writer, given one result per
// technique (its latest, named after its mission), so the scores, colours,
// gradient and legend are the mission layer's. Two statements more than
// the page: the scale and the catalogue's version, read through
// database/sql like the rest (the viewer may hold insights.read alone).
func Layer(ctx context.Context, db *sql.DB, f insights.Filter, now time.Time) (export.File, error) {
	d, err := Read(ctx, db, f)
	if err != nil {
		return export.File{}, err
	}
	in := navigator.Input{
		Name: i18n.T(ctx, "insights.layer.name"), Description: filterText(ctx, f), Now: now,
		Labels: navigator.Labels{
			Rule:     i18n.T(ctx, "insights.coverage.rule"),
			State:    func(string) string { return i18n.T(ctx, "insights.layer.latest") },
			NoLevel:  i18n.T(ctx, "exports.navigator.no_level"),
			Mission:  i18n.T(ctx, "insights.title"),
			Exported: i18n.T(ctx, "exports.navigator.exported"),
			Catalog:  i18n.T(ctx, "exports.navigator.catalogue"),
			Tests:    i18n.T(ctx, "exports.navigator.scored_tests"),
		},
	}
	if in.Levels, err = levels(ctx, db); err != nil {
		return export.File{}, err
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce((SELECT attack_version FROM attack_syncs WHERE status = 'succeeded'
		ORDER BY finished_at DESC NULLS LAST, created_at DESC LIMIT 1), '')`).Scan(&in.AttackVersion); err != nil {
		return export.File{}, fmt.Errorf("insights layer: the catalogue's version: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range d.Coverage { // a technique once, whatever its tactics: its entry covers them all
		if seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		kind := "technique"
		if strings.Contains(c.ID, ".") {
			kind = "subtechnique"
		}
		level := c.LevelID
		in.Tests = append(in.Tests, navigator.Test{Name: c.Mission.Name + " (" + c.Mission.DayText() + ")",
			State: "executed", LevelID: &level, Tags: []navigator.Tag{{Kind: kind, ExternalID: c.ID}}})
	}
	data, err := json.MarshalIndent(navigator.Build(in), "", "  ")
	if err != nil {
		return export.File{}, err
	}
	return export.File{ContentType: "application/json; charset=utf-8", Name: "violet-insights-navigator.json", Data: data}, nil
}

// levels reads the detection scale, retired levels included (a latest
// result may name one).
func levels(ctx context.Context, db *sql.DB) ([]navigator.Level, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, name, score, colour, position, retired FROM detection_levels`)
	if err != nil {
		return nil, fmt.Errorf("insights layer: the scale: %w", err)
	}
	defer rows.Close()
	var out []navigator.Level
	for rows.Next() {
		var l navigator.Level
		var id uuid.UUID
		if err := rows.Scan(&id, &l.Name, &l.Score, &l.Colour, &l.Position, &l.Retired); err != nil {
			return nil, fmt.Errorf("insights layer: the scale: %w", err)
		}
		l.ID = id
		out = append(out, l)
	}
	return out, rows.Err()
}

// filterText says which missions the layer covers.
func filterText(ctx context.Context, f insights.Filter) string {
	var parts []string
	if f.Label != "" {
		parts = append(parts, i18n.T(ctx, "insights.label")+": "+f.Label)
	}
	if f.From != "" {
		parts = append(parts, i18n.T(ctx, "insights.from")+" "+f.From)
	}
	if f.To != "" {
		parts = append(parts, i18n.T(ctx, "insights.to")+" "+f.To)
	}
	return strings.Join(parts, " · ")
}
