package mission

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/ent/missiontestoutcome"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/live"
	"violet/internal/notify"
	"violet/internal/paths"
	mtviews "violet/views/missiontest"
)

// TestTarget is the audit target type of a mission test.
const TestTarget = "mission_test"

// TestLink is the page of one test, the link of its notifications.
func TestLink(missionID, testID uuid.UUID) string {
	return paths.URL(paths.MissionTest, missionID, testID)
}

// ErrNotReleased refuses a blue record on a test the red team has not
// released yet (only leads and managers see such a test): 409.
var ErrNotReleased = &ErrState{From: "unreleased", Action: "recorded by the blue team"}

// Steps runs the steps of a mission's tests (start, stop, saves, release,
// review, set aside, reopen) the same way for every caller — the web
// pages and the demo — so each step leaves its audit record, its live
// event and its notifications, all in the step's own transaction. Each
// step is one method taking the version of the test the person saw; the
// role is checked once, by the rule the step runs (test.go).
type Steps struct {
	client   *ent.Client
	notifier *notify.Notifier
	now      func() time.Time
}

// NewSteps returns the steps runner writing through client and notifying
// through notifier, on the system's clock.
func NewSteps(client *ent.Client, notifier *notify.Notifier) *Steps {
	return &Steps{client: client, notifier: notifier, now: time.Now}
}

// WithClock returns a copy of s that dates runs and reviews, and checks
// detection times, by now (the server's clock, which tests set).
func (s *Steps) WithClock(now func() time.Time) *Steps {
	c := *s
	c.now = now
	return &c
}

// Run runs change (a rule of this package, given the transaction's
// client) on test t in one transaction, records the audit event action
// in it, and announces the change. t is the test as the actor saw it
// before the step: its name labels the audit record and its executor and
// release decide who is notified of a review. It is for callers that
// date their steps themselves (the demo); pages call the step methods.
func (s *Steps) Run(ctx context.Context, a *Access, t *ent.MissionTest, action string,
	change func(client *ent.Client) error) error {
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := change(tx.Client()); err != nil {
			return err
		}
		return s.record(ctx, tx, a, t, action)
	})
}

// record writes the audit event of action (none when action is "") and
// announces it.
func (s *Steps) record(ctx context.Context, tx *ent.Tx, a *Access, t *ent.MissionTest, action string) error {
	if action != "" {
		if err := audit.Record(ctx, tx.AuditEvent, TestEvent(a, t, action)); err != nil {
			return err
		}
	}
	return s.announce(ctx, tx, a, t, action)
}

// step runs one step on test testID of a's mission in one transaction:
// it reads the test as the viewer sees it (not found otherwise: blue
// members do not see unreleased tests), runs do on it with the
// transaction's client, records action and announces it. It returns the
// test's new version.
func (s *Steps) step(ctx context.Context, a *Access, testID uuid.UUID, action string,
	do func(c *ent.Client, t *ent.MissionTest) (int, error)) (int, error) {
	return s.stepWith(ctx, a, testID, action, func(c *ent.Client, t *ent.MissionTest) (int, map[string]any, error) {
		v, err := do(c, t)
		return v, nil, err
	})
}

// stepWith is step for a do that also says what its audit event records
// beyond the test and its mission (the fields a save changed).
func (s *Steps) stepWith(ctx context.Context, a *Access, testID uuid.UUID, action string,
	do func(c *ent.Client, t *ent.MissionTest) (int, map[string]any, error)) (int, error) {
	var version int
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		t, err := tx.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).Only(ctx)
		if err != nil {
			return err
		}
		var details map[string]any
		if version, details, err = do(tx.Client(), t); err != nil {
			return err
		}
		if action != "" {
			ev := TestEvent(a, t, action)
			for k, v := range details {
				ev.Details[k] = v
			}
			if err := audit.Record(ctx, tx.AuditEvent, ev); err != nil {
				return err
			}
		}
		return s.announce(ctx, tx, a, t, action)
	})
	return version, err
}

