package mission

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	entmission "violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/live"
	missionviews "violet/views/missions"
)

// DateLayout is the format of a mission's dates, as a date input sends
// them.
const DateLayout = "2006-01-02"

// MissionInput is what the mission form may set: the mission's own
// fields, never its status, creator or members. Dates are DateLayout or
// empty.
type MissionInput struct {
	Name, Description, Scope string
	StartDate, EndDate       string
	// Tools are the ids of the defensive tools in scope, as the settings
	// form's checkboxes send them. They replace the scope only when
	// SetTools is true (the form showed its tools): a form without them
	// leaves the scope as it is.
	Tools    []string
	SetTools bool
	// Labels are the mission's labels as the form's one input sends them,
	// separated by commas (parseLabels).
	Labels string
}

// Normalize trims every field, as the workflows store them.
func (in MissionInput) Normalize() MissionInput {
	return MissionInput{Name: strings.TrimSpace(in.Name), Description: strings.TrimSpace(in.Description),
		Scope: strings.TrimSpace(in.Scope), StartDate: strings.TrimSpace(in.StartDate), EndDate: strings.TrimSpace(in.EndDate),
		Tools: in.Tools, SetTools: in.SetTools, Labels: strings.TrimSpace(in.Labels)}
}

// Limits of a mission's labels: short enough for a chip on the mission
// list, few enough for a filter's select to stay usable.
const (
	LabelMax  = 50 // characters
	LabelsMax = 20
)

// parseLabels reads the comma-separated labels: each trimmed, empty ones
// dropped, repeats (ignoring case) kept once in their first spelling;
// "labels" refused with a message key when one is too long or there are
// too many.
func parseLabels(raw string, errs *app.Invalid) []string {
	out := []string{}
	seen := map[string]bool{}
	for l := range strings.SplitSeq(raw, ",") {
		l = strings.TrimSpace(l)
		if l == "" || seen[strings.ToLower(l)] {
			continue
		}
		seen[strings.ToLower(l)] = true
		out = append(out, l)
	}
	for _, l := range out {
		if utf8.RuneCountInString(l) > LabelMax {
			errs.Add("labels", "mission_labels.too_long")
			return out
		}
	}
	if len(out) > LabelsMax {
		errs.Add("labels", "mission_labels.too_many")
	}
	return out
}

// check validates a normalised input and returns the dates it names (nil
// when empty) and its labels, or an *app.Invalid with a message key per
// field.
func (in MissionInput) check() (start, end *time.Time, labels []string, err error) {
	errs := &app.Invalid{}
	labels = parseLabels(in.Labels, errs)
	switch {
	case in.Name == "":
		errs.Add("name", "form.required")
	case len(in.Name) > missionviews.NameMax:
		// The schema's MaxLen counts bytes: refuse here, next to the
		// field, what it would refuse with a 500.
		errs.Add("name", "missions.form.name_too_long")
	}
	if utf8.RuneCountInString(in.Description) > missionviews.DescriptionMax {
		errs.Add("description", "missions.form.too_long")
	}
	if utf8.RuneCountInString(in.Scope) > missionviews.ScopeMax {
		errs.Add("scope", "missions.form.too_long")
	}
	parse := func(field, raw string) *time.Time {
		if raw == "" {
			return nil
		}
		t, err := time.Parse(DateLayout, raw)
		if err != nil || t.Year() < 1900 || t.Year() > 9999 {
			errs.Add(field, "missions.form.bad_date")
			return nil
		}
		return &t
	}
	start, end = parse("start_date", in.StartDate), parse("end_date", in.EndDate)
	if start != nil && end != nil && end.Before(*start) {
		errs.Add("end_date", "missions.form.end_before_start")
	}
	return start, end, labels, errs.Err()
}

// Create creates a mission with the viewer as its lead, with its audit
// event, in one transaction.
func (s *Service) Create(ctx context.Context, in MissionInput) (*ent.Mission, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, app.ErrForbidden
	}
	in = in.Normalize()
	start, end, labels, err := in.check()
	if err != nil {
		return nil, err
	}
	var m *ent.Mission
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		var err error
		m, err = tx.Mission.Create().
			SetName(in.Name).SetDescription(in.Description).SetScope(in.Scope).
			SetNillableStartDate(start).SetNillableEndDate(end).SetCreatedByID(v.UserID).
			SetLabels(labels).Save(ctx)
		if err != nil {
			return fmt.Errorf("create mission: %w", err)
		}
		// The founding membership is the system's: nobody is a lead of
		// the mission yet, and mission.create allowed its creation.
		if err := tx.MissionMember.Create().SetMissionID(m.ID).SetUserID(v.UserID).
			SetRole(missionmember.RoleLead).Exec(rule.SystemContext(ctx)); err != nil {
			return fmt.Errorf("make the creator lead: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionCreated, TargetType: targetMission, TargetID: m.ID.String(), TargetLabel: m.Name,
		})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Update saves the mission's own fields and, when the form showed them,
