// Package tools is the registry of defensive tools (an EDR, a SIEM…) the
// administrators keep and each mission chooses its tools in scope from.
// Its workflows (create, update, deactivate, reactivate, delete, restore)
// each run in one transaction under the registry's advisory lock with
// their audit event; its read models are the admin's list, a tool's edit
// form and the active tools a mission's picker offers.
package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/views/admin"
	"violet/views/components"
)

// lockKey serialises changes to the registry ("violet-t"): names are
// unique ignoring case, which the database's index (exact bytes) cannot
// check, so two saves of look-alike names must not pass the check at the
// same moment.
const lockKey int64 = 0x76696f6c65742d74

// targetType is the audit log's name for a tool.
const targetType = "defensive_tool"

// Active lists the tools a mission may still choose: active, not deleted
// (the soft delete hides deleted ones), by name.
func Active(ctx context.Context, client *ent.Client) ([]*ent.DefensiveTool, error) {
	ts, err := client.DefensiveTool.Query().
		Where(defensivetool.Active(true)).
		Order(defensivetool.ByName()).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list active tools: %w", err)
	}
	return ts, nil
}

// Service runs the registry's workflows and read models.
type Service struct {
	client *ent.Client
}

// NewService returns the registry's service over client.
func NewService(client *ent.Client) *Service { return &Service{client: client} }

// Input is a tool's create or edit form, as posted (the handler binds it
// directly: the fields are what the form may set). Version is the version
// the edit form was read at; Create ignores it.
type Input struct {
	Name    string `form:"name"`
	Vendor  string `form:"vendor"`
	Kind    string `form:"kind"`
	Active  bool   `form:"active"`
	Version int    `form:"version"`
}

// NameTakenError is a restore from the trash refused because another
// tool (not deleted) now has the name, ignoring case: Name is that
// tool's name, for the message to name it. It is an app.ErrConflict.
type NameTakenError struct{ Name string }

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("another tool is named %q", e.Name)
}

// Is makes a clash a conflict, for statusOf.
func (e *NameTakenError) Is(target error) bool { return target == app.ErrConflict }

// Clash is the name of the tool a refused restore clashes with, "" when
// err is not a clash.
func Clash(err error) string {
	var nt *NameTakenError
	if errors.As(err, &nt) {
		return nt.Name
	}
	return ""
}

// form is the form shown again with in, as typed, kept.
func form(id uuid.UUID, in Input) admin.ToolForm {
	f := admin.ToolForm{Version: in.Version, Name: in.Name, Vendor: in.Vendor, Kind: in.Kind, Active: in.Active}
	if id != uuid.Nil {
		f.ID = id.String()
	}
	return f
}

// refused fills f with the failures of a form: errs and, when clashName
// is set, the name taken by that tool. It returns the error to report.
func refused(f *admin.ToolForm, errs *app.Invalid, clashName string) error {
	if clashName != "" {
		errs.Add("name", "tools.name_taken")
		f.Clash = clashName
	}
	if err := errs.Err(); err != nil {
		f.Errors = components.Errors(errs.Fields)
		return err
	}
	return nil
}

// clean trims the input.
func clean(in Input) Input {
	in.Name = strings.TrimSpace(in.Name)
	in.Vendor = strings.TrimSpace(in.Vendor)
	in.Kind = strings.TrimSpace(in.Kind)
	return in
}

// check validates a tool's form, except the name's uniqueness (clash,
// inside the transaction). A refused form is an *app.Invalid.
func check(in Input) *app.Invalid {
	errs := &app.Invalid{}
	switch {
	case in.Name == "":
		errs.Add("name", "form.required")
	case len(in.Name) > admin.ToolNameMax:
		// The schema's MaxLen counts bytes: refuse here, next to the
		// field, what it would refuse with a 500.
		errs.Add("name", "tools.name_too_long")
	}
	if len(in.Vendor) > admin.ToolVendorMax {
		errs.Add("vendor", "tools.vendor_too_long")
	}
	if !slices.Contains(schema.ToolKinds, in.Kind) {
		errs.Add("kind", "tools.kind_invalid")
	}
	return errs
}

// lock takes the registry's transaction lock.
func lock(ctx context.Context, tx *ent.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("lock the tools: %w", err)
	}
	return nil
}

// clash returns the name of a tool other than self, not deleted, named
// name ignoring case, "" for none. Run under lock.
func clash(ctx context.Context, tx *ent.Tx, name string, self uuid.UUID) (string, error) {
	q := tx.DefensiveTool.Query().Where(defensivetool.NameEqualFold(name))
	if self != uuid.Nil {
		q.Where(defensivetool.IDNEQ(self))
	}
	t, err := q.First(ctx)
	switch {
	case ent.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("check tool name: %w", err)
	}
	return t.Name, nil
}