// Start records the start of a run (pending → running), with the red
// fields typed so far (see redStep). The run starts now, or when red says
// it did: a script recording a run after the fact (the JSON API) gives
// the time.
func (s *Steps) Start(ctx context.Context, a *Access, testID uuid.UUID, version int, red *RedFields) (int, error) {
	at := s.now()
	if red != nil && red.StartedAt != nil {
		at = *red.StartedAt
	}
	return s.redStep(ctx, a, testID, version, red, audit.MissionTestStarted, func(c *ent.Client, v int) (int, error) {
		return Start(ctx, c, a, testID, v, at)
	})
}

// Stop records the end of a run (running → executed), with the red fields
// typed so far (see redStep); it ends now, or when red says it did.
func (s *Steps) Stop(ctx context.Context, a *Access, testID uuid.UUID, version int, red *RedFields) (int, error) {
	at := s.now()
	if red != nil && red.EndedAt != nil {
		at = *red.EndedAt
	}
	return s.redStep(ctx, a, testID, version, red, audit.MissionTestStopped, func(c *ent.Client, v int) (int, error) {
		return Stop(ctx, c, a, testID, v, at)
	})
}

// Release makes the test visible to the blue team, with the red fields
// typed so far (see redStep).
func (s *Steps) Release(ctx context.Context, a *Access, testID uuid.UUID, version int, red *RedFields) (int, error) {
	return s.redStep(ctx, a, testID, version, red, audit.MissionTestReleased, func(c *ent.Client, v int) (int, error) {
		return Release(ctx, c, a, testID, v)
	})
}

// redStep runs Start, Stop or Release. Their buttons belong to the red
// form, so the page sends what the operator has typed with them: red,
// when given, is checked like a save (an *app.Invalid) and, when it
// changes the record, saved in the same transaction as the step, with
// its own audit event, at the version the page showed. A refusal (stale
// version, state, archived mission) rolls both back, so that the page can
// answer with the input kept and pressing a button never discards typed
// text. Without red (an older page, a script) the step runs alone.
func (s *Steps) redStep(ctx context.Context, a *Access, testID uuid.UUID, version int, red *RedFields, action string,
	run func(c *ent.Client, version int) (int, error)) (int, error) {
	return s.step(ctx, a, testID, action, func(c *ent.Client, t *ent.MissionTest) (int, error) {
		v := version
		if red != nil {
			if err := checkRed(a, *red); err != nil {
				return 0, err
			}
			if red.Changes(t) {
				var err error
				if v, err = SaveRed(ctx, c, a, testID, version, *red); err != nil {
					return 0, err
				}
				if err := audit.Record(ctx, c.AuditEvent, TestEvent(a, t, audit.MissionTestRedSaved)); err != nil {
					return 0, err
				}
			}
		}
		return run(c, v)
	})
}

// SaveRed saves the red side's record (red members, leads and mission
// managers); invalid fields are an *app.Invalid.
func (s *Steps) SaveRed(ctx context.Context, a *Access, testID uuid.UUID, version int, f RedFields) (int, error) {
	return s.step(ctx, a, testID, audit.MissionTestRedSaved, func(c *ent.Client, _ *ent.MissionTest) (int, error) {
		if err := checkRed(a, f); err != nil {
			return 0, err
		}
		return SaveRed(ctx, c, a, testID, version, f)
	})
}

// checkRed refuses a viewer who may not write the red side (ErrForbidden)
// or an archived mission (ErrReadOnly), then invalid fields.
func checkRed(a *Access, f RedFields) error {
	if err := a.check(a.CanWriteRed()); err != nil {
		return err
	}
	return f.check()
}

// Normalize trims the hosts, as SaveRed stores them.
func (f RedFields) Normalize() RedFields {
	f.SourceHost, f.TargetHost = strings.TrimSpace(f.SourceHost), strings.TrimSpace(f.TargetHost)
	return f
}

