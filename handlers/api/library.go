package api

import (
	"context"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/testtemplate"
	"violet/internal/app"
	"violet/internal/library"
	"violet/internal/libraryimport"
	attackviews "violet/views/attack"
	libraryviews "violet/views/library"
)

// tagsOf shapes a read model's ATT&CK entries as tags.
func tagsOf(es []attackviews.Entry) []Tag {
	out := make([]Tag, 0, len(es))
	for _, e := range es {
		out = append(out, Tag{Kind: TagKind(e.Kind), ExternalId: e.ExternalID, Name: e.Name})
	}
	return out
}

// pageCursor is a list's next page as a cursor: the library's lists are
// read a page at a time by their read models, so the cursor holds the page.
func pageCursor(page, pages int) *string {
	if page >= pages {
		return nil
	}
	c := encodeCursor(page + 1)
	return &c
}

func pageOf(cursor *string) (int, error) {
	n, err := decodeCursor(cursor)
	if n < 1 {
		n = 1
	}
	return n, err
}

// ListTemplates lists templates as the library page does (its filter, its
// pages).
func (s *Server) ListTemplates(ctx context.Context, req ListTemplatesRequestObject) (ListTemplatesResponseObject, error) {
	page, err := pageOf(req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	set := func(k string, v *string) {
		if v != nil {
			q.Set(k, *v)
		}
	}
	set("q", req.Params.Q)
	set("technique", req.Params.Technique)
	set("label", req.Params.Label)
	if req.Params.Source != nil {
		q.Set("source", string(*req.Params.Source))
	}
	f := library.TemplateFilterOf(q)
	f.Page = page
	list, err := library.ListTemplates(ctx, s.d.Ent, f, false)
	if err != nil {
		return nil, err
	}
	out := TemplatePage{Items: make([]TemplateRow, 0, len(list.Rows)), Total: list.Total, NextCursor: pageCursor(page, list.Pages)}
	for _, r := range list.Rows {
		id, err := uuid.Parse(r.ID)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, TemplateRow{Id: id, Name: r.Name, Tags: tagsOf(r.Tags), Platforms: nonNil(r.Platforms),
			Opsec: r.Opsec, Source: r.Source, UpdatedAt: r.UpdatedAt})
	}
	return ListTemplates200JSONResponse(out), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) template(ctx context.Context, id uuid.UUID) (Template, error) {
	d, err := library.TemplateDetail(ctx, s.d.Ent, id)
	if err != nil {
		return Template{}, err
	}
	return Template{Id: id, Name: d.Name, Description: d.Description, Objective: d.Objective, Procedure: d.Procedure,
		Prerequisites: d.Prerequisites, Cleanup: d.Cleanup, ExpectedDetection: d.ExpectedDetection,
		Platforms: nonNil(d.Platforms), Opsec: d.Opsec, Source: d.Source, ExternalRef: d.ExternalRef,
		Labels: nonNil(d.Labels), Tags: tagsOf(d.Tags), UpdatedAt: d.UpdatedAt}, nil
}

// GetTemplate returns one template.
func (s *Server) GetTemplate(ctx context.Context, req GetTemplateRequestObject) (GetTemplateResponseObject, error) {
	t, err := s.template(ctx, req.TemplateId)
	if err != nil {
		return nil, err
	}
	return GetTemplate200JSONResponse(t), nil
}

// CreateTemplate creates a template (library.CreateTemplate, the page's
// workflow), tagged with the ATT&CK entries its IDs name.
func (s *Server) CreateTemplate(ctx context.Context, req CreateTemplateRequestObject) (CreateTemplateResponseObject, error) {
	b := req.Body
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	in := library.TemplateInput{Name: b.Name, Description: str(b.Description), Objective: str(b.Objective),
		Procedure: str(b.Procedure), Prerequisites: str(b.Prerequisites), Cleanup: str(b.Cleanup),
		ExpectedDetection: str(b.ExpectedDetection), Opsec: "medium"}
	if b.Platforms != nil {
		in.Platforms = *b.Platforms
	}
	if b.Opsec != nil {
		in.Opsec = string(*b.Opsec)
	}
	if b.Labels != nil {
		in.Labels = strings.Join(*b.Labels, ",")
	}
	if b.AttackIds != nil {
		tags, err := library.TagValues(ctx, s.d.Ent, *b.AttackIds)
		if err != nil {
			return nil, err
		}
		in.Tags = tags
	}
	res, err := library.CreateTemplate(ctx, s.d.Ent, in)
	if err != nil {
		return nil, err
	}
	t, err := s.template(ctx, res.ID)
	if err != nil {
		return nil, err
	}
	loc := Base + "/templates/" + res.ID.String()
	return CreateTemplate201JSONResponse{Body: t, Headers: CreateTemplate201ResponseHeaders{Location: &loc}}, nil
}

// ListScenarios lists scenarios as the library page does.
func (s *Server) ListScenarios(ctx context.Context, req ListScenariosRequestObject) (ListScenariosResponseObject, error) {
	page, err := pageOf(req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if req.Params.Q != nil {
		q.Set("q", *req.Params.Q)
	}
	f := library.ScenarioFilterOf(q)
	f.Page = page
	list, err := library.ListScenarios(ctx, s.d.Ent, f)
	if err != nil {
		return nil, err
	}
	out := ScenarioPage{Total: list.Total, NextCursor: pageCursor(page, list.Pages)}
	for _, r := range list.Rows {
		id, err := uuid.Parse(r.ID)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, ScenarioRow{Id: id, Name: r.Name, Tests: r.Tests, UpdatedAt: r.UpdatedAt})
	}
	if out.Items == nil {
		out.Items = []ScenarioRow{}
	}
	return ListScenarios200JSONResponse(out), nil
}

