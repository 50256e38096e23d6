package library

import (
	"strconv"

	"violet/views/components"
)

// ImportPlatforms are the platforms an imported scenario may be built
// from: Atomic's platforms as the import names them (ATT&CK's names). A
// function returning a fresh slice, so no importer can change the list.
func ImportPlatforms() []string {
	return []string{"Windows", "Linux", "macOS", "Office Suite", "Identity Provider", "SaaS",
		"IaaS", "Containers", "ESXi", "Network Devices"}
}

// ImportAtomicForm is the Atomic Red Team upload form as the person left
// it (files cannot be kept: the browser asks for them again).
type ImportAtomicForm struct {
	Overwrite      bool
	Scenario       bool   // build a scenario from the imported tests
	ScenarioName   string // its name
	ScenarioFilter string // "", "tactic:TA0002" or "platform:Windows"
	Errors         components.Errors
}

// ImportOption is one choice of a select.
type ImportOption struct {
	Value string
	Label string
}

// ImportPageProps is the import and export page.
type ImportPageProps struct {
	Atomic        ImportAtomicForm
	DocumentError string            // i18n key of the library document field's error
	DocumentCause string            // what was wrong with the document, as the parser said it
	SigmaErrors   components.Errors // the Sigma rules upload's (field sigma_files)
	Tactics       []ImportOption
	History       []ImportJobRow
}

// ImportFailure is a file an import could not use, and why.
type ImportFailure struct {
	File   string
	Reason string
}

// ImportUntagged is an imported test whose ATT&CK ID the catalogue lacks.
type ImportUntagged struct {
	File        string
	Test        string
	TechniqueID string
}

// ImportUnlinked is a rule reference of an imported library document this
// instance lacks: a Sigma rule id (Kind "rule") or a tool's name (Kind
// "tool", Name the rule's).
type ImportUnlinked struct {
	Test, Kind, Ref, Name string
}

// ImportJobRow is one import in the history or on its own page.
type ImportJobRow struct {
	ID       string
	Kind     string // atomic, library, sigma
	When     string
	Who      string // "" for the command line
	Source   string
	Status   string // running, succeeded, failed
	Progress int
	Error    string
	Took     string // "" while running

	Files, Added, Updated, Unchanged, Kept, Failed int
	Templates, Scenarios                           int // in a library document
	Failures                                       []ImportFailure
	Untagged                                       []ImportUntagged
	Unlinked                                       []ImportUnlinked
	ScenarioID, ScenarioName                       string // the scenario built from the import
	ScenarioTests                                  int
	ScenarioEmpty                                  bool // asked for, but no imported test matched
}

// ReadsFiles reports whether the import read files (Atomic Red Team or
// Sigma), rather than a library document: its summary counts files, kept
// and failed ones.
func (r ImportJobRow) ReadsFiles() bool { return r.Kind != "library" }

// Running reports whether the import has not finished.
func (r ImportJobRow) Running() bool { return r.Status == "running" }

func importBadge(status string) string {
	switch status {
	case "succeeded":
		return "badge badge--ok"
	case "failed":
		return "badge badge--danger"
	}
	return "badge badge--warn"
}

func importItoa(n int) string { return strconv.Itoa(n) }