// check validates the red side's record: the texts fit their columns, the
// hosts (trimmed) too and hold no control character.
func (f RedFields) check() error {
	f = f.Normalize()
	errs := &app.Invalid{}
	if utf8.RuneCountInString(f.Command) > mtviews.TextMax {
		errs.Add("command", "missions.test.text_too_long")
	}
	for name, v := range map[string]string{"source_host": f.SourceHost, "target_host": f.TargetHost} {
		switch {
		case len(v) > mtviews.HostMax:
			errs.Add(name, "missions.test.host_too_long")
		case strings.ContainsFunc(v, unicode.IsControl):
			errs.Add(name, "missions.test.host_invalid")
		}
	}
	if utf8.RuneCountInString(f.Notes) > mtviews.TextMax {
		errs.Add("red_notes", "missions.test.text_too_long")
	}
	for name, at := range map[string]*time.Time{"started_at": f.StartedAt, "ended_at": f.EndedAt} {
		if at != nil && (at.UTC().Year() < 2000 || at.UTC().Year() >= 2100) {
			errs.Add(name, "api.time_implausible")
		}
	}
	if f.StartedAt != nil && f.EndedAt != nil && f.EndedAt.Before(*f.StartedAt) {
		errs.Add("ended_at", "api.ended_before_started")
	}
	return errs.Err()
}

// BlueInput is the blue side's form as sent. The detection level (its
// id, "" for none) and the detection time (a datetime-local value in the
// viewer's zone, "" for none) are read here, so that every refusal is a message next to
// its field.
type BlueInput struct {
	Level, DetectedAt           string
	AlertName, LogSource, Notes string
}

// Normalize trims every field but the notes.
func (in BlueInput) Normalize() BlueInput {
	return BlueInput{Level: strings.TrimSpace(in.Level), DetectedAt: strings.TrimSpace(in.DetectedAt),
		AlertName: strings.TrimSpace(in.AlertName), LogSource: strings.TrimSpace(in.LogSource), Notes: in.Notes}
}

// SaveBlue saves the blue side's record of a released test (blue members,
// leads and mission managers). Invalid fields are an *app.Invalid; a test
// not released yet is ErrNotReleased.
func (s *Steps) SaveBlue(ctx context.Context, a *Access, testID uuid.UUID, version int, in BlueInput) (int, error) {
	return s.stepWith(ctx, a, testID, audit.MissionTestBlueSaved, func(c *ent.Client, t *ent.MissionTest) (int, map[string]any, error) {
		if err := a.check(a.CanWriteBlue()); err != nil {
			return 0, nil, err
		}
		// The form shows the outcome without a tool (outcomes.go), or the
		// test's result when it has no outcome at all: the values it sends
		// back unchanged are compared with those (an unchanged retired level
		// or past time is kept). A result derived from the tools' outcomes
		// is not the form's: against it, everything sent is new. before
		// is what the form showed, for the audit record's changed fields
		// (as an outcome per tool's save records them).
		shown := t
		before := &ent.MissionTestOutcome{DetectionLevelID: t.DetectionLevelID, DetectedAt: t.DetectedAt,
			AlertName: t.AlertName, LogSource: t.LogSource, Notes: t.BlueNotes}
		if o, err := outcomeOf(ctx, c, t.ID, nil); err != nil {
			return 0, nil, err
		} else if o != nil {
			shown, before = &ent.MissionTest{StartedAt: t.StartedAt, DetectionLevelID: o.DetectionLevelID, DetectedAt: o.DetectedAt}, o
		} else if tooled, err := c.MissionTestOutcome.Query().Where(missiontestoutcome.MissionTestID(t.ID)).Exist(ctx); err != nil {
			return 0, nil, err
		} else if tooled {
			shown, before = &ent.MissionTest{StartedAt: t.StartedAt}, nil
		}
		f, err := s.blueFields(ctx, c, shown, in.Normalize())
		if err != nil {
			return 0, nil, err
		}
		if !t.ReleasedToBlue {
			// Leads see unreleased tests; the blue side waits for the release.
			return 0, nil, ErrNotReleased
		}
		v, err := SaveBlue(ctx, c, a, testID, version, f, s.now())
		if key, refused := detectedAtKey(err); refused {
			// The start time changed between the check and the save.
			return 0, nil, app.Invalidf("detected_at", key)
		}
		return v, map[string]any{"tool": "", "changed": changedFields(before, f)}, err
	})
}

