package mission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	entmission "violet/ent/mission"
	"violet/ent/predicate"
	"violet/internal/app"
	"violet/internal/database"
	"violet/internal/tools"
	missionviews "violet/views/missions"
)

// The defensive tools in a mission's scope (the Mission edge "tools",
// table mission_tools): the tools whose outcomes blue records on the
// mission's tests. The settings form chooses them (Update); the registry
// (internal/tools) says which tools exist and which are still offered.
//
// An inactive tool stays in the scope of the missions that had it (its
// outcomes there keep their meaning) but is not newly added. A deleted
// tool is hidden by the soft delete from the scope: it is neither shown
// nor offered, and its mission_tools row is left as it is, so restoring
// the tool from the trash brings it back where it was. Outcomes recorded
// for it stay on their tests (outcomes.go), shown as no longer in scope.

// toolDiff is what a save changes in a mission's scope: the tools added
// and removed, with their names for the audit record.
type toolDiff struct {
	added, removed           []uuid.UUID
	addedNames, removedNames []string
}

// details adds the tools added and removed (by name) to an audit event's
// details, when there are any.
func (d toolDiff) details(m map[string]any) map[string]any {
	if len(d.addedNames) > 0 {
		m["tools_added"] = d.addedNames
	}
	if len(d.removedNames) > 0 {
		m["tools_removed"] = d.removedNames
	}
	return m
}

// parseToolIDs reads the form's tool ids, once each; a value that is no
// id names no tool (*app.Invalid on "tools").
func parseToolIDs(in MissionInput) ([]uuid.UUID, error) {
	if !in.SetTools {
		return nil, nil
	}
	ids := make([]uuid.UUID, 0, len(in.Tools))
	for _, raw := range in.Tools {
		id, err := uuid.Parse(strings.TrimSpace(raw))
		if err != nil {
			return nil, app.Invalidf("tools", "mission_tools.form.unknown")
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// joinInvalid merges two validation failures (either may be nil) into
// one *app.Invalid, so the form shows every field's error at once.
func joinInvalid(a, b error) error {
	if a == nil || b == nil {
		return errors.Join(a, b)
	}
	var ia, ib *app.Invalid
	if !errors.As(a, &ia) || !errors.As(b, &ib) {
		return errors.Join(a, b)
	}
	for f, k := range ib.Fields {
		ia.Add(f, k)
	}
	return ia
}

// inScope are the tools in the mission's scope, by name (the soft delete
// hides deleted ones).
func inScope(ctx context.Context, client *ent.Client, missionID uuid.UUID) ([]*ent.DefensiveTool, error) {
	ts, err := client.DefensiveTool.Query().
		Where(defensivetool.HasMissionsWith(entmission.ID(missionID))).
		Order(defensivetool.ByName()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("tools in scope: %w", err)
	}
	return ts, nil
}

// scopeChange compares the scope the form asks for (ids) with the
// mission's: a tool that does not exist (or is deleted) is refused, an
// inactive one may stay but is refused when it is not in scope already.
// Read in the saving transaction.
func scopeChange(ctx context.Context, client *ent.Client, missionID uuid.UUID, ids []uuid.UUID) (toolDiff, error) {
	var d toolDiff
	current, err := inScope(ctx, client, missionID)
	if err != nil {
		return d, err
	}
	var wanted []*ent.DefensiveTool
	if len(ids) > 0 {
		// FOR SHARE: a tool deactivated or deleted at this moment either
		// committed first (it is seen inactive or gone) or waits for this
		// save, so an inactive tool is never newly added.
		wanted, err = client.DefensiveTool.Query().
			Where(predicate.DefensiveTool(database.In(defensivetool.FieldID, ids))).
			Order(defensivetool.ByName()).ForShare().All(ctx)
		if err != nil {
			return d, fmt.Errorf("chosen tools: %w", err)
		}
	}
	if len(wanted) < len(ids) {
		return d, app.Invalidf("tools", "mission_tools.form.unknown")
	}
	had := func(id uuid.UUID) bool {
		return slices.ContainsFunc(current, func(t *ent.DefensiveTool) bool { return t.ID == id })
	}
	for _, t := range wanted {
		switch {
		case had(t.ID):
		case !t.Active:
			return d, app.Invalidf("tools", "mission_tools.form.inactive")
		default:
			d.added, d.addedNames = append(d.added, t.ID), append(d.addedNames, t.Name)
		}
	}
	for _, t := range current {
		if !slices.Contains(ids, t.ID) {
			d.removed, d.removedNames = append(d.removed, t.ID), append(d.removedNames, t.Name)
		}
	}
	return d, nil
}

// ScopeChoices are the tools the mission's settings form offers: every
// active tool of the registry and the inactive ones already in scope
// (kept, and marked, so that saving does not drop them), by name, each
// checked when in scope.
func ScopeChoices(ctx context.Context, client *ent.Client, missionID uuid.UUID) ([]missionviews.Tool, error) {
	active, err := tools.Active(ctx, client)
	if err != nil {
		return nil, err
	}
	current, err := inScope(ctx, client, missionID)
	if err != nil {
		return nil, err
	}
	checked := map[uuid.UUID]bool{}
	for _, t := range current {
		checked[t.ID] = true
	}
	out := make([]missionviews.Tool, 0, len(active)+len(current))
	view := func(t *ent.DefensiveTool) missionviews.Tool {
		return missionviews.Tool{ID: t.ID.String(), Name: t.Name, Vendor: t.Vendor, Kind: string(t.Kind),
			Active: t.Active, Checked: checked[t.ID]}
	}
	for _, t := range active {
		out = append(out, view(t))
	}
	for _, t := range current {
		if !t.Active {
			out = append(out, view(t))
		}
	}
	slices.SortStableFunc(out, func(a, b missionviews.Tool) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
