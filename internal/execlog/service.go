package execlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/executionrecord"
	entmission "violet/ent/mission"
	"violet/ent/missiontest"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/testtemplate"
	"violet/internal/app"
	"violet/internal/attackid"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/live"
	"violet/internal/mission"
)

// ErrCompleted refuses recording runs in a completed mission (409): its
// results are final, as the test steps treat them.
var ErrCompleted = fmt.Errorf("%w: the mission is completed", app.ErrConflict)

// Service previews and applies execution logs to a mission's tests.
type Service struct {
	client   *ent.Client
	evidence evidence.Deps
}

// NewService returns the execution log workflows writing through client
// and storing outputs as evidence through ev (its store and limits: the
// same as uploads').
func NewService(client *ent.Client, ev evidence.Deps) *Service {
	if ev.Ent == nil {
		ev.Ent = client
	}
	return &Service{client: client, evidence: ev}
}

// Change is one field a procedure changes on its test.
type Change struct {
	Field    string // state, started_at, ended_at, command, executor, target_host, target_user, evidence
	Old, New string
}

// Item is one procedure of the log in a plan.
type Item struct {
	Key         string // the procedure's key (Procedure.Key), which addUnmatched names
	Technique   string
	TestNumber  int
	Name        string // the procedure's
	Matched     bool
	TestID      uuid.UUID // the matched test
	TestName    string
	Already     bool // applied before: Apply changes nothing for it
	Changes     []Change
	OutputBytes int
}

// Plan is what applying a log would do.
type Plan struct {
	Format, ExecutionID string
	Host, User          string
	Items               []Item // matched ones, in the log's order
	Unmatched           []Item // no test of the mission matches
}

// Result is what Apply did.
type Result struct {
	Updated   int // tests changed
	Unchanged int // procedures applied before
	Added     int // tests added from unmatched procedures
	Evidence  int // output files attached
	Skipped   int // unmatched procedures left out
	TestIDs   []uuid.UUID
}

// candidate is a test of the mission a procedure may match.
type candidate struct {
	test       *ent.MissionTest
	ref        string          // its template's external_ref, lower-case
	techniques map[string]bool // its ATT&CK tags' ids
}

// access loads the viewer's access to the mission (not found when they
// may not see it).
func (s *Service) access(ctx context.Context, missionID uuid.UUID) (*mission.Access, error) {
	return mission.Load(ctx, s.client, auth.FromContext(ctx), missionID)
}

// candidates reads the mission's tests the viewer may see with what they
// are matched by: their template's external_ref and their ATT&CK tags.
func candidates(ctx context.Context, client *ent.Client, missionID uuid.UUID) ([]candidate, error) {
	tests, err := client.MissionTest.Query().Where(missiontest.MissionID(missionID)).
		WithMitreTags().Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldCreatedAt)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the mission's tests: %w", err)
	}
	var ids []uuid.UUID
	for _, t := range tests {
		if t.TestTemplateID != nil {
			ids = append(ids, *t.TestTemplateID)
		}
	}
	refs := map[uuid.UUID]string{}
	if len(ids) > 0 {
		// The template's reference is the library's: read as the system,
		// for tests the viewer already sees.
		tpls, err := client.TestTemplate.Query().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, ids))).
			Select(testtemplate.FieldID, testtemplate.FieldExternalRef).All(rule.SystemContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read the tests' templates: %w", err)
		}
		for _, t := range tpls {
			refs[t.ID] = strings.ToLower(strings.TrimSpace(t.ExternalRef))
		}
	}
	out := make([]candidate, 0, len(tests))
	for _, t := range tests {
		c := candidate{test: t, techniques: map[string]bool{}}
		if t.TestTemplateID != nil {
			c.ref = refs[*t.TestTemplateID]
		}
		for _, g := range t.Edges.MitreTags {
			c.techniques[strings.ToUpper(g.ExternalID)] = true
		}
		out = append(out, c)
	}
	return out, nil
}

