package missiontest

import "violet/views/expectedrules"

// Expected is the detection rules a test expects to fire, as the blue
// panel shows them beside the outcomes: the Sigma rules of the catalogue
// and the free rule names per tool, those of a tool with an outcome row
// in that row (ByTool), the others in the panel's list.
type Expected struct {
	Sigma  []SigmaRule
	Free   []expectedrules.Rule // every free rule, by tool then name
	ByTool map[string][]string  // the free rule names by tool id
	Others []expectedrules.Rule // the free rules of tools without a row
}

// SigmaRule is a rule of the catalogue a test expects.
type SigmaRule struct {
	UID, Title, Level string
}

// Any reports whether the test expects any rule.
func (e Expected) Any() bool { return len(e.Sigma) > 0 || len(e.Free) > 0 }
