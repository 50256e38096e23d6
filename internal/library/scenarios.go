package library

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/scenariotemplate"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/i18n"
	libraryviews "violet/views/library"
)

// The scenario workflows of the library pages: create, edit, duplicate,
// delete, restore, and adding a test from the page's search. The order
// changes themselves are in scenario.go.

// ScenarioInput is what the scenario forms may set: no owner, no tests
// (those are added on the scenario's page). Version is the version the
// edit form showed; CreateScenario ignores it.
type ScenarioInput struct {
	Name        string
	Description string
	Version     int
}

// checkScenario trims and validates a scenario's name and description.
// Names need not be unique: copies start with the same one.
func checkScenario(in *ScenarioInput) error {
	in.Name = strings.TrimSpace(in.Name)
	in.Description = strings.TrimSpace(in.Description)
	errs := &app.Invalid{}
	switch {
	case in.Name == "":
		errs.Add("name", "form.required")
	case len(in.Name) > libraryviews.ScenarioNameMax:
		// The schema's MaxLen counts bytes: refuse here, next to the field,
		// what it would refuse with a 500.
		errs.Add("name", "library.scenarios.name_too_long")
	}
	if utf8.RuneCountInString(in.Description) > libraryviews.ScenarioDescriptionMax {
		errs.Add("description", "library.scenarios.description_too_long")
	}
	return errs.Err()
}

// recordScenario writes a scenario's audit event in the transaction of its
// change.
func recordScenario(ctx context.Context, tx *ent.Tx, action string, id uuid.UUID, name string) error {
	return audit.Record(ctx, tx.AuditEvent, audit.Event{
		Action: action, TargetType: "scenario_template", TargetID: id.String(), TargetLabel: name,
	})
}

// CreateScenario creates an empty scenario with its audit event. Invalid
// input is an *app.Invalid.
func CreateScenario(ctx context.Context, client *ent.Client, in ScenarioInput) (*ent.ScenarioTemplate, error) {
	if err := checkScenario(&in); err != nil {
		return nil, err
	}
	v := auth.FromContext(ctx)
	var sc *ent.ScenarioTemplate
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		var err error
		sc, err = tx.ScenarioTemplate.Create().
			SetName(in.Name).SetDescription(in.Description).SetCreatedByID(v.UserID).
			Save(ctx)
		if err != nil {
			return err
		}
		return recordScenario(ctx, tx, audit.ScenarioCreated, sc.ID, sc.Name)
	})
	if err != nil {
		return nil, fmt.Errorf("create scenario: %w", err)
	}
	return sc, nil
}

// UpdateScenario saves a scenario's name and description if the scenario
// is still at the version the page showed, with its audit event; an
// unchanged name and description write nothing. It returns the page to
// show again when the save is refused: the page as read before the save
// for invalid input (an *app.Invalid), or as it is now after the refusal
// (app.ErrConflict: someone else saved or reordered since), so nothing is
// overwritten unseen; either way with the input, trimmed, kept in the
// page's open form. A scenario that is not visible or is deleted (even
// meanwhile) is not found.
func UpdateScenario(ctx context.Context, client *ent.Client, id uuid.UUID, in ScenarioInput) (libraryviews.ScenarioDetail, error) {
	d, err := ScenarioDetail(ctx, client, id, "")
	if err != nil {
		return d, err
	}
	if d.Deleted() {
		return d, fmt.Errorf("scenario in the trash: %w", app.ErrNotFound)
	}
	keepInput := func(d *libraryviews.ScenarioDetail) {
		d.Form.Name, d.Form.Description, d.Form.Open = in.Name, in.Description, true
	}
	if err := checkScenario(&in); err != nil {
		keepInput(&d)
		return d, err
	}
	if in.Name == d.Name && in.Description == d.Description {
		return d, nil
	}
	var n int
	err = database.WithTx(ctx, client, func(tx *ent.Tx) error {
		var err error
		n, err = tx.ScenarioTemplate.Update().
			Where(scenariotemplate.ID(id), scenariotemplate.Version(in.Version), scenariotemplate.DeletedAtIsNil()).
			SetName(in.Name).SetDescription(in.Description).AddVersion(1).
			Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		return recordScenario(ctx, tx, audit.ScenarioUpdated, id, in.Name)
	})
	if err != nil {
		return d, fmt.Errorf("update scenario: %w", err)
	}
	if n > 0 {
		return d, nil
	}
	// d was read before the refused update; read the scenario again so
	// that the page shows its current state.
	if d, err = ScenarioDetail(ctx, client, id, ""); err != nil {
		return d, err
	}
	if d.Deleted() {
		return d, fmt.Errorf("scenario in the trash: %w", app.ErrNotFound)
	}
	keepInput(&d)
	d.NoticeKey = "library.scenarios.stale_edit"
	return d, fmt.Errorf("scenario changed since the page was shown: %w", app.ErrConflict)
}

