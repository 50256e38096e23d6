package vectr

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	entmission "violet/ent/mission"
	"violet/ent/missioncategory"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/attackid"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/mission"
	"violet/internal/textrule"
)

// KeyPrefix starts the import key of every mission and test made from a
// VECTR export: "vectr:<assessment>" on the mission, "vectr:<campaign>/
// <variant>" on the test.
const KeyPrefix = "vectr:"

// batch bounds a bulk insert's rows, far below PostgreSQL's 65,535
// parameters (a test has about thirty columns).
const batch = 500

// Result is what an import did: per assessment, the mission made or found
// and its tests created or already there; the rows reported (the parse's
// and the techniques the catalogue does not know), by line.
type Result struct {
	Missions                           []MissionResult
	MissionsCreated, MissionsUnchanged int
	MissionsUpdated                    int // found, with tests added
	TestsCreated, TestsUnchanged       int
	ToolsCreated                       int
	Problems                           []Problem
	Took                               time.Duration
}

// MissionResult is one assessment's mission after the import.
type MissionResult struct {
	ID                 uuid.UUID
	Name               string
	New                bool
	Created, Unchanged int
}

// Import writes e with the confirmed mapping m, one transaction per
// assessment (a failure leaves the assessments before it imported, and a
// second run completes the rest: keys already there are skipped). Each
// assessment becomes a completed mission (found again by its import key),
// led by the importer, its campaigns categories, its test cases reviewed
// tests released to blue with their outcome per detecting tool (or one
// without a tool) on the level m maps their outcome to; TBD records none.
// The mission's scope is the tools its tests used. Each mission that
// changed gets one audit event. progress (may be nil) is told the test
// cases done out of all. A mapping that names a level or tool that is not
// there, or creates a tool without settings.manage, is an *app.Invalid
// with the fields "outcome_<outcome>" and "tool_<index in e.Tools>".
func (s *Service) Import(ctx context.Context, e *Export, m Mapping, progress func(done, total int)) (Result, error) {
	start := s.now()
	var res Result
	v, err := allowed(ctx)
	if err != nil {
		return res, err
	}
	levels, err := s.checkMapping(ctx, v, e, m)
	if err != nil {
		return res, err
	}
	sys := rule.SystemContext(ctx)
	tags, problems, err := s.catalogue(sys, e)
	if err != nil {
		return res, err
	}
	res.Problems = append(slices.Clone(e.Problems), problems...)
	slices.SortStableFunc(res.Problems, func(a, b Problem) int { return a.Line - b.Line })
	toolOf, created, err := s.tools(sys, e, m)
	if err != nil {
		return res, err
	}
	res.ToolsCreated = created
	total, done := e.Tests(), 0
	if progress != nil {
		progress(0, total)
	}
	for _, a := range e.Assessments {
		in := assessmentInput{viewer: v, a: a, levels: levels, outcomes: m.Outcomes, toolOf: toolOf, tags: tags, now: s.now().UTC()}
		var mr MissionResult
		err := database.WithTx(sys, s.client, func(tx *ent.Tx) error {
			var err error
			mr, err = importAssessment(sys, tx, in)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("import %q: %w", a.Name, err)
		}
		res.Missions = append(res.Missions, mr)
		res.TestsCreated += mr.Created
		res.TestsUnchanged += mr.Unchanged
		switch {
		case mr.New:
			res.MissionsCreated++
		case mr.Created > 0:
			res.MissionsUpdated++
		default:
			res.MissionsUnchanged++
		}
		done += len(a.Tests)
		if progress != nil {
			progress(done, total)
		}
	}
	res.Took = s.now().Sub(start)
	return res, nil
}

// checkMapping checks m against the scale and the registry and returns
// the scale's levels by id.
func (s *Service) checkMapping(ctx context.Context, v *auth.Viewer, e *Export, m Mapping) (map[uuid.UUID]*ent.DetectionLevel, error) {
	ls, err := s.client.DetectionLevel.Query().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the detection scale: %w", err)
	}
	levels := map[uuid.UUID]*ent.DetectionLevel{}
	for _, l := range ls {
		levels[l.ID] = l
	}
	invalid := &app.Invalid{}
	for outcome, id := range m.Outcomes {
		if id == uuid.Nil {
			continue
		}
		if l := levels[id]; l == nil || l.Retired || outcome == OutcomeTBD {
			invalid.Add("outcome_"+outcome, "vectr.mapping.level_unknown")
		}
	}
	var used []uuid.UUID
	for _, c := range m.Tools {
		if c.Action == ToolUse {
			used = append(used, c.ToolID)
		}
	}
	existing, err := s.client.DefensiveTool.Query().Where(predicate.DefensiveTool(database.In(defensivetool.FieldID, used))).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the defensive tools: %w", err)
	}
	for i, name := range e.Tools {
		field := "tool_" + strconv.Itoa(i)
		c, ok := m.Tools[name]
		switch {
		case !ok:
			invalid.Add(field, "vectr.mapping.tool_missing")
		case c.Action == ToolUse && !slices.Contains(existing, c.ToolID):
			invalid.Add(field, "vectr.mapping.tool_unknown")
		case c.Action == ToolCreate && !v.Can(auth.SettingsManage):
			// The registry is the administrators' (settings.manage).
			invalid.Add(field, "vectr.mapping.tool_create_forbidden")
		case c.Action == ToolCreate && toolNameRule().Check(name) != nil:
			invalid.Add(field, "vectr.mapping.tool_name")
		case c.Action != ToolUse && c.Action != ToolCreate && c.Action != ToolIgnore:
			invalid.Add(field, "vectr.mapping.tool_missing")
		}
	}
	return levels, invalid.Err()
}

