// Package vectr draws the VECTR history import (Library → Import →
// VECTR): the upload, the mapping step the importer confirms, and the
// summary (internal/vectr builds the props).
package vectr

import (
	"context"

	"violet/internal/i18n"
	"violet/views/components"
)

// Upload is the upload step: an export refused is shown next to the file
// field with the line at fault.
type Upload struct {
	Error string // a message key, "" when nothing was refused
	Line  int    // the CSV line at fault, 0 for the file as a whole
	Cause string // what the reader said
}

// Option is a choice of a select.
type Option struct{ Value, Label string }

// Mapping is the mapping step: what the export holds and the proposed (or
// chosen) mapping of its outcomes and tools.
type Mapping struct {
	Token, FileName string
	Rows, Tests     int
	Assessments     []Assessment
	Problems        []Problem
	Outcomes        []OutcomeRow
	Tools           []ToolRow
	Levels          []Option // the detection scale, best first; "" is "no outcome"
	ToolOptions     []Option // "create", "ignore", then the registry's tools by id
	Errors          components.Errors
}

// Assessment is one assessment of the export: a mission to be.
type Assessment struct {
	Name             string
	Campaigns, Tests int
	Existing         bool // a mission imported from it before
}

// OutcomeRow is one VECTR outcome and the level it maps to.
type OutcomeRow struct {
	Outcome, Field, Selected string
	Count                    int
	Fixed                    bool // TBD: never mapped
}

// ToolRow is one VECTR tool name and what becomes of it.
type ToolRow struct {
	Name, Field, Selected string
	Count                 int
}

// Problem is a row that could not map, with its line.
type Problem struct {
	Line       int
	Key, Value string
}

// Summary is what the import did.
type Summary struct {
	Missions                           []MissionRow
	MissionsCreated, MissionsUnchanged int
	MissionsUpdated                    int
	TestsCreated, TestsUnchanged       int
	ToolsCreated                       int
	Problems                           []Problem
	Took                               string
}

// MissionRow is one assessment's mission after the import.
type MissionRow struct {
	Name, URL          string
	New                bool
	Created, Unchanged int
}

// Choices for a tool row's select.
const (
	ChoiceCreate = "create"
	ChoiceIgnore = "ignore"
)

// labels names each field of the mapping for the error summary.
func labels(m Mapping) []components.Labelled {
	var out []components.Labelled
	for _, o := range m.Outcomes {
		out = append(out, components.Label(o.Field, o.Outcome))
	}
	for _, t := range m.Tools {
		out = append(out, components.Label(t.Field, t.Name))
	}
	return out
}

// toolLabel is a tool choice as the select shows it: the two actions
// translated, a registry tool by its name.
func toolLabel(ctx context.Context, o Option) string {
	switch o.Value {
	case ChoiceCreate:
		return i18n.T(ctx, "vectr.mapping.tool_create")
	case ChoiceIgnore:
		return i18n.T(ctx, "vectr.mapping.tool_ignore")
	}
	return i18n.T(ctx, "vectr.mapping.tool_use", "Tool", o.Label)
}
