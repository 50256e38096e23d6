package vectr

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	entmission "violet/ent/mission"
	"violet/ent/predicate"
	"violet/internal/app"
	"violet/internal/database"
	"violet/internal/paths"
	"violet/views/components"
	views "violet/views/vectr"
)

// The pages' read models: the props of the mapping step and of the
// summary (views/vectr), and the form the mapping step sends.

// UploadRefused is the upload step's props for an export refused
// (err a *Refused), nil for any other error.
func UploadRefused(err error) *views.Upload {
	var r *Refused
	if !errors.As(err, &r) {
		return nil
	}
	return &views.Upload{Error: "vectr.upload.refused", Line: r.Line, Cause: r.Cause}
}

// outcomeField and toolField name the mapping form's fields (the keys of
// Import's *app.Invalid too).
func outcomeField(outcome string) string { return "outcome_" + outcome }
func toolField(i int) string             { return "tool_" + strconv.Itoa(i) }

// MappingPage builds the mapping step of p, the selects set to m (the
// proposal, or what the importer chose) with errs next to them.
func (s *Service) MappingPage(ctx context.Context, p Prepared, m Mapping, errs components.Errors) (views.Mapping, error) {
	e := p.Export
	page := views.Mapping{Token: p.Token, FileName: p.Name, Rows: e.Rows, Tests: e.Tests(), Errors: errs}
	keys := make([]string, len(e.Assessments))
	for i, a := range e.Assessments {
		keys[i] = fit(missionName, KeyPrefix+a.Name)
	}
	existing, err := s.client.Mission.Query().Where(predicate.Mission(database.In(entmission.FieldImportKey, keys))).
		Select(entmission.FieldImportKey).Strings(ctx)
	if err != nil {
		return page, fmt.Errorf("read the missions imported before: %w", err)
	}
	outcomes, tools := map[string]int{}, map[string]int{}
	for i, a := range e.Assessments {
		page.Assessments = append(page.Assessments, views.Assessment{Name: a.Name, Campaigns: len(a.Campaigns),
			Tests: len(a.Tests), Existing: contains(existing, keys[i])})
		for _, t := range a.Tests {
			outcomes[t.Outcome]++
			for _, n := range t.Tools {
				tools[n]++
			}
		}
	}
	for _, pr := range e.Problems {
		page.Problems = append(page.Problems, views.Problem{Line: pr.Line, Key: pr.Key, Value: pr.Value})
	}
	for _, o := range Outcomes {
		row := views.OutcomeRow{Outcome: o, Field: outcomeField(o), Count: outcomes[o], Fixed: o == OutcomeTBD}
		if id := m.Outcomes[o]; id != uuid.Nil {
			row.Selected = id.String()
		}
		page.Outcomes = append(page.Outcomes, row)
	}
	for _, l := range p.Proposal.Levels {
		page.Levels = append(page.Levels, views.Option{Value: l.ID.String(), Label: l.Name})
	}
	page.ToolOptions = []views.Option{{Value: views.ChoiceCreate}, {Value: views.ChoiceIgnore}}
	for _, t := range p.Proposal.Tools {
		page.ToolOptions = append(page.ToolOptions, views.Option{Value: t.ID.String(), Label: t.Name})
	}
	for i, name := range e.Tools {
		row := views.ToolRow{Name: name, Field: toolField(i), Count: tools[name]}
		switch c := m.Tools[name]; c.Action {
		case ToolUse:
			row.Selected = c.ToolID.String()
		case ToolIgnore:
			row.Selected = views.ChoiceIgnore
		default:
			row.Selected = views.ChoiceCreate
		}
		page.Tools = append(page.Tools, row)
	}
	return page, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MappingOf reads the mapping step's form for e: a level's id per
// outcome ("" none), and per tool "create", "ignore" or a tool's id. A
// value that is none of these is kept as a choice Import refuses.
func MappingOf(e *Export, form url.Values) Mapping {
	m := Mapping{Outcomes: map[string]uuid.UUID{}, Tools: map[string]ToolChoice{}}
	for _, o := range Outcomes {
		if o == OutcomeTBD {
			continue
		}
		if v := form.Get(outcomeField(o)); v != "" {
			id, err := uuid.Parse(v)
			if err != nil {
				id = uuid.Max // no level has it: refused by Import
			}
			m.Outcomes[o] = id
		}
	}
	for i, name := range e.Tools {
		switch v := form.Get(toolField(i)); v {
		case views.ChoiceCreate:
			m.Tools[name] = ToolChoice{Action: ToolCreate}
		case views.ChoiceIgnore:
			m.Tools[name] = ToolChoice{Action: ToolIgnore}
		default:
			id, err := uuid.Parse(v)
			if err != nil {
				m.Tools[name] = ToolChoice{Action: "unknown"}
				continue
			}
			m.Tools[name] = ToolChoice{Action: ToolUse, ToolID: id}
		}
	}
	return m
}

// Confirmed is what the confirmation gives the page: the summary, or the
// mapping step again when the mapping was refused.
type Confirmed struct {
	Summary *views.Summary
	Again   *views.Mapping
}

// Confirm runs the import of the upload of token with the mapping the
// form sends (Import), then forgets the upload. A mapping refused gives the step again with the
// importer's choices and the errors next to them; an unknown token is
// app.ErrNotFound.
func (s *Service) Confirm(ctx context.Context, token string, form url.Values) (Confirmed, error) {
	var out Confirmed
	p, err := s.Staged(ctx, token)
	if err != nil {
		return out, err
	}
	m := MappingOf(p.Export, form)
	res, err := s.Import(ctx, p.Export, m, nil)
	var invalid *app.Invalid
	if errors.As(err, &invalid) {
		page, err := s.MappingPage(ctx, p, m, components.Errors(invalid.Fields))
		if err != nil {
			return out, err
		}
		out.Again = &page
		return out, nil
	}
	if err != nil {
		return out, err
	}
	s.forget(ctx, token)
	sum := SummaryOf(res)
	out.Summary = &sum
	return out, nil
}

// SummaryOf builds the summary page of an import's result.
func SummaryOf(res Result) views.Summary {
	sum := views.Summary{MissionsCreated: res.MissionsCreated, MissionsUpdated: res.MissionsUpdated,
		MissionsUnchanged: res.MissionsUnchanged, TestsCreated: res.TestsCreated, TestsUnchanged: res.TestsUnchanged,
		ToolsCreated: res.ToolsCreated, Took: res.Took.Round(time.Millisecond).String()}
	for _, mr := range res.Missions {
		row := views.MissionRow{Name: mr.Name, New: mr.New, Created: mr.Created, Unchanged: mr.Unchanged}
		if mr.ID != uuid.Nil {
			row.URL = paths.URL(paths.Mission, mr.ID)
		}
		sum.Missions = append(sum.Missions, row)
	}
	for _, pr := range res.Problems {
		sum.Problems = append(sum.Problems, views.Problem{Line: pr.Line, Key: pr.Key, Value: pr.Value})
	}
	return sum
}

// Upload reads and stages an uploaded export (Prepare) and returns its
// mapping step with the proposed mapping. A file that is not an export
// is a *Refused (UploadRefused shows it).
func (s *Service) Upload(ctx context.Context, name string, data []byte) (views.Mapping, error) {
	p, err := s.Prepare(ctx, name, data)
	if err != nil {
		return views.Mapping{}, err
	}
	return s.MappingPage(ctx, p, p.Proposal.Mapping, nil)
}