func toolNameRule() textrule.Rule { return textrule.For(schema.DefensiveTool{}, "name") }

// tag is a catalogue entry as a mission test's tag copies it.
type tag struct {
	kind, id, name, url string
	tactics             []map[string]string
}

// catalogue reads the techniques and sub-techniques the export names (two
// statements) and reports the rows naming one the catalogue lacks.
func (s *Service) catalogue(ctx context.Context, e *Export) (map[string]tag, []Problem, error) {
	var techs, subs []string
	for _, a := range e.Assessments {
		for _, t := range a.Tests {
			switch {
			case t.MitreID == "":
			case attackid.IsSubtechnique(t.MitreID):
				if !slices.Contains(subs, t.MitreID) {
					subs = append(subs, t.MitreID)
				}
			case !slices.Contains(techs, t.MitreID):
				techs = append(techs, t.MitreID)
			}
		}
	}
	out := map[string]tag{}
	ts, err := s.client.MitreTechnique.Query().Where(predicate.MitreTechnique(database.In(mitretechnique.FieldExternalID, techs))).
		WithTactics().All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the techniques: %w", err)
	}
	for _, t := range ts {
		if prev, ok := out[t.ExternalID]; ok && prev.kind != "" && t.Revoked {
			continue // a revoked entry never hides the current one
		}
		out[t.ExternalID] = tag{kind: "technique", id: t.ExternalID, name: t.Name, url: t.URL, tactics: mission.TacticsOf(t)}
	}
	ss, err := s.client.MitreSubtechnique.Query().Where(predicate.MitreSubtechnique(database.In(mitresubtechnique.FieldExternalID, subs))).
		WithTechnique(func(q *ent.MitreTechniqueQuery) { q.WithTactics() }).All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the sub-techniques: %w", err)
	}
	for _, t := range ss {
		if prev, ok := out[t.ExternalID]; ok && prev.kind != "" && t.Revoked {
			continue
		}
		g := tag{kind: "subtechnique", id: t.ExternalID, name: t.Name, url: t.URL, tactics: []map[string]string{}}
		if t.Edges.Technique != nil {
			g.tactics = mission.TacticsOf(t.Edges.Technique)
		}
		out[t.ExternalID] = g
	}
	var problems []Problem
	for _, a := range e.Assessments {
		for _, t := range a.Tests {
			if _, ok := out[t.MitreID]; t.MitreID != "" && !ok {
				problems = append(problems, Problem{Line: t.Line, Key: ProblemTechnique, Value: t.MitreID})
			}
		}
	}
	return out, problems, nil
}

// tools resolves the mapping's tools to ids (ignored ones left out),
// creating those to create, in one transaction with their audit events. A
// tool of that name made meanwhile (names are unique ignoring case) is
// used rather than made twice.
func (s *Service) tools(ctx context.Context, e *Export, m Mapping) (map[string]uuid.UUID, int, error) {
	out := map[string]uuid.UUID{}
	var toCreate []string
	for _, name := range e.Tools {
		switch c := m.Tools[name]; c.Action {
		case ToolUse:
			out[name] = c.ToolID
		case ToolCreate:
			toCreate = append(toCreate, name)
		}
	}
	if len(toCreate) == 0 {
		return out, 0, nil
	}
	created := 0
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		for _, name := range toCreate {
			t, err := tx.DefensiveTool.Query().Where(defensivetool.NameEqualFold(name)).First(ctx)
			if err == nil {
				out[name] = t.ID
				continue
			}
			if !ent.IsNotFound(err) {
				return fmt.Errorf("read the tool %q: %w", name, err)
			}
			t, err = tx.DefensiveTool.Create().SetName(name).Save(ctx)
			if err != nil {
				return fmt.Errorf("create the tool %q: %w", name, err)
			}
			out[name] = t.ID
			created++
			if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.ToolCreated, TargetType: "defensive_tool",
				TargetID: t.ID.String(), TargetLabel: t.Name, Details: map[string]any{"source": "vectr"}}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, created, err
}

