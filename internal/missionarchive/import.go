package missionarchive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	"violet/ent/detectionlevel"
	"violet/ent/evidencefile"
	entmission "violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/testtemplate"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/export"
)

// MaxFileBytes is one evidence file's size limit here (the setting
// evidence.max_upload_bytes), which Read is given.
func (s *Service) MaxFileBytes(ctx context.Context) (int64, error) {
	return evidence.NewService(evidence.Deps{Ent: s.d.Ent, Store: s.d.Store}).MaxBytes(ctx)
}

// viewer is the viewer who may import: mission.create, as for creating
// a mission.
func viewer(ctx context.Context) (*auth.Viewer, error) {
	v := auth.FromContext(ctx)
	if v == nil || !v.Can(auth.MissionCreate) {
		return nil, app.ErrForbidden
	}
	return v, nil
}

// Preview says what importing a would do; it writes nothing.
func (s *Service) Preview(ctx context.Context, a *Archive) (*Plan, error) {
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	r, err := resolve(rule.SystemContext(ctx), s.d.Ent, &a.Manifest, v)
	if err != nil {
		return nil, err
	}
	return &r.Plan, nil
}

// Imported is the mission an import created and what it did.
type Imported struct {
	MissionID uuid.UUID
	Plan      Plan
}

// Import creates the archive's mission here, all or nothing: the
// evidence files first, each through the evidence service's checks
// (evidence.Ingest: type, text, image caps, a preview) under a new key and
// compared with its SHA-256 once more; then, in one transaction, the
// tools, levels and templates the plan creates, the mission (import key
// "archive:<source id>"), its members found here, categories, scenarios,
// tests with their ATT&CK tags as recorded, outcomes per tool and
// evidence rows, and the audit record. The mission's own rows keep the
// archive's ids and times (so the imported mission's exports are the
// source's, byte for byte), unless those ids exist here already (an
// archive of this very instance): then it is a copy with ids of its own.
// A second import of the same archive is refused (*AlreadyImported).
func (s *Service) Import(ctx context.Context, a *Archive) (*Imported, error) {
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	sys := rule.SystemContext(ctx)
	m := &a.Manifest
	// Refused before any file is stored: the cheap check. The
	// transaction checks again (and the unique index last).
	if r, err := resolve(sys, s.d.Ent, m, v); err != nil {
		return nil, err
	} else if r.Already != nil {
		return nil, r.Already
	}
	max, err := s.MaxFileBytes(ctx)
	if err != nil {
		return nil, err
	}
	stored := map[string]*evidence.Stored{}
	committed := false
	defer func() {
		if !committed {
			for _, st := range stored {
				evidence.Discard(context.WithoutCancel(ctx), s.d.Store, st)
			}
		}
	}()
	for i := range m.Tests {
		for _, e := range m.Tests[i].Evidence {
			st, err := s.ingest(ctx, a, e, max)
			if err != nil {
				return nil, err
			}
			stored[e.ID] = st
		}
	}
	var out *Imported
	err = database.WithTx(ctx, s.d.Ent, func(tx *ent.Tx) error {
		r, err := resolve(sys, tx.Client(), m, v)
		if err != nil {
			return err
		}
		if r.Already != nil {
			return r.Already
		}
		w := &writer{ctx: sys, tx: tx, m: m, r: r, stored: stored, ids: map[uuid.UUID]uuid.UUID{}}
		id, err := w.write()
		if err != nil {
			return err
		}
		out = &Imported{MissionID: id, Plan: r.Plan}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.MissionCreated, TargetType: "mission", TargetID: id.String(), TargetLabel: m.Mission.Name,
			Details: map[string]any{
				"import": "archive", "source_mission_id": m.missionID.String(), "tests": len(m.Tests),
				"evidence_files": r.Files, "left_out": strings.Join(r.LeftOut, ", "),
			},
		})
	})
	if err != nil {
		return nil, importError(err, m)
	}
	committed = true
	return out, nil
}