// AddTest appends a test template at the end of a scenario at version
// (AddTests); the same template may be added any number of times. A
// template that does not exist (or was deleted) is an *app.Invalid whose
// Key says so.
func AddTest(ctx context.Context, client *ent.Client, scenarioID uuid.UUID, version int, templateID uuid.UUID) error {
	ok, err := client.TestTemplate.Query().Where(testtemplate.ID(templateID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find template: %w", err)
	}
	if !ok {
		return &app.Invalid{Key: "library.scenarios.template_missing"}
	}
	_, err = AddTests(ctx, client, scenarioID, version, []uuid.UUID{templateID})
	return err
}

// CopyScenario copies a scenario with its order under the name
// "<name> (copy)" (in the viewer's language), owned by the viewer, and
// returns the copy's id.
func CopyScenario(ctx context.Context, client *ent.Client, id uuid.UUID) (uuid.UUID, error) {
	sc, err := client.ScenarioTemplate.Get(ctx, id)
	if err != nil {
		return uuid.Nil, fmt.Errorf("load scenario: %w", err)
	}
	suffix := " " + i18n.T(ctx, "library.scenarios.copy_suffix")
	name := cutBytes(sc.Name, libraryviews.ScenarioNameMax-len(suffix)) + suffix
	v := auth.FromContext(ctx)
	copyID, err := DuplicateScenario(ctx, client, id, name, &v.UserID)
	if err != nil {
		return uuid.Nil, fmt.Errorf("duplicate scenario: %w", err)
	}
	return copyID, nil
}

// DeleteScenario moves a scenario to the trash with its audit event.
// Missions already made from it keep their copies. A scenario already in
// the trash (a second click) is no error; one that does not exist at all
// is not found.
func DeleteScenario(ctx context.Context, client *ent.Client, id uuid.UUID) error {
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		sc, err := tx.ScenarioTemplate.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.ScenarioTemplate.DeleteOneID(id).Exec(ctx); err != nil {
			return err
		}
		return recordScenario(ctx, tx, audit.ScenarioDeleted, id, sc.Name)
	})
	if ent.IsNotFound(err) {
		if _, gone := client.ScenarioTemplate.Get(schema.SkipSoftDelete(ctx), id); gone == nil {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("delete scenario: %w", err)
	}
	return nil
}

// RestoreScenario takes a scenario out of the trash with its audit event.
// A scenario not in the trash (restored already: a second click) is left
// as it is; one that does not exist is not found.
func RestoreScenario(ctx context.Context, client *ent.Client, id uuid.UUID) error {
	sctx := schema.SkipSoftDelete(ctx)
	var n int
	err := database.WithTx(sctx, client, func(tx *ent.Tx) error {
		var err error
		n, err = tx.ScenarioTemplate.Update().
			Where(scenariotemplate.ID(id), scenariotemplate.DeletedAtNotNil()).
			ClearDeletedAt().
			Save(sctx)
		if err != nil || n == 0 {
			return err
		}
		sc, err := tx.ScenarioTemplate.Get(sctx, id)
		if err != nil {
			return err
		}
		return recordScenario(sctx, tx, audit.ScenarioRestored, id, sc.Name)
	})
	if err != nil {
		return fmt.Errorf("restore scenario: %w", err)
	}
	if n == 0 {
		if _, err := client.ScenarioTemplate.Get(ctx, id); err != nil {
			return fmt.Errorf("load scenario: %w", err)
		}
	}
	return nil
}