// blueFields validates the blue side's record and returns what to save.
// The level must be one of the scale's, not retired (unless it is the one
// already saved); the detection time follows CheckDetectedAt on the
// clock, checked here to answer next to the field and again by the save
// against the test as stored.
func (s *Steps) blueFields(ctx context.Context, c *ent.Client, t *ent.MissionTest, in BlueInput) (BlueFields, error) {
	out := BlueFields{AlertName: in.AlertName, LogSource: in.LogSource, Notes: in.Notes}
	errs := &app.Invalid{}
	if in.Level != "" {
		id, err := uuid.Parse(in.Level)
		if err != nil {
			errs.Add("detection_level", "missions.test.level_invalid")
		} else {
			l, err := c.DetectionLevel.Get(ctx, id)
			switch {
			case ent.IsNotFound(err):
				errs.Add("detection_level", "missions.test.level_invalid")
			case err != nil:
				return out, fmt.Errorf("load detection level: %w", err)
			case l.Retired && (t.DetectionLevelID == nil || *t.DetectionLevelID != id):
				errs.Add("detection_level", "missions.test.level_retired_refused")
			default:
				out.DetectionLevelID = &id
			}
		}
	}
	if in.DetectedAt != "" && t.DetectedAt != nil && in.DetectedAt == i18n.LocalInput(ctx, *t.DetectedAt) {
		// The form sends the stored time back as it showed it: keep the
		// stored instant. Reading the wall time again would drop its
		// seconds and, in the hour repeated when clocks go back, could
		// pick the other of the two instants it names.
		out.DetectedAt = t.DetectedAt
	} else if in.DetectedAt != "" {
		at, err := ParseDetectedAt(ctx, in.DetectedAt)
		switch {
		case err != nil:
			errs.Add("detected_at", "missions.test.detected_at_invalid")
		default:
			if key, refused := detectedAtKey(CheckDetectedAt(at, t.StartedAt, s.now())); refused {
				errs.Add("detected_at", key)
			} else {
				out.DetectedAt = &at
			}
		}
	}
	if len(in.AlertName) > mtviews.NameMax {
		errs.Add("alert_name", "missions.test.name_too_long")
	}
	if len(in.LogSource) > mtviews.NameMax {
		errs.Add("log_source", "missions.test.name_too_long")
	}
	if utf8.RuneCountInString(in.Notes) > mtviews.TextMax {
		errs.Add("blue_notes", "missions.test.text_too_long")
	}
	return out, errs.Err()
}

// ParseDetectedAt reads a datetime-local value as a wall time in the
// viewer's zone (i18n.Zone of ctx, UTC without one) and returns the
// instant in UTC, as it is stored. i18n.ParseLocal says which instant a
// wall time a daylight-saving change skips or repeats is.
func ParseDetectedAt(ctx context.Context, raw string) (time.Time, error) {
	return i18n.ParseLocal(ctx, raw)
}

// detectedAtKey is the message of a detection time the rule refuses.
func detectedAtKey(err error) (string, bool) {
	switch {
	case errors.Is(err, ErrDetectedBeforeStart):
		return "missions.test.detected_before_start", true
	case errors.Is(err, ErrDetectedInFuture):
		return "missions.test.detected_in_future", true
	}
	return "", false
}

// Review closes an executed test (executed → reviewed).
func (s *Steps) Review(ctx context.Context, a *Access, testID uuid.UUID, version int) (int, error) {
	return s.step(ctx, a, testID, audit.MissionTestReviewed, func(c *ent.Client, _ *ent.MissionTest) (int, error) {
		return Review(ctx, c, a, testID, version, s.now())
	})
}