func (s *Server) scenario(ctx context.Context, id uuid.UUID) (Scenario, error) {
	d, err := library.ScenarioDetail(ctx, s.d.Ent, id, "")
	if err != nil {
		return Scenario{}, err
	}
	out := Scenario{Id: id, Name: d.Name, Description: d.Description, UpdatedAt: d.UpdatedAt}
	for _, e := range d.Tests.Entries {
		tid, err := uuid.Parse(e.TemplateID)
		if err != nil {
			return Scenario{}, err
		}
		out.Tests = append(out.Tests, ScenarioTest{TemplateId: tid, Name: e.TemplateName, Tags: tagsOf(e.Tags)})
	}
	if out.Tests == nil {
		out.Tests = []ScenarioTest{}
	}
	return out, nil
}

// GetScenario returns one scenario with its tests in order.
func (s *Server) GetScenario(ctx context.Context, req GetScenarioRequestObject) (GetScenarioResponseObject, error) {
	sc, err := s.scenario(ctx, req.ScenarioId)
	if err != nil {
		return nil, err
	}
	return GetScenario200JSONResponse(sc), nil
}

// CreateScenario creates a scenario, then adds its templates in order
// (the page's two workflows).
func (s *Server) CreateScenario(ctx context.Context, req CreateScenarioRequestObject) (CreateScenarioResponseObject, error) {
	// Every template must be in the library (not in the trash) before
	// anything is made: a refusal leaves no half-built scenario behind.
	if ids := req.Body.TemplateIds; ids != nil && len(*ids) > 0 {
		seen := map[uuid.UUID]bool{}
		var distinct []uuid.UUID
		for _, id := range *ids {
			if !seen[id] {
				seen[id] = true
				distinct = append(distinct, id)
			}
		}
		n, err := s.d.Ent.TestTemplate.Query().Where(testtemplate.IDIn(distinct...)).Count(ctx)
		if err != nil {
			return nil, err
		}
		if n != len(distinct) {
			return nil, app.Invalidf("template_ids", "api.library.unknown_template")
		}
	}
	in := library.ScenarioInput{Name: req.Body.Name}
	if req.Body.Description != nil {
		in.Description = *req.Body.Description
	}
	sc, err := library.CreateScenario(ctx, s.d.Ent, in)
	if err != nil {
		return nil, err
	}
	if ids := req.Body.TemplateIds; ids != nil && len(*ids) > 0 {
		if _, err := library.AddTests(ctx, s.d.Ent, sc.ID, sc.Version, *ids); err != nil {
			return nil, err
		}
	}
	out, err := s.scenario(ctx, sc.ID)
	if err != nil {
		return nil, err
	}
	loc := Base + "/scenarios/" + sc.ID.String()
	return CreateScenario201JSONResponse{Body: out, Headers: CreateScenario201ResponseHeaders{Location: &loc}}, nil
}

// ImportLibrary starts an import of Atomic files or of a library document
// (libraryimport, as Library → Import) and answers the job.
func (s *Server) ImportLibrary(ctx context.Context, req ImportLibraryRequestObject) (ImportLibraryResponseObject, error) {
	var (
		up       libraryimport.Upload
		doc      []byte
		docName  string
		finished bool
	)
	defer func() {
		if !finished {
			up.Remove()
		}
	}()
	err := eachPart(req.Body, func(name, filename string, r io.Reader) error {
		switch {
		case name == "files" && filename != "":
			return up.Add(filename, r)
		case name == "document" && filename != "" && doc == nil:
			docName = filepath.Base(strings.ReplaceAll(filename, `\`, "/"))
			// One byte over the bound tells a document too large.
			var err error
			doc, err = io.ReadAll(io.LimitReader(r, library.MaxDocumentBytes+1))
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var job *ent.ImportJob
	switch {
	case doc != nil:
		job, err = s.d.Imports.StartDocument(ctx, docName, doc, nil)
	case len(up.Files) > 0 || up.Refused:
		job, err = s.d.Imports.StartAtomic(ctx, libraryimport.AtomicForm{Files: up.Files, Refused: up.Refused},
			func(bool, time.Duration) { up.Remove() })
		finished = err == nil // the job removes the files once read
	default:
		return nil, app.Invalidf("files", "api.library.no_file")
	}
	if err != nil {
		return nil, err
	}
	out, err := s.job(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	loc := Base + "/jobs/" + job.ID.String()
	return ImportLibrary202JSONResponse{Body: out, Headers: ImportLibrary202ResponseHeaders{Location: &loc}}, nil
}

func (s *Server) job(ctx context.Context, id uuid.UUID) (Job, error) {
	r, err := s.d.Imports.Show(ctx, id)
	if err != nil {
		return Job{}, err
	}
	return jobOf(id, r), nil
}

func jobOf(id uuid.UUID, r libraryviews.ImportJobRow) Job {
	out := Job{Id: id, Kind: r.Kind, Status: JobStatus(r.Status), Progress: r.Progress,
		Added: &r.Added, Updated: &r.Updated, Unchanged: &r.Unchanged, Failed: &r.Failed}
	if r.Error != "" {
		out.Error = &r.Error
	}
	return out
}

// GetJob returns an import's progress.
func (s *Server) GetJob(ctx context.Context, req GetJobRequestObject) (GetJobResponseObject, error) {
	j, err := s.job(ctx, req.JobId)
	if err != nil {
		return nil, err
	}
	return GetJob200JSONResponse(j), nil
}