// match finds the test of a procedure: by the Atomic GUID its template
// was imported with, else by a template referenced as technique#number,
// else by a test tagged with the technique and named like the procedure.
// The Atomic import does not keep a test's number, so the last is what
// matches a CSV row of a test whose template came from elsewhere.
func match(cands []candidate, p Procedure) *ent.MissionTest {
	if p.GUID != "" {
		for _, c := range cands {
			if c.ref == p.GUID {
				return c.test
			}
		}
	}
	if p.TechniqueID != "" && p.TestNumber > 0 {
		ref := strings.ToLower(p.TechniqueID) + "#" + strconv.Itoa(p.TestNumber)
		for _, c := range cands {
			if c.ref == ref {
				return c.test
			}
		}
	}
	if p.TechniqueID != "" {
		for _, c := range cands {
			if c.techniques[p.TechniqueID] && strings.EqualFold(strings.TrimSpace(c.test.Name), p.Name) {
				return c.test
			}
		}
	}
	return nil
}

// applied reads which procedures of the log the mission has recorded.
func applied(ctx context.Context, client *ent.Client, missionID uuid.UUID, log *Log) (map[string]bool, error) {
	execs := map[string]bool{}
	for _, p := range log.Procedures {
		execs[p.ExecutionID] = true
	}
	ids := make([]string, 0, len(execs))
	for id := range execs {
		ids = append(ids, id)
	}
	rows, err := client.ExecutionRecord.Query().Where(executionrecord.MissionID(missionID),
		predicate.ExecutionRecord(database.In(executionrecord.FieldExecutionID, ids))).
		All(rule.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read the applied procedures: %w", err)
	}
	out := map[string]bool{}
	for _, r := range rows {
		out[r.ExecutionID+"\x00"+r.ProcedureID] = true
	}
	return out, nil
}

// changes lists what applying p changes on t.
func changes(t *ent.MissionTest, p Procedure) []Change {
	var out []Change
	if t.State == missiontest.StatePending || t.State == missiontest.StateRunning {
		out = append(out, Change{Field: "state", Old: string(t.State), New: string(missiontest.StateExecuted)})
	}
	timeText := func(at *time.Time) string {
		if at == nil {
			return ""
		}
		return at.UTC().Format(time.RFC3339)
	}
	start, end := p.StartedAt, p.EndedAt
	for _, f := range []struct {
		name     string
		old, new string
	}{
		{"started_at", timeText(t.StartedAt), timeText(&start)},
		{"ended_at", timeText(t.EndedAt), timeText(&end)},
		{"command", t.Command, p.Command},
		{"executor", t.Executor, p.Executor},
		{"target_host", t.TargetHost, p.Host},
		{"target_user", t.TargetUser, p.User},
	} {
		if f.new != "" && f.new != f.old {
			out = append(out, Change{Field: f.name, Old: f.old, New: f.new})
		}
	}
	if p.Output != "" {
		out = append(out, Change{Field: "evidence", New: outputName(p)})
	}
	return out
}

// outputName names the evidence file of a procedure's output.
func outputName(p Procedure) string {
	name := p.TechniqueID
	switch {
	case p.TestNumber > 0:
		name += "-" + strconv.Itoa(p.TestNumber)
	case len(p.GUID) >= 8:
		name += "-" + p.GUID[:8]
	}
	return strings.TrimPrefix(name+"-output.txt", "-")
}

// plan builds the plan of log on the mission's tests as client reads them.
func plan(ctx context.Context, client *ent.Client, missionID uuid.UUID, log *Log) (Plan, error) {
	pl := Plan{Format: log.Format, ExecutionID: log.ExecutionID, Host: log.Host, User: log.User}
	cands, err := candidates(ctx, client, missionID)
	if err != nil {
		return pl, err
	}
	done, err := applied(ctx, client, missionID, log)
	if err != nil {
		return pl, err
	}
	for _, p := range log.Procedures {
		it := Item{Key: p.Key, Technique: p.TechniqueID, TestNumber: p.TestNumber, Name: p.Name, OutputBytes: len(p.Output)}
		it.Already = done[p.ExecutionID+"\x00"+p.Key]
		t := match(cands, p)
		if t == nil {
			if !it.Already {
				pl.Unmatched = append(pl.Unmatched, it)
				continue
			}
		} else {
			it.Matched, it.TestID, it.TestName = true, t.ID, t.Name
			if !it.Already {
				it.Changes = changes(t, p)
			}
		}
		pl.Items = append(pl.Items, it)
	}
	return pl, nil
}