// Reopen takes a reviewed test back to executed, a skipped or blocked one
// back to pending (leads).
func (s *Steps) Reopen(ctx context.Context, a *Access, testID uuid.UUID, version int) (int, error) {
	return s.step(ctx, a, testID, audit.MissionTestReopened, func(c *ent.Client, _ *ent.MissionTest) (int, error) {
		return Reopen(ctx, c, a, testID, version)
	})
}

// SetAside marks a pending or running test skipped or blocked (to); the
// reason, trimmed, is required.
func (s *Steps) SetAside(ctx context.Context, a *Access, testID uuid.UUID, version int, to missiontest.State, reason string) (int, error) {
	return s.step(ctx, a, testID, audit.MissionTestSetAside, func(c *ent.Client, _ *ent.MissionTest) (int, error) {
		if err := a.check(a.CanWriteRed()); err != nil {
			return 0, err
		}
		reason, err := checkReason(reason)
		if err != nil {
			return 0, err
		}
		return SetAside(ctx, c, a, testID, version, to, reason)
	})
}

// checkReason is the rule for the reason a test is set aside (the single
// step and the bulk skip): required once trimmed, and it fits its column.
func checkReason(reason string) (string, error) {
	switch reason = strings.TrimSpace(reason); {
	case reason == "":
		return "", app.Invalidf("reason", "form.required")
	case utf8.RuneCountInString(reason) > mtviews.ReasonMax:
		return "", app.Invalidf("reason", "missions.test.reason_too_long")
	}
	return reason, nil
}

// TestEvent is the audit event of action on test t.
func TestEvent(a *Access, t *ent.MissionTest, action string) audit.Event {
	return audit.Event{
		Action: action, TargetType: TestTarget, TargetID: t.ID.String(), TargetLabel: t.Name,
		Details: map[string]any{"mission_id": a.Mission.ID.String(), "mission": a.Mission.Name},
	}
}

// announce tells the open pages that a test changed (with whether it is
// now released, so blue pages only hear of released tests) and, for the
// steps that concern others, notifies them: a release the blue members,
// an execution the leads, a review the red member who ran the test and
// the blue members. Nobody is notified of their own action.
func (s *Steps) announce(ctx context.Context, tx *ent.Tx, a *Access, t *ent.MissionTest, action string) error {
	if err := live.PublishTest(ctx, tx, t.ID, a.Viewer.UserID); err != nil {
		return err
	}
	return s.notifyStep(ctx, tx, a, t, action)
}

// notifyStep sends the notifications of one step (see announce).
func (s *Steps) notifyStep(ctx context.Context, tx *ent.Tx, a *Access, t *ent.MissionTest, action string) error {
	var (
		kind     notify.Kind
		titleKey string
		roles    []string
		extra    []uuid.UUID
	)
	switch action {
	case audit.MissionTestReleased:
		kind, titleKey, roles = notify.TestReleased, "notify.title.test_released", []string{"blue"}
	case audit.MissionTestStopped:
		kind, titleKey, roles = notify.TestExecuted, "notify.title.test_executed", []string{"lead"}
	case audit.MissionTestReviewed:
		kind, titleKey, roles = notify.TestReviewed, "notify.title.test_reviewed", []string{"blue"}
		if t.ExecutedByID != nil && *t.ExecutedByID != a.Viewer.UserID {
			extra = append(extra, *t.ExecutedByID)
		}
		if !t.ReleasedToBlue {
			roles = nil // blue members do not know of the test yet
		}
	default:
		return nil
	}
	var recipients []uuid.UUID
	if len(roles) > 0 {
		var err error
		if recipients, err = notify.Members(ctx, tx, a.Mission.ID, a.Viewer.UserID, roles...); err != nil {
			return err
		}
	}
	_, err := s.notifier.Send(ctx, tx, notify.Message{
		Kind: kind, TitleKey: titleKey, TitleArgs: []any{"Test", t.Name, "Mission", a.Mission.Name},
		Link: TestLink(a.Mission.ID, t.ID), MissionID: a.Mission.ID,
	}, append(recipients, extra...)...)
	return err
}