// the defensive tools in its scope (scopeChange: existing tools only, an
// inactive one kept but never newly added) if it is still at version, the
// one the form showed; otherwise (someone saved since, or deleted it) it
// returns ErrConflict and changes nothing. Leads and mission.manage only;
// an archived mission is read-only.
func (s *Service) Update(ctx context.Context, a *Access, version int, in MissionInput) error {
	if err := a.check(a.CanManage()); err != nil {
		return err
	}
	in = in.Normalize()
	start, end, labels, err := in.check()
	toolIDs, toolErr := parseToolIDs(in)
	if err = joinInvalid(err, toolErr); err != nil {
		return err
	}
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		var scope toolDiff
		if in.SetTools {
			d, err := scopeChange(ctx, tx.Client(), a.Mission.ID, toolIDs)
			if err != nil {
				return err
			}
			scope = d
		}
		upd := tx.Mission.UpdateOneID(a.Mission.ID).Where(entmission.Version(version)).
			SetName(in.Name).SetDescription(in.Description).SetScope(in.Scope).AddVersion(1).
			SetLabels(labels).AddToolIDs(scope.added...).RemoveToolIDs(scope.removed...)
		if start != nil {
			upd.SetStartDate(*start)
		} else {
			upd.ClearStartDate()
		}
		if end != nil {
			upd.SetEndDate(*end)
		} else {
			upd.ClearEndDate()
		}
		if err := upd.Exec(ctx); ent.IsNotFound(err) {
			return ErrConflict // stale, or deleted meanwhile
		} else if err != nil {
			return fmt.Errorf("update mission: %w", err)
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionUpdated, TargetType: targetMission, TargetID: a.Mission.ID.String(), TargetLabel: in.Name,
			Details: scope.details(map[string]any{"version": version + 1}),
		}); err != nil {
			return err
		}
		return announce(ctx, tx, a, live.KindMission)
	})
}

// ChangeStatus moves the mission to status to when the rules allow it
// (Transition: a refusal is an *ErrTransition), with its audit event, and
// tells the open pages and every other member.
func (s *Service) ChangeStatus(ctx context.Context, a *Access, to entmission.Status) error {
	from := a.Mission.Status
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := Transition(ctx, tx.Client(), a, to); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx.AuditEvent, missionEvent(a, audit.MissionStatusChanged,
			map[string]any{"from": string(from), "to": string(to)})); err != nil {
			return err
		}
		return s.announceStatus(ctx, tx, a, string(to))
	})
	if err != nil {
		a.Mission.Status = from // rolled back
	}
	return err
}

// TransitionNotice turns a refused transition's reason into a message key
// and its arguments in the viewer's language (the reasons are English
// sentences); to is the target status.
func TransitionNotice(ctx context.Context, e *ErrTransition, to string) (string, []any) {
	switch r := e.Reason; {
	case r == "plan at least one test first":
		return "missions.status.need_tests", nil
	case r == "give the mission a lead first":
		return "missions.status.need_lead", nil
	case r == "add a red team member first":
		return "missions.status.need_red", nil
	case strings.Contains(r, "are not reviewed, skipped or blocked"):
		var n int
		if _, err := fmt.Sscanf(r, "%d", &n); err == nil {
			return "missions.status.open_tests", []any{"Count", n}
		}
	}
	return "missions.status.refused", []any{"Status", missionviews.StatusLabel(ctx, to)}
}

// Delete moves a's mission to the trash (leads and mission.manage), with
// its audit event; trash.manage restores it. The soft delete is a bulk
// update the privacy rules keep for the system, so it runs as the system
// after the check.
func (s *Service) Delete(ctx context.Context, a *Access) error {
	if !a.CanManage() {
		return ErrForbidden
	}
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := tx.Mission.DeleteOneID(a.Mission.ID).Exec(rule.SystemContext(ctx)); err != nil {
			return fmt.Errorf("delete mission: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, missionEvent(a, audit.MissionDeleted, nil))
	})
}

// Restore takes a mission out of the trash (trash.manage). The viewer must
// still be able to see it (privacy on ctx); a mission not in the trash is
// restored already (a second click) and nothing is written.
func (s *Service) Restore(ctx context.Context, id uuid.UUID) error {
	if v := auth.FromContext(ctx); v == nil || !v.Can(auth.TrashManage) {
		return app.ErrForbidden
	}
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		m, err := tx.Mission.Query().Where(entmission.ID(id)).Only(schema.SkipSoftDelete(ctx))
		if err != nil {
			return fmt.Errorf("load mission: %w", err)
		}
		if m.DeletedAt == nil {
			return nil
		}
		sys := schema.SkipSoftDelete(rule.SystemContext(ctx))
		if err := tx.Mission.Update().Where(entmission.ID(id), entmission.DeletedAtNotNil()).
			ClearDeletedAt().Exec(sys); err != nil {
			return fmt.Errorf("restore mission: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionRestored, TargetType: targetMission, TargetID: m.ID.String(), TargetLabel: m.Name,
		})
	})
}

// StoredForm is a mission's stored values as its form shows them.
func StoredForm(m *ent.Mission) missionviews.Form {
	day := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(DateLayout)
	}
	return missionviews.Form{ID: m.ID.String(), Name: m.Name, Description: m.Description, Scope: m.Scope,
		StartDate: day(m.StartDate), EndDate: day(m.EndDate), Version: m.Version, Labels: strings.Join(m.Labels, ", ")}
}

// SettingsPage is the settings page of a's mission as stored: the edit
// form with the defensive tools it may choose (ScopeChoices), the status
// box and delete, for its leads and holders of mission.manage
// (ErrForbidden for others).
func SettingsPage(ctx context.Context, client *ent.Client, a *Access) (missionviews.Settings, error) {
	m := a.Mission
	if !a.CanManage() {
		return missionviews.Settings{}, ErrForbidden
	}
	st := missionviews.Settings{
		ID: m.ID.String(), Name: m.Name, Status: string(m.Status), Form: StoredForm(m),
		ReadOnly: a.Archived(), CanManage: a.CanManage(), CanTrash: a.Viewer.Can(auth.TrashManage),
	}
	var err error
	if st.Form.Tools, err = ScopeChoices(ctx, client, m.ID); err != nil {
		return st, err
	}
	st.Form.ToolsAdmin = a.Viewer.Can(auth.SettingsManage)
	for _, n := range Next(m.Status) {
		st.Next = append(st.Next, string(n))
	}
	return st, nil
}