// checkRed refuses a viewer who may not record runs on the mission (a
// blue member, an observer), an archived or a completed mission.
func checkRed(a *mission.Access) error {
	switch {
	case !a.CanWriteRed():
		return mission.ErrForbidden
	case a.Archived():
		return mission.ErrReadOnly
	case a.Mission.Status == entmission.StatusCompleted:
		return ErrCompleted
	}
	return nil
}

// Preview says what applying log to the mission would change, for a
// viewer who may record runs on it.
func (s *Service) Preview(ctx context.Context, missionID uuid.UUID, log *Log) (Plan, error) {
	a, err := s.access(ctx, missionID)
	if err != nil {
		return Plan{}, err
	}
	if err := checkRed(a); err != nil {
		return Plan{}, err
	}
	if log == nil {
		return Plan{}, invalid(KeyRequired)
	}
	return plan(ctx, s.client, missionID, log)
}

// stored is a procedure's output kept by the evidence store before the
// transaction, as an upload's files are.
type stored map[string]*evidence.Stored

// Apply records the log's runs on the mission's tests in one
// transaction, and adds a test for each unmatched procedure addUnmatched
// names (a plan change: leads only). A procedure applied before changes
// nothing; a test already executed keeps its state. Each changed test
// gets one audit event and a live update.
func (s *Service) Apply(ctx context.Context, missionID uuid.UUID, log *Log, addUnmatched []string) (Result, error) {
	var res Result
	a, err := s.access(ctx, missionID)
	if err != nil {
		return res, err
	}
	if err := checkRed(a); err != nil {
		return res, err
	}
	if log == nil {
		return res, invalid(KeyRequired)
	}
	add := map[string]bool{}
	for _, k := range addUnmatched {
		add[k] = true
	}
	if len(add) > 0 && !a.CanManage() {
		return res, mission.ErrForbidden // adding tests changes the plan
	}
	pre, err := plan(ctx, s.client, missionID, log)
	if err != nil {
		return res, err
	}
	// Outputs are stored first, as an upload's files are, and removed
	// again unless the transaction commits.
	files, err := s.storeOutputs(ctx, log, pre, add)
	defer func() {
		if err != nil {
			for _, st := range files {
				evidence.Discard(ctx, s.evidence.Store, st)
			}
		}
	}()
	if err != nil {
		return res, err
	}
	used := map[string]bool{}
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		res, used = Result{}, map[string]bool{}
		return s.apply(ctx, tx, a, log, add, files, used, &res)
	})
	if err == nil {
		// Applied meanwhile by someone else: their outputs are not ours.
		for id, st := range files {
			if !used[id] {
				evidence.Discard(ctx, s.evidence.Store, st)
			}
		}
	}
	return res, err
}

// storeOutputs keeps the output of every procedure that will be applied.
func (s *Service) storeOutputs(ctx context.Context, log *Log, pl Plan, add map[string]bool) (stored, error) {
	todo := map[string]bool{}
	for _, it := range pl.Items {
		if !it.Already {
			todo[it.Key] = true
		}
	}
	for _, it := range pl.Unmatched {
		if add[it.Key] {
			todo[it.Key] = true
		}
	}
	out := stored{}
	var max int64
	for _, p := range log.Procedures {
		if !todo[p.Key] || p.Output == "" {
			continue
		}
		if max == 0 {
			var err error
			if max, err = evidence.NewService(s.evidence).MaxBytes(ctx); err != nil {
				return out, err
			}
		}
		st, err := evidence.Ingest(ctx, s.evidence.Store, outputName(p), strings.NewReader(p.Output),
			evidence.Limits{MaxBytes: max, Decodes: s.evidence.Decodes, DecodeWait: s.evidence.DecodeWait})
		var refusal *evidence.Refusal
		switch {
		case errors.Is(err, evidence.ErrTooLarge):
			return out, app.Invalidf(fileField, "execlog.refused.output_too_large")
		case errors.As(err, &refusal):
			return out, app.Invalidf(fileField, refusal.Reason)
		case err != nil:
			return out, fmt.Errorf("store the output of %s: %w", p.Key, err)
		}
		out[p.ExecutionID+"\x00"+p.Key] = st
	}
	return out, nil
}

