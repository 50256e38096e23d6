package library

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/scenariotemplatetest"
	"violet/internal/database"
)

// ErrStale is a change made to a version of a scenario that someone else
// has changed since: the caller shows the current order (409) instead of
// applying it to an order the person never saw.
var ErrStale = errors.New("the scenario was changed by someone else")

// ErrNoScenario is a scenario that does not exist (or was deleted).
var ErrNoScenario = errors.New("no such scenario")

// Each scenario change below is one transaction that locks the scenario's
// row, checks the version the person saw (0 skips the check, for appends
// from elsewhere), applies the change with positions kept dense (0…n-1)
// and unique, and bumps the version. It returns the new version.

// AddTests appends templates at the end of a scenario, in the given order
// (the same template may be added several times).
func AddTests(ctx context.Context, client *ent.Client, scenarioID uuid.UUID, version int, templateIDs []uuid.UUID) (int, error) {
	return change(ctx, client, scenarioID, version, func(tx *ent.Tx, order []uuid.UUID) ([]uuid.UUID, error) {
		start := len(order)
		creates := make([]*ent.ScenarioTemplateTestCreate, len(templateIDs))
		for i, id := range templateIDs {
			creates[i] = tx.ScenarioTemplateTest.Create().SetScenarioTemplateID(scenarioID).
				SetTestTemplateID(id).SetPosition(start + i)
		}
		if err := tx.ScenarioTemplateTest.CreateBulk(creates...).Exec(ctx); err != nil {
			return nil, err
		}
		return nil, nil
	})
}

// MoveTest moves one entry of a scenario up (delta -1) or down (+1).
func MoveTest(ctx context.Context, client *ent.Client, scenarioID uuid.UUID, version int, entryID uuid.UUID, delta int) (int, error) {
	return change(ctx, client, scenarioID, version, func(tx *ent.Tx, order []uuid.UUID) ([]uuid.UUID, error) {
		i := index(order, entryID)
		if i < 0 {
			return nil, ErrNoScenario
		}
		j := i + delta
		if j < 0 || j >= len(order) {
			return order, nil // already first or last
		}
		order[i], order[j] = order[j], order[i]
		return order, nil
	})
}

// ReorderTests puts a scenario's entries in the given order, which must
// hold each of them exactly once (drag and drop sends the whole order).
func ReorderTests(ctx context.Context, client *ent.Client, scenarioID uuid.UUID, version int, entryIDs []uuid.UUID) (int, error) {
	return change(ctx, client, scenarioID, version, func(tx *ent.Tx, order []uuid.UUID) ([]uuid.UUID, error) {
		if len(entryIDs) != len(order) {
			return nil, ErrStale
		}
		for _, id := range entryIDs {
			if index(order, id) < 0 {
				return nil, ErrStale
			}
		}
		seen := map[uuid.UUID]bool{}
		for _, id := range entryIDs {
			if seen[id] {
				return nil, ErrStale
			}
			seen[id] = true
		}
		return entryIDs, nil
	})
}

// RemoveTest removes one entry; the ones after it move up.
func RemoveTest(ctx context.Context, client *ent.Client, scenarioID uuid.UUID, version int, entryID uuid.UUID) (int, error) {
	return change(ctx, client, scenarioID, version, func(tx *ent.Tx, order []uuid.UUID) ([]uuid.UUID, error) {
		i := index(order, entryID)
		if i < 0 {
			return nil, ErrNoScenario
		}
		if err := tx.ScenarioTemplateTest.DeleteOneID(entryID).Exec(ctx); err != nil {
			return nil, err
		}
		return append(order[:i:i], order[i+1:]...), nil
	})
}

// change runs fn on a scenario's current order under the rules above; fn
// returns the new order (nil when it changed nothing about the order).
func change(ctx context.Context, client *ent.Client, scenarioID uuid.UUID, version int,
	fn func(tx *ent.Tx, order []uuid.UUID) ([]uuid.UUID, error)) (int, error) {
	var next int
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		current, err := lockScenario(ctx, tx, scenarioID)
		if err != nil {
			return err
		}
		if version != 0 && version != current {
			return ErrStale
		}
		ids, err := tx.ScenarioTemplateTest.Query().Where(scenariotemplatetest.ScenarioTemplateID(scenarioID)).
			Order(ent.Asc(scenariotemplatetest.FieldPosition)).IDs(ctx)
		if err != nil {
			return err
		}
		order, err := fn(tx, ids)
		if err != nil {
			return err
		}
		if order != nil {
			if err := renumber(ctx, tx, scenarioID, order); err != nil {
				return err
			}
		}
		next = current + 1
		_, err = tx.ExecContext(ctx, `UPDATE scenario_templates SET version = $2, updated_at = now() WHERE id = $1`, scenarioID, next)
		return err
	})
	return next, err
}

// lockScenario takes the scenario's row lock and returns its version.
func lockScenario(ctx context.Context, tx *ent.Tx, id uuid.UUID) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM scenario_templates WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, err
		}
		return 0, ErrNoScenario
	}
	var v int
	err = rows.Scan(&v)
	return v, err
}

// renumber gives the entries positions 0…n-1 in order. They first move out
// of the way (positions are unique per scenario, checked per statement).
func renumber(ctx context.Context, tx *ent.Tx, scenarioID uuid.UUID, order []uuid.UUID) error {
	if _, err := tx.ExecContext(ctx, `UPDATE scenario_template_tests SET position = position + 1000000
		WHERE scenario_template_id = $1`, scenarioID); err != nil {
		return fmt.Errorf("reorder: %w", err)
	}
	ids := make([]string, len(order))
	for i, id := range order {
		ids[i] = id.String()
	}
	_, err := tx.ExecContext(ctx, `UPDATE scenario_template_tests e SET position = o.n - 1, updated_at = now()
		FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, n)
		WHERE e.id = o.id AND e.scenario_template_id = $1`, scenarioID, pq.Array(ids))
	if err != nil {
		return fmt.Errorf("reorder: %w", err)
	}
	return nil
}

func index(ids []uuid.UUID, id uuid.UUID) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}

// DuplicateScenario copies a scenario and its order under a new name.
func DuplicateScenario(ctx context.Context, client *ent.Client, scenarioID uuid.UUID, name string, createdBy *uuid.UUID) (uuid.UUID, error) {
	newID := uuid.New()
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		s, err := tx.ScenarioTemplate.Get(ctx, scenarioID)
		if err != nil {
			return err
		}
		if err := tx.ScenarioTemplate.Create().SetID(newID).SetName(name).SetDescription(s.Description).
			SetNillableCreatedByID(createdBy).Exec(ctx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO scenario_template_tests (scenario_template_id, test_template_id, position)
			SELECT $2, test_template_id, position FROM scenario_template_tests WHERE scenario_template_id = $1`, scenarioID, newID)
		return err
	})
	return newID, err
}