// List reads the registry into l: the tools not deleted, active first
// then by name, only those of l.Kind when it is one of schema.ToolKinds
// (anything else lists every kind, as a typed URL may hold); l's notice
// and error are kept.
func (s *Service) List(ctx context.Context, l admin.ToolList) (admin.ToolList, error) {
	q := s.client.DefensiveTool.Query()
	if slices.Contains(schema.ToolKinds, l.Kind) {
		q.Where(defensivetool.KindEQ(defensivetool.Kind(l.Kind)))
	} else {
		l.Kind = ""
	}
	ts, err := q.Order(defensivetool.ByActive(entsql.OrderDesc()), defensivetool.ByName(), defensivetool.ByID()).All(ctx)
	if err != nil {
		return l, fmt.Errorf("list tools: %w", err)
	}
	for _, t := range ts {
		l.Rows = append(l.Rows, row(t))
	}
	return l, nil
}

func row(t *ent.DefensiveTool) admin.ToolRow {
	return admin.ToolRow{ID: t.ID, Name: t.Name, Vendor: t.Vendor, Kind: t.Kind.String(), Active: t.Active, Version: t.Version}
}

// Form is a tool's edit form filled with its saved values. A missing or
// deleted tool is ent's not found.
func (s *Service) Form(ctx context.Context, id uuid.UUID) (admin.ToolForm, error) {
	t, err := s.client.DefensiveTool.Get(ctx, id)
	if err != nil {
		return admin.ToolForm{}, err
	}
	return admin.ToolForm{ID: t.ID.String(), Version: t.Version, Name: t.Name, Vendor: t.Vendor,
		Kind: t.Kind.String(), Active: t.Active}, nil
}

// Save creates a tool (id uuid.Nil) or saves one's edit form: see Create
// and Update.
func (s *Service) Save(ctx context.Context, id uuid.UUID, in Input) (admin.ToolForm, error) {
	if id == uuid.Nil {
		return s.Create(ctx, in)
	}
	return s.Update(ctx, id, in)
}

// Create adds a tool with its audit event. An invalid form is an
// *app.Invalid, returned with the form to show again: the input kept, the
// errors next to the fields, a name taken naming the tool holding it.
func (s *Service) Create(ctx context.Context, in Input) (admin.ToolForm, error) {
	in = clean(in)
	errs, f := check(in), form(uuid.Nil, in)
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
			return err
		}
		other := ""
		if _, bad := errs.Fields["name"]; !bad {
			var err error
			if other, err = clash(ctx, tx, in.Name, uuid.Nil); err != nil {
				return err
			}
		}
		if err := refused(&f, errs, other); err != nil {
			return err
		}
		t, err := tx.DefensiveTool.Create().SetName(in.Name).SetVendor(in.Vendor).
			SetKind(defensivetool.Kind(in.Kind)).SetActive(in.Active).Save(ctx)
		if err != nil {
			return fmt.Errorf("create tool: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.ToolCreated, TargetType: targetType, TargetID: t.ID.String(), TargetLabel: t.Name,
			Details: map[string]any{"vendor": t.Vendor, "kind": t.Kind.String(), "active": t.Active},
		})
	})
	return f, err
}

