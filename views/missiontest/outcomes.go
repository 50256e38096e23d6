package missiontest

import (
	"violet/internal/paths"
	"violet/views/components"
)

// NoTool is the tool of the outcome without a tool in the outcome forms
// (mission.NoTool is this value, which the workflow reads).
const NoTool = "none"

// Outcome is one row of the outcomes per tool: a tool of the mission's
// scope (or one recorded before it left the scope) with its outcome, as
// typed or as saved.
type Outcome struct {
	Tool       string // the tool's id
	Name       string
	Kind       string // schema.ToolKinds
	Inactive   bool   // no longer offered: only a recorded outcome is shown
	OutOfScope bool   // recorded, then taken out of the scope: it can only be cleared
	Recorded   bool
	Version    int // the outcome's version, 0 when none is recorded
	Form       BlueForm
	Saved      *BlueForm // the values saved meanwhile by someone else (409)
	Notice     string    // NoticeSaved, NoticeConflict or ""
	NoticeKey  string
}

// Editable reports whether the row offers its fields (a tool out of the
// scope is shown read-only, with only its clear button).
func (o Outcome) Editable() bool { return !o.OutOfScope }

// id is the prefix of the row's element ids, unique on the page.
func (o Outcome) id(field string) string { return "outcome-" + o.Tool + "-" + field }

// Row is the row of tool, nil when the page has none.
func (b *Blue) Row(tool string) *Outcome {
	for i := range b.Outcomes {
		if b.Outcomes[i].Tool == tool {
			return &b.Outcomes[i]
		}
	}
	return nil
}

// Answer puts input refused by the workflow back into the row of tool:
// with the errors next to the fields, or, after a conflict, with the
// values saved meanwhile next to it. It returns the row, nil when the page
// has none for tool.
func (b *Blue) Answer(tool string, in BlueForm, errs components.Errors, conflict bool) *Outcome {
	o := b.Row(tool)
	if o == nil {
		return nil
	}
	o.Notice, o.NoticeKey = "", ""
	if conflict {
		saved := o.Form
		o.Saved = &saved
		o.Notice, o.NoticeKey = NoticeConflict, "outcomes.conflict"
	}
	in.Errors, in.Unsaved = errs, true
	o.Form = in
	return o
}

// Done is the row of tool once its outcome is saved or cleared, saying
// so; nil when the page has no row for tool.
func (b *Blue) Done(tool string) *Outcome {
	o := b.Row(tool)
	if o != nil {
		o.Notice, o.NoticeKey = NoticeSaved, "outcomes.saved"
		if !o.Recorded {
			o.NoticeKey = "outcomes.cleared"
		}
	}
	return o
}

// outcomeURL is where every outcome form posts: the blue side's save,
// which reads the tool field.
func outcomeURL(w Work) string { return below(w.Base, paths.MissionTestBlue) }