// apply is Apply's transaction. It plans again inside it, so a test
// changed since the preview is judged as it is now.
func (s *Service) apply(ctx context.Context, tx *ent.Tx, a *mission.Access, log *Log, add map[string]bool,
	files stored, used map[string]bool, res *Result) error {
	c := tx.Client()
	sys := rule.SystemContext(ctx)
	// One import at a time per mission: the mission's row is locked, so
	// two imports of the same log cannot both apply it.
	if _, err := c.Mission.Query().Where(entmission.ID(a.Mission.ID)).ForUpdate().OnlyID(sys); err != nil {
		return err
	}
	cands, err := candidates(ctx, c, a.Mission.ID)
	if err != nil {
		return err
	}
	done, err := applied(ctx, c, a.Mission.ID, log)
	if err != nil {
		return err
	}
	for _, p := range log.Procedures {
		id := p.ExecutionID + "\x00" + p.Key
		if done[id] {
			res.Unchanged++
			continue
		}
		t := match(cands, p)
		if t == nil {
			if !add[p.Key] {
				res.Skipped++
				continue
			}
			if t, err = addTest(ctx, tx, a, p); err != nil {
				return err
			}
			res.Added++
			cands = append(cands, candidate{test: t, techniques: map[string]bool{p.TechniqueID: true}})
		}
		if err := s.record(ctx, tx, a, t, p, files[id], log.Format); err != nil {
			return err
		}
		done[id] = true
		if files[id] != nil {
			used[id] = true
			res.Evidence++
		}
		res.Updated++
		res.TestIDs = append(res.TestIDs, t.ID)
	}
	return nil
}

// record applies one procedure to test t: the state moved by the test
// steps' rules (Start, then Stop, dated by the log), then the run's
// fields, the output as a red evidence file, the execution record, the
// audit event and the live update.
func (s *Service) record(ctx context.Context, tx *ent.Tx, a *mission.Access, t *ent.MissionTest, p Procedure,
	file *evidence.Stored, format string) error {
	c := tx.Client()
	sys := rule.SystemContext(ctx)
	// Reread: an earlier procedure of this log may have changed it.
	t, err := c.MissionTest.Get(ctx, t.ID)
	if err != nil {
		return err
	}
	changed := changes(t, p)
	v := t.Version
	if t.State == missiontest.StatePending {
		if v, err = mission.Start(ctx, c, a, t.ID, v, p.StartedAt); err != nil {
			return err
		}
		t.State = missiontest.StateRunning
	}
	if t.State == missiontest.StateRunning {
		if v, err = mission.Stop(ctx, c, a, t.ID, v, p.EndedAt); err != nil {
			return err
		}
	}
	// The executor and the account are not among the fields a red
	// member's own saves write (rule.MissionTestWrite): the role was
	// checked above, so they are written as the system, at the version
	// the steps left.
	u := c.MissionTest.UpdateOneID(t.ID).Where(missiontest.Version(v)).AddVersion(1).
		SetStartedAt(p.StartedAt).SetEndedAt(p.EndedAt)
	if p.Command != "" {
		u.SetCommand(p.Command)
	}
	if p.Executor != "" {
		u.SetExecutor(p.Executor)
	}
	if p.Host != "" {
		u.SetTargetHost(p.Host)
	}
	if p.User != "" {
		u.SetTargetUser(p.User)
	}
	if err := u.Exec(sys); err != nil {
		if ent.IsNotFound(err) {
			return mission.ErrConflict
		}
		return fmt.Errorf("record the run of %s: %w", p.Key, err)
	}
	details := map[string]any{"mission_id": a.Mission.ID.String(), "mission": a.Mission.Name,
		"source": "execution_log", "format": format, "execution_id": p.ExecutionID, "procedure_id": p.Key}
	var fields []string
	for _, ch := range changed {
		fields = append(fields, ch.Field)
	}
	details["fields"] = fields
	if file != nil {
		f, err := c.EvidenceFile.Create().SetMissionTestID(t.ID).SetSide("red").SetUploadedByID(a.Viewer.UserID).
			SetOriginalName(file.Name).SetStoredKey(file.Key).SetContentType(file.Kind.ContentType).
			SetSize(file.Size).SetSha256(file.SHA256).
			SetCaption(cut("Output of "+p.Name, 255)).Save(sys)
		if err != nil {
			return fmt.Errorf("save the output of %s: %w", p.Key, err)
		}
		details["evidence_file_id"] = f.ID.String()
		details["sha256"] = file.SHA256
	}
	if err := c.ExecutionRecord.Create().SetMissionID(a.Mission.ID).SetMissionTestID(t.ID).
		SetExecutionID(p.ExecutionID).SetProcedureID(p.Key).SetFormat(format).
		SetImportedByID(a.Viewer.UserID).Exec(sys); err != nil {
		return fmt.Errorf("remember %s: %w", p.Key, err)
	}
	// One event per changed test: the run as a save of its red record.
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.MissionTestRedSaved,
		TargetType: mission.TestTarget, TargetID: t.ID.String(), TargetLabel: t.Name, Details: details}); err != nil {
		return err
	}
	return live.PublishTest(ctx, tx, t.ID, a.Viewer.UserID)
}