// Update saves a tool's edit form if the tool is still at the version the
// form was read at, auditing what changed; a form that changes nothing
// writes nothing. A refused form comes back to show again, the input
// kept: an invalid one is an *app.Invalid (as for Create); someone else's
// save since is app.ErrConflict, the form carrying the tool as saved now
// (Saved) and its version, to compare and save again. A missing or
// deleted tool is ent's not found.
func (s *Service) Update(ctx context.Context, id uuid.UUID, in Input) (admin.ToolForm, error) {
	in = clean(in)
	errs, f := check(in), form(id, in)
	stale := func(t *ent.DefensiveTool) error {
		saved := row(t)
		f.Saved, f.Version = &saved, t.Version
		return fmt.Errorf("tool saved since the form was read: %w", app.ErrConflict)
	}
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
			return err
		}
		old, err := tx.DefensiveTool.Get(ctx, id)
		if err != nil {
			return err
		}
		if old.Version != in.Version {
			return stale(old)
		}
		other := ""
		if _, bad := errs.Fields["name"]; !bad {
			if other, err = clash(ctx, tx, in.Name, id); err != nil {
				return err
			}
		}
		if err := refused(&f, errs, other); err != nil {
			return err
		}
		changes := map[string]any{}
		note := func(field string, was, now any) {
			if was != now {
				changes[field] = map[string]any{"old": was, "new": now}
			}
		}
		note("name", old.Name, in.Name)
		note("vendor", old.Vendor, in.Vendor)
		note("kind", old.Kind.String(), in.Kind)
		note("active", old.Active, in.Active)
		if len(changes) == 0 {
			return nil
		}
		// The version in the WHERE clause as well: the lock serialises
		// the registry's workflows, this keeps the rule where it is read.
		n, err := tx.DefensiveTool.Update().Where(defensivetool.ID(id), defensivetool.Version(in.Version)).
			SetName(in.Name).SetVendor(in.Vendor).SetKind(defensivetool.Kind(in.Kind)).SetActive(in.Active).
			AddVersion(1).Save(ctx)
		if err != nil {
			return fmt.Errorf("update tool: %w", err)
		}
		if n == 0 {
			return stale(old)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.ToolUpdated, TargetType: targetType, TargetID: id.String(), TargetLabel: in.Name,
			Details: changes,
		})
	})
	return f, err
}

// Deactivate stops offering a tool to missions (see SetActive).
func (s *Service) Deactivate(ctx context.Context, id uuid.UUID) error {
	return s.SetActive(ctx, id, false)
}

// Reactivate offers a deactivated tool again (see SetActive).
func (s *Service) Reactivate(ctx context.Context, id uuid.UUID) error {
	return s.SetActive(ctx, id, true)
}

// SetActive deactivates (active false: no longer offered to missions,
// kept by the missions that have it in scope) or reactivates a tool.
// Setting the flag it already has does nothing. It bumps the version, so
// an edit form read before is refused rather than undoing it.
func (s *Service) SetActive(ctx context.Context, id uuid.UUID, active bool) error {
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
			return err
		}
		t, err := tx.DefensiveTool.Get(ctx, id)
		if err != nil {
			return err
		}
		if t.Active == active {
			return nil
		}
		if err := tx.DefensiveTool.UpdateOneID(id).SetActive(active).AddVersion(1).Exec(ctx); err != nil {
			return fmt.Errorf("set tool active: %w", err)
		}
		action := audit.ToolDeactivated
		if active {
			action = audit.ToolReactivated
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: action, TargetType: targetType, TargetID: id.String(), TargetLabel: t.Name,
		})
	})
}

// Delete moves a tool to the trash. A tool in missions' scope can be
// deleted too: the soft delete hides it from the registry, the pickers and
// the scope (the mission_tools rows stay, so a restore brings it back
// into their scope); the outcomes already recorded for it stay on their
// tests and still count in their overall result, shown as no longer in
// scope (a test's history does not change when the registry does).
// Deactivating is how a tool leaves the picker while missions keep it.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
			return err
		}
		t, err := tx.DefensiveTool.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DefensiveTool.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete tool: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.ToolDeleted, TargetType: targetType, TargetID: id.String(), TargetLabel: t.Name,
		})
	})
}

// Restore takes a tool out of the trash, with its audit event. A tool
// whose name another tool has taken since (ignoring case) stays in the
// trash: a *NameTakenError (app.ErrConflict) naming that tool, to be
// renamed or deleted first. A tool that is not in the trash is not found.
func (s *Service) Restore(ctx context.Context, id uuid.UUID) error {
	sctx := schema.SkipSoftDelete(ctx)
	return database.WithTx(sctx, s.client, func(tx *ent.Tx) error {
		if err := lock(sctx, tx); err != nil {
			return err
		}
		t, err := tx.DefensiveTool.Query().Where(defensivetool.ID(id), defensivetool.DeletedAtNotNil()).Only(sctx)
		if err != nil {
			return err
		}
		// The clash is looked for among the tools not deleted: ctx, not
		// sctx, keeps the soft delete's filter.
		other, err := clash(ctx, tx, t.Name, id)
		if err != nil {
			return err
		}
		if other != "" {
			return &NameTakenError{Name: other}
		}
		if err := tx.DefensiveTool.UpdateOneID(id).ClearDeletedAt().AddVersion(1).Exec(sctx); err != nil {
			return fmt.Errorf("restore tool: %w", err)
		}
		return audit.Record(sctx, tx.AuditEvent, audit.Event{
			Action: audit.ToolRestored, TargetType: targetType, TargetID: id.String(), TargetLabel: t.Name,
		})
	})
}