// assessmentInput is what importing one assessment needs.
type assessmentInput struct {
	viewer   *auth.Viewer
	a        *Assessment
	levels   map[uuid.UUID]*ent.DetectionLevel
	outcomes map[string]uuid.UUID
	toolOf   map[string]uuid.UUID
	tags     map[string]tag
	now      time.Time
}

// Column rules of what an import writes, from the ent schema.
var (
	missionName  = textrule.For(schema.Mission{}, "name")
	categoryName = textrule.For(schema.MissionCategory{}, "name")
	testName     = textrule.For(schema.MissionTest{}, "name")
	testKey      = textrule.For(schema.MissionTest{}, "import_key")
	longText     = textrule.For(schema.MissionTest{}, "description")
	notesText    = textrule.For(schema.MissionTest{}, "command")
	hostText     = textrule.For(schema.MissionTest{}, "target_host")
)

// fit cuts s to r's length without splitting a character.
func fit(r textrule.Rule, s string) string {
	if r.Max == 0 || r.Len(s) <= r.Max {
		return s
	}
	if r.Bytes {
		return audit.Fit(s, r.Max)
	}
	return string([]rune(s)[:r.Max])
}

// testKeyOf is a test case's import key within its mission.
func testKeyOf(t *TestCase) string { return fit(testKey, KeyPrefix+t.Campaign+"/"+t.Variant) }

// importAssessment writes one assessment in tx: the mission (found by its
// key, else created completed), the categories and tests it lacks, their
// tags and outcomes, the scope, the audit and live events.
func importAssessment(ctx context.Context, tx *ent.Tx, in assessmentInput) (MissionResult, error) {
	a := in.a
	key := fit(missionName, KeyPrefix+a.Name)
	mr := MissionResult{Name: fit(missionName, a.Name)}
	m, err := tx.Mission.Query().Where(entmission.ImportKey(key)).ForUpdate().Only(ctx)
	switch {
	case ent.IsNotFound(err):
		m = nil
	case err != nil:
		return mr, fmt.Errorf("find the mission: %w", err)
	}
	have := map[string]bool{}
	if m != nil {
		// Found by its name only: adding to it is the work of whoever may
		// manage it now, never of anyone who types the same name.
		acc, err := mission.Load(auth.NewContext(ctx, in.viewer), tx.Client(), in.viewer, m.ID)
		if err != nil && !ent.IsNotFound(err) {
			return mr, err
		}
		if err != nil || !acc.CanManage() || acc.Archived() {
			return mr, fmt.Errorf("%w: the assessment %q was imported before as a mission you do not lead (or an archived one)",
				app.ErrForbidden, a.Name)
		}
		keys, err := tx.MissionTest.Query().Where(missiontest.MissionID(m.ID), missiontest.ImportKeyHasPrefix(KeyPrefix)).
			Select(missiontest.FieldImportKey).Strings(ctx)
		if err != nil {
			return mr, fmt.Errorf("read the imported tests: %w", err)
		}
		for _, k := range keys {
			have[k] = true
		}
	}
	var todo []*TestCase
	for _, t := range a.Tests {
		if have[testKeyOf(t)] {
			mr.Unchanged++
		} else {
			todo = append(todo, t)
		}
	}
	if m != nil {
		mr.ID, mr.Name = m.ID, m.Name
	}
	if len(todo) == 0 {
		return mr, nil
	}
	// The tools the new tests used: the mission's scope takes them.
	var scope []uuid.UUID
	for _, t := range todo {
		for _, name := range t.Tools {
			if id, ok := in.toolOf[name]; ok && !slices.Contains(scope, id) {
				scope = append(scope, id)
			}
		}
	}
	if m == nil {
		if m, err = createMission(ctx, tx, in, key, scope); err != nil {
			return mr, err
		}
		mr.New = true
	} else if len(scope) > 0 {
		in, err := tx.Mission.QueryTools(m).IDs(ctx)
		if err != nil {
			return mr, fmt.Errorf("read the scope: %w", err)
		}
		scope = slices.DeleteFunc(scope, func(id uuid.UUID) bool { return slices.Contains(in, id) })
		if len(scope) > 0 {
			if err := tx.Mission.UpdateOneID(m.ID).AddToolIDs(scope...).Exec(ctx); err != nil {
				return mr, fmt.Errorf("widen the scope: %w", err)
			}
		}
	}
	mr.ID, mr.Name = m.ID, m.Name
	cats, err := categories(ctx, tx, m.ID, a.Campaigns)
	if err != nil {
		return mr, err
	}
	_, pos, err := mission.NextPositions(ctx, tx, m.ID)
	if err != nil {
		return mr, err
	}
	for from := 0; from < len(todo); from += batch {
		part := todo[from:min(len(todo), from+batch)]
		if err := createTests(ctx, tx, in, m.ID, cats, pos+from, part); err != nil {
			return mr, err
		}
	}
	mr.Created = len(todo)
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.LibraryImported, TargetType: "mission",
		TargetID: m.ID.String(), TargetLabel: m.Name,
		Details: map[string]any{"source": "vectr", "assessment": a.Name, "tests_created": mr.Created,
			"tests_unchanged": mr.Unchanged, "mission_created": mr.New}}); err != nil {
		return mr, err
	}
	return mr, live.Publish(ctx, tx, live.Event{Kind: live.KindMission, MissionID: m.ID, ActorID: in.viewer.UserID})
}