// addTest adds a test for an unmatched procedure at the end of the plan,
// tagged with its technique when the catalogue has it, with the plan
// change's audit event.
func addTest(ctx context.Context, tx *ent.Tx, a *mission.Access, p Procedure) (*ent.MissionTest, error) {
	sys := rule.SystemContext(ctx)
	_, pos, err := mission.NextPositions(sys, tx, a.Mission.ID)
	if err != nil {
		return nil, err
	}
	desc := p.Description
	if desc == "" && p.GUID != "" {
		desc = "Atomic test " + p.GUID
	}
	t, err := tx.MissionTest.Create().SetMissionID(a.Mission.ID).SetPosition(pos).SetName(p.Name).
		SetDescription(desc).Save(sys)
	if err != nil {
		return nil, fmt.Errorf("add a test for %s: %w", p.Key, err)
	}
	if err := tagTechnique(sys, tx, t.ID, p.TechniqueID); err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.MissionPlanChanged, TargetType: "mission",
		TargetID: a.Mission.ID.String(), TargetLabel: a.Mission.Name,
		Details: map[string]any{"change": "add", "test": t.Name, "test_id": t.ID.String(), "source": "execution_log"}}); err != nil {
		return nil, err
	}
	if err := live.Publish(sys, tx, live.Event{Kind: live.KindPlan, MissionID: a.Mission.ID, ActorID: a.Viewer.UserID}); err != nil {
		return nil, err
	}
	return t, nil
}

// tagTechnique tags a test with the ATT&CK (sub-)technique id as the
// catalogue names it; an id the catalogue lacks leaves the test untagged.
func tagTechnique(sys context.Context, tx *ent.Tx, testID uuid.UUID, id string) error {
	c := tx.MissionTestMitreTag.Create().SetMissionTestID(testID)
	switch {
	case attackid.IsSubtechnique(id):
		st, err := tx.MitreSubtechnique.Query().Where(mitresubtechnique.ExternalID(id)).
			WithTechnique(func(q *ent.MitreTechniqueQuery) { q.WithTactics() }).First(sys)
		if ent.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		c.SetKind("subtechnique").SetExternalID(st.ExternalID).SetName(st.Name).SetURL(st.URL)
		if st.Edges.Technique != nil {
			c.SetTactics(mission.TacticsOf(st.Edges.Technique))
		}
	case attackid.IsTechnique(id):
		te, err := tx.MitreTechnique.Query().Where(mitretechnique.ExternalID(id)).WithTactics().First(sys)
		if ent.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		c.SetKind("technique").SetExternalID(te.ExternalID).SetName(te.Name).SetURL(te.URL).SetTactics(mission.TacticsOf(te))
	default:
		return nil
	}
	return c.Exec(sys)
}