// importError names what the database refused: the import key's unique
// index (an import of the same archive that committed first), a value
// past its column or an invalid one (the archive's, refused whole).
func importError(err error, m *Manifest) error {
	var already *AlreadyImported
	switch {
	case errors.As(err, &already):
		return err
	case ent.IsConstraintError(err) && strings.Contains(err.Error(), "uq_missions_import_key"):
		return &AlreadyImported{MissionName: m.Mission.Name}
	case ent.IsValidationError(err):
		return refuse("manifest", printable(err.Error()))
	}
	return err
}

// ingest stores one evidence file through the evidence checks.
func (s *Service) ingest(ctx context.Context, a *Archive, e export.DocEvidence, max int64) (*evidence.Stored, error) {
	rc, err := a.open(e.SHA256)
	if err != nil {
		return nil, refuse("corrupt", EvidencePrefix+e.SHA256)
	}
	defer rc.Close()
	st, err := evidence.Ingest(ctx, s.d.Store, e.Name, rc, evidence.Limits{MaxBytes: max, Decodes: s.d.Decodes, DecodeWait: s.d.DecodeWait})
	var refusal *evidence.Refusal
	switch {
	case errors.As(err, &refusal):
		return nil, &Refused{Reason: "missionarchive.refused.evidence", Detail: printable(e.Name)}
	case errors.Is(err, evidence.ErrTooLarge):
		return nil, refuse("file_size", printable(e.Name))
	case err != nil:
		return nil, err
	}
	if st.SHA256 != e.SHA256 || st.Size != e.Size {
		evidence.Discard(context.WithoutCancel(ctx), s.d.Store, st)
		return nil, refuse("checksum", printable(e.Name))
	}
	return st, nil
}

// writer writes the archive's rows in one transaction.
type writer struct {
	ctx    context.Context // the system's: the workflow checked the viewer
	tx     *ent.Tx
	m      *Manifest
	r      *resolution
	stored map[string]*evidence.Stored // by the archive's evidence id
	ids    map[uuid.UUID]uuid.UUID     // the archive's ids → new ones (r.NewIDs)
}

// id is the id a row of the mission gets: the archive's (src, parsed),
// or a new one (the same for every use) when the mission's ids exist
// here.
func (w *writer) id(s string) uuid.UUID {
	src := w.m.idOf(s)
	if !w.r.NewIDs {
		return src
	}
	if id, ok := w.ids[src]; ok {
		return id
	}
	id := uuid.New()
	w.ids[src] = id
	return id
}

func (w *writer) optID(src *string) *uuid.UUID {
	if src == nil {
		return nil
	}
	id := w.id(*src)
	return &id
}

// batch is how many rows one INSERT carries: PostgreSQL takes at most
// 65,535 parameters, and a test has about forty columns.
const batch = 500

