// Package library holds the workflows of the test library: the test
// template and scenario use cases of the library pages (templates.go,
// scenarios.go, scenario.go) and their read models (read.go), importing
// Atomic Red Team files and exchanging the library between Violet
// instances. Each imported file is one transaction: a file is imported
// whole or not at all, and one bad file never stops the others.
package library

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
	"violet/internal/app"
)

// Kinds of ATT&CK entry a template tag names.
const (
	KindTactic       = "tactic"
	KindTechnique    = "technique"
	KindSubtechnique = "subtechnique"
)

// Ref is an ATT&CK entry in the catalogue.
type Ref struct {
	Kind string
	ID   uuid.UUID
}

// Catalogue resolves ATT&CK IDs to catalogue entries, preferring active
// ones when retired duplicates share an ID.
type Catalogue map[string]Ref

// LoadCatalogue reads the ATT&CK IDs of the whole catalogue (a few
// thousand short rows, three queries).
func LoadCatalogue(ctx context.Context, client *ent.Client) (Catalogue, error) {
	c := Catalogue{}
	type row struct {
		ID         uuid.UUID `json:"id"`
		ExternalID string    `json:"external_id"`
		Revoked    bool      `json:"revoked"`
		Deprecated bool      `json:"deprecated"`
	}
	retired := map[string]bool{}
	add := func(kind string, rows []row) {
		for _, r := range rows {
			if _, seen := c[r.ExternalID]; seen && !retired[r.ExternalID] {
				continue
			}
			c[r.ExternalID] = Ref{Kind: kind, ID: r.ID}
			retired[r.ExternalID] = r.Revoked || r.Deprecated
		}
	}
	var tactics, techniques, subs []row
	if err := client.MitreTactic.Query().Select(mitretactic.FieldID, mitretactic.FieldExternalID,
		mitretactic.FieldRevoked, mitretactic.FieldDeprecated).Scan(ctx, &tactics); err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	if err := client.MitreTechnique.Query().Select(mitretechnique.FieldID, mitretechnique.FieldExternalID,
		mitretechnique.FieldRevoked, mitretechnique.FieldDeprecated).Scan(ctx, &techniques); err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	if err := client.MitreSubtechnique.Query().Select(mitresubtechnique.FieldID, mitresubtechnique.FieldExternalID,
		mitresubtechnique.FieldRevoked, mitresubtechnique.FieldDeprecated).Scan(ctx, &subs); err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	add(KindTactic, tactics)
	add(KindTechnique, techniques)
	add(KindSubtechnique, subs)
	return c, nil
}

// setTag points a tag builder at ref.
func setTag(create *ent.TestTemplateMitreTagCreate, ref Ref) *ent.TestTemplateMitreTagCreate {
	switch ref.Kind {
	case KindTactic:
		return create.SetTacticID(ref.ID)
	case KindTechnique:
		return create.SetTechniqueID(ref.ID)
	default:
		return create.SetSubtechniqueID(ref.ID)
	}
}

// TagValues turns ATT&CK IDs (TA0002, T1059, T1059.001) into the values a
// template form's picker sends ("<kind>:<uuid>"), for the JSON API, which
// names entries by their IDs. An ID the catalogue does not hold is an
// *app.Invalid on the field attack_ids.
func TagValues(ctx context.Context, client *ent.Client, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cat, err := LoadCatalogue(ctx, client)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		ref, ok := cat[strings.ToUpper(strings.TrimSpace(id))]
		if !ok {
			return nil, app.Invalidf("attack_ids", "api.attack.unknown_id")
		}
		out = append(out, ref.Kind+":"+ref.ID.String())
	}
	return out, nil
}
