package export

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretechnique"
	"violet/ent/testtemplate"
	"violet/ent/testtemplatemitretag"
	"violet/internal/app"
	"violet/internal/mission"
	"violet/internal/navigator"
	"violet/views/missionpage"
)

// layerNameMax is the most characters of a layer's name kept (the preview,
// the audit record).
const layerNameMax = 300

// PreviewLayer reads a Navigator layer, checks it and its technique IDs
// against the catalogue, and returns what it would add to the plan: per
// technique, the library's templates tagged with it, all of them chosen.
// It creates nothing. A layer it refuses is a *navigator.ParseError.
func PreviewLayer(ctx context.Context, client *ent.Client, data []byte) (*missionpage.NavigatorPreview, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &navigator.ParseError{Reason: "exports.import.error.missing"}
	}
	layer, err := navigator.Parse(data)
	if err != nil {
		return nil, err
	}
	rows, err := LayerRows(ctx, client, layer.IDs, nil, layer.Platforms)
	if err != nil {
		return nil, err
	}
	return &missionpage.NavigatorPreview{LayerName: cutRunes(layer.Name, layerNameMax), Rows: rows,
		Platforms: layer.Platforms}, nil
}

// LayerRows finds the catalogue entries of the layer's IDs and the
// library's templates tagged with each (three statements). An ID the
// catalogue does not hold is a *navigator.ParseError. chosen marks the
// checked templates (nil: those on the layer's platforms, see onPlatforms).
func LayerRows(ctx context.Context, client *ent.Client, ids []string, chosen map[string]bool, platforms []string) ([]missionpage.NavigatorRow, error) {
	var techIDs, subIDs []string
	for _, id := range ids {
		if strings.Contains(id, ".") {
			subIDs = append(subIDs, id)
		} else {
			techIDs = append(techIDs, id)
		}
	}
	techs, err := client.MitreTechnique.Query().Where(mitretechnique.ExternalIDIn(techIDs...)).
		Select(mitretechnique.FieldExternalID, mitretechnique.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	subs, err := client.MitreSubtechnique.Query().Where(mitresubtechnique.ExternalIDIn(subIDs...)).
		Select(mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	names := map[string]string{}
	byRow := map[uuid.UUID]string{} // catalogue row → ATT&CK ID
	var techRows, subRows []uuid.UUID
	for _, t := range techs {
		names[t.ExternalID], byRow[t.ID] = t.Name, t.ExternalID
		techRows = append(techRows, t.ID)
	}
	for _, t := range subs {
		names[t.ExternalID], byRow[t.ID] = t.Name, t.ExternalID
		subRows = append(subRows, t.ID)
	}
	layer := navigator.ImportedLayer{IDs: ids}
	if err := layer.Unknown(func(id string) bool { _, ok := names[id]; return ok }); err != nil {
		return nil, err
	}
	tagged := testtemplatemitretag.Or(testtemplatemitretag.TechniqueIDIn(techRows...), testtemplatemitretag.SubtechniqueIDIn(subRows...))
	templates, err := client.TestTemplate.Query().Where(testtemplate.HasMitreTagsWith(tagged)).
		Order(testtemplate.ByName(), testtemplate.ByID()).
		WithMitreTags(func(q *ent.TestTemplateMitreTagQuery) { q.Where(tagged) }).
		Select(testtemplate.FieldName, testtemplate.FieldPlatforms).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the library: %w", err)
	}
	perID := map[string][]*ent.TestTemplate{}
	for _, t := range templates {
		for _, g := range t.Edges.MitreTags {
			for _, ref := range []*uuid.UUID{g.TechniqueID, g.SubtechniqueID} {
				if ref != nil && byRow[*ref] != "" && !slices.Contains(perID[byRow[*ref]], t) {
					perID[byRow[*ref]] = append(perID[byRow[*ref]], t)
				}
			}
		}
	}
	listed := map[uuid.UUID]bool{}
	rows := make([]missionpage.NavigatorRow, 0, len(ids))
	for _, id := range ids {
		r := missionpage.NavigatorRow{TechniqueID: id, Name: names[id]}
		for _, t := range perID[id] {
			nt := missionpage.NavigatorTemplate{ID: t.ID.String(), Name: t.Name, Listed: !listed[t.ID],
				Platforms: t.Platforms, OffPlatform: !onPlatforms(t.Platforms, platforms)}
			nt.Checked = nt.Listed && (chosen == nil && !nt.OffPlatform || chosen[nt.ID])
			listed[t.ID] = true
			r.Templates = append(r.Templates, nt)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// onPlatforms reports whether a template with these platforms runs on one
// of the layer's (names compared as navigator.Platform gives them). A
// layer without platforms, or a template without any, matches.
func onPlatforms(template, layer []string) bool {
	if len(layer) == 0 || len(template) == 0 {
		return true
	}
	for _, p := range template {
		if slices.Contains(layer, navigator.Platform(p)) {
			return true
		}
	}
	return false
}

// LayerChoice is what a lead confirmed from a layer's preview.
type LayerChoice struct {
	LayerName  string
	Techniques []string    // the layer's techniques, for the audit record
	Platforms  []string    // the layer's platforms, to show the preview again
	Templates  []uuid.UUID // the chosen templates, without repeats
}

// Refused is a confirmation refused for a reason the lead can act on
// (choosing nothing, a template deleted since the preview): the preview to
// show again, its Error the reason's message key.
type Refused struct{ Preview *missionpage.NavigatorPreview }

func (r *Refused) Error() string { return "navigator import refused: " + r.Preview.Error }

// Is makes errors.Is(err, app.ErrInvalid) true.
func (r *Refused) Is(target error) bool { return target == app.ErrInvalid }

// AddFromLayer adds the chosen templates to the plan, all of them or none,
// with the plan change recorded in the same transaction
// (mission.AddTemplates). A refusal is a *Refused, nothing added; when the
// catalogue no longer holds one of the techniques, the preview cannot be
// shown again: a *navigator.ParseError.
func AddFromLayer(ctx context.Context, client *ent.Client, a *mission.Access, in LayerChoice) error {
	name := cutRunes(in.LayerName, layerNameMax)
	refuse := func(key string) error {
		p := &missionpage.NavigatorPreview{LayerName: name, Error: key, Platforms: in.Platforms}
		if len(in.Techniques) > 0 {
			chosen := make(map[string]bool, len(in.Templates))
			for _, id := range in.Templates {
				chosen[id.String()] = true
			}
			var err error
			if p.Rows, err = LayerRows(ctx, client, in.Techniques, chosen, in.Platforms); err != nil {
				return err
			}
		}
		return &Refused{Preview: p}
	}
	if len(in.Templates) == 0 {
		return refuse("exports.import.error.choose")
	}
	ids := make([]string, len(in.Templates))
	for i, id := range in.Templates {
		ids[i] = id.String()
	}
	details := map[string]any{"change": "navigator_import", "layer": name,
		"techniques": in.Techniques, "test_template_ids": ids}
	if _, err := mission.AddTemplates(ctx, client, a, in.Templates, details); ent.IsNotFound(err) {
		return refuse("exports.import.error.template_gone")
	} else if err != nil {
		return fmt.Errorf("add templates: %w", err)
	}
	return nil
}

// cutRunes keeps the first n characters of s.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