// bulk saves builders in batches.
func bulk[B any](n int, build func(i int) B, save func(...B) error) error {
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		bs := make([]B, 0, hi-lo)
		for i := lo; i < hi; i++ {
			bs = append(bs, build(i))
		}
		if err := save(bs...); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) write() (uuid.UUID, error) {
	ctx, tx, m, r := w.ctx, w.tx, w.m, w.r
	if err := w.writeRegistry(); err != nil {
		return uuid.Nil, err
	}
	missionID := w.id(m.Mission.ID)
	var toolIDs []uuid.UUID
	for _, t := range m.Mission.Tools {
		toolIDs = append(toolIDs, r.tools[strings.ToLower(t.Name)])
	}
	labels := m.Mission.Labels
	if labels == nil {
		labels = []string{}
	}
	err := tx.Mission.Create().SetID(missionID).SetName(m.Mission.Name).SetDescription(m.Mission.Description).
		SetScope(m.Mission.Scope).SetStatus(entmission.Status(m.Mission.Status)).SetLabels(labels).
		SetNillableStartDate(optDate(m.Mission.StartDate)).SetNillableEndDate(optDate(m.Mission.EndDate)).
		SetImportKey(m.ImportKey()).SetCreatedByID(r.importer).AddToolIDs(toolIDs...).
		SetCreatedAt(at(m.Mission.CreatedAt)).SetUpdatedAt(at(m.Mission.UpdatedAt)).Exec(ctx)
	if err != nil {
		return uuid.Nil, fmt.Errorf("create the mission: %w", err)
	}
	var members []*ent.MissionMemberCreate
	for _, mm := range m.Members {
		if u := r.users[strings.ToLower(mm.Email)]; u != nil {
			members = append(members, tx.MissionMember.Create().SetMissionID(missionID).SetUserID(u.ID).SetRole(missionmember.Role(mm.Role)))
		}
	}
	if r.ImporterAdded {
		members = append(members, tx.MissionMember.Create().SetMissionID(missionID).SetUserID(r.importer).SetRole(missionmember.RoleLead))
	}
	if err := tx.MissionMember.CreateBulk(members...).Exec(ctx); err != nil {
		return uuid.Nil, fmt.Errorf("add the members: %w", err)
	}
	for _, c := range m.Categories {
		q := tx.MissionCategory.Create().SetID(w.id(c.ID)).SetMissionID(missionID).SetName(c.Name).SetPosition(c.Position)
		if c.Colour != "" {
			q.SetColour(c.Colour)
		}
		if err := q.Exec(ctx); err != nil {
			return uuid.Nil, fmt.Errorf("create a category: %w", err)
		}
	}
	for _, sc := range m.Scenarios {
		err := tx.MissionScenario.Create().SetID(w.id(sc.ID)).SetMissionID(missionID).SetName(sc.Name).
			SetDescription(sc.Description).SetPosition(sc.Position).Exec(ctx)
		if err != nil {
			return uuid.Nil, fmt.Errorf("create a scenario: %w", err)
		}
	}
	if err := w.writeTests(missionID); err != nil {
		return uuid.Nil, err
	}
	return missionID, nil
}

// writeRegistry creates the tools, detection levels and templates the
// plan did not find here.
func (w *writer) writeRegistry() error {
	ctx, tx, r := w.ctx, w.tx, w.r
	for _, t := range r.newTools {
		err := tx.DefensiveTool.Create().SetID(t.id).SetName(t.Name).SetVendor(t.Vendor).
			SetKind(defensivetool.Kind(t.Kind)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("create the tool %q: %w", t.Name, err)
		}
	}
	if len(r.newLevels) > 0 {
		last, err := tx.DetectionLevel.Query().Aggregate(ent.Max(detectionlevel.FieldPosition)).Int(ctx)
		if err != nil {
			return fmt.Errorf("read the scale: %w", err)
		}
		for i, l := range r.newLevels {
			err := tx.DetectionLevel.Create().SetID(l.id).SetName(l.Name).SetScore(l.Score).SetColour(l.Colour).
				SetCountsAsDetected(l.CountsAsDetected).SetRetired(true).SetPosition(last + 1 + i).Exec(ctx)
			if err != nil {
				return fmt.Errorf("create the level %q: %w", l.Name, err)
			}
		}
	}
	if len(r.newTpls) == 0 {
		return nil
	}
	catalogue, err := w.catalogue()
	if err != nil {
		return err
	}
	for k, t := range r.newTpls {
		err := tx.TestTemplate.Create().SetID(r.templates[k]).SetName(t.Template.Name).SetDescription(t.Description).
			SetObjective(t.Objective).SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).
			SetCleanup(t.Cleanup).SetExpectedDetection(t.ExpectedDetection).SetPlatforms(nonNil(t.Platforms)).
			SetOpsecLevel(testtemplate.OpsecLevel(t.OpsecLevel)).SetSource(testtemplate.Source(t.Template.Source)).
			SetExternalRef(t.Template.ExternalRef).SetCreatedByID(r.importer).Exec(ctx)
		if err != nil {
			return fmt.Errorf("create the template %q: %w", t.Template.Name, err)
		}
		// The template's tags link this instance's catalogue: the test's
		// tags it knows (a tag it does not know stays on the test only).
		var tags []*ent.TestTemplateMitreTagCreate
		for _, g := range t.Tags {
			if id, ok := catalogue[g.Kind+":"+g.ExternalID]; ok {
				q := tx.TestTemplateMitreTag.Create().SetTestTemplateID(r.templates[k])
				switch g.Kind {
				case "tactic":
					q.SetTacticID(id)
				case "technique":
					q.SetTechniqueID(id)
				default:
					q.SetSubtechniqueID(id)
				}
				tags = append(tags, q)
			}
		}
		if err := tx.TestTemplateMitreTag.CreateBulk(tags...).Exec(ctx); err != nil {
			return fmt.Errorf("tag the template %q: %w", t.Template.Name, err)
		}
	}
	return nil
}

