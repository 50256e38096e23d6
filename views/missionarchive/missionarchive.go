// Package missionarchive draws the import of a whole-mission archive
// (internal/missionarchive): the upload form, the summary of what the
// import will create and who is left out, and the confirmation.
package missionarchive

import "violet/views/components"

// Import is the import page: the upload form, or once an archive is read
// its summary (Plan) and the token the confirmation sends back.
type Import struct {
	Errors components.Errors
	// Detail is what a refusal names (an entry of the archive, a field of
	// its manifest), shown under the reason.
	Detail string
	Plan   *Plan
	Token  string
	// AlreadyURL and AlreadyName are the mission this archive was imported
	// as, when it was.
	AlreadyURL, AlreadyName string
}

// Plan is what an import will do.
type Plan struct {
	MissionName                         string
	ReleasedOnly                        bool
	Tests, Categories, Scenarios, Files int
	Bytes                               int64
	Members                             []Member
	LeftOut                             []string
	ImporterAdded                       bool
	Templates, Tools, Levels            []Match
	NewIDs                              bool
}

// Member is a member kept, with the message key of their role.
type Member struct{ Email, Name, RoleKey string }

// Match is a template, tool or level: found here or created.
type Match struct {
	Name    string
	Created bool
}