// createMission makes the assessment's mission: completed, dated from its
// tests' start and stop times, led by the importer, its scope the tools used.
func createMission(ctx context.Context, tx *ent.Tx, in assessmentInput, key string, scope []uuid.UUID) (*ent.Mission, error) {
	// The dates are those of the executions: a detection may be recorded
	// long after (the sample's are, up to two years), and the mission's
	// end date places it on the insights' axis.
	var first, last *time.Time
	for _, t := range in.a.Tests {
		for _, at := range []*time.Time{t.Start, t.Stop} {
			if at == nil {
				continue
			}
			if first == nil || at.Before(*first) {
				first = at
			}
			if last == nil || at.After(*last) {
				last = at
			}
		}
	}
	day := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return &d
	}
	m, err := tx.Mission.Create().SetName(fit(missionName, in.a.Name)).
		SetDescription("Imported from VECTR (assessment \"" + fit(missionName, in.a.Name) + "\").").
		SetNillableStartDate(day(first)).SetNillableEndDate(day(last)).SetStatus(entmission.StatusCompleted).
		SetCreatedByID(in.viewer.UserID).SetImportKey(key).SetLabels([]string{"vectr"}).AddToolIDs(scope...).Save(ctx)
	if ent.IsConstraintError(err) {
		// The same assessment imported at the same time by someone else:
		// their import wins, a second run of this one adds nothing.
		return nil, fmt.Errorf("create the mission %q: %w", in.a.Name, app.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("create the mission: %w", err)
	}
	if err := tx.MissionMember.Create().SetMissionID(m.ID).SetUserID(in.viewer.UserID).SetRole(missionmember.RoleLead).Exec(ctx); err != nil {
		return nil, fmt.Errorf("make the importer lead: %w", err)
	}
	return m, nil
}

// categories returns the mission's category of each campaign by name,
// creating those it lacks after the others.
func categories(ctx context.Context, tx *ent.Tx, missionID uuid.UUID, campaigns []string) (map[string]uuid.UUID, error) {
	list, err := tx.MissionCategory.Query().Where(missioncategory.MissionID(missionID)).
		Order(ent.Asc(missioncategory.FieldPosition)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the categories: %w", err)
	}
	out := map[string]uuid.UUID{}
	next := 0
	for _, c := range list {
		out[c.Name] = c.ID
		next = max(next, c.Position+1)
	}
	var creates []*ent.MissionCategoryCreate
	var names []string
	for _, campaign := range campaigns {
		name := fit(categoryName, campaign)
		if _, ok := out[name]; ok || slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
		creates = append(creates, tx.MissionCategory.Create().SetMissionID(missionID).SetName(name).SetPosition(next+len(creates)))
	}
	if len(creates) == 0 {
		return out, nil
	}
	made, err := tx.MissionCategory.CreateBulk(creates...).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create the categories: %w", err)
	}
	for i, c := range made {
		out[names[i]] = c.ID
	}
	return out, nil
}

