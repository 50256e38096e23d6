package missiontest

import (
	"violet/views/expectedrules"
	"violet/views/rulepicker"
)

// ExpectedField is the editor's name in the edit page's errors.
const ExpectedField = expectedrules.Field

// ExpectedRulesField is the Sigma rules picker's name in its errors.
const ExpectedRulesField = rulepicker.Field

// ExpectedEdit is the page where a lead edits the detection rules a
// mission test expects to fire: the Sigma rules of the catalogue (Rules,
// the picker, suggesting the rules of the test's techniques) and the
// free rule names per tool (Editor), as saved or as typed; the
// fingerprint of both as the form read them (Seen) and, when someone
// changed them since, the rules saved meanwhile (Stale, Saved,
// SavedRules).
type ExpectedEdit struct {
	MissionName, TestName string
	TestURL, Action       string
	Seen                  string
	Rules                 rulepicker.Props
	Editor                expectedrules.Editor
	ErrorKey              string
	Stale                 bool
	Saved                 []expectedrules.Rule
	SavedRules            []rulepicker.Rule
}
