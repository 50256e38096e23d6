package missiontest

import "violet/views/expectedrules"

// ExpectedField is the editor's name in the edit page's errors.
const ExpectedField = expectedrules.Field

// ExpectedEdit is the page where a lead edits the free rule names per
// tool a mission test expects to fire: the editor as saved or as typed,
// the fingerprint of the rules it was read with (Seen) and, when someone
// changed them since, the rules saved meanwhile (Stale, Saved).
type ExpectedEdit struct {
	MissionName, TestName string
	TestURL, Action       string
	Seen                  string
	Editor                expectedrules.Editor
	ErrorKey              string
	Stale                 bool
	Saved                 []expectedrules.Rule
}
