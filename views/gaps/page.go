// Package gaps renders a mission's gaps: the executed tests nothing
// detected, with the detection rules that were expected to fire and the
// other rules the catalogue knows for their techniques (what the blue team
// should build next). internal/gaps builds its props.
package gaps

import (
	"strconv"

	"violet/views/expectedrules"
)

// Page is the gaps view of one mission.
type Page struct {
	MissionID, MissionName string
	CanManage              bool // shows the lead's tabs
	Tests                  []Test
	// Undetected is len(Tests); Expected counts the distinct rules expected
	// by those tests, Sigma rules and free names per tool (none fired); Known the distinct other rules the
	// catalogue holds for their techniques.
	Undetected, Expected, Known int
}

// Test is one executed test with no detection.
type Test struct {
	ID, Name, State string
	Level           string // the level recorded (one that does not count as detected), "" when none
	Techniques      []Technique
	Expected        []Rule // the rules expected to fire, by title
	Others          []Rule // the techniques' other known rules, what to build first first
	// Free are the free rule names per tool expected to fire, by tool.
	Free []expectedrules.Rule
}

// Technique is an ATT&CK technique or sub-technique the test is tagged with.
type Technique struct {
	ID, Name string
}

// Rule is a detection rule of the catalogue.
type Rule struct {
	UID, Title, Level, Status, Logsource, Description string
	Techniques                                        []string
}

func itoa(n int) string { return strconv.Itoa(n) }
