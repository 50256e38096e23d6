package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"violet/internal/app"
	"violet/internal/attack"
	"violet/internal/execlog"
	"violet/internal/export"
	"violet/internal/i18n"
	"violet/internal/insights"
	"violet/internal/mission"
	"violet/internal/textrule"
	"violet/internal/vectr"
)

// ImportExecutionLog previews or applies an Invoke-AtomicTest log
// (execlog: the same workflow as the mission's page).
func (s *Server) ImportExecutionLog(ctx context.Context, req ImportExecutionLogRequestObject) (ImportExecutionLogResponseObject, error) {
	var log *execlog.Log
	err := eachPart(req.Body, func(name, filename string, r io.Reader) error {
		if name != "file" || log != nil {
			return nil
		}
		var err error
		log, err = execlog.Parse(filename, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if log == nil {
		return nil, app.Invalidf("file", "api.execlog.no_file")
	}
	dry := req.Params.DryRun != nil && *req.Params.DryRun
	plan, err := s.d.ExecLogs.Preview(ctx, req.MissionId, log)
	if err != nil {
		return nil, err
	}
	out := ExecutionImport{Format: ExecutionImportFormat(plan.Format), ExecutionId: plan.ExecutionID, Host: &plan.Host,
		User: &plan.User, Items: executionItems(plan.Items), Unmatched: executionItems(plan.Unmatched)}
	if dry {
		return ImportExecutionLog200JSONResponse(out), nil
	}
	var add []string
	if req.Params.Add != nil {
		add = *req.Params.Add
	}
	res, err := s.d.ExecLogs.Apply(ctx, req.MissionId, log, add)
	if err != nil {
		return nil, err
	}
	out.Applied = true
	out.Result = &ExecutionResult{Added: res.Added, Evidence: res.Evidence, Skipped: res.Skipped, Unchanged: res.Unchanged, Updated: res.Updated}
	return ImportExecutionLog200JSONResponse(out), nil
}

func executionItems(items []execlog.Item) []ExecutionItem {
	out := make([]ExecutionItem, 0, len(items))
	for _, it := range items {
		e := ExecutionItem{Key: it.Key, Technique: it.Technique, Name: it.Name, Matched: it.Matched, Already: it.Already,
			Changes: make([]ExecutionChange, 0, len(it.Changes))}
		if it.TestNumber > 0 {
			n := it.TestNumber
			e.TestNumber = &n
		}
		if it.Matched {
			id, name := it.TestID, it.TestName
			e.TestId, e.TestName = &id, &name
		}
		for _, c := range it.Changes {
			e.Changes = append(e.Changes, ExecutionChange{Field: c.Field, Old: c.Old, New: c.New})
		}
		out = append(out, e)
	}
	return out
}

// ImportVectr proposes or runs the import of a VECTR export (vectr: the
// same workflow as Library → Import).
func (s *Server) ImportVectr(ctx context.Context, req ImportVectrRequestObject) (ImportVectrResponseObject, error) {
	var (
		e       *vectr.Export
		mapping *VectrMapping
	)
	err := eachPart(req.Body, func(name, _ string, r io.Reader) error {
		switch {
		case name == "file" && e == nil:
			var err error
			e, err = vectr.Parse(r)
			return err
		case name == "mapping" && mapping == nil:
			mapping = &VectrMapping{}
			if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(mapping); err != nil {
				return app.Invalidf("mapping", "api.vectr.mapping_invalid")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, app.Invalidf("file", "api.vectr.no_file")
	}
	prop, err := s.d.Vectr.Propose(ctx, e)
	if err != nil {
		return nil, err
	}
	m := prop.Mapping
	if mapping != nil {
		m = vectrMapping(*mapping)
	}
	out := VectrImport{Mapping: mappingOf(m), Problems: problems(ctx, e.Problems)}
	n := 0
	for _, a := range e.Assessments {
		n += len(a.Tests)
	}
	out.Assessments, out.Tests = ptr(len(e.Assessments)), &n
	if req.Params.DryRun != nil && *req.Params.DryRun {
		return ImportVectr200JSONResponse(out), nil
	}
	res, err := s.d.Vectr.Import(ctx, e, m, nil)
	if err != nil {
		return nil, err
	}
	out.Applied = true
	out.ToolsCreated = &res.ToolsCreated
	out.Problems = problems(ctx, append(e.Problems, res.Problems...))
	ms := make([]VectrMission, 0, len(res.Missions))
	for _, r := range res.Missions {
		ms = append(ms, VectrMission{Id: r.ID, Name: r.Name, New: r.New, TestsCreated: r.Created, TestsUnchanged: r.Unchanged})
	}
	out.Missions = &ms
	return ImportVectr200JSONResponse(out), nil
}

func ptr[T any](v T) *T { return &v }

func problems(ctx context.Context, ps []vectr.Problem) []VectrProblem {
	out := make([]VectrProblem, 0, len(ps))
	for _, p := range ps {
		msg := i18n.T(ctx, p.Key)
		if p.Value != "" {
			msg += ": " + p.Value
		}
		out = append(out, VectrProblem{Line: p.Line, Message: msg})
	}
	return out
}

func mappingOf(m vectr.Mapping) VectrMapping {
	out := VectrMapping{Outcomes: map[string]openapi_types.UUID{}, Tools: map[string]VectrToolChoice{}}
	for k, v := range m.Outcomes {
		out.Outcomes[k] = v
	}
	for k, v := range m.Tools {
		t := VectrToolChoice{Action: VectrToolChoiceAction(v.Action)}
		if v.ToolID != uuid.Nil {
			id := v.ToolID
			t.ToolId = &id
		}
		out.Tools[k] = t
	}
	return out
}

func vectrMapping(in VectrMapping) vectr.Mapping {
	m := vectr.Mapping{Outcomes: map[string]uuid.UUID{}, Tools: map[string]vectr.ToolChoice{}}
	for k, v := range in.Outcomes {
		m.Outcomes[k] = v
	}
	for k, v := range in.Tools {
		c := vectr.ToolChoice{Action: string(v.Action)}
		if v.ToolId != nil {
			c.ToolID = *v.ToolId
		}
		m.Tools[k] = c
	}
	return m
}

// eachPart gives each part of a multipart body to use, streamed, in the
// order sent; a part use does not read is skipped. The body is bounded by
// the route's limit (a 413 past it).
func eachPart(mr *multipart.Reader, use func(name, filename string, r io.Reader) error) error {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				return err
			}
			return &BadRequest{Status: http.StatusBadRequest, Detail: "the multipart body could not be read: " + err.Error()}
		}
		for _, text := range []string{part.FormName(), part.FileName()} {
			if err := textrule.Check(text); err != nil {
				part.Close()
				return &BadRequest{Status: http.StatusBadRequest, Detail: "a part's name " + err.Error()}
			}
		}
		err = use(part.FormName(), part.FileName(), part)
		if cerr := part.Close(); err == nil && cerr != nil {
			err = &BadRequest{Status: http.StatusBadRequest, Detail: "the multipart body could not be read: " + cerr.Error()}
		}
		if err != nil {
			return err
		}
	}
}

// document is an export answered as the page answers it: streamed, with
// its download name.
type document struct {
	f    export.File
	hold func()
}

func (d document) write(w http.ResponseWriter) error {
	defer d.hold()
	h := w.Header()
	value := `attachment; filename="` + d.f.Name + `"`
	if d.f.UnicodeName != "" {
		value += "; filename*=UTF-8''" + url.PathEscape(d.f.UnicodeName)
	}
	h.Set("Content-Disposition", value)
	h.Set("Content-Type", d.f.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if d.f.Body == nil {
		_, err := w.Write(d.f.Data)
		return err
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	if err := d.f.Body(bw); err != nil {
		return err
	}
	return bw.Flush()
}

func (d document) VisitExportTestsCSVResponse(w http.ResponseWriter) error    { return d.write(w) }
func (d document) VisitExportMissionJSONResponse(w http.ResponseWriter) error { return d.write(w) }

// exportOf builds one of a mission's documents for the owner, holding a
// place among the large documents built at once until it is sent.
func (s *Server) exportOf(ctx context.Context, missionID uuid.UUID, build func(*mission.Access) (export.File, error)) (document, error) {
	a, err := s.access(ctx, missionID)
	if err != nil {
		return document{}, err
	}
	release, err := s.d.Hold(ctx)
	if err != nil {
		return document{}, err
	}
	f, err := build(a)
	if err != nil {
		release()
		return document{}, err
	}
	return document{f, release}, nil
}

// ExportTestsCSV sends the mission's tests as the page's CSV export.
func (s *Server) ExportTestsCSV(ctx context.Context, req ExportTestsCSVRequestObject) (ExportTestsCSVResponseObject, error) {
	d, err := s.exportOf(ctx, req.MissionId, func(a *mission.Access) (export.File, error) { return export.TestsCSV(ctx, s.d.Ent, a) })
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ExportMissionJSON sends the whole mission as the page's JSON export.
func (s *Server) ExportMissionJSON(ctx context.Context, req ExportMissionJSONRequestObject) (ExportMissionJSONResponseObject, error) {
	d, err := s.exportOf(ctx, req.MissionId, func(a *mission.Access) (export.File, error) {
		return export.MissionJSON(ctx, s.d.Ent, a, s.d.Now())
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// GetAttackEntry looks an ATT&CK entry up by its ID.
func (s *Server) GetAttackEntry(ctx context.Context, req GetAttackEntryRequestObject) (GetAttackEntryResponseObject, error) {
	d, err := attack.NewCatalogue(s.d.Ent).Detail(ctx, req.ExternalId)
	if err != nil {
		return nil, err
	}
	out := AttackEntry{ExternalId: d.ExternalID, Name: d.Name, Kind: AttackEntryKind(d.Kind), Description: &d.Description,
		Url: d.URL, Deprecated: d.Deprecated, Revoked: d.Revoked, Platforms: d.Platforms, Tactics: []string{}}
	if out.Platforms == nil {
		out.Platforms = []string{}
	}
	for _, t := range d.Tactics {
		out.Tactics = append(out.Tactics, t.ExternalID)
	}
	if d.Parent != nil {
		out.Parent = &d.Parent.ExternalID
	}
	return GetAttackEntry200JSONResponse(out), nil
}

// SearchAttack searches the catalogue as the ATT&CK page does.
func (s *Server) SearchAttack(ctx context.Context, req SearchAttackRequestObject) (SearchAttackResponseObject, error) {
	res, err := attack.NewCatalogue(s.d.Ent).Search(ctx, req.Params.Q)
	if err != nil {
		return nil, err
	}
	out := SearchAttack200JSONResponse{Items: make([]AttackHit, 0, len(res.Results)), More: res.More}
	for _, h := range res.Results {
		hit := AttackHit{ExternalId: h.ExternalID, Name: h.Name, Kind: AttackHitKind(h.Kind)}
		if h.Parent != "" {
			hit.Parent = &h.Parent
		}
		out.Items = append(out.Items, hit)
	}
	return out, nil
}

// GetInsights reads the insights page's figures.
func (s *Server) GetInsights(ctx context.Context, req GetInsightsRequestObject) (GetInsightsResponseObject, error) {
	q := url.Values{}
	if p := req.Params; p.Label != nil {
		q.Set("label", *p.Label)
	}
	if p := req.Params; p.From != nil {
		q.Set("from", p.From.Format(time.DateOnly))
	}
	if p := req.Params; p.To != nil {
		q.Set("to", p.To.Format(time.DateOnly))
	}
	d, err := insights.Read(ctx, s.d.DB, insights.FilterOf(q))
	if err != nil {
		return nil, err
	}
	out := Insights{Tactics: figures(d.Tactics), Tools: figures(d.Tools)}
	out.Missions = make([]InsightMission, 0, len(d.Missions))
	for _, m := range d.Missions {
		id, err := uuid.Parse(m.ID)
		if err != nil {
			return nil, err
		}
		out.Missions = append(out.Missions, InsightMission{Day: openapi_types.Date{Time: m.Day}, Id: id, Name: m.Name})
	}
	return GetInsights200JSONResponse(out), nil
}

func figures(fs []insights.Figure) []InsightFigure {
	out := make([]InsightFigure, 0, len(fs))
	for _, f := range fs {
		out = append(out, InsightFigure{MissionId: f.Mission, Key: f.Key, Name: f.Name, Tests: f.Tests, Detected: f.Detected})
	}
	return out
}

// StartAttackSync starts a sync of an uploaded STIX bundle (attack.Syncer,
// as Administration → ATT&CK); the bundle is streamed to a temporary file.
func (s *Server) StartAttackSync(ctx context.Context, req StartAttackSyncRequestObject) (StartAttackSyncResponseObject, error) {
	var (
		src  attack.Source
		size int64
	)
	err := eachPart(req.Body, func(name, filename string, r io.Reader) error {
		if name != "bundle" || filename == "" || src.Path != "" {
			return nil
		}
		var err error
		src, size, err = attack.SaveUpload(filename, r)
		return err
	})
	if err != nil || src.Path == "" || size == 0 {
		src.Discard()
		if err != nil {
			return nil, err
		}
		return nil, app.Invalidf("bundle", "api.attack.no_bundle")
	}
	row, err := s.d.Syncer.Start(ctx, src, nil)
	if err != nil {
		return nil, err
	}
	out, err := s.attackSync(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	loc := Base + "/attack/syncs/" + row.ID.String()
	return StartAttackSync202JSONResponse{Body: out, Headers: StartAttackSync202ResponseHeaders{Location: &loc}}, nil
}

func (s *Server) attackSync(ctx context.Context, id uuid.UUID) (AttackSync, error) {
	r, err := s.d.Syncer.Show(ctx, id)
	if err != nil {
		return AttackSync{}, err
	}
	out := AttackSync{Id: id, Status: AttackSyncStatus(r.Status), Phase: r.Phase, Progress: r.Progress,
		Added: r.Added, Updated: r.Updated, Revoked: r.Revoked, Unchanged: r.Unchanged}
	if r.Version != "" {
		out.Version = &r.Version
	}
	if r.Error != "" {
		out.Error = &r.Error
	}
	return out, nil
}

// GetAttackSync returns a sync's progress.
func (s *Server) GetAttackSync(ctx context.Context, req GetAttackSyncRequestObject) (GetAttackSyncResponseObject, error) {
	out, err := s.attackSync(ctx, req.SyncId)
	if err != nil {
		return nil, err
	}
	return GetAttackSync200JSONResponse(out), nil
}
