package home

import (
	"time"

	"violet/views/diag"
)

// Queue names: the home's work lists, one per mission role that has work to
// do. They are also the values of the overview's `queue` filter the "see
// all" links preset (paths.Mission with ?queue=…).
const (
	QueueRed    = "red"    // tests to run: pending or running, mine or unassigned
	QueueBlue   = "blue"   // released tests awaiting a detection
	QueueReview = "review" // executed tests awaiting a lead's review
)

// QueueSize is how many rows each queue shows on home; the rest are behind
// the "see all" links.
const QueueSize = 10

// ActivitySize is how many audit events the recent activity shows.
const ActivitySize = 15

// Props is everything the home page shows.
type Props struct {
	Missions  []Mission
	Queues    []Queue // one per role the viewer holds in an in-progress mission, in QueueRed, QueueBlue, QueueReview order
	Activity  []Event
	CanCreate bool   // the viewer may create missions (the empty state says so)
	Admin     *Admin // nil for a viewer who does not administer the instance
}

// Mission is one of the viewer's missions.
type Mission struct {
	ID     string
	Name   string
	Status string
	Role   string // the viewer's mission role: lead, red, blue, observer
	Done   int    // tests finished: reviewed, skipped or blocked
	Total  int    // tests the viewer may see
}

// Queue is one role's list of open tests.
type Queue struct {
	Name  string // QueueRed, QueueBlue or QueueReview
	Rows  []QueueRow
	Total int // open tests in the queue, over every mission
	// PerMission are the "see all" links: the missions with open tests in
	// this queue, in the order of the viewer's missions.
	PerMission []QueueMission
}

// QueueRow is one open test.
type QueueRow struct {
	ID          string
	MissionID   string
	MissionName string
	Name        string
	AttackID    string // the first ATT&CK tag's ID, "" without one
	AttackName  string
	State       string
	Assigned    bool // assigned to the viewer (red queue)
}

// QueueMission is one mission's share of a queue.
type QueueMission struct {
	ID, Name string
	Count    int
}

// Event is one line of the recent activity.
type Event struct {
	Time        time.Time
	Actor       string // the actor's display name, or their email at the time
	Action      string // the audit action ("mission_test.released")
	Target      string // what the event is about (a test's or a mission's name)
	AttackID    string // a test's first ATT&CK tag, "" without one
	TestID      string // the test the event is about, "" for a mission event
	MissionID   string
	MissionName string
}

// Admin is what an administrator sees besides their own work.
type Admin struct {
	Card diag.DBCardProps
	Jobs []Job // the running and the latest finished jobs, newest first
}

// Job kinds.
const (
	JobAttackSync    = "attack_sync"
	JobLibraryImport = "library_import"
)

// Job is an ATT&CK sync or a library import.
type Job struct {
	ID       string
	Kind     string // JobAttackSync, JobLibraryImport
	Source   string
	Status   string // running, succeeded, failed
	Progress int
	Started  time.Time
	Finished *time.Time
}