// catalogue finds the ATT&CK entries the created templates' tests are
// tagged with, by kind and ATT&CK id: three statements.
func (w *writer) catalogue() (map[string]uuid.UUID, error) {
	var ids []string
	for _, t := range w.r.newTpls {
		for _, g := range t.Tags {
			ids = append(ids, g.ExternalID)
		}
	}
	out := map[string]uuid.UUID{}
	tactics, err := w.tx.MitreTactic.Query().Where(predicate.MitreTactic(database.In(mitretactic.FieldExternalID, ids))).All(w.ctx)
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	for _, e := range tactics {
		out["tactic:"+e.ExternalID] = e.ID
	}
	techniques, err := w.tx.MitreTechnique.Query().Where(predicate.MitreTechnique(database.In(mitretechnique.FieldExternalID, ids))).All(w.ctx)
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	for _, e := range techniques {
		out["technique:"+e.ExternalID] = e.ID
	}
	subs, err := w.tx.MitreSubtechnique.Query().Where(predicate.MitreSubtechnique(database.In(mitresubtechnique.FieldExternalID, ids))).All(w.ctx)
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	for _, e := range subs {
		out["subtechnique:"+e.ExternalID] = e.ID
	}
	return out, nil
}

// writeTests writes the tests, then their tags, outcomes and evidence
// rows, a few statements per 500 rows.
func (w *writer) writeTests(missionID uuid.UUID) error {
	ctx, tx, m, r := w.ctx, w.tx, w.m, w.r
	tests := m.Tests
	err := bulk(len(tests), func(i int) *ent.MissionTestCreate {
		t := &tests[i]
		q := tx.MissionTest.Create().SetID(w.id(t.ID)).SetMissionID(missionID).SetPosition(t.Position).
			SetNillableMissionScenarioID(w.optID(t.ScenarioID)).SetNillableCategoryID(w.optID(t.CategoryID)).
			SetName(t.Name).SetDescription(t.Description).SetObjective(t.Objective).SetProcedure(t.Procedure).
			SetPrerequisites(t.Prerequisites).SetCleanup(t.Cleanup).SetExpectedDetection(t.ExpectedDetection).
			SetPlatforms(nonNil(t.Platforms)).SetOpsecLevel(missiontest.OpsecLevel(t.OpsecLevel)).
			SetState(missiontest.State(t.State)).SetStateReason(t.StateReason).SetReleasedToBlue(t.ReleasedToBlue).
			SetNillableExecutedByID(r.userOf(t.Red.ExecutedBy)).SetNillableStartedAt(optAt(t.Red.StartedAt)).
			SetNillableEndedAt(optAt(t.Red.EndedAt)).SetCommand(t.Red.Command).SetSourceHost(t.Red.SourceHost).
			SetTargetHost(t.Red.TargetHost).SetTargetUser(t.Red.TargetUser).SetExecutor(t.Red.Executor).
			SetRedNotes(t.Red.Notes).
			SetNillableDetectedAt(optAt(t.Blue.DetectedAt)).SetAlertName(t.Blue.AlertName).
			SetLogSource(t.Blue.LogSource).SetBlueNotes(t.Blue.Notes).
			SetNillableReviewedByID(r.userOf(t.Review.ReviewedBy)).SetNillableReviewedAt(optAt(t.Review.ReviewedAt)).
			SetCreatedAt(at(t.CreatedAt)).SetUpdatedAt(at(t.UpdatedAt))
		if l := t.Blue.DetectionLevel; l != nil {
			q.SetDetectionLevelID(r.levels[l.Name])
		}
		if t.Template != nil {
			q.SetTestTemplateID(r.templates[templateKey(t.Template)])
		}
		return q
	}, func(bs ...*ent.MissionTestCreate) error { return tx.MissionTest.CreateBulk(bs...).Exec(ctx) })
	if err != nil {
		return fmt.Errorf("create the tests: %w", err)
	}
	var tags []*ent.MissionTestMitreTagCreate
	var outcomes []*ent.MissionTestOutcomeCreate
	var files []*ent.EvidenceFileCreate
	for i := range tests {
		t := &tests[i]
		tid := w.id(t.ID)
		for _, g := range t.Tags {
			q := tx.MissionTestMitreTag.Create().SetMissionTestID(tid).SetKind(missiontestmitretag.Kind(g.Kind)).
				SetExternalID(g.ExternalID).SetName(g.Name).SetURL(g.URL)
			if g.Tactics != nil {
				q.SetTactics(g.Tactics)
			}
			tags = append(tags, q)
		}
		for _, o := range t.Outcomes {
			q := tx.MissionTestOutcome.Create().SetMissionTestID(tid).SetNillableDetectedAt(optAt(o.DetectedAt)).
				SetAlertName(o.AlertName).SetLogSource(o.LogSource).SetNotes(o.Notes)
			if o.Tool != nil {
				q.SetToolID(r.tools[strings.ToLower(*o.Tool)])
			}
			if o.Level != nil {
				q.SetDetectionLevelID(r.levels[*o.Level])
			}
			outcomes = append(outcomes, q)
		}
		for j, e := range t.Evidence {
			st := w.stored[e.ID]
			uploader := r.importer
			if id := r.userOf(e.UploadedBy); id != nil {
				uploader = *id
			}
			// Files are listed by upload time, then id. The archive
			// keeps whole seconds: a microsecond per place keeps files
			// uploaded within one second in their order and shows the
			// same second.
			created := at(e.UploadedAt).Add(time.Duration(j) * time.Microsecond)
			files = append(files, tx.EvidenceFile.Create().SetID(w.id(e.ID)).SetMissionTestID(tid).
				SetSide(evidencefile.Side(e.Side)).SetUploadedByID(uploader).SetOriginalName(e.Name).
				SetStoredKey(st.Key).SetContentType(st.Kind.ContentType).SetSize(st.Size).SetSha256(st.SHA256).
				SetCaption(e.Caption).SetCreatedAt(created).SetUpdatedAt(created))
		}
	}
	if err := bulk(len(tags), func(i int) *ent.MissionTestMitreTagCreate { return tags[i] },
		func(bs ...*ent.MissionTestMitreTagCreate) error {
			return tx.MissionTestMitreTag.CreateBulk(bs...).Exec(ctx)
		}); err != nil {
		return fmt.Errorf("create the tags: %w", err)
	}
	if err := bulk(len(outcomes), func(i int) *ent.MissionTestOutcomeCreate { return outcomes[i] },
		func(bs ...*ent.MissionTestOutcomeCreate) error {
			return tx.MissionTestOutcome.CreateBulk(bs...).Exec(ctx)
		}); err != nil {
		return fmt.Errorf("create the outcomes: %w", err)
	}
	if err := bulk(len(files), func(i int) *ent.EvidenceFileCreate { return files[i] },
		func(bs ...*ent.EvidenceFileCreate) error { return tx.EvidenceFile.CreateBulk(bs...).Exec(ctx) }); err != nil {
		return fmt.Errorf("create the evidence rows: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