// createTests writes a batch of test cases with their tags and outcomes:
// three bulk inserts.
func createTests(ctx context.Context, tx *ent.Tx, in assessmentInput, missionID uuid.UUID, cats map[string]uuid.UUID, pos int, part []*TestCase) error {
	creates := make([]*ent.MissionTestCreate, len(part))
	type outcome struct {
		level    *ent.DetectionLevel
		detected *time.Time
	}
	results := make([]outcome, len(part))
	for i, t := range part {
		reviewed := in.now
		if t.Stop != nil {
			reviewed = *t.Stop
		}
		cr := tx.MissionTest.Create().SetMissionID(missionID).SetPosition(pos + i).
			SetName(fit(testName, t.Variant)).SetDescription(fit(longText, description(t))).
			SetObjective(fit(longText, t.Objective)).SetExpectedDetection(fit(longText, t.Recommendations)).
			SetCommand(fit(notesText, t.Command)).SetPlatforms([]string{}).SetExpectedRules([]map[string]string{}).
			SetSourceHost(fit(hostText, t.SourceIPs)).SetTargetHost(fit(hostText, t.TargetAssets)).
			SetNillableStartedAt(t.Start).SetNillableEndedAt(t.Stop).
			SetState(missiontest.StateReviewed).SetReleasedToBlue(true).
			SetReviewedByID(in.viewer.UserID).SetReviewedAt(reviewed).SetImportKey(testKeyOf(t))
		if id, ok := cats[fit(categoryName, t.Campaign)]; ok {
			cr.SetCategoryID(id)
		}
		// The overall result is what every outcome of the test records (one
		// level for the row): the rule of mission/outcomes.go gives the same.
		if id := in.outcomes[t.Outcome]; t.Outcome != "" && t.Outcome != OutcomeTBD && id != uuid.Nil {
			l := in.levels[id]
			results[i].level = l
			if l.CountsAsDetected {
				results[i].detected = t.Detection
			}
			cr.SetDetectionLevelID(l.ID).SetNillableDetectedAt(results[i].detected).SetBlueNotes(fit(notesText, t.OutcomeNotes))
		}
		creates[i] = cr
	}
	made, err := tx.MissionTest.CreateBulk(creates...).Save(ctx)
	if err != nil {
		return fmt.Errorf("create the tests: %w", err)
	}
	var tags []*ent.MissionTestMitreTagCreate
	var outs []*ent.MissionTestOutcomeCreate
	for i, t := range part {
		if g, ok := in.tags[t.MitreID]; ok {
			tags = append(tags, tx.MissionTestMitreTag.Create().SetMissionTestID(made[i].ID).SetKind(missiontestmitretag.Kind(g.kind)).
				SetExternalID(g.id).SetName(g.name).SetURL(g.url).SetTactics(g.tactics))
		}
		r := results[i]
		if r.level == nil {
			continue
		}
		outcome := func(tool *uuid.UUID) *ent.MissionTestOutcomeCreate {
			return tx.MissionTestOutcome.Create().SetMissionTestID(made[i].ID).SetNillableToolID(tool).
				SetDetectionLevelID(r.level.ID).SetNillableDetectedAt(r.detected).
				SetNotes(fit(notesText, t.OutcomeNotes)).SetRecordedByID(in.viewer.UserID)
		}
		var tools []uuid.UUID
		for _, name := range t.Tools {
			if id, ok := in.toolOf[name]; ok && !slices.Contains(tools, id) {
				tools = append(tools, id)
			}
		}
		if len(tools) == 0 {
			outs = append(outs, outcome(nil))
		}
		for _, id := range tools {
			outs = append(outs, outcome(&id))
		}
	}
	for f := 0; f < len(tags); f += batch {
		if err := tx.MissionTestMitreTag.CreateBulk(tags[f:min(len(tags), f+batch)]...).Exec(ctx); err != nil {
			return fmt.Errorf("tag the tests: %w", err)
		}
	}
	for f := 0; f < len(outs); f += batch {
		if err := tx.MissionTestOutcome.CreateBulk(outs[f:min(len(outs), f+batch)]...).Exec(ctx); err != nil {
			return fmt.Errorf("record the outcomes: %w", err)
		}
	}
	return nil
}

// description gathers what VECTR says of a test case that has no column
// of its own here: its phase, method and references.
func description(t *TestCase) string {
	var b strings.Builder
	for _, f := range []struct{ label, value string }{{"Phase", t.Phase}, {"Method", t.Method}, {"References", t.References}} {
		if f.value != "" {
			fmt.Fprintf(&b, "%s: %s\n", f.label, f.value)
		}
	}
	return strings.TrimSpace(b.String())
}
